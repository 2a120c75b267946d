/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* struct sched_attr (SCHED_ATTR_SIZE_VER1) for the raw sched_getattr(2) and
 * sched_setattr(2): <linux/sched/types.h> clashes with glibc's <sched.h>
 * before 2.41. */
typedef struct SchedAttr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
} SchedAttr;

#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif
