/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel-features.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "fileio.h"
#include "ksm-stat.h"
#include "macro.h"
#include "pidfd-ksm.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

static const struct {
	const char *name;
	const char *description;
} feature_info[_KERNEL_FEATURE_MAX] = {
#define KF_ROW(n, d) [KERNEL_FEATURE_##n] = {#n, d},
	KERNEL_FEATURES(KF_ROW)
#undef KF_ROW
};

const char *kernel_feature_name(KernelFeature f)
{
	return f >= 0 && f < _KERNEL_FEATURE_MAX ? feature_info[f].name : NULL;
}

const char *kernel_feature_description(KernelFeature f)
{
	return f >= 0 && f < _KERNEL_FEATURE_MAX ? feature_info[f].description : NULL;
}

const char *feature_state_name(FeatureState s)
{
	return s == FEATURE_PRESENT ? "yes" : s == FEATURE_ABSENT ? "no" : "unknown";
}

static FeatureState file_present(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);
	return p && access(p, F_OK) == 0 ? FEATURE_PRESENT : FEATURE_ABSENT;
}

/* Fork a child that sets merge-any and execs a blocking program, then read
 * ksm_merge_any of the new image from ksm_stat. */
static FeatureState probe_exec_inherit(const char *proc, const char *binary)
{
	int in[2], status[2];
	if (!binary || access(binary, X_OK) < 0)
		return FEATURE_UNKNOWN;
	if (pipe2(in, O_CLOEXEC) < 0)
		return FEATURE_UNKNOWN;
	if (pipe2(status, O_CLOEXEC) < 0) {
		safe_close(in[0]);
		safe_close(in[1]);
		return FEATURE_UNKNOWN;
	}

	pid_t pid = fork();
	if (pid < 0) {
		safe_close(in[0]);
		safe_close(in[1]);
		safe_close(status[0]);
		safe_close(status[1]);
		return FEATURE_UNKNOWN;
	}
	if (pid == 0) {
		/* async-signal-safe calls only */
		int err = 0;
		if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) < 0 || dup2(in[0], STDIN_FILENO) < 0)
			err = errno;
		else {
			char *const argv[] = {(char *)binary, NULL};
			char *const envp[] = {NULL};
			execve(binary, argv, envp);
			err = errno;
		}
		(void)!write(status[1], &err, sizeof(err));
		_exit(127);
	}

	safe_close(in[0]);
	safe_close(status[1]);
	int err = 0;
	/* EOF on the CLOEXEC pipe means execve succeeded. */
	ssize_t n = read(status[0], &err, sizeof(err));
	safe_close(status[0]);

	FeatureState result = FEATURE_UNKNOWN;
	if (n == 0) {
		KsmStat st;
		if (ksm_stat_read(proc, pid, &st) >= 0 && st.merge_any != KSM_TRISTATE_ABSENT)
			result = st.merge_any == KSM_TRISTATE_YES ? FEATURE_PRESENT : FEATURE_ABSENT;
	}
	safe_close(in[1]); /* the probe binary sees EOF and exits */
	if (waitpid(pid, NULL, 0) < 0) {
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
	}
	return result;
}

static FeatureState probe_swap(const char *proc)
{
	_cleanup_free_ char *p = path_join(proc, "swaps");
	_cleanup_free_ char *text = NULL;
	if (!p || read_full_file(p, 1024 * 1024, &text, NULL) < 0)
		return FEATURE_UNKNOWN;
	/* header line, then one line per active swap area */
	const char *nl = strchr(text, '\n');
	return nl && nl[1] ? FEATURE_PRESENT : FEATURE_ABSENT;
}

static bool word_in(const char *text, const char *word)
{
	size_t l = strlen(word);
	for (const char *p = text; (p = strstr(p, word)); p += l)
		if ((p == text || p[-1] == ' ') && (p[l] == '\0' || p[l] == ' ' || p[l] == '\n'))
			return true;
	return false;
}

int kernel_features_probe(const FeatureRoots *roots, KernelFeatures *ret)
{
	KernelFeatures f = {};
	bool live = streq(roots->proc, "/proc");

	f.state[KERNEL_FEATURE_ksm] = file_present(roots->ksm_dir, "run");
	f.state[KERNEL_FEATURE_smart_scan] = file_present(roots->ksm_dir, "smart_scan");
	f.state[KERNEL_FEATURE_advisor] = file_present(roots->ksm_dir, "advisor_mode");
	f.state[KERNEL_FEATURE_use_zero_pages] = file_present(roots->ksm_dir, "use_zero_pages");
	f.state[KERNEL_FEATURE_ksm_zero_pages] = file_present(roots->ksm_dir, "ksm_zero_pages");

	_cleanup_free_ char *self_stat = path_join(roots->proc, "self/ksm_stat");
	_cleanup_free_ char *stat_text = NULL;
	if (!self_stat)
		return -ENOMEM;
	if (read_full_file(self_stat, 4096, &stat_text, NULL) >= 0) {
		f.state[KERNEL_FEATURE_ksm_stat] = FEATURE_PRESENT;
		f.state[KERNEL_FEATURE_ksm_stat_merge_any] =
			strstr(stat_text, "ksm_merge_any") ? FEATURE_PRESENT : FEATURE_ABSENT;
	}

	if (live) {
		f.state[KERNEL_FEATURE_prctl_merge_any] =
			prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) >= 0 ? FEATURE_PRESENT : FEATURE_ABSENT;
		f.state[KERNEL_FEATURE_merge_any_exec_inherit] =
			f.state[KERNEL_FEATURE_prctl_merge_any] == FEATURE_PRESENT
				? probe_exec_inherit(roots->proc, roots->exec_probe_binary)
				: FEATURE_ABSENT;
	} else {
		f.state[KERNEL_FEATURE_prctl_merge_any] = FEATURE_UNKNOWN;
		f.state[KERNEL_FEATURE_merge_any_exec_inherit] = FEATURE_UNKNOWN;
	}

	int r = cg_find_v2_mount(roots->mountinfo, &f.cgroup_v2_mount);
	if (r == -ENOMEM)
		return r;
	f.state[KERNEL_FEATURE_cgroup_v2] = r >= 0 ? FEATURE_PRESENT : FEATURE_ABSENT;
	f.state[KERNEL_FEATURE_memcg_v2] = FEATURE_ABSENT;
	if (f.cgroup_v2_mount) {
		_cleanup_free_ char *p = path_join(f.cgroup_v2_mount, "cgroup.controllers");
		_cleanup_free_ char *ctl = NULL;
		if (p && read_one_line(p, &ctl) >= 0 && word_in(ctl, "memory"))
			f.state[KERNEL_FEATURE_memcg_v2] = FEATURE_PRESENT;
	}

	f.state[KERNEL_FEATURE_swap] = probe_swap(roots->proc);
	/* The pidfd KSM ioctls of kernel-patches/: asked of a pidfd of our own,
	 * so only on the live kernel. */
	if (live) {
		r = remote_pidfd_ksm_probe();
		f.state[KERNEL_FEATURE_pidfd_ksm] = r > 0    ? FEATURE_PRESENT
						    : r == 0 ? FEATURE_ABSENT
							     : FEATURE_UNKNOWN;
	} else
		f.state[KERNEL_FEATURE_pidfd_ksm] = FEATURE_UNKNOWN;

	*ret = f;
	return 0;
}

void kernel_features_done(KernelFeatures *f)
{
	if (!f)
		return;
	free(f->cgroup_v2_mount);
	f->cgroup_v2_mount = NULL;
}

void kernel_features_print(FILE *out, const KernelFeatures *f)
{
	for (int i = 0; i < _KERNEL_FEATURE_MAX; i++)
		fprintf(out, "%-24s %-8s %s\n", feature_info[i].name, feature_state_name(f->state[i]),
			feature_info[i].description);
	fprintf(out, "%-24s %s\n", "cgroup_v2_mount", f->cgroup_v2_mount ?: "-");
}
