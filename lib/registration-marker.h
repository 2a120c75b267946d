/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* pagemeldd keeps one file per registered container in
 * <state dir>/containers/, holding the container's record: written before
 * merging is switched on, removed at unregistration, it is what says a
 * container is registered (the state file is a snapshot reconciled with
 * the markers at start: daemon/persist.h).
 * The poststop hook reads it to tell, without loading
 * libsystemd or calling over D-Bus, that a container is not registered —
 * pagemeldd unregisters a container by itself when its init exits, which
 * is usually before the runtime runs poststop. A missing directory means
 * "unknown": the hook then asks pagemeldd. */

#define PAGEMELD_STATE_DIR_DEFAULT "/run/pagemeld"
#define REGISTRATION_MARKER_DIR "containers"

/* $PAGEMELD_STATE_DIR if set and absolute, else /run/pagemeld. */
const char *pagemeld_state_dir(void);

/* "<state_dir>/containers"; malloc'd, NULL on OOM. */
char *registration_marker_dir(const char *state_dir);

/* "<state_dir>/containers/<id>" with the id escaped into one file name:
 * bytes outside [A-Za-z0-9_.:-], and a leading '.', as %XX. malloc'd,
 * NULL on OOM. */
char *registration_marker_path(const char *state_dir, const char *id);

/* The container id a marker's file name stands for (the inverse of the
 * escaping above); malloc'd. -EINVAL for a name no id escapes to. */
int registration_marker_id(const char *name, char **ret);
