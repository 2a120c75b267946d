/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Budgets: merge/swap budgets, headroom, over-budget unmerging,
 * DisableCgroup, UnmergeAll and SetMergeAcrossNodes. The manager calls:
 *   budget_after_sweep()   once per cgroup after its figures are fresh;
 *   budget_cgroup_free()   when a cgroup goes (free CgroupState.budget);
 *   budget_manager_free()  at exit (free Manager.budget).
 * Each method function returns < 0 with *error set, or >= 0 on success;
 * DisableCgroup and SetMergeAcrossNodes return 1 when they took a reference
 * on the current message and reply themselves once the worker is done.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "manager.h"

int budget_set(Manager *m, CgroupState *cg, uint64_t merge_budget, uint64_t swap_budget, sd_bus_error *error);
int budget_disable_cgroup(Manager *m, CgroupState *cg, sd_bus_error *error);
int budget_unmerge_all(Manager *m, bool force, sd_bus_error *error);
int budget_set_merge_across_nodes(Manager *m, bool on, sd_bus_error *error);

void budget_after_sweep(Manager *m, CgroupState *cg);
/* Once per sweep, after every cgroup: the scan policy. */
void budget_sweep_done(Manager *m);
/* A new cgroup registered (policy_cgroup_added): swap budget, headroom. */
void budget_cgroup_added(Manager *m, CgroupState *cg);
/* EnableCgroup: an over-budget cgroup merges again. */
void budget_cgroup_enabled(Manager *m, CgroupState *cg);
/* The cgroup's last container went (policy_cgroup_removed): memory.swap.max
 * gets its previous value back. Not called at daemon exit. */
void budget_cgroup_dropped(Manager *m, CgroupState *cg);
/* An unmerge worker runs: every write under /sys/kernel/mm/ksm would block
 * the event loop on the kernel's ksm_thread_mutex until it ends. */
bool budget_ksm_busy(Manager *m);
int budget_busy_error(Manager *m, sd_bus_error *error);
void budget_cgroup_free(CgroupState *cg);
void budget_manager_free(Manager *m);
