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
 *
 * Enabling is handed to the injector (injector.h) and never waited for:
 * the figures show the result at the next sweep.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

/* Whether merge-any must be switched on in pid: 0 when ksm_stat (6.14+)
 * says it is on, 1 otherwise (before 6.14 the injector asks first). */
int sweep_enable_needed(Manager *m, pid_t pid);

typedef struct SweepProc {
	pid_t pid;
	int fd;	      /* /proc/PID/ksm_stat, -EBADF when not (yet) open */
	int statm_fd; /* /proc/PID/statm, opened on first use (scan policy) */
	/* Before 6.14 ksm_stat does not show merge_any: remember that this
	 * process (the one fd pins) has it, so it is asked only once. */
	bool merge_known;
	/* the last sweep found merge-any off: to be handed to the injector */
	bool enable_wanted;
	/* an ENABLE is queued in the sweep's injector */
	bool inject_pending;
	/* consecutive failed enables; no new try before inject_retry_usec
	 * (CLOCK_MONOTONIC): a tenant that stalls or refuses the call is not
	 * stopped again at every sweep */
	unsigned inject_failures;
	uint64_t inject_retry_usec;
} SweepProc;

/* Resident anonymous pages (statm resident - shared) of a process of the
 * last sweep, through a cached fd; 0 when it is gone. */
uint64_t sweep_proc_anon_pages(Manager *m, SweepProc *p);

/* A process of the last sweep, NULL when it was not in cgroup.procs. */
SweepProc *sweep_proc_find(CgroupState *cg, pid_t pid);
/* The injector's answer r for p's ENABLE: on failure (but exit) the
 * process is not tried again for the returned delay (usec), which grows
 * with each failure; 0 otherwise. */
uint64_t sweep_proc_enable_done(Manager *m, SweepProc *p, int r);

/* Close the cached fds of a cgroup (it is going away). */
void sweep_cgroup_forget(CgroupState *cg);

/* One cgroup's figures; with want_merge (the caller asked the policy) the
 * processes that lack merge-any, are not waiting for the injector and not
 * backing off get enable_wanted (cg->n_enable_wanted of them). -ENOENT
 * when its directory is gone (the caller drops it). The sweep measures: it
 * decides nothing else and calls no other module. */
int sweep_cgroup(Manager *m, CgroupState *cg, bool want_merge);

/* The managed memory for the scan policy: resident anonymous pages of the
 * enabled cgroups' processes (at least what ksmd tracks of them). */
uint64_t sweep_managed_pages(Manager *m);
