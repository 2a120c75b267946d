/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

static void test_parse_u64(void **state)
{
	uint64_t v;
	assert_int_equal(parse_u64("42\n", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_u64("-1", &v), -EINVAL);
	assert_int_equal(parse_u64("1x", &v), -EINVAL);
	assert_int_equal(parse_u64("", &v), -EINVAL);
	assert_int_equal(parse_u64("99999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_u64_or_max("max\n", &v), 0);
	assert_true(v == UINT64_MAX);
	int64_t s;
	assert_int_equal(parse_s64("-8192", &s), 0);
	assert_int_equal(s, -8192);
	assert_int_equal(parse_s64("--1", &s), -EINVAL);
}

static void test_path_join(void **state)
{
	_cleanup_free_ char *a = path_join("/sys/fs/cgroup/", "/kubepods");
	_cleanup_free_ char *b = path_join("/", "x");
	_cleanup_free_ char *c = path_join("/a", "");
	assert_string_equal(a, "/sys/fs/cgroup/kubepods");
	assert_string_equal(b, "/x");
	assert_string_equal(c, "/a");
}

static void test_read_write(void **state)
{
	char *dir = tmpdir_new();
	tree_write(dir, "a/b/value", "12345\nsecond line\n");
	_cleanup_free_ char *p = path_join(dir, "a/b/value");
	_cleanup_free_ char *line = NULL;
	assert_int_equal(read_one_line(p, &line), 0);
	assert_string_equal(line, "12345");
	uint64_t v;
	assert_int_equal(read_u64_file(p, &v), 0);
	assert_int_equal(v, 12345);
	assert_int_equal(write_string_file(p, "7"), 0);
	_cleanup_free_ char *back = tree_read(dir, "a/b/value");
	assert_string_equal(back, "7"); /* replaced, not overwritten in place */
	char *big = NULL;
	assert_int_equal(read_full_file(p, 0, &big, NULL), -EFBIG);
	assert_null(big);
	_cleanup_free_ char *missing = path_join(dir, "nope");
	assert_int_equal(write_string_file(missing, "1"), -ENOENT);
	char small[4];
	assert_int_equal(read_file_into(p, small, sizeof(small)), 0);
	assert_string_equal(small, "7");
	tree_write(dir, "a/b/value", "123456");
	assert_int_equal(read_file_into(p, small, sizeof(small)), 0);
	assert_string_equal(small, "123"); /* cut at size - 1, terminated */
	assert_int_equal(read_file_into(missing, small, sizeof(small)), -ENOENT);
	tmpdir_remove(dir);
}

static void test_write_atomic(void **state)
{
	char *dir = tmpdir_new();
	tree_write(dir, "d/f", "old");
	_cleanup_free_ char *d = path_join(dir, "d");
	_cleanup_close_ int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	assert_true(dfd >= 0);
	assert_int_equal(write_file_atomic_at(dfd, "f", ".t", "new"), 0);
	_cleanup_free_ char *back = tree_read(dir, "d/f");
	assert_string_equal(back, "new");
	assert_int_equal(fstatat(dfd, ".t", &st, 0), -1); /* renamed away */
	/* the rename fails (a directory in the way): the temporary goes too */
	tree_write(dir, "d/sub/x", "");
	assert_int_equal(write_file_atomic_at(dfd, "sub", ".t", "x"), -EISDIR);
	assert_int_equal(fstatat(dfd, ".t", &st, 0), -1);
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_write_atomic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
