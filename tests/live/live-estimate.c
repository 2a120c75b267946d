/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/estimate on real processes: the figures of a known memfill mix, pages
 * of the shared zero page left out, volatile pages kept out; then the
 * estimate against what KSM really merges.
 *
 * What is compared with KSM, after convergence: the estimator's dup_pages
 * (pages freed when everything scanned merges, with the kernel's
 * max_page_sharing and use_zero_pages) against our processes' share of
 * pages_sharing + ksm_zero_pages: their pages mapped to a KSM page (PFNs
 * from pagemap, KPF_KSM from /proc/kpageflags) minus one per distinct KSM
 * page, plus their ksm_zero_pages. Not the global counters' growth: other
 * processes on a shared machine merge meanwhile (printed for reference).
 * Not the sum of ksm_merging_pages either: it also counts the page each KSM
 * page keeps (pages_shared), which frees nothing; that sum is checked
 * against dup_pages + ksm_pages. Knobs touched: run, pages_to_scan,
 * sleep_millisecs, use_zero_pages, advisor_mode; restored by live-util.
 */
#include "live-util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "estimate.h"
#include "fileio.h"
#include "ksm-stat.h"
#include "macro.h"

#define TOLERANCE_PCT 2
#define SLACK_PER_PROCESS 32 /* memfill's own stack, heap and data pages: ~14 */
#define CONVERGE_TIMEOUT_MS 180000

static bool near(uint64_t got, uint64_t want, uint64_t slack)
{
	return got + slack >= want && got <= want + slack;
}

static void start(const char *same, const char *unique, const char *zero, LiveChild *ret)
{
	const char *args[] = {"--same", same, "--unique", unique, "--zero", zero, NULL};
	assert_int_equal(live_memfill_start(args, ret), 0);
}

static Estimator *new_estimator(bool use_zero_pages, uint64_t max_page_sharing)
{
	EstimatorConfig c = {.use_zero_pages = use_zero_pages, .max_page_sharing = max_page_sharing};
	Estimator *e;
	assert_int_equal(estimator_new(&c, &e), 0);
	return e;
}

static void test_memfill_groups(void **state)
{
	/* group A: 4096 + 2048 same, 256 zero; group B (managed): 1024 same,
	 * 128 zero; unique pages everywhere */
	LiveChild a1, a2, b1;
	start("4096", "1024", "256", &a1);
	start("2048", "1024", "0", &a2);
	start("1024", "512", "128", &b1);

	_cleanup_estimator_ Estimator *e = new_estimator(false, 256);
	unsigned ga, gb;
	assert_int_equal(estimator_add_group(e, false, &ga), 0);
	assert_int_equal(estimator_add_group(e, true, &gb), 0);
	assert_int_equal(estimator_scan_pid(e, "/proc", a1.pid, ga), 0);
	assert_int_equal(estimator_scan_pid(e, "/proc", a2.pid, ga), 0);
	assert_int_equal(estimator_scan_pid(e, "/proc", b1.pid, gb), 0);
	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	printf("# scanned %" PRIu64 " zero %" PRIu64 " dup %" PRIu64 " within A %" PRIu64 " B %" PRIu64
	       " across %" PRIu64 " marginal A %" PRIu64 " profit %" PRId64 "\n",
	       r.pages_scanned, r.zero_pages, r.dup_pages, r.groups[0].dup_within_pages,
	       r.groups[1].dup_within_pages, r.dup_across_pages, r.groups[0].marginal_pages, r.profit_bytes);

	const uint64_t slack = 3 * SLACK_PER_PROCESS;
	assert_true(near(r.pages_scanned, 4096 + 1024 + 256 + 2048 + 1024 + 1024 + 512 + 128, slack));
	assert_true(near(r.zero_pages, 256 + 128, slack));
	assert_int_equal(r.volatile_pages, 0);
	assert_int_equal(r.unreadable_pages, 0);
	/* 7168 same pages in ceil(7168 / 256) = 28 KSM pages; 384 zero in 2 */
	assert_true(near(r.dup_pages, 7168 - 28 + 384 - 2, slack));
	assert_true(near(r.groups[0].dup_within_pages, 6144 - 24 + 255, slack));
	assert_true(near(r.groups[1].dup_within_pages, 1024 - 4 + 127, slack));
	assert_true(near(r.managed_dup_pages, 1024 - 4 + 127, slack));
	/* A joining the managed B: same 1020 -> 7140, zero 127 -> 382 */
	assert_true(near(r.groups[0].marginal_pages, 7140 - 1020 + 382 - 127, slack));
	assert_int_equal(r.profit_bytes, (int64_t)r.dup_pages * 4096 - (int64_t)r.pages_scanned * 64);
	estimate_result_done(&r);

	assert_int_equal(live_memfill_stop(&a1), 0);
	assert_int_equal(live_memfill_stop(&a2), 0);
	assert_int_equal(live_memfill_stop(&b1), 0);
}

/* Scan one range of this process, through a proc tree whose maps lists it. */
static void scan_range_of(Estimator *e, unsigned g, pid_t pid, const void *p, size_t len)
{
	char dir[] = "/tmp/pagemeld-estimate-XXXXXX", line[256];
	assert_non_null(mkdtemp(dir));
	snprintf(line, sizeof(line), "%lx-%lx rw-p 00000000 00:00 0 \n", (unsigned long)(uintptr_t)p,
		 (unsigned long)((uintptr_t)p + len));
	_cleanup_free_ char *pid_dir = strdup_printf("%s/%d", dir, (int)pid);
	_cleanup_free_ char *real_pagemap = strdup_printf("/proc/%d/pagemap", (int)pid);
	_cleanup_free_ char *real_mem = strdup_printf("/proc/%d/mem", (int)pid);
	_cleanup_free_ char *mem = strdup_printf("%s/mem", pid_dir);
	_cleanup_free_ char *self_dir = strdup_printf("%s/self", dir);
	_cleanup_free_ char *maps = strdup_printf("%s/maps", pid_dir);
	_cleanup_free_ char *pagemap = strdup_printf("%s/pagemap", pid_dir);
	_cleanup_free_ char *self_pagemap = strdup_printf("%s/pagemap", self_dir);
	assert_int_equal(mkdir(pid_dir, 0700), 0);
	assert_int_equal(mkdir(self_dir, 0700), 0);
	FILE *f = fopen(maps, "we");
	assert_non_null(f);
	fputs(line, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(symlink(real_pagemap, pagemap), 0);
	assert_int_equal(symlink(real_mem, mem), 0);
	assert_int_equal(symlink("/proc/self/pagemap", self_pagemap), 0);
	assert_int_equal(estimator_scan_pid(e, dir, pid, g), 0);
	unlink(maps);
	unlink(pagemap);
	unlink(mem);
	unlink(self_pagemap);
	rmdir(pid_dir);
	rmdir(self_dir);
	rmdir(dir);
}

static void scan_range(Estimator *e, unsigned g, const void *p, size_t len)
{
	scan_range_of(e, g, getpid(), p, len);
}

static void test_forked_pages(void **state)
{
	/* 256 unique pages shared with a forked child (copy-on-write, not
	 * written since): one physical copy each, nothing to merge, counted
	 * once. */
	const size_t n = 256;
	uint64_t *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	for (size_t i = 0; i < n * 512; i++)
		p[i] = i * 0x9e3779b97f4a7c15ULL;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char c;
		close(fds[1]);
		(void)!read(fds[0], &c, 1);
		_exit(0);
	}
	close(fds[0]);

	_cleanup_estimator_ Estimator *e = new_estimator(false, 256);
	unsigned g0, g1;
	assert_int_equal(estimator_add_group(e, false, &g0), 0);
	assert_int_equal(estimator_add_group(e, false, &g1), 0);
	scan_range(e, g0, p, n * 4096);
	scan_range_of(e, g1, child, p, n * 4096);
	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	close(fds[1]);
	assert_int_equal(waitpid(child, NULL, 0), child);
	printf("# %zu pages shared with a forked child: scanned %" PRIu64 " forked %" PRIu64 " dup %" PRIu64
	       "\n",
	       n, r.pages_scanned, r.forked_pages, r.dup_pages);
	assert_int_equal(r.pages_scanned, 2 * n);
	assert_int_equal(r.forked_pages, n);
	assert_int_equal(r.groups[1].forked_pages, n);
	assert_int_equal(r.dup_pages, 0);
	estimate_result_done(&r);
	munmap(p, n * 4096);
}

static void test_zero_page_mappings(void **state)
{
	/* Read faults map the shared zero page (or, with THP, the huge zero
	 * page): nothing for KSM to merge, nothing to scan. Written zero pages
	 * are real pages. */
	const size_t len = 8 << 20;
	uint8_t *raw = mmap(NULL, len * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(raw != MAP_FAILED);
	uint8_t *p = (uint8_t *)(((uintptr_t)raw + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
	assert_int_equal(madvise(p, len / 2, MADV_NOHUGEPAGE), 0);
	(void)madvise(p + len / 2, len / 2, MADV_HUGEPAGE);
	uint64_t sum = 0;
	for (size_t i = 0; i < len; i += 4096)
		sum += ((volatile uint8_t *)p)[i];
	assert_int_equal(sum, 0);
	/* 100 written zero pages in the 4 KiB half */
	for (size_t i = 0; i < 100; i++) {
		p[i * 4096] = 1;
		p[i * 4096] = 0;
	}

	_cleanup_estimator_ Estimator *e = new_estimator(false, 256);
	unsigned g;
	assert_int_equal(estimator_add_group(e, false, &g), 0);
	scan_range(e, g, p, len);
	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	printf("# %zu read-faulted pages, 100 written: scanned %" PRIu64 " zero %" PRIu64 "\n", len / 4096,
	       r.pages_scanned, r.zero_pages);
	assert_int_equal(r.pages_scanned, 100);
	assert_int_equal(r.zero_pages, 100);
	assert_int_equal(r.dup_pages, 99);
	estimate_result_done(&r);
	munmap(raw, len * 2);
}

typedef struct Writer {
	volatile uint64_t *pages;
	size_t n;
	atomic_bool stop;
	atomic_uint_fast64_t passes;
} Writer;

static void *writer(void *arg)
{
	Writer *w = arg;
	for (uint64_t v = 1; !atomic_load(&w->stop); v++) {
		for (size_t i = 0; i < w->n; i++)
			w->pages[i * 512] = v;
		atomic_fetch_add(&w->passes, 1);
	}
	return NULL;
}

/* Returns once the writer has been seen running (a pass completed), so the
 * scan that follows overlaps its writes unless it is preempted right then. */
static void writer_seen_running(Writer *w)
{
	uint_fast64_t before = atomic_load(&w->passes);
	for (int i = 0; i < 100000 && atomic_load(&w->passes) == before; i++)
		sched_yield();
}

static void test_volatile_pages(void **state)
{
	/* 256 pages that differ only in a counter a thread rewrites all the
	 * time: mostly identical at any instant, but none of them merge in
	 * KSM (their checksum never holds) and none may count here. */
	const size_t n = 256;
	uint64_t *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	for (size_t i = 0; i < n * 512; i++)
		p[i] = 0x5a5a5a5a5a5a5a5aULL;
	Writer w = {.pages = p, .n = n};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, writer, &w), 0);
	usleep(10000);

	/* The writer may lose the CPU for a whole scan on a busy machine (seen:
	 * 20 scans in a row without it under ASan with the other core loaded):
	 * scan right after it was seen running, and retry until it ran during
	 * one. */
	EstimateResult r = {};
	for (int attempt = 0; attempt < 200; attempt++) {
		estimate_result_done(&r);
		writer_seen_running(&w);
		_cleanup_estimator_ Estimator *e = new_estimator(false, 256);
		unsigned g;
		assert_int_equal(estimator_add_group(e, false, &g), 0);
		scan_range(e, g, p, n * 4096);
		assert_int_equal(estimator_result(e, &r), 0);
		if (r.volatile_pages >= n / 2)
			break;
	}
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	printf("# %zu pages rewritten all the time: volatile %" PRIu64 " dup %" PRIu64 "\n", n,
	       r.volatile_pages, r.dup_pages);
	assert_int_equal(r.pages_scanned, n);
	assert_true(r.volatile_pages >= n / 2);
	/* only pages read the same twice can count */
	assert_true(r.dup_pages + r.volatile_pages <= n);
	estimate_result_done(&r);
	munmap(p, n * 4096);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Our processes' share of pages_sharing: their pages mapped to a KSM page
 * (pagemap PFN, KPF_KSM in /proc/kpageflags) minus one per distinct KSM
 * page. Other processes on the machine may merge meanwhile, so the global
 * counters alone cannot say what our pages gained. */
static void ksm_mapped(const LiveChild *c, size_t n, uint64_t *ret_mapped, uint64_t *ret_kpages)
{
	_cleanup_close_ int kflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	assert_true(kflags >= 0);
	size_t cap = 1 << 16, npfn = 0;
	_cleanup_free_ uint64_t *pfns = malloc(cap * sizeof(uint64_t));
	assert_non_null(pfns);
	for (size_t i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)c[i].pid);
		_cleanup_fclose_ FILE *maps = fopen(path, "re");
		assert_non_null(maps);
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)c[i].pid);
		_cleanup_close_ int pm = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(pm >= 0);
		char line[512];
		while (fgets(line, sizeof(line), maps)) {
			uint64_t start, end;
			bool scan;
			assert_int_equal(estimate_parse_maps_line(line, &start, &end, &scan), 0);
			for (uint64_t a = start; scan && a < end; a += 4096) {
				uint64_t m, f;
				assert_int_equal(pread(pm, &m, 8, (off_t)(a / 4096 * 8)), 8);
				if (!(m & (UINT64_C(1) << 63)))
					continue;
				uint64_t pfn = m & ((UINT64_C(1) << 55) - 1);
				assert_int_equal(pread(kflags, &f, 8, (off_t)(pfn * 8)), 8);
				if (!(f & (UINT64_C(1) << 21))) /* KPF_KSM */
					continue;
				if (npfn == cap) {
					cap *= 2;
					pfns = realloc(pfns, cap * sizeof(uint64_t));
					assert_non_null(pfns);
				}
				pfns[npfn++] = pfn;
			}
		}
	}
	qsort(pfns, npfn, sizeof(uint64_t), cmp_u64);
	uint64_t distinct = 0;
	for (size_t i = 0; i < npfn; i++)
		distinct += i == 0 || pfns[i] != pfns[i - 1];
	*ret_mapped = npfn;
	*ret_kpages = distinct;
}

static void accuracy(bool use_zero_pages)
{
	/* A mix of content shared across processes, unique content and zero
	 * pages, in two groups. */
	LiveChild c[3];
	start("8192", "4096", "1024", &c[0]);
	start("4096", "2048", "512", &c[1]);
	start("2048", "8192", "0", &c[2]);

	assert_int_equal(live_ksm_start(20000, 10), 0);
	assert_int_equal(ksm_write_field(KSM_SYSFS_DIR, KSM_use_zero_pages, use_zero_pages), 0);
	uint64_t mps = live_ksm_read(KSM_max_page_sharing);

	int64_t t0 = live_now_ms();
	_cleanup_estimator_ Estimator *e = new_estimator(use_zero_pages, mps);
	unsigned g[2];
	assert_int_equal(estimator_add_group(e, false, &g[0]), 0);
	assert_int_equal(estimator_add_group(e, false, &g[1]), 0);
	for (size_t i = 0; i < ELEMENTSOF(c); i++)
		assert_int_equal(estimator_scan_pid(e, "/proc", c[i].pid, g[i == 2]), 0);
	EstimateResult r;
	assert_int_equal(estimator_result(e, &r), 0);
	int64_t est_ms = live_now_ms() - t0;
	assert_int_equal(r.volatile_pages, 0);

	uint64_t global0 = live_ksm_read(KSM_pages_sharing) + live_ksm_read(KSM_ksm_zero_pages);
	for (size_t i = 0; i < ELEMENTSOF(c); i++)
		assert_int_equal(live_memfill_command(&c[i], "merge\n"), 0);

	/* Converged: our processes' merged pages held over three full scans. */
	uint64_t last = UINT64_MAX, merging = 0, zero = 0;
	int steady = 0;
	int64_t t1 = live_now_ms();
	while (steady < 3) {
		assert_true(live_now_ms() - t1 < CONVERGE_TIMEOUT_MS);
		assert_int_equal(live_wait_full_scans(1, CONVERGE_TIMEOUT_MS), 0);
		merging = zero = 0;
		for (size_t i = 0; i < ELEMENTSOF(c); i++) {
			KsmStat st;
			assert_int_equal(ksm_stat_read("/proc", c[i].pid, &st), 0);
			merging += st.merging_pages;
			zero += st.zero_pages;
		}
		steady = merging + zero == last && last > 0 ? steady + 1 : 0;
		last = merging + zero;
	}
	double secs = (double)(live_now_ms() - t1) / 1000.0;
	uint64_t mapped, kpages;
	ksm_mapped(c, ELEMENTSOF(c), &mapped, &kpages);
	uint64_t global = live_ksm_read(KSM_pages_sharing) + live_ksm_read(KSM_ksm_zero_pages) - global0;
	/* our share of pages_sharing + ksm_zero_pages */
	uint64_t saved = mapped - kpages + zero;
	double err = 100.0 * ((double)saved - (double)r.dup_pages) / (double)r.dup_pages;
	printf("# use_zero_pages=%d max_page_sharing=%" PRIu64 ": estimate %" PRIu64 " pages freed (%" PRIu64
	       " scanned, %" PRIu64 " zero, %" PRIu64 " KSM pages) in %" PRId64
	       " ms; KSM after %.1f s: %" PRIu64 " pages of ours on %" PRIu64 " KSM pages + %" PRIu64
	       " zero pages: %" PRIu64 " freed (%+.2f%%); ksm_merging_pages sum %" PRIu64
	       "; global pages_sharing + ksm_zero_pages grew by %" PRId64 "\n",
	       use_zero_pages, mps, r.dup_pages, r.pages_scanned, r.zero_pages, r.ksm_pages, est_ms, secs,
	       mapped, kpages, zero, saved, err, merging, (int64_t)global);
	assert_int_equal(mapped, merging);
	assert_true(saved * 100 >= r.dup_pages * (100 - TOLERANCE_PCT));
	assert_true(saved * 100 <= r.dup_pages * (100 + TOLERANCE_PCT));
	/* the per-process view: every sharer, the KSM page's keeper included */
	uint64_t want = r.dup_pages + r.ksm_pages, got = merging + zero;
	assert_true(got * 100 >= want * (100 - TOLERANCE_PCT) && got * 100 <= want * (100 + TOLERANCE_PCT));

	/* Estimating merged processes must not unmerge them (a read-only pin
	 * of a KSM page would copy it), and finds only what is left: the KSM
	 * pages max_page_sharing keeps apart. */
	_cleanup_estimator_ Estimator *again = new_estimator(use_zero_pages, mps);
	unsigned ga;
	assert_int_equal(estimator_add_group(again, false, &ga), 0);
	for (size_t i = 0; i < ELEMENTSOF(c); i++)
		assert_int_equal(estimator_scan_pid(again, "/proc", c[i].pid, ga), 0);
	EstimateResult r2;
	assert_int_equal(estimator_result(again, &r2), 0);
	uint64_t merging2 = 0;
	for (size_t i = 0; i < ELEMENTSOF(c); i++) {
		KsmStat st;
		assert_int_equal(ksm_stat_read("/proc", c[i].pid, &st), 0);
		merging2 += st.merging_pages;
	}
	printf("# estimated again once merged: dup %" PRIu64 ", %" PRIu64
	       " mappings of pages counted already; "
	       "ksm_merging_pages %" PRIu64 " -> %" PRIu64 "\n",
	       r2.dup_pages, r2.forked_pages, merging, merging2);
	assert_int_equal(merging2, merging);
	/* What is left: duplicates among the KSM pages KSM made (kpages; more
	 * than the ideal r.ksm_pages while ksmd still converges, seen under
	 * load) and the pages it has not merged yet. */
	uint64_t unmerged = r.dup_pages > saved ? r.dup_pages - saved : 0;
	assert_true(r2.dup_pages <= kpages + unmerged);
	assert_true(r2.forked_pages + r2.ksm_pages >= merging - kpages);
	estimate_result_done(&r2);
	estimate_result_done(&r);

	for (size_t i = 0; i < ELEMENTSOF(c); i++) {
		assert_int_equal(live_memfill_command(&c[i], "unmerge\n"), 0);
		assert_int_equal(live_memfill_stop(&c[i]), 0);
	}
}

static void test_accuracy_merged_zero_pages(void **state)
{
	accuracy(false);
}

static void test_accuracy_use_zero_pages(void **state)
{
	accuracy(true);
}

int main(void)
{
	live_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memfill_groups),
		cmocka_unit_test(test_zero_page_mappings),
		cmocka_unit_test(test_forked_pages),
		cmocka_unit_test(test_volatile_pages),
		cmocka_unit_test(test_accuracy_merged_zero_pages),
		cmocka_unit_test(test_accuracy_use_zero_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
