/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>

#include "budget-policy.h"
#include "macro.h"

#define PS 4096ULL
#define MiB (1024ULL * 1024ULL)

static void test_debt(void **state)
{
	BudgetProc p[] = {{10, 100, 0}, {11, 0, 0}, {12, 50, 6}};
	assert_int_equal(budget_proc_debt(&p[2], PS), 56 * PS);
	assert_int_equal(budget_debt(p, 3, PS), 156 * PS);
	assert_int_equal(budget_debt(NULL, 0, PS), 0);
	BudgetProc huge = {1, UINT64_MAX / 2, 0};
	assert_int_equal(budget_proc_debt(&huge, PS), UINT64_MAX); /* saturates */
	/* the cgroup's MergeDebt is the sum the budget enforces: zero pages count */
	assert_int_equal(budget_cgroup_debt(150, 6, PS), budget_debt(p, 3, PS));
	assert_int_equal(budget_cgroup_debt(0, 1024, PS), 1024 * PS);
	assert_int_equal(budget_cgroup_debt(UINT64_MAX, 1, PS), UINT64_MAX);
}

static void test_headroom(void **state)
{
	/* memory only: max - current, swap accounting present but swap.max 0 */
	CgMemory m = {.current = 60 * MiB, .max = 64 * MiB, .swap_present = true, .swap_max = 0};
	assert_int_equal(budget_headroom_one(&m, 512 * MiB), 4 * MiB);
	/* swap it may still use, bounded by its swap.max ... */
	m.swap_max = 32 * MiB;
	m.swap_current = 8 * MiB;
	assert_int_equal(budget_headroom_one(&m, 512 * MiB), 28 * MiB);
	/* ... and by the system's free swap */
	assert_int_equal(budget_headroom_one(&m, 10 * MiB), 14 * MiB);
	m.swap_max = CG_LIMIT_MAX;
	assert_int_equal(budget_headroom_one(&m, 10 * MiB), 14 * MiB);
	/* no memory.swap.* files: only the system bounds swap */
	m.swap_present = false;
	assert_int_equal(budget_headroom_one(&m, 10 * MiB), 14 * MiB);
	/* over the limit (can happen briefly): no negative headroom */
	CgMemory over = {.current = 70 * MiB, .max = 64 * MiB, .swap_present = true, .swap_max = 0};
	assert_int_equal(budget_headroom_one(&over, 0), 0);
	/* no memory.max: unlimited at this level */
	CgMemory open = {.current = 1, .max = CG_LIMIT_MAX};
	assert_int_equal(budget_headroom_one(&open, 0), BUDGET_UNLIMITED);

	/* the tightest level binds: a pod limit below the container's */
	CgMemory levels[] = {
		{.current = 10 * MiB, .max = 100 * MiB, .swap_present = true},
		{.current = 90 * MiB, .max = 95 * MiB, .swap_present = true},
		{.current = 1, .max = CG_LIMIT_MAX},
	};
	assert_int_equal(budget_headroom(levels, 3, 0), 5 * MiB);
	assert_int_equal(budget_headroom(levels, 0, 0), BUDGET_UNLIMITED);
}

static void test_safe_limit(void **state)
{
	BudgetLimitSource src;
	BudgetInput in = {.page_size = PS, .merge_budget = BUDGET_UNLIMITED};
	assert_int_equal(budget_safe_limit(&in, &src), BUDGET_UNLIMITED);
	assert_int_equal(src, BUDGET_LIMIT_NONE);

	in.merge_budget = 8 * MiB;
	assert_int_equal(budget_safe_limit(&in, &src), 8 * MiB);
	assert_int_equal(src, BUDGET_LIMIT_BUDGET);

	in.headroom_known = true;
	in.headroom = 20 * MiB;
	in.margin = 4 * MiB;
	assert_int_equal(budget_safe_limit(&in, &src), 8 * MiB);
	assert_int_equal(src, BUDGET_LIMIT_BUDGET);

	in.headroom = 10 * MiB;
	assert_int_equal(budget_safe_limit(&in, &src), 6 * MiB);
	assert_int_equal(src, BUDGET_LIMIT_HEADROOM);
	assert_string_equal(budget_limit_source_name(src), "headroom");

	/* headroom below the margin: nothing may stay merged */
	in.headroom = 3 * MiB;
	assert_int_equal(budget_safe_limit(&in, &src), 0);

	/* unknown headroom (no memcg v2) is ignored, not taken as 0 */
	in.headroom_known = false;
	assert_int_equal(budget_safe_limit(&in, &src), 8 * MiB);
	/* an unlimited headroom does not bind */
	in.headroom_known = true;
	in.headroom = BUDGET_UNLIMITED;
	in.merge_budget = BUDGET_UNLIMITED;
	assert_int_equal(budget_safe_limit(&in, &src), BUDGET_UNLIMITED);
	assert_int_equal(src, BUDGET_LIMIT_NONE);
}

static void test_plan_biggest_first(void **state)
{
	/* pids 1..5 with debts 10, 300, 50, 300, 0 pages */
	BudgetProc p[] = {{1, 10, 0}, {2, 300, 0}, {3, 40, 10}, {4, 300, 0}, {5, 0, 0}};
	BudgetInput in = {.page_size = PS, .merge_budget = 100 * PS, .unmerge_room = BUDGET_UNLIMITED};
	_cleanup_free_ size_t *order = NULL;
	BudgetVerdict v;
	assert_int_equal(budget_plan(p, 5, &in, &order, &v), 0);
	assert_int_equal(v.debt, 660 * PS);
	assert_int_equal(v.limit, 100 * PS);
	assert_true(v.over);
	/* ties broken by pid: 2 before 4; 660 - 300 - 300 = 60 <= 100: two
	 * processes are enough */
	assert_int_equal(v.n_unmerge, 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 3);
	assert_int_equal(v.debt_after, 60 * PS);
	assert_int_equal(v.n_unsafe, 0);
	free(TAKE_PTR(order));

	/* a lower budget walks on down: 3 (50 pages) then 1 (10) */
	in.merge_budget = 0;
	assert_int_equal(budget_plan(p, 5, &in, &order, &v), 0);
	assert_int_equal(v.n_unmerge, 4);
	size_t want[] = {1, 3, 2, 0};
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(order[i], want[i]);
	assert_int_equal(v.debt_after, 0);
}

/* Unmerging must itself fit: a process whose copy-back would not fit in the
 * room left is skipped (the cgroup stays over, n_unsafe says why), smaller
 * ones that fit are still taken, and the room shrinks with each one. */
static void test_plan_fit(void **state)
{
	BudgetProc p[] = {{1, 1000, 0}, {2, 300, 0}, {3, 200, 0}, {4, 100, 0}};
	BudgetInput in = {.page_size = PS,
			  .merge_budget = 0,
			  .headroom_known = true,
			  .headroom = BUDGET_UNLIMITED,
			  .margin = 50 * PS,
			  .unmerge_room = 600 * PS};
	_cleanup_free_ size_t *sel = NULL;
	BudgetVerdict v;
	assert_int_equal(budget_plan(p, 4, &in, &sel, &v), 0);
	assert_true(v.over);
	/* room 550: 1 (1000) skipped, 2 (300) taken -> 250 left, 3 (200) taken
	 * -> 50 left, 4 (100) skipped */
	assert_int_equal(v.n_unmerge, 2);
	assert_int_equal(sel[0], 1);
	assert_int_equal(sel[1], 2);
	assert_int_equal(v.n_unsafe, 2);
	assert_int_equal(v.debt_after, 1100 * PS);
	assert_true(v.debt_after > v.limit);
	free(TAKE_PTR(sel));

	/* no room at all: nothing is touched, all are unsafe */
	in.unmerge_room = 10 * PS;
	assert_int_equal(budget_plan(p, 4, &in, &sel, &v), 0);
	assert_int_equal(v.n_unmerge, 0);
	assert_null(sel);
	assert_int_equal(v.n_unsafe, 4);
	assert_int_equal(v.debt_after, v.debt);
}

static void test_plan_under_and_edge(void **state)
{
	BudgetProc p[] = {{1, 10, 0}, {2, 20, 0}};
	BudgetInput in = {.page_size = PS, .merge_budget = 30 * PS, .unmerge_room = BUDGET_UNLIMITED};
	_cleanup_free_ size_t *order = NULL;
	BudgetVerdict v;
	/* exactly at the limit is not over */
	assert_int_equal(budget_plan(p, 2, &in, &order, &v), 0);
	assert_false(v.over);
	assert_int_equal(v.n_unmerge, 0);
	assert_null(order);

	/* limit 0 (headroom under the margin): everyone */
	in.merge_budget = BUDGET_UNLIMITED;
	in.headroom_known = true;
	in.headroom = 1 * MiB;
	in.margin = 2 * MiB;
	assert_int_equal(budget_plan(p, 2, &in, &order, &v), 0);
	assert_true(v.over);
	assert_int_equal(v.source, BUDGET_LIMIT_HEADROOM);
	assert_int_equal(v.n_unmerge, 2);
	assert_int_equal(v.debt_after, 0);
	free(TAKE_PTR(order));

	/* zero-debt processes are not unmerged for nothing */
	BudgetProc q[] = {{1, 0, 0}, {2, 5, 0}, {3, 0, 0}};
	in.headroom = 2 * MiB; /* limit 0 */
	assert_int_equal(budget_plan(q, 3, &in, &order, &v), 0);
	assert_int_equal(v.n_unmerge, 1);
	assert_int_equal(order[0], 1);
	free(TAKE_PTR(order));

	/* empty cgroup */
	assert_int_equal(budget_plan(NULL, 0, &in, &order, &v), 0);
	assert_null(order);
	assert_false(v.over);

	in.page_size = 0;
	assert_int_equal(budget_plan(p, 2, &in, &order, &v), -EINVAL);
}

/* The scenario the VM test runs: memory.max just above usage, merged pages
 * whose unmerging would not fit. */
static void test_plan_headroom_scenario(void **state)
{
	CgMemory m = {.current = 40 * MiB, .max = 44 * MiB, .swap_present = true, .swap_max = 0};
	uint64_t h = budget_headroom(&m, 1, 256 * MiB);
	BudgetProc p[] = {{100, 8192, 0}, {101, 256, 0}}; /* 32 MiB + 1 MiB */
	BudgetInput in = {.page_size = PS,
			  .merge_budget = BUDGET_UNLIMITED,
			  .headroom_known = true,
			  .headroom = h,
			  .margin = 1 * MiB,
			  .unmerge_room = BUDGET_UNLIMITED};
	_cleanup_free_ size_t *order = NULL;
	BudgetVerdict v;
	assert_int_equal(budget_plan(p, 2, &in, &order, &v), 0);
	assert_int_equal(v.limit, 3 * MiB);
	assert_true(v.over);
	assert_int_equal(v.n_unmerge, 1);
	assert_int_equal(p[order[0]].pid, 100);
	assert_int_equal(v.debt_after, 1 * MiB);
	free(TAKE_PTR(order));

	/* ... but with the room checked (as pagemeldd does), the 32 MiB copy
	 * back cannot fit in 4 MiB: pid 100 is left merged, unsafe, rather
	 * than OOM-killed by its own unmerging; pid 101 (1 MiB) fits */
	in.unmerge_room = h;
	assert_int_equal(budget_plan(p, 2, &in, &order, &v), 0);
	assert_true(v.over);
	assert_int_equal(v.n_unmerge, 1);
	assert_int_equal(p[order[0]].pid, 101);
	assert_int_equal(v.n_unsafe, 1);
	assert_int_equal(v.debt_after, 32 * MiB);
	in.unmerge_room = BUDGET_UNLIMITED;

	/* the same cgroup allowed to swap 64 MiB: fits */
	m.swap_max = 64 * MiB;
	in.headroom = budget_headroom(&m, 1, 256 * MiB);
	free(TAKE_PTR(order));
	assert_int_equal(budget_plan(p, 2, &in, &order, &v), 0);
	assert_false(v.over);
}

static void test_unmerge_prediction(void **state)
{
	UnmergePrediction p;
	char buf[UNMERGE_PREDICTION_MAX];
	unmerge_predict(1000, 24, PS, 1 * MiB, 2 * MiB, 1 * MiB, &p);
	assert_int_equal(p.need, 1024 * PS + 1 * MiB);
	assert_int_equal(p.available, 3 * MiB);
	assert_false(p.fits); /* 5 MiB > 3 MiB */
	unmerge_prediction_format(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, "needs 5.0 MiB"));
	assert_non_null(strstr(buf, "pages_sharing 1000"));
	assert_non_null(strstr(buf, "but only 3.0 MiB is available"));
	assert_non_null(strstr(buf, "MemAvailable 2097152"));
	assert_non_null(strstr(buf, "SwapFree 1048576"));

	unmerge_predict(1000, 24, PS, 1 * MiB, 4 * MiB, 1 * MiB, &p);
	assert_true(p.fits); /* exactly enough */
	unmerge_prediction_format(&p, buf, sizeof(buf));
	assert_non_null(strstr(buf, " and 5.0 MiB is available"));

	unmerge_predict(UINT64_MAX, 0, PS, 0, 0, 0, &p);
	assert_int_equal(p.need, UINT64_MAX);
	assert_false(p.fits);
}

static void test_cgroup_fits(void **state)
{
	assert_true(budget_cgroup_unmerge_fits(10 * MiB, 12 * MiB, 2 * MiB));
	assert_false(budget_cgroup_unmerge_fits(10 * MiB, 12 * MiB, 3 * MiB));
	assert_true(budget_cgroup_unmerge_fits(UINT64_MAX, BUDGET_UNLIMITED, 0));
	assert_false(budget_cgroup_unmerge_fits(UINT64_MAX, UINT64_MAX - 1, 1));
}

static void test_verdict_format(void **state)
{
	char buf[BUDGET_VERDICT_MAX];
	BudgetInput in = {.page_size = PS, .merge_budget = 1 * MiB, .margin = 4096};
	BudgetVerdict v = {.debt = 8 * MiB, .limit = 1 * MiB, .source = BUDGET_LIMIT_BUDGET, .n_unmerge = 1};
	assert_string_equal(budget_verdict_format(&v, &in, buf, sizeof(buf)),
			    "over its budget limit: merge debt 8.0 MiB > 1.0 MiB (budget 1.0 MiB, headroom "
			    "unknown, margin 4096): unmerging 1 of its biggest mergers");
	/* budget and headroom both known: each shows its own figure */
	in.headroom_known = true;
	in.headroom = 3 * MiB;
	v.limit = 3 * MiB - 4096;
	v.source = BUDGET_LIMIT_HEADROOM;
	in.merge_budget = 512 * MiB;
	v.n_unmerge = 2;
	assert_string_equal(
		budget_verdict_format(&v, &in, buf, sizeof(buf)),
		"over its headroom limit: merge debt 8.0 MiB > 3.0 MiB (budget 512.0 MiB, headroom "
		"3.0 MiB, margin 4096): unmerging 2 of its biggest mergers");
	in.merge_budget = BUDGET_UNLIMITED;
	assert_non_null(strstr(budget_verdict_format(&v, &in, buf, sizeof(buf)),
			       "(budget unlimited, headroom 3.0 MiB"));
}

static BudgetFacts facts(BudgetEvent ev, CgroupStatus status)
{
	return (BudgetFacts){
		.event = ev,
		.status = status,
		.enabled = true,
		.memcg = BUDGET_MEMCG_YES,
		.memcg_checked = true,
		.in = {.page_size = PS, .merge_budget = 100 * PS, .unmerge_room = BUDGET_UNLIMITED},
		.self = 1,
	};
}

/* budget_decide() must succeed; its decision (nothing to free unless it
 * unmerges, which the callers check). */
static BudgetDecision decide_ok(const BudgetFacts *f)
{
	BudgetDecision d;
	assert_int_equal(budget_decide(f, &d), 0);
	return d;
}

/* The State rules as a table: event and facts -> State, warning, reset. */
static void test_decide_status(void **state)
{
#define Y BUDGET_MEMCG_YES
#define N BUDGET_MEMCG_NO
#define U BUDGET_MEMCG_UNKNOWN
	static const struct {
		BudgetEvent event;
		CgroupStatus status;
		BudgetMemcg memcg;
		bool checked, logged;
		uint64_t old_budget; /* pages; the new one is 100 */
		CgroupStatus want;
		bool want_log, want_logged, want_reset;
	} rows[] = {
		/* no memory controller: unsupported, warned once */
		{BUDGET_EVENT_EVALUATE, CGROUP_MERGING, N, true, false, 0, CGROUP_UNSUPPORTED, true, true,
		 false},
		{BUDGET_EVENT_EVALUATE, CGROUP_UNSUPPORTED, N, true, true, 0, CGROUP_UNSUPPORTED, false, true,
		 false},
		/* over-budget and disabled stay what they are */
		{BUDGET_EVENT_EVALUATE, CGROUP_OVER_BUDGET, N, true, true, 0, CGROUP_OVER_BUDGET, false, true,
		 false},
		{BUDGET_EVENT_MEMCG, CGROUP_DISABLED, N, true, false, 0, CGROUP_DISABLED, true, true, false},
		/* the controller appears: merging again, a later loss warns again */
		{BUDGET_EVENT_EVALUATE, CGROUP_UNSUPPORTED, Y, true, true, 0, CGROUP_MERGING, false, false,
		 false},
		/* a failed check (the cgroup may be gone) changes nothing */
		{BUDGET_EVENT_EVALUATE, CGROUP_UNSUPPORTED, U, true, true, 0, CGROUP_UNSUPPORTED, false, true,
		 false},
		/* nor does a cached answer: State follows fresh checks only */
		{BUDGET_EVENT_MEMCG, CGROUP_MERGING, N, false, false, 0, CGROUP_MERGING, false, false, false},
		{BUDGET_EVENT_MEMCG, CGROUP_MERGING, N, true, false, 0, CGROUP_UNSUPPORTED, true, true,
		 false},
		/* raising the budget of an over-budget cgroup lets it merge again,
		 * unsupported without a memory controller */
		{BUDGET_EVENT_BUDGET_SET, CGROUP_OVER_BUDGET, Y, false, false, 50, CGROUP_MERGING, false,
		 false, true},
		{BUDGET_EVENT_BUDGET_SET, CGROUP_OVER_BUDGET, N, false, true, 50, CGROUP_UNSUPPORTED, false,
		 true, true},
		/* lowering or keeping it does not; a merging cgroup stays merging */
		{BUDGET_EVENT_BUDGET_SET, CGROUP_OVER_BUDGET, Y, false, false, 100, CGROUP_OVER_BUDGET, false,
		 false, false},
		{BUDGET_EVENT_BUDGET_SET, CGROUP_MERGING, Y, false, false, 50, CGROUP_MERGING, false, false,
		 false},
		/* EnableCgroup: merging until the next memory controller check */
		{BUDGET_EVENT_ENABLE, CGROUP_OVER_BUDGET, Y, false, false, 0, CGROUP_MERGING, false, false,
		 true},
		{BUDGET_EVENT_ENABLE, CGROUP_DISABLED, N, false, true, 0, CGROUP_MERGING, false, true, true},
		{BUDGET_EVENT_ENABLE, CGROUP_MERGING, Y, false, false, 0, CGROUP_MERGING, false, false, true},
		{BUDGET_EVENT_ENABLE, CGROUP_UNSUPPORTED, N, false, true, 0, CGROUP_UNSUPPORTED, false, true,
		 true},
		/* DisableCgroup wins over everything */
		{BUDGET_EVENT_DISABLE, CGROUP_OVER_BUDGET, Y, true, false, 0, CGROUP_DISABLED, false, false,
		 false},
		{BUDGET_EVENT_DISABLE, CGROUP_UNSUPPORTED, N, true, true, 0, CGROUP_DISABLED, false, true,
		 false},
	};
#undef Y
#undef N
#undef U
	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		BudgetFacts f = facts(rows[i].event, rows[i].status);
		f.memcg = rows[i].memcg;
		f.memcg_checked = rows[i].checked;
		f.unsupported_logged = rows[i].logged;
		f.old_merge_budget = rows[i].old_budget * PS;
		BudgetDecision d = decide_ok(&f);
		print_message("row %zu\n", i);
		assert_int_equal(d.status, rows[i].want);
		assert_int_equal(d.log_unsupported, rows[i].want_log);
		assert_int_equal(d.unsupported_logged, rows[i].want_logged);
		assert_int_equal(d.reset_unmerged, rows[i].want_reset);
		assert_false(d.need_procs || d.budget_exceeded);
	}
	assert_string_equal(cgroup_status_name(CGROUP_OVER_BUDGET), "over-budget");
	assert_string_equal(cgroup_status_name(_CGROUP_STATUS_MAX), "unknown");
}

static void test_decide_evaluate(void **state)
{
	BudgetDecision d;
	BudgetFacts f = facts(BUDGET_EVENT_EVALUATE, CGROUP_MERGING);
	/* under: nothing; the debt counts zero pages */
	f.merging_pages = 60;
	f.zero_pages = 40;
	d = decide_ok(&f);
	assert_int_equal(d.debt, 100 * PS);
	assert_int_equal(d.limit, 100 * PS);
	assert_false(d.need_procs || d.budget_exceeded);
	assert_int_equal(d.status, CGROUP_MERGING);
	/* one zero page more: over on the sums, the processes are needed */
	f.zero_pages = 41;
	d = decide_ok(&f);
	assert_true(d.need_procs);
	assert_false(d.budget_exceeded);
	assert_int_equal(d.status, CGROUP_MERGING);

	/* with them: pagemeldd itself and processes already unmerged are
	 * left out, the biggest of the rest is unmerged */
	BudgetProc procs[] = {{1, 500, 0}, {10, 30, 11}, {11, 50, 0}, {12, 20, 0}};
	pid_t unmerged[] = {12};
	f.procs = procs;
	f.n_procs = ELEMENTSOF(procs);
	f.procs_read = true;
	f.unmerged = unmerged;
	f.n_unmerged = 1;
	/* their sum is under the limit: over only on the lagging sums,
	 * neither over budget nor anything to unmerge */
	d = decide_ok(&f);
	assert_false(d.need_procs);
	assert_int_equal(d.verdict.debt, 91 * PS);
	assert_int_equal(d.verdict.limit, 100 * PS);
	assert_false(d.verdict.over || d.budget_exceeded);
	assert_int_equal(d.status, CGROUP_MERGING);
	assert_int_equal(d.n_unmerge, 0);

	f.in.merge_budget = 60 * PS;
	d = decide_ok(&f);
	assert_true(d.budget_exceeded);
	assert_int_equal(d.n_unmerge, 1);
	assert_int_equal(d.unmerge[0], 11);
	assert_int_equal(d.verdict.debt_after, 41 * PS);
	budget_decision_done(&d);
	assert_null(d.unmerge);

	/* an unmerge already runs: the same verdict, unmerging deferred */
	f.ksm_busy = true;
	d = decide_ok(&f);
	assert_true(d.budget_exceeded && d.unmerge_later);
	assert_int_equal(d.n_unmerge, 0);
	assert_int_equal(d.status, CGROUP_OVER_BUDGET);

	/* disabled cgroups are not evaluated */
	f.ksm_busy = false;
	f.status = CGROUP_DISABLED;
	f.enabled = false;
	d = decide_ok(&f);
	assert_false(d.need_procs || d.budget_exceeded);
	assert_int_equal(d.n_unmerge, 0);
	assert_int_equal(d.status, CGROUP_DISABLED);

	f.in.page_size = 0;
	assert_int_equal(budget_decide(&f, &d), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debt),
		cmocka_unit_test(test_headroom),
		cmocka_unit_test(test_safe_limit),
		cmocka_unit_test(test_plan_biggest_first),
		cmocka_unit_test(test_plan_under_and_edge),
		cmocka_unit_test(test_plan_fit),
		cmocka_unit_test(test_plan_headroom_scenario),
		cmocka_unit_test(test_unmerge_prediction),
		cmocka_unit_test(test_cgroup_fits),
		cmocka_unit_test(test_verdict_format),
		cmocka_unit_test(test_decide_status),
		cmocka_unit_test(test_decide_evaluate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
