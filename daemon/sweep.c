/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sweep.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "budget-policy.h"
#include "cgroup.h"
#include "ksm-stat.h"
#include "log.h"
#include "macro.h"
#include "util.h"

int sweep_enable_needed(Manager *m, pid_t pid)
{
	KsmStat st = {.merge_any = KSM_TRISTATE_ABSENT};
	/* 6.14+ shows merge_any in ksm_stat: no need to stop the process. */
	if (ksm_stat_read(m->proc_root, pid, &st) >= 0 && st.merge_any == KSM_TRISTATE_YES)
		return 0;
	return 1;
}

/* ---- the fd cache: at most half of RLIMIT_NOFILE ---- */

static void fd_cap_refresh(Manager *m)
{
	/* Re-read at each sweep: prlimit(1) on a running pagemeldd counts. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		m->sweep_fd_cap = 32768;
	else
		m->sweep_fd_cap = (unsigned)MIN(rl.rlim_cur / 2, (rlim_t)UINT_MAX);
}

/* fd becomes one of the cache's, or is closed when the cache is full. */
static int fd_cache(Manager *m, int fd)
{
	if (fd < 0)
		return fd;
	if (m->sweep_cached_fds >= m->sweep_fd_cap) {
		safe_close(fd);
		return -EMFILE;
	}
	m->sweep_cached_fds++;
	return fd;
}

static int fd_uncache(Manager *m, int fd)
{
	if (fd >= 0) {
		assert(m->sweep_cached_fds > 0);
		m->sweep_cached_fds--;
		safe_close(fd);
	}
	return -EBADF;
}

static void proc_uncache(Manager *m, SweepProc *p)
{
	p->fd = fd_uncache(m, p->fd);
	p->statm_fd = fd_uncache(m, p->statm_fd);
}

void sweep_cgroup_forget(CgroupState *cg)
{
	for (size_t i = 0; i < cg->n_procs; i++)
		proc_uncache(cg->manager, &cg->procs[i]);
	free(cg->procs);
	cg->procs = NULL;
	cg->n_procs = 0;
	cg->procs_fd = safe_close(cg->procs_fd);
}

/* pread() the whole of fd from offset 0 into m->sweep_buf (NUL-terminated). */
static ssize_t pread_all(Manager *m, int fd)
{
	size_t n = 0;
	for (;;) {
		if (m->sweep_buf_size - n < 4096) {
			size_t ns = m->sweep_buf_size ? m->sweep_buf_size * 2 : 65536;
			char *nb = realloc(m->sweep_buf, ns);
			if (!nb)
				return -ENOMEM;
			m->sweep_buf = nb;
			m->sweep_buf_size = ns;
		}
		size_t want = m->sweep_buf_size - n - 1;
		ssize_t k = pread(fd, m->sweep_buf + n, want, (off_t)n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n += (size_t)k;
		/* procfs/cgroupfs seq_files fill the buffer as far as they can:
		 * a short read is the end, no second pread for the 0 */
		if (k == 0 || (size_t)k < want)
			break;
	}
	m->sweep_buf[n] = '\0';
	return (ssize_t)n;
}

static int open_procs(Manager *m, CgroupState *cg)
{
	_cleanup_free_ char *p = cg_file_path(m->cgroup_mount, cg->path, "cgroup.procs");
	if (!p)
		return -ENOMEM;
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENODEV ? -ENOENT : -errno;
	cg->procs_fd = fd;
	return 0;
}

/* cgroup.procs into m->sweep_pids, sorted; -ENOENT when the cgroup is gone. */
static int read_procs(Manager *m, CgroupState *cg, size_t *ret_n)
{
	ssize_t l = -EBADF;
	int r;

	if (cg->procs_fd >= 0)
		l = pread_all(m, cg->procs_fd);
	if (l < 0) {
		/* a removed cgroup answers ENODEV on the old fd: reopen to tell */
		cg->procs_fd = safe_close(cg->procs_fd);
		r = open_procs(m, cg);
		if (r < 0)
			return r;
		l = pread_all(m, cg->procs_fd);
		if (l == -ENODEV)
			return -ENOENT;
		if (l < 0)
			return (int)l;
	}

	size_t n = 0;
	for (char *p = m->sweep_buf; *p;) {
		char *e;
		unsigned long v = strtoul(p, &e, 10);
		if (e == p || v == 0 || v > INT32_MAX)
			return -EBADMSG;
		if (n == m->sweep_pids_size) {
			size_t ns = n ? n * 2 : 1024;
			pid_t *np = reallocarray(m->sweep_pids, ns, sizeof(pid_t));
			if (!np)
				return -ENOMEM;
			m->sweep_pids = np;
			m->sweep_pids_size = ns;
		}
		m->sweep_pids[n++] = (pid_t)v;
		p = e;
		while (*p == '\n')
			p++;
	}
	/* cgroup.procs is mostly sorted already; insertion sort is cheap then */
	for (size_t i = 1; i < n; i++) {
		pid_t v = m->sweep_pids[i];
		size_t j = i;
		for (; j > 0 && m->sweep_pids[j - 1] > v; j--)
			m->sweep_pids[j] = m->sweep_pids[j - 1];
		m->sweep_pids[j] = v;
	}
	*ret_n = n;
	return 0;
}

/* Keep the cached entries of pids still present, add new ones (fd not yet
 * open), close the rest. Both lists are sorted. */
static int merge_procs(Manager *m, CgroupState *cg, size_t n)
{
	SweepProc *np = n ? calloc(n, sizeof(SweepProc)) : NULL;
	if (n && !np)
		return -ENOMEM;
	size_t i = 0, j = 0;
	for (; j < n; j++) {
		while (i < cg->n_procs && cg->procs[i].pid < m->sweep_pids[j])
			proc_uncache(m, &cg->procs[i++]);
		np[j].pid = m->sweep_pids[j];
		if (i < cg->n_procs && cg->procs[i].pid == m->sweep_pids[j])
			np[j] = cg->procs[i++];
		else
			np[j].fd = np[j].statm_fd = -EBADF;
	}
	for (; i < cg->n_procs; i++)
		proc_uncache(m, &cg->procs[i]);
	free(cg->procs);
	cg->procs = np;
	cg->n_procs = n;
	return 0;
}

static int open_ksm_stat(Manager *m, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/%d/ksm_stat", m->proc_root, (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ksm_stat of one cached process: pread on the kept fd; on failure (the
 * process died, maybe its pid was reused by a newcomer) reopen once. */
static int read_proc_stat(Manager *m, SweepProc *p, KsmStat *ret)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (p->fd < 0) {
			int fd = open_ksm_stat(m, p->pid);
			if (fd == -EMFILE || fd == -ENFILE)
				/* out of fds: read without caching */
				return ksm_stat_read(m->proc_root, p->pid, ret);
			if (fd < 0)
				return -ESRCH;
			fd = fd_cache(m, fd);
			if (fd < 0) /* the cache is full: open, read, close */
				return ksm_stat_read(m->proc_root, p->pid, ret);
			p->fd = fd;
		}
		ssize_t l = pread_all(m, p->fd);
		if (l > 0)
			return ksm_stat_parse(m->sweep_buf, ret);
		proc_uncache(m, p); /* gone, a zombie, or a recycled pid */
		p->merge_known = false;
		p->inject_failures = 0; /* a backoff ends with its process */
		p->inject_retry_usec = 0;
	}
	return -ESRCH;
}

uint64_t sweep_proc_anon_pages(Manager *m, SweepProc *p)
{
	_cleanup_close_ int once = -EBADF;
	int fd = p->statm_fd;
	if (fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "%s/%d/statm", m->proc_root, (int)p->pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		if (m->sweep_cached_fds < m->sweep_fd_cap)
			p->statm_fd = fd_cache(m, fd);
		else
			once = fd; /* the cache is full: this read only */
	}
	unsigned long long size, resident, shared;
	if (pread_all(m, fd) <= 0 || sscanf(m->sweep_buf, "%llu %llu %llu", &size, &resident, &shared) != 3 ||
	    shared > resident) {
		p->statm_fd = fd_uncache(m, p->statm_fd);
		return 0;
	}
	return resident - shared;
}

/* ---- enabling merging in late processes (the manager hands them to the
 * injector) ---- */

#define BACKOFF_MIN_USEC (30 * 1000000ULL)
#define BACKOFF_MAX_USEC (3600 * 1000000ULL)

SweepProc *sweep_proc_find(CgroupState *cg, pid_t pid)
{
	size_t lo = 0, hi = cg->n_procs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cg->procs[mid].pid == pid)
			return &cg->procs[mid];
		if (cg->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint64_t sweep_proc_enable_done(Manager *m, SweepProc *p, int r)
{
	p->inject_pending = false;
	if (r >= 0 || r == -ESRCH || r == -ECANCELED) {
		if (r >= 0)
			p->merge_known = true;
		p->inject_failures = 0;
		p->inject_retry_usec = 0;
		return 0;
	}
	/* two sweep intervals (30 s at least), then twice as long each time */
	unsigned shift = MIN(p->inject_failures, 20U);
	uint64_t base = MAX(2 * m->config.sweep_interval_usec, BACKOFF_MIN_USEC);
	uint64_t wait = MIN(base << shift, BACKOFF_MAX_USEC);
	p->inject_failures++;
	p->inject_retry_usec = now_usec(CLOCK_MONOTONIC) + wait;
	return wait;
}

/* A registration's own enable of this process is in flight (the
 * registration injector): a second one from the sweep would race it, and
 * the loser's EBUSY would fail the registration. */
static bool registration_enabling(const CgroupState *cg, pid_t pid)
{
	for (const Container *c = cg->containers; c; c = c->cgroup_next)
		if (c->enabling && c->init_pid == pid)
			return true;
	return false;
}

int sweep_cgroup(Manager *m, CgroupState *cg, bool want_merge)
{
	uint64_t merging = 0, rmap = 0, zero = 0;
	int64_t profit = 0;
	uint32_t procs = 0;
	unsigned failures = 0;
	size_t n = 0;
	int r;

	if (!m->cgroup_mount)
		return -ENOENT;
	fd_cap_refresh(m);
	r = read_procs(m, cg, &n);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return log_warning_errno(r, "Cannot list processes of cgroup %s: %m", cg->path);
	r = merge_procs(m, cg, n);
	if (r < 0)
		return log_warning_errno(r, "Cannot track processes of cgroup %s: %m", cg->path);

	bool want = want_merge;
	cg->n_enable_wanted = 0;
	pid_t self = getpid(); /* a syscall: not once per process */
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	for (size_t i = 0; i < cg->n_procs; i++) {
		SweepProc *p = &cg->procs[i];
		KsmStat st;
		if (p->pid == self)
			continue; /* never ourselves, should we sit in a managed cgroup */
		r = read_proc_stat(m, p, &st);
		if (r < 0)
			continue; /* exited meanwhile */
		if (want && st.merge_any != KSM_TRISTATE_YES &&
		    !(st.merge_any == KSM_TRISTATE_ABSENT && p->merge_known && p->fd >= 0) &&
		    !p->inject_pending && !registration_enabling(cg, p->pid) && now >= p->inject_retry_usec) {
			p->enable_wanted = true;
			cg->n_enable_wanted++;
		}
		if (p->inject_failures > 0)
			failures++;
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
	cg->merge_debt = budget_cgroup_debt(merging, zero, m->page_size);
	cg->enable_failures = failures;
	cg->last_sweep_usec = now_usec(CLOCK_REALTIME);
	return 0;
}

uint64_t sweep_managed_pages(Manager *m)
{
	/* The opted-in memory: resident anonymous pages of the managed
	 * processes (statm resident - shared), at least what ksmd already
	 * tracks (rmap items) -- those only exist after a first scan. */
	uint64_t managed = 0;
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		if (!cg->enabled)
			continue;
		uint64_t anon = 0;
		for (size_t i = 0; i < cg->n_procs; i++)
			anon += sweep_proc_anon_pages(m, &cg->procs[i]); /* cached fd */
		managed += MAX(anon, MAX(cg->rmap_items, cg->merging_pages));
	}
	return managed;
}
