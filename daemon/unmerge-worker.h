/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Unmerging off the event loop.
 *
 * Writing 2 to /sys/kernel/mm/ksm/run unmerges every page synchronously in
 * the writer, for seconds to minutes, and marks the writer's process the
 * OOM killer's first choice (set_current_oom_origin(): oom_evaluate_task()
 * picks an "origin" task before looking at any oom_score_adj). A thread of
 * pagemeldd would make pagemeldd itself that victim (the flag lives in the
 * shared signal_struct) and a global OOM during unmerging would take the
 * daemon down with KSM half unmerged and stopped. So the work runs in a
 * forked child:
 *  - the child, not pagemeldd, is the OOM victim (its oom_score_adj is also
 *    raised to 1000 for OOMs outside the write), and when it is killed the
 *    kernel has set run=0 and pagemeldd restores run;
 *  - pagemeldd's event loop only watches a pipe (completion: one result
 *    record, or EOF when the child died) and a progress timer reading
 *    pages_sharing, which the kernel serves without the KSM mutex the
 *    writer holds: the bus stays responsive;
 *  - the child restores run itself when it finishes; the parent checks
 *    again.
 * A KSM-wide job's child (UnmergeAll, SetMergeAcrossNodes) dies with
 * pagemeldd (PR_SET_PDEATHSIG): an unmerge nobody watches any more, with
 * no pipe reader to report to, would otherwise hold ksm_thread_mutex
 * against the next pagemeldd. What it leaves (run=0 or 2, an unacknowledged
 * merge_across_nodes) is repaired at the next start from the record the
 * caller wrote before (ksm-journal.h). A job that injects into tenant
 * processes (UNMERGE_JOB_CUSTOM) is not killed with pagemeldd: killed
 * between two ptrace steps it would leave a tenant's registers changed.
 * While a worker runs, every other write to /sys/kernel/mm/ksm blocks on
 * ksm_thread_mutex: callers must not write KSM knobs from the event loop
 * until `done` was called (unmerge_worker_running()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "ksm-sysfs.h"
#include "macro.h"

typedef struct UnmergeWorker UnmergeWorker;

#define UNMERGE_RUN_KEEP UINT64_MAX /* do not write run afterwards */
#define UNMERGE_MESSAGE_MAX 256

typedef enum UnmergeJob {
	UNMERGE_JOB_ALL,		/* run=2 */
	UNMERGE_JOB_MERGE_ACROSS_NODES, /* run=2, wait pages_shared==0, knob, run back */
	UNMERGE_JOB_CUSTOM,		/* a function run in the child */
} UnmergeJob;

typedef struct UnmergeResult {
	int error;   /* 0, or -EINTR/-ENOMEM/-EBUSY/... (-ECANCELED when cancelled) */
	bool killed; /* the child died of a signal (OOM killer) */
	int signal;
	char message[UNMERGE_MESSAGE_MAX]; /* human readable, "" on success */
	uint64_t pages_sharing_before;
	uint64_t pages_sharing_after;
	uint64_t usec;	       /* wall time of the job */
	uint64_t run_restored; /* value of run afterwards (UNMERGE_RUN_KEEP: untouched) */
} UnmergeResult;

typedef void (*unmerge_progress_t)(UnmergeWorker *w, uint64_t pages_sharing, uint64_t pages_shared,
				   void *userdata);
typedef void (*unmerge_done_t)(UnmergeWorker *w, const UnmergeResult *r, void *userdata);
/* Runs in the forked child; returns 0 or a negative errno and may fill msg. */
typedef int (*unmerge_job_fn_t)(void *data, char *msg, size_t msg_size);

typedef struct UnmergeWorkerParams {
	const char *ksm_dir; /* NULL: KSM_SYSFS_DIR */
	UnmergeJob job;
	bool merge_across_nodes; /* UNMERGE_JOB_MERGE_ACROSS_NODES */
	unmerge_job_fn_t job_fn; /* UNMERGE_JOB_CUSTOM */
	void *job_data;
	uint64_t run_after;	      /* run to restore afterwards, or UNMERGE_RUN_KEEP */
	uint64_t progress_usec;	      /* 0: 250 ms */
	uint64_t shared_timeout_usec; /* MERGE_ACROSS_NODES wait for pages_shared==0; 0: 30 s */
	uint64_t timeout_usec;	      /* the child is killed after this long (-ETIMEDOUT); 0: never */
	unmerge_progress_t progress;
	unmerge_done_t done;
	void *userdata;
} UnmergeWorkerParams;

/* Forks the child and hooks the pipe and progress timer into e. `done` is
 * called exactly once from e (never from inside start). */
int unmerge_worker_start(sd_event *e, const UnmergeWorkerParams *p, UnmergeWorker **ret);
bool unmerge_worker_running(const UnmergeWorker *w);
pid_t unmerge_worker_pid(const UnmergeWorker *w);
/* The run the worker puts back afterwards (UNMERGE_RUN_KEEP: none). */
uint64_t unmerge_worker_run_after(const UnmergeWorker *w);
/* SIGKILL the child; done follows with -ECANCELED and run restored. */
int unmerge_worker_cancel(UnmergeWorker *w);
/* Kills a running child (no done callback then), restores run, frees. */
UnmergeWorker *unmerge_worker_free(UnmergeWorker *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnmergeWorker *, unmerge_worker_free);

const char *unmerge_job_name(UnmergeJob j);
