/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "budget.h"

#include "errors.h"

static int not_implemented(sd_bus_error *error, const char *what)
{
	return sd_bus_error_setf(error, PM_ERROR_NOT_IMPLEMENTED, "%s is not implemented yet", what);
}

int budget_set(Manager *m, CgroupState *cg, uint64_t merge_budget, uint64_t swap_budget, sd_bus_error *error)
{
	return not_implemented(error, "SetBudget");
}

int budget_disable_cgroup(Manager *m, CgroupState *cg, sd_bus_error *error)
{
	return not_implemented(error, "DisableCgroup");
}

int budget_unmerge_all(Manager *m, bool force, sd_bus_error *error)
{
	return not_implemented(error, "UnmergeAll");
}

int budget_set_merge_across_nodes(Manager *m, bool on, sd_bus_error *error)
{
	return not_implemented(error, "SetMergeAcrossNodes");
}

void budget_after_sweep(Manager *m, CgroupState *cg)
{
}

void budget_cgroup_free(CgroupState *cg)
{
	cg->budget = NULL;
}

void budget_manager_free(Manager *m)
{
	m->budget = NULL;
}
