/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The scan-policy / trust-domain seam. The daemon
 * asks policy_may_merge() before it enables merging in a cgroup's processes
 * (at registration and in every sweep); a refusal leaves the container
 * registered but not merging, with *ret_reason logged.
 * policy_check_registration() refuses a registration whose trust domain
 * conflicts with the node's (TrustDomainConflict); the hook lets that
 * container run, unmerged.
 * policy_cgroup_added()/policy_cgroup_removed() keep Manager.trust_domain.
 * The decision itself is trust-domain.c (pure).
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "state.h"

bool policy_may_merge(Manager *m, CgroupState *cg, const char **ret_reason);
/* cg is NULL for a new cgroup; trust_domain NULL = "default". */
int policy_check_registration(Manager *m, CgroupState *cg, const char *path, const char *trust_domain,
			      sd_bus_error *error);
void policy_cgroup_added(Manager *m, CgroupState *cg);
void policy_cgroup_removed(Manager *m, CgroupState *cg);
