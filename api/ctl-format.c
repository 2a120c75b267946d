/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-format.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "bus-contract.h"
#include "macro.h"
#include "quantity.h"

#define FIELD(prop, kind, type, member)            \
	{                                          \
		prop, kind, offsetof(type, member) \
	}

const CtlField ctl_manager_fields[] = {
	FIELD("Version", CTL_FIELD_STR, CtlManager, version),
	FIELD("KernelFeatures", CTL_FIELD_STRV, CtlManager, kernel_features),
	FIELD("KsmRun", CTL_FIELD_STR, CtlManager, ksm_run),
	FIELD("PagesShared", CTL_FIELD_U64, CtlManager, pages_shared),
	FIELD("PagesSharing", CTL_FIELD_U64, CtlManager, pages_sharing),
	FIELD("PagesUnshared", CTL_FIELD_U64, CtlManager, pages_unshared),
	FIELD("PagesVolatile", CTL_FIELD_U64, CtlManager, pages_volatile),
	FIELD("PagesSkipped", CTL_FIELD_U64, CtlManager, pages_skipped),
	FIELD("FullScans", CTL_FIELD_U64, CtlManager, full_scans),
	FIELD("KsmZeroPages", CTL_FIELD_U64, CtlManager, ksm_zero_pages),
	FIELD("GeneralProfit", CTL_FIELD_I64, CtlManager, general_profit),
	FIELD("ManagedCgroups", CTL_FIELD_U64, CtlManager, managed_cgroups),
	FIELD("ManagedContainers", CTL_FIELD_U64, CtlManager, managed_containers),
	FIELD("TrustDomain", CTL_FIELD_STR, CtlManager, trust_domain),
	FIELD("MergeAcrossNodes", CTL_FIELD_U64, CtlManager, merge_across_nodes),
	FIELD("PagesToScan", CTL_FIELD_U64, CtlManager, pages_to_scan),
	FIELD("SleepMillisecs", CTL_FIELD_U64, CtlManager, sleep_millisecs),
	FIELD("AdvisorMode", CTL_FIELD_STR, CtlManager, advisor_mode),
	FIELD("Sweeps", CTL_FIELD_U64, CtlManager, sweeps),
	FIELD("SweepIntervalUSec", CTL_FIELD_U64, CtlManager, sweep_interval_usec),
	{NULL, 0, 0},
};

const CtlField ctl_cgroup_fields[] = {
	FIELD("Path", CTL_FIELD_STR, CtlCgroup, path),
	FIELD("Containers", CTL_FIELD_CONTAINERS, CtlCgroup, containers),
	FIELD("PodNamespace", CTL_FIELD_STR, CtlCgroup, pod_namespace),
	FIELD("PodName", CTL_FIELD_STR, CtlCgroup, pod_name),
	FIELD("PodUID", CTL_FIELD_STR, CtlCgroup, pod_uid),
	FIELD("TrustDomain", CTL_FIELD_STR, CtlCgroup, trust_domain),
	FIELD("Processes", CTL_FIELD_U64, CtlCgroup, processes),
	FIELD("MergingPages", CTL_FIELD_U64, CtlCgroup, merging_pages),
	FIELD("RmapItems", CTL_FIELD_U64, CtlCgroup, rmap_items),
	FIELD("ZeroPages", CTL_FIELD_U64, CtlCgroup, zero_pages),
	FIELD("Profit", CTL_FIELD_I64, CtlCgroup, profit),
	FIELD("MergeDebt", CTL_FIELD_U64, CtlCgroup, merge_debt),
	FIELD("MergeBudget", CTL_FIELD_U64, CtlCgroup, merge_budget),
	FIELD("SwapBudget", CTL_FIELD_U64, CtlCgroup, swap_budget),
	FIELD("State", CTL_FIELD_STR, CtlCgroup, state),
	FIELD("EstimatedSavings", CTL_FIELD_U64, CtlCgroup, estimated_savings),
	{NULL, 0, 0},
};

const CtlField *ctl_field_find(const CtlField *table, const char *property)
{
	for (const CtlField *f = table; f->property; f++)
		if (streq(f->property, property))
			return f;
	return NULL;
}

void ctl_manager_done(CtlManager *m)
{
	if (!m)
		return;
	free(m->version);
	strv_free(m->kernel_features);
	free(m->ksm_run);
	free(m->trust_domain);
	free(m->advisor_mode);
	*m = (CtlManager){0};
}

void ctl_cgroup_done(CtlCgroup *c)
{
	if (!c)
		return;
	free(c->object);
	free(c->path);
	strv_free(c->containers);
	strv_free(c->container_names);
	free(c->pod_namespace);
	free(c->pod_name);
	free(c->pod_uid);
	free(c->trust_domain);
	free(c->state);
	*c = (CtlCgroup){0};
}

void ctl_cgroups_free(CtlCgroup *c, size_t n)
{
	if (!c)
		return;
	for (size_t i = 0; i < n; i++)
		ctl_cgroup_done(&c[i]);
	free(c);
}

static const char *str_or(const char *s, const char *fallback)
{
	return s && *s ? s : fallback;
}

static uint64_t pages_to_bytes(uint64_t pages, uint64_t page_size)
{
	return pages > UINT64_MAX / page_size ? UINT64_MAX : pages * page_size;
}

/* format_bytes() for a signed figure (profit can go negative). */
static const char *format_signed_bytes(char *buf, size_t size, int64_t v)
{
	char tmp[FORMAT_BYTES_MAX];
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	snprintf(buf, size, "%s%s", v < 0 ? "-" : "", format_bytes(tmp, sizeof(tmp), mag));
	return buf;
}

static const char *format_budget(char *buf, size_t size, uint64_t v)
{
	if (v == CTL_UNLIMITED) {
		snprintf(buf, size, "none");
		return buf;
	}
	return format_bytes(buf, size, v);
}

void ctl_print_status(FILE *f, const CtlManager *m, uint64_t page_size)
{
	char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX];

	fprintf(f, "Daemon:        pagemeldd %s\n", str_or(m->version, "(unknown version)"));
	fprintf(f, "KSM:           %s, %" PRIu64 " full scans\n", str_or(m->ksm_run, "unknown"),
		m->full_scans);
	fprintf(f, "Saved:         %s (%" PRIu64 " pages sharing %" PRIu64 " shared pages)\n",
		format_bytes(a, sizeof(a), pages_to_bytes(m->pages_sharing, page_size)), m->pages_sharing,
		m->pages_shared);
	fprintf(f, "Profit:        %s (after KSM's own metadata)\n",
		format_signed_bytes(b, sizeof(b), m->general_profit));
	fprintf(f, "Zero pages:    %" PRIu64 " (%s)\n", m->ksm_zero_pages,
		format_bytes(a, sizeof(a), pages_to_bytes(m->ksm_zero_pages, page_size)));
	fprintf(f, "Unshared:      %" PRIu64 " pages scanned, not merged\n", m->pages_unshared);
	fprintf(f, "Volatile:      %" PRIu64 " pages changing too fast to merge\n", m->pages_volatile);
	fprintf(f, "Skipped:       %" PRIu64 " pages (smart scan)\n", m->pages_skipped);
	fprintf(f,
		"Managed:       %" PRIu64 " cgroups, %" PRIu64 " containers, %" PRIu64
		" sweeps (every %gs)\n",
		m->managed_cgroups, m->managed_containers, m->sweeps, (double)m->sweep_interval_usec / 1e6);
	fprintf(f,
		"Scan:          %" PRIu64 " pages every %" PRIu64 " ms, advisor %s, merge across nodes %s\n",
		m->pages_to_scan, m->sleep_millisecs, str_or(m->advisor_mode, "none"),
		m->merge_across_nodes ? "on" : "off");
	fprintf(f, "Trust domain:  %s\n", str_or(m->trust_domain, "(none)"));
}

const char *ctl_cgroup_name(char *buf, size_t size, const CtlCgroup *c)
{
	size_t n = 0;
	for (char *const *i = c->containers; i && *i; i++)
		n++;
	const char *name = n > 0 && c->container_names && c->container_names[0] && *c->container_names[0]
				   ? c->container_names[0]
				   : NULL;
	char more[24] = "";
	if (n > 1)
		snprintf(more, sizeof(more), "+%zu", n - 1);

	if (c->pod_namespace && *c->pod_namespace && c->pod_name && *c->pod_name)
		snprintf(buf, size, "%s/%s%s%s%s", c->pod_namespace, c->pod_name, name ? "/" : "", name ?: "",
			 more);
	else if (name)
		snprintf(buf, size, "%s%s", name, more);
	else if (n > 0)
		snprintf(buf, size, "%.12s%s", c->containers[0], more);
	else
		snprintf(buf, size, "-");
	return buf;
}

/* Everything before the NAME column of ctl_print_list(). */
#define LIST_FIXED_COLUMNS 63
#define LIST_NAME_MIN 16
#define LIST_MIN_PATH 16

void ctl_print_list(FILE *f, const CtlCgroup *c, size_t n, uint64_t page_size, unsigned width, bool wide)
{
	fprintf(f, "%-12s %5s %10s %10s %21s %-*s%s\n", "STATE", "PROCS", "MERGED", "PROFIT", "DEBT/BUDGET",
		wide ? LIST_NAME_MIN : 0, "NAME", wide ? " CGROUP" : "");
	for (size_t i = 0; i < n; i++) {
		char merged[FORMAT_BYTES_MAX], profit[FORMAT_BYTES_MAX], debt[FORMAT_BYTES_MAX],
			budget[FORMAT_BYTES_MAX], db[2 * FORMAT_BYTES_MAX + 2], name[512];

		snprintf(db, sizeof(db), "%s/%s", format_bytes(debt, sizeof(debt), c[i].merge_debt),
			 format_budget(budget, sizeof(budget), c[i].merge_budget));
		ctl_cgroup_name(name, sizeof(name), &c[i]);
		fprintf(f, "%-12s %5" PRIu64 " %10s %10s %21s ", str_or(c[i].state, "?"), c[i].processes,
			format_bytes(merged, sizeof(merged), pages_to_bytes(c[i].merging_pages, page_size)),
			format_signed_bytes(profit, sizeof(profit), c[i].profit), db);
		if (!wide) {
			fprintf(f, "%s\n", name);
			continue;
		}
		/* the path gets what the terminal has left after the name */
		size_t before = LIST_FIXED_COLUMNS + MAX(strlen(name), (size_t)LIST_NAME_MIN) + 1;
		size_t max_path = width >= before + LIST_MIN_PATH ? width - before : SIZE_MAX;
		const char *path = str_or(c[i].path, "?");
		size_t len = strlen(path);
		fprintf(f, "%-*s %s%s\n", LIST_NAME_MIN, name, len > max_path ? "..." : "",
			len > max_path ? path + len - (max_path - 3) : path);
	}
	if (n == 0)
		fprintf(f, "(no managed cgroups)\n");

	/* Say once what the states that need an explanation mean. */
	bool unsupported = false, over = false;
	for (size_t i = 0; i < n; i++) {
		unsupported = unsupported || streq_ptr(c[i].state, "unsupported");
		over = over || streq_ptr(c[i].state, "over-budget");
	}
	if (over)
		fprintf(f, "over-budget: merge debt passed min(budget, headroom); its biggest mergers were "
			   "unmerged "
			   "(pagemeldctl enable or a bigger budget lets it merge again)\n");
	if (unsupported)
		fprintf(f, "unsupported: no cgroup v2 memory controller for this cgroup: it merges, but "
			   "headroom "
			   "and swap budgets cannot be enforced\n");
}

void ctl_print_features(FILE *f, const CtlManager *m)
{
	for (char *const *i = m->kernel_features; i && *i; i++)
		fprintf(f, "%s\n", *i);
}

static json_object *json_strv(char *const *l)
{
	json_object *a = json_object_new_array();
	for (char *const *i = l; a && i && *i; i++)
		json_object_array_add(a, json_object_new_string(*i));
	return a;
}

static const char *empty_to_null(const char *s)
{
	return s && *s ? s : NULL;
}

static json_object *json_str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *json_budget(uint64_t v)
{
	return v == CTL_UNLIMITED ? NULL : json_object_new_uint64(v);
}

json_object *ctl_manager_to_json(const CtlManager *m, uint64_t page_size)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "version", json_str_or_null(m->version));
	json_object_object_add(o, "ksm_run", json_str_or_null(m->ksm_run));
	json_object_object_add(o, "kernel_features", json_strv(m->kernel_features));
	json_object_object_add(o, "page_size", json_object_new_uint64(page_size));
	json_object_object_add(o, "pages_shared", json_object_new_uint64(m->pages_shared));
	json_object_object_add(o, "pages_sharing", json_object_new_uint64(m->pages_sharing));
	json_object_object_add(o, "pages_unshared", json_object_new_uint64(m->pages_unshared));
	json_object_object_add(o, "pages_volatile", json_object_new_uint64(m->pages_volatile));
	json_object_object_add(o, "pages_skipped", json_object_new_uint64(m->pages_skipped));
	json_object_object_add(o, "full_scans", json_object_new_uint64(m->full_scans));
	json_object_object_add(o, "ksm_zero_pages", json_object_new_uint64(m->ksm_zero_pages));
	json_object_object_add(o, "saved_bytes",
			       json_object_new_uint64(pages_to_bytes(m->pages_sharing, page_size)));
	json_object_object_add(o, "general_profit_bytes", json_object_new_int64(m->general_profit));
	json_object_object_add(o, "managed_cgroups", json_object_new_uint64(m->managed_cgroups));
	json_object_object_add(o, "managed_containers", json_object_new_uint64(m->managed_containers));
	json_object_object_add(o, "trust_domain", json_str_or_null(m->trust_domain));
	json_object_object_add(o, "merge_across_nodes", json_object_new_boolean(m->merge_across_nodes != 0));
	json_object_object_add(o, "pages_to_scan", json_object_new_uint64(m->pages_to_scan));
	json_object_object_add(o, "sleep_millisecs", json_object_new_uint64(m->sleep_millisecs));
	json_object_object_add(o, "advisor_mode", json_str_or_null(m->advisor_mode));
	json_object_object_add(o, "sweeps", json_object_new_uint64(m->sweeps));
	json_object_object_add(o, "sweep_interval_usec", json_object_new_uint64(m->sweep_interval_usec));
	return o;
}

json_object *ctl_cgroups_to_json(const CtlCgroup *c, size_t n, uint64_t page_size)
{
	json_object *a = json_object_new_array();
	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		if (!o) {
			json_object_put(a);
			return NULL;
		}
		json_object_object_add(o, "path", json_str_or_null(c[i].path));
		json_object_object_add(o, "object", json_str_or_null(c[i].object));
		json_object_object_add(o, "state", json_str_or_null(c[i].state));
		json_object_object_add(o, "containers", json_strv(c[i].containers));
		json_object_object_add(o, "container_names", json_strv(c[i].container_names));
		json_object_object_add(o, "pod_namespace",
				       json_str_or_null(empty_to_null(c[i].pod_namespace)));
		json_object_object_add(o, "pod_name", json_str_or_null(empty_to_null(c[i].pod_name)));
		json_object_object_add(o, "pod_uid", json_str_or_null(empty_to_null(c[i].pod_uid)));
		json_object_object_add(o, "trust_domain", json_str_or_null(c[i].trust_domain));
		json_object_object_add(o, "processes", json_object_new_uint64(c[i].processes));
		json_object_object_add(o, "merging_pages", json_object_new_uint64(c[i].merging_pages));
		json_object_object_add(o, "merged_bytes",
				       json_object_new_uint64(pages_to_bytes(c[i].merging_pages, page_size)));
		json_object_object_add(o, "rmap_items", json_object_new_uint64(c[i].rmap_items));
		json_object_object_add(o, "zero_pages", json_object_new_uint64(c[i].zero_pages));
		json_object_object_add(o, "profit_bytes", json_object_new_int64(c[i].profit));
		json_object_object_add(o, "merge_debt_bytes", json_object_new_uint64(c[i].merge_debt));
		json_object_object_add(o, "merge_budget_bytes", json_budget(c[i].merge_budget));
		json_object_object_add(o, "swap_budget_bytes", json_budget(c[i].swap_budget));
		json_object_object_add(o, "estimated_savings_bytes",
				       json_object_new_uint64(c[i].estimated_savings));
		json_object_array_add(a, o);
	}
	return a;
}

/* OpenMetrics label value escaping: backslash, double quote, newline. */
static void print_label_value(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The cgroup and who runs in it, with cAdvisor's and kube-state-metrics'
 * label names (namespace, pod, container), always present ("" unknown, as
 * cAdvisor does for cgroups outside Kubernetes) so that every series of a
 * family carries the same label set. container: the cgroup's only
 * container; "" when it holds several. */
static void print_cgroup_labels(FILE *f, const CtlCgroup *c)
{
	size_t n = 0;
	for (char *const *i = c->containers; i && *i; i++)
		n++;
	const char *ctr = n == 1 && c->container_names && c->container_names[0] ? c->container_names[0] : "";
	fprintf(f, "cgroup=");
	print_label_value(f, str_or(c->path, "?"));
	fprintf(f, ",namespace=");
	print_label_value(f, str_or(c->pod_namespace, ""));
	fprintf(f, ",pod=");
	print_label_value(f, str_or(c->pod_name, ""));
	fprintf(f, ",container=");
	print_label_value(f, ctr);
}

static void print_family(FILE *f, const char *name, const char *type, const char *unit, const char *help)
{
	fprintf(f, "# TYPE %s %s\n", name, type);
	if (unit)
		fprintf(f, "# UNIT %s %s\n", name, unit);
	fprintf(f, "# HELP %s %s\n", name, help);
}

typedef enum MetricKind {
	METRIC_U64,
	METRIC_I64,
	METRIC_BUDGET, /* u64, CTL_UNLIMITED -> +Inf */
} MetricKind;

typedef struct Metric {
	const char *name;
	const char *type; /* gauge | counter */
	const char *unit;
	const char *help;
	MetricKind kind;
	size_t offset;
} Metric;

static const Metric manager_metrics[] = {
	{"pagemeld_ksm_pages_shared", "gauge", NULL,
	 "KSM pages in use, each standing for one or more sharers", METRIC_U64,
	 offsetof(CtlManager, pages_shared)},
	{"pagemeld_ksm_pages_sharing", "gauge", NULL,
	 "Pages deduplicated onto a shared KSM page (memory saved)", METRIC_U64,
	 offsetof(CtlManager, pages_sharing)},
	{"pagemeld_ksm_pages_unshared", "gauge", NULL, "Pages KSM scans repeatedly without finding a twin",
	 METRIC_U64, offsetof(CtlManager, pages_unshared)},
	{"pagemeld_ksm_pages_volatile", "gauge", NULL, "Pages changing too fast for KSM to merge", METRIC_U64,
	 offsetof(CtlManager, pages_volatile)},
	{"pagemeld_ksm_pages_skipped", "gauge", NULL, "Pages the smart scan skipped", METRIC_U64,
	 offsetof(CtlManager, pages_skipped)},
	{"pagemeld_ksm_zero_pages", "gauge", NULL, "Empty pages merged with the kernel zero page", METRIC_U64,
	 offsetof(CtlManager, ksm_zero_pages)},
	{"pagemeld_ksm_full_scans", "counter", NULL, "Full scans of every mergeable area by ksmd", METRIC_U64,
	 offsetof(CtlManager, full_scans)},
	{"pagemeld_ksm_general_profit_bytes", "gauge", "bytes",
	 "KSM savings minus its rmap metadata, machine-wide", METRIC_I64,
	 offsetof(CtlManager, general_profit)},
	{"pagemeld_managed_cgroups", "gauge", NULL, "Cgroups pagemeldd manages", METRIC_U64,
	 offsetof(CtlManager, managed_cgroups)},
	{"pagemeld_managed_containers", "gauge", NULL, "Containers registered with pagemeldd", METRIC_U64,
	 offsetof(CtlManager, managed_containers)},
	{"pagemeld_sweeps", "counter", NULL, "Sweeps of the managed cgroups since pagemeldd started",
	 METRIC_U64, offsetof(CtlManager, sweeps)},
	{"pagemeld_ksm_pages_to_scan", "gauge", NULL, "Pages ksmd scans per wake-up", METRIC_U64,
	 offsetof(CtlManager, pages_to_scan)},
	{"pagemeld_ksm_sleep_millisecs", "gauge", NULL, "Milliseconds ksmd sleeps between scans", METRIC_U64,
	 offsetof(CtlManager, sleep_millisecs)},
	{"pagemeld_ksm_merge_across_nodes", "gauge", NULL, "1 when KSM merges pages across NUMA nodes",
	 METRIC_U64, offsetof(CtlManager, merge_across_nodes)},
};

static const Metric cgroup_metrics[] = {
	{"pagemeld_cgroup_processes", "gauge", NULL, "Processes in the cgroup", METRIC_U64,
	 offsetof(CtlCgroup, processes)},
	{"pagemeld_cgroup_merging_pages", "gauge", NULL,
	 "Sum of ksm_merging_pages over the cgroup's processes (counts each sharer, unlike pages_sharing)",
	 METRIC_U64, offsetof(CtlCgroup, merging_pages)},
	{"pagemeld_cgroup_rmap_items", "gauge", NULL, "KSM rmap items of the cgroup's processes", METRIC_U64,
	 offsetof(CtlCgroup, rmap_items)},
	{"pagemeld_cgroup_zero_pages", "gauge", NULL, "Pages of the cgroup merged with the zero page",
	 METRIC_U64, offsetof(CtlCgroup, zero_pages)},
	{"pagemeld_cgroup_profit_bytes", "gauge", "bytes",
	 "Sum of ksm_process_profit over the cgroup's processes", METRIC_I64, offsetof(CtlCgroup, profit)},
	{"pagemeld_cgroup_merge_debt_bytes", "gauge", "bytes",
	 "Memory the cgroup would need back if all its merges broke", METRIC_U64,
	 offsetof(CtlCgroup, merge_debt)},
	{"pagemeld_cgroup_merge_budget_bytes", "gauge", "bytes", "Cap on the merge debt (+Inf: none)",
	 METRIC_BUDGET, offsetof(CtlCgroup, merge_budget)},
	{"pagemeld_cgroup_swap_budget_bytes", "gauge", "bytes",
	 "memory.swap.max set from the swap budget (+Inf: none)", METRIC_BUDGET,
	 offsetof(CtlCgroup, swap_budget)},
	{"pagemeld_cgroup_estimated_savings_bytes", "gauge", "bytes",
	 "What merging within the cgroup would save after KSM's metadata, by the last estimate (0: none yet)",
	 METRIC_U64, offsetof(CtlCgroup, estimated_savings)},
};

static void print_value(FILE *f, MetricKind kind, const void *base, size_t offset)
{
	const char *p = (const char *)base + offset;
	if (kind == METRIC_I64)
		fprintf(f, "%" PRIi64 "\n", *(const int64_t *)p);
	else if (kind == METRIC_BUDGET && *(const uint64_t *)p == CTL_UNLIMITED)
		fprintf(f, "+Inf\n");
	else
		fprintf(f, "%" PRIu64 "\n", *(const uint64_t *)p);
}

static const char *const ksm_run_states[] = {"stopped", "running", "unmerging"};
static const char *const cgroup_states[] = {"merging", "over-budget", "disabled", "unsupported"};

void ctl_print_metrics(FILE *f, const CtlManager *m, const CtlCgroup *c, size_t n, uint64_t page_size)
{
	print_family(f, "pagemeld_info", "gauge", NULL, "pagemeldd version and trust domain (always 1)");
	fprintf(f, "pagemeld_info{version=");
	print_label_value(f, str_or(m->version, "unknown"));
	fprintf(f, ",trust_domain=");
	print_label_value(f, str_or(m->trust_domain, ""));
	fprintf(f, "} 1\n");

	print_family(f, "pagemeld_page_size_bytes", "gauge", "bytes", "Page size the page counts are in");
	fprintf(f, "pagemeld_page_size_bytes %" PRIu64 "\n", page_size);

	print_family(f, "pagemeld_ksm_run", "gauge", NULL,
		     "KSM run state: 1 for the current state, 0 otherwise");
	for (size_t i = 0; i < ELEMENTSOF(ksm_run_states); i++)
		fprintf(f, "pagemeld_ksm_run{state=\"%s\"} %d\n", ksm_run_states[i],
			streq_ptr(m->ksm_run, ksm_run_states[i]));

	for (size_t i = 0; i < ELEMENTSOF(manager_metrics); i++) {
		const Metric *mt = &manager_metrics[i];
		print_family(f, mt->name, mt->type, mt->unit, mt->help);
		fprintf(f, "%s%s ", mt->name, streq(mt->type, "counter") ? "_total" : "");
		print_value(f, mt->kind, m, mt->offset);
	}

	for (size_t i = 0; i < ELEMENTSOF(cgroup_metrics); i++) {
		const Metric *mt = &cgroup_metrics[i];
		print_family(f, mt->name, mt->type, mt->unit, mt->help);
		for (size_t j = 0; j < n; j++) {
			fprintf(f, "%s{", mt->name);
			print_cgroup_labels(f, &c[j]);
			fprintf(f, "} ");
			print_value(f, mt->kind, &c[j], mt->offset);
		}
	}

	print_family(f, "pagemeld_cgroup_state", "gauge", NULL,
		     "Cgroup state: 1 for the current state, 0 otherwise");
	for (size_t j = 0; j < n; j++)
		for (size_t i = 0; i < ELEMENTSOF(cgroup_states); i++) {
			fprintf(f, "pagemeld_cgroup_state{");
			print_cgroup_labels(f, &c[j]);
			fprintf(f, ",state=\"%s\"} %d\n", cgroup_states[i],
				streq_ptr(c[j].state, cgroup_states[i]));
		}

	fprintf(f, "# EOF\n");
}

const char *ctl_format_progress(char *buf, size_t size, uint64_t start, uint64_t now, uint64_t page_size,
				unsigned width)
{
	char left[FORMAT_BYTES_MAX], bar[256];
	uint64_t done;
	unsigned filled, pct;

	width = MIN(width, (unsigned)sizeof(bar) - 1);
	now = MIN(now, start);
	done = start - now;
	pct = start == 0 ? 100 : (unsigned)(done * 100 / start);
	filled = start == 0 ? width : (unsigned)(done * width / start);
	for (unsigned i = 0; i < width; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[width] = '\0';
	snprintf(buf, size, "[%s] %3u%%  %s still shared", bar, pct,
		 format_bytes(left, sizeof(left), pages_to_bytes(now, page_size)));
	return buf;
}

CtlExit ctl_exit_code(const char *error_name, int error)
{
	static const CtlExit codes[_BUS_ERROR_KIND_MAX] = {
		[BUS_ERROR_OTHER] = CTL_EXIT_DBUS,
		[BUS_ERROR_NOT_RUNNING] = CTL_EXIT_UNAVAILABLE,
		[BUS_ERROR_UNREACHABLE] = CTL_EXIT_UNAVAILABLE,
		[BUS_ERROR_TIMEOUT] = CTL_EXIT_DBUS,
		[BUS_ERROR_ACCESS_DENIED] = CTL_EXIT_ACCESS_DENIED,
		[BUS_ERROR_NOT_IMPLEMENTED] = CTL_EXIT_NOT_IMPLEMENTED,
		[BUS_ERROR_REFUSED] = CTL_EXIT_REFUSED,
		[BUS_ERROR_NOT_FOUND] = CTL_EXIT_NOT_FOUND,
		[BUS_ERROR_INVALID_ARGS] = CTL_EXIT_USAGE,
	};
	if (streq_ptr(error_name, CTL_ERROR_USAGE))
		return CTL_EXIT_USAGE;
	if (streq_ptr(error_name, CTL_ERROR_FAILED))
		return CTL_EXIT_FAILED;
	if (streq_ptr(error_name, CTL_ERROR_READERS_ONLY))
		return CTL_EXIT_ACCESS_DENIED;
	return codes[bus_error_classify(error_name, error)];
}

const char *ctl_error_summary(const char *error_name, int error)
{
	switch (ctl_exit_code(error_name, error)) {
	case CTL_EXIT_UNAVAILABLE:
		return bus_error_classify(error_name, error) == BUS_ERROR_NOT_RUNNING
			       ? "daemon not running (" PAGEMELD_BUS_NAME " not on the bus)"
			       : "cannot connect to the system bus";
	case CTL_EXIT_ACCESS_DENIED:
		return streq_ptr(error_name, CTL_ERROR_READERS_ONLY)
			       ? "access denied (per-cgroup data is for root and the members of the reader "
				 "group, [Daemon] ReaderGroup= of pagemeld.conf, default pagemeld; "
				 "'pagemeldctl status' shows the machine-wide totals)"
			       : "access denied (changing pagemeld needs root)";
	case CTL_EXIT_NOT_IMPLEMENTED:
		return "not implemented by this pagemeldd";
	case CTL_EXIT_REFUSED:
		if (streq_ptr(error_name, PM_ERROR_INSUFFICIENT_HEADROOM))
			return "refused: not enough free memory and swap to unmerge (use --force to "
			       "override)";
		return "refused by pagemeldd";
	case CTL_EXIT_NOT_FOUND:
		return "no such cgroup";
	case CTL_EXIT_USAGE:
		return "invalid arguments";
	case CTL_EXIT_FAILED:
		return "accepted, then failed";
	default:
		return "D-Bus error";
	}
}

/* ---- estimates ---- */

void ctl_estimate_done(CtlEstimate *e)
{
	for (size_t i = 0; i < e->n_groups; i++)
		free(e->groups[i].path);
	free(e->groups);
	*e = (CtlEstimate){0};
}

void ctl_estimate_set(CtlEstimate *e, CtlEstimateGroup *g, const char *name, int64_t v)
{
	uint64_t u = v < 0 ? 0 : (uint64_t)v;
	if (g) {
		if (streq(name, "managed"))
			g->managed = v != 0;
		else if (streq(name, "pages_scanned"))
			g->pages_scanned = u;
		else if (streq(name, "zero_pages"))
			g->zero_pages = u;
		else if (streq(name, "volatile_pages"))
			g->volatile_pages = u;
		else if (streq(name, "dup_within_pages"))
			g->dup_within_pages = u;
		else if (streq(name, "within_profit_bytes"))
			g->within_profit_bytes = v;
		else if (streq(name, "marginal_pages"))
			g->marginal_pages = u, g->has_cross = true;
		else if (streq(name, "marginal_profit_bytes"))
			g->marginal_profit_bytes = v, g->has_cross = true;
		return;
	}
	if (streq(name, "page_size"))
		e->page_size = u;
	else if (streq(name, "pages_scanned"))
		e->pages_scanned = u;
	else if (streq(name, "zero_pages"))
		e->zero_pages = u;
	else if (streq(name, "volatile_pages"))
		e->volatile_pages = u;
	else if (streq(name, "unreadable_pages"))
		e->unreadable_pages = u;
	else if (streq(name, "dup_within_pages"))
		e->dup_within_pages = u;
	else if (streq(name, "sample_shift"))
		e->sample_shift = (unsigned)u;
	else if (streq(name, "dup_stderr_pages"))
		e->dup_stderr_pages = u;
	else if (streq(name, "dup_pages"))
		e->dup_pages = u, e->has_cross = true;
	else if (streq(name, "dup_across_pages"))
		e->dup_across_pages = u, e->has_cross = true;
	else if (streq(name, "profit_bytes"))
		e->profit_bytes = v, e->has_cross = true;
}

static int64_t estimate_rank(const CtlEstimateGroup *g)
{
	return g->has_cross ? g->marginal_profit_bytes : g->within_profit_bytes;
}

static int compare_estimate_groups(const void *a, const void *b)
{
	int64_t x = estimate_rank(a), y = estimate_rank(b);
	if (x != y)
		return x > y ? -1 : 1;
	return strcmp(((const CtlEstimateGroup *)a)->path, ((const CtlEstimateGroup *)b)->path);
}

void ctl_estimate_sort(CtlEstimate *e)
{
	if (e->n_groups > 1)
		qsort(e->groups, e->n_groups, sizeof(CtlEstimateGroup), compare_estimate_groups);
}

void ctl_print_estimate(FILE *f, const CtlEstimate *e)
{
	uint64_t ps = e->page_size ?: 4096;
	char a[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], c[FORMAT_BYTES_MAX], d[FORMAT_BYTES_MAX],
		m[FORMAT_BYTES_MAX];
	fprintf(f, "%-40s %7s %10s %10s %10s %12s %12s\n", "CGROUP", "MANAGED", "SCANNED", "ZERO",
		"DUP-WITHIN", "SAVES-ALONE", "MARGINAL");
	for (size_t i = 0; i < e->n_groups; i++) {
		const CtlEstimateGroup *g = &e->groups[i];
		fprintf(f, "%-40s %7s %10s %10s %10s %12s %12s\n", str_or(g->path, "?"),
			g->managed ? "yes" : "no", format_bytes(a, sizeof(a), g->pages_scanned * ps),
			format_bytes(b, sizeof(b), g->zero_pages * ps),
			format_bytes(c, sizeof(c), g->dup_within_pages * ps),
			format_signed_bytes(d, sizeof(d), g->within_profit_bytes),
			g->has_cross ? format_signed_bytes(m, sizeof(m), g->marginal_profit_bytes) : "-");
	}
	fprintf(f, "\nScanned %s", format_bytes(a, sizeof(a), e->pages_scanned * ps));
	fprintf(f, ", %s zero, %s within cgroups", format_bytes(b, sizeof(b), e->zero_pages * ps),
		format_bytes(c, sizeof(c), e->dup_within_pages * ps));
	if (e->has_cross)
		fprintf(f, ", %s across them; merging all saves %s after KSM's metadata",
			format_bytes(a, sizeof(a), e->dup_across_pages * ps),
			format_signed_bytes(d, sizeof(d), e->profit_bytes));
	fprintf(f, ".\n");
	if (e->sample_shift)
		fprintf(f, "Sampled 1 in %llu contents: duplicates +- %s (one standard error).\n",
			1ULL << e->sample_shift, format_bytes(a, sizeof(a), e->dup_stderr_pages * ps));
	if (!e->has_cross)
		fprintf(f, "Figures across cgroups (MARGINAL) are shown to root only.\n");
}

json_object *ctl_estimate_to_json(const CtlEstimate *e)
{
	uint64_t ps = e->page_size ?: 4096;
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	if (!o || !a) {
		json_object_put(o);
		json_object_put(a);
		return NULL;
	}
	json_object_object_add(o, "page_size", json_object_new_uint64(ps));
	json_object_object_add(o, "pages_scanned", json_object_new_uint64(e->pages_scanned));
	json_object_object_add(o, "zero_pages", json_object_new_uint64(e->zero_pages));
	json_object_object_add(o, "volatile_pages", json_object_new_uint64(e->volatile_pages));
	json_object_object_add(o, "unreadable_pages", json_object_new_uint64(e->unreadable_pages));
	json_object_object_add(o, "dup_within_pages", json_object_new_uint64(e->dup_within_pages));
	json_object_object_add(o, "sample_shift", json_object_new_uint64(e->sample_shift));
	json_object_object_add(o, "dup_stderr_pages", json_object_new_uint64(e->dup_stderr_pages));
	if (e->has_cross) {
		json_object_object_add(o, "dup_pages", json_object_new_uint64(e->dup_pages));
		json_object_object_add(o, "dup_across_pages", json_object_new_uint64(e->dup_across_pages));
		json_object_object_add(o, "profit_bytes", json_object_new_int64(e->profit_bytes));
	}
	for (size_t i = 0; i < e->n_groups; i++) {
		const CtlEstimateGroup *g = &e->groups[i];
		json_object *x = json_object_new_object();
		if (!x)
			break;
		json_object_object_add(x, "path", json_str_or_null(g->path));
		json_object_object_add(x, "managed", json_object_new_boolean(g->managed));
		json_object_object_add(x, "pages_scanned", json_object_new_uint64(g->pages_scanned));
		json_object_object_add(x, "zero_pages", json_object_new_uint64(g->zero_pages));
		json_object_object_add(x, "volatile_pages", json_object_new_uint64(g->volatile_pages));
		json_object_object_add(x, "dup_within_pages", json_object_new_uint64(g->dup_within_pages));
		json_object_object_add(x, "within_profit_bytes",
				       json_object_new_int64(g->within_profit_bytes));
		if (g->has_cross) {
			json_object_object_add(x, "marginal_pages",
					       json_object_new_uint64(g->marginal_pages));
			json_object_object_add(x, "marginal_profit_bytes",
					       json_object_new_int64(g->marginal_profit_bytes));
		}
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "cgroups", a);
	return o;
}
