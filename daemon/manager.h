/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager orchestrates (the structs are in state.h): registration, each
 * sweep step in order (measure: sweep.c; enforce budgets: budget.c; scan
 * policy; persist), enable/disable, restore after a restart. The bus glue
 * (manager-bus.c, cgroup-bus.c) calls it; it calls the modules (registry,
 * sweep, policy, budget, persist) and hands signals to the glue. Nothing
 * below it calls back up: budget.c reports through BudgetHooks.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "budget.h"
#include "bus-contract.h"
#include "macro.h"
#include "state.h"

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free)

/* Reads the configuration; an invalid file is an error (start-up). */
int manager_load_config(Manager *m);
/* SIGHUP: re-read, keep the old configuration when the new one is invalid. */
int manager_reload_config(Manager *m);
/* Probe, connect to the bus, restore persisted state, arm event sources. */
int manager_startup(Manager *m);
int manager_run(Manager *m);

/* The work behind the D-Bus methods; errors are set in *error with their
 * io.pagemeld1.Error.* names. Return < 0 on failure. */
/* RegisterContainer. Either fails at once (< 0, *error set, registered not
 * called) or returns 0 and calls registered exactly once: with the cgroup's
 * object path as soon as the registration is saved (before the figures and
 * signals that follow), or with the error. That may be later, from the
 * event loop: merging is switched on in the init by the injector. */
typedef void (*manager_registered_t)(void *userdata, const char *object_path, const sd_bus_error *error);
int manager_register_container(Manager *m, const char *id, int pidfd, char **kv, size_t n,
			       manager_registered_t registered, void *userdata, sd_bus_error *error);
int manager_unregister_container(Manager *m, const char *id, sd_bus_error *error);
/* Forget a cgroup with all its containers (its directory is gone). */
void manager_drop_cgroup(Manager *m, CgroupState *cg, const char *why);
/* Accepts a cgroup path ("/kubepods/...") or its object path. */
CgroupState *manager_find_cgroup(Manager *m, const char *path_or_object);
int manager_enable_cgroup(Manager *m, CgroupState *cg, sd_bus_error *error);
/* DisableCgroup: 1 when done() will be called once merge-any is off (see
 * budget_disable_cgroup()), 0 when there was nothing to do. */
int manager_disable_cgroup(Manager *m, CgroupState *cg, budget_reply_t done, void *userdata,
			   sd_bus_error *error);
int manager_set_budget(Manager *m, CgroupState *cg, uint64_t merge_budget, uint64_t swap_budget,
		       sd_bus_error *error);
/* Every cgroup: measure, enforce the budgets, the scan policy, persist.
 * Returns the number of cgroups dropped (their directory is gone). */
int manager_sweep_all(Manager *m);
/* done(0, userdata) once every injection the sweeps queued so far has
 * been answered (Sweep, EnableCgroup reply then). */
int manager_after_injections(Manager *m, void (*done)(int r, void *userdata), void *userdata);

/* The KSM sysfs cache: refreshed when forced (a sweep) or when older than
 * KSM_CACHE_USEC. */
#define KSM_CACHE_USEC (1000 * UINT64_C(1000))
int manager_ksm_refresh(Manager *m, bool force);
/* Write a KSM knob with the kernel's errno mapped to a D-Bus error. */
int manager_ksm_write(Manager *m, KsmField f, uint64_t value, sd_bus_error *error);

/* Write the snapshot now (atomic; persist.h): for changes of a cgroup's own
 * state, which no marker holds. Logs on failure. */
int manager_persist(Manager *m);
/* Write it within SNAPSHOT_DELAY_USEC: for changes the markers already
 * hold (registrations), so a burst of them costs one snapshot. */
#define SNAPSHOT_DELAY_USEC (1000 * UINT64_C(1000))
void manager_persist_later(Manager *m);
