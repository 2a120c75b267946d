/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "estimate-bus.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "creds-bus.h"
#include "errors.h"
#include "estimate-job.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "util.h"

/* More concurrent estimates than cores only slow each other down. */
#define ESTIMATES_MAX 2
#define ESTIMATE_CGROUPS_MAX 1024

typedef struct EstimateRun {
	Manager *manager;
	uint64_t id;
	char *caller; /* unique bus name: the signals' destination */
	uid_t uid;
	char **paths;
	bool *managed;
	size_t n;
	EstimateJob *job;
	sd_bus_track *track; /* the caller: an estimate nobody waits for is cancelled */
	struct EstimateRun *next;
} EstimateRun;

static EstimateRun *run_free(EstimateRun *run)
{
	if (!run)
		return NULL;
	estimate_job_free(run->job);
	sd_bus_track_unref(run->track);
	for (size_t i = 0; i < run->n; i++)
		free(run->paths[i]);
	free(run->paths);
	free(run->managed);
	free(run->caller);
	free(run);
	return NULL;
}

static void run_unlink(EstimateRun *run)
{
	Manager *m = run->manager;
	for (EstimateRun **p = &m->estimates; *p; p = &(*p)->next)
		if (*p == run) {
			*p = run->next;
			m->n_estimates--;
			break;
		}
}

void estimate_bus_free_all(Manager *m)
{
	while (m->estimates) {
		EstimateRun *run = m->estimates;
		run_unlink(run);
		run_free(run);
	}
}

static int new_signal(EstimateRun *run, const char *member, sd_bus_message **ret)
{
	Manager *m = run->manager;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
	if (!m->bus)
		return -ENOTCONN;
	int r = sd_bus_message_new_signal(m->bus, &sig, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE,
					  member);
	if (r < 0)
		return r;
	r = sd_bus_message_set_destination(sig, run->caller);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(sig);
	return 0;
}

static void on_progress(EstimateJob *j, uint64_t bytes_read, void *userdata)
{
	EstimateRun *run = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
	int r = new_signal(run, "EstimateProgress", &sig);
	if (r >= 0)
		r = sd_bus_message_append(sig, "tt", run->id, bytes_read);
	if (r >= 0)
		r = sd_bus_send(NULL, sig, NULL);
	if (r < 0)
		log_debug_errno(r, "Cannot send EstimateProgress: %m");
}

typedef struct Field {
	const char *name;
	int64_t value;
	bool root_only; /* a cross-cgroup figure */
} Field;

static int append_fields(sd_bus_message *sig, const Field *f, size_t n, bool root)
{
	int r = sd_bus_message_open_container(sig, 'a', "{sx}");
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (root || !f[i].root_only)
			r = sd_bus_message_append(sig, "{sx}", f[i].name, f[i].value);
	if (r >= 0)
		r = sd_bus_message_close_container(sig);
	return r;
}

static int64_t within_profit(const EstimateGroup *g, uint64_t page_size)
{
	return (int64_t)(g->dup_within_pages * page_size) -
	       (int64_t)(g->pages_scanned * ESTIMATE_RMAP_ITEM_BYTES);
}

static int append_result(sd_bus_message *sig, EstimateRun *run, const EstimateResult *res)
{
	bool root = run->uid == 0;
	uint64_t ps = run->manager->page_size;
	const Field totals[] = {
		{"page_size", (int64_t)ps, false},
		{"pages_scanned", (int64_t)res->pages_scanned, false},
		{"zero_pages", (int64_t)res->zero_pages, false},
		{"volatile_pages", (int64_t)res->volatile_pages, false},
		{"unreadable_pages", (int64_t)res->unreadable_pages, false},
		{"forked_pages", (int64_t)res->forked_pages, false},
		{"dup_within_pages", (int64_t)res->dup_within_pages, false},
		{"sample_shift", (int64_t)res->sample_shift, false},
		{"dup_stderr_pages", (int64_t)llround(res->dup_stderr_pages), false},
		{"table_bytes_peak", (int64_t)res->table_bytes_peak, false},
		{"dup_pages", (int64_t)res->dup_pages, true},
		{"dup_across_pages", (int64_t)res->dup_across_pages, true},
		{"ksm_pages", (int64_t)res->ksm_pages, true},
		{"managed_dup_pages", (int64_t)res->managed_dup_pages, true},
		{"profit_bytes", res->profit_bytes, true},
	};
	int r = append_fields(sig, totals, ELEMENTSOF(totals), root);
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(sig, 'a', "(sa{sx})");
	for (size_t i = 0; r >= 0 && i < res->n_groups && i < run->n; i++) {
		const EstimateGroup *g = &res->groups[i];
		const Field f[] = {
			{"managed", run->managed[i], false},
			{"pages_scanned", (int64_t)g->pages_scanned, false},
			{"zero_pages", (int64_t)g->zero_pages, false},
			{"volatile_pages", (int64_t)g->volatile_pages, false},
			{"unreadable_pages", (int64_t)g->unreadable_pages, false},
			{"forked_pages", (int64_t)g->forked_pages, false},
			{"dup_within_pages", (int64_t)g->dup_within_pages, false},
			{"within_profit_bytes", within_profit(g, ps), false},
			{"marginal_pages", (int64_t)g->marginal_pages, true},
			{"marginal_profit_bytes", g->marginal_profit_bytes, true},
		};
		r = sd_bus_message_open_container(sig, 'r', "sa{sx}");
		if (r >= 0)
			r = sd_bus_message_append(sig, "s", run->paths[i]);
		if (r >= 0)
			r = append_fields(sig, f, ELEMENTSOF(f), root);
		if (r >= 0)
			r = sd_bus_message_close_container(sig);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(sig);
	return r;
}

/* EstimatedSavings of the managed cgroups the estimate read. */
static void publish_savings(EstimateRun *run, const EstimateResult *res)
{
	for (size_t i = 0; i < res->n_groups && i < run->n; i++) {
		CgroupState *cg = manager_find_cgroup(run->manager, run->paths[i]);
		if (!cg)
			continue;
		int64_t p = within_profit(&res->groups[i], run->manager->page_size);
		cg->estimated_savings = p > 0 ? (uint64_t)p : 0;
	}
}

static void on_done(EstimateJob *j, int error, const char *message, const EstimateResult *res, void *userdata)
{
	EstimateRun *run = userdata;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
	EstimateResult empty = {};

	if (error == 0) {
		publish_savings(run, res);
		log_info("Estimate %" PRIu64 " of %zu cgroup(s): %" PRIu64 " pages read, %" PRIu64
			 " duplicate",
			 run->id, run->n, res->pages_scanned, res->dup_pages);
	} else
		log_info("Estimate %" PRIu64 " ended: %s", run->id, message);
	int r = new_signal(run, "EstimateFinished", &sig);
	if (r >= 0)
		r = sd_bus_message_append(sig, "ts", run->id, error == 0 ? "" : message);
	if (r >= 0)
		r = append_result(sig, run, error == 0 ? res : &empty);
	if (r >= 0)
		r = sd_bus_send(NULL, sig, NULL);
	if (r < 0)
		log_debug_errno(r, "Cannot send EstimateFinished: %m");
	run_unlink(run);
	run_free(run);
}

static bool cgroup_path_valid(const char *p)
{
	size_t n = strlen(p);
	bool dotdot_end = n >= 3 && streq(p + n - 3, "/..");
	return p[0] == '/' && !strstr(p, "/../") && !dotdot_end && !strstr(p, "/./") && !strstr(p, "//") &&
	       n < 4096;
}

static int on_caller_gone(sd_bus_track *t, void *userdata)
{
	EstimateRun *run = userdata;
	log_info("Estimate %" PRIu64 ": its caller left the bus, cancelling", run->id);
	(void)estimate_job_cancel(run->job); /* on_done follows and frees run */
	return 0;
}

int bus_method_estimate(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	_cleanup_strv_free_ char **paths = NULL;
	uid_t uid;
	int r = bus_check_reader(m, msg, &uid, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read_strv(msg, &paths);
	if (r < 0)
		return r;
	size_t n = 0;
	while (paths && paths[n])
		n++;
	if (n == 0 || n > ESTIMATE_CGROUPS_MAX)
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Give 1 to %d cgroups",
					 ESTIMATE_CGROUPS_MAX);
	if (!m->cgroup_mount)
		return sd_bus_error_set(error, PM_ERROR_NO_CGROUP_V2, "No cgroup v2 mount");
	for (size_t i = 0; i < n; i++) {
		/* an object path of a managed cgroup names its cgroup */
		CgroupState *cg = manager_find_cgroup(m, paths[i]);
		if (cg && !streq(cg->path, paths[i])) {
			char *p = strdup(cg->path);
			if (!p)
				return -ENOMEM;
			free(paths[i]);
			paths[i] = p;
		}
		if (!cgroup_path_valid(paths[i]))
			return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
						 "Not a cgroup path: %s (absolute, below the v2 mount)",
						 paths[i]);
		_cleanup_free_ char *procs = strdup_printf("%s%s/cgroup.procs", m->cgroup_mount, paths[i]);
		if (!procs)
			return -ENOMEM;
		if (access(procs, F_OK) < 0)
			return sd_bus_error_setf(error, PM_ERROR_NO_SUCH_CGROUP, "No cgroup %s", paths[i]);
	}
	if (m->n_estimates >= ESTIMATES_MAX)
		return sd_bus_error_setf(error, PM_ERROR_BUSY, "%u estimates are running already",
					 m->n_estimates);

	EstimateRun *run = calloc(1, sizeof(*run));
	if (!run)
		return -ENOMEM;
	run->manager = m;
	run->id = ++m->estimate_next_id;
	run->uid = uid;
	run->caller = strdup(strempty(sd_bus_message_get_sender(msg)));
	run->managed = calloc(n, sizeof(bool));
	if (!run->caller || !run->managed) {
		run_free(run);
		return -ENOMEM;
	}
	run->paths = TAKE_PTR(paths);
	run->n = n;
	for (size_t i = 0; i < n; i++) {
		CgroupState *cg = manager_find_cgroup(m, run->paths[i]);
		run->managed[i] = cg && cg->enabled;
	}

	(void)manager_ksm_refresh(m, true);
	EstimateJobParams p = {
		.proc_root = m->proc_root,
		.cgroup_mount = m->cgroup_mount,
		.cgroups = run->paths,
		.managed = run->managed,
		.n_cgroups = n,
		.config =
			{
				.use_zero_pages = m->ksm.present[KSM_use_zero_pages] &&
						  m->ksm.value[KSM_use_zero_pages],
				.max_page_sharing = m->ksm.present[KSM_max_page_sharing]
							    ? m->ksm.value[KSM_max_page_sharing]
							    : 0,
				.max_bytes_per_sec = m->config.estimate_rate,
			},
		.sched_idle = true,
		.progress = on_progress,
		.done = on_done,
		.userdata = run,
	};
	r = sd_bus_track_new(sd_bus_message_get_bus(msg), &run->track, on_caller_gone, run);
	if (r >= 0)
		r = sd_bus_track_add_sender(run->track, msg);
	if (r >= 0)
		r = estimate_job_start(m->event, &p, &run->job);
	if (r < 0) {
		run_free(run);
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot start the estimate: %s",
					 strerror(-r));
	}
	run->next = m->estimates;
	m->estimates = run;
	m->n_estimates++;
	log_info("Estimate %" PRIu64 " of %zu cgroup(s) for uid %u started (at most %" PRIu64 " MiB/s)",
		 run->id, n, (unsigned)uid, m->config.estimate_rate >> 20);
	return sd_bus_reply_method_return(msg, "t", run->id);
}

int bus_method_cancel_estimate(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Manager *m = userdata;
	uint64_t id;
	uid_t uid;
	int r = bus_check_reader(m, msg, &uid, error);
	if (r < 0)
		return r;
	r = sd_bus_message_read(msg, "t", &id);
	if (r < 0)
		return r;
	EstimateRun *run = m->estimates;
	while (run && run->id != id)
		run = run->next;
	/* another user's estimate is as unknown as a finished one */
	if (!run || (uid != 0 && run->uid != uid))
		return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "No running estimate %" PRIu64,
					 id);
	r = estimate_job_cancel(run->job);
	if (r < 0 && r != -ESRCH)
		return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "Cannot cancel estimate %" PRIu64 ": %s",
					 id, strerror(-r));
	return sd_bus_reply_method_return(msg, NULL);
}
