/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * pagemeldd's state: the Manager (one per daemon) owns the event loop, the bus
 * connection, the configuration and the registry of containers and the
 * cgroups they live in. Each managed cgroup is a CgroupState with one D-Bus
 * object. Code that grows the daemon (budgets, unmerge worker, trust-domain
 * policy) hangs off the seams in budget.h and policy.h; budget.c keeps its
 * state in Manager.budget / CgroupState.budget (budget-state.h).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "budget-state.h"
#include "bus-contract.h"
#include "config.h"
#include "kernel-features.h"
#include "ksm-sysfs.h"
#include "macro.h"

typedef struct Manager Manager;
typedef struct CgroupState CgroupState;
typedef struct Container Container;

/* One registered container (RegisterContainer id). */
struct Container {
	Manager *manager;
	char *id;
	CgroupState *cgroup;
	char **annotations; /* flat (key, value) pairs, NULL-terminated, as received */
	size_t n_annotations;
	char *name;			      /* CRI container name, NULL when the annotations lack it */
	pid_t init_pid;			      /* the pid it was registered with (informational) */
	sd_event_source *exit_watch;	      /* its init's pidfd: unregistered when it exits */
	Container *next, *prev;		      /* Manager.containers */
	Container *cgroup_next, *cgroup_prev; /* CgroupState.containers */
};

/* One managed cgroup (v2), with the figures of its last sweep. */
struct CgroupState {
	Manager *manager;
	char *path;	   /* relative to the v2 mount, starts with "/" */
	char *object_path; /* /io/pagemeld1/cgroup/<sd_bus_path_encode'd path> */
	Container *containers;
	unsigned n_containers;
	char *trust_domain; /* NULL when no container annotated one */

	bool enabled; /* false after DisableCgroup */
	CgroupStatus status;
	uint64_t merge_budget; /* bytes; UINT64_MAX: unlimited */
	uint64_t swap_budget;  /* bytes; UINT64_MAX: memory.swap.max left alone */

	/* sums over cgroup.procs of the last sweep (per-process ksm_stat) */
	uint32_t processes;
	uint64_t merging_pages;
	uint64_t rmap_items;
	uint64_t zero_pages;
	int64_t profit;
	uint64_t merge_debt; /* budget_cgroup_debt(): (merging + zero pages) * PAGE_SIZE */
	uint64_t last_sweep_usec;
	unsigned enable_failures; /* processes merging could not be enabled in, last sweep */

	/* sweep.c's cache: cgroup.procs and each process's ksm_stat stay open
	 * between sweeps and are pread() again (one syscall per process). */
	int procs_fd;
	struct SweepProc *procs; /* sorted by pid */
	size_t n_procs;

	BudgetCgroup budget; /* budget.c's */
	CgroupState *next, *prev;
};

struct Manager {
	sd_event *event;
	sd_bus *bus;
	sd_event_source *sweep_timer;

	Config config;
	char *config_path;
	char *state_dir;
	bool seccomp;

	/* where the readers look; overridable only for tests */
	const char *proc_root;
	const char *ksm_dir;
	char *cgroup_mount; /* the v2 mount, NULL without cgroup v2 */
	KernelFeatures features;
	uint64_t page_size;

	/* /sys/kernel/mm/ksm, read at most once per sweep or per D-Bus message */
	KsmState ksm;
	bool ksm_valid;
	uint64_t ksm_cookie;
	char *ksm_sender;

	Container *containers;
	unsigned n_containers;
	CgroupState *cgroups;
	unsigned n_cgroups;

	char *trust_domain; /* Manager.TrustDomain: the domain merging on this node, "" none */
	uint64_t sweeps;
	uint64_t last_sweep_cpu_usec;
	char *sweep_buf; /* scratch buffers of the sweep, reused */
	size_t sweep_buf_size;
	pid_t *sweep_pids;
	size_t sweep_pids_size;

	BudgetManager budget; /* budget.c's */
};

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
/* RegisterContainer; replies to call (when not NULL) with the cgroup's
 * object path as soon as the registration is saved. */
int manager_register_container(Manager *m, sd_bus_message *call, const char *id, int pidfd, char **kv,
			       size_t n, sd_bus_error *error);
int manager_unregister_container(Manager *m, const char *id, sd_bus_error *error);
/* Forget a cgroup with all its containers (its directory is gone). */
void manager_drop_cgroup(Manager *m, CgroupState *cg, const char *why);
/* Accepts a cgroup path ("/kubepods/...") or its object path. */
CgroupState *manager_find_cgroup(Manager *m, const char *path_or_object);
int manager_enable_cgroup(Manager *m, CgroupState *cg, sd_bus_error *error);

/* The KSM sysfs cache: refreshed when the current D-Bus message (or sweep)
 * differs from the one that read it last. */
int manager_ksm_refresh(Manager *m, bool force);
/* Write a KSM knob with the kernel's errno mapped to a D-Bus error. */
int manager_ksm_write(Manager *m, KsmField f, uint64_t value, sd_bus_error *error);

/* Persist the registry now (atomic); logs on failure. */
int manager_persist(Manager *m);
/* Emit PropertiesChanged for the figures of a cgroup / the Manager. */
void manager_emit_cgroup_changed(Manager *m, CgroupState *cg);
