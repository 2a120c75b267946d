/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The io.pagemeld1.Cgroup vtable: one object per managed cgroup. */
#include "cgroup-bus.h"

#include <stddef.h>

#include "creds-bus.h"
#include "errors.h"
#include "log.h"
#include "macro.h"
#include "registry.h"

static int get_containers(sd_bus *bus, const char *path, const char *interface, const char *property,
			  sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	CgroupState *cg = userdata;
	int r = sd_bus_message_open_container(reply, 'a', "(ss)");
	if (r < 0)
		return r;
	for (Container *c = cg->containers; c; c = c->cgroup_next) {
		r = sd_bus_message_append(reply, "(ss)", c->id, (c->identity.container_name ?: ""));
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(reply);
}

static int get_pod(sd_bus *bus, const char *path, const char *interface, const char *property,
		   sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	const PodIdentity *id = registry_cgroup_identity(userdata);
	const char *v = !id				  ? NULL
			: streq(property, "PodNamespace") ? id->pod_namespace
			: streq(property, "PodName")	  ? id->pod_name
							  : id->pod_uid;
	return sd_bus_message_append(reply, "s", (v ?: ""));
}

static int get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
		     sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
	CgroupState *cg = userdata;
	return sd_bus_message_append(reply, "s", cgroup_status_name(cg->status));
}

#define CHANGE SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

static const sd_bus_vtable cgroup_vtable[] = {
	SD_BUS_VTABLE_START (0),
	SD_BUS_PROPERTY("Path", "s", NULL, offsetof(CgroupState, path), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Containers", "a(ss)", get_containers, 0, CHANGE),
	SD_BUS_PROPERTY("PodNamespace", "s", get_pod, 0, CHANGE),
	SD_BUS_PROPERTY("PodName", "s", get_pod, 0, CHANGE),
	SD_BUS_PROPERTY("PodUID", "s", get_pod, 0, CHANGE),
	SD_BUS_PROPERTY("TrustDomain", "s", NULL, offsetof(CgroupState, trust_domain), CHANGE),
	SD_BUS_PROPERTY("Processes", "u", NULL, offsetof(CgroupState, processes), CHANGE),
	SD_BUS_PROPERTY("MergingPages", "t", NULL, offsetof(CgroupState, merging_pages), CHANGE),
	SD_BUS_PROPERTY("RmapItems", "t", NULL, offsetof(CgroupState, rmap_items), CHANGE),
	SD_BUS_PROPERTY("ZeroPages", "t", NULL, offsetof(CgroupState, zero_pages), CHANGE),
	SD_BUS_PROPERTY("Profit", "x", NULL, offsetof(CgroupState, profit), CHANGE),
	SD_BUS_PROPERTY("MergeDebt", "t", NULL, offsetof(CgroupState, merge_debt), CHANGE),
	SD_BUS_PROPERTY("MergeBudget", "t", NULL, offsetof(CgroupState, merge_budget), CHANGE),
	SD_BUS_PROPERTY("SwapBudget", "t", NULL, offsetof(CgroupState, swap_budget), CHANGE),
	SD_BUS_PROPERTY("State", "s", get_state, 0, CHANGE),
	SD_BUS_PROPERTY("LastSweepUSec", "t", NULL, offsetof(CgroupState, last_sweep_usec), 0),
	/* set when an estimate that read this cgroup ends (estimate-bus.c) */
	SD_BUS_PROPERTY("EstimatedSavings", "t", NULL, offsetof(CgroupState, estimated_savings), 0),
	SD_BUS_VTABLE_END,
};

/* For anyone but root and ReaderGroup=, every path below the prefix is
 * AccessDenied, whether a cgroup object exists there or not: Get, GetAll
 * and Introspect tell nothing about which cgroups are managed. */
static int cgroup_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
		       sd_bus_error *error)
{
	Manager *m = userdata;
	if (!startswith(path, PAGEMELD_CGROUP_PREFIX "/"))
		return 0;
	int r = bus_current_caller_is_reader(bus, m, error);
	if (r < 0)
		return r;
	if (r == 0)
		return sd_bus_error_set(error, PM_ERROR_ACCESS_DENIED,
					"Per-cgroup data is for root and the reader group only");
	CgroupState *cg = registry_find_cgroup_by_object(m, path);
	if (!cg)
		return 0;
	*found = cg;
	return 1;
}

static int cgroup_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
	Manager *m = userdata;
	int r = bus_current_caller_is_reader(bus, m, error);
	if (r < 0)
		return r;
	/* Others introspect an empty node: no cgroup path is listed. */
	size_t n = r > 0 ? m->n_cgroups : 0;
	char **l = calloc(n + 1, sizeof(char *));
	size_t i = 0;
	if (!l)
		return -ENOMEM;
	for (CgroupState *cg = m->cgroups; cg && i < n; cg = cg->next)
		if (!(l[i++] = strdup(cg->object_path))) {
			strv_free(l);
			return -ENOMEM;
		}
	*nodes = l;
	return 0;
}

/* The properties each CgroupDirty bit announces. */
static const struct {
	CgroupDirty bit;
	const char *names[8];
} dirty_properties[] = {
	{CGROUP_DIRTY_FIGURES,
	 {"Processes", "MergingPages", "RmapItems", "ZeroPages", "Profit", "MergeDebt", "State"}},
	{CGROUP_DIRTY_BUDGETS, {"MergeBudget", "SwapBudget", "State"}},
};

void cgroup_bus_flush(Manager *m)
{
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		if (!cg->dirty)
			continue;
		const char *names[16];
		size_t n = 0;
		for (size_t i = 0; i < ELEMENTSOF(dirty_properties); i++) {
			if (!(cg->dirty & dirty_properties[i].bit))
				continue;
			for (const char *const *p = dirty_properties[i].names; *p; p++) {
				bool seen = false;
				for (size_t j = 0; j < n && !seen; j++)
					seen = streq(names[j], *p);
				if (!seen)
					names[n++] = *p;
			}
		}
		names[n] = NULL;
		cg->dirty = 0;
		int r = sd_bus_emit_properties_changed_strv(m->bus, cg->object_path,
							    PAGEMELD_CGROUP_INTERFACE, (char **)names);
		if (r < 0)
			log_debug_errno(r, "Cannot emit PropertiesChanged for %s: %m", cg->path);
	}
}

int cgroup_bus_add(Manager *m)
{
	int r = sd_bus_add_fallback_vtable(m->bus, NULL, PAGEMELD_CGROUP_PREFIX, PAGEMELD_CGROUP_INTERFACE,
					   cgroup_vtable, cgroup_find, m);
	if (r < 0)
		return log_error_errno(r, "Cannot add the Cgroup vtable: %m");
	r = sd_bus_add_node_enumerator(m->bus, NULL, PAGEMELD_CGROUP_PREFIX, cgroup_enumerate, m);
	if (r < 0)
		return log_error_errno(r, "Cannot add the cgroup enumerator: %m");
	return 0;
}
