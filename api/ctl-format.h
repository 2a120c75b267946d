/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * pagemeldctl's pure half: the figures it reads from pagemeldd, and every
 * way of printing them (human text, JSON, OpenMetrics, the progress bar),
 * plus the mapping of D-Bus errors to exit codes. No bus, no global state,
 * so tests/unit/test-ctl-format.c links it alone.
 */

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Documented in pagemeldctl(1) and --help; never renumber. */
typedef enum CtlExit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_USAGE = 1,	      /* bad command line */
	CTL_EXIT_UNAVAILABLE = 2,     /* no bus, or io.pagemeld1 not on it */
	CTL_EXIT_ACCESS_DENIED = 3,   /* the bus policy or the daemon said no */
	CTL_EXIT_NOT_IMPLEMENTED = 4, /* this pagemeldd lacks the method */
	CTL_EXIT_REFUSED = 5,	      /* refused: insufficient headroom, busy */
	CTL_EXIT_DBUS = 6,	      /* any other D-Bus error */
	CTL_EXIT_NOT_FOUND = 7,	      /* no such cgroup */
	CTL_EXIT_FAILED = 8,	      /* accepted, then failed (UnmergeFinished false) */
} CtlExit;

/* pagemeldctl's own error names, for failures no D-Bus error describes; like
 * sd-bus's System.Error.* they never travel on the bus. */
#define CTL_ERROR_USAGE "pagemeldctl.Error.Usage"   /* bad command line */
#define CTL_ERROR_FAILED "pagemeldctl.Error.Failed" /* accepted, then failed */
/* a per-cgroup read refused: the caller is neither root nor in the reader group */
#define CTL_ERROR_READERS_ONLY "pagemeldctl.Error.ReadersOnly"

/* A budget of UINT64_MAX means "no limit" on the bus. */
#define CTL_UNLIMITED UINT64_MAX

typedef struct CtlManager {
	char *version;
	char **kernel_features; /* NULL-terminated, may be NULL */
	char *ksm_run;		/* stopped | running | unmerging */
	uint64_t pages_shared;
	uint64_t pages_sharing;
	uint64_t pages_unshared;
	uint64_t pages_volatile;
	uint64_t pages_skipped;
	uint64_t full_scans;
	uint64_t ksm_zero_pages;
	int64_t general_profit; /* bytes */
	uint64_t managed_cgroups;
	uint64_t managed_containers;
	char *trust_domain;
	uint64_t merge_across_nodes; /* 0/1 */
	uint64_t pages_to_scan;
	uint64_t sleep_millisecs;
	char *advisor_mode;
	uint64_t sweeps;
	uint64_t sweep_interval_usec;
} CtlManager;

typedef struct CtlCgroup {
	char *object;
	char *path;
	char **containers;	/* ids, NULL-terminated, may be NULL */
	char **container_names; /* parallel to containers; "" when the runtime named none */
	char *pod_namespace;	/* "" or NULL when unknown */
	char *pod_name;
	char *pod_uid;
	char *trust_domain;
	uint64_t processes;
	uint64_t merging_pages;
	uint64_t rmap_items;
	uint64_t zero_pages;
	int64_t profit; /* bytes */
	uint64_t merge_debt;
	uint64_t merge_budget;
	uint64_t swap_budget;
	char *state;		    /* merging | over-budget | disabled | unsupported */
	uint64_t estimated_savings; /* bytes, from the last Estimate; 0 before */
} CtlCgroup;

/* Bus property name -> field, so the bus code fills these structs from a
 * GetAll reply without a line per property. */
typedef enum CtlFieldKind {
	CTL_FIELD_U64,
	CTL_FIELD_I64,
	CTL_FIELD_STR,
	CTL_FIELD_STRV,
	CTL_FIELD_CONTAINERS, /* a(ss) (id, name): CtlCgroup's containers and container_names */
} CtlFieldKind;

typedef struct CtlField {
	const char *property;
	CtlFieldKind kind;
	size_t offset;
} CtlField;

extern const CtlField ctl_manager_fields[];
extern const CtlField ctl_cgroup_fields[];
const CtlField *ctl_field_find(const CtlField *table, const char *property);

void ctl_manager_done(CtlManager *m);
void ctl_cgroup_done(CtlCgroup *c);
void ctl_cgroups_free(CtlCgroup *c, size_t n);

/* Human text. */
void ctl_print_status(FILE *f, const CtlManager *m, uint64_t page_size);
/* Who runs in the cgroup: "namespace/pod/container" from the pod identity,
 * else the container name, else the short container id; "+N" for N more
 * containers, "-" for none. */
const char *ctl_cgroup_name(char *buf, size_t size, const CtlCgroup *c);
/* width: the terminal's columns, 0 = no limit. wide: the cgroup path after
 * the name; paths that do not fit keep their end (the container's own
 * directory) behind "...". */
void ctl_print_list(FILE *f, const CtlCgroup *c, size_t n, uint64_t page_size, unsigned width, bool wide);
void ctl_print_features(FILE *f, const CtlManager *m);

/* JSON (json-c); the caller owns the result. NULL on OOM. */
json_object *ctl_manager_to_json(const CtlManager *m, uint64_t page_size);
json_object *ctl_cgroups_to_json(const CtlCgroup *c, size_t n, uint64_t page_size);

/* OpenMetrics text exposition, ending in "# EOF". Gauges and one counter
 * only, so the Prometheus text parser (node_exporter textfile collector)
 * reads it too. */
void ctl_print_metrics(FILE *f, const CtlManager *m, const CtlCgroup *c, size_t n, uint64_t page_size);

/* One cgroup of an Estimate's result (EstimateFinished). has_cross: the
 * cross-cgroup figures were sent (root callers only). */
typedef struct CtlEstimateGroup {
	char *path;
	bool managed;
	uint64_t pages_scanned, zero_pages, volatile_pages, dup_within_pages;
	int64_t within_profit_bytes;
	bool has_cross;
	uint64_t marginal_pages;
	int64_t marginal_profit_bytes;
} CtlEstimateGroup;

typedef struct CtlEstimate {
	uint64_t page_size;
	uint64_t pages_scanned, zero_pages, volatile_pages, unreadable_pages, dup_within_pages;
	unsigned sample_shift;
	uint64_t dup_stderr_pages;
	bool has_cross;
	uint64_t dup_pages, dup_across_pages;
	int64_t profit_bytes;
	CtlEstimateGroup *groups;
	size_t n_groups;
} CtlEstimate;

void ctl_estimate_done(CtlEstimate *e);
/* One figure of the result by its bus name (totals or a group). */
void ctl_estimate_set(CtlEstimate *e, CtlEstimateGroup *g, const char *name, int64_t value);
/* Groups ranked by marginal saving when known (else by within saving),
 * biggest first: the order of the table and of --candidates. */
void ctl_estimate_sort(CtlEstimate *e);
void ctl_print_estimate(FILE *f, const CtlEstimate *e);
json_object *ctl_estimate_to_json(const CtlEstimate *e);

/* "[#######.....]  58%  1.2 GiB left" for an unmerge that started with
 * `start` pages sharing and has `now` left; width is the bar's width. */
const char *ctl_format_progress(char *buf, size_t size, uint64_t start, uint64_t now, uint64_t page_size,
				unsigned width);

/* Exit code for a failure: error_name is the D-Bus error name (NULL for a
 * local failure such as no bus socket), error the negative errno. */
CtlExit ctl_exit_code(const char *error_name, int error);
/* One plain sentence for the same failure (no "pagemeldctl: " prefix). */
const char *ctl_error_summary(const char *error_name, int error);
