/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sweep.h"

#include <inttypes.h>
#include <time.h>

#include "budget.h"
#include "cgroup.h"
#include "ksm-stat.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "remote.h"

static uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

int sweep_enable_process(Manager *m, pid_t pid, int pidfd)
{
	_cleanup_close_ int own = -EBADF;
	KsmStat st = {.merge_any = KSM_TRISTATE_ABSENT};
	int r;

	/* 6.14+ shows merge_any in ksm_stat: no need to stop the process. */
	if (ksm_stat_read(m->proc_root, pid, &st) >= 0 && st.merge_any == KSM_TRISTATE_YES)
		return 0;

	if (pidfd < 0) {
		r = remote_pidfd_open(pid, &own);
		if (r < 0)
			return r;
		pidfd = own;
	}
	if (st.merge_any == KSM_TRISTATE_ABSENT) {
		bool on = false;
		if (remote_get_merge_any(pidfd, &on) >= 0 && on)
			return 0;
	}
	r = remote_set_merge_any(pidfd, true);
	if (r < 0)
		return r;
	log_debug("Enabled merging in pid %d", (int)pid);
	return 1;
}

int sweep_cgroup(Manager *m, CgroupState *cg)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	uint64_t merging = 0, rmap = 0, zero = 0;
	int64_t profit = 0;
	uint32_t procs = 0;
	unsigned failures = 0;
	int r;

	if (!m->cgroup_mount)
		return -ENOENT;
	r = cg_list_procs(m->cgroup_mount, cg->path, &pids, &n);
	if (r == -ENOENT || r == -ENODEV)
		return -ENOENT;
	if (r < 0)
		return log_warning_errno(r, "Cannot list processes of cgroup %s: %m", cg->path);

	bool want = cg->enabled && cg->status != CGROUP_UNSUPPORTED && policy_may_merge(m, cg, NULL);
	for (size_t i = 0; i < n; i++) {
		KsmStat st;
		if (pids[i] == getpid())
			continue; /* never ourselves, should we sit in a managed cgroup */
		r = ksm_stat_read(m->proc_root, pids[i], &st);
		if (r < 0)
			continue; /* exited meanwhile, or a kernel thread */
		if (want && st.merge_any != KSM_TRISTATE_YES) {
			r = sweep_enable_process(m, pids[i], -EBADF);
			if (r > 0)
				log_info("Enabled merging in pid %d of %s (entered after registration)",
					 (int)pids[i], cg->path);
			else if (r < 0 && r != -ESRCH) {
				failures++;
				log_full_errno(cg->enable_failures ? LOG_DEBUG : LOG_WARNING, r,
					       "Cannot enable merging in pid %d of %s: %m", (int)pids[i],
					       cg->path);
			}
		}
		procs++;
		merging += st.merging_pages;
		rmap += st.rmap_items;
		zero += st.zero_pages;
		profit += st.process_profit;
	}

	cg->processes = procs;
	cg->merging_pages = merging;
	cg->rmap_items = rmap;
	cg->zero_pages = zero;
	cg->profit = profit;
	cg->merge_debt = merging * m->page_size;
	cg->enable_failures = failures;
	cg->last_sweep_usec = now_usec(CLOCK_REALTIME);
	return 0;
}

typedef struct Figures {
	uint32_t processes;
	uint64_t merging, rmap, zero, debt;
	int64_t profit;
	CgroupStatus status;
} Figures;

static Figures figures_of(const CgroupState *cg)
{
	return (Figures){cg->processes,	 cg->merging_pages, cg->rmap_items, cg->zero_pages,
			 cg->merge_debt, cg->profit,	    cg->status};
}

int sweep_all(Manager *m)
{
	uint64_t cpu0 = now_usec(CLOCK_PROCESS_CPUTIME_ID);
	int dropped = 0;
	CgroupState *next;

	for (CgroupState *cg = m->cgroups; cg; cg = next) {
		next = cg->next;
		Figures before = figures_of(cg);
		int r = sweep_cgroup(m, cg);
		if (r == -ENOENT) {
			manager_drop_cgroup(m, cg, "its cgroup directory is gone");
			dropped++;
			continue;
		}
		if (r < 0)
			continue;
		budget_after_sweep(m, cg);
		Figures after = figures_of(cg);
		if (before.processes != after.processes || before.merging != after.merging ||
		    before.rmap != after.rmap || before.zero != after.zero || before.debt != after.debt ||
		    before.profit != after.profit || before.status != after.status)
			manager_emit_cgroup_changed(m, cg);
	}
	if (dropped > 0)
		(void)manager_persist(m);
	(void)manager_ksm_refresh(m, true);
	m->sweeps++;
	m->last_sweep_cpu_usec = now_usec(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	log_debug("Sweep %" PRIu64 ": %u cgroups, %" PRIu64 " us CPU", m->sweeps, m->n_cgroups,
		  m->last_sweep_cpu_usec);
	return dropped;
}
