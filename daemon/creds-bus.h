/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "state.h"

/* The uid of a method call's sender, as the bus driver reports it
 * (SO_PEERCRED: the effective uid at connect time; an explicit EUID is
 * preferred). io.pagemeld1.Error.AccessDenied when it cannot be had.
 * Remembered per unique name (never reused on a bus), so a caller costs one
 * round trip to the bus driver per connection, not one per call. */
int bus_sender_uid(sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error);

/* Root, or a member of [Daemon] ReaderGroup= (by the caller's uid; group
 * files re-read at most every few seconds per caller): 1 yes, 0 no,
 * negative when the caller cannot be identified (error set). Logs nothing. */
int bus_caller_is_reader(Manager *m, sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error);

/* bus_caller_is_reader() for the message being dispatched on bus (a
 * property getter's caller). No message: the daemon itself, emitting
 * PropertiesChanged, which the bus policy filters: 1. */
int bus_current_caller_is_reader(sd_bus *bus, Manager *m, sd_bus_error *error);

/* bus_caller_is_reader(), with io.pagemeld1.Error.AccessDenied for anyone
 * else; a refusal is logged once per caller and membership check, so a
 * flood of refused calls does not flood the journal. */
int bus_check_reader(Manager *m, sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error);
