/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* cgroup v2: find the mount (pure or hybrid), map pids to cgroups, list and
 * freeze a cgroup, read and write its memory files. Paths of cgroups are
 * relative to the v2 mount and start with "/", as in /proc/PID/cgroup. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CG_LIMIT_MAX UINT64_MAX /* "max" in memory.max & co. */

/* mountinfo_path is normally "/proc/self/mountinfo". -ENOENT: no cgroup2 mount. */
int cg_find_v2_mount(const char *mountinfo_path, char **ret_mount);
/* The cgroup v1 hierarchy holding `controller` ("cpu"), on hybrid hosts:
 * only read here (the tests put a process into a cpu group without RT
 * budget). -ENOENT: none. */
int cg_find_v1_mount(const char *mountinfo_path, const char *controller, char **ret_mount);
/* The "0::" line of proc_root/PID/cgroup. -ESRCH for a gone process,
 * -ENOMEDIUM when the pid has no v2 line. */
int cg_pid_get_path(const char *proc_root, pid_t pid, char **ret_path);
/* Parse the text of a /proc/PID/cgroup file (exposed for unit tests). */
int cg_parse_proc_cgroup(const char *text, char **ret_path);

/* malloc'd mount + path + "/" + file (file may be NULL). */
char *cg_file_path(const char *mount, const char *path, const char *file);
bool cg_exists(const char *mount, const char *path);

int cg_list_procs(const char *mount, const char *path, pid_t **ret_pids, size_t *ret_n);
/* Writes cgroup.freeze and waits until cgroup.events says "frozen <v>";
 * -ETIMEDOUT after timeout_ms. */
int cg_set_frozen(const char *mount, const char *path, bool frozen, int timeout_ms);
int cg_is_frozen(const char *mount, const char *path, bool *ret);

typedef struct CgMemory {
	uint64_t current;
	uint64_t max; /* CG_LIMIT_MAX for "max" */
	uint64_t swap_current;
	uint64_t swap_max; /* CG_LIMIT_MAX for "max" */
	bool swap_present; /* memory.swap.* exist (CONFIG_SWAP / swapaccount) */
} CgMemory;

/* -EOPNOTSUPP when the v2 memory controller is not enabled for this cgroup
 * (hybrid hierarchies, or the parent's subtree_control lacks "memory"). */
int cg_memory_supported(const char *mount, const char *path);
int cg_read_memory(const char *mount, const char *path, CgMemory *ret);
/* file is "memory.max", "memory.swap.max", ...; CG_LIMIT_MAX writes "max". */
int cg_write_limit(const char *mount, const char *path, const char *file, uint64_t value);
int cg_read_limit(const char *mount, const char *path, const char *file, uint64_t *ret);
