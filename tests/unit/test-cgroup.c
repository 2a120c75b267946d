/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>

#include "cgroup.h"
#include "fileio.h"
#include "macro.h"

static void expect_mount(const char *fixture, const char *want, int want_r)
{
	_cleanup_free_ char *p = fixture_path(fixture);
	_cleanup_free_ char *m = NULL;
	assert_int_equal(cg_find_v2_mount(p, &m), want_r);
	if (want)
		assert_string_equal(m, want);
	else
		assert_null(m);
}

static void test_find_mount(void **state)
{
	expect_mount("mountinfo-hybrid", "/sys/fs/cgroup/unified", 0);
	expect_mount("mountinfo-pure", "/sys/fs/cgroup", 0);
	expect_mount("mountinfo-escaped", "/mnt/my cgroup", 0);
	expect_mount("mountinfo-none", NULL, -ENOENT);

	_cleanup_free_ char *p = fixture_path("mountinfo-hybrid");
	_cleanup_free_ char *cpu = NULL, *name = NULL, *none = NULL;
	assert_int_equal(cg_find_v1_mount(p, "cpu", &cpu), 0);
	assert_string_equal(cpu, "/sys/fs/cgroup/cpu"); /* not cpuacct, not cpuset */
	assert_int_equal(cg_find_v1_mount(p, "name=systemd", &name), 0);
	assert_string_equal(name, "/sys/fs/cgroup/systemd");
	assert_int_equal(cg_find_v1_mount(p, "rdma", &none), -ENOENT);
	_cleanup_free_ char *pure = fixture_path("mountinfo-pure");
	assert_int_equal(cg_find_v1_mount(pure, "cpu", &none), -ENOENT);
	assert_null(none);

	/* systemd's v1 layout: cpu and cpuacct co-mounted */
	char *root = tmpdir_new();
	tree_write(root, "mountinfo",
		   "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n");
	_cleanup_free_ char *mi = path_join(root, "mountinfo");
	_cleanup_free_ char *both = NULL;
	assert_int_equal(cg_find_v1_mount(mi, "cpu", &both), 0);
	assert_string_equal(both, "/sys/fs/cgroup/cpu,cpuacct");
	tmpdir_remove(root);
}

static void test_pid_path(void **state)
{
	_cleanup_free_ char *proc = fixture_path("proc");
	_cleanup_free_ char *path = NULL;
	assert_int_equal(cg_pid_get_path(proc, 4242, &path), 0);
	assert_string_equal(path, "/kubepods/pod1/ctr-a");
	_cleanup_free_ char *none = NULL;
	assert_int_equal(cg_pid_get_path(proc, 4243, &none), -ENOMEDIUM);
	assert_int_equal(cg_pid_get_path(proc, 999999, &none), -ESRCH);
	assert_null(none);
	assert_int_equal(cg_parse_proc_cgroup("0::/gone (deleted)\n", &none), 0);
	free(TAKE_PTR(none));
	assert_int_equal(cg_parse_proc_cgroup("0::garbage\n", &none), -EINVAL);
}

static void test_procs(void **state)
{
	char *root = tmpdir_new();
	tree_write(root, "pod/ctr/cgroup.procs", "12\n345\n6789\n");
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	assert_int_equal(cg_list_procs(root, "/pod/ctr", &pids, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pids[0], 12);
	assert_int_equal(pids[2], 6789);
	assert_true(cg_exists(root, "/pod/ctr"));
	assert_false(cg_exists(root, "/pod/other"));
	tree_write(root, "bad/cgroup.procs", "12\nabc\n");
	_cleanup_free_ pid_t *bad = NULL;
	assert_int_equal(cg_list_procs(root, "/bad", &bad, &n), -EBADMSG);
	assert_int_equal(cg_list_procs(root, "/missing", &bad, &n), -ENOENT);
	tmpdir_remove(root);
}

static void test_freeze(void **state)
{
	char *root = tmpdir_new();
	tree_write(root, "c/cgroup.freeze", "0\n");
	tree_write(root, "c/cgroup.events", "populated 1\nfrozen 1\n");
	assert_int_equal(cg_set_frozen(root, "/c", true, 1000), 0);
	_cleanup_free_ char *f = tree_read(root, "c/cgroup.freeze");
	assert_string_equal(f, "1");
	bool frozen;
	assert_int_equal(cg_is_frozen(root, "/c", &frozen), 0);
	assert_true(frozen);
	/* the kernel never reports thawed: we give up in time */
	assert_int_equal(cg_set_frozen(root, "/c", false, 200), -ETIMEDOUT);
	tmpdir_remove(root);
}

static void test_memory(void **state)
{
	char *root = tmpdir_new();
	tree_write(root, "nomem/cgroup.procs", "");
	CgMemory m;
	assert_int_equal(cg_read_memory(root, "/nomem", &m), -EOPNOTSUPP);
	assert_int_equal(cg_write_limit(root, "/nomem", "memory.swap.max", 1), -EOPNOTSUPP);
	assert_int_equal(cg_read_memory(root, "/absent", &m), -ENOENT);

	tree_write(root, "mem/cgroup.procs", "");
	tree_write(root, "mem/memory.current", "1048576\n");
	tree_write(root, "mem/memory.max", "max\n");
	assert_int_equal(cg_read_memory(root, "/mem", &m), 0);
	assert_int_equal(m.current, 1048576);
	assert_true(m.max == CG_LIMIT_MAX);
	assert_false(m.swap_present);
	assert_int_equal(cg_write_limit(root, "/mem", "memory.swap.max", 1), -EOPNOTSUPP);

	tree_write(root, "mem/memory.swap.current", "0\n");
	tree_write(root, "mem/memory.swap.max", "max\n");
	assert_int_equal(cg_write_limit(root, "/mem", "memory.swap.max", 536870912), 0);
	assert_int_equal(cg_read_memory(root, "/mem", &m), 0);
	assert_true(m.swap_present);
	assert_int_equal(m.swap_max, 536870912);
	assert_int_equal(cg_write_limit(root, "/mem", "memory.swap.max", CG_LIMIT_MAX), 0);
	_cleanup_free_ char *v = tree_read(root, "mem/memory.swap.max");
	assert_string_equal(v, "max");
	tmpdir_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_mount), cmocka_unit_test(test_pid_path),
		cmocka_unit_test(test_procs),	   cmocka_unit_test(test_freeze),
		cmocka_unit_test(test_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
