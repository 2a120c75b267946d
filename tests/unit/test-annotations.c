/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>

#include "annotations.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
