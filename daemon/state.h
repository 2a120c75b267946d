/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * pagemeldd's state, as plain structs: the Manager (one per daemon) owns the
 * event loop, the bus connection, the configuration and the registry of
 * containers and the cgroups they live in; each managed cgroup is a
 * CgroupState with one D-Bus object. Who writes what (see also DESIGN.md):
 * registry.c the lists, sweep.c the figures, budget.c the budget state and
 * State (through budget_decide()), policy.c the node's trust domain,
 * manager.c the rest. The core marks what changed dirty; the bus glue
 * (*-bus.c) sends PropertiesChanged for it once per event-loop iteration.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "budget-state.h"
#include "config.h"
#include "kernel-features.h"
#include "ksm-sysfs.h"
#include "pod-identity.h"

/* What changed, for PropertiesChanged (the names are in the *-bus.c files). */
typedef enum CgroupDirty {
	CGROUP_DIRTY_FIGURES = 1 << 0, /* the sweep's figures and State */
	CGROUP_DIRTY_BUDGETS = 1 << 1, /* MergeBudget, SwapBudget, State */
} CgroupDirty;

typedef enum ManagerDirty {
	MANAGER_DIRTY_KSM = 1 << 0,		   /* KsmRun, PagesShared, PagesSharing */
	MANAGER_DIRTY_MERGE_ACROSS_NODES = 1 << 1, /* MergeAcrossNodes */
	MANAGER_DIRTY_CGROUPS = 1 << 2,		   /* ManagedCgroups */
	MANAGER_DIRTY_TRUST_DOMAIN = 1 << 3,	   /* TrustDomain */
} ManagerDirty;

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
	PodIdentity identity;		      /* from the runtime's own keys (pod-identity.h); empty
					       * when they are absent or name two runtimes */
	char *trust_domain;		      /* trust-domain.h; NULL when its keys name two
					       * runtimes: no domain can be trusted */
	pid_t init_pid;			      /* the pid it was registered with (informational) */
	uint64_t seq;			      /* its registration's number (persist.h) */
	bool enabling;			      /* its init's enable is with the registration's
					       * injector: the sweep leaves that process alone */
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
	char *trust_domain; /* its oldest container's; NULL when that one has none */
	uint64_t seq;	    /* the number of the registration that created it (persist.h) */

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
	/* EstimatedSavings: bytes merging within this cgroup would save after
	 * KSM's metadata, from the last estimate that read it; 0 before */
	uint64_t estimated_savings;
	unsigned enable_failures; /* processes merging could not be enabled in, last sweep */
	unsigned n_enable_wanted; /* processes of the last sweep with enable_wanted */

	/* sweep.c's cache: cgroup.procs and each process's ksm_stat stay open
	 * between sweeps and are pread() again (one syscall per process). */
	int procs_fd;
	struct SweepProc *procs; /* sorted by pid */
	size_t n_procs;

	BudgetCgroup budget; /* budget.c's */
	unsigned dirty;	     /* CgroupDirty */
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

	/* /sys/kernel/mm/ksm, read by every sweep and otherwise at most once
	 * per KSM_CACHE_USEC (manager_ksm_refresh) */
	KsmState ksm;
	bool ksm_valid;
	uint64_t ksm_read_usec; /* CLOCK_MONOTONIC */

	Container *containers;
	unsigned n_containers;
	CgroupState *cgroups;
	unsigned n_cgroups;
	uint64_t seq;			 /* the last registration's number (persist.h) */
	sd_event_source *snapshot_timer; /* on: a snapshot is due (manager_persist_later) */

	char *trust_domain; /* Manager.TrustDomain: the domain merging on this node, "" none */
	uint64_t sweeps;
	uint64_t last_sweep_cpu_usec;
	char *sweep_buf; /* scratch buffers of the sweep, reused */
	size_t sweep_buf_size;
	pid_t *sweep_pids;
	size_t sweep_pids_size;
	unsigned sweep_cached_fds; /* fds the sweep keeps open (ksm_stat, statm) */
	unsigned sweep_fd_cap;	   /* at most this many: half of RLIMIT_NOFILE */

	/* Injections into tenants' processes, off the loop (injector.h): one
	 * helper for registrations, one for the sweep and budgets, so a
	 * tenant stalling the sweep's never delays a registration. */
	struct Injector *inject_register;
	struct Injector *inject_sweep;

	BudgetManager budget; /* budget.c's */

	struct EstimateRun *estimates; /* estimate-bus.c's running estimates */
	unsigned n_estimates;
	uint64_t estimate_next_id;

	unsigned dirty;			/* ManagerDirty */
	sd_event_source *bus_flush;	/* the bus glue's: PropertiesChanged of what is dirty */
	struct HookServer *hook_server; /* the hook socket (hook-server.h) */
};

/* Mark changed properties; the bus glue's flush source sends them once per
 * event-loop iteration. Inline: every module may mark, none calls the glue. */
static inline void manager_kick_flush(Manager *m)
{
	if (m->bus_flush)
		(void)sd_event_source_set_enabled(m->bus_flush, SD_EVENT_ONESHOT);
}

static inline void manager_mark_dirty(Manager *m, unsigned what)
{
	m->dirty |= what;
	manager_kick_flush(m);
}

static inline void cgroup_mark_dirty(CgroupState *cg, unsigned what)
{
	cg->dirty |= what;
	manager_kick_flush(cg->manager);
}
