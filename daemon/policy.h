/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The scan-policy / trust-domain seam (issue 5 owns the rules). The daemon
 * asks policy_may_merge() before it enables merging in a cgroup's processes
 * (at registration and in every sweep); a refusal leaves the container
 * registered but not merging, with *ret_reason logged.
 * policy_cgroup_added()/policy_cgroup_removed() keep Manager.trust_domain.
 */

#include <stdbool.h>

#include "manager.h"

bool policy_may_merge(Manager *m, CgroupState *cg, const char **ret_reason);
void policy_cgroup_added(Manager *m, CgroupState *cg);
void policy_cgroup_removed(Manager *m, CgroupState *cg);
