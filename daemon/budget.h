/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Budgets: merge/swap budgets, headroom, over-budget unmerging,
 * DisableCgroup, UnmergeAll and SetMergeAcrossNodes, and the scan policy.
 * The rules are budget_decide() (budget-policy.c); this file gathers the
 * facts, applies the decisions and runs the unmerge worker. The manager
 * calls it (after a sweep, on registration, from the methods); it never
 * calls the manager, the sweep or the bus: it reports through the
 * BudgetHooks the manager set (budget_set_hooks) and marks what changed
 * dirty. Each method function returns < 0 with *error set, or >= 0.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "state.h"

void budget_set_hooks(Manager *m, const BudgetHooks *hooks);

/* SetBudget: checks, memory.swap.max, the budget-raise rule; the caller
 * persists and re-evaluates. */
int budget_set(Manager *m, CgroupState *cg, uint64_t merge_budget, uint64_t swap_budget, sd_bus_error *error);
/* DisableCgroup on fresh figures: 1 when done() will be called once the
 * worker switched merge-any off, 0 when the cgroup was disabled already. */
int budget_disable_cgroup(Manager *m, CgroupState *cg, budget_reply_t done, void *userdata,
			  sd_bus_error *error);
int budget_unmerge_all(Manager *m, bool force, sd_bus_error *error);
/* 1 when done() will be called once the worker ended, 0 when nothing was to
 * be done. Refused like UnmergeAll (InsufficientHeadroom) unless force: the
 * switch unmerges everything first. */
int budget_set_merge_across_nodes(Manager *m, bool on, bool force, budget_reply_t done, void *userdata,
				  sd_bus_error *error);

/* A cgroup's figures are fresh (a sweep, a registration, SetBudget). */
void budget_after_sweep(Manager *m, CgroupState *cg);
/* Once per sweep, after every cgroup: the scan policy. It needs the managed
 * anonymous pages (sweep_managed_pages()) only when this says so. */
bool budget_scan_policy_wants_pages(Manager *m);
void budget_scan_policy(Manager *m, uint64_t managed_pages);
/* A new cgroup registered: swap budget, headroom. */
void budget_cgroup_added(Manager *m, CgroupState *cg);
/* EnableCgroup: an over-budget or disabled cgroup merges again. */
void budget_cgroup_enabled(Manager *m, CgroupState *cg);
/* The cgroup's last container went: memory.swap.max gets its previous value
 * back. Not called at daemon exit. */
void budget_cgroup_dropped(Manager *m, CgroupState *cg);
/* An unmerge worker runs: every write under /sys/kernel/mm/ksm would block
 * the event loop on the kernel's ksm_thread_mutex until it ends. */
bool budget_ksm_busy(Manager *m);
int budget_busy_error(Manager *m, sd_bus_error *error);
void budget_cgroup_free(CgroupState *cg);
void budget_manager_free(Manager *m);
/* At startup, before anything else writes KSM knobs: a KSM-wide job that
 * did not finish (its record in the state dir, ksm-journal.h) gets run and
 * merge_across_nodes put back as they were before it. 1 when it repaired,
 * 0 when there was nothing to do. */
int budget_ksm_repair(Manager *m);
