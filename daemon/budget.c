/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Budgets in the daemon: per-cgroup merge debt against
 * min(merge budget, headroom - margin), over-budget unmerging of the biggest
 * mergers that fit, swap budgets in memory.swap.max (the previous value put
 * back when the cgroup goes), UnmergeAll / SetMergeAcrossNodes /
 * DisableCgroup through the unmerge worker (a forked child: see
 * unmerge-worker.h), and the scan policy. The arithmetic is in
 * budget-policy.c and scan-policy.c (pure, unit-tested).
 */
#include "budget.h"

#include <time.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "budget-policy.h"
#include "cgroup.h"
#include "errors.h"
#include "fileio.h"
#include "ksm-journal.h"
#include "ksm-stat.h"
#include "log.h"
#include "macro.h"
#include "meminfo.h"
#include "pidfd-util.h"
#include "quantity.h"
#include "registry.h"
#include "remote.h"
#include "scan-policy.h"
#include "unmerge-worker.h"
#include "util.h"

#define SWAP_SAVED_FILE "swap-saved"

static void proc_job_done(BudgetProcJob *j)
{
	for (size_t i = 0; i < j->n; i++)
		safe_close(j->pidfds[i]);
	free(j->pids);
	free(j->pidfds);
	*j = (BudgetProcJob){};
}

bool budget_ksm_busy(Manager *m)
{
	return unmerge_worker_running(m->budget.worker);
}

int budget_busy_error(Manager *m, sd_bus_error *error)
{
	BudgetManager *bm = &m->budget;
	return sd_bus_error_setf(error, PM_ERROR_BUSY,
				 "KSM is busy: %s is running (pid %d); /sys/kernel/mm/ksm cannot be written "
				 "until it ends (UnmergeFinished)",
				 bm->job == BUDGET_JOB_MERGE_ACROSS_NODES ? "SetMergeAcrossNodes"
				 : bm->job == BUDGET_JOB_UNMERGE_ALL	  ? "UnmergeAll"
									  : "an unmerge",
				 (int)unmerge_worker_pid(bm->worker));
}

/* ---- saved memory.swap.max values ---- */

static int swap_saved_write(Manager *m, BudgetManager *bm)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = -EBADF;
	size_t size;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < bm->n_saved; i++) {
		fprintf(f, "%" PRIu64, bm->saved[i].prev);
		if (bm->saved[i].by_root != UINT64_MAX)
			fprintf(f, " root=%" PRIu64, bm->saved[i].by_root);
		fprintf(f, " %s\n", bm->saved[i].path);
	}
	if (fclose(f) != 0 || !text)
		return -ENOMEM;
	dfd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return write_file_atomic_at(dfd, SWAP_SAVED_FILE, "." SWAP_SAVED_FILE ".tmp", text);
}

static void swap_saved_load(Manager *m, BudgetManager *bm)
{
	if (bm->saved_loaded)
		return;
	bm->saved_loaded = true;
	_cleanup_free_ char *path = path_join(m->state_dir, SWAP_SAVED_FILE);
	_cleanup_free_ char *text = NULL;
	if (!path || read_full_file(path, 1 << 20, &text, NULL) < 0)
		return;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* "PREV [root=BUDGET] PATH" */
		char *sp = strchr(line, ' ');
		uint64_t prev, by_root = UINT64_MAX;
		if (!sp)
			continue;
		*sp = '\0';
		if (parse_u64_or_max(line, &prev) < 0 && parse_u64(line, &prev) < 0)
			continue;
		if (startswith(sp + 1, "root=")) {
			char *v = sp + 1 + STRLEN("root=");
			sp = strchr(v, ' ');
			if (!sp)
				continue;
			*sp = '\0';
			if (parse_u64(v, &by_root) < 0)
				continue;
		}
		if (sp[1] != '/')
			continue;
		BudgetSwapSaved *n = realloc(bm->saved, (bm->n_saved + 1) * sizeof(BudgetSwapSaved));
		if (!n)
			return;
		bm->saved = n;
		bm->saved[bm->n_saved].path = strdup(sp + 1);
		bm->saved[bm->n_saved].prev = prev;
		bm->saved[bm->n_saved].by_root = by_root;
		if (bm->saved[bm->n_saved].path)
			bm->n_saved++;
	}
}

static BudgetSwapSaved *swap_saved_find(BudgetManager *bm, const char *path)
{
	for (size_t i = 0; i < bm->n_saved; i++)
		if (streq(bm->saved[i].path, path))
			return &bm->saved[i];
	return NULL;
}

static void swap_saved_forget(Manager *m, BudgetManager *bm, const char *path)
{
	BudgetSwapSaved *s = swap_saved_find(bm, path);
	if (!s)
		return;
	free(s->path);
	*s = bm->saved[--bm->n_saved];
	(void)swap_saved_write(m, bm);
}

/* Write the swap budget to memory.swap.max, remembering the limit found
 * there (the kubelet's or the operator's, persisted); or with no budget, put
 * that limit back. A budget from an annotation or the default may only
 * lower the limit, never raise it: what is written is the smaller of the
 * two. A value someone else wrote since (seen as a change from what we
 * wrote, or after a restart as one below what we would write) is the limit
 * from then on. by_root: cg->swap_budget comes from SetBudget (root), which
 * is written as it is, for as long as it stays the budget. */
static int apply_swap_budget(Manager *m, CgroupState *cg, bool by_root)
{
	BudgetManager *bm = &m->budget;
	BudgetCgroup *bc = &cg->budget;
	swap_saved_load(m, bm);
	BudgetSwapSaved *s = swap_saved_find(bm, cg->path);

	if (cg->swap_budget == UINT64_MAX) {
		if (!s)
			return 0;
		int r = cg_write_limit(m->cgroup_mount, cg->path, "memory.swap.max", s->prev);
		if (r < 0 && r != -ENOENT)
			return log_warning_errno(r, "Cannot restore memory.swap.max of %s: %m", cg->path);
		log_info("Restored memory.swap.max=%s%" PRIu64 " of %s",
			 s->prev == CG_LIMIT_MAX ? "max/" : "", s->prev, cg->path);
		swap_saved_forget(m, bm, cg->path);
		bc->swap_applied_valid = false;
		return 0;
	}

	uint64_t cur;
	int r = cg_read_limit(m->cgroup_mount, cg->path, "memory.swap.max", &cur);
	if (r < 0)
		return r; /* -ENOENT: no swap accounting (CONFIG_SWAP off) */
	/* Written by someone else since: their value is the limit from now on. */
	bool external =
		s && (bc->swap_applied_valid ? cur != bc->swap_applied : cur < MIN(cg->swap_budget, s->prev));
	bool save = !s || external || (by_root && s->by_root != cg->swap_budget);
	if (!s) {
		BudgetSwapSaved *n = realloc(bm->saved, (bm->n_saved + 1) * sizeof(BudgetSwapSaved));
		if (!n)
			return -ENOMEM;
		bm->saved = n;
		bm->saved[bm->n_saved] = (BudgetSwapSaved){strdup(cg->path), cur, UINT64_MAX};
		if (!bm->saved[bm->n_saved].path)
			return -ENOMEM;
		s = &bm->saved[bm->n_saved++];
	} else if (external) {
		log_info("memory.swap.max of %s was set to %s%" PRIu64
			 " by someone else: the limit from now on",
			 cg->path, cur == CG_LIMIT_MAX ? "max/" : "", cur);
		s->prev = cur;
	}
	if (by_root)
		s->by_root = cg->swap_budget;
	if (save) {
		r = swap_saved_write(m, bm);
		if (r < 0)
			log_warning_errno(r, "Cannot save the previous memory.swap.max of %s: %m", cg->path);
	}
	uint64_t want = s->by_root == cg->swap_budget ? cg->swap_budget : MIN(cg->swap_budget, s->prev);
	if (cur != want) {
		r = cg_write_limit(m->cgroup_mount, cg->path, "memory.swap.max", want);
		if (r < 0)
			return r;
		char b[FORMAT_BYTES_MAX];
		log_info("Swap budget of %s: memory.swap.max=%" PRIu64 " (%s%s)", cg->path, want,
			 format_bytes(b, sizeof(b), want),
			 want < cg->swap_budget ? ", the limit found there: a budget only lowers it" : "");
	}
	bc->swap_applied = want;
	bc->swap_applied_valid = true;
	return 0;
}

/* ---- headroom ---- */

/* min over the cgroup and its ancestors (below the root, which has no
 * limits) of memory.max - memory.current + swap it may still use. */
static int cgroup_headroom(Manager *m, const char *path, uint64_t swap_free, uint64_t *ret)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	uint64_t h = BUDGET_UNLIMITED;
	bool first = true;
	while (!streq(p, "/") && *p) {
		CgMemory mem;
		int r = cg_read_memory(m->cgroup_mount, p, &mem);
		if (r == -EOPNOTSUPP && !first)
			break; /* the controller stops here going up */
		if (r < 0)
			return r;
		h = MIN(h, budget_headroom_one(&mem, swap_free));
		first = false;
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	*ret = h;
	return 0;
}

/* The kernel's KSM counters move: the cache is stale, KsmRun & co. changed. */
static void ksm_changed(Manager *m)
{
	m->ksm_valid = false;
	manager_mark_dirty(m, MANAGER_DIRTY_KSM);
}

void budget_set_hooks(Manager *m, const BudgetHooks *hooks)
{
	m->budget.hooks = hooks;
}

/* ---- the worker ---- */

/* Threads we could not put back yet (lib/remote.h remote_drain()) are
 * waited for this long before the child exits: its exit would resume
 * them on our registers. */
#define JOB_DRAIN_USEC (2 * 1000 * 1000ULL)

static int job_merge_any_off(void *data, char *msg, size_t size)
{
	BudgetProcJob *j = data;
	int first = 0;
	unsigned ok = 0, gone = 0, failed = 0;
	size_t i = 0;
	uint64_t start = now_usec(CLOCK_MONOTONIC);
	/* every injection has its own deadlines; this one bounds the job, so
	 * a cgroup full of stalling processes cannot keep the worker (and
	 * every other cgroup's budget) busy */
	for (; i < j->n; i++) {
		if (j->timeout_usec && now_usec(CLOCK_MONOTONIC) - start > j->timeout_usec)
			break;
		int r = remote_set_merge_any(j->pidfds[i], false);
		if (r == -ESRCH)
			gone++;
		else if (r < 0) {
			if (!failed)
				first = r;
			failed++;
		} else
			ok++;
	}
	for (uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	     remote_drain() > 0 && now_usec(CLOCK_MONOTONIC) - t0 < JOB_DRAIN_USEC;)
		(void)usleep(10 * 1000);
	if (i < j->n) {
		snprintf(msg, size,
			 "gave up after %.1f s: merge-any switched off in %u of %zu processes, %u failed, "
			 "%zu not "
			 "tried",
			 (double)(now_usec(CLOCK_MONOTONIC) - start) / 1e6, ok, j->n, failed, j->n - i);
		return -ETIMEDOUT;
	}
	if (failed)
		snprintf(msg, size, "merge-any could not be switched off in %u of %zu processes (first: %s)",
			 failed, j->n, strerror(-first));
	return failed ? first : 0;
}

static void unmerged_add(BudgetCgroup *bc, pid_t pid)
{
	for (size_t i = 0; i < bc->n_unmerged; i++)
		if (bc->unmerged[i] == pid)
			return;
	pid_t *n = realloc(bc->unmerged, (bc->n_unmerged + 1) * sizeof(pid_t));
	if (!n)
		return;
	bc->unmerged = n;
	bc->unmerged[bc->n_unmerged++] = pid;
}

/* ---- the record of a KSM-wide job (ksm-journal.h) ---- */

static int journal_job(Manager *m, BudgetJob job, uint64_t run_after, sd_bus_error *error)
{
	KsmJournal j = {};
	uint64_t mac;

	snprintf(j.job, sizeof(j.job), "%s",
		 unmerge_job_name(job == BUDGET_JOB_UNMERGE_ALL ? UNMERGE_JOB_ALL
								: UNMERGE_JOB_MERGE_ACROSS_NODES));
	j.has_run = run_after != UNMERGE_RUN_KEEP;
	j.run = run_after;
	if (ksm_read_field(m->ksm_dir, KSM_merge_across_nodes, &mac) >= 0) {
		j.has_merge_across_nodes = true;
		j.merge_across_nodes = mac;
	}
	int r = ksm_journal_save(m->state_dir, &j);
	if (r < 0)
		return sd_bus_error_set_errnof(
			error, -r,
			"Cannot record the job in %s/" KSM_JOURNAL_FILE
			" (the next start needs it should pagemeldd die during it): %s",
			m->state_dir, strerror(-r));
	return 0;
}

static void journal_forget(Manager *m)
{
	int r = ksm_journal_remove(m->state_dir);
	if (r < 0)
		log_warning_errno(r, "Cannot remove %s/" KSM_JOURNAL_FILE ": %m", m->state_dir);
}

int budget_ksm_repair(Manager *m)
{
	KsmJournal j;
	uint64_t cur, shared;
	int r;

	if (budget_ksm_busy(m))
		return -EBUSY;
	r = ksm_journal_load(m->state_dir, &j);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_warning_errno(r, "Cannot read %s/" KSM_JOURNAL_FILE ", removing it: %m", m->state_dir);
		journal_forget(m);
		return 0;
	}
	log_warning("KSM job %s did not finish (pagemeldd stopped during it): putting the knobs back", j.job);

	/* Unacknowledged, so undone; possible only while nothing is shared,
	 * which holds until run is 1 again. Shared pages mean the job had
	 * finished and run was back: the switch stands. */
	if (j.has_merge_across_nodes && ksm_read_field(m->ksm_dir, KSM_merge_across_nodes, &cur) >= 0 &&
	    cur != j.merge_across_nodes) {
		if (ksm_read_field(m->ksm_dir, KSM_pages_shared, &shared) >= 0 && shared == 0) {
			r = ksm_write_field(m->ksm_dir, KSM_merge_across_nodes, j.merge_across_nodes);
			if (r < 0)
				log_error_errno(r, "Cannot restore KSM merge_across_nodes=%" PRIu64 ": %m",
						j.merge_across_nodes);
			else
				log_info("Restored KSM merge_across_nodes=%" PRIu64 " (it was %" PRIu64 ")",
					 j.merge_across_nodes, cur);
		} else
			log_warning("KSM merge_across_nodes is %" PRIu64 ", not %" PRIu64
				    " as before %s, and pages are shared again: the switch had completed, "
				    "keeping it",
				    cur, j.merge_across_nodes, j.job);
	}
	if (j.has_run && ksm_read_field(m->ksm_dir, KSM_run, &cur) >= 0 && cur != j.run) {
		do
			r = ksm_write_field(m->ksm_dir, KSM_run, j.run);
		while (r == -EINTR);
		if (r < 0)
			log_error_errno(r, "Cannot restore KSM run=%" PRIu64 " (it is %" PRIu64 "): %m",
					j.run, cur);
		else
			log_info("Restored KSM run=%" PRIu64 " (it was %" PRIu64 ")", j.run, cur);
	}
	journal_forget(m);
	m->ksm_valid = false;
	return 1;
}

/* The deferred reply of the job, if a method is waiting for one. */
static void reply_deferred(BudgetManager *bm, int error, const char *message, const char *what)
{
	budget_reply_t reply = bm->reply;
	void *userdata = bm->reply_userdata;
	if (!reply)
		return;
	bm->reply = NULL;
	bm->reply_userdata = NULL;
	reply(userdata, error, what, message);
}

static void on_worker_progress(UnmergeWorker *w, uint64_t sharing, uint64_t shared, void *userdata)
{
	Manager *m = userdata;
	log_debug("Unmerging: pages_sharing=%" PRIu64 " pages_shared=%" PRIu64, sharing, shared);
	ksm_changed(m);
}

static void on_worker_done(UnmergeWorker *w, const UnmergeResult *res, void *userdata)
{
	Manager *m = userdata;
	BudgetManager *bm = &m->budget;
	BudgetJob job = bm->job;
	char text[UNMERGE_MESSAGE_MAX + 64];

	if (res->error == 0)
		text[0] = '\0';
	else
		snprintf(text, sizeof(text), "%s: %s", errno_name(res->error), res->message);

	switch (job) {
	case BUDGET_JOB_UNMERGE_ALL:
	case BUDGET_JOB_MERGE_ACROSS_NODES: {
		const char *what = job == BUDGET_JOB_UNMERGE_ALL ? "UnmergeAll" : "SetMergeAcrossNodes";
		if (res->error == 0)
			log_info("%s finished in %.3f s: pages_sharing %" PRIu64 " -> %" PRIu64
				 ", run=%" PRIu64,
				 what, (double)res->usec / 1e6, res->pages_sharing_before,
				 res->pages_sharing_after, res->run_restored);
		else
			log_error("%s failed after %.3f s: %s (pages_sharing %" PRIu64 " -> %" PRIu64 ")",
				  what, (double)res->usec / 1e6, text, res->pages_sharing_before,
				  res->pages_sharing_after);
		/* run is back (or was left alone): the record has served. When
		 * restoring run failed, the next start tries again. */
		if (res->run_restored != UNMERGE_RUN_KEEP || unmerge_worker_run_after(w) == UNMERGE_RUN_KEEP)
			journal_forget(m);
		reply_deferred(bm, res->error, res->message, what);
		if (bm->hooks && bm->hooks->unmerge_finished)
			bm->hooks->unmerge_finished(m, res->error == 0, text);
		ksm_changed(m);
		if (job == BUDGET_JOB_MERGE_ACROSS_NODES)
			manager_mark_dirty(m, MANAGER_DIRTY_MERGE_ACROSS_NODES);
		break;
	}
	case BUDGET_JOB_CGROUP_DISABLE:
	case BUDGET_JOB_CGROUP_OVER_BUDGET: {
		CgroupState *cg = bm->job_cgroup ? registry_find_cgroup(m, bm->job_cgroup) : NULL;
		if (res->error == 0)
			log_info("%s: merge-any off in %zu processes of %s (%.3f s)",
				 job == BUDGET_JOB_CGROUP_DISABLE ? "DisableCgroup" : "Over budget",
				 bm->procs.n, strna(bm->job_cgroup), (double)res->usec / 1e6);
		else
			log_error("%s of %s: %s",
				  job == BUDGET_JOB_CGROUP_DISABLE ? "DisableCgroup" : "Over-budget unmerge",
				  strna(bm->job_cgroup), text);
		/* a budget raised meanwhile makes the result moot */
		if (cg && job == BUDGET_JOB_CGROUP_OVER_BUDGET && res->error == 0 &&
		    cg->budget.generation == bm->job_generation)
			for (size_t i = 0; i < bm->procs.n; i++)
				unmerged_add(&cg->budget, bm->procs.pids[i]);
		if (job == BUDGET_JOB_CGROUP_DISABLE)
			reply_deferred(bm, res->error,
				       res->error == -EOPNOTSUPP
					       ? "remote control of merge-any is not available in this build"
					       : res->message,
				       "DisableCgroup");
		if (cg && bm->hooks && bm->hooks->cgroup_unmerged)
			bm->hooks->cgroup_unmerged(m, cg);
		break;
	}
	case BUDGET_JOB_NONE:
		break;
	}

	proc_job_done(&bm->procs);
	bm->job_cgroup = mfree(bm->job_cgroup);
	bm->job = BUDGET_JOB_NONE;
	/* the worker is freed here, from its own callback: it is done with
	 * everything (unmerge_worker_free is safe once done ran) */
	bm->worker = unmerge_worker_free(bm->worker);
}

static uint64_t desired_run(Manager *m)
{
	uint64_t run = 0;
	if (ksm_read_field(m->ksm_dir, KSM_run, &run) < 0)
		return m->config.start_ksm ? KSM_RUN_MERGE : UNMERGE_RUN_KEEP;
	if (run == KSM_RUN_UNMERGE) /* a previous unmerge was cut short */
		return m->config.start_ksm ? KSM_RUN_MERGE : KSM_RUN_STOP;
	return run;
}

static int start_worker(Manager *m, BudgetJob job, UnmergeWorkerParams p, sd_bus_error *error)
{
	BudgetManager *bm = &m->budget;
	p.ksm_dir = m->ksm_dir;
	if (p.job == UNMERGE_JOB_CUSTOM)
		/* the job stops itself after InjectTimeoutSec (plus its last
		 * call's own deadlines and the drain): past this it is stuck */
		p.timeout_usec = 2 * m->config.inject_timeout_usec + m->config.inject_stall_usec +
				 JOB_DRAIN_USEC + 10 * 1000 * 1000ULL;
	p.progress = on_worker_progress;
	p.done = on_worker_done;
	p.userdata = m;
	bool ksm_wide = job == BUDGET_JOB_UNMERGE_ALL || job == BUDGET_JOB_MERGE_ACROSS_NODES;
	int r;
	if (ksm_wide) {
		r = journal_job(m, job, p.run_after, error);
		if (r < 0)
			return r;
	}
	r = unmerge_worker_start(m->event, &p, &bm->worker);
	if (r < 0) {
		if (ksm_wide)
			journal_forget(m);
		return sd_bus_error_set_errnof(error, -r, "Cannot start the unmerge worker: %s",
					       strerror(-r));
	}
	bm->job = job;
	return 0;
}

/* pidfds opened here, in pagemeldd, so the child acts on exactly these:
 * each pid, read earlier from cgroup.procs, still in that cgroup once its
 * pidfd is open (not recycled by another process meanwhile). */
static int proc_job_prepare(Manager *m, BudgetProcJob *j, const char *cgroup, const pid_t *pids, size_t n)
{
	*j = (BudgetProcJob){.timeout_usec = m->config.inject_timeout_usec};
	j->pids = calloc(MAX(n, (size_t)1), sizeof(pid_t));
	j->pidfds = calloc(MAX(n, (size_t)1), sizeof(int));
	if (!j->pids || !j->pidfds) {
		proc_job_done(j);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int fd;
		if (pidfd_open_member(m->proc_root, pids[i], cgroup, &fd) < 0)
			continue; /* exited or left meanwhile */
		j->pids[j->n] = pids[i];
		j->pidfds[j->n] = fd;
		j->n++;
	}
	return 0;
}

/* ---- the sweep hook ---- */

static int system_room(Manager *m, bool cached_ok, MemInfo *ret_mi, uint64_t *ret)
{
	BudgetManager *bm = &m->budget;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	MemInfo mi;
	/* A sweep evaluates every cgroup within milliseconds: one read of
	 * /proc/meminfo serves them all (it showed in the 1000-cgroup bench). */
	if (cached_ok && bm->meminfo_usec && now - bm->meminfo_usec < 200 * 1000)
		mi = bm->meminfo;
	else {
		int r = meminfo_read(m->proc_root, &mi);
		if (r < 0)
			return r;
		bm->meminfo = mi;
		bm->meminfo_usec = now;
	}
	if (ret_mi)
		*ret_mi = mi;
	*ret = mi.mem_available + mi.swap_free;
	return 0;
}

static void refresh_headroom(Manager *m, CgroupState *cg, uint64_t swap_free)
{
	BudgetCgroup *bc = &cg->budget;
	bc->headroom_known = false;
	if (bc->memcg != BUDGET_MEMCG_YES)
		return;
	uint64_t h;
	int r = cgroup_headroom(m, cg->path, swap_free, &h);
	if (r < 0) {
		log_debug_errno(r, "Cannot read the memory limits of %s: %m", cg->path);
		return;
	}
	bc->headroom = h;
	bc->headroom_known = true;
}

/* Returns whether it checked (rather than kept the cached answer). */
static bool check_memcg(Manager *m, CgroupState *cg, bool force)
{
	/* Two path lookups in cgroupfs per cgroup: a third of a 1000-cgroup
	 * sweep. Whether "memory" is in the parent's subtree_control changes
	 * rarely; 30 s is soon enough to notice. */
	BudgetCgroup *bc = &cg->budget;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (!force && bc->memcg_checked_usec && now - bc->memcg_checked_usec < 30 * 1000000ULL)
		return false;
	bc->memcg_checked_usec = now;
	int r = cg_memory_supported(m->cgroup_mount, cg->path);
	bc->memcg = r >= 0 ? BUDGET_MEMCG_YES : r == -EOPNOTSUPP ? BUDGET_MEMCG_NO : BUDGET_MEMCG_UNKNOWN;
	return true;
}

static BudgetFacts facts_of(Manager *m, CgroupState *cg, BudgetEvent event)
{
	const BudgetCgroup *bc = &cg->budget;
	return (BudgetFacts){
		.event = event,
		.status = cg->status,
		.enabled = cg->enabled,
		.memcg = bc->memcg,
		.unsupported_logged = bc->unsupported_logged,
		.merging_pages = cg->merging_pages,
		.zero_pages = cg->zero_pages,
		.in =
			{
				.page_size = m->page_size,
				.merge_budget = cg->merge_budget,
				.headroom_known = bc->headroom_known,
				.headroom = bc->headroom,
				.margin = m->config.headroom_margin,
				.unmerge_room = BUDGET_UNLIMITED,
			},
		.ksm_busy = budget_ksm_busy(m),
		.unmerged = bc->unmerged,
		.n_unmerged = bc->n_unmerged,
		.self = getpid(),
	};
}

/* The state part of a decision; returns the status before it. */
static CgroupStatus apply_decision(CgroupState *cg, const BudgetDecision *d)
{
	BudgetCgroup *bc = &cg->budget;
	CgroupStatus was = cg->status;
	if (d->log_unsupported)
		log_warning("cgroup %s has no cgroup v2 memory controller (a hybrid hierarchy, or \"memory\" "
			    "missing from its parent's cgroup.subtree_control): headroom and swap budgets "
			    "are unsupported there, State=unsupported; only the merge budget applies",
			    cg->path);
	bc->unsupported_logged = d->unsupported_logged;
	if (d->reset_unmerged) {
		bc->n_unmerged = 0;
		bc->generation++;
	}
	cg->status = d->status;
	return was;
}

static int decide(Manager *m, CgroupState *cg, BudgetEvent event, bool memcg_checked,
		  uint64_t old_merge_budget)
{
	BudgetFacts f = facts_of(m, cg, event);
	f.memcg_checked = memcg_checked;
	f.old_merge_budget = old_merge_budget;
	_cleanup_(budget_decision_done) BudgetDecision d = {};
	int r = budget_decide(&f, &d);
	if (r < 0)
		return r;
	return apply_decision(cg, &d);
}

/* The per-process figures of an over-budget cgroup. */
static int read_procs(Manager *m, CgroupState *cg, BudgetProc **ret, size_t *ret_n)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	int r = cg_list_procs(m->cgroup_mount, cg->path, &pids, &n);
	if (r < 0)
		return r;
	_cleanup_free_ BudgetProc *procs = calloc(MAX(n, (size_t)1), sizeof(BudgetProc));
	if (!procs)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		KsmStat st;
		if (ksm_stat_read(m->proc_root, pids[i], &st) < 0)
			continue; /* exited meanwhile */
		if (st.merge_any == KSM_TRISTATE_NO)
			continue; /* 6.14+: already off, the figures lag */
		procs[k++] = (BudgetProc){pids[i], st.merging_pages, st.zero_pages};
	}
	*ret = TAKE_PTR(procs);
	*ret_n = k;
	return 0;
}

static void evaluate(Manager *m, CgroupState *cg)
{
	BudgetCgroup *bc = &cg->budget;
	BudgetManager *bm = &m->budget;
	if (!m->cgroup_mount)
		return;

	bool checked = check_memcg(m, cg, false);
	if (bc->memcg == BUDGET_MEMCG_YES &&
	    (cg->swap_budget != UINT64_MAX || bc->swap_applied_valid || bm->n_saved > 0)) {
		int r = apply_swap_budget(m, cg, false);
		if (r < 0 && r != -ENOENT)
			log_warning_errno(r, "Cannot apply the swap budget of %s: %m", cg->path);
	}

	MemInfo mi = {};
	uint64_t room = BUDGET_UNLIMITED;
	if (system_room(m, true, &mi, &room) < 0)
		room = BUDGET_UNLIMITED;
	refresh_headroom(m, cg, mi.swap_free);

	BudgetFacts f = facts_of(m, cg, BUDGET_EVENT_EVALUATE);
	f.memcg_checked = checked;
	f.in.unmerge_room = bc->headroom_known ? bc->headroom : room;
	_cleanup_(budget_decision_done) BudgetDecision d = {};
	if (budget_decide(&f, &d) < 0)
		return;
	_cleanup_free_ BudgetProc *procs = NULL;
	if (d.need_procs) {
		if (read_procs(m, cg, &procs, &f.n_procs) < 0)
			return;
		f.procs = procs;
		f.procs_read = true;
		budget_decision_done(&d);
		if (budget_decide(&f, &d) < 0)
			return;
	}
	CgroupStatus was = apply_decision(cg, &d);
	if (!d.budget_exceeded)
		return;

	char text[BUDGET_VERDICT_MAX], h[FORMAT_BYTES_MAX];
	log_warning("cgroup %s %s", cg->path, budget_verdict_format(&d.verdict, &f.in, text, sizeof(text)));
	if (d.verdict.n_unsafe)
		log_warning(
			"cgroup %s: %zu processes stay merged: unmerging them would need more than the %s of "
			"room left (it would OOM-kill in the cgroup); raise memory.max or allow swap",
			cg->path, d.verdict.n_unsafe, format_bytes(h, sizeof(h), f.in.unmerge_room));
	if (bm->hooks && bm->hooks->exceeded)
		bm->hooks->exceeded(m, cg, d.verdict.debt, d.verdict.limit);
	if (was != CGROUP_OVER_BUDGET)
		cgroup_mark_dirty(cg, CGROUP_DIRTY_FIGURES);

	if (d.unmerge_later)
		log_info("cgroup %s: an unmerge is running, unmerging at the next sweep", cg->path);
	if (d.n_unmerge == 0)
		return;
	if (proc_job_prepare(m, &bm->procs, cg->path, d.unmerge, d.n_unmerge) < 0)
		return;
	bm->job_cgroup = strdup(cg->path);
	bm->job_generation = bc->generation;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	if (start_worker(m, BUDGET_JOB_CGROUP_OVER_BUDGET,
			 (UnmergeWorkerParams){.job = UNMERGE_JOB_CUSTOM,
					       .job_fn = job_merge_any_off,
					       .job_data = &bm->procs,
					       .run_after = UNMERGE_RUN_KEEP},
			 &error) < 0) {
		log_error("cgroup %s: %s", cg->path, error.message);
		sd_bus_error_free(&error);
		proc_job_done(&bm->procs);
		bm->job_cgroup = mfree(bm->job_cgroup);
	}
}

void budget_after_sweep(Manager *m, CgroupState *cg)
{
	evaluate(m, cg);
}

void budget_cgroup_added(Manager *m, CgroupState *cg)
{
	m->budget.scan_cgroups_added++; /* the scan policy's burst */
	evaluate(m, cg);
}

/* ---- the scan policy (once per sweep) ---- */

bool budget_scan_policy_wants_pages(Manager *m)
{
	return m->config.scan_policy != SCAN_POLICY_KERNEL && !budget_ksm_busy(m);
}

void budget_scan_policy(Manager *m, uint64_t managed)
{
	BudgetManager *bm = &m->budget;
	const Config *c = &m->config;
	if (!budget_scan_policy_wants_pages(m))
		return;

	ScanPolicyConfig pc = SCAN_POLICY_CONFIG_DEFAULT;
	pc.target_scan_ms = MAX(c->target_scan_usec / 1000, (uint64_t)1);
	pc.cpu_budget = c->ksmd_cpu_budget;
	pc.pages_per_cpu_ms = c->ksmd_pages_per_cpu_ms;
	/* Opting in never scans slower than the kernel would without us, and
	 * new memory is scanned at the budget's rate for its first 3 full
	 * scans: 2 to merge a stable page, 1 for pages that changed meanwhile
	 * (bench/savings.py). */
	pc.floor_kernel_defaults = true;
	pc.burst_full_scans = 3;

	bool advisor = c->scan_policy == SCAN_POLICY_ADVISOR;
	if (advisor && m->features.state[KERNEL_FEATURE_advisor] != FEATURE_PRESENT) {
		if (!bm->advisor_warned)
			log_warning("ScanPolicy=advisor but this kernel has no KSM advisor (6.9+): using "
				    "pagemeld's own policy");
		bm->advisor_warned = true;
		advisor = false;
	}
	if (advisor) {
		ScanAdvisorSettings a;
		if (scan_policy_advisor(&pc, &a) < 0)
			return;
		KsmAdvisor cur = KSM_ADVISOR_UNKNOWN;
		uint64_t t = 0, cpu = 0;
		KsmState s;
		if (ksm_read_state(m->ksm_dir, &s) >= 0) {
			cur = s.advisor_mode;
			t = s.value[KSM_advisor_target_scan_time];
			cpu = s.value[KSM_advisor_max_cpu];
		}
		if (cur == KSM_ADVISOR_SCAN_TIME && t == a.target_scan_time_s && cpu == a.max_cpu_percent)
			return;
		int r = ksm_write_field(m->ksm_dir, KSM_advisor_target_scan_time, a.target_scan_time_s);
		if (r >= 0)
			r = ksm_write_field(m->ksm_dir, KSM_advisor_max_cpu, a.max_cpu_percent);
		if (r >= 0)
			r = ksm_write_advisor(m->ksm_dir, KSM_ADVISOR_SCAN_TIME);
		if (r < 0)
			log_warning_errno(r, "Cannot hand the scan rate to the KSM advisor: %m");
		else
			log_info("Scan policy: the kernel's scan-time advisor, full scan in %" PRIu64
				 " s, ksmd at most %" PRIu64 "%% CPU",
				 a.target_scan_time_s, a.max_cpu_percent);
		m->ksm_valid = false;
		return;
	}

	KsmState s;
	if (ksm_read_state(m->ksm_dir, &s) < 0)
		return;
	bool burst = scan_policy_burst(&pc, &bm->scan_burst, bm->scan_cgroups_added, s.value[KSM_full_scans]);
	ScanPolicy p;
	if (scan_policy_compute(&pc, managed, burst, &p) < 0)
		return;
	uint64_t cur_pages = s.value[KSM_pages_to_scan], cur_sleep = s.value[KSM_sleep_millisecs];
	if (s.advisor_mode_present && s.advisor_mode == KSM_ADVISOR_SCAN_TIME)
		(void)ksm_write_advisor(m->ksm_dir, KSM_ADVISOR_NONE); /* it owns pages_to_scan */
	else if (cur_pages == p.pages_to_scan && cur_sleep == p.sleep_ms)
		return;
	int r = ksm_write_field(m->ksm_dir, KSM_sleep_millisecs, p.sleep_ms);
	if (r >= 0)
		r = ksm_write_field(m->ksm_dir, KSM_pages_to_scan, p.pages_to_scan);
	if (r < 0) {
		log_warning_errno(r, "Cannot apply the scan policy: %m");
		return;
	}
	m->ksm_valid = false;
	log_full(bm->scan_pages == p.pages_to_scan && bm->scan_sleep == p.sleep_ms ? LOG_DEBUG : LOG_INFO,
		 "Scan policy: %" PRIu64 " managed pages -> pages_to_scan=%" PRIu64
		 " sleep_millisecs=%" PRIu64 " (full scan ~%.1f s, ksmd ~%.1f%% CPU%s)",
		 managed, p.pages_to_scan, p.sleep_ms, (double)p.scan_time_ms / 1000.0, p.cpu_share * 100.0,
		 burst	    ? ", burst for new memory"
		 : p.capped ? ", capped by KsmdCpuPercent"
			    : "");
	bm->scan_pages = p.pages_to_scan;
	bm->scan_sleep = p.sleep_ms;
}

/* ---- methods ---- */

int budget_set(Manager *m, CgroupState *cg, uint64_t merge_budget, uint64_t swap_budget, sd_bus_error *error)
{
	BudgetCgroup *bc = &cg->budget;
	check_memcg(m, cg, true);
	(void)decide(m, cg, BUDGET_EVENT_MEMCG, true, 0);
	if (swap_budget != UINT64_MAX && bc->memcg != BUDGET_MEMCG_YES)
		return sd_bus_error_setf(
			error, PM_ERROR_NO_MEMORY_CONTROLLER,
			"cgroup %s has no cgroup v2 memory controller (a hybrid cgroup hierarchy, or "
			"\"memory\" missing from its parent's cgroup.subtree_control): a swap budget "
			"cannot be applied. Pass 18446744073709551615 (unset) as swap budget to set "
			"only the merge budget",
			cg->path);
	if (swap_budget != UINT64_MAX) {
		uint64_t dummy;
		if (cg_read_limit(m->cgroup_mount, cg->path, "memory.swap.max", &dummy) == -ENOENT)
			return sd_bus_error_setf(
				error, PM_ERROR_NO_MEMORY_CONTROLLER,
				"cgroup %s has no memory.swap.max (kernel without swap accounting)",
				cg->path);
	}

	uint64_t old_budget = cg->merge_budget, old_swap = cg->swap_budget;
	cg->merge_budget = merge_budget;
	cg->swap_budget = swap_budget;
	if (bc->memcg == BUDGET_MEMCG_YES) {
		int r = apply_swap_budget(m, cg, true);
		if (r < 0) {
			cg->swap_budget = old_swap;
			cg->merge_budget = old_budget;
			return sd_bus_error_setf(error, PM_ERROR_KERNEL_REFUSED,
						 "Cannot write memory.swap.max=%" PRIu64 " of %s: %s",
						 swap_budget, cg->path, strerror(-r));
		}
	}
	int was = decide(m, cg, BUDGET_EVENT_BUDGET_SET, false, old_budget);
	if (was == CGROUP_OVER_BUDGET && cg->status != CGROUP_OVER_BUDGET)
		log_info("cgroup %s: merge budget raised, merging again", cg->path);
	char b[FORMAT_BYTES_MAX], s[FORMAT_BYTES_MAX];
	log_info("Budgets of %s: merge %s, swap %s (SetBudget)", cg->path,
		 merge_budget == UINT64_MAX ? "unlimited" : format_bytes(b, sizeof(b), merge_budget),
		 swap_budget == UINT64_MAX ? "unset" : format_bytes(s, sizeof(s), swap_budget));
	return 0;
}

void budget_cgroup_enabled(Manager *m, CgroupState *cg)
{
	(void)decide(m, cg, BUDGET_EVENT_ENABLE, false, 0);
}

static int insufficient(sd_bus_error *error, const char *fmt, ...) _printf_(2, 3);
static int insufficient(sd_bus_error *error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return sd_bus_error_set(error, PM_ERROR_INSUFFICIENT_HEADROOM, s ?: "insufficient headroom");
}

int budget_disable_cgroup(Manager *m, CgroupState *cg, budget_reply_t done, void *userdata,
			  sd_bus_error *error)
{
	BudgetManager *bm = &m->budget;
	BudgetCgroup *bc = &cg->budget;
	if (!cg->enabled)
		return 0;
	if (budget_ksm_busy(m))
		return budget_busy_error(m, error);

	/* The same rule as the sweep: unmerging must fit in the cgroup. */
	check_memcg(m, cg, true);
	(void)decide(m, cg, BUDGET_EVENT_MEMCG, true, 0);
	MemInfo mi = {};
	uint64_t room = BUDGET_UNLIMITED;
	(void)system_room(m, false, &mi, &room);
	refresh_headroom(m, cg, mi.swap_free);
	uint64_t debt = budget_cgroup_debt(cg->merging_pages, cg->zero_pages, m->page_size);
	uint64_t fit_room = bc->headroom_known ? bc->headroom : room;
	if (!budget_cgroup_unmerge_fits(debt, fit_room, m->config.headroom_margin)) {
		char d[FORMAT_BYTES_MAX], h[FORMAT_BYTES_MAX], g[FORMAT_BYTES_MAX];
		return insufficient(error,
				    "DisableCgroup %s refused: unmerging it needs its merge debt %s (%" PRIu64
				    " bytes) plus the margin %s, and %s %s (%" PRIu64 " bytes)",
				    cg->path, format_bytes(d, sizeof(d), debt), debt,
				    format_bytes(g, sizeof(g), m->config.headroom_margin),
				    bc->headroom_known
					    ? "its headroom (memory.max - memory.current + swap) is only"
					    : "the node's MemAvailable + SwapFree is only",
				    format_bytes(h, sizeof(h), fit_room), fit_room);
	}

	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	int r = cg_list_procs(m->cgroup_mount, cg->path, &pids, &n);
	if (r < 0)
		return sd_bus_error_setf(error, PM_ERROR_NO_SUCH_CGROUP,
					 "Cannot list the processes of %s: %s", cg->path, strerror(-r));
	r = proc_job_prepare(m, &bm->procs, cg->path, pids, n);
	if (r < 0)
		return sd_bus_error_set_errno(error, -r);
	bm->job_cgroup = strdup(cg->path);
	r = start_worker(m, BUDGET_JOB_CGROUP_DISABLE,
			 (UnmergeWorkerParams){.job = UNMERGE_JOB_CUSTOM,
					       .job_fn = job_merge_any_off,
					       .job_data = &bm->procs,
					       .run_after = UNMERGE_RUN_KEEP},
			 error);
	if (r < 0) {
		proc_job_done(&bm->procs);
		bm->job_cgroup = mfree(bm->job_cgroup);
		return r;
	}
	cg->enabled = false;
	(void)decide(m, cg, BUDGET_EVENT_DISABLE, true, 0);
	log_info("DisableCgroup %s: switching merge-any off in %zu processes (debt %" PRIu64 " bytes)",
		 cg->path, bm->procs.n, debt);
	bm->reply = done;
	bm->reply_userdata = userdata;
	return 1;
}

/* Whether the whole node can take back every merged page (UnmergeAll and
 * SetMergeAcrossNodes both unmerge everything): MemAvailable + SwapFree
 * against pages_sharing plus UnmergeAllMargin, and each managed cgroup's
 * headroom against its merge debt. Refused with InsufficientHeadroom
 * unless force; text gets the prediction. */
static int unmerge_everything_fits(Manager *m, const char *what, const char *force_hint, bool force,
				   char *text, size_t text_size, sd_bus_error *error)
{
	KsmState s;
	int r = ksm_read_state(m->ksm_dir, &s);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED, "Cannot read %s: %s", m->ksm_dir,
					 strerror(-r));
	MemInfo mi;
	r = meminfo_read(m->proc_root, &mi);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot read %s/meminfo: %s",
					 m->proc_root, strerror(-r));
	UnmergePrediction p;
	unmerge_predict(s.value[KSM_pages_sharing],
			s.present[KSM_ksm_zero_pages] ? s.value[KSM_ksm_zero_pages] : 0, m->page_size,
			m->config.unmerge_all_margin, mi.mem_available, mi.swap_free, &p);
	unmerge_prediction_format(&p, text, text_size);
	if (!p.fits && !force)
		return insufficient(error, "%s refused: %s; call %s to force it", what, text, force_hint);

	/* Each managed cgroup must also be able to take its copies back. */
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		BudgetCgroup *bc = &cg->budget;
		check_memcg(m, cg, true);
		(void)decide(m, cg, BUDGET_EVENT_MEMCG, true, 0);
		refresh_headroom(m, cg, mi.swap_free);
		uint64_t debt = budget_cgroup_debt(cg->merging_pages, cg->zero_pages, m->page_size);
		if (!bc->headroom_known ||
		    budget_cgroup_unmerge_fits(debt, bc->headroom, m->config.headroom_margin))
			continue;
		if (force) {
			log_warning("%s forced although cgroup %s cannot take back its merge debt of "
				    "%" PRIu64 " bytes (headroom %" PRIu64 "): it may OOM-kill there",
				    what, cg->path, debt, bc->headroom);
			continue;
		}
		return insufficient(error,
				    "%s refused: cgroup %s has a merge debt of %" PRIu64
				    " bytes and a headroom of only %" PRIu64 " bytes (margin %" PRIu64
				    "): unmerging would OOM-kill in it; call %s to force it",
				    what, cg->path, debt, bc->headroom, m->config.headroom_margin,
				    force_hint);
	}
	return 0;
}

int budget_unmerge_all(Manager *m, bool force, sd_bus_error *error)
{
	char text[UNMERGE_PREDICTION_MAX];
	if (budget_ksm_busy(m))
		return budget_busy_error(m, error);
	int r = unmerge_everything_fits(m, "UnmergeAll", "UnmergeAll(true)", force, text, sizeof(text),
					error);
	if (r < 0)
		return r;

	r = start_worker(m, BUDGET_JOB_UNMERGE_ALL,
			 (UnmergeWorkerParams){.job = UNMERGE_JOB_ALL, .run_after = desired_run(m)}, error);
	if (r < 0)
		return r;
	log_info("UnmergeAll%s started (pid %d): %s", force ? "(force)" : "",
		 (int)unmerge_worker_pid(m->budget.worker), text);
	ksm_changed(m);
	return 0;
}

int budget_set_merge_across_nodes(Manager *m, bool on, bool force, budget_reply_t done, void *userdata,
				  sd_bus_error *error)
{
	char text[UNMERGE_PREDICTION_MAX];
	if (budget_ksm_busy(m))
		return budget_busy_error(m, error);
	uint64_t cur;
	int r = ksm_read_field(m->ksm_dir, KSM_merge_across_nodes, &cur);
	if (r < 0)
		return sd_bus_error_setf(
			error, SD_BUS_ERROR_NOT_SUPPORTED,
			"This kernel has no merge_across_nodes (it is built without NUMA): %s", strerror(-r));
	if (cur == (uint64_t)on)
		return 0;
	/* The switch unmerges everything first: the same rule as UnmergeAll. */
	r = unmerge_everything_fits(m, "SetMergeAcrossNodes",
				    on ? "SetMergeAcrossNodesWithFlags(true, 1)"
				       : "SetMergeAcrossNodesWithFlags(false, 1)",
				    force, text, sizeof(text), error);
	if (r < 0)
		return r;
	BudgetManager *bm = &m->budget;
	r = start_worker(m, BUDGET_JOB_MERGE_ACROSS_NODES,
			 (UnmergeWorkerParams){.job = UNMERGE_JOB_MERGE_ACROSS_NODES,
					       .merge_across_nodes = on,
					       .run_after = desired_run(m)},
			 error);
	if (r < 0)
		return r;
	log_info("SetMergeAcrossNodes(%s)%s started (pid %d), unmerging everything first: %s",
		 on ? "true" : "false", force ? "(force)" : "", (int)unmerge_worker_pid(bm->worker), text);
	ksm_changed(m);
	bm->reply = done;
	bm->reply_userdata = userdata;
	return 1;
}

/* ---- lifetime ---- */

void budget_cgroup_dropped(Manager *m, CgroupState *cg)
{
	BudgetManager *bm = &m->budget;
	if (!m->cgroup_mount)
		return;
	swap_saved_load(m, bm);
	BudgetSwapSaved *s = swap_saved_find(bm, cg->path);
	if (!s)
		return;
	/* The container is gone: its cgroup gets its own memory.swap.max back
	 * (when the directory still exists; a removed one needs nothing). */
	int r = cg_write_limit(m->cgroup_mount, cg->path, "memory.swap.max", s->prev);
	if (r >= 0)
		log_info("Restored memory.swap.max of %s (its containers are gone)", cg->path);
	else if (r != -ENOENT)
		log_warning_errno(r, "Cannot restore memory.swap.max of %s: %m", cg->path);
	swap_saved_forget(m, bm, cg->path);
}

void budget_cgroup_free(CgroupState *cg)
{
	cg->budget.unmerged = mfree(cg->budget.unmerged);
	cg->budget.n_unmerged = 0;
}

void budget_manager_free(Manager *m)
{
	BudgetManager *bm = &m->budget;
	/* Exiting mid-unmerge: kill the child, run put back; an
	 * unacknowledged merge_across_nodes switch is undone too. */
	bool ksm_wide = unmerge_worker_running(bm->worker) &&
			(bm->job == BUDGET_JOB_UNMERGE_ALL || bm->job == BUDGET_JOB_MERGE_ACROSS_NODES);
	bm->worker = unmerge_worker_free(bm->worker);
	if (ksm_wide)
		(void)budget_ksm_repair(m);
	proc_job_done(&bm->procs);
	bm->job_cgroup = mfree(bm->job_cgroup);
	reply_deferred(bm, -ECANCELED, "pagemeldd is exiting",
		       bm->job == BUDGET_JOB_CGROUP_DISABLE ? "DisableCgroup" : "SetMergeAcrossNodes");
	for (size_t i = 0; i < bm->n_saved; i++)
		free(bm->saved[i].path);
	bm->saved = mfree(bm->saved);
	bm->n_saved = 0;
}
