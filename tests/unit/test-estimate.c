/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/estimate on synthetic memory: counts worked out by hand, the sampling
 * bound, and the walker on this process through a fixture maps file. */
#include "unit-util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#include "estimate.h"
#include "fileio.h"
#include "macro.h"

#define PS 4096

typedef struct Pages {
	uint8_t *buf;
	size_t n, cap;
} Pages;

/* Page contents: 0 is all zero, any other tag a distinct pattern. */
static void put(Pages *p, uint32_t tag, size_t copies)
{
	for (size_t i = 0; i < copies; i++) {
		if (p->n == p->cap) {
			p->cap = p->cap ? p->cap * 2 : 64;
			p->buf = realloc(p->buf, p->cap * PS);
			assert_non_null(p->buf);
		}
		uint8_t *pg = p->buf + p->n++ * PS;
		memset(pg, 0, PS);
		if (tag != 0)
			for (size_t w = 0; w < PS / sizeof(uint32_t); w++)
				((uint32_t *)pg)[w] = tag * 2654435761u + (uint32_t)w;
	}
}

static void add(Estimator *e, unsigned g, Pages *p)
{
	assert_int_equal(estimator_add_pages(e, g, p->buf, p->n), 0);
	free(p->buf);
	*p = (Pages){};
}

static Estimator *new_estimator(bool use_zero_pages, uint64_t max_page_sharing, uint64_t max_table_bytes)
{
	if (sysconf(_SC_PAGESIZE) != PS)
		skip();
	EstimatorConfig c = {
		.use_zero_pages = use_zero_pages,
		.max_page_sharing = max_page_sharing,
		.max_table_bytes = max_table_bytes,
	};
	Estimator *e;
	assert_int_equal(estimator_new(&c, &e), 0);
	return e;
}

static void test_one_group(void **state)
{
	/* 10 x A, 5 unique, 3 zero */
	for (int use_zero = 0; use_zero <= 1; use_zero++) {
		_cleanup_estimator_ Estimator *e = new_estimator(use_zero, 0, 0);
		unsigned g;
		assert_int_equal(estimator_add_group(e, false, &g), 0);
		Pages p = {};
		put(&p, 1, 10);
		for (uint32_t t = 100; t < 105; t++)
			put(&p, t, 1);
		put(&p, 0, 3);
		add(e, g, &p);

		EstimateResult r;
		assert_int_equal(estimator_result(e, &r), 0);
		assert_int_equal(r.pages_scanned, 18);
		assert_int_equal(r.zero_pages, 3);
		/* merged: 9 of A; zero pages: 2 merged into one KSM page, or 3
		 * mapped to the zero page */
		assert_int_equal(r.dup_pages, use_zero ? 9 + 3 : 9 + 2);
		assert_int_equal(r.ksm_pages, use_zero ? 1 : 2);
		assert_int_equal(r.dup_within_pages, r.dup_pages);
		assert_int_equal(r.dup_across_pages, 0);
		assert_int_equal(r.managed_dup_pages, 0);
		assert_int_equal(r.groups[0].marginal_pages, r.dup_pages);
		/* KSM's general_profit: (sharing + zero) * PAGE_SIZE - rmap_items * 64 */
		assert_int_equal(r.profit_bytes, (int64_t)r.dup_pages * PS - 18 * 64);
		assert_int_equal(r.sample_shift, 0);
		estimate_result_done(&r);
	}
}

static void test_max_page_sharing(void **state)
{
	/* 10 identical pages, at most 4 sharers per KSM page: 3 KSM pages */
	_cleanup_estimator_ Estimator *e = new_estimator(false, 4, 0);
	unsigned g;
	assert_int_equal(estimator_add_group(e, false, &g), 0);
	Pages p = {};
	put(&p, 7, 10);
	add(e, g, &p);
	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	assert_int_equal(r.ksm_pages, 3);
	assert_int_equal(r.dup_pages, 7);
	estimate_result_done(&r);
}

static void test_groups(void **state)
{
	/* g0 (managed): 3 A, 1 B, 2 zero; g1: 4 A, 2 B, 1 C; g2: 2 C, 1 D */
	_cleanup_estimator_ Estimator *e = new_estimator(false, 0, 0);
	unsigned g0, g1, g2;
	assert_int_equal(estimator_add_group(e, true, &g0), 0);
	assert_int_equal(estimator_add_group(e, false, &g1), 0);
	assert_int_equal(estimator_add_group(e, false, &g2), 0);
	Pages p = {};
	put(&p, 1, 3);
	put(&p, 2, 1);
	put(&p, 0, 2);
	add(e, g0, &p);
	put(&p, 1, 4);
	put(&p, 2, 2);
	put(&p, 3, 1);
	add(e, g1, &p);
	put(&p, 3, 2);
	put(&p, 4, 1);
	add(e, g2, &p);
	assert_int_equal(estimator_add_pages(e, 3, p.buf, 0), -EINVAL);

	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	assert_int_equal(r.n_groups, 3);
	assert_int_equal(r.pages_scanned, 6 + 7 + 3);
	/* all together: A 7 -> 6, B 3 -> 2, C 3 -> 2, zero 2 -> 1 */
	assert_int_equal(r.dup_pages, 6 + 2 + 2 + 1);
	assert_int_equal(r.ksm_pages, 4);
	/* each alone: g0 A 2 + zero 1; g1 A 3 + B 1; g2 C 1 */
	assert_int_equal(r.groups[0].dup_within_pages, 3);
	assert_int_equal(r.groups[1].dup_within_pages, 4);
	assert_int_equal(r.groups[2].dup_within_pages, 1);
	assert_int_equal(r.dup_within_pages, 8);
	assert_int_equal(r.dup_across_pages, 11 - 8);
	/* managed alone (g0): A 2, zero 1 */
	assert_int_equal(r.managed_dup_pages, 3);
	/* g1 joining g0: A 3 -> 7 (+4), B 1 -> 3 (+2), C alone 0 */
	assert_int_equal(r.groups[1].marginal_pages, 6);
	assert_int_equal(r.groups[1].marginal_profit_bytes, 6 * PS - 7 * 64);
	/* g2 joining g0: C 2 -> 1, D 0 */
	assert_int_equal(r.groups[2].marginal_pages, 1);
	/* g0, managed: what the managed set loses without it is all of it */
	assert_int_equal(r.groups[0].marginal_pages, 3);
	assert_int_equal(r.groups[0].zero_pages, 2);
	estimate_result_done(&r);
}

static void test_sampling(void **state)
{
	/* 40000 contents x 3 copies into a 16 KiB table (512 entries): must
	 * sample, stay within its bound, and report a standard error that
	 * covers the truth. */
	const uint64_t max = 16 << 10;
	_cleanup_estimator_ Estimator *e = new_estimator(false, 0, max);
	unsigned g;
	assert_int_equal(estimator_add_group(e, false, &g), 0);
	Pages p = {};
	for (uint32_t t = 1; t <= 40000; t++) {
		put(&p, t, 3);
		if (p.n >= 3000)
			add(e, g, &p);
	}
	add(e, g, &p);
	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	assert_int_equal(r.pages_scanned, 120000);
	assert_true(r.sample_shift > 0);
	assert_true(r.table_bytes_peak <= max * 3 / 2);
	double truth = 80000, err = fabs((double)r.dup_pages - truth);
	printf("# sampled 1/%u: dup %" PRIu64 " (truth 80000), stderr %.0f\n", 1u << r.sample_shift,
	       r.dup_pages, r.dup_stderr_pages);
	assert_true(r.dup_stderr_pages > 0);
	assert_true(err <= 4 * r.dup_stderr_pages);
	/* the expected standard error: sqrt((M - 1) * 40000 * 2^2) */
	double expect = sqrt((double)((1u << r.sample_shift) - 1) * 40000 * 4);
	assert_true(r.dup_stderr_pages > expect / 2 && r.dup_stderr_pages < expect * 2);
	estimate_result_done(&r);
}

static void test_sampling_pins_heavy_content(void **state)
{
	/* One content copied 3000 times before sampling starts: counted
	 * exactly after, also where it shows up in another group later. */
	const uint64_t max = 16 << 10;
	_cleanup_estimator_ Estimator *e = new_estimator(false, 0, max);
	unsigned g0, g1;
	assert_int_equal(estimator_add_group(e, false, &g0), 0);
	assert_int_equal(estimator_add_group(e, false, &g1), 0);
	Pages p = {};
	put(&p, 1, 3000);
	add(e, g0, &p);
	for (uint32_t t = 2; t < 40002; t++) {
		put(&p, t, 2);
		if (p.n >= 3000)
			add(e, g0, &p);
	}
	add(e, g0, &p);
	put(&p, 1, 1000);
	add(e, g1, &p);
	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	printf("# sampled 1/%u with a pinned content: dup %" PRIu64 " (truth 43999), stderr %.0f\n",
	       1u << r.sample_shift, r.dup_pages, r.dup_stderr_pages);
	assert_true(r.sample_shift > 0);
	assert_int_equal(r.groups[1].dup_within_pages, 999);
	assert_int_equal(r.dup_pages - r.dup_within_pages, 1);
	double err = fabs((double)r.dup_pages - 43999);
	assert_true(err <= 4 * r.dup_stderr_pages);
	/* the pinned content adds nothing to the error: sqrt((M - 1) * 40000) */
	double expect = sqrt((double)((1u << r.sample_shift) - 1) * 40000);
	assert_true(r.dup_stderr_pages > expect / 2 && r.dup_stderr_pages < expect * 2);
	estimate_result_done(&r);
}

static void test_maps_line(void **state)
{
	uint64_t s, e;
	bool scan;
	assert_int_equal(
		estimate_parse_maps_line("7f00a000-7f00c000 rw-p 00000000 00:00 0 \n", &s, &e, &scan), 0);
	assert_int_equal(s, 0x7f00a000);
	assert_int_equal(e, 0x7f00c000);
	assert_true(scan);
	assert_int_equal(
		estimate_parse_maps_line("55d0-55e0 r--p 00001000 fe:01 1234   /usr/bin/x\n", &s, &e, &scan),
		0);
	assert_true(scan); /* copied pages of a private file mapping are anonymous */
	assert_int_equal(estimate_parse_maps_line("1000-2000 rw-s 00000000 00:01 5 /dev/zero (deleted)\n", &s,
						  &e, &scan),
			 0);
	assert_false(scan);
	assert_int_equal(estimate_parse_maps_line("1000-2000 ---p 00000000 00:00 0\n", &s, &e, &scan), 0);
	assert_false(scan);
	assert_int_equal(
		estimate_parse_maps_line("7ffd1000-7ffd3000 r--p 00000000 00:00 0  [vvar]\n", &s, &e, &scan),
		0);
	assert_false(scan);
	assert_int_equal(
		estimate_parse_maps_line("7ffd3000-7ffd5000 r-xp 00000000 00:00 0  [vdso]\n", &s, &e, &scan),
		0);
	assert_false(scan);
	assert_int_equal(estimate_parse_maps_line("garbage\n", &s, &e, &scan), -EINVAL);
	assert_int_equal(estimate_parse_maps_line("2000-1000 rw-p 0 0 0\n", &s, &e, &scan), -EINVAL);
}

typedef struct Progress {
	uint64_t calls, bytes;
	atomic_bool cancel;
	uint64_t cancel_after;
} Progress;

static int on_progress(void *userdata, uint64_t bytes)
{
	Progress *p = userdata;
	p->calls++;
	p->bytes = bytes;
	if (p->cancel_after && p->calls >= p->cancel_after)
		atomic_store(&p->cancel, true);
	return 0;
}

/* The walker on this very process, through a fixture proc tree whose maps
 * lists one buffer: 64 x A, 32 unique, 8 written zero, 16 never touched. */
static void scan_self(Progress *prog, uint64_t max_bytes_per_sec, EstimateResult *ret, int *ret_r)
{
	const size_t n = 64 + 32 + 8 + 16;
	uint8_t *buf = mmap(NULL, n * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	Pages p = {};
	put(&p, 1, 64);
	for (uint32_t t = 1000; t < 1032; t++)
		put(&p, t, 1);
	memcpy(buf, p.buf, p.n * PS);
	free(p.buf);
	for (size_t i = 96; i < 104; i++) {
		buf[i * PS] = 1; /* a real page, then zero again */
		buf[i * PS] = 0;
	}

	char *dir = tmpdir_new(), line[256], rel[64];
	snprintf(line, sizeof(line), "%lx-%lx rw-p 00000000 00:00 0 \n", (unsigned long)(uintptr_t)buf,
		 (unsigned long)(uintptr_t)(buf + n * PS));
	snprintf(rel, sizeof(rel), "%d/maps", (int)getpid());
	tree_write(dir, rel, line);
	_cleanup_free_ char *pagemap = strdup_printf("%s/%d/pagemap", dir, (int)getpid());
	assert_int_equal(symlink("/proc/self/pagemap", pagemap), 0);
	_cleanup_free_ char *mem = strdup_printf("%s/%d/mem", dir, (int)getpid());
	assert_int_equal(symlink("/proc/self/mem", mem), 0);
	tree_write(dir, "self/.keep", "");
	_cleanup_free_ char *self_pagemap = strdup_printf("%s/self/pagemap", dir);
	assert_int_equal(symlink("/proc/self/pagemap", self_pagemap), 0);

	EstimatorConfig c = {
		.progress = on_progress,
		.userdata = prog,
		.cancel = &prog->cancel,
		.max_bytes_per_sec = max_bytes_per_sec,
	};
	Estimator *e;
	assert_int_equal(estimator_new(&c, &e), 0);
	unsigned g;
	assert_int_equal(estimator_add_group(e, false, &g), 0);
	*ret_r = estimator_scan_pid(e, dir, getpid(), g);
	assert_int_equal(estimator_scan_pid(e, dir, 999999999, g), -ESRCH);
	assert_int_equal(estimator_result(e, ret), 0);
	estimator_free(e);
	tmpdir_remove(dir);
	munmap(buf, n * PS);
}

static void test_walker_self(void **state)
{
	if (sysconf(_SC_PAGESIZE) != PS)
		skip();
	Progress prog = {};
	EstimateResult r;
	int rc;
	scan_self(&prog, 0, &r, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(r.pages_scanned, 104);
	assert_int_equal(r.zero_pages, 8);
	assert_int_equal(r.volatile_pages, 0);
	assert_int_equal(r.unreadable_pages, 0);
	assert_int_equal(r.dup_pages, 63 + 7);
	assert_true(prog.calls >= 1);
	assert_int_equal(prog.bytes, 104 * PS);
	estimate_result_done(&r);
}

static void test_walker_rate_and_cancel(void **state)
{
	if (sysconf(_SC_PAGESIZE) != PS)
		skip();
	/* 104 pages at 2 MiB/s: at least ~0.2 s once the first batch is in */
	Progress prog = {};
	EstimateResult r;
	int rc;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	scan_self(&prog, 2 << 20, &r, &rc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(rc, 0);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs >= 104.0 * PS / (2 << 20) * 0.9);
	estimate_result_done(&r);

	prog = (Progress){.cancel_after = 1};
	scan_self(&prog, 0, &r, &rc);
	assert_int_equal(rc, -ECANCELED);
	estimate_result_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_group),
		cmocka_unit_test(test_max_page_sharing),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_sampling),
		cmocka_unit_test(test_sampling_pins_heavy_content),
		cmocka_unit_test(test_maps_line),
		cmocka_unit_test(test_walker_self),
		cmocka_unit_test(test_walker_rate_and_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
