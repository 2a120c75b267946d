/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /proc/meminfo, the fields pagemeld's headroom predictions use, in bytes. */

#include <stdbool.h>
#include <stdint.h>

typedef struct MemInfo {
	uint64_t mem_total;
	uint64_t mem_free;
	uint64_t mem_available;
	uint64_t swap_total;
	uint64_t swap_free;
	bool mem_available_present; /* "MemAvailable" exists since 3.14 */
} MemInfo;

/* proc_root is normally "/proc". -EINVAL when MemTotal/MemFree/SwapFree are
 * missing or garbled. */
int meminfo_read(const char *proc_root, MemInfo *ret);
/* Parse the text of a meminfo file (exposed for unit tests and fuzzing). */
int meminfo_parse(const char *text, MemInfo *ret);
