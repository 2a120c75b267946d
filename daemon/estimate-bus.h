/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Estimate / CancelEstimate on io.pagemeld1.Manager (rows in manager-bus.c's
 * vtable) and their signals. Each call starts an EstimateJob (estimate-job.h,
 * a SCHED_IDLE child); its progress and result go to the caller alone, as
 * signals with the caller as destination: per-cgroup figures are not for
 * every listener on the bus, and a caller that leaves the bus cancels its
 * estimate. Callers: root, or a member of [Daemon]
 * ReaderGroup=. Cross-cgroup figures (the union's duplicates, marginal
 * savings) tell one tenant about another's memory: only root gets them.
 */

#include <systemd/sd-bus.h>

#include "state.h"

int bus_method_estimate(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_method_cancel_estimate(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* Kill every running estimate (the daemon stops). */
void estimate_bus_free_all(Manager *m);
