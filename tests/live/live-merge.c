/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Proves the harness is real: a helper holds N identical and M unique pages,
 * switches merge-any on with prctl; ksmd scans fast; we wait on full_scans
 * and check the kernel's own counters, then switch merging off and check
 * they fall back. Knobs touched: run, pages_to_scan, sleep_millisecs
 * (advisor_mode forced to none); all restored by live-util, also on failure.
 */
#include "live-util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ksm-stat.h"
#include "macro.h"

#define SAME_PAGES 8192	  /* 32 MiB of identical pages */
#define UNIQUE_PAGES 4096 /* 16 MiB that must not merge */
#define TOLERANCE_PCT 2	  /* of SAME_PAGES */
#define MERGE_TIMEOUT_MS 60000

static bool within(uint64_t got, uint64_t want)
{
	uint64_t tol = want * TOLERANCE_PCT / 100;
	return got + tol >= want && got <= want + tol;
}

static void test_merge_and_unmerge(void **state)
{
	const char *args[] = {"--same", "8192", "--unique", "4096", "--merge", NULL};
	LiveChild c;
	uint64_t shared0 = live_ksm_read(KSM_pages_shared), sharing0 = live_ksm_read(KSM_pages_sharing);

	assert_int_equal(live_memfill_start(args, &c), 0);
	int64_t t0 = live_now_ms();
	assert_int_equal(live_ksm_start(10000, 10), 0);

	KsmStat st = {};
	bool merged = false;
	while (live_now_ms() - t0 < MERGE_TIMEOUT_MS) {
		/* two full scans after the pages exist: unstable then stable tree */
		assert_int_equal(live_wait_full_scans(1, MERGE_TIMEOUT_MS), 0);
		assert_int_equal(ksm_stat_read("/proc", c.pid, &st), 0);
		if (within(st.merging_pages, SAME_PAGES)) {
			merged = true;
			break;
		}
	}
	double secs = (double)(live_now_ms() - t0) / 1000.0;
	uint64_t shared = live_ksm_read(KSM_pages_shared) - shared0;
	uint64_t sharing = live_ksm_read(KSM_pages_sharing) - sharing0;
	uint64_t max_sharing = live_ksm_read(KSM_max_page_sharing);
	printf("# merged: ksm_merging_pages=%" PRIu64 " pages_shared=%" PRIu64 " pages_sharing=%" PRIu64
	       " merge_any=%d in %.2f s (pages_to_scan=10000 sleep_millisecs=10 max_page_sharing=%" PRIu64
	       ")\n",
	       st.merging_pages, shared, sharing, st.merge_any, secs, max_sharing);
	assert_true(merged);
	assert_int_equal(st.merge_any, KSM_TRISTATE_YES);
	/* N identical pages fold into ceil(N / max_page_sharing) KSM pages. */
	uint64_t kpages = (SAME_PAGES + max_sharing - 1) / max_sharing;
	assert_true(within(shared + sharing, SAME_PAGES));
	assert_true(shared <= kpages + SAME_PAGES * TOLERANCE_PCT / 100);
	assert_true(within(sharing, SAME_PAGES - kpages));
	/* the unique pages stayed unique */
	assert_true(st.merging_pages <= SAME_PAGES + SAME_PAGES * TOLERANCE_PCT / 100);

	/* merge-any off breaks every merge of the process at once (COW), but the
	 * counters fall only when ksmd next walks the process's rmap items. */
	assert_int_equal(live_memfill_command(&c, "unmerge\n"), 0);
	int64_t t1 = live_now_ms();
	assert_int_equal(ksm_stat_read("/proc", c.pid, &st), 0);
	assert_int_equal(st.merge_any, KSM_TRISTATE_NO);
	printf("# right after prctl(0): ksm_merging_pages=%" PRIu64 "\n", st.merging_pages);
	/* full_scans stops once no mm is left to scan, so poll the counters */
	while (live_now_ms() - t1 < MERGE_TIMEOUT_MS) {
		assert_int_equal(ksm_stat_read("/proc", c.pid, &st), 0);
		if (st.merging_pages == 0 && live_ksm_read(KSM_pages_sharing) == sharing0 &&
		    live_ksm_read(KSM_pages_shared) == shared0)
			break;
		usleep(10000);
	}
	printf("# %.2f s after: ksm_merging_pages=%" PRIu64 " pages_shared=%" PRIu64 " pages_sharing=%" PRIu64
	       "\n",
	       (double)(live_now_ms() - t1) / 1000.0, st.merging_pages,
	       live_ksm_read(KSM_pages_shared) - shared0, live_ksm_read(KSM_pages_sharing) - sharing0);
	assert_int_equal(st.merging_pages, 0);
	assert_int_equal(live_ksm_read(KSM_pages_sharing), sharing0);
	assert_int_equal(live_ksm_read(KSM_pages_shared), shared0);

	/* memfill checks every page kept its content through merge and unmerge */
	assert_int_equal(live_memfill_stop(&c), 0);
}

int main(void)
{
	live_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_and_unmerge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
