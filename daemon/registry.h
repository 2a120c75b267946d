/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The registry: containers by id, cgroups by path. Plain lists; a node runs
 * hundreds of containers at most, and the benchmark (1000 cgroups) shows the
 * lookups are not where time goes. No bus or kernel access here, and no
 * call into another daemon module: a leaf. */

#include "state.h"

Container *registry_find_container(Manager *m, const char *id);
CgroupState *registry_find_cgroup(Manager *m, const char *path);
CgroupState *registry_find_cgroup_by_object(Manager *m, const char *object_path);

/* A new cgroup entry (not yet on the bus), its object path under
 * object_prefix; -ENOMEM. */
int registry_add_cgroup(Manager *m, const char *path, const char *object_prefix, CgroupState **ret);
/* Unlink and free (with its containers); what other modules keep for the
 * cgroup (budget, sweep) they free first. */
void registry_remove_cgroup(Manager *m, CgroupState *cg);

/* kv: flat (key, value) pairs, copied. */
int registry_add_container(Manager *m, CgroupState *cg, const char *id, char *const *kv, size_t n,
			   const char *name, Container **ret);
void registry_remove_container(Manager *m, Container *c);
/* Move a container to another cgroup. */
void registry_move_container(Container *c, CgroupState *to);
/* Replace a container's annotations, its pod identity and its trust domain
 * (trust-domain.h, under the manager's configuration), and its cgroup's. */
int registry_set_annotations(Container *c, char *const *kv, size_t n, const char *name);
/* The pod of a cgroup: its first container with a pod namespace, name or
 * uid (one cgroup holds containers of one pod); NULL when none has. */
const PodIdentity *registry_cgroup_identity(const CgroupState *cg);
