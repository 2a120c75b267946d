/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /proc/PID/ksm_stat, with /proc/PID/ksm_merging_pages as the fallback on
 * kernels that predate ksm_stat. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum KsmTristate {
	KSM_TRISTATE_ABSENT = -1,
	KSM_TRISTATE_NO = 0,
	KSM_TRISTATE_YES = 1,
} KsmTristate;

typedef struct KsmStat {
	uint64_t rmap_items;
	uint64_t zero_pages;
	uint64_t merging_pages;
	int64_t process_profit;
	KsmTristate merge_any; /* 6.14+ */
	KsmTristate mergeable; /* 6.14+ */
	bool from_ksm_stat;    /* false: only merging_pages is known */
} KsmStat;

/* proc_root is normally "/proc". -ENOENT/-ESRCH when the process is gone. */
int ksm_stat_read(const char *proc_root, pid_t pid, KsmStat *ret);
/* Same, through an open /proc/PID directory fd (pidfd-checked by the caller). */
int ksm_stat_read_at(int proc_pid_dirfd, KsmStat *ret);
/* Parse the text of a ksm_stat file (exposed for unit tests and fuzzing). */
int ksm_stat_parse(const char *text, KsmStat *ret);
