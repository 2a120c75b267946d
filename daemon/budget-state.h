/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Budget state, owned by budget.c: BudgetManager is a value member of the
 * Manager (the unmerge worker and its job, the saved memory.swap.max values,
 * the scan policy's last figures), BudgetCgroup one of each CgroupState. The
 * rules over it are budget_decide() (budget-policy.c, pure).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "budget-policy.h"
#include "meminfo.h"
#include "scan-policy.h"
#include "unmerge-worker.h"

typedef struct Manager Manager;
typedef struct CgroupState CgroupState;

/* A deferred method's completion (DisableCgroup, SetMergeAcrossNodes): error
 * is 0 or a negative errno (-EBUSY, -EOPNOTSUPP, ...), message says why ("" on
 * success), what names the method. The bus glue sends the reply. */
typedef void (*budget_reply_t)(void *userdata, int error, const char *what, const char *message);

/* How budget.c reports up without calling the manager or the bus (set by the
 * manager; any may be NULL). */
typedef struct BudgetHooks {
	/* a cgroup went over its limit (BudgetExceeded) */
	void (*exceeded)(Manager *m, CgroupState *cg, uint64_t debt, uint64_t limit);
	/* merge-any went off in a cgroup's processes: its figures are stale */
	void (*cgroup_unmerged)(Manager *m, CgroupState *cg);
	/* an UnmergeAll or SetMergeAcrossNodes worker ended (UnmergeFinished) */
	void (*unmerge_finished)(Manager *m, bool ok, const char *error);
} BudgetHooks;

typedef enum BudgetJob {
	BUDGET_JOB_NONE,
	BUDGET_JOB_UNMERGE_ALL,
	BUDGET_JOB_MERGE_ACROSS_NODES,
	BUDGET_JOB_CGROUP_DISABLE,
	BUDGET_JOB_CGROUP_OVER_BUDGET,
} BudgetJob;

/* What the forked child needs to switch merge-any off in processes. */
typedef struct BudgetProcJob {
	size_t n;
	pid_t *pids;
	int *pidfds;	       /* opened in pagemeldd, so the child acts on exactly these */
	uint64_t timeout_usec; /* no new process is started after this long */
} BudgetProcJob;

typedef struct BudgetSwapSaved {
	char *path;
	uint64_t prev;	  /* the limit found: a budget only lowers it */
	uint64_t by_root; /* the swap budget root set with SetBudget, which may
			   * raise it; UINT64_MAX: none */
} BudgetSwapSaved;

typedef struct BudgetManager {
	UnmergeWorker *worker;
	BudgetJob job;
	char *job_cgroup; /* path: the cgroup may be dropped while the job runs */
	unsigned job_generation;
	BudgetProcJob procs;
	budget_reply_t reply; /* the deferred method reply of the job, if any */
	void *reply_userdata;
	const BudgetHooks *hooks;

	/* memory.swap.max values we replaced, persisted in the state dir so a
	 * restart still puts them back */
	BudgetSwapSaved *saved;
	size_t n_saved;
	bool saved_loaded;

	bool advisor_warned;
	uint64_t scan_pages, scan_sleep;
	ScanBurst scan_burst;
	uint64_t scan_cgroups_added; /* cgroups that joined: each starts a burst */

	/* /proc/meminfo, read once per sweep rather than once per cgroup */
	MemInfo meminfo;
	uint64_t meminfo_usec;
} BudgetManager;

typedef struct BudgetCgroup {
	BudgetMemcg memcg;
	uint64_t memcg_checked_usec; /* the controller check is redone every 30 s, not every sweep */
	bool unsupported_logged;
	bool headroom_known;
	uint64_t headroom;     /* BUDGET_UNLIMITED when nothing binds */
	uint64_t swap_applied; /* what we last wrote to memory.swap.max */
	bool swap_applied_valid;
	/* processes we switched merge-any off in: their ksm_stat lags until
	 * ksmd walks them again, so their stale pages are not debt */
	pid_t *unmerged;
	size_t n_unmerged;
	unsigned generation; /* bumped when the unmerged list is reset */
} BudgetCgroup;
