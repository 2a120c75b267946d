/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>

#include "ksm-stat.h"
#include "macro.h"

static void test_6_18_fields(void **state)
{
	_cleanup_free_ char *proc = fixture_path("proc");
	KsmStat s;
	assert_int_equal(ksm_stat_read(proc, 4242, &s), 0);
	assert_true(s.from_ksm_stat);
	assert_int_equal(s.rmap_items, 8192);
	assert_int_equal(s.zero_pages, 3);
	assert_int_equal(s.merging_pages, 4096);
	assert_int_equal(s.process_profit, 16244736);
	assert_int_equal(s.merge_any, KSM_TRISTATE_YES);
	assert_int_equal(s.mergeable, KSM_TRISTATE_YES);
}

static void test_6_12_lacks_yes_no(void **state)
{
	KsmStat s;
	_cleanup_free_ char *p = fixture_path("proc/ksm_stat-6.12");
	FILE *f = fopen(p, "re");
	assert_non_null(f);
	char buf[512];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_int_equal(ksm_stat_parse(buf, &s), 0);
	assert_int_equal(s.merging_pages, 7);
	assert_int_equal(s.process_profit, -6272);
	assert_int_equal(s.merge_any, KSM_TRISTATE_ABSENT);
	assert_int_equal(s.mergeable, KSM_TRISTATE_ABSENT);
}

static void test_fallback_merging_pages(void **state)
{
	_cleanup_free_ char *proc = fixture_path("proc");
	KsmStat s;
	assert_int_equal(ksm_stat_read(proc, 4243, &s), 0);
	assert_false(s.from_ksm_stat);
	assert_int_equal(s.merging_pages, 77);
	assert_int_equal(s.merge_any, KSM_TRISTATE_ABSENT);
}

static void test_gone_and_bad(void **state)
{
	_cleanup_free_ char *proc = fixture_path("proc");
	KsmStat s;
	assert_int_equal(ksm_stat_read(proc, 999999, &s), -ESRCH);
	assert_int_equal(ksm_stat_parse("ksm_rmap_items 1\n", &s), -EINVAL); /* no merging line */
	assert_int_equal(ksm_stat_parse("ksm_merging_pages x\n", &s), -EINVAL);
	assert_int_equal(ksm_stat_parse("ksm_merging_pages 1\nksm_merge_any: maybe\n", &s), -EINVAL);
	assert_int_equal(ksm_stat_parse("ksm_merging_pages 1\nksm_future_field 9\n", &s), 0);
	assert_int_equal(s.merging_pages, 1);
}

static void test_zombie_is_esrch(void **state)
{
	char *dir = tmpdir_new();
	tree_write(dir, "77/ksm_stat", "");
	KsmStat s;
	assert_int_equal(ksm_stat_read(dir, 77, &s), -ESRCH);
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_6_18_fields),
		cmocka_unit_test(test_6_12_lacks_yes_no),
		cmocka_unit_test(test_fallback_merging_pages),
		cmocka_unit_test(test_gone_and_bad),
		cmocka_unit_test(test_zombie_is_esrch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
