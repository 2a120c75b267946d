/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The budgets seam (issue 5 fills it in): merge/swap budgets, headroom,
 * over-budget unmerging, DisableCgroup, UnmergeAll and SetMergeAcrossNodes.
 * Until then the methods answer io.pagemeld1.Error.NotImplemented, never a
 * fake success. The manager calls:
 *   budget_after_sweep()   once per cgroup after its figures are fresh;
 *   budget_cgroup_free()   when a cgroup goes (free CgroupState.budget);
 *   budget_manager_free()  at exit (free Manager.budget).
 * Each method function returns < 0 with *error set, or >= 0 on success.
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
void budget_cgroup_free(CgroupState *cg);
void budget_manager_free(Manager *m);
