/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What KSM would save, before it is switched on: read the pages KSM would
 * scan, hash each one, count identical contents.
 *
 * Two layers. The core (estimate.c) takes page buffers and a group index
 * (one group per cgroup) and does the hashing and accounting; it needs no
 * privilege and the unit tests feed it synthetic memory. The walker
 * (estimate-proc.c) finds the pages of a process and feeds them to the core:
 * it needs CAP_SYS_PTRACE for process_vm_readv of other users' processes and
 * CAP_SYS_ADMIN to see PFNs in pagemap (without, mappings of the shared zero
 * page cannot be told from written zero pages).
 *
 * Which pages: every present page of a private mapping that pagemap does not
 * mark file-backed or shared (so: anonymous pages, including the copied
 * pages of private file mappings), that is not the shared zero page, swapped
 * out or in a [vvar]/[vdso]/[vsyscall] mapping. KSM, merge-any, scans the
 * same set (hugetlb and VM_IO/PFNMAP mappings excepted, which maps does not
 * show; such mappings fail to read and count as pages_unreadable).
 *
 * Hash: XXH3 64-bit (libxxhash). The expected number of colliding content
 * pairs among n distinct pages is n^2 / 2^65: 3e-6 at 1e7 pages (40 GiB), so
 * hits are not verified with memcmp.
 *
 * Pages shared by fork: a page mapped by several scanned processes (or
 * twice in one) is one physical page; with PFNs visible it is hashed once
 * and its other mappings are counted as forked_pages. KSM never merges a
 * page with itself, so what merging frees is counted once, as here. (Where
 * a third copy exists, KSM moves every mapping to the KSM page and
 * pages_sharing counts each of them, more than the memory it frees.)
 *
 * Volatile pages: each batch is copied twice, a batch apart in time; a page
 * whose two copies differ is counted in pages_volatile and kept out of the
 * table (KSM leaves such pages unmerged too: its pages_volatile). Pages that
 * change more slowly than that are counted with the content they had; KSM,
 * which needs an unchanged checksum over one scan interval, would merge them
 * for as long as they stay unchanged.
 *
 * Memory: the table holds one 16-byte entry per distinct (content, group)
 * at a load factor of at most 1/2, so at most 8 MiB per GiB of distinct
 * pages, plus two 256 KiB copy buffers, plus 16 bytes per page mapped more
 * than once (the PFN set above); zero pages take no entry. When the
 * table would grow past max_table_bytes, the estimator samples by content:
 * it keeps only contents whose hash is 0 modulo M = 2^sample_shift (raising
 * the shift as needed, dropping the rest) and scales their counts by M. All
 * copies of a content are kept or dropped together. While a table is
 * rebuilt the old one still exists: the peak is at most 1.5 * max_table_bytes
 * plus the pinned set (at most 1/8 of that), reported as table_bytes_peak.
 *
 * Error bound: just before sampling starts every count is exact; the
 * heaviest contents then (whose entries fill at most 1/8 of the table) are
 * pinned and counted exactly from then on, so no single content decides
 * the estimate by falling on one side of the mask. The rest is an unbiased
 * estimate (over the hash) with the standard error reported as
 * dup_stderr_pages: sqrt((M - 1) * sum over unpinned contents of
 * saving(content)^2), the sum estimated as M times that over the kept
 * ones. A content that grows heavy only after sampling started is not
 * pinned; if the sample misses it, the figure understates the error.
 */

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* sizeof(struct ksm_rmap_item) on 64-bit kernels: KSM's metadata per page
 * it scans, the term its profit formula subtracts. */
#define ESTIMATE_RMAP_ITEM_BYTES 64

#define ESTIMATE_DEFAULT_MAX_TABLE_BYTES (64ULL << 20)

typedef struct Estimator Estimator;

typedef struct EstimatorConfig {
	/* The table never grows past this (0: the default); above, sampling. */
	uint64_t max_table_bytes;
	/* KSM's knobs that shape what merging saves (read them from sysfs):
	 * use_zero_pages maps zero pages to the zero page (each one saved)
	 * instead of merging them as ordinary content; max_page_sharing (0:
	 * unlimited) splits n identical pages into ceil(n / max) KSM pages. */
	bool use_zero_pages;
	uint64_t max_page_sharing;
	/* Copy each batch once only: faster, but counts volatile pages. */
	bool no_volatile_check;

	/* For a worker thread: the walker calls progress after every batch (a
	 * negative return stops the scan with that error), stops with
	 * -ECANCELED when *cancel becomes true, and sleeps to read at most
	 * max_bytes_per_sec (0: no limit). All optional. */
	int (*progress)(void *userdata, uint64_t bytes_read);
	void *userdata;
	const atomic_bool *cancel;
	uint64_t max_bytes_per_sec;
} EstimatorConfig;

typedef struct EstimateGroup {
	uint64_t pages_scanned;	   /* pages read (KSM would give each an rmap_item) */
	uint64_t zero_pages;	   /* of which all zero */
	uint64_t volatile_pages;   /* of which changed between the two copies */
	uint64_t unreadable_pages; /* present in pagemap but not readable */
	/* of pages_scanned: a physical page already counted through another
	 * mapping (fork's copy-on-write sharing); hashed once */
	uint64_t forked_pages;
	/* Pages freed if only this group merged (zero pages included as KSM's
	 * use_zero_pages says). */
	uint64_t dup_within_pages;
	/* Pages freed by adding this group to the managed groups (for a managed
	 * group: what the managed set would lose without it). */
	uint64_t marginal_pages;
	/* The same in bytes after KSM's metadata: marginal_pages * PAGE_SIZE -
	 * pages_scanned * ESTIMATE_RMAP_ITEM_BYTES. */
	int64_t marginal_profit_bytes;
} EstimateGroup;

typedef struct EstimateResult {
	uint64_t pages_scanned, zero_pages, volatile_pages, unreadable_pages, forked_pages;
	/* Pages freed if all groups merged together: what the global
	 * pages_sharing + ksm_zero_pages would grow by. */
	uint64_t dup_pages;
	/* Distinct KSM pages that would hold them (~ pages_shared; zero pages
	 * excluded when use_zero_pages). The per-process ksm_merging_pages sum
	 * to dup_pages + ksm_pages. */
	uint64_t ksm_pages;
	uint64_t dup_within_pages;  /* sum of the groups' dup_within_pages */
	uint64_t dup_across_pages;  /* dup_pages - dup_within_pages */
	uint64_t managed_dup_pages; /* pages freed by the managed groups alone */
	/* KSM's general_profit for merging everything: dup_pages * PAGE_SIZE -
	 * pages_scanned * ESTIMATE_RMAP_ITEM_BYTES. */
	int64_t profit_bytes;
	unsigned sample_shift;	 /* 0: every page counted */
	double dup_stderr_pages; /* 0 when not sampled */
	uint64_t table_bytes_peak;
	size_t n_groups;
	EstimateGroup *groups; /* owned by the result */
} EstimateResult;

/* An Estimator is used by one thread at a time; only *config.cancel may be
 * set from another. */
int estimator_new(const EstimatorConfig *config, Estimator **ret);
Estimator *estimator_free(Estimator *e);
static inline void estimator_freep(Estimator **e)
{
	if (*e)
		estimator_free(*e);
}
#define _cleanup_estimator_ __attribute__((cleanup(estimator_freep)))

/* A new group (one per cgroup); managed: already merging. */
int estimator_add_group(Estimator *e, bool managed, unsigned *ret_group);
size_t estimator_page_size(const Estimator *e);

/* Count n_pages pages of buf (page-size each) for group. */
int estimator_add_pages(Estimator *e, unsigned group, const void *buf, size_t n_pages);
/* Count pages left out of the table (see EstimateGroup): volatile pages
 * were read, so they count as scanned too; unreadable ones do not. */
void estimator_count_volatile(Estimator *e, unsigned group, uint64_t n_pages);
void estimator_count_unreadable(Estimator *e, unsigned group, uint64_t n_pages);
/* Mappings of a page counted already (scanned, not hashed again). */
void estimator_count_forked(Estimator *e, unsigned group, uint64_t n_pages);

int estimator_result(const Estimator *e, EstimateResult *ret);
void estimate_result_done(EstimateResult *r);

/* The walker: every eligible page of pid (see above) into group. proc_root
 * is normally "/proc"; pid must be a pid of the caller's pid namespace.
 * -ESRCH: the process is gone (a kernel thread has no pages to scan);
 * -ECANCELED; -EPERM without CAP_SYS_PTRACE over pid. */
int estimator_scan_pid(Estimator *e, const char *proc_root, pid_t pid, unsigned group);
/* Every process of a cgroup (cgroup.procs under the v2 mount); processes
 * that exit meanwhile are skipped. */
int estimator_scan_cgroup(Estimator *e, const char *proc_root, const char *cg_mount, const char *cg_path,
			  unsigned group);

/* One line of /proc/PID/maps: true in *ret_scan when KSM would scan it
 * (private, not a special mapping). Exposed for unit tests. */
int estimate_parse_maps_line(const char *line, uint64_t *ret_start, uint64_t *ret_end, bool *ret_scan);
