/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <sys/stat.h>

#include "ksm-sysfs.h"
#include "macro.h"

static void test_read_6_18(void **state)
{
	_cleanup_free_ char *dir = fixture_path("ksm-6.18");
	KsmState s;
	assert_int_equal(ksm_read_state(dir, &s), 0);
	for (int i = 0; i < _KSM_FIELD_MAX; i++)
		assert_true(s.present[i]);
	assert_int_equal(s.value[KSM_pages_sharing], 123);
	assert_int_equal(s.value[KSM_pages_shared], 45);
	assert_int_equal(s.value[KSM_max_page_sharing], 256);
	assert_true(s.general_profit_present);
	assert_int_equal(s.general_profit, -8192);
	assert_true(s.advisor_mode_present);
	assert_int_equal(s.advisor_mode, KSM_ADVISOR_SCAN_TIME);
}

static void test_read_old_kernel_marks_absent(void **state)
{
	_cleanup_free_ char *dir = fixture_path("ksm-6.1");
	KsmState s;
	assert_int_equal(ksm_read_state(dir, &s), 0);
	assert_true(s.present[KSM_run]);
	assert_true(s.present[KSM_pages_sharing]);
	assert_false(s.present[KSM_smart_scan]);
	assert_false(s.present[KSM_ksm_zero_pages]);
	assert_false(s.present[KSM_advisor_max_cpu]);
	assert_int_equal(s.value[KSM_smart_scan], 0);
	assert_false(s.general_profit_present);
	assert_false(s.advisor_mode_present);
}

static void test_missing_dir(void **state)
{
	KsmState s;
	assert_int_equal(ksm_read_state("/nonexistent/ksm", &s), -ENOENT);
}

static void test_bad_content(void **state)
{
	char *dir = tmpdir_new();
	tree_write(dir, "run", "banana\n");
	KsmState s;
	assert_int_equal(ksm_read_state(dir, &s), -EINVAL);
	tree_write(dir, "run", "1\n");
	tree_write(dir, "advisor_mode", "none scan-time\n");
	assert_int_equal(ksm_read_state(dir, &s), -EINVAL);
	tree_write(dir, "advisor_mode", "[future-mode] none\n");
	assert_int_equal(ksm_read_state(dir, &s), 0);
	assert_int_equal(s.advisor_mode, KSM_ADVISOR_UNKNOWN);
	tmpdir_remove(dir);
}

static void test_write(void **state)
{
	char *dir = tmpdir_new();
	tree_write(dir, "pages_to_scan", "100\n");
	tree_write(dir, "full_scans", "1\n");
	tree_write(dir, "advisor_mode", "[none] scan-time\n");
	assert_int_equal(ksm_write_field(dir, KSM_pages_to_scan, 5000), 0);
	_cleanup_free_ char *v = tree_read(dir, "pages_to_scan");
	assert_string_equal(v, "5000");
	assert_int_equal(ksm_write_field(dir, KSM_full_scans, 5), -EROFS);
	assert_int_equal(ksm_write_field(dir, KSM_sleep_millisecs, 5), -ENOENT);
	assert_int_equal(ksm_write_advisor(dir, KSM_ADVISOR_SCAN_TIME), 0);
	_cleanup_free_ char *a = tree_read(dir, "advisor_mode");
	assert_string_equal(a, "scan-time");
	tmpdir_remove(dir);
}

static void test_names(void **state)
{
	assert_int_equal(ksm_field_from_name("pages_sharing"), KSM_pages_sharing);
	assert_int_equal(ksm_field_from_name("bogus"), -EINVAL);
	assert_string_equal(ksm_field_name(KSM_smart_scan), "smart_scan");
	assert_true(ksm_field_writable(KSM_run));
	assert_false(ksm_field_writable(KSM_pages_shared));
	assert_string_equal(ksm_run_name(2), "unmerging");
	assert_int_equal(ksm_advisor_from_name("scan-time"), KSM_ADVISOR_SCAN_TIME);
}

static void test_snapshot_restore(void **state)
{
	char *dir = tmpdir_new();
	tree_write(dir, "run", "0\n");
	tree_write(dir, "pages_to_scan", "100\n");
	tree_write(dir, "sleep_millisecs", "20\n");
	tree_write(dir, "pages_shared", "0\n");
	KsmSnapshot snap;
	assert_int_equal(ksm_snapshot_take(dir, &snap), 0);
	tree_write(dir, "run", "1\n");
	tree_write(dir, "pages_to_scan", "9999\n");
	assert_int_equal(ksm_snapshot_restore(dir, &snap), 0);
	_cleanup_free_ char *run = tree_read(dir, "run");
	_cleanup_free_ char *pts = tree_read(dir, "pages_to_scan");
	assert_string_equal(run, "0");
	assert_string_equal(pts, "100");
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_6_18),
		cmocka_unit_test(test_read_old_kernel_marks_absent),
		cmocka_unit_test(test_missing_dir),
		cmocka_unit_test(test_bad_content),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_snapshot_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
