/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Scan policy (pure): pick pages_to_scan / sleep_millisecs so that one full
 * scan of the opted-in memory takes a target time, capped by a ksmd CPU
 * budget.
 *
 * Model. ksmd wakes, scans P pages (costing P / k ms of CPU, k = pages per
 * CPU-ms, calibrated on the machine: bench/ksmd-calibrate), sleeps s ms.
 *   scan rate  R = P / (s + P/k)       pages per ms
 *   CPU share  f = (P/k) / (s + P/k) = R / k
 * So the CPU share depends on the rate alone; the sleep only sets the
 * granularity. For N managed pages and a target T ms: R = N / T, capped at
 * R <= c * k for a CPU budget c; then P = R * s / (1 - f).
 * The estimate ignores that merged pages cost less to scan than new ones
 * (stable-tree hits skip the checksum) and that ksmd never sleeps less than
 * a jiffy: it is a model, and bench/scan-policy measures it.
 *
 * Two corrections to the target, both measured by bench/savings.py:
 *  - floor: a small managed set at TargetScanSec would be scanned slower
 *    than the kernel defaults (100 pages per 20 ms), i.e. opting in would
 *    make merging slower than not running pagemeld at all. With
 *    floor_kernel_defaults the rate never drops below the defaults' (the
 *    CPU budget still wins over the floor).
 *  - burst: new memory is worth nothing until ksmd has seen it twice (a
 *    page enters the unstable tree only when its checksum held over one
 *    scan), so right after containers register the rate is the CPU budget's
 *    whole rate for burst_full_scans full scans, then it settles to the
 *    target. scan_policy_burst() says when.
 */

#include <stdbool.h>
#include <stdint.h>

typedef struct ScanPolicyConfig {
	uint64_t target_scan_ms;    /* one full scan of the managed memory */
	double cpu_budget;	    /* share of one CPU ksmd may use, 0 < c <= 1 */
	double pages_per_cpu_ms;    /* k, calibrated */
	uint64_t sleep_ms;	    /* preferred sleep (granularity), e.g. 20 */
	uint64_t min_pages_to_scan; /* keep batches at least this big, e.g. 64 */
	uint64_t max_pages_to_scan;
	uint64_t max_sleep_ms;
	bool floor_kernel_defaults; /* never slower than 100 pages / 20 ms */
	unsigned burst_full_scans;  /* full scans at the budget's rate after growth; 0: off */
} ScanPolicyConfig;

#define SCAN_POLICY_CONFIG_DEFAULT                         \
	((ScanPolicyConfig){.target_scan_ms = 60000,       \
			    .cpu_budget = 0.10,            \
			    .pages_per_cpu_ms = 1000,      \
			    .sleep_ms = 20,                \
			    .min_pages_to_scan = 64,       \
			    .max_pages_to_scan = 1u << 20, \
			    .max_sleep_ms = 10000})

typedef struct ScanPolicy {
	uint64_t pages_to_scan;
	uint64_t sleep_ms;
	double rate_pages_per_ms; /* what the model expects ksmd to do */
	double cpu_share;	  /* expected ksmd share of one CPU */
	uint64_t scan_time_ms;	  /* expected full-scan time (>= target when capped) */
	bool capped;		  /* the CPU budget made the scan slower than the target */
} ScanPolicy;

/* -EINVAL for a config outside its ranges. managed_pages == 0 gives the
 * kernel defaults (100 pages / 20 ms). burst: scan at the CPU budget's
 * rate instead of the target's (see scan_policy_burst()). */
int scan_policy_compute(const ScanPolicyConfig *c, uint64_t managed_pages, bool burst, ScanPolicy *ret);

/* Burst bookkeeping, one per daemon, zero-initialised. A burst starts when
 * cgroups_added (a count of the cgroups that joined the managed set: new
 * registrations, restored ones) moves, and lasts until ksmd's full_scans
 * counter has advanced by burst_full_scans, or restarts when that counter
 * goes back (ksmd restarted after an unmerge-all). Not on growth of the managed
 * pages: that measure moves by itself while ksmd builds its rmap items. */
typedef struct ScanBurst {
	uint64_t cgroups_added;
	uint64_t start_full_scans, end_full_scans;
	bool started;
} ScanBurst;
/* Whether to scan in burst now. */
bool scan_policy_burst(const ScanPolicyConfig *c, ScanBurst *b, uint64_t cgroups_added, uint64_t full_scans);

/* The same intent for the kernel's scan-time advisor (6.9+):
 * advisor_target_scan_time in seconds (>= 1), advisor_max_cpu in percent
 * (1..100). */
typedef struct ScanAdvisorSettings {
	uint64_t target_scan_time_s;
	uint64_t max_cpu_percent;
} ScanAdvisorSettings;
int scan_policy_advisor(const ScanPolicyConfig *c, ScanAdvisorSettings *ret);

/* Calibration: pages scanned per CPU-ms from two samples of ksmd's
 * utime+stime (clock ticks) and pages_scanned (or full_scans * pages). */
int scan_policy_calibrate(uint64_t pages_scanned, uint64_t cpu_ticks, long ticks_per_s, double *ret);
