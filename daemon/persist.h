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
/* -ENOENT: no state yet. -EINVAL: unparsable (the caller moves it aside). */
int persist_load(const char *state_dir, PersistedState *ret);
int persist_parse(const char *text, PersistedState *ret);
void persisted_state_done(PersistedState *s);
