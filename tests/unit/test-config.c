/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"

static void test_defaults(void **state)
{
	Config c;
	char *err = NULL;
	assert_int_equal(config_parse_string("", &c, &err), 0);
	assert_int_equal(c.sweep_interval_usec, 5000000);
	assert_int_equal(c.inject_stall_usec, 1000000);
	assert_int_equal(c.inject_timeout_usec, 30000000);
	assert_true(c.start_ksm);
	assert_int_equal(c.log_level, LOG_INFO);
	assert_int_equal(c.default_merge_budget, UINT64_MAX);
	assert_false(c.pages_to_scan.set);
	assert_null(c.advisor_mode);
	assert_int_equal(c.trust_domain_mode, TRUST_DOMAIN_MODE_SINGLE); /* single by default */
	assert_int_equal(c.headroom_margin, 8 << 20);
	assert_int_equal(c.scan_policy, SCAN_POLICY_KERNEL);
	config_done(&c);
	/* a missing file gives the defaults */
	assert_int_equal(config_load("/nonexistent/pagemeld.conf", &c, &err), 0);
	assert_int_equal(c.sweep_interval_usec, 5000000);
	config_done(&c);
}

static void test_full(void **state)
{
	Config c;
	char *err = NULL;
	const char *text = "# comment\n"
			   "[Daemon]\nSweepIntervalSec=2\nLogLevel=debug\nStartKsm=no\n"
			   "InjectStallMSec=250\nInjectTimeoutSec=5\n"
			   "[Budgets]\nDefaultMergeBudget=1Gi\nDefaultSwapBudget=unlimited\n"
			   "[Scan]\nPagesToScan=500\nSleepMillisecs=\nSmartScan=yes\nAdvisorMode=scan-time\n"
			   "MaxPageSharing=256\nUseZeroPages=no\n"
			   "[TrustDomain]\nMode=single\nDomain=tenant-a\n"
			   /* the OCI hook's section of the same file is skipped */
			   "[Hook]\nTimeoutMSec=2000\nFailMode=open\n";
	assert_int_equal(config_parse_string(text, &c, &err), 0);
	assert_int_equal(c.sweep_interval_usec, 2000000);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_false(c.start_ksm);
	assert_int_equal(c.inject_stall_usec, 250000);
	assert_int_equal(c.inject_timeout_usec, 5000000);
	assert_int_equal(c.default_merge_budget, 1ULL << 30);
	assert_int_equal(c.default_swap_budget, UINT64_MAX);
	assert_true(c.pages_to_scan.set);
	assert_int_equal(c.pages_to_scan.value, 500);
	assert_false(c.sleep_millisecs.set);
	assert_true(c.smart_scan.set);
	assert_int_equal(c.smart_scan.value, 1);
	assert_true(c.use_zero_pages.set);
	assert_int_equal(c.use_zero_pages.value, 0);
	assert_int_equal(c.max_page_sharing.value, 256);
	assert_string_equal(c.advisor_mode, "scan-time");
	assert_int_equal(c.trust_domain_mode, TRUST_DOMAIN_MODE_SINGLE);
	assert_string_equal(c.trust_domain, "tenant-a");
	config_done(&c);
}

static void expect_bad(const char *text, const char *want_in_error)
{
	Config c;
	char *err = NULL;
	int r = config_parse_string(text, &c, &err);
	if (r != -EINVAL)
		fail_msg("\"%s\": %d, want -EINVAL", text, r);
	assert_non_null(err);
	if (!strstr(err, want_in_error))
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, want_in_error);
	free(err);
}

static void test_bad(void **state)
{
	expect_bad("[Daemon]\nSweepIntervalSec=0\n", "line 2: [Daemon] SweepIntervalSec=0");
	expect_bad("[Daemon]\nSweepIntervalSec=five\n", "SweepIntervalSec");
	expect_bad("[Daemon]\nLogLevel=loud\n", "LogLevel");
	expect_bad("[Daemon]\nStartKsm=maybe\n", "StartKsm");
	expect_bad("[Daemon]\nInjectStallMSec=5\n", "InjectStallMSec=5: must be 10..60000");
	expect_bad("[Daemon]\nInjectTimeoutSec=0\n", "InjectTimeoutSec");
	expect_bad("[Daemon]\nSweepInterval=5\n", "unknown key SweepInterval in [Daemon]");
	expect_bad("[Demon]\nSweepIntervalSec=5\n", "unknown section [Demon]");
	expect_bad("[Budgets]\nDefaultMergeBudget=12 Mi\n", "DefaultMergeBudget");
	expect_bad("[Scan]\nPagesToScan=-1\n", "PagesToScan");
	expect_bad("[Scan]\nMaxPageSharing=1\n", "at least 2");
	expect_bad("[Scan]\nAdvisorMode=fast\n", "AdvisorMode");
	expect_bad("[TrustDomain]\nMode=strict\n", "Mode");
	expect_bad("[TrustDomain]\nDomain=a b\n", "Domain");
	expect_bad("[Daemon\nSweepIntervalSec=5\n", "line 1");
	expect_bad("[TrustDomain]\nNamespace=team-*\n", "GLOB DOMAIN");
	expect_bad("[TrustDomain]\nNamespace=team-* a/b\n", "GLOB DOMAIN");
	expect_bad("[TrustDomain]\nNamespace=Team/* a\n", "pattern");
	expect_bad("[TrustDomain]\nNoNamespaceDomain=a/b\n", "NoNamespaceDomain");
	/* a valid namespace name would share that namespace's domain */
	expect_bad("[TrustDomain]\nNoNamespaceDomain=node-jobs\n", "no namespace's name");
	expect_bad("[Budgets]\nMaxMergeBudget=lots\n", "MaxMergeBudget");
	expect_bad("[Budgets]\nDefaultMergeBudget=2Gi\nMaxMergeBudget=1Gi\n", "above MaxMergeBudget");
}

static void test_trust_map(void **state)
{
	Config c;
	char *err = NULL;
	assert_int_equal(config_parse_string("", &c, &err), 0);
	TrustDomainMap map = config_trust_map(&c);
	/* by default: each namespace its own domain, no namespace in "Host" */
	assert_int_equal(map.n_rules, 0);
	assert_string_equal(map.no_namespace, TRUST_DOMAIN_NO_NAMESPACE);
	assert_string_equal(trust_domain_of_namespace(&map, "shop"), "shop");
	assert_int_equal(c.max_merge_budget, UINT64_MAX);
	config_done(&c);

	assert_int_equal(config_parse_string("[TrustDomain]\n"
					     "Namespace=dropped-* x\n"
					     "Namespace=\n" /* empty: forget the rules so far */
					     "Namespace=kube-system Infra\n"
					     "Namespace=team-a-*   team-a\n"
					     "NoNamespaceDomain=node.jobs\n"
					     "[Budgets]\nMaxMergeBudget=1Gi\n",
					     &c, &err),
			 0);
	map = config_trust_map(&c);
	assert_int_equal(map.n_rules, 2);
	assert_string_equal(map.rules[1].glob, "team-a-*");
	assert_string_equal(map.rules[1].domain, "team-a");
	assert_string_equal(map.no_namespace, "node.jobs");
	assert_string_equal(trust_domain_of_namespace(&map, "team-a-web"), "team-a");
	assert_string_equal(trust_domain_of_namespace(&map, "dropped-1"), "dropped-1");
	assert_string_equal(trust_domain_of_namespace(&map, NULL), "node.jobs");
	assert_int_equal(c.max_merge_budget, 1ULL << 30);
	/* an unlimited default is capped where it is used, not refused */
	assert_int_equal(c.default_merge_budget, UINT64_MAX);
	config_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_trust_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
