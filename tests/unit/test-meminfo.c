/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>

#include "macro.h"
#include "meminfo.h"

static void test_fixture(void **state)
{
	_cleanup_free_ char *proc = fixture_path("proc");
	_cleanup_free_ char *text = tree_read(proc, "meminfo");
	MemInfo m;
	assert_int_equal(meminfo_read(proc, &m), 0);
	assert_true(m.mem_available_present);
	assert_true(m.mem_total > 0);
	assert_true(m.mem_available <= m.mem_total);
	/* the values are kB in the file, bytes here */
	assert_int_equal(m.mem_total % 1024, 0);
	char want[64];
	snprintf(want, sizeof(want), "MemTotal:       %llu kB", (unsigned long long)(m.mem_total / 1024));
	assert_non_null(strstr(text, want));
}

static void test_parse(void **state)
{
	MemInfo m;
	assert_int_equal(meminfo_parse("MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable: 500 kB\n"
				       "Buffers: 1 kB\nSwapTotal: 2048 kB\nSwapFree: 1024 kB\n"
				       "HugePages_Total: 0\n",
				       &m),
			 0);
	assert_int_equal(m.mem_total, 1000 * 1024);
	assert_int_equal(m.mem_free, 10 * 1024);
	assert_int_equal(m.mem_available, 500 * 1024);
	assert_int_equal(m.swap_total, 2048 * 1024);
	assert_int_equal(m.swap_free, 1024 * 1024);

	/* pre-3.14: MemAvailable missing -> MemFree, flagged */
	assert_int_equal(
		meminfo_parse("MemTotal: 1000 kB\nMemFree: 10 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB", &m), 0);
	assert_false(m.mem_available_present);
	assert_int_equal(m.mem_available, 10 * 1024);
	/* a prefix of a name is not the name */
	assert_int_equal(
		meminfo_parse("MemTotalX: 1 kB\nMemFree: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n", &m),
		-EINVAL);
}

static void test_garbage(void **state)
{
	MemInfo m = {.mem_total = 42};
	assert_int_equal(meminfo_parse("", &m), -EINVAL);
	assert_int_equal(meminfo_parse("MemTotal: x kB\n", &m), -EINVAL);
	assert_int_equal(meminfo_parse("MemTotal: 12 MB\n", &m), -EINVAL);
	assert_int_equal(meminfo_parse("MemTotal: 99999999999999999999 kB\n", &m), -ERANGE);
	assert_int_equal(m.mem_total, 42); /* untouched on failure */
	assert_int_equal(meminfo_read("/nonexistent", &m), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
