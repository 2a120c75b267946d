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
 * kernel defaults (100 pages / 20 ms). */
int scan_policy_compute(const ScanPolicyConfig *c, uint64_t managed_pages, ScanPolicy *ret);

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
