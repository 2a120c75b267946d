/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>

#include "fileio.h"
#include "kernel-features.h"
#include "macro.h"

static void test_fixture_tree(void **state)
{
	char *root = tmpdir_new();
	tree_write(root, "cg/cgroup.controllers", "cpuset cpu io memory pids\n");
	_cleanup_free_ char *mi = strdup_printf("25 1 0:23 / %s/cg rw - cgroup2 cgroup2 rw\n", root);
	tree_write(root, "mountinfo", mi);
	_cleanup_free_ char *proc = fixture_path("proc");
	_cleanup_free_ char *ksm = fixture_path("ksm-6.18");
	_cleanup_free_ char *mip = strdup_printf("%s/mountinfo", root);
	FeatureRoots roots = {.proc = proc, .ksm_dir = ksm, .mountinfo = mip};
	KernelFeatures f;
	assert_int_equal(kernel_features_probe(&roots, &f), 0);
	assert_int_equal(f.state[KERNEL_FEATURE_ksm], FEATURE_PRESENT);
	assert_int_equal(f.state[KERNEL_FEATURE_smart_scan], FEATURE_PRESENT);
	assert_int_equal(f.state[KERNEL_FEATURE_advisor], FEATURE_PRESENT);
	assert_int_equal(f.state[KERNEL_FEATURE_ksm_stat], FEATURE_PRESENT);
	/* proc/self/ksm_stat is the 6.12 one: no yes/no fields */
	assert_int_equal(f.state[KERNEL_FEATURE_ksm_stat_merge_any], FEATURE_ABSENT);
	assert_int_equal(f.state[KERNEL_FEATURE_cgroup_v2], FEATURE_PRESENT);
	assert_int_equal(f.state[KERNEL_FEATURE_memcg_v2], FEATURE_PRESENT);
	assert_int_equal(f.state[KERNEL_FEATURE_swap], FEATURE_PRESENT);
	/* not the live /proc: what needs a live kernel is unknown, not guessed */
	assert_int_equal(f.state[KERNEL_FEATURE_prctl_merge_any], FEATURE_UNKNOWN);
	assert_int_equal(f.state[KERNEL_FEATURE_merge_any_exec_inherit], FEATURE_UNKNOWN);
	_cleanup_free_ char *want_mount = strdup_printf("%s/cg", root);
	assert_string_equal(f.cgroup_v2_mount, want_mount);

	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	kernel_features_print(out, &f);
	fclose(out);
	assert_non_null(strstr(text, "memcg_v2"));
	assert_non_null(strstr(text, "unknown"));
	free(text);
	kernel_features_done(&f);
	tmpdir_remove(root);
}

static void test_old_kernel(void **state)
{
	char *root = tmpdir_new();
	tree_write(root, "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
	tree_write(root, "mountinfo", "22 1 252:1 / / rw - ext4 /dev/vda1 rw\n");
	_cleanup_free_ char *proc = strdup_printf("%s/proc", root);
	_cleanup_free_ char *ksm = fixture_path("ksm-6.1");
	_cleanup_free_ char *mip = strdup_printf("%s/mountinfo", root);
	FeatureRoots roots = {.proc = proc, .ksm_dir = ksm, .mountinfo = mip};
	KernelFeatures f;
	assert_int_equal(kernel_features_probe(&roots, &f), 0);
	assert_int_equal(f.state[KERNEL_FEATURE_ksm], FEATURE_PRESENT);
	assert_int_equal(f.state[KERNEL_FEATURE_smart_scan], FEATURE_ABSENT);
	assert_int_equal(f.state[KERNEL_FEATURE_advisor], FEATURE_ABSENT);
	assert_int_equal(f.state[KERNEL_FEATURE_ksm_stat], FEATURE_ABSENT);
	assert_int_equal(f.state[KERNEL_FEATURE_cgroup_v2], FEATURE_ABSENT);
	assert_int_equal(f.state[KERNEL_FEATURE_memcg_v2], FEATURE_ABSENT);
	assert_int_equal(f.state[KERNEL_FEATURE_swap], FEATURE_ABSENT);
	assert_null(f.cgroup_v2_mount);
	kernel_features_done(&f);
	tmpdir_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_tree),
		cmocka_unit_test(test_old_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
