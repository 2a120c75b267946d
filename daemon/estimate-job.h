/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An estimate (lib/estimate.h) off the event loop: a forked child reads the
 * cgroups' pages and reports over a pipe, as the unmerge worker does. A
 * child rather than a thread: it runs at SCHED_IDLE without touching the
 * daemon's own scheduling, a cancel is one SIGKILL whatever it is reading,
 * and a fault in reading a tenant's memory cannot take pagemeldd down. It
 * dies with pagemeldd (PR_SET_PDEATHSIG). Its reads are rate-limited to
 * max_bytes_per_sec ([Estimate] RateMiBps=).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "estimate.h"
#include "macro.h"

typedef struct EstimateJob EstimateJob;

typedef void (*estimate_progress_t)(EstimateJob *j, uint64_t bytes_read, void *userdata);
/* error 0: r is the result (groups in the order given); else message says why. */
typedef void (*estimate_done_t)(EstimateJob *j, int error, const char *message, const EstimateResult *r,
				void *userdata);

typedef struct EstimateJobParams {
	const char *proc_root;	  /* "/proc" */
	const char *cgroup_mount; /* the v2 mount */
	char *const *cgroups;	  /* paths relative to the mount */
	const bool *managed;	  /* per cgroup: already merging */
	size_t n_cgroups;
	EstimatorConfig config; /* progress, userdata and cancel are the job's own */
	bool sched_idle;	/* false only for tests that time the child */
	estimate_progress_t progress;
	estimate_done_t done;
	void *userdata;
} EstimateJobParams;

/* Forks the child; `done` is called exactly once from e (never from inside
 * start), unless the job is freed first. */
int estimate_job_start(sd_event *e, const EstimateJobParams *p, EstimateJob **ret);
bool estimate_job_running(const EstimateJob *j);
/* SIGKILL the child; done follows with -ECANCELED. */
int estimate_job_cancel(EstimateJob *j);
/* Kills a running child (no done callback then) and frees. */
EstimateJob *estimate_job_free(EstimateJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(EstimateJob *, estimate_job_free);
