/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The [Hook] section of /etc/pagemeld/pagemeld.conf (INI, read with inih;
 * the other sections belong to pagemeldd and are skipped):
 *
 *   [Hook]
 *   TimeoutMSec=2000    # D-Bus call timeout, 1..60000
 *   FailMode=open       # open: start the container unmerged when pagemeld
 *                       # is unavailable; closed: fail the container
 *
 * [hook], timeout-ms= and fail-mode= are accepted as other spellings.
 */

#include <stdbool.h>
#include <stdint.h>

#include "oci-state.h"

#define HOOK_CONFIG_PATH "/etc/pagemeld/pagemeld.conf"
#define HOOK_TIMEOUT_MS_DEFAULT 2000
#define HOOK_TIMEOUT_MS_MAX 60000

typedef enum HookFailMode {
	HOOK_FAIL_OPEN,
	HOOK_FAIL_CLOSED,
} HookFailMode;

typedef struct HookConfig {
	uint64_t timeout_ms;
	HookFailMode fail_mode;
} HookConfig;

void hook_config_init(HookConfig *c);
int hook_fail_mode_from_string(const char *s, HookFailMode *ret);
int hook_timeout_ms_from_string(const char *s, uint64_t *ret);

/* Read path into *c. A missing file is fine (-ENOENT, *c untouched) unless
 * must_exist; a bad line or value is -EINVAL with a reason in *err. */
int hook_config_load(const char *path, bool must_exist, HookConfig *c, HookError *err);

/* For a file hook_config_load() refused: the last valid FailMode= of its
 * [Hook] section, so an operator's fail-mode still governs what a mistake
 * elsewhere in the file does. -ENOENT when there is none (or no file). */
int hook_config_salvage_fail_mode(const char *path, HookFailMode *ret);
