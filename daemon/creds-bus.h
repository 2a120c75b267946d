/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>

/* The uid of a method call's sender, as the bus driver reports it
 * (SO_PEERCRED: the effective uid at connect time; an explicit EUID is
 * preferred). io.pagemeld1.Error.AccessDenied when it cannot be had. */
int bus_sender_uid(sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error);
