/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One probe of what the running kernel offers pagemeld. */

#include <stdbool.h>
#include <stdio.h>

typedef enum FeatureState {
	FEATURE_ABSENT = 0,
	FEATURE_PRESENT = 1,
	FEATURE_UNKNOWN = -1, /* could not be decided on this kernel */
} FeatureState;

#define KERNEL_FEATURES(X)                                                      \
	X(ksm, "KSM sysfs interface (/sys/kernel/mm/ksm)")                      \
	X(prctl_merge_any, "prctl(PR_SET_MEMORY_MERGE) merge-any")              \
	X(merge_any_exec_inherit, "merge-any survives execve")                  \
	X(ksm_stat, "/proc/PID/ksm_stat")                                       \
	X(ksm_stat_merge_any, "ksm_stat ksm_merge_any / ksm_mergeable (6.14+)") \
	X(ksm_zero_pages, "ksm_zero_pages counters")                            \
	X(smart_scan, "smart_scan knob")                                        \
	X(advisor, "scan-time advisor")                                         \
	X(use_zero_pages, "use_zero_pages knob")                                \
	X(cgroup_v2, "cgroup v2 mounted")                                       \
	X(memcg_v2, "cgroup v2 memory controller")                              \
	X(swap, "swap configured")                                              \
	X(pidfd_ksm, "pidfd KSM ioctls (pagemeld kernel patch)")

typedef enum KernelFeature {
#define KF_ENUM(name, desc) KERNEL_FEATURE_##name,
	KERNEL_FEATURES(KF_ENUM)
#undef KF_ENUM
	_KERNEL_FEATURE_MAX,
} KernelFeature;

typedef struct KernelFeatures {
	FeatureState state[_KERNEL_FEATURE_MAX];
	char *cgroup_v2_mount; /* owned; NULL without cgroup v2 */
} KernelFeatures;

typedef struct FeatureRoots {
	const char *proc;      /* "/proc" */
	const char *ksm_dir;   /* "/sys/kernel/mm/ksm" */
	const char *mountinfo; /* "/proc/self/mountinfo" */
	/* A program that blocks reading stdin, used to see merge-any across
	 * execve; NULL skips that probe (state UNKNOWN). */
	const char *exec_probe_binary;
} FeatureRoots;

#define FEATURE_ROOTS_DEFAULT \
	((FeatureRoots){"/proc", "/sys/kernel/mm/ksm", "/proc/self/mountinfo", "/bin/cat"})

/* Never fails for a missing feature; only for OOM or a broken /proc. The
 * prctl and exec probes fork a short-lived child: they need a live kernel,
 * so with proc != "/proc" they report UNKNOWN. */
int kernel_features_probe(const FeatureRoots *roots, KernelFeatures *ret);
void kernel_features_done(KernelFeatures *f);
const char *kernel_feature_name(KernelFeature f);
const char *kernel_feature_description(KernelFeature f);
const char *feature_state_name(FeatureState s); /* yes / no / unknown */
void kernel_features_print(FILE *out, const KernelFeatures *f);
