/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/pagemeld/pagemeld.conf (INI, parsed by inih). Pure: no daemon state,
 * so tests/unit/test-config.c links it alone. Every key is documented in
 * packaging/pagemeld.conf. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trust-domain.h"

#define CONFIG_PATH_DEFAULT "/etc/pagemeld/pagemeld.conf"
/* ksmd's scan rate, measured by bench/ksmd_calibrate.py on the 2-core
 * x86_64 development machine (kernel 6.18, half merged/half unique pages):
 * 305 pages per CPU-ms. Override with [Scan] KsmdPagesPerCpuMs=. */
#define KSMD_PAGES_PER_CPU_MS_DEFAULT 300.0
/* The estimator reads at most this much per second by default: a quarter
 * of what one core of the development machine hashes (bench/estimate.py). */
#define ESTIMATE_RATE_MIBPS_DEFAULT 256
#define READER_GROUP_DEFAULT "pagemeld"

typedef enum TrustDomainMode {
	TRUST_DOMAIN_MODE_IGNORE, /* "off" (alias "ignore"): every domain merges, as the kernel would */
	TRUST_DOMAIN_MODE_SINGLE, /* only one trust domain merges on this node */
	_TRUST_DOMAIN_MODE_MAX,
} TrustDomainMode;

/* An optional KSM knob: written at start-up (and reload) when set. */
typedef struct ConfigKnob {
	bool set;
	uint64_t value;
} ConfigKnob;

typedef struct Config {
	/* [Daemon] */
	uint64_t sweep_interval_usec; /* SweepIntervalSec, > 0 */
	int log_level;		      /* LogLevel */
	bool start_ksm;		      /* StartKsm: run=1 when the first cgroup registers */
	/* InjectStallMSec, InjectTimeoutSec: an injection into a tenant's
	 * process is given up once its thread has not run for the first, or
	 * after the second in all (lib/remote.h remote_set_timeouts()) */
	uint64_t inject_stall_usec;
	uint64_t inject_timeout_usec;
	/* [Budgets] UINT64_MAX = unlimited */
	uint64_t default_merge_budget; /* DefaultMergeBudget */
	uint64_t default_swap_budget;  /* DefaultSwapBudget; UINT64_MAX = leave memory.swap.max */
	uint64_t max_merge_budget;     /* MaxMergeBudget: caps merge-budget.pagemeld.io */
	uint64_t headroom_margin;      /* HeadroomMargin: kept free in a cgroup */
	uint64_t unmerge_all_margin;   /* UnmergeAllMargin: kept free node-wide by UnmergeAll */
	/* [Scan] */
	ConfigKnob pages_to_scan;
	ConfigKnob sleep_millisecs;
	ConfigKnob use_zero_pages;
	ConfigKnob smart_scan;
	ConfigKnob max_page_sharing;
	char *advisor_mode; /* NULL = leave it */
	/* scan policy: kernel = leave the knobs to [Scan] above;
	 * pagemeld = pages_to_scan/sleep_millisecs from the managed memory;
	 * advisor = the kernel's scan-time advisor with the same target */
	int scan_policy;	      /* ScanPolicy */
	uint64_t target_scan_usec;    /* TargetScanSec */
	double ksmd_cpu_budget;	      /* KsmdCpuPercent / 100 */
	double ksmd_pages_per_cpu_ms; /* KsmdPagesPerCpuMs (bench/ksmd-calibrate) */
	/* [Estimate] */
	uint64_t estimate_rate; /* RateMiBps, bytes per second read; 0: unlimited */
	/* [Daemon] ReaderGroup: besides root, who may read per-cgroup data
	 * (Estimate); NULL: root only */
	char *reader_group;
	/* [TrustDomain] */
	TrustDomainMode trust_domain_mode;
	char *trust_domain; /* Domain=, NULL = the first one that registers */
	/* Namespace=GLOB DOMAIN, in order; none: each namespace is its own domain */
	TrustDomainRule *trust_rules;
	size_t n_trust_rules;
	char *trust_no_namespace; /* NoNamespaceDomain= */
} Config;

/* The namespace -> domain map of c (pointers into c). */
TrustDomainMap config_trust_map(const Config *c);

void config_init_defaults(Config *c);
void config_done(Config *c);
/* Parse an INI text over the defaults. -EINVAL with a malloc'd message
 * ("line 3: [Daemon] SweepIntervalSec: ...") in *ret_error. */
int config_parse_string(const char *text, Config *ret, char **ret_error);
/* Same for a file; a missing file gives the defaults (return 0). Other read
 * errors are returned with *ret_error set. */
int config_load(const char *path, Config *ret, char **ret_error);

typedef enum ScanPolicyMode {
	SCAN_POLICY_KERNEL,
	SCAN_POLICY_PAGEMELD,
	SCAN_POLICY_ADVISOR,
	_SCAN_POLICY_MAX,
} ScanPolicyMode;
const char *scan_policy_mode_name(int m);
int scan_policy_mode_from_name(const char *s);

const char *trust_domain_mode_name(TrustDomainMode m);
int trust_domain_mode_from_name(const char *s);
