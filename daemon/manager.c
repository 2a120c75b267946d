/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "annotations.h"
#include "budget.h"
#include "cgroup-bus.h"
#include "cgroup.h"
#include "errors.h"
#include "estimate-bus.h"
#include "fileio.h"
#include "hook-server.h"
#include "injector.h"
#include "log.h"
#include "macro.h"
#include "manager-bus.h"
#include "persist.h"
#include "pidfd-util.h"
#include "policy.h"
#include "registration-marker.h"
#include "registry.h"
#include "remote.h"
#include "seccomp-util.h"
#include "sweep.h"
#include "util.h"

static const BudgetHooks budget_hooks;

int manager_new(Manager **ret)
{
	Manager *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	config_init_defaults(&m->config);
	m->proc_root = "/proc";
	m->ksm_dir = KSM_SYSFS_DIR;
	long ps = sysconf(_SC_PAGESIZE);
	m->page_size = ps > 0 ? (uint64_t)ps : 4096;
	m->seccomp = true;
	budget_set_hooks(m, &budget_hooks);
	*ret = m;
	return 0;
}

/* A cgroup's entry goes, with what each module keeps for it. */
static void cgroup_free(Manager *m, CgroupState *cg)
{
	budget_cgroup_free(cg);
	sweep_cgroup_forget(cg);
	registry_remove_cgroup(m, cg);
}

Manager *manager_free(Manager *m)
{
	if (!m)
		return NULL;
	/* First: pending registrations are answered (cancelled) while the
	 * hook calls and bus messages they answer still exist. */
	m->inject_register = injector_free(m->inject_register);
	m->inject_sweep = injector_free(m->inject_sweep);
	/* A clean exit leaves the snapshot up to date. */
	if (m->snapshot_timer && sd_event_source_get_enabled(m->snapshot_timer, NULL) > 0)
		(void)manager_persist(m);
	m->snapshot_timer = sd_event_source_unref(m->snapshot_timer);
	estimate_bus_free_all(m);
	while (m->cgroups)
		cgroup_free(m, m->cgroups);
	hook_server_free(m->hook_server);
	budget_manager_free(m);
	sd_event_source_unref(m->bus_flush);
	sd_event_source_unref(m->sweep_timer);
	sd_bus_flush_close_unref(m->bus);
	sd_event_unref(m->event);
	config_done(&m->config);
	kernel_features_done(&m->features);
	free(m->config_path);
	free(m->state_dir);
	free(m->cgroup_mount);
	free(m->trust_domain);
	free(m->sweep_buf);
	free(m->sweep_pids);
	free(m);
	return NULL;
}

/* ---- configuration ---- */

/* The injection deadlines: the helpers get them with each request; this
 * process's own value is what forked unmerge workers inherit. */
static void manager_apply_inject_config(Manager *m)
{
	remote_set_timeouts(m->config.inject_stall_usec, m->config.inject_timeout_usec);
	if (m->inject_register)
		injector_set_timeouts(m->inject_register, m->config.inject_stall_usec,
				      m->config.inject_timeout_usec);
	if (m->inject_sweep)
		injector_set_timeouts(m->inject_sweep, m->config.inject_stall_usec,
				      m->config.inject_timeout_usec);
}

static void manager_apply_scan_config(Manager *m)
{
	static const struct {
		size_t offset;
		KsmField field;
	} knobs[] = {
		{offsetof(Config, pages_to_scan), KSM_pages_to_scan},
		{offsetof(Config, sleep_millisecs), KSM_sleep_millisecs},
		{offsetof(Config, use_zero_pages), KSM_use_zero_pages},
		{offsetof(Config, smart_scan), KSM_smart_scan},
		{offsetof(Config, max_page_sharing), KSM_max_page_sharing},
	};
	if (budget_ksm_busy(m)) {
		log_warning("Not applying [Scan] now: an unmerge is running (KSM knobs are locked until it "
			    "ends)");
		return;
	}
	if (m->config.advisor_mode) {
		int r = ksm_write_advisor(m->ksm_dir, ksm_advisor_from_name(m->config.advisor_mode));
		if (r < 0)
			log_warning_errno(r, "Cannot set KSM advisor_mode=%s: %m", m->config.advisor_mode);
	}
	for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
		const ConfigKnob *k = (const ConfigKnob *)((const char *)&m->config + knobs[i].offset);
		if (!k->set)
			continue;
		int r = ksm_write_field(m->ksm_dir, knobs[i].field, k->value);
		if (r < 0)
			log_warning_errno(r, "Cannot set KSM %s=%" PRIu64 ": %m",
					  ksm_field_name(knobs[i].field), k->value);
		else
			log_info("KSM %s=%" PRIu64 " (configuration)", ksm_field_name(knobs[i].field),
				 k->value);
	}
}

int manager_load_config(Manager *m)
{
	_cleanup_free_ char *error = NULL;
	Config c;
	const char *path = m->config_path ?: CONFIG_PATH_DEFAULT;
	int r = config_load(path, &c, &error);
	if (r < 0) {
		log_error("Invalid configuration %s: %s", path, error ?: errno_name(r));
		return r;
	}
	config_done(&m->config);
	m->config = c;
	log_set_max_level(m->config.log_level);
	return 0;
}

int manager_reload_config(Manager *m)
{
	_cleanup_free_ char *error = NULL;
	Config c;
	const char *path = m->config_path ?: CONFIG_PATH_DEFAULT;
	int r = config_load(path, &c, &error);
	if (r < 0) {
		log_error("Reloading %s failed, keeping the running configuration: %s", path,
			  error ?: errno_name(r));
		return r;
	}
	config_done(&m->config);
	m->config = c;
	log_set_max_level(m->config.log_level);
	if (m->sweep_timer) {
		(void)sd_event_source_set_time_relative(m->sweep_timer, m->config.sweep_interval_usec);
		(void)sd_event_source_set_enabled(m->sweep_timer, SD_EVENT_ON);
	}
	manager_apply_scan_config(m);
	manager_apply_inject_config(m);
	log_info("Reloaded configuration %s (sweep every %" PRIu64 " s)", path,
		 m->config.sweep_interval_usec / 1000000);
	return 0;
}

/* ---- KSM sysfs ---- */

int manager_ksm_refresh(Manager *m, bool force)
{
	/* Every sweep reads sysfs afresh; between sweeps, a read serves every
	 * D-Bus reader for KSM_CACHE_USEC. So a flood of Get/GetAll costs no
	 * sysfs reads on the loop the hook waits on, and nobody sees figures
	 * older than that: ksmd moves them continuously, a sweep may be
	 * minutes away. Writes of ours invalidate (ksm_valid = false). */
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (!force && m->ksm_valid && now - m->ksm_read_usec < KSM_CACHE_USEC)
		return 0;

	KsmState s;
	int r = ksm_read_state(m->ksm_dir, &s);
	if (r < 0) {
		m->ksm_valid = false;
		return r;
	}
	m->ksm = s;
	m->ksm_valid = true;
	m->ksm_read_usec = now;
	return 0;
}

int manager_ksm_write(Manager *m, KsmField f, uint64_t value, sd_bus_error *error)
{
	if (budget_ksm_busy(m))
		return budget_busy_error(m, error);
	int r = ksm_write_field(m->ksm_dir, f, value);
	if (r >= 0) {
		log_info("KSM %s=%" PRIu64 " (D-Bus)", ksm_field_name(f), value);
		m->ksm_valid = false;
		return 0;
	}
	log_warning_errno(r, "Writing KSM %s=%" PRIu64 " failed: %m", ksm_field_name(f), value);
	switch (r) {
	case -EINVAL:
	case -ERANGE:
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "The kernel refused %s=%" PRIu64 ": %s", ksm_field_name(f), value,
					 strerror(-r));
	case -EBUSY:
		return sd_bus_error_setf(error, PM_ERROR_BUSY,
					 "The kernel refused %s=%" PRIu64 ": %s (it can change only while no "
					 "pages are shared)",
					 ksm_field_name(f), value, strerror(-r));
	case -ENOENT:
		return sd_bus_error_setf(error, SD_BUS_ERROR_NOT_SUPPORTED, "This kernel has no KSM %s knob",
					 ksm_field_name(f));
	default:
		return sd_bus_error_setf(error, PM_ERROR_KERNEL_REFUSED,
					 "The kernel refused %s=%" PRIu64 ": %s", ksm_field_name(f), value,
					 strerror(-r));
	}
}

static void manager_maybe_start_ksm(Manager *m)
{
	uint64_t run;
	if (!m->config.start_ksm || budget_ksm_busy(m))
		return;
	int r = ksm_read_field(m->ksm_dir, KSM_run, &run);
	if (r < 0 || run != KSM_RUN_STOP)
		return;
	r = ksm_write_field(m->ksm_dir, KSM_run, KSM_RUN_MERGE);
	if (r < 0)
		log_warning_errno(r, "Cannot start KSM (run=1): %m");
	else
		log_info("Started KSM (run=1): the first cgroup registered");
	m->ksm_valid = false;
}

/* ---- persistence ---- */

int manager_persist(Manager *m)
{
	int r = persist_save(m);
	if (r < 0)
		return log_error_errno(r, "Cannot save registrations in %s: %m", m->state_dir);
	if (m->snapshot_timer)
		(void)sd_event_source_set_enabled(m->snapshot_timer, SD_EVENT_OFF); /* nothing due now */
	return 0;
}

static int on_snapshot_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;
	if (manager_persist(m) < 0)
		manager_persist_later(m); /* again, once there is room */
	return 0;
}

void manager_persist_later(Manager *m)
{
	int r;

	if (m->snapshot_timer && sd_event_source_get_enabled(m->snapshot_timer, NULL) > 0)
		return; /* one is due already */
	if (m->snapshot_timer) {
		r = sd_event_source_set_time_relative(m->snapshot_timer, SNAPSHOT_DELAY_USEC);
		if (r >= 0)
			r = sd_event_source_set_enabled(m->snapshot_timer, SD_EVENT_ONESHOT);
	} else
		r = m->event ? sd_event_add_time_relative(m->event, &m->snapshot_timer, CLOCK_MONOTONIC,
							  SNAPSHOT_DELAY_USEC, SNAPSHOT_DELAY_USEC / 10,
							  on_snapshot_timer, m)
			     : -ENOTCONN;
	if (r < 0)
		(void)manager_persist(m);
}

/* ---- what the poststop hook reads: one marker per registered container ---- */

static void marker_remove(Manager *m, const char *id)
{
	int r = persist_marker_remove(m->state_dir, id);
	if (r < 0)
		log_warning_errno(r, "Cannot remove the registration marker of %s: %m", id);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* At start: a marker for each restored container, none for anything else
 * (nor a temporary file a crash left). */
static int markers_sync(Manager *m)
{
	_cleanup_free_ char *dir = registration_marker_dir(m->state_dir);
	_cleanup_(closedirp) DIR *d = NULL;
	int r;

	if (!dir)
		return log_oom();
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "Cannot create %s: %m", dir);
	for (Container *c = m->containers; c; c = c->next)
		if ((r = persist_marker_refresh(m->state_dir, c)) < 0)
			log_warning_errno(r, "Cannot write the registration marker of %s: %m", c->id);
	d = opendir(dir);
	if (!d)
		return log_error_errno(-errno, "Cannot open %s: %m", dir);
	for (struct dirent *de; (de = readdir(d));) {
		_cleanup_free_ char *id = NULL, *path = NULL;
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		/* a marker's name never starts with a dot: that is a temporary
		 * file; a known one is its container's name as escaped */
		bool known = de->d_name[0] != '.' && registration_marker_id(de->d_name, &id) >= 0 &&
			     registry_find_container(m, id) &&
			     (path = registration_marker_path(m->state_dir, id)) &&
			     streq(strrchr(path, '/') + 1, de->d_name);
		if (!known && unlinkat(dirfd(d), de->d_name, 0) < 0)
			log_warning_errno(-errno, "Cannot remove stale marker %s/%s: %m", dir, de->d_name);
	}
	if (fsync(dirfd(d)) < 0)
		log_warning_errno(-errno, "Cannot sync %s: %m", dir);
	return 0;
}

/* ---- a container ends with its init ---- */

static int on_container_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Container *c = userdata;
	Manager *m = c->manager;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *id = strdup(c->id);

	if (!id)
		return log_oom();
	log_info("Container %s: its init (pid %d) exited; unregistering it", id, (int)c->init_pid);
	if (manager_unregister_container(m, id, &error) < 0)
		log_warning("Unregistering %s after its exit: %s", id, error.message);
	return 0;
}

/* Takes a duplicate of pidfd; replaces an earlier watch (re-registration). */
static int container_watch_exit(Manager *m, Container *c, int pidfd)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (!m->event)
		return 0;
	c->exit_watch = sd_event_source_disable_unref(c->exit_watch);
	fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	r = sd_event_add_io(m->event, &c->exit_watch, fd, EPOLLIN, on_container_exit, c);
	if (r < 0)
		return r;
	(void)sd_event_source_set_io_fd_own(c->exit_watch, true);
	TAKE_FD(fd);
	return 0;
}

/* After a restart: watch a restored container's init again if it is still
 * the process it was (alive, in the container's cgroup); -ESRCH when not. */
static int container_rewatch(Manager *m, Container *c)
{
	_cleanup_close_ int pidfd = -EBADF;
	_cleanup_free_ char *path = NULL;
	int r;

	if (c->init_pid <= 0)
		return 0; /* an older state file: nothing to watch */
	r = remote_pidfd_open(c->init_pid, &pidfd);
	if (r < 0)
		return r;
	r = cg_pid_get_path(m->proc_root, c->init_pid, &path);
	if (r == -ENOENT)
		return -ESRCH;
	if (r < 0)
		return r;
	if (!streq(path, c->cgroup->path) || pidfd_check_alive(pidfd) < 0)
		return -ESRCH; /* gone, and its pid reused */
	return container_watch_exit(m, c, pidfd);
}

/* ---- the sweep's processes without merging, through the injector ---- */

typedef struct SweepEnable {
	Manager *manager;
	char *cgroup; /* looked up again: the cgroup may be gone by the answer */
	pid_t pid;
} SweepEnable;

static void on_sweep_enabled(int r, void *userdata)
{
	SweepEnable *e = userdata;
	CgroupState *cg = registry_find_cgroup(e->manager, e->cgroup);
	SweepProc *p = cg ? sweep_proc_find(cg, e->pid) : NULL;

	if (p) {
		bool first = p->inject_failures == 0;
		uint64_t wait = sweep_proc_enable_done(e->manager, p, r);
		if (wait > 0)
			log_full_errno(first ? LOG_WARNING : LOG_DEBUG, r,
				       "Cannot enable merging in pid %d of %s: %m (next try in %" PRIu64
				       " s)",
				       (int)e->pid, e->cgroup, wait / 1000000);
	}
	if (r > 0)
		log_info("Enabled merging in pid %d of %s (entered after registration)", (int)e->pid,
			 e->cgroup);
	free(e->cgroup);
	free(e);
}

/* The pid was read from cgroup.procs: it must still name a process of this
 * cgroup once pinned (it may have been recycled). Checked when the request
 * is sent, right before the call. */
static int sweep_enable_open(void *userdata, int *ret_pidfd)
{
	SweepEnable *e = userdata;
	/* dropped meanwhile (a registration undone, the last container gone):
	 * not ours to merge any more */
	if (!registry_find_cgroup(e->manager, e->cgroup))
		return -ENOENT;
	return pidfd_open_member(e->manager->proc_root, e->pid, e->cgroup, ret_pidfd);
}

/* The processes the sweep found without merge-any go to the injector. */
static void submit_enables(Manager *m, CgroupState *cg)
{
	for (size_t i = 0; i < cg->n_procs && cg->n_enable_wanted > 0; i++) {
		SweepProc *p = &cg->procs[i];
		if (!p->enable_wanted)
			continue;
		p->enable_wanted = false;
		cg->n_enable_wanted--;
		SweepEnable *e = calloc(1, sizeof(*e));
		if (!e)
			return;
		*e = (SweepEnable){m, strdup(cg->path), p->pid};
		if (!e->cgroup || injector_submit_lazy(m->inject_sweep, INJECT_OP_ENABLE, sweep_enable_open,
						       on_sweep_enabled, e) < 0) {
			free(e->cgroup);
			free(e);
			continue;
		}
		p->inject_pending = true;
	}
}

static int sweep_one(Manager *m, CgroupState *cg)
{
	int r = sweep_cgroup(m, cg, cg->enabled && policy_may_merge(m, cg, NULL));
	if (r >= 0 && m->inject_sweep)
		submit_enables(m, cg);
	return r;
}

/* ---- what budget.c reports ---- */

static void on_budget_exceeded(Manager *m, CgroupState *cg, uint64_t debt, uint64_t limit)
{
	bus_emit_budget_exceeded(m, cg, debt, limit);
}

static void on_cgroup_unmerged(Manager *m, CgroupState *cg)
{
	if (sweep_one(m, cg) >= 0)
		cgroup_mark_dirty(cg, CGROUP_DIRTY_FIGURES);
}

static void on_unmerge_finished(Manager *m, bool ok, const char *error)
{
	bus_emit_unmerge_finished(m, ok, error);
}

static const BudgetHooks budget_hooks = {
	.exceeded = on_budget_exceeded,
	.cgroup_unmerged = on_cgroup_unmerged,
	.unmerge_finished = on_unmerge_finished,
};

/* A cgroup joined the registry: the node's trust domain, then its budgets. */
static void cgroup_added(Manager *m, CgroupState *cg)
{
	policy_cgroup_added(m, cg);
	budget_cgroup_added(m, cg);
}

void manager_drop_cgroup(Manager *m, CgroupState *cg, const char *why)
{
	log_info("Forgetting cgroup %s (%u containers): %s", cg->path, cg->n_containers, why);
	for (Container *c = cg->containers; c; c = c->cgroup_next)
		marker_remove(m, c->id);
	bus_emit_cgroup_removed(m, cg);
	budget_cgroup_dropped(m, cg);
	policy_cgroup_removed(m, cg);
	cgroup_free(m, cg);
	manager_mark_dirty(m, MANAGER_DIRTY_CGROUPS | MANAGER_DIRTY_TRUST_DOMAIN);
}

CgroupState *manager_find_cgroup(Manager *m, const char *s)
{
	if (startswith(s, PAGEMELD_CGROUP_PREFIX "/"))
		return registry_find_cgroup_by_object(m, s);
	return registry_find_cgroup(m, s);
}

int manager_enable_cgroup(Manager *m, CgroupState *cg, sd_bus_error *error)
{
	budget_cgroup_enabled(m, cg); /* over-budget or disabled merges again */
	if (!cg->enabled) {
		cg->enabled = true;
		int r = manager_persist(m);
		if (r < 0)
			return sd_bus_error_set_errnof(error, -r, "Cannot save state: %s", strerror(-r));
		log_info("Enabled merging in cgroup %s", cg->path);
	}
	if (sweep_one(m, cg) == -ENOENT) {
		manager_drop_cgroup(m, cg, "its cgroup directory is gone");
		manager_persist_later(m);
		return sd_bus_error_setf(error, PM_ERROR_NO_SUCH_CGROUP, "The cgroup is gone");
	}
	cgroup_mark_dirty(cg, CGROUP_DIRTY_FIGURES);
	return 0;
}

int manager_disable_cgroup(Manager *m, CgroupState *cg, budget_reply_t done, void *userdata,
			   sd_bus_error *error)
{
	if (!cg->enabled)
		return 0;
	if (budget_ksm_busy(m))
		return budget_busy_error(m, error);
	/* The same rule as the sweep, on fresh figures: unmerging must fit. */
	if (sweep_one(m, cg) == -ENOENT)
		return sd_bus_error_setf(error, PM_ERROR_NO_SUCH_CGROUP, "The cgroup is gone");
	int r = budget_disable_cgroup(m, cg, done, userdata, error);
	if (r <= 0)
		return r;
	(void)manager_persist(m);
	cgroup_mark_dirty(cg, CGROUP_DIRTY_FIGURES);
	return r;
}

int manager_set_budget(Manager *m, CgroupState *cg, uint64_t merge_budget, uint64_t swap_budget,
		       sd_bus_error *error)
{
	int r = budget_set(m, cg, merge_budget, swap_budget, error);
	if (r < 0)
		return r;
	r = manager_persist(m);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot save state: %s", strerror(-r));
	cgroup_mark_dirty(cg, CGROUP_DIRTY_BUDGETS);
	/* Take effect now, not at the next sweep. */
	if (sweep_one(m, cg) >= 0)
		budget_after_sweep(m, cg);
	cgroup_mark_dirty(cg, CGROUP_DIRTY_FIGURES);
	return 0;
}

/* ---- the sweep: measure, enforce, scan policy, persist ---- */

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

static bool figures_equal(const Figures *a, const Figures *b)
{
	return a->processes == b->processes && a->merging == b->merging && a->rmap == b->rmap &&
	       a->zero == b->zero && a->debt == b->debt && a->profit == b->profit && a->status == b->status;
}

int manager_sweep_all(Manager *m)
{
	uint64_t cpu0 = now_usec(CLOCK_PROCESS_CPUTIME_ID);
	int dropped = 0;
	CgroupState *next;

	for (CgroupState *cg = m->cgroups; cg; cg = next) {
		next = cg->next;
		Figures before = figures_of(cg);
		int r = sweep_one(m, cg);
		if (r == -ENOENT) {
			manager_drop_cgroup(m, cg, "its cgroup directory is gone");
			dropped++;
			continue;
		}
		if (r < 0)
			continue;
		budget_after_sweep(m, cg);
		Figures after = figures_of(cg);
		if (!figures_equal(&before, &after))
			cgroup_mark_dirty(cg, CGROUP_DIRTY_FIGURES);
	}
	if (budget_scan_policy_wants_pages(m))
		budget_scan_policy(m, sweep_managed_pages(m));
	(void)manager_ksm_refresh(m, true);
	if (dropped > 0)
		manager_persist_later(m);
	m->sweeps++;
	m->last_sweep_cpu_usec = now_usec(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	log_debug("Sweep %" PRIu64 ": %u cgroups, %" PRIu64 " us CPU", m->sweeps, m->n_cgroups,
		  m->last_sweep_cpu_usec);
	return dropped;
}

int manager_after_injections(Manager *m, void (*done)(int r, void *userdata), void *userdata)
{
	if (!m->inject_sweep)
		return -ENOTCONN;
	return injector_submit(m->inject_sweep, INJECT_OP_BARRIER, -EBADF, done, userdata);
}

/* ---- registration ---- */

static bool container_id_valid(const char *id)
{
	size_t l = strlen(id);
	if (l == 0 || l > 256)
		return false;
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)id[i] <= ' ' || (unsigned char)id[i] >= 127)
			return false;
	return true;
}

static int map_remote_error(int r, pid_t pid, sd_bus_error *error)
{
	switch (r) {
	case -ESRCH:
		return sd_bus_error_setf(error, PM_ERROR_PROCESS_GONE, "Process %d exited", (int)pid);
	default:
		return sd_bus_error_setf(error, PM_ERROR_REMOTE_FAILED,
					 "Cannot enable merging in process %d: %s", (int)pid, strerror(-r));
	}
}

/* A registration's budget annotations, as its cgroup takes them: a
 * tenant's budget, or the default, never above the operator's cap
 * (SetBudget, root, is not capped). */
static void registration_budgets(Manager *m, CgroupState *cg, const Annotations *a, bool new_cgroup)
{
	if (a->merge_budget_set)
		cg->merge_budget = MIN(a->merge_budget, m->config.max_merge_budget);
	else if (new_cgroup)
		cg->merge_budget = MIN(cg->merge_budget, m->config.max_merge_budget);
	if (a->swap_budget_set)
		cg->swap_budget = a->swap_budget;
}

/* A saved registration whose merging could not be switched on: refused, so
 * not kept (and saved so), with the cgroups it leaves empty. */
static void registration_undo(Manager *m, Container *c, CgroupState *old_cg, bool new_cgroup)
{
	CgroupState *cg = c->cgroup;

	marker_remove(m, c->id);
	registry_remove_container(m, c);
	if (new_cgroup)
		cgroup_free(m, cg); /* never announced */
	else if (cg->n_containers == 0)
		manager_drop_cgroup(m, cg, "its only container's registration failed");
	if (old_cg && old_cg != cg && old_cg->n_containers == 0)
		manager_drop_cgroup(m, old_cg, "its last container moved, then failed to register");
	manager_persist_later(m);
}

/* A saved registration waiting for the injector to switch merging on in
 * its init; finished (or undone) on the answer. */
typedef struct PendingRegistration {
	Manager *manager;
	char *id;
	char *path;	  /* the cgroup it was saved in */
	char *old_cgroup; /* the cgroup it moved from, NULL */
	bool new_cgroup;  /* created by this registration, not announced yet */
	pid_t pid;
	int pidfd;
	manager_registered_t registered;
	void *userdata;
} PendingRegistration;

static void pending_registration_free(PendingRegistration *p)
{
	safe_close(p->pidfd);
	free(p->id);
	free(p->path);
	free(p->old_cgroup);
	free(p);
}

static void register_complete(Manager *m, Container *c, CgroupState *old_cg, bool new_cgroup, int pidfd,
			      manager_registered_t registered, void *userdata);

static void on_init_enabled(int result, void *userdata)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	PendingRegistration *p = userdata;
	Manager *m = p->manager;
	Container *c = registry_find_container(m, p->id);
	CgroupState *old_cg = p->old_cgroup ? registry_find_cgroup(m, p->old_cgroup) : NULL;

	if (c && c->init_pid == p->pid)
		c->enabling = false;
	if (!c || !streq(c->cgroup->path, p->path) || c->init_pid != p->pid)
		/* unregistered, or registered again, while we waited */
		(void)sd_bus_error_setf(&error, SD_BUS_ERROR_FAILED,
					"Container %s changed while merging was being switched on", p->id);
	else if (result < 0) {
		log_warning_errno(result, "Registering %s: cannot enable merging in pid %d: %m", p->id,
				  (int)p->pid);
		registration_undo(m, c, old_cg, p->new_cgroup && c->cgroup->n_containers == 1);
		(void)map_remote_error(result, p->pid, &error);
	} else
		register_complete(m, c, old_cg, p->new_cgroup, p->pidfd, p->registered, p->userdata);
	if (sd_bus_error_is_set(&error) && p->registered)
		p->registered(p->userdata, NULL, &error);
	pending_registration_free(p);
}

static void on_sweep_lane_drained(int result, void *userdata)
{
	PendingRegistration *p = userdata;
	int r = result < 0 ? result
			   : injector_submit(p->manager->inject_register, INJECT_OP_ENABLE, p->pidfd,
					     on_init_enabled, p);
	if (r < 0)
		on_init_enabled(r, p);
}

/* Merging on in the init by the injector, off the loop; the registration
 * is finished by on_init_enabled(). */
static int register_later(Manager *m, Container *c, CgroupState *old_cg, bool new_cgroup, int pidfd,
			  manager_registered_t registered, void *userdata)
{
	PendingRegistration *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (PendingRegistration){.manager = m,
				   .new_cgroup = new_cgroup,
				   .pid = c->init_pid,
				   .pidfd = -EBADF,
				   .registered = registered,
				   .userdata = userdata};
	p->id = strdup(c->id);
	p->path = strdup(c->cgroup->path);
	p->old_cgroup = old_cg ? strdup(old_cg->path) : NULL;
	int r = p->id && p->path && (!old_cg || p->old_cgroup) ? 0 : -ENOMEM;
	if (r >= 0 && (p->pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3)) < 0)
		r = -errno;
	if (r >= 0) {
		/* The sweep's own enable of this process still in flight: after
		 * it, not beside it (two tracers: one would get EBUSY). */
		SweepProc *sp = sweep_proc_find(c->cgroup, p->pid);
		r = sp && sp->inject_pending ? injector_submit(m->inject_sweep, INJECT_OP_BARRIER, -EBADF,
							       on_sweep_lane_drained, p)
					     : injector_submit(m->inject_register, INJECT_OP_ENABLE, p->pidfd,
							       on_init_enabled, p);
	}
	if (r < 0) {
		pending_registration_free(p);
		return r;
	}
	c->enabling = true;
	return 0;
}

int manager_register_container(Manager *m, const char *id, int pidfd, char **kv, size_t n,
			       manager_registered_t registered, void *userdata, sd_bus_error *error)
{
	_cleanup_(annotations_done) Annotations a = {.merge = MERGE_UNSET};
	const char *bad_key = NULL, *reason = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_strv_free_ char **kept = NULL;
	size_t n_kept = 0;
	pid_t pid;
	int r;

	if (!container_id_valid(id))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "Container id must be 1-256 printable characters without spaces");

	r = annotations_parse(kv, n, &a, &bad_key, &reason);
	if (r == -ENOMEM)
		return sd_bus_error_set_errno(error, ENOMEM);
	if (r < 0) /* the key itself may be the oversized part: its start names it */
		return sd_bus_error_setf(error, PM_ERROR_INVALID_ANNOTATION, "Annotation %.80s%s: %s",
					 bad_key, strlen(bad_key) > 80 ? "..." : "", reason);
	/* Only what is read is kept (and saved), quantities as byte counts. */
	r = annotations_kept(kv, n, &a, &kept, &n_kept);
	if (r < 0)
		return sd_bus_error_set_errno(error, -r);

	if (!annotations_want_merge(&a))
		return sd_bus_error_setf(error, PM_ERROR_NOT_OPTED_IN, "Container %s is %s; it is not merged",
					 id, a.sandbox ? "the pod sandbox" : "opted out (merge.pagemeld.io)");

	r = pidfd_verify(m->proc_root, pidfd, &pid);
	if (r == -EBADF)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
					 "The file descriptor is not a pidfd");
	if (r == -ESRCH)
		return sd_bus_error_setf(error, PM_ERROR_PROCESS_GONE, "The pidfd's process has exited");
	if (r == -EREMOTE)
		return sd_bus_error_setf(error, PM_ERROR_FORBIDDEN_PROCESS,
					 "The pidfd's process is not visible in pagemeldd's pid namespace");
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot check the pidfd: %s", strerror(-r));
	if (pid == 1 || pid == getpid())
		return sd_bus_error_setf(error, PM_ERROR_FORBIDDEN_PROCESS, "Refusing to manage %s (pid %d)",
					 pid == 1 ? "PID 1" : "pagemeldd itself", (int)pid);

	if (!m->cgroup_mount)
		return sd_bus_error_setf(error, PM_ERROR_NO_CGROUP_V2, "No cgroup v2 hierarchy is mounted");
	r = cg_pid_get_path(m->proc_root, pid, &path);
	if (r == -ESRCH || r == -ENOENT)
		return sd_bus_error_setf(error, PM_ERROR_PROCESS_GONE, "Process %d exited", (int)pid);
	if (r == -ENOMEDIUM)
		return sd_bus_error_setf(error, PM_ERROR_NO_CGROUP_V2, "Process %d has no cgroup v2 path",
					 (int)pid);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read the cgroup of %d: %s", (int)pid,
					       strerror(-r));
	/* The pid was read through /proc: make sure it still names the pidfd's process. */
	if (pidfd_check_alive(pidfd) < 0)
		return sd_bus_error_setf(error, PM_ERROR_PROCESS_GONE, "Process %d exited", (int)pid);
	if (streq(path, "/"))
		return sd_bus_error_setf(
			error, PM_ERROR_FORBIDDEN_PROCESS,
			"Process %d is in the root cgroup; only container cgroups are managed", (int)pid);

	Container *c = registry_find_container(m, id);
	CgroupState *cg = registry_find_cgroup(m, path);
	r = policy_check_registration(m, cg, path, kept, n_kept, a.trust_domain, error);
	if (r < 0)
		return r;
	bool new_cgroup = !cg;
	if (new_cgroup) {
		r = registry_add_cgroup(m, path, PAGEMELD_CGROUP_PREFIX, &cg);
		if (r < 0)
			return sd_bus_error_set_errno(error, -r);
	}

	/* Saved first (its marker), merging next: a registration that cannot
	 * be saved never merges (a restart would leave it merging outside any
	 * budget), and one that is acknowledged has merging on. */
	CgroupState *old_cg = c ? c->cgroup : NULL;
	if (c) {
		r = registry_set_annotations(c, kept, n_kept, a.container_name);
		if (r >= 0)
			registry_move_container(c, cg);
	} else
		r = registry_add_container(m, cg, id, kept, n_kept, a.container_name, &c);
	if (r < 0) {
		if (new_cgroup)
			cgroup_free(m, cg);
		return sd_bus_error_set_errno(error, -r);
	}
	c->init_pid = pid;
	c->seq = ++m->seq;
	if (new_cgroup)
		cg->seq = c->seq;
	registration_budgets(m, cg, &a, new_cgroup);

	r = persist_marker_save(m->state_dir, c);
	if (r < 0) {
		/* Not acknowledged, so not kept either. */
		if (new_cgroup)
			cgroup_free(m, cg);
		else if (!old_cg)
			registry_remove_container(m, c);
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot save the registration: %s",
					 strerror(-r));
	}
	manager_persist_later(m);
	/* The injector switches it on, off the loop; the answer finishes the
	 * registration. */
	if (cg->enabled && policy_may_merge(m, cg, &reason) && sweep_enable_needed(m, pid)) {
		r = register_later(m, c, old_cg, new_cgroup, pidfd, registered, userdata);
		if (r < 0) {
			log_warning_errno(r, "Registering %s: cannot enable merging in pid %d: %m", id,
					  (int)pid);
			registration_undo(m, c, old_cg, new_cgroup);
			return map_remote_error(r, pid, error);
		}
		return 0; /* registered() follows */
	}
	register_complete(m, c, old_cg, new_cgroup, pidfd, registered, userdata);
	return 0;
}

/* The registration is saved and merging is on: acknowledge, then announce. */
static void register_complete(Manager *m, Container *c, CgroupState *old_cg, bool new_cgroup, int pidfd,
			      manager_registered_t registered, void *userdata)
{
	CgroupState *cg = c->cgroup;
	const char *id = c->id, *path = cg->path;
	pid_t pid = c->init_pid;
	int r;

	r = container_watch_exit(m, c, pidfd);
	if (r < 0)
		log_warning_errno(
			r, "Container %s: cannot watch its init for exit (poststop unregisters it): %m", id);
	if (old_cg && old_cg != cg && old_cg->n_containers == 0) {
		manager_drop_cgroup(m, old_cg, "its last container moved");
		manager_persist_later(m);
	}

	/* Acknowledged here, once saved: the figures and signals that follow are
	 * not part of the registration, and the runtime is waiting for it. */
	if (new_cgroup && m->n_cgroups == 1)
		manager_maybe_start_ksm(m); /* part of it: merging starts with the first cgroup */
	if (registered)
		registered(userdata, cg->object_path, NULL);
	(void)sweep_one(m, cg);
	if (new_cgroup) {
		log_info("Registered container %s (pid %d) in new cgroup %s", id, (int)pid, path);
		cgroup_added(m, cg);
		bus_emit_cgroup_added(m, cg);
		manager_mark_dirty(m, MANAGER_DIRTY_CGROUPS | MANAGER_DIRTY_TRUST_DOMAIN);
	} else {
		log_info("Registered container %s (pid %d) in cgroup %s", id, (int)pid, path);
		cgroup_mark_dirty(cg, CGROUP_DIRTY_FIGURES);
	}
}

/* ---- the hook socket: RegisterContainer without D-Bus ---- */

static void on_hook_registered(void *userdata, const char *object_path, const sd_bus_error *error)
{
	if (object_path)
		hook_call_reply_ok(userdata, object_path);
	else {
		log_debug("Hook socket: registration refused: %s: %s", error->name, error->message ?: "");
		hook_call_reply_error(userdata, error->name, error->message);
	}
}

static void on_hook_request(HookCall *call, const char *id, int pidfd, char **kv, size_t n, void *userdata)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	Manager *m = userdata;

	int r = manager_register_container(m, id, pidfd, kv, n, on_hook_registered, call, &error);
	if (r < 0) {
		if (!sd_bus_error_is_set(&error))
			(void)sd_bus_error_set_errno(&error, -r);
		log_debug("Hook socket: registration of %s refused: %s: %s", id, error.name,
			  error.message ?: "");
		hook_call_reply_error(call, error.name, error.message);
	}
}

/* systemd's pagemeld.socket when socket-activated, else our own. */
static int hook_server_start(Manager *m)
{
	int fd = -EBADF, n = sd_listen_fds(true);
	for (int i = 0; i < MAX(n, 0); i++)
		if (sd_is_socket_unix(SD_LISTEN_FDS_START + i, SOCK_SEQPACKET, 1, NULL, 0) > 0)
			fd = SD_LISTEN_FDS_START + i;
	/* Ahead of the bus: a registration never waits behind D-Bus readers. */
	int r = hook_server_new(m->event, fd, m->state_dir, SD_EVENT_PRIORITY_IMPORTANT, on_hook_request, m,
				&m->hook_server);
	if (r < 0)
		return log_error_errno(r, "Cannot serve the hook socket in %s: %m", m->state_dir);
	log_debug("Hook socket: %s", fd >= 0 ? "passed by systemd" : hook_server_path(m->hook_server));
	return 0;
}

int manager_unregister_container(Manager *m, const char *id, sd_bus_error *error)
{
	Container *c = registry_find_container(m, id);
	if (!c)
		return sd_bus_error_setf(error, PM_ERROR_NO_SUCH_CONTAINER, "No container %s is registered",
					 id);
	CgroupState *cg = c->cgroup;
	log_info("Unregistering container %s", id); /* id may be c->id, freed next */
	int r = persist_marker_remove(m->state_dir, id);
	registry_remove_container(m, c);
	if (cg && cg->n_containers == 0)
		manager_drop_cgroup(m, cg, "its last container was unregistered");
	manager_persist_later(m);
	if (r < 0)
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot save the registry: %s",
					 strerror(-r));
	return 0;
}

/* ---- restore after a restart or crash ---- */

static int manager_restore(Manager *m)
{
	_cleanup_(persisted_state_done) PersistedState snapshot = {}, s = {};
	bool rebuilt = false;
	int r = persist_load(m->state_dir, &snapshot);
	if (r < 0) {
		/* Never start empty: that would forget every registration, and the
		 * swap limits to put back. The file stays (and a link to what it
		 * held, .broken, once the rebuilt registry replaces it). */
		if (r != -ENOENT) {
			_cleanup_free_ char *broken = path_join(m->state_dir, PERSIST_FILE ".broken");
			log_error_errno(
				r,
				"Cannot load %s/%s (%m): rebuilding the registrations from the markers "
				"and the cgroups; what it held stays in %s",
				m->state_dir, PERSIST_FILE, strna(broken));
			if (broken) {
				_cleanup_free_ char *from = path_join(m->state_dir, PERSIST_FILE);
				(void)unlink(broken);
				if (from && link(from, broken) < 0)
					log_warning_errno(-errno, "Cannot link %s: %m", broken);
			}
		}
		rebuilt = true;
	}
	/* The markers say who is registered; the snapshot, the cgroups' state. */
	r = persist_rebuild(m->state_dir, m->cgroup_mount, m->proc_root, rebuilt ? NULL : &snapshot, &s);
	if (r < 0)
		return log_error_errno(r, "Cannot rebuild the registrations: %m");
	rebuilt = rebuilt && s.n_containers > 0;
	m->seq = s.seq;

	unsigned restored = 0, dropped = 0, newer = 0;
	for (size_t i = 0; i < s.n_containers; i++) {
		PersistedContainer *pc = &s.containers[i];
		Annotations a;
		const char *bad = NULL, *why = NULL;
		CgroupState *cg;
		Container *c;

		if (!m->cgroup_mount || !cg_exists(m->cgroup_mount, pc->cgroup)) {
			log_info("Not restoring container %s: cgroup %s is gone", pc->id, pc->cgroup);
			dropped++;
			continue;
		}
		r = annotations_parse(pc->kv, pc->n, &a, &bad, &why);
		if (r < 0) {
			log_warning("Not restoring container %s: annotation %.80s: %s", pc->id, strna(bad),
				    strna(why));
			dropped++;
			continue;
		}
		cg = registry_find_cgroup(m, pc->cgroup);
		bool new_cgroup = !cg;
		if (new_cgroup) {
			r = registry_add_cgroup(m, pc->cgroup, PAGEMELD_CGROUP_PREFIX, &cg);
			if (r < 0) {
				annotations_done(&a);
				return log_oom();
			}
			cg->seq = pc->cgroup_seq;
			for (size_t j = 0; j < s.n_cgroups; j++)
				if (streq(s.cgroups[j].path, pc->cgroup)) {
					cg->enabled = s.cgroups[j].enabled;
					cg->status = cg->enabled ? CGROUP_MERGING : CGROUP_DISABLED;
					new_cgroup = s.cgroups[j].rebuilt;
					if (new_cgroup)
						break; /* budgets: the defaults and the annotations */
					cg->merge_budget = s.cgroups[j].merge_budget;
					cg->swap_budget = s.cgroups[j].swap_budget;
				}
		}
		/* Registered after the snapshot: its budgets as at its registration. */
		if (pc->newer)
			registration_budgets(m, cg, &a, new_cgroup);
		_cleanup_strv_free_ char **kept = NULL;
		size_t n_kept = 0;
		if (registry_find_container(m, pc->id) ||
		    (r = annotations_kept(pc->kv, pc->n, &a, &kept, &n_kept)) < 0) {
			annotations_done(&a);
			if (r < 0)
				return log_oom();
			continue;
		}
		r = registry_add_container(m, cg, pc->id, kept, n_kept, a.container_name, &c);
		annotations_done(&a);
		if (r < 0)
			return log_oom();
		c->init_pid = pc->pid;
		c->seq = pc->seq;
		restored++;
		newer += pc->newer;
	}
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next)
		cgroup_added(m, cg);
	/* A container ends with its init: watch those still running, forget the others. */
	for (Container *c = m->containers, *next; c; c = next) {
		_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
		next = c->next;
		r = container_rewatch(m, c);
		if (r == -ESRCH) {
			_cleanup_free_ char *id = strdup(c->id);
			if (!id)
				return log_oom();
			log_info("Not restoring container %s: its init (pid %d) has exited", id,
				 (int)c->init_pid);
			(void)manager_unregister_container(m, id, &error);
			restored--;
			dropped++;
		} else if (r < 0)
			log_warning_errno(r, "Container %s: cannot watch its init (pid %d): %m", c->id,
					  (int)c->init_pid);
	}
	if (rebuilt)
		log_info("Restored %u containers in %u cgroups (%u dropped), rebuilt from the markers and "
			 "the cgroups",
			 restored, m->n_cgroups, dropped);
	else
		log_info("Restored %u containers in %u cgroups (%u dropped, %u registered after the "
			 "snapshot)",
			 restored, m->n_cgroups, dropped, newer);
	/* Re-apply merging now (the sweep enables it wherever it is off). */
	(void)manager_sweep_all(m);
	/* The snapshot as restored: the markers reconciled into it. */
	(void)manager_persist(m);
	if (m->n_cgroups > 0)
		manager_maybe_start_ksm(m);
	return 0;
}

/* ---- event sources ---- */

static void manager_notify_status(Manager *m)
{
	(void)sd_notifyf(false, "STATUS=Managing %u containers in %u cgroups; %" PRIu64 " sweeps",
			 m->n_containers, m->n_cgroups, m->sweeps);
}

static int on_sweep_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;
	(void)manager_sweep_all(m);
	manager_notify_status(m);
	(void)sd_event_source_set_time_relative(s, m->config.sweep_interval_usec);
	(void)sd_event_source_set_enabled(s, SD_EVENT_ON);
	return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Manager *m = userdata;
	(void)sd_notify(false, "RELOADING=1");
	(void)manager_reload_config(m);
	(void)sd_notify(false, "READY=1");
	manager_notify_status(m);
	return 0;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Manager *m = userdata;
	log_info("Received %s, exiting", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	(void)sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
	return sd_event_exit(m->event, 0);
}

int manager_startup(Manager *m)
{
	int r;

	if (!m->state_dir && !(m->state_dir = strdup(pagemeld_state_dir())))
		return log_oom();
	if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Cannot create state directory %s: %m", m->state_dir);

	/* The sweep keeps one fd per managed process (ksm_stat) open. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	FeatureRoots roots = FEATURE_ROOTS_DEFAULT;
	r = kernel_features_probe(&roots, &m->features);
	if (r < 0)
		return log_error_errno(r, "Probing kernel features failed: %m");
	r = cg_find_v2_mount("/proc/self/mountinfo", &m->cgroup_mount);
	if (r < 0)
		log_warning_errno(r, "No cgroup v2 hierarchy (%m): containers cannot be registered");
	if (m->features.state[KERNEL_FEATURE_ksm] != FEATURE_PRESENT)
		log_warning("This kernel has no KSM: pagemeldd will report but cannot merge");
	if (m->features.state[KERNEL_FEATURE_prctl_merge_any] == FEATURE_ABSENT)
		log_warning("This kernel lacks PR_SET_MEMORY_MERGE (6.4+): merging cannot be enabled");

	r = sd_event_default(&m->event);
	if (r < 0)
		return log_error_errno(r, "Cannot allocate the event loop: %m");
	(void)sd_event_set_watchdog(m->event, true);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, m)) < 0 ||
	    (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0)
		return log_error_errno(r, "Cannot watch signals: %m");

	/* A KSM-wide job cut short by our own death: run and
	 * merge_across_nodes back first, before the scan policy writes. */
	(void)budget_ksm_repair(m);
	manager_apply_scan_config(m);

	bool ask = m->features.state[KERNEL_FEATURE_ksm_stat_merge_any] != FEATURE_PRESENT;
	r = injector_new(m->event, "pagemeld-injreg", ask, &m->inject_register);
	if (r >= 0)
		r = injector_new(m->event, "pagemeld-injswp", ask, &m->inject_sweep);
	if (r < 0)
		return log_error_errno(r, "Cannot set up the injection helpers: %m");
	manager_apply_inject_config(m);
	/* Started now rather than by the first registration, which would
	 * otherwise wait for the fork. */
	(void)injector_submit(m->inject_register, INJECT_OP_BARRIER, -EBADF, NULL, NULL);

	r = sd_bus_open_system(&m->bus);
	if (r < 0)
		return log_error_errno(r, "Cannot connect to the system bus: %m");
	r = manager_bus_add(m);
	if (r < 0)
		return r;
	r = cgroup_bus_add(m);
	if (r < 0)
		return r;

	/* Restore before taking the name: clients see the complete registry. */
	r = manager_restore(m);
	if (r < 0)
		return r;
	r = markers_sync(m);
	if (r < 0)
		return r;
	r = hook_server_start(m);
	if (r < 0)
		return r;

	r = sd_bus_request_name(m->bus, PAGEMELD_BUS_NAME, 0);
	if (r < 0)
		return log_error_errno(r, "Cannot own %s on the system bus: %m", PAGEMELD_BUS_NAME);
	r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return log_error_errno(r, "Cannot attach the bus to the event loop: %m");
	(void)sd_bus_set_exit_on_disconnect(m->bus, true);

	r = sd_event_add_time_relative(m->event, &m->sweep_timer, CLOCK_MONOTONIC,
				       m->config.sweep_interval_usec, 0, on_sweep_timer, m);
	if (r < 0)
		return log_error_errno(r, "Cannot arm the sweep timer: %m");

	if (m->seccomp) {
		r = seccomp_confine();
		if (r < 0)
			return log_error_errno(r, "Cannot install the seccomp filter: %m");
	}
	log_info("pagemeldd " PAGEMELD_VERSION " ready: %s on the system bus, remote backend %s, seccomp %s",
		 PAGEMELD_BUS_NAME, remote_backend_name(remote_backend()), m->seccomp ? "on" : "off");
	return 0;
}

int manager_run(Manager *m)
{
	(void)sd_notify(false, "READY=1");
	manager_notify_status(m);
	int r = sd_event_loop(m->event);
	(void)sd_notify(false, "STOPPING=1");
	if (r < 0)
		return log_error_errno(r, "Event loop failed: %m");
	return r;
}
