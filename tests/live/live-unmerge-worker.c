/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The unmerge worker on the real kernel: unmerge-all of a merged memfill runs
 * in a forked child while the event loop keeps ticking; progress and the
 * result come back through sd-event; run is restored. Also
 * merge_across_nodes (where the kernel has NUMA), cancel, a failing job, a
 * child killed mid-job (what the OOM killer does to the writer) and a job
 * killed past its deadline.
 * Knobs touched: run, pages_to_scan, sleep_millisecs, merge_across_nodes;
 * all restored by live-util, also on failure.
 */
#include "live-util.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <systemd/sd-event.h>

#include "ksm-stat.h"
#include "macro.h"
#include "unmerge-worker.h"

#define SAME_PAGES 65536 /* 256 MiB of identical pages: unmerging takes a while */

typedef struct Ctx {
	sd_event *e;
	bool done;
	UnmergeResult res;
	unsigned progress_calls;
	uint64_t last_sharing;
	bool sharing_rose;
	int64_t last_tick_ms, max_gap_ms;
	unsigned ticks;
} Ctx;

static void on_progress(UnmergeWorker *w, uint64_t sharing, uint64_t shared, void *userdata)
{
	Ctx *c = userdata;
	if (c->progress_calls > 0 && sharing > c->last_sharing)
		c->sharing_rose = true;
	c->last_sharing = sharing;
	c->progress_calls++;
	printf("# progress: pages_sharing=%" PRIu64 " pages_shared=%" PRIu64 "\n", sharing, shared);
}

static void on_done(UnmergeWorker *w, const UnmergeResult *r, void *userdata)
{
	Ctx *c = userdata;
	c->done = true;
	c->res = *r;
	printf("# done: error=%d killed=%d signal=%d usec=%" PRIu64 " sharing %" PRIu64 " -> %" PRIu64
	       " run_restored=%" PRIu64 " message='%s'\n",
	       r->error, r->killed, r->signal, r->usec, r->pages_sharing_before, r->pages_sharing_after,
	       r->run_restored, r->message);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
	Ctx *c = userdata;
	int64_t now = live_now_ms();
	if (c->last_tick_ms && now - c->last_tick_ms > c->max_gap_ms)
		c->max_gap_ms = now - c->last_tick_ms;
	c->last_tick_ms = now;
	c->ticks++;
	sd_event_source_set_time_relative(s, 10 * 1000);
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static UnmergeWorker *run_worker(Ctx *c, UnmergeWorkerParams p, bool cancel)
{
	sd_event_source *tick = NULL;
	UnmergeWorker *w = NULL;
	assert_int_equal(sd_event_new(&c->e), 0);
	p.progress = on_progress;
	p.done = on_done;
	p.userdata = c;
	if (!p.progress_usec)
		p.progress_usec = 20 * 1000;
	assert_int_equal(sd_event_add_time_relative(c->e, &tick, CLOCK_MONOTONIC, 10 * 1000, 1, on_tick, c),
			 0);
	assert_int_equal(unmerge_worker_start(c->e, &p, &w), 0);
	assert_true(unmerge_worker_running(w));
	assert_true(unmerge_worker_pid(w) != getpid());
	if (cancel)
		assert_int_equal(unmerge_worker_cancel(w), 0);
	int64_t t0 = live_now_ms();
	while (!c->done && live_now_ms() - t0 < 300000)
		assert_true(sd_event_run(c->e, 100 * 1000) >= 0);
	assert_true(c->done);
	assert_false(unmerge_worker_running(w));
	sd_event_source_disable_unref(tick);
	return w;
}

static void ctx_done(Ctx *c, UnmergeWorker *w)
{
	unmerge_worker_free(w);
	sd_event_unref(c->e);
}

static void merge_workload(LiveChild *child)
{
	char same[32];
	snprintf(same, sizeof(same), "%d", SAME_PAGES);
	const char *args[] = {"--same", same, "--unique", "16", "--merge", NULL};
	assert_int_equal(live_memfill_start(args, child), 0);
	assert_int_equal(live_ksm_start(20000, 5), 0);
	int64_t t0 = live_now_ms();
	KsmStat st = {};
	while (live_now_ms() - t0 < 120000) {
		assert_int_equal(ksm_stat_read("/proc", child->pid, &st), 0);
		if (st.merging_pages >= SAME_PAGES * 98 / 100)
			break;
		usleep(100 * 1000);
	}
	printf("# merged %" PRIu64 " pages in %.1f s, pages_sharing=%" PRIu64 "\n", st.merging_pages,
	       (double)(live_now_ms() - t0) / 1000.0, live_ksm_read(KSM_pages_sharing));
	assert_true(st.merging_pages >= SAME_PAGES * 98 / 100);
}

static void test_unmerge_all(void **state)
{
	LiveChild child;
	merge_workload(&child);
	/* Stop ksmd first: still merging the last pages, it would move
	 * pages_sharing between our read and the worker's. */
	assert_int_equal(ksm_write_field(KSM_SYSFS_DIR, KSM_run, KSM_RUN_STOP), 0);
	uint64_t before = live_ksm_read(KSM_pages_sharing);

	Ctx c = {};
	UnmergeWorker *w =
		run_worker(&c, (UnmergeWorkerParams){.job = UNMERGE_JOB_ALL, .run_after = 0}, false);
	printf("# event loop: %u ticks, longest gap %" PRId64 " ms during %.3f s of unmerging\n", c.ticks,
	       c.max_gap_ms, (double)c.res.usec / 1e6);
	assert_int_equal(c.res.error, 0);
	assert_false(c.res.killed);
	assert_string_equal(c.res.message, "");
	assert_int_equal(c.res.pages_sharing_before, before);
	assert_true(before >= SAME_PAGES * 9 / 10);
	assert_int_equal(c.res.pages_sharing_after, 0);
	assert_int_equal(c.res.run_restored, 0);
	assert_int_equal(live_ksm_read(KSM_run), 0);
	/* pages fell monotonically while we watched */
	assert_false(c.sharing_rose);
	/* the loop was never blocked by the write */
	assert_true(c.max_gap_ms < 100);
	ctx_done(&c, w);

	/* the memfill's data survived */
	KsmStat st;
	assert_int_equal(ksm_stat_read("/proc", child.pid, &st), 0);
	assert_int_equal(st.merging_pages, 0);
	assert_int_equal(live_memfill_stop(&child), 0);
}

static void test_run_restored_to_config(void **state)
{
	LiveChild child;
	merge_workload(&child);
	Ctx c = {};
	UnmergeWorker *w =
		run_worker(&c, (UnmergeWorkerParams){.job = UNMERGE_JOB_ALL, .run_after = 1}, false);
	assert_int_equal(c.res.error, 0);
	assert_int_equal(c.res.run_restored, 1);
	assert_int_equal(live_ksm_read(KSM_run), 1);
	ctx_done(&c, w);
	assert_int_equal(live_memfill_stop(&child), 0);
}

static void test_cancel(void **state)
{
	LiveChild child;
	merge_workload(&child);
	Ctx c = {};
	UnmergeWorker *w =
		run_worker(&c, (UnmergeWorkerParams){.job = UNMERGE_JOB_ALL, .run_after = 1}, true);
	/* either the kill landed mid-write or before it: cancelled, run back */
	assert_int_equal(c.res.error, -ECANCELED);
	assert_true(c.res.killed);
	assert_int_equal(c.res.signal, SIGKILL);
	assert_int_equal(c.res.run_restored, 1);
	assert_int_equal(live_ksm_read(KSM_run), 1);
	ctx_done(&c, w);
	assert_int_equal(live_memfill_stop(&child), 0);
}

static int job_busy(void *data, char *msg, size_t size)
{
	snprintf(msg, size, "job says %s", (const char *)data);
	return -EBUSY;
}

static int job_killed(void *data, char *msg, size_t size)
{
	raise(SIGKILL); /* what the OOM killer does to the writer */
	return 0;
}

static void test_custom_jobs(void **state)
{
	Ctx c = {};
	UnmergeWorker *w = run_worker(&c,
				      (UnmergeWorkerParams){.job = UNMERGE_JOB_CUSTOM,
							    .job_fn = job_busy,
							    .job_data = (void *)"no",
							    .run_after = UNMERGE_RUN_KEEP},
				      false);
	assert_int_equal(c.res.error, -EBUSY);
	assert_string_equal(c.res.message, "job says no");
	assert_false(c.res.killed);
	ctx_done(&c, w);

	uint64_t run = live_ksm_read(KSM_run);
	Ctx d = {};
	w = run_worker(&d,
		       (UnmergeWorkerParams){.job = UNMERGE_JOB_CUSTOM, .job_fn = job_killed, .run_after = 1},
		       false);
	assert_int_equal(d.res.error, -ENOMEM);
	assert_true(d.res.killed);
	assert_int_equal(d.res.signal, SIGKILL);
	assert_non_null(strstr(d.res.message, "OOM"));
	/* the parent put run back although the child never reported */
	assert_int_equal(live_ksm_read(KSM_run), 1);
	assert_int_equal(d.res.run_restored, 1);
	(void)run;
	ctx_done(&d, w);

	UnmergeWorker *bad = NULL;
	sd_event *e = NULL;
	assert_true(sd_event_new(&e) >= 0);
	assert_int_equal(unmerge_worker_start(e, &(UnmergeWorkerParams){.job = UNMERGE_JOB_CUSTOM}, &bad),
			 -EINVAL);
	sd_event_unref(e);
}

static int job_stuck(void *data, char *msg, size_t size)
{
	for (;;)
		pause(); /* an over-budget job whose injection never returns */
	return 0;
}

/* A job past its deadline is killed and reported: pagemeldd's budget
 * "busy" flag, which lasts as long as the worker, clears. */
static void test_deadline(void **state)
{
	Ctx c = {};
	int64_t t0 = live_now_ms();
	UnmergeWorker *w = run_worker(&c,
				      (UnmergeWorkerParams){.job = UNMERGE_JOB_CUSTOM,
							    .job_fn = job_stuck,
							    .run_after = UNMERGE_RUN_KEEP,
							    .timeout_usec = 300 * 1000},
				      false);
	int64_t ms = live_now_ms() - t0;
	printf("# stuck job killed after %" PRId64 " ms\n", ms);
	assert_int_equal(c.res.error, -ETIMEDOUT);
	assert_true(c.res.killed);
	assert_int_equal(c.res.signal, SIGKILL);
	assert_non_null(strstr(c.res.message, "did not finish within"));
	assert_true(ms >= 250 && ms < 5000);
	ctx_done(&c, w);
}

static void test_merge_across_nodes(void **state)
{
	uint64_t cur;
	if (ksm_read_field(KSM_SYSFS_DIR, KSM_merge_across_nodes, &cur) < 0) {
		printf("# merge_across_nodes absent (no CONFIG_NUMA): -EOPNOTSUPP expected\n");
		Ctx c = {};
		UnmergeWorker *w = run_worker(
			&c, (UnmergeWorkerParams){.job = UNMERGE_JOB_MERGE_ACROSS_NODES, .run_after = 1},
			false);
		assert_int_equal(c.res.error, -EOPNOTSUPP);
		ctx_done(&c, w);
		return;
	}
	LiveChild child;
	merge_workload(&child);
	for (int i = 0; i < 2; i++) {
		Ctx c = {};
		UnmergeWorker *w = run_worker(&c,
					      (UnmergeWorkerParams){.job = UNMERGE_JOB_MERGE_ACROSS_NODES,
								    .merge_across_nodes = !cur,
								    .run_after = 1},
					      false);
		assert_int_equal(c.res.error, 0);
		uint64_t now;
		assert_int_equal(ksm_read_field(KSM_SYSFS_DIR, KSM_merge_across_nodes, &now), 0);
		assert_int_equal(now, !cur);
		assert_int_equal(live_ksm_read(KSM_run), 1);
		assert_int_equal(c.res.pages_sharing_after < c.res.pages_sharing_before || i == 1, true);
		ctx_done(&c, w);
		cur = now;
	}
	assert_int_equal(live_memfill_stop(&child), 0);
}

int main(void)
{
	live_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unmerge_all), cmocka_unit_test(test_run_restored_to_config),
		cmocka_unit_test(test_cancel),	    cmocka_unit_test(test_custom_jobs),
		cmocka_unit_test(test_deadline),    cmocka_unit_test(test_merge_across_nodes),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	live_restore();
	return r;
}
