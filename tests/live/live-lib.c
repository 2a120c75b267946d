/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/ readers and writers on this machine's real kernel. */
#include "live-util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cgroup.h"
#include "fileio.h"
#include "kernel-features.h"
#include "ksm-stat.h"
#include "macro.h"

static void test_ksm_sysfs_real(void **state)
{
	KsmState s;
	assert_int_equal(ksm_read_state(KSM_SYSFS_DIR, &s), 0);
	assert_true(s.present[KSM_run]);
	assert_true(s.present[KSM_pages_sharing]);
	/* every file the kernel has is read, none invented */
	for (int i = 0; i < _KSM_FIELD_MAX; i++) {
		_cleanup_free_ char *p = path_join(KSM_SYSFS_DIR, ksm_field_name(i));
		assert_int_equal(s.present[i], access(p, F_OK) == 0);
	}
	assert_int_equal(s.general_profit_present, access(KSM_SYSFS_DIR "/general_profit", F_OK) == 0);
	ksm_state_print(stdout, &s);
}

static void test_kernel_errno_passes_back(void **state)
{
	/* pages_to_scan is refused while the advisor drives it */
	KsmState s;
	assert_int_equal(ksm_read_state(KSM_SYSFS_DIR, &s), 0);
	if (s.advisor_mode_present) {
		assert_int_equal(ksm_write_advisor(KSM_SYSFS_DIR, KSM_ADVISOR_SCAN_TIME), 0);
		assert_int_equal(ksm_write_field(KSM_SYSFS_DIR, KSM_pages_to_scan, 1234), -EINVAL);
		assert_int_equal(ksm_write_advisor(KSM_SYSFS_DIR, KSM_ADVISOR_NONE), 0);
	}
	assert_int_equal(ksm_write_field(KSM_SYSFS_DIR, KSM_pages_to_scan, 1234), 0);
	assert_int_equal(ksm_write_field(KSM_SYSFS_DIR, KSM_run, 7), -EINVAL);
	assert_int_equal(ksm_write_field(KSM_SYSFS_DIR, KSM_pages_shared, 1), -EROFS);

	/* merge_across_nodes: EBUSY while pages are shared (NUMA kernels only) */
	if (!s.present[KSM_merge_across_nodes])
		return;
	const char *args[] = {"--same", "512", "--unique", "0", "--merge", NULL};
	LiveChild c;
	assert_int_equal(live_memfill_start(args, &c), 0);
	assert_int_equal(live_ksm_start(10000, 10), 0);
	int64_t t0 = live_now_ms();
	while (live_ksm_read(KSM_pages_shared) == 0 && live_now_ms() - t0 < 30000)
		usleep(10000);
	assert_true(live_ksm_read(KSM_pages_shared) > 0);
	uint64_t cur = live_ksm_read(KSM_merge_across_nodes);
	assert_int_equal(ksm_write_field(KSM_SYSFS_DIR, KSM_merge_across_nodes, !cur), -EBUSY);
	assert_int_equal(live_memfill_stop(&c), 0);
}

static void test_ksm_stat_self(void **state)
{
	KsmStat st;
	assert_int_equal(ksm_stat_read("/proc", getpid(), &st), 0);
	assert_true(st.from_ksm_stat);
	assert_int_equal(ksm_stat_read("/proc", 0x3ffffff0, &st), -ESRCH);
}

static char *v2_mount(void)
{
	char *m = NULL;
	int r = cg_find_v2_mount("/proc/self/mountinfo", &m);
	if (r == -ENOENT) {
		fprintf(stderr, "no cgroup v2 mount, skipping\n");
		exit(EXIT_TEST_SKIP);
	}
	assert_int_equal(r, 0);
	return m;
}

static void test_cgroup_v2_real(void **state)
{
	_cleanup_free_ char *mnt = v2_mount();
	_cleanup_free_ char *self = NULL;
	assert_int_equal(cg_pid_get_path("/proc", getpid(), &self), 0);
	assert_true(self[0] == '/');
	assert_true(cg_exists(mnt, self));

	/* a scratch cgroup with one child process in it */
	_cleanup_free_ char *name = strdup_printf("/pagemeld-live-%d", (int)getpid());
	_cleanup_free_ char *dir = cg_file_path(mnt, name, NULL);
	assert_int_equal(mkdir(dir, 0755), 0);

	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		for (;;)
			pause();
	}
	_cleanup_free_ char *procs = cg_file_path(mnt, name, "cgroup.procs");
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", (int)child);
	assert_int_equal(write_string_file(procs, buf), 0);

	_cleanup_free_ char *child_path = NULL;
	assert_int_equal(cg_pid_get_path("/proc", child, &child_path), 0);
	assert_string_equal(child_path, name);
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	assert_int_equal(cg_list_procs(mnt, name, &pids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], child);

	bool frozen;
	assert_int_equal(cg_set_frozen(mnt, name, true, 5000), 0);
	assert_int_equal(cg_is_frozen(mnt, name, &frozen), 0);
	assert_true(frozen);
	assert_int_equal(cg_set_frozen(mnt, name, false, 5000), 0);
	assert_int_equal(cg_is_frozen(mnt, name, &frozen), 0);
	assert_false(frozen);

	/* the memory controller: present (pure v2) or plainly unsupported */
	CgMemory m;
	int r = cg_read_memory(mnt, name, &m);
	_cleanup_free_ char *ctl = cg_file_path(mnt, "/", "cgroup.controllers");
	_cleanup_free_ char *controllers = NULL;
	assert_int_equal(read_one_line(ctl, &controllers), 0);
	if (!strstr(controllers, "memory"))
		assert_int_equal(r, -EOPNOTSUPP);
	else
		assert_true(r == 0 || r == -EOPNOTSUPP); /* depends on subtree_control */
	printf("# v2 mount %s, memory controller: %s\n", mnt, r == 0 ? "yes" : strerror(-r));

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_features_live(void **state)
{
	KernelFeatures f;
	FeatureRoots roots = FEATURE_ROOTS_DEFAULT;
	assert_int_equal(kernel_features_probe(&roots, &f), 0);
	kernel_features_print(stdout, &f);
	assert_int_equal(f.state[KERNEL_FEATURE_ksm], FEATURE_PRESENT);
	assert_int_equal(f.state[KERNEL_FEATURE_prctl_merge_any], FEATURE_PRESENT);
	/* 6.18 shows ksm_merge_any, so the exec probe must decide */
	if (f.state[KERNEL_FEATURE_ksm_stat_merge_any] == FEATURE_PRESENT)
		assert_int_equal(f.state[KERNEL_FEATURE_merge_any_exec_inherit], FEATURE_PRESENT);
	kernel_features_done(&f);
}

int main(void)
{
	live_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ksm_sysfs_real), cmocka_unit_test(test_kernel_errno_passes_back),
		cmocka_unit_test(test_ksm_stat_self),  cmocka_unit_test(test_cgroup_v2_real),
		cmocka_unit_test(test_features_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
