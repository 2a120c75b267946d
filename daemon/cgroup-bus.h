/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

/* The io.pagemeld1.Cgroup objects under /io/pagemeld1/cgroup (a fallback
 * vtable with a node enumerator: objects exist exactly while the registry
 * holds their cgroup). */
int cgroup_bus_add(Manager *m);
/* PropertiesChanged for every cgroup marked dirty (cgroup_mark_dirty). */
void cgroup_bus_flush(Manager *m);
