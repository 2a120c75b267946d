/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers the daemon files share (not worth a lib/ API change). */

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

#define log_oom() log_error_errno(ENOMEM, "Out of memory")

static inline const char *strempty(const char *s)
{
	return s ?: "";
}

static inline const char *strna(const char *s)
{
	return s ?: "n/a";
}

/* p = mfree(p): free and forget in one expression. */
static inline void *mfree(void *p)
{
	free(p);
	return NULL;
}

static inline uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}
