/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The registrations on disk: <state_dir>/registrations.json, replaced
 * atomically (write a temp file, fsync, rename, fsync the directory) before
 * RegisterContainer/UnregisterContainer answer, so whatever was acknowledged
 * survives a crash. Format (version 1):
 *   {"version":1,
 *    "cgroups":[{"path":"/x","enabled":true,"merge_budget":N|null,"swap_budget":N|null}],
 *    "containers":[{"id":"..","cgroup":"/x","pid":N,"annotations":{"k":"v"}}]}
 * The annotations are the ones pagemeldd reads, as parsed
 * (annotations_kept()): bounded, so the file is too.
 *
 * Each container's record is also the content of its registration marker
 * (registration-marker.h), so when the file cannot be read the registry is
 * rebuilt from the markers and the cgroup tree (persist_rebuild()), never
 * forgotten.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

#define PERSIST_FILE "registrations.json"

typedef struct PersistedCgroup {
	char *path;
	bool enabled;
	bool rebuilt;	       /* by persist_rebuild(): budgets unknown (UINT64_MAX), enabled scanned */
	uint64_t merge_budget; /* UINT64_MAX: unlimited */
	uint64_t swap_budget;  /* UINT64_MAX: unset */
} PersistedCgroup;

typedef struct PersistedContainer {
	char *id;
	char *cgroup;
	pid_t pid;
	char **kv; /* flat (key, value), NULL-terminated */
	size_t n;
} PersistedContainer;

typedef struct PersistedState {
	PersistedCgroup *cgroups;
	size_t n_cgroups;
	PersistedContainer *containers;
	size_t n_containers;
} PersistedState;

/* Serialise the registry; -errno on failure (nothing half-written). */
int persist_save(Manager *m);
/* Serialise to a string (for tests and debugging), malloc'd. */
int persist_format(Manager *m, char **ret);
/* -ENOENT: no state yet (or it was deleted). -EINVAL: unparsable, -EFBIG:
 * over 64 MiB; on these and read errors the caller keeps the file and
 * rebuilds (persist_rebuild()). */
int persist_load(const char *state_dir, PersistedState *ret);
int persist_parse(const char *text, PersistedState *ret);
/* One container's record (a marker's content), malloc'd. */
int persist_container_format(const Container *c, char **ret);

/* The registrations as far as the markers in <state_dir>/containers tell:
 * a marker's record when it holds one, else its container id found in the
 * cgroup tree under cgroup_mount (a directory named after the id, as
 * runtimes name them: <id>, crio-<id>.scope, cri-containerd-<id>.scope...;
 * ambiguous or missing: left out, and logged at debug). A rebuilt cgroup is
 * enabled unless its processes all have merging off (ksm_stat under
 * proc_root: DisableCgroup switched it off), and has no budget known. No
 * markers directory: an empty state. -errno only for what prevents reading
 * (OOM, an unreadable markers directory). */
int persist_rebuild(const char *state_dir, const char *cgroup_mount, const char *proc_root,
		    PersistedState *ret);
void persisted_state_done(PersistedState *s);
