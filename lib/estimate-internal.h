/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The estimator's state, shared by the core (estimate.c) and the /proc
 * walker (estimate-proc.c); not for other users. */

#include "estimate.h"

typedef struct GroupState {
	bool managed;
	uint64_t pages_scanned, zero_pages, volatile_pages, unreadable_pages, forked_pages;
} GroupState;

struct Entry;

struct Estimator {
	EstimatorConfig config;
	uint64_t max_table_bytes;
	size_t page_size;
	void *zero; /* one page of zeros */
	uint64_t zero_hash;

	struct Entry *table; /* 2^bits slots, at most half used */
	unsigned bits;
	size_t used;
	unsigned sample_shift;
	uint64_t *pinned; /* contents never sampled: 2^pinned_bits slots */
	unsigned pinned_bits;
	uint64_t table_bytes_peak;

	GroupState *groups;
	size_t n_groups;

	/* the walker's: two copy buffers, the zero page's PFN, the rate clock */
	void *copy[2];
	uint64_t zero_pfn; /* 0: unknown */
	bool zero_pfn_probed;
	uint64_t *pfns; /* PFNs of pages mapped more than once: 2^pfn_bits slots */
	unsigned pfn_bits;
	size_t pfn_used;
	uint64_t bytes_read;
	int64_t rate_start_ns;
};

void estimator_walker_free(Estimator *e);
