/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "trust-domain.h"

static void test_mode_names(void **state)
{
	assert_int_equal(trust_mode_from_string("single"), TRUST_MODE_SINGLE);
	assert_int_equal(trust_mode_from_string("off"), TRUST_MODE_OFF);
	assert_int_equal(trust_mode_from_string("Single"), _TRUST_MODE_INVALID);
	assert_int_equal(trust_mode_from_string(NULL), _TRUST_MODE_INVALID);
	assert_string_equal(trust_mode_to_string(TRUST_MODE_OFF), "off");
	assert_null(trust_mode_to_string(_TRUST_MODE_MAX));
}

static void test_single(void **state)
{
	TrustState none = {};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &none, "a"), TRUST_ALLOW_TAKEOVER);

	TrustState a = {.active = "a", .active_cgroups = 1, .active_merged = 0};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &a, "a"), TRUST_ALLOW);
	/* enabled but nothing merged yet still holds the node: ksmd would
	 * merge both domains on its next pass */
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &a, "b"), TRUST_REFUSE);
	/* a narrowed domain is another domain, even within a */
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &a, "a/x"), TRUST_REFUSE);

	/* merged pages left behind (cgroups gone or disabled, pages not yet
	 * unmerged) hold it too */
	TrustState leftover = {.active = "a", .active_cgroups = 0, .active_merged = 12};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &leftover, "b"), TRUST_REFUSE);

	/* the domain holds nothing any more: the next one takes over */
	TrustState idle = {.active = "a"};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &idle, "b"), TRUST_ALLOW_TAKEOVER);

	TrustState host = {.active = TRUST_DOMAIN_NO_NAMESPACE, .active_cgroups = 3};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &host, TRUST_DOMAIN_NO_NAMESPACE), TRUST_ALLOW);
	assert_string_equal(trust_verdict_to_string(TRUST_REFUSE), "refuse");
}

static void test_off(void **state)
{
	TrustState a = {.active = "a", .active_cgroups = 5, .active_merged = 1000};
	assert_int_equal(trust_decide(TRUST_MODE_OFF, &a, "b"), TRUST_ALLOW);
	assert_int_equal(trust_decide(TRUST_MODE_OFF, &a, "a/x"), TRUST_ALLOW);
}

#define CTRD(ns)                                                                                    \
	"io.kubernetes.cri.container-type", "container", "io.kubernetes.cri.sandbox-namespace", ns, \
		"io.kubernetes.cri.sandbox-name", "web", "io.kubernetes.cri.container-name", "app"
#define CRIO(ns)                                                                                             \
	"io.container.manager", "cri-o", "io.kubernetes.pod.namespace", ns, "io.kubernetes.pod.name", "api", \
		"io.kubernetes.container.name", "worker"

static char *derive(const TrustDomainMap *map, char *const *kv, size_t n, const char *narrow)
{
	char *d = NULL;
	assert_int_equal(trust_domain_derive(map, kv, n, narrow, &d, NULL), 0);
	return d;
}

#define assert_domain(map, kv, narrow, want)                                     \
	do {                                                                     \
		char *_d = derive(map, (char **)kv, ELEMENTSOF(kv) / 2, narrow); \
		assert_string_equal(_d, want);                                   \
		free(_d);                                                        \
	} while (0)

static void test_default_one_domain_per_namespace(void **state)
{
	TrustDomainMap map = {.no_namespace = TRUST_DOMAIN_NO_NAMESPACE};
	const char *ctrd_shop[] = {CTRD("shop")};
	const char *crio_shop[] = {CRIO("shop")};
	const char *crio_bank[] = {CRIO("bank")};
	const char *plain[] = {"merge.pagemeld.io", "true"};
	const char *podman[] = {"io.container.manager", "libpod"};
	assert_domain(&map, ctrd_shop, NULL, "shop");
	assert_domain(&map, crio_shop, "", "shop"); /* the same namespace on either runtime */
	assert_domain(&map, crio_bank, NULL, "bank");
	/* no namespace key at all (runc, crun, podman, podman kube play) */
	assert_domain(&map, plain, NULL, TRUST_DOMAIN_NO_NAMESPACE);
	assert_domain(&map, podman, NULL, TRUST_DOMAIN_NO_NAMESPACE);
	TrustDomainMap named = {.no_namespace = "node-jobs"};
	assert_domain(&named, plain, NULL, "node-jobs");
}

static void test_annotation_only_narrows(void **state)
{
	TrustDomainMap map = {.no_namespace = TRUST_DOMAIN_NO_NAMESPACE};
	const char *attacker[] = {CRIO("attacker")};
	const char *plain[] = {"merge.pagemeld.io", "true"};
	/* naming the victim's domain lands inside the attacker's own */
	assert_domain(&map, attacker, "victim", "attacker/victim");
	assert_domain(&map, attacker, "team-a", "attacker/team-a");
	assert_domain(&map, plain, "victim", TRUST_DOMAIN_NO_NAMESPACE "/victim");
}

static void test_operator_map(void **state)
{
	TrustDomainRule rules[] = {
		{"kube-system", "Infra"},
		{"team-a-*", "team-a"},
		{"*-ci", "ci"},
		{"team-a-secret", "never-reached"}, /* the first match wins */
	};
	TrustDomainMap map = {rules, ELEMENTSOF(rules), "Host"};
	assert_string_equal(trust_domain_of_namespace(&map, "kube-system"), "Infra");
	assert_string_equal(trust_domain_of_namespace(&map, "team-a-web"), "team-a");
	assert_string_equal(trust_domain_of_namespace(&map, "team-a-secret"), "team-a");
	assert_string_equal(trust_domain_of_namespace(&map, "team-b-ci"), "ci");
	assert_string_equal(trust_domain_of_namespace(&map, "team-b"), "team-b");
	assert_string_equal(trust_domain_of_namespace(&map, NULL), "Host");
	const char *web[] = {CTRD("team-a-web")};
	assert_domain(&map, web, "x", "team-a/x");
	TrustDomainRule all[] = {{"*", "shared"}};
	TrustDomainMap shared = {all, 1, NULL};
	assert_string_equal(trust_domain_of_namespace(&shared, "anything"), "shared");
	assert_string_equal(trust_domain_of_namespace(&shared, NULL), TRUST_DOMAIN_NO_NAMESPACE);
}

static void test_imitated_keys_give_no_domain(void **state)
{
	TrustDomainMap map = {.no_namespace = TRUST_DOMAIN_NO_NAMESPACE};
	/* a pod on CRI-O writing containerd's namespace key, and the reverse */
	const char *on_crio[] = {CRIO("attacker"), "io.kubernetes.cri.sandbox-namespace", "victim"};
	const char *on_ctrd[] = {CTRD("attacker"), "io.kubernetes.pod.namespace", "victim"};
	const char *on_podman[] = {"io.container.manager", "libpod", "io.kubernetes.pod.namespace", "victim"};
	const char *twice[] = {CRIO("attacker"), "io.kubernetes.pod.namespace", "victim"};
	const char *bad_ns[] = {"io.kubernetes.cri.sandbox-namespace", "Victim/x"};
	char *d = NULL;
	const char *bad = NULL;
	assert_int_equal(trust_domain_derive(&map, (char **)on_crio, ELEMENTSOF(on_crio) / 2, NULL, &d, &bad),
			 -EBADMSG);
	assert_string_equal(bad, "io.kubernetes.cri.sandbox-namespace");
	assert_int_equal(trust_domain_derive(&map, (char **)on_ctrd, ELEMENTSOF(on_ctrd) / 2, NULL, &d, &bad),
			 -EBADMSG);
	assert_string_equal(bad, "io.kubernetes.pod.namespace");
	assert_int_equal(
		trust_domain_derive(&map, (char **)on_podman, ELEMENTSOF(on_podman) / 2, NULL, &d, &bad),
		-EBADMSG);
	assert_int_equal(trust_domain_derive(&map, (char **)twice, ELEMENTSOF(twice) / 2, NULL, &d, &bad),
			 -EBADMSG);
	assert_int_equal(trust_domain_derive(&map, (char **)bad_ns, ELEMENTSOF(bad_ns) / 2, NULL, &d, &bad),
			 -EINVAL);
	assert_null(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_default_one_domain_per_namespace),
		cmocka_unit_test(test_annotation_only_narrows),
		cmocka_unit_test(test_operator_map),
		cmocka_unit_test(test_imitated_keys_give_no_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
