/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "annotations.h"
#include "bus-contract.h"
#include "macro.h"

#define KV(...) ((char *[]){__VA_ARGS__, NULL})
#define N(kv) ((sizeof(kv) / sizeof(char *) - 1) / 2)

static int parse(char **kv, size_t n, Annotations *a, const char **bad)
{
	const char *reason = NULL;
	int r = annotations_parse(kv, n, a, bad, &reason);
	if (r < 0)
		assert_non_null(reason);
	return r;
}

static void test_empty(void **state)
{
	Annotations a;
	assert_int_equal(annotations_parse(KV(NULL), 0, &a, NULL, NULL), 0);
	assert_int_equal(a.merge, MERGE_UNSET);
	assert_false(a.sandbox);
	assert_null(a.container_name);
	assert_false(a.merge_budget_set);
	assert_null(a.trust_domain);
	assert_true(annotations_want_merge(&a)); /* calling RegisterContainer is the opt-in */
	annotations_done(&a);
}

static void test_full(void **state)
{
	char **kv = KV("merge.pagemeld.io", "true", "merge-budget.pagemeld.io", "1.5Gi",
		       "swap-budget.pagemeld.io", "512Mi", "trust-domain.pagemeld.io", "tenant-a.prod",
		       "io.kubernetes.cri-o.ContainerName", "web", "example.com/whatever", "anything",
		       "kubernetes.io/config.seen", "x");
	Annotations a;
	assert_int_equal(parse(kv, 7, &a, NULL), 0);
	assert_int_equal(a.merge, MERGE_YES);
	assert_true(a.merge_budget_set);
	assert_int_equal(a.merge_budget, 3ULL << 29);
	assert_true(a.swap_budget_set);
	assert_int_equal(a.swap_budget, 512ULL << 20);
	assert_string_equal(a.trust_domain, "tenant-a.prod");
	assert_string_equal(a.container_name, "web");
	assert_true(annotations_want_merge(&a));
	annotations_done(&a);
}

static void test_per_container_override(void **state)
{
	Annotations a;
	/* pod says yes, this container says no */
	char **kv1 = KV("merge.pagemeld.io", "true", "merge.pagemeld.io/web", "false", "merge.pagemeld.io/db",
			"true", "io.kubernetes.container.name", "web");
	assert_int_equal(parse(kv1, 4, &a, NULL), 0);
	assert_int_equal(a.merge, MERGE_NO);
	assert_false(annotations_want_merge(&a));
	annotations_done(&a);
	/* pod says no, this container says yes (containerd's key) */
	char **kv2 = KV("merge.pagemeld.io", "false", "merge.pagemeld.io/db", "true",
			"io.kubernetes.cri.container-name", "db");
	assert_int_equal(parse(kv2, 3, &a, NULL), 0);
	assert_int_equal(a.merge, MERGE_YES);
	annotations_done(&a);
	/* another container's override does not apply */
	char **kv3 = KV("merge.pagemeld.io", "false", "merge.pagemeld.io/db", "true",
			"io.kubernetes.cri.container-name", "web");
	assert_int_equal(parse(kv3, 3, &a, NULL), 0);
	assert_int_equal(a.merge, MERGE_NO);
	annotations_done(&a);
}

static void test_sandbox(void **state)
{
	Annotations a;
	char **kv = KV("merge.pagemeld.io", "true", "io.kubernetes.cri-o.ContainerType", "sandbox");
	assert_int_equal(parse(kv, 2, &a, NULL), 0);
	assert_true(a.sandbox);
	assert_false(annotations_want_merge(&a));
	annotations_done(&a);
	char **kv2 = KV("io.kubernetes.cri.container-type", "sandbox");
	assert_int_equal(parse(kv2, 1, &a, NULL), 0);
	assert_false(annotations_want_merge(&a));
	annotations_done(&a);
	char **kv3 = KV("io.kubernetes.cri.container-type", "container");
	assert_int_equal(parse(kv3, 1, &a, NULL), 0);
	assert_true(annotations_want_merge(&a));
	annotations_done(&a);
}

static void expect_bad(const char *key, const char *value)
{
	char *kv[] = {(char *)"io.kubernetes.container.name", (char *)"web", (char *)key, (char *)value,
		      NULL};
	Annotations a = {.merge = 42};
	const char *bad = NULL;
	int r = parse(kv, 2, &a, &bad);
	if (r != -EINVAL)
		fail_msg("%s=%s: %d, want -EINVAL", key, value, r);
	assert_ptr_equal(bad, kv[2]);  /* names the offending key */
	assert_int_equal(a.merge, 42); /* untouched */
}

static void test_bad(void **state)
{
	expect_bad("merge.pagemeld.io", "yes");
	expect_bad("merge.pagemeld.io", "True");
	expect_bad("merge.pagemeld.io", "");
	expect_bad("merge.pagemeld.io/web", "1");
	expect_bad("merge.pagemeld.io/Web", "true");
	expect_bad("merge.pagemeld.io/", "true");
	expect_bad("merge.pagemeld.io/-x", "true");
	expect_bad("merge-budget.pagemeld.io", "12 Mi");
	expect_bad("merge-budget.pagemeld.io", "-1");
	expect_bad("merge-budget.pagemeld.io", "100m");
	expect_bad("swap-budget.pagemeld.io", "lots");
	expect_bad("trust-domain.pagemeld.io", "");
	expect_bad("trust-domain.pagemeld.io", "a b");
	expect_bad("trust-domain.pagemeld.io", "-lead");
	expect_bad("trust-domain.pagemeld.io",
		   "0123456789012345678901234567890123456789012345678901234567890123");
	/* unknown keys of our domain are typos, not to be ignored */
	expect_bad("mrege.pagemeld.io", "true");
	expect_bad("pagemeld.io", "true");
	expect_bad("pagemeld.io/merge", "true");
	expect_bad("merge-budget.pagemeld.io/web", "1Gi");
	expect_bad("Merge.PageMeld.io", "true");
}

static char *repeat(char ch, size_t l, const char *tail)
{
	char *s = malloc(l + strlen(tail) + 1);
	assert_non_null(s);
	memset(s, ch, l);
	strcpy(s + l, tail);
	return s;
}

static void test_sizes(void **state)
{
	const char *bad = NULL, *reason = NULL;
	Annotations a;

	/* 200 KiB of leading zeros in a budget: refused, naming the key. */
	char *zeros = repeat('0', 200 * 1024, "1");
	char **kv = KV("merge.pagemeld.io", "true", "swap-budget.pagemeld.io", zeros);
	assert_int_equal(annotations_parse(kv, 2, &a, &bad, &reason), -EINVAL);
	assert_ptr_equal(bad, kv[2]);
	assert_non_null(strstr(reason, "value is longer than"));
	/* Under the generic cap, over the quantity's. */
	char *zeros100 = repeat('0', 100, "1");
	kv = KV("swap-budget.pagemeld.io", zeros100);
	assert_int_equal(annotations_parse(kv, 1, &a, &bad, &reason), -EINVAL);
	assert_ptr_equal(bad, kv[0]);
	assert_non_null(strstr(reason, "longer than 64 bytes"));
	free(zeros100);

	/* A value pagemeldd reads, over the cap: the runtime's identity key too. */
	char *big = repeat('a', PAGEMELD_ANNOTATION_VALUE_MAX + 1, "");
	kv = KV("io.kubernetes.pod.namespace", big);
	assert_int_equal(annotations_parse(kv, 1, &a, &bad, &reason), -EINVAL);
	assert_ptr_equal(bad, kv[0]);
	assert_non_null(strstr(reason, "value is longer than"));

	/* A key over Kubernetes' limit, of any domain. */
	char *key = repeat('k', PAGEMELD_ANNOTATION_KEY_MAX + 1, "");
	kv = KV("merge.pagemeld.io", "true", key, "v");
	assert_int_equal(annotations_parse(kv, 2, &a, &bad, &reason), -EINVAL);
	assert_ptr_equal(bad, kv[2]);
	assert_non_null(strstr(reason, "key is longer"));

	/* Another domain's big value is not read: no error (and not kept). */
	kv = KV("example.com/blob", zeros, "merge.pagemeld.io", "true");
	assert_int_equal(annotations_parse(kv, 2, &a, &bad, &reason), 0);
	annotations_done(&a);

	/* At the caps exactly: accepted. */
	key[PAGEMELD_ANNOTATION_KEY_MAX] = '\0';
	big[PAGEMELD_ANNOTATION_VALUE_MAX] = '\0';
	kv = KV(key, "v", "io.kubernetes.cri-o.ContainerType", big);
	assert_int_equal(annotations_parse(kv, 2, &a, &bad, &reason), 0);
	annotations_done(&a);

	free(zeros);
	free(big);
	free(key);
}

static void test_kept(void **state)
{
	char *zeros = repeat('0', 4000, "1");
	char **kv = KV("merge.pagemeld.io", "true", "merge-budget.pagemeld.io", "1.5Gi",
		       "swap-budget.pagemeld.io", "0000000512Mi", "example.com/blob", zeros,
		       "trust-domain.pagemeld.io", "blue", "io.kubernetes.pod.namespace", "shop",
		       "io.kubernetes.cri-o.ContainerName", "web", "io.kubernetes.cri-o.ContainerType",
		       "container");
	size_t n = 8, nk = 0;
	char **kept = NULL;
	Annotations a, b;

	assert_int_equal(annotations_parse(kv, n, &a, NULL, NULL), 0);
	assert_int_equal(annotations_kept(kv, n, &a, &kept, &nk), 0);
	assert_int_equal(nk, 7); /* all but the other domain's blob */
	assert_string_equal(kept[2], "merge-budget.pagemeld.io");
	assert_string_equal(kept[3], "1610612736");
	assert_string_equal(kept[4], "swap-budget.pagemeld.io");
	assert_string_equal(kept[5], "536870912");
	assert_string_equal(kept[6], "trust-domain.pagemeld.io");
	assert_string_equal(kept[9], "shop");
	assert_null(kept[2 * nk]);

	/* What is kept parses to the same thing. */
	assert_int_equal(annotations_parse(kept, nk, &b, NULL, NULL), 0);
	assert_int_equal(b.merge, a.merge);
	assert_int_equal(b.merge_budget, a.merge_budget);
	assert_int_equal(b.swap_budget, a.swap_budget);
	assert_string_equal(b.trust_domain, a.trust_domain);
	assert_string_equal(b.container_name, a.container_name);
	assert_int_equal(b.sandbox, a.sandbox);
	annotations_done(&a);
	annotations_done(&b);
	strv_free(kept);
	free(zeros);
}

static void test_key_domain(void **state)
{
	assert_true(annotation_key_is_ours("merge.pagemeld.io"));
	assert_true(annotation_key_is_ours("merge.pagemeld.io/x"));
	assert_true(annotation_key_is_ours("pagemeld.io"));
	assert_false(annotation_key_is_ours("notpagemeld.io"));
	assert_false(annotation_key_is_ours("pagemeld.io.example.com/x"));
	assert_false(annotation_key_is_ours("example.com/merge.pagemeld.io"));
	assert_false(annotation_key_is_ours("io.kubernetes.cri-o.ContainerType"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_per_container_override),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_key_domain),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
