/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The registrations on disk, in two parts:
 *
 * - one marker per container, <state_dir>/containers/<id> (registration-
 *   marker.h), holding its record: written atomically (temp file, fsync,
 *   rename, fsync the directory) before merging is switched on, removed
 *   (durably) when the container is unregistered. A registration costs one
 *   small file, whatever the number of containers.
 * - the snapshot <state_dir>/registrations.json: every cgroup's state
 *   (enabled, budgets: what no marker holds) and every container's record.
 *   Written at once when a cgroup's own state changes (SetBudget,
 *   Enable/DisableCgroup), else some time after registrations change, and
 *   at a clean exit.
 *
 * At start the two are reconciled (persist_rebuild() with the snapshot):
 * the markers say which containers are registered, and their records win
 * over the snapshot's. Each registration takes the next number of a
 * sequence ("seq"): a record numbered after the snapshot's "seq" came
 * later, so its budget annotations apply to its cgroup again, as at its
 * registration; a cgroup is the snapshot's only when its "seq" (that of
 * the registration that created it) is the one the record names, since a
 * cgroup emptied and created again after the snapshot starts afresh.
 *
 * Format (version 1; the "seq" keys read as 0 when absent):
 *   {"version":1,"seq":N,
 *    "cgroups":[{"path":"/x","seq":N,"enabled":true,"merge_budget":N|null,"swap_budget":N|null}],
 *    "containers":[{"id":"..","cgroup":"/x","pid":N,"seq":N,"cgroup_seq":N,"annotations":{"k":"v"}}]}
 * The annotations are the ones pagemeldd reads, as parsed
 * (annotations_kept()): bounded, so the file is too. When the snapshot
 * cannot be read, the registry is rebuilt from the markers alone and the
 * cgroup tree (persist_rebuild() without it), never forgotten.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

#define PERSIST_FILE "registrations.json"

typedef struct PersistedCgroup {
	char *path;
	uint64_t seq; /* the registration that created it */
	bool enabled;
	bool rebuilt;	       /* by persist_rebuild(): budgets unknown (UINT64_MAX), enabled scanned */
	uint64_t merge_budget; /* UINT64_MAX: unlimited */
	uint64_t swap_budget;  /* UINT64_MAX: unset */
} PersistedCgroup;

typedef struct PersistedContainer {
	char *id;
	char *cgroup;
	pid_t pid;
	uint64_t seq;	     /* its registration's */
	uint64_t cgroup_seq; /* its cgroup's */
	bool newer;	     /* registered after the snapshot (or there is none) */
	char **kv;	     /* flat (key, value), NULL-terminated */
	size_t n;
} PersistedContainer;

typedef struct PersistedState {
	uint64_t seq; /* the last registration's */
	PersistedCgroup *cgroups;
	size_t n_cgroups;
	PersistedContainer *containers;
	size_t n_containers;
} PersistedState;

/* Write the snapshot; -errno on failure (nothing half-written). */
int persist_save(Manager *m);
/* Write c's marker (atomically, durably) / remove it (durably; gone
 * already is fine). */
int persist_marker_save(const char *state_dir, const Container *c);
/* The same at start, skipped where the marker holds that record already
 * (an older pagemeldd's empty marker, a rebuilt registration: written). */
int persist_marker_refresh(const char *state_dir, const Container *c);
int persist_marker_remove(const char *state_dir, const char *id);
/* Serialise to a string (for tests and debugging), malloc'd. */
int persist_format(Manager *m, char **ret);
/* -ENOENT: no state yet (or it was deleted). -EINVAL: unparsable, -EFBIG:
 * over 64 MiB; on these and read errors the caller keeps the file and
 * rebuilds (persist_rebuild()). */
int persist_load(const char *state_dir, PersistedState *ret);
int persist_parse(const char *text, PersistedState *ret);
/* One container's record (a marker's content), malloc'd. */
int persist_container_format(const Container *c, char **ret);

/* The registrations as far as the markers in <state_dir>/containers tell,
 * reconciled with snapshot when there is one (taking from it what it uses):
 * a marker's record when it holds one, else the snapshot's record of that
 * id, else its container id found in the cgroup tree under cgroup_mount
 * (a directory named after the id, as runtimes name them: <id>,
 * crio-<id>.scope, cri-containerd-<id>.scope...; ambiguous or missing: left
 * out, and logged at debug). A container of the snapshot without a marker
 * was unregistered after it: left out. Each cgroup is the snapshot's entry
 * for it (same path and seq), else rebuilt: no budget known, enabled
 * unless (without a snapshot) its processes all have merging off
 * (ksm_stat under proc_root: DisableCgroup switched it off). A snapshot but
 * no markers directory (markers lost): the snapshot. No markers directory
 * and no snapshot: an empty state. -errno only for what prevents reading
 * (OOM, an unreadable markers directory). */
int persist_rebuild(const char *state_dir, const char *cgroup_mount, const char *proc_root,
		    PersistedState *snapshot, PersistedState *ret);
void persisted_state_done(PersistedState *s);
