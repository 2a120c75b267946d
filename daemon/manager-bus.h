/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

/* The io.pagemeld1.Manager vtable on /io/pagemeld1. */
int manager_bus_add(Manager *m);

/* Every method and property write: the caller must be root (the bus policy
 * says so too; this is the second check). io.pagemeld1.Error.AccessDenied. */
int bus_check_root(sd_bus_message *msg, sd_bus_error *error);
