/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

/* The io.pagemeld1.Manager vtable on /io/pagemeld1, and the flush source
 * that sends PropertiesChanged for what the core marked dirty, once per
 * event-loop iteration. */
int manager_bus_add(Manager *m);

/* Signals; they call nothing back. */
void bus_emit_cgroup_added(Manager *m, CgroupState *cg);
void bus_emit_cgroup_removed(Manager *m, CgroupState *cg);
void bus_emit_budget_exceeded(Manager *m, CgroupState *cg, uint64_t debt, uint64_t limit);
void bus_emit_unmerge_finished(Manager *m, bool ok, const char *error);

/* Every method and property write: the caller must be root (the bus policy
 * says so too; this is the second check). io.pagemeld1.Error.AccessDenied. */
int bus_check_root(sd_bus_message *msg, sd_bus_error *error);
