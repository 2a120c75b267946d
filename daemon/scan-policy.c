/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "scan-policy.h"

#include <assert.h>
#include <errno.h>
#include <math.h>

#include "macro.h"

static uint64_t clamp_u64(double v, uint64_t lo, uint64_t hi)
{
	if (!(v > (double)lo)) /* also NaN */
		return lo;
	if (v >= (double)hi)
		return hi;
	return (uint64_t)ceil(v);
}

/* The kernel defaults' rate in the model: 100 pages per (20 ms + their work). */
static double kernel_default_rate(double k)
{
	return 100.0 / (20.0 + 100.0 / k);
}

int scan_policy_compute(const ScanPolicyConfig *c, uint64_t managed_pages, bool burst, ScanPolicy *ret)
{
	if (c->target_scan_ms == 0 || !(c->cpu_budget > 0) || c->cpu_budget > 1 ||
	    !(c->pages_per_cpu_ms > 0) || c->sleep_ms == 0 || c->min_pages_to_scan == 0 ||
	    c->max_pages_to_scan < c->min_pages_to_scan || c->max_sleep_ms < c->sleep_ms)
		return -EINVAL;

	ScanPolicy p = {};
	if (managed_pages == 0) {
		p.pages_to_scan = 100;
		p.sleep_ms = 20;
		p.rate_pages_per_ms = kernel_default_rate(c->pages_per_cpu_ms);
		p.cpu_share = p.rate_pages_per_ms / c->pages_per_cpu_ms;
		*ret = p;
		return 0;
	}

	double k = c->pages_per_cpu_ms;
	double rate = (double)managed_pages / (double)c->target_scan_ms;
	/* Never plan ksmd at 100%: the formula for P diverges at f = 1. */
	double cap = MIN(c->cpu_budget, 0.95) * k;
	if (c->floor_kernel_defaults)
		rate = MAX(rate, kernel_default_rate(k));
	if (burst)
		rate = cap;
	else if (rate > cap) {
		rate = cap;
		p.capped = true;
	}
	double f = rate / k;
	double s = (double)c->sleep_ms;
	double pages = rate * s / (1.0 - f);
	if (pages < (double)c->min_pages_to_scan) {
		/* Slow scans: keep the batch, sleep longer. */
		pages = (double)c->min_pages_to_scan;
		s = pages * (1.0 - f) / rate;
		if (s > (double)c->max_sleep_ms)
			s = (double)c->max_sleep_ms; /* scans faster than asked: harmless */
	}
	/* Round the sleep down and the batch up: never slower than planned. */
	p.sleep_ms = s < 1.0 ? 1 : MIN((uint64_t)floor(s), c->max_sleep_ms);
	p.pages_to_scan = clamp_u64(pages, c->min_pages_to_scan, c->max_pages_to_scan);
	/* Report what the rounded knobs really give. */
	double work = (double)p.pages_to_scan / k;
	p.rate_pages_per_ms = (double)p.pages_to_scan / ((double)p.sleep_ms + work);
	p.cpu_share = work / ((double)p.sleep_ms + work);
	p.scan_time_ms = (uint64_t)ceil((double)managed_pages / p.rate_pages_per_ms);
	*ret = p;
	return 0;
}

int scan_policy_advisor(const ScanPolicyConfig *c, ScanAdvisorSettings *ret)
{
	if (c->target_scan_ms == 0 || !(c->cpu_budget > 0) || c->cpu_budget > 1)
		return -EINVAL;
	ret->target_scan_time_s = MAX((c->target_scan_ms + 999) / 1000, (uint64_t)1);
	ret->max_cpu_percent = clamp_u64(c->cpu_budget * 100.0, 1, 100);
	return 0;
}

int scan_policy_calibrate(uint64_t pages_scanned, uint64_t cpu_ticks, long ticks_per_s, double *ret)
{
	if (cpu_ticks == 0 || ticks_per_s <= 0)
		return -EDOM; /* too short a sample to measure */
	double cpu_ms = (double)cpu_ticks * 1000.0 / (double)ticks_per_s;
	*ret = (double)pages_scanned / cpu_ms;
	return 0;
}

bool scan_policy_burst(const ScanPolicyConfig *c, ScanBurst *b, uint64_t cgroups_added, uint64_t full_scans)
{
	assert(b);
	if (c->burst_full_scans == 0)
		return false;
	/* A counter that went back is ksmd restarted after an unmerge-all
	 * (run=2): every page is new to it again. */
	if (cgroups_added != b->cgroups_added || (b->started && full_scans < b->start_full_scans)) {
		b->cgroups_added = cgroups_added;
		b->start_full_scans = full_scans;
		b->end_full_scans = full_scans + c->burst_full_scans;
		b->started = true;
	}
	return b->started && full_scans < b->end_full_scans;
}
