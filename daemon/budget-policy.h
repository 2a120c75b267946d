/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Budgets as pure arithmetic (DESIGN.md "Budgets"): no daemon state, no I/O,
 * so the unit tests link this file alone.
 *
 * Merge debt: what a cgroup would need back if all its merges broke,
 *   sum over its processes of (ksm_merging_pages + ksm_zero_pages) * PAGE_SIZE.
 * (Zero pages count too: with use_zero_pages=1 a page merged with the zero
 * page is not in ksm_merging_pages, yet unmerging it allocates a page.)
 *
 * Headroom: what the cgroup can still take before its memcg OOMs,
 *   memory.max - memory.current + the swap it may still use,
 *   swap it may still use = min(memory.swap.max - memory.swap.current, SwapFree),
 * taken as the minimum over the cgroup and its ancestors (a pod's limit binds
 * its containers). memory.current includes reclaimable page cache, so this
 * is conservative.
 *
 * Safe limit: min(merge budget, headroom - margin). Over it, the biggest
 * mergers are unmerged first until the debt is under it -- but only those
 * whose unmerging fits in the room left (unmerge_room - margin, shrinking
 * with each one): unmerging a process that does not fit would OOM-kill in
 * the very cgroup the budget protects. Those are skipped (n_unsafe) and the
 * cgroup stays over its limit, loudly, until room appears (memory.max
 * raised, swap allowed, processes exiting) or an operator forces it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"

#define BUDGET_UNLIMITED UINT64_MAX

/* A managed cgroup's State property. */
typedef enum CgroupStatus {
	CGROUP_MERGING,
	CGROUP_OVER_BUDGET,
	CGROUP_DISABLED,
	CGROUP_UNSUPPORTED,
	_CGROUP_STATUS_MAX,
} CgroupStatus;

const char *cgroup_status_name(CgroupStatus s); /* merging|over-budget|disabled|unsupported */

/* One process of a cgroup, as read from its ksm_stat. */
typedef struct BudgetProc {
	pid_t pid;
	uint64_t merging_pages;
	uint64_t zero_pages;
} BudgetProc;

uint64_t budget_proc_debt(const BudgetProc *p, uint64_t page_size);
/* The merge debt of a cgroup from its summed ksm_stat figures: what the
 * MergeDebt property shows and what the budget enforces, one number. */
uint64_t budget_cgroup_debt(uint64_t merging_pages, uint64_t zero_pages, uint64_t page_size);
uint64_t budget_debt(const BudgetProc *procs, size_t n, uint64_t page_size);

/* Headroom of one cgroup level; BUDGET_UNLIMITED when neither memory.max
 * nor swap binds. swap_free is the system's SwapFree. */
uint64_t budget_headroom_one(const CgMemory *m, uint64_t swap_free);
/* Minimum over levels[0..n) (the cgroup and its ancestors, any order). */
uint64_t budget_headroom(const CgMemory *levels, size_t n, uint64_t swap_free);

typedef enum BudgetLimitSource {
	BUDGET_LIMIT_NONE,     /* neither a budget nor a memory controller */
	BUDGET_LIMIT_BUDGET,   /* the merge budget binds */
	BUDGET_LIMIT_HEADROOM, /* headroom - margin binds */
} BudgetLimitSource;

typedef struct BudgetInput {
	uint64_t page_size;
	uint64_t merge_budget; /* BUDGET_UNLIMITED: none set */
	bool headroom_known;   /* false without the v2 memory controller */
	uint64_t headroom;     /* from budget_headroom() */
	uint64_t margin;       /* bytes kept free for growth between sweeps */
	/* What unmerging may consume without an OOM: the headroom when
	 * known, else the system's MemAvailable + SwapFree;
	 * BUDGET_UNLIMITED skips the check. */
	uint64_t unmerge_room;
} BudgetInput;

typedef struct BudgetVerdict {
	uint64_t debt;
	uint64_t limit; /* BUDGET_UNLIMITED when source == NONE */
	BudgetLimitSource source;
	bool over;
	/* Unmerge procs[unmerge[0..n_unmerge)] (biggest first); debt_after is
	 * what stays merged afterwards: <= limit unless n_unsafe > 0. */
	size_t n_unmerge;
	size_t n_unsafe; /* over the limit, but unmerging them would not fit */
	uint64_t debt_after;
} BudgetVerdict;

uint64_t budget_safe_limit(const BudgetInput *in, BudgetLimitSource *ret_source);

/* Decide for one cgroup. *ret_unmerge (malloc'd, may be NULL when nothing
 * is to be done) lists indices of procs to unmerge, biggest debt first, ties
 * by pid so the result is deterministic. */
int budget_plan(const BudgetProc *procs, size_t n, const BudgetInput *in, size_t **ret_unmerge,
		BudgetVerdict *ret);

const char *budget_limit_source_name(BudgetLimitSource s); /* none|budget|headroom */

/*
 * The budget rules of one cgroup, as one function of plain facts: what
 * happened (the event), the cgroup's budget state and figures, the limits.
 * It returns the new State, whether to forget the processes already
 * unmerged, which processes to unmerge now and whether to signal
 * BudgetExceeded. The caller does the I/O around it (budget.c).
 */
typedef enum BudgetEvent {
	BUDGET_EVENT_EVALUATE,	 /* fresh figures: a sweep, a registration, SetBudget */
	BUDGET_EVENT_BUDGET_SET, /* SetBudget replaced old_merge_budget by in.merge_budget */
	BUDGET_EVENT_ENABLE,	 /* EnableCgroup */
	BUDGET_EVENT_DISABLE,	 /* DisableCgroup started switching merge-any off */
	BUDGET_EVENT_MEMCG,	 /* only the memory controller was checked */
} BudgetEvent;

typedef enum BudgetMemcg {
	BUDGET_MEMCG_UNKNOWN, /* not checked, or the check failed (the cgroup may be gone) */
	BUDGET_MEMCG_YES,     /* the cgroup has the v2 memory controller */
	BUDGET_MEMCG_NO,      /* it has not (a hybrid hierarchy): State=unsupported */
} BudgetMemcg;

typedef struct BudgetFacts {
	BudgetEvent event;
	CgroupStatus status;
	bool enabled;	    /* false after DisableCgroup */
	BudgetMemcg memcg;  /* as last checked */
	bool memcg_checked; /* checked just now: State follows it */
	bool unsupported_logged;
	uint64_t merging_pages, zero_pages; /* the cgroup's sums of the last sweep */
	uint64_t old_merge_budget;	    /* BUDGET_EVENT_BUDGET_SET */
	BudgetInput in;
	bool ksm_busy;	       /* an unmerge worker runs: no second one */
	const pid_t *unmerged; /* processes unmerged already: their ksm_stat lags */
	size_t n_unmerged;
	pid_t self; /* pagemeldd, never unmerged by itself */
	/* per-process figures; read by the caller only when a first call
	 * answered need_procs */
	bool procs_read;
	const BudgetProc *procs;
	size_t n_procs;
} BudgetFacts;

typedef struct BudgetDecision {
	CgroupStatus status;
	bool log_unsupported;	 /* warn once that the memory controller is missing */
	bool unsupported_logged; /* the new value of the fact */
	bool reset_unmerged;	 /* forget the unmerged processes; a job in flight is moot */
	uint64_t debt, limit;
	bool need_procs; /* over on the sums: call again with procs_read */
	BudgetVerdict verdict;
	bool budget_exceeded; /* signal BudgetExceeded(verdict.debt, verdict.limit) */
	bool unmerge_later;   /* unmerging is due, but a worker runs: next sweep */
	pid_t *unmerge;	      /* malloc'd, biggest debt first */
	size_t n_unmerge;
} BudgetDecision;

int budget_decide(const BudgetFacts *f, BudgetDecision *ret);
void budget_decision_done(BudgetDecision *d);

/* "over its budget limit: merge debt 8.0 MiB > 1.0 MiB (budget 1.0 MiB,
 * headroom unknown, margin 0): unmerging 1 of its biggest mergers" into buf
 * (the log line of an over-budget cgroup); returns buf. */
const char *budget_verdict_format(const BudgetVerdict *v, const BudgetInput *in, char *buf, size_t size);
#define BUDGET_VERDICT_MAX 256

/* UnmergeAll: unmerging gives every sharer its own copy again, so memory use
 * grows by about (pages_sharing + ksm_zero_pages) * PAGE_SIZE. It is allowed
 * when that plus the margin fits in MemAvailable + SwapFree. */
typedef struct UnmergePrediction {
	uint64_t need;	    /* (pages_sharing + zero_pages) * page_size + margin */
	uint64_t available; /* mem_available + swap_free */
	uint64_t pages_sharing, zero_pages, page_size, margin, mem_available, swap_free;
	bool fits;
} UnmergePrediction;

void unmerge_predict(uint64_t pages_sharing, uint64_t zero_pages, uint64_t page_size, uint64_t margin,
		     uint64_t mem_available, uint64_t swap_free, UnmergePrediction *ret);
/* "unmerging needs 1.2 GiB (pages_sharing 300000 x 4096 + ...) but only
 * ..." into buf; returns buf. */
const char *unmerge_prediction_format(const UnmergePrediction *p, char *buf, size_t size);
#define UNMERGE_PREDICTION_MAX 256

/* The same rule for one cgroup (DisableCgroup): its debt against its
 * headroom (no margin when headroom is unknown: there is nothing to check,
 * the caller reports that). */
bool budget_cgroup_unmerge_fits(uint64_t debt, uint64_t headroom, uint64_t margin);
