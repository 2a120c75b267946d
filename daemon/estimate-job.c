/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "estimate-job.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "fork-child.h"
#include "sched-attr.h"

#define ESTIMATE_MESSAGE_MAX 256
/* progress records at most this often: the pipe is not a log */
#define PROGRESS_INTERVAL_NSEC (200 * 1000 * 1000LL)

typedef enum RecordType {
	RECORD_PROGRESS = 1, /* value: bytes read so far */
	RECORD_ERROR,	     /* error, payload: a message */
	RECORD_RESULT,	     /* payload: EstimateResult, then n_groups EstimateGroup */
} RecordType;

typedef struct Record {
	uint32_t type;
	int32_t error;
	uint64_t value;
	uint32_t len; /* payload bytes that follow */
	uint32_t pad;
} Record;

struct EstimateJob {
	EstimateJobParams params;
	pid_t pid;
	int pipe_fd;
	sd_event_source *io;
	char *buf;
	size_t len, alloc;
	bool reported;
	bool cancelled;
};

/* ---- child side: no logging, no sd-event ---- */

typedef struct ChildState {
	int fd;
	struct timespec last;
} ChildState;

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_record(int fd, RecordType type, int error, uint64_t value, const void *payload, size_t len)
{
	Record rec = {.type = type, .error = error, .value = value, .len = (uint32_t)len};
	int r = write_all(fd, &rec, sizeof(rec));
	if (r >= 0 && len > 0)
		r = write_all(fd, payload, len);
	return r;
}

static int child_progress(void *userdata, uint64_t bytes_read)
{
	ChildState *s = userdata;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long d = (now.tv_sec - s->last.tv_sec) * 1000000000LL + (now.tv_nsec - s->last.tv_nsec);
	if (d < PROGRESS_INTERVAL_NSEC)
		return 0;
	s->last = now;
	/* the parent gone (pipe closed): stop */
	return send_record(s->fd, RECORD_PROGRESS, 0, bytes_read, NULL, 0);
}

static void child_fail(int fd, int error, const char *fmt, ...) _printf_(3, 4);
static void child_fail(int fd, int error, const char *fmt, ...)
{
	char msg[ESTIMATE_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)send_record(fd, RECORD_ERROR, error, 0, msg, strlen(msg) + 1);
	_exit(1);
}

static _noreturn_ void child_main(void *userdata, int fd, pid_t parent)
{
	EstimateJob *j = userdata;
	const EstimateJobParams *p = &j->params;
	ChildState st = {.fd = fd};
	_cleanup_estimator_ Estimator *e = NULL;
	EstimateResult res = {};
	int r;

	/* Never outlive pagemeldd (its exit closes no pipe we would notice
	 * while blocked in a long read). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	(void)prctl(PR_SET_NAME, "pagemeld-estim");
	/* Memory goes first to the estimate, not to pagemeldd. */
	(void)write_string_file("/proc/self/oom_score_adj", "1000");
	/* SCHED_IDLE through sched_setattr: the unit's filter refuses
	 * sched_setscheduler, and only sched_setattr is on the allow-list. */
	if (p->sched_idle) {
		SchedAttr a = {.size = sizeof(a), .sched_policy = SCHED_IDLE};
		if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
			child_fail(fd, -errno, "cannot switch to SCHED_IDLE: %s", strerror(errno));
	}

	EstimatorConfig c = p->config;
	c.progress = child_progress;
	c.userdata = &st;
	c.cancel = NULL; /* a cancel is SIGKILL */
	clock_gettime(CLOCK_MONOTONIC, &st.last);
	r = estimator_new(&c, &e);
	if (r < 0)
		child_fail(fd, r, "cannot set up the estimator: %s", strerror(-r));
	for (size_t i = 0; i < p->n_cgroups; i++) {
		unsigned g;
		r = estimator_add_group(e, p->managed && p->managed[i], &g);
		if (r < 0)
			child_fail(fd, r, "cannot add a group: %s", strerror(-r));
		r = estimator_scan_cgroup(e, p->proc_root, p->cgroup_mount, p->cgroups[i], g);
		if (r < 0)
			child_fail(fd, r, "reading the pages of cgroup %s failed: %s", p->cgroups[i],
				   strerror(-r));
	}
	r = estimator_result(e, &res);
	if (r < 0)
		child_fail(fd, r, "cannot compute the result: %s", strerror(-r));

	size_t len = sizeof(res) + res.n_groups * sizeof(EstimateGroup);
	char *payload = malloc(len);
	if (!payload)
		child_fail(fd, -ENOMEM, "out of memory");
	memcpy(payload, &res, sizeof(res));
	memcpy(payload + sizeof(res), res.groups, res.n_groups * sizeof(EstimateGroup));
	r = send_record(fd, RECORD_RESULT, 0, 0, payload, len);
	_exit(r < 0 ? 1 : 0);
}

/* ---- parent side ---- */

static void job_report(EstimateJob *j, int error, const char *message, const EstimateResult *r)
{
	if (j->reported)
		return;
	j->reported = true;
	if (j->params.done)
		j->params.done(j, error, message, r, j->params.userdata);
}

/* Complete records in buf: progress is passed on, the first error or
 * result ends the job (the done callback may free j: return 1 then). */
static int job_parse(EstimateJob *j)
{
	size_t off = 0;
	while (j->len - off >= sizeof(Record)) {
		Record rec;
		memcpy(&rec, j->buf + off, sizeof(rec));
		if (rec.len > 64 << 20) {
			job_report(j, -EBADMSG, "the estimating process sent a malformed record", NULL);
			return 1;
		}
		if (j->len - off - sizeof(rec) < rec.len)
			break;
		const char *payload = j->buf + off + sizeof(rec);
		off += sizeof(rec) + rec.len;
		switch (rec.type) {
		case RECORD_PROGRESS:
			if (j->params.progress)
				j->params.progress(j, rec.value, j->params.userdata);
			break;
		case RECORD_ERROR: {
			char msg[ESTIMATE_MESSAGE_MAX];
			snprintf(msg, sizeof(msg), "%.*s", (int)rec.len, payload);
			job_report(j, rec.error < 0 ? rec.error : -EIO, msg, NULL);
			return 1;
		}
		case RECORD_RESULT: {
			EstimateResult res;
			if (rec.len < sizeof(res)) {
				job_report(j, -EBADMSG, "the estimating process sent a short result", NULL);
				return 1;
			}
			memcpy(&res, payload, sizeof(res));
			if (rec.len != sizeof(res) + res.n_groups * sizeof(EstimateGroup)) {
				job_report(j, -EBADMSG, "the estimating process sent a short result", NULL);
				return 1;
			}
			_cleanup_free_ EstimateGroup *groups =
				calloc(res.n_groups ?: 1, sizeof(EstimateGroup));
			if (!groups) {
				job_report(j, -ENOMEM, "out of memory", NULL);
				return 1;
			}
			memcpy(groups, payload + sizeof(res), res.n_groups * sizeof(EstimateGroup));
			res.groups = groups;
			job_report(j, 0, "", &res);
			return 1;
		}
		default:
			job_report(j, -EBADMSG, "the estimating process sent an unknown record", NULL);
			return 1;
		}
	}
	memmove(j->buf, j->buf + off, j->len - off);
	j->len -= off;
	return 0;
}

static void job_reap(EstimateJob *j, int *ret_status)
{
	int status = 0;
	j->io = sd_event_source_disable_unref(j->io);
	j->pipe_fd = safe_close(j->pipe_fd);
	if (j->pid > 0) {
		while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
			;
		j->pid = 0;
	}
	if (ret_status)
		*ret_status = status;
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	EstimateJob *j = userdata;
	for (;;) {
		if (j->alloc - j->len < 4096) {
			size_t na = j->alloc ? j->alloc * 2 : 8192;
			char *nb = realloc(j->buf, na);
			if (!nb) {
				job_reap(j, NULL);
				job_report(j, -ENOMEM, "out of memory", NULL);
				return 0;
			}
			j->buf = nb;
			j->alloc = na;
		}
		ssize_t n = read(fd, j->buf + j->len, j->alloc - j->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			break; /* EOF: the child is gone */
		j->len += (size_t)n;
		if (job_parse(j) > 0) {
			/* ended: the callback may have freed j, so touch nothing */
			return 0;
		}
	}
	int status;
	job_reap(j, &status);
	char msg[ESTIMATE_MESSAGE_MAX];
	if (j->cancelled)
		job_report(j, -ECANCELED, "cancelled", NULL);
	else {
		snprintf(msg, sizeof(msg), "the estimating process %s before finishing",
			 WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
		job_report(j, -EIO, msg, NULL);
	}
	return 0;
}

int estimate_job_start(sd_event *e, const EstimateJobParams *p, EstimateJob **ret)
{
	_cleanup_(estimate_job_freep) EstimateJob *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->pipe_fd = -EBADF;
	j->params = *p;

	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	int r = fork_child(fds, child_main, j, &j->pid, &j->pipe_fd);
	if (r < 0)
		return r;
	if (fcntl(j->pipe_fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	r = sd_event_add_io(e, &j->io, j->pipe_fd, EPOLLIN, on_pipe, j);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(j->io, "estimate-job-pipe");
	*ret = TAKE_PTR(j);
	return 0;
}

bool estimate_job_running(const EstimateJob *j)
{
	return j && j->pid > 0;
}

int estimate_job_cancel(EstimateJob *j)
{
	if (!estimate_job_running(j))
		return -ESRCH;
	j->cancelled = true;
	return RET_NERRNO(kill(j->pid, SIGKILL));
}

EstimateJob *estimate_job_free(EstimateJob *j)
{
	if (!j)
		return NULL;
	if (j->pid > 0)
		(void)kill(j->pid, SIGKILL);
	job_reap(j, NULL);
	free(j->buf);
	free(j);
	return NULL;
}
