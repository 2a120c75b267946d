/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The scan-policy / trust-domain seam. The daemon
 * asks policy_may_merge() before it enables merging in a cgroup's processes
 * (at registration and in every sweep); a refusal leaves the container
 * registered but not merging, with *ret_reason logged.
 * policy_check_registration() derives a registration's trust domain
 * (trust-domain.h) and refuses it (TrustDomainConflict) when it conflicts
 * with the node's, or when its pod identity keys name two runtimes (no
 * domain can be trusted); the hook lets that container run, unmerged.
 * policy_cgroup_added()/policy_cgroup_removed() keep Manager.trust_domain.
 * The decision itself is trust-domain.c (pure).
 */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>

#include "state.h"

bool policy_may_merge(Manager *m, CgroupState *cg, const char **ret_reason);
/* cg is NULL for a new cgroup; kv the n annotation pairs, narrow the
 * trust-domain.pagemeld.io value (NULL: none). */
int policy_check_registration(Manager *m, CgroupState *cg, const char *path, char *const *kv, size_t n,
			      const char *narrow, sd_bus_error *error);
void policy_cgroup_added(Manager *m, CgroupState *cg);
void policy_cgroup_removed(Manager *m, CgroupState *cg);
