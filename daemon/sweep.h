/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The sweep: for each managed cgroup read cgroup.procs, enable merging in
 * processes that lack it (late `runc exec`/`kubectl exec` processes), sum
 * their ksm_stat into the cgroup's figures and drop cgroups whose directory
 * is gone. One pread() of cgroup.procs per cgroup and one of ksm_stat per
 * process, on fds kept open between sweeps: the cost grows with the managed
 * processes only (about 1000 cgroups / 5000 processes in 20 ms of CPU, see
 * bench/daemon-bench.py). At most half of RLIMIT_NOFILE is kept open that
 * way; processes beyond it are read with an open and a close each.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

/* Enable merge-any in one process (pidfd >= 0 when the caller holds one;
 * otherwise one is opened from pid). Nothing is done when ksm_stat already
 * says merge_any. Returns the lib/remote.h errno (-ESRCH gone, -EPERM...). */
int sweep_enable_process(Manager *m, pid_t pid, int pidfd);

typedef struct SweepProc {
	pid_t pid;
	int fd;	      /* /proc/PID/ksm_stat, -EBADF when not (yet) open */
	int statm_fd; /* /proc/PID/statm, opened on first use (scan policy) */
	/* Before 6.14 ksm_stat does not show merge_any: remember that this
	 * process (the one fd pins) has it, so it is asked only once. */
	bool merge_known;
} SweepProc;

/* Resident anonymous pages (statm resident - shared) of a process of the
 * last sweep, through a cached fd; 0 when it is gone. */
uint64_t sweep_proc_anon_pages(Manager *m, SweepProc *p);

/* Close the cached fds of a cgroup (it is going away). */
void sweep_cgroup_forget(CgroupState *cg);

/* One cgroup's figures, and merging enabled in processes that lack it when
 * want_merge (the caller asked the policy). -ENOENT when its directory is
 * gone (the caller drops it). The sweep measures: it decides nothing else
 * and calls no other module. */
int sweep_cgroup(Manager *m, CgroupState *cg, bool want_merge);

/* The managed memory for the scan policy: resident anonymous pages of the
 * enabled cgroups' processes (at least what ksmd tracks of them). */
uint64_t sweep_managed_pages(Manager *m);
