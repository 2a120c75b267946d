/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unmerge-worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "fork-child.h"
#include "log.h"

/* What the child sends up the pipe, once. */
typedef struct ChildReport {
	int error;
	uint64_t run_restored;
	char message[UNMERGE_MESSAGE_MAX];
} ChildReport;

struct UnmergeWorker {
	UnmergeWorkerParams params;
	char *ksm_dir;
	pid_t pid;
	int pipe_fd;
	sd_event_source *io;
	sd_event_source *timer;
	sd_event_source *deadline;
	ChildReport report;
	size_t report_len;
	bool cancelled;
	bool timed_out;
	uint64_t start_usec;
	uint64_t pages_sharing_before;
};

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

const char *unmerge_job_name(UnmergeJob j)
{
	switch (j) {
	case UNMERGE_JOB_ALL:
		return "unmerge-all";
	case UNMERGE_JOB_MERGE_ACROSS_NODES:
		return "merge-across-nodes";
	case UNMERGE_JOB_CUSTOM:
		return "custom";
	}
	return NULL;
}

/* ---- child side: no logging, no sd-event, only syscalls ---- */

/* One write(2), no EINTR retry: an interrupted unmerge is reported, not
 * silently restarted. */
static int write_once(const char *dir, const char *name, const char *value)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ssize_t k = write(fd, value, strlen(value));
	int r = k < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int child_unmerge_all(const char *dir, char *msg, size_t size)
{
	int r = write_once(dir, "run", "2");
	if (r < 0)
		snprintf(msg, size, "writing 2 to %s/run failed: %s", dir, strerror(-r));
	return r;
}

static int child_merge_across_nodes(const char *dir, bool value, uint64_t shared_timeout_usec, char *msg,
				    size_t size)
{
	uint64_t cur;
	int r = ksm_read_field(dir, KSM_merge_across_nodes, &cur);
	if (r < 0) {
		snprintf(msg, size, "merge_across_nodes is not available on this kernel (%s)", strerror(-r));
		return r == -ENOENT ? -EOPNOTSUPP : r;
	}
	if (cur == (uint64_t)value)
		return 0;
	r = write_once(dir, "run", "2");
	if (r < 0) {
		snprintf(msg, size, "unmerging (run=2) failed: %s", strerror(-r));
		return r;
	}
	uint64_t deadline = now_usec() + shared_timeout_usec;
	for (;;) {
		uint64_t shared;
		r = ksm_read_field(dir, KSM_pages_shared, &shared);
		if (r < 0) {
			snprintf(msg, size, "reading pages_shared failed: %s", strerror(-r));
			return r;
		}
		if (shared == 0)
			break;
		if (now_usec() > deadline) {
			snprintf(msg, size, "pages_shared is still %llu after unmerging",
				 (unsigned long long)shared);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
	r = write_once(dir, "merge_across_nodes", value ? "1" : "0");
	if (r < 0) {
		snprintf(msg, size, "writing merge_across_nodes=%d failed: %s", value, strerror(-r));
		return r;
	}
	return 0;
}

static int restore_run(const char *dir, uint64_t run)
{
	if (run == UNMERGE_RUN_KEEP)
		return 0;
	char v[24];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)run);
	int r;
	do /* a restore is not worth reporting EINTR: it is quick, just retry */
		r = write_once(dir, "run", v);
	while (r == -EINTR);
	return r;
}

static _noreturn_ void child_main(void *userdata, int fd, pid_t parent)
{
	UnmergeWorker *w = userdata;
	ChildReport rep = {};
	const UnmergeWorkerParams *p = &w->params;

	/* Die with pagemeldd (see unmerge-worker.h); the getppid() check
	 * covers a pagemeldd that died between fork() and prctl(). */
	if (p->job != UNMERGE_JOB_CUSTOM && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(1);

	/* Prefer dying to pagemeldd dying, also outside the write itself. */
	(void)write_string_file("/proc/self/oom_score_adj", "1000");
	(void)prctl(PR_SET_NAME, "pagemeld-unmrg");

	switch (p->job) {
	case UNMERGE_JOB_ALL:
		rep.error = child_unmerge_all(w->ksm_dir, rep.message, sizeof(rep.message));
		break;
	case UNMERGE_JOB_MERGE_ACROSS_NODES:
		rep.error =
			child_merge_across_nodes(w->ksm_dir, p->merge_across_nodes, p->shared_timeout_usec,
						 rep.message, sizeof(rep.message));
		break;
	case UNMERGE_JOB_CUSTOM:
		rep.error = p->job_fn(p->job_data, rep.message, sizeof(rep.message));
		break;
	}

	/* The kernel sets run=0 when the unmerge fails; put back what the
	 * configuration wants either way. */
	rep.run_restored = p->run_after;
	int r = restore_run(w->ksm_dir, p->run_after);
	if (r < 0) {
		size_t l = strlen(rep.message);
		snprintf(rep.message + l, sizeof(rep.message) - l, "%srestoring run=%llu failed: %s",
			 l ? "; " : "", (unsigned long long)p->run_after, strerror(-r));
		if (rep.error == 0)
			rep.error = r;
		rep.run_restored = UNMERGE_RUN_KEEP;
	}
	ssize_t k;
	do
		k = write(fd, &rep, sizeof(rep));
	while (k < 0 && errno == EINTR);
	_exit(k == (ssize_t)sizeof(rep) ? 0 : 1);
}

/* ---- parent side ---- */

static void worker_finish(UnmergeWorker *w)
{
	UnmergeResult res = {};
	int status = 0;

	w->io = sd_event_source_disable_unref(w->io);
	w->timer = sd_event_source_disable_unref(w->timer);
	w->deadline = sd_event_source_disable_unref(w->deadline);
	w->pipe_fd = safe_close(w->pipe_fd);

	/* The pipe is closed at exit, so the child is (about to be) a zombie. */
	pid_t k;
	do
		k = waitpid(w->pid, &status, 0);
	while (k < 0 && errno == EINTR);
	w->pid = 0;

	res.usec = now_usec() - w->start_usec;
	res.pages_sharing_before = w->pages_sharing_before;
	(void)ksm_read_field(w->ksm_dir, KSM_pages_sharing, &res.pages_sharing_after);

	if (w->report_len == sizeof(ChildReport)) {
		res.error = w->report.error;
		res.run_restored = w->report.run_restored;
		memcpy(res.message, w->report.message, sizeof(res.message));
		res.message[sizeof(res.message) - 1] = '\0';
	} else {
		/* The child died before reporting: the OOM killer, or cancel. */
		if (k > 0 && WIFSIGNALED(status)) {
			res.killed = true;
			res.signal = WTERMSIG(status);
		}
		if (w->timed_out) {
			res.error = -ETIMEDOUT;
			snprintf(res.message, sizeof(res.message),
				 "the worker did not finish within %.1f s and was killed",
				 (double)w->params.timeout_usec / 1e6);
		} else if (w->cancelled) {
			res.error = -ECANCELED;
			snprintf(res.message, sizeof(res.message), "cancelled");
		} else {
			res.error = -ENOMEM;
			snprintf(res.message, sizeof(res.message),
				 "the unmerging process %s before finishing (the writer of run=2 is the "
				 "OOM killer's first choice: most likely out of memory)",
				 res.killed ? strsignal(res.signal) : "exited");
		}
		res.run_restored = UNMERGE_RUN_KEEP;
	}

	/* Never leave KSM stopped by accident: check and restore here too. */
	if (w->params.run_after != UNMERGE_RUN_KEEP) {
		uint64_t run;
		if (ksm_read_field(w->ksm_dir, KSM_run, &run) >= 0 && run != w->params.run_after) {
			int r = ksm_write_field(w->ksm_dir, KSM_run, w->params.run_after);
			if (r < 0)
				log_error_errno(r, "Restoring KSM run=%llu after %s failed: %m",
						(unsigned long long)w->params.run_after,
						unmerge_job_name(w->params.job));
			else
				res.run_restored = w->params.run_after;
		} else if (res.run_restored == UNMERGE_RUN_KEEP)
			res.run_restored = w->params.run_after;
	}

	if (w->params.done)
		w->params.done(w, &res, w->params.userdata);
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	UnmergeWorker *w = userdata;
	for (;;) {
		char *buf = (char *)&w->report + w->report_len;
		size_t left = sizeof(ChildReport) - w->report_len;
		ssize_t n = left > 0 ? read(fd, buf, left) : read(fd, (char[1]){0}, 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			break; /* treat as EOF */
		}
		if (n == 0)
			break;
		if (left > 0)
			w->report_len += (size_t)n;
	}
	worker_finish(w);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	UnmergeWorker *w = userdata;
	uint64_t sharing = 0, shared = 0;
	if (ksm_read_field(w->ksm_dir, KSM_pages_sharing, &sharing) >= 0 &&
	    ksm_read_field(w->ksm_dir, KSM_pages_shared, &shared) >= 0 && w->params.progress)
		w->params.progress(w, sharing, shared, w->params.userdata);
	int r = sd_event_source_set_time_relative(s, w->params.progress_usec);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	UnmergeWorker *w = userdata;
	if (w->pid > 0) {
		w->timed_out = true;
		(void)kill(w->pid, SIGKILL); /* the pipe's EOF finishes the job */
	}
	return 0;
}

int unmerge_worker_start(sd_event *e, const UnmergeWorkerParams *p, UnmergeWorker **ret)
{
	if (p->job == UNMERGE_JOB_CUSTOM && !p->job_fn)
		return -EINVAL;

	_cleanup_(unmerge_worker_freep) UnmergeWorker *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->pipe_fd = -EBADF;
	w->params = *p;
	if (w->params.progress_usec == 0)
		w->params.progress_usec = 250 * 1000;
	if (w->params.shared_timeout_usec == 0)
		w->params.shared_timeout_usec = 30 * 1000 * 1000;
	w->ksm_dir = strdup(p->ksm_dir ? p->ksm_dir : KSM_SYSFS_DIR);
	if (!w->ksm_dir)
		return -ENOMEM;
	w->params.ksm_dir = w->ksm_dir;
	(void)ksm_read_field(w->ksm_dir, KSM_pages_sharing, &w->pages_sharing_before);

	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	w->start_usec = now_usec();
	int r = fork_child(fds, child_main, w, &w->pid, &w->pipe_fd);
	if (r < 0)
		return r;
	if (fcntl(w->pipe_fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;

	r = sd_event_add_io(e, &w->io, w->pipe_fd, EPOLLIN, on_pipe, w);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(w->io, "unmerge-worker-pipe");
	r = sd_event_add_time_relative(e, &w->timer, CLOCK_MONOTONIC, w->params.progress_usec, 1000, on_timer,
				       w);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(w->timer, "unmerge-worker-progress");
	if (w->params.timeout_usec) {
		r = sd_event_add_time_relative(e, &w->deadline, CLOCK_MONOTONIC, w->params.timeout_usec,
					       100 * 1000, on_deadline, w);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(w);
	return 0;
}

bool unmerge_worker_running(const UnmergeWorker *w)
{
	return w && w->pid > 0;
}

pid_t unmerge_worker_pid(const UnmergeWorker *w)
{
	return w ? w->pid : 0;
}

uint64_t unmerge_worker_run_after(const UnmergeWorker *w)
{
	return w ? w->params.run_after : UNMERGE_RUN_KEEP;
}

int unmerge_worker_cancel(UnmergeWorker *w)
{
	if (!unmerge_worker_running(w))
		return -ESRCH;
	w->cancelled = true;
	return RET_NERRNO(kill(w->pid, SIGKILL));
}

UnmergeWorker *unmerge_worker_free(UnmergeWorker *w)
{
	if (!w)
		return NULL;
	w->io = sd_event_source_disable_unref(w->io);
	w->timer = sd_event_source_disable_unref(w->timer);
	w->deadline = sd_event_source_disable_unref(w->deadline);
	if (w->pid > 0) {
		(void)kill(w->pid, SIGKILL);
		while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (w->params.run_after != UNMERGE_RUN_KEEP)
			(void)ksm_write_field(w->ksm_dir, KSM_run, w->params.run_after);
	}
	safe_close(w->pipe_fd);
	free(w->ksm_dir);
	free(w);
	return NULL;
}
