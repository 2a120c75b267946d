/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "injector.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fork-child.h"
#include "log.h"
#include "remote.h"

/* lib/remote-ptrace.c's defaults, for the deadline when none is set. */
#define DEFAULT_STALL_USEC (1000 * 1000ULL)
#define DEFAULT_LIMIT_USEC (30 * 1000 * 1000ULL)
/* Beyond the lib's own limits: only a broken child takes this long. */
#define DEADLINE_MARGIN_USEC (5 * 1000 * 1000ULL)
/* How long a child whose parent is gone keeps draining parked threads. */
#define ORPHAN_DRAIN_MSEC 10000
/* While threads are parked, look at them this often between requests. */
#define DRAIN_POLL_MSEC 20
/* Dead tracees whose exit we pass on as soon as it comes (remote_drain_fds());
 * beyond this many, the rest are looked at every DRAIN_POLL_MSEC. */
#define MAX_EXIT_FDS 64

typedef struct WireRequest {
	uint64_t id;
	int32_t op;
	int32_t pad;
	uint64_t stall_usec, limit_usec; /* remote_set_timeouts(): a reload applies at once */
} WireRequest;

typedef struct WireReply {
	uint64_t id;
	int32_t result;
	int32_t pad;
} WireReply;

typedef struct Request {
	uint64_t id;
	InjectOp op;
	int pidfd;
	injector_open_t open_pidfd; /* when pidfd is to be opened at send time */
	injector_done_t done;
	void *userdata;
	struct Request *next;
} Request;

struct Injector {
	sd_event *event;
	char name[16];	    /* comm: 15 characters and the NUL */
	bool ask_merge_any; /* ENABLE asks the process first (ksm_stat cannot tell) */
	uint64_t stall_usec, limit_usec;
	pid_t pid;
	int fd; /* our end of the socketpair, -EBADF with no child */
	sd_event_source *io, *deadline, *kick;
	Request *head, *tail; /* head is in flight when sent */
	bool sent;
	unsigned n;
	uint64_t next_id;
};

/* ---- the child: no logging, no sd-event ---- */

/* The parent looked at ksm_stat before sending the request; where that
 * cannot show merge_any (before 6.14), ask the process, so one that has it
 * is not stopped for nothing on every sweep. */
static int child_enable(int pidfd, bool ask)
{
	bool on = false;
	if (ask && remote_get_merge_any(pidfd, &on) >= 0 && on)
		return 0;
	int r = remote_set_merge_any(pidfd, true);
	return r < 0 ? r : 1;
}

static int child_handle(const Injector *inj, int op, int pidfd)
{
	switch (op) {
	case INJECT_OP_BARRIER:
		return 0;
	case INJECT_OP_ENABLE:
		return pidfd >= 0 ? child_enable(pidfd, inj->ask_merge_any) : -EBADF;
	case INJECT_OP_DISABLE:
		return pidfd >= 0 ? remote_set_merge_any(pidfd, false) : -EBADF;
	default:
		return -EOPNOTSUPP;
	}
}

/* One request: its record and at most one fd. 0 at EOF. */
static ssize_t child_recv(int sock, WireRequest *req, int *ret_fd)
{
	char control[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov = {req, sizeof(*req)};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
	ssize_t k;
	*ret_fd = -EBADF;
	do
		k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	if (k > 0 && (size_t)k != sizeof(*req)) {
		*ret_fd = safe_close(*ret_fd);
		return -EBADMSG;
	}
	return k;
}

static _noreturn_ void child_main(void *userdata, int sock, pid_t parent)
{
	Injector *inj = userdata;
	/* Only our end of the socketpair: no bus, no cached /proc fds. */
	if (sock != 3) {
		if (dup2(sock, 3) < 0)
			_exit(1);
		sock = 3;
	}
	(void)syscall(SYS_close_range, 4U, ~0U, 0U);
	(void)prctl(PR_SET_NAME, inj->name);
	if (getppid() != parent)
		_exit(0);

	for (;;) {
		int parked = remote_drain();
		/* a dead tracee's parent can reap it only once we have taken
		 * its exit: wake for that too, however long it takes */
		int exits[MAX_EXIT_FDS];
		size_t n_exits = remote_drain_fds(exits, MAX_EXIT_FDS);
		struct pollfd p[1 + MAX_EXIT_FDS] = {{.fd = sock, .events = POLLIN}};
		size_t n_p = 1 + MIN(n_exits, (size_t)MAX_EXIT_FDS);
		for (size_t i = 1; i < n_p; i++)
			p[i] = (struct pollfd){.fd = exits[i - 1], .events = POLLIN};
		bool look_often = parked > 0 || n_exits > MAX_EXIT_FDS;
		int n = poll(p, n_p, look_often ? DRAIN_POLL_MSEC : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0 || !p[0].revents)
			continue;
		WireRequest req;
		int fd;
		ssize_t k = child_recv(sock, &req, &fd);
		if (k == 0 || (k < 0 && k != -EBADMSG))
			break; /* pagemeldd is gone */
		if (k > 0)
			remote_set_timeouts(req.stall_usec, req.limit_usec);
		WireReply rep = {.id = k > 0 ? req.id : 0,
				 .result = k > 0 ? child_handle(inj, req.op, fd) : (int)k};
		safe_close(fd);
		ssize_t w;
		do
			w = send(sock, &rep, sizeof(rep), MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			break;
	}
	/* Tracer death would resume a parked thread on our registers: give
	 * it a while to stop and be put back first. */
	for (int i = 0; i < ORPHAN_DRAIN_MSEC / DRAIN_POLL_MSEC && remote_drain() > 0; i++)
		(void)poll(NULL, 0, DRAIN_POLL_MSEC);
	_exit(0);
}

/* ---- the parent ---- */

static void child_stop(Injector *inj, bool kill_it)
{
	inj->io = sd_event_source_disable_unref(inj->io);
	inj->deadline = sd_event_source_disable_unref(inj->deadline);
	inj->fd = safe_close(inj->fd); /* EOF: an idle child drains and exits */
	if (inj->pid <= 0)
		return;
	if (kill_it) {
		(void)kill(inj->pid, SIGKILL);
		while (waitpid(inj->pid, NULL, 0) < 0 && errno == EINTR)
			;
	} else
		/* pagemeldd is exiting: the child sees EOF, puts back its
		 * parked threads and exits on its own */
		(void)waitpid(inj->pid, NULL, WNOHANG);
	inj->pid = 0;
}

static Request *request_pop(Injector *inj)
{
	Request *r = inj->head;
	if (!r)
		return NULL;
	inj->head = r->next;
	if (!inj->head)
		inj->tail = NULL;
	inj->n--;
	inj->sent = false;
	return r;
}

static void request_finish(Request *req, int result)
{
	safe_close(req->pidfd);
	if (req->done)
		req->done(result, req->userdata);
	free(req);
}

static void injector_kick(Injector *inj);

static void finish_head(Injector *inj, int result)
{
	Request *req = request_pop(inj);
	if (req)
		request_finish(req, result);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	Injector *inj = userdata;
	log_warning("Injection helper %s (pid %d) did not answer in time: killing it", inj->name,
		    (int)inj->pid);
	child_stop(inj, true);
	finish_head(inj, -ETIMEDOUT);
	injector_kick(inj);
	return 0;
}

static int on_reply(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Injector *inj = userdata;
	for (;;) {
		WireReply rep;
		ssize_t k = recv(fd, &rep, sizeof(rep), MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k != (ssize_t)sizeof(rep)) {
			/* EOF or garbage: the child died (OOM killer?) */
			log_warning("Injection helper %s (pid %d) went away", inj->name, (int)inj->pid);
			child_stop(inj, true);
			if (inj->sent)
				finish_head(inj, -EIO);
			injector_kick(inj);
			return 0;
		}
		if (!inj->sent || !inj->head || rep.id != inj->head->id)
			continue; /* stale: not what we wait for */
		inj->deadline = sd_event_source_disable_unref(inj->deadline);
		finish_head(inj, rep.result);
		injector_kick(inj);
		return 0;
	}
}

static int child_start(Injector *inj)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	int r = fork_child(sv, child_main, inj, &inj->pid, &inj->fd);
	if (r < 0)
		return r;
	r = sd_event_add_io(inj->event, &inj->io, inj->fd, EPOLLIN, on_reply, inj);
	if (r < 0) {
		child_stop(inj, true);
		return r;
	}
	/* Answers come before new D-Bus work: they unblock waiting callers. */
	(void)sd_event_source_set_priority(inj->io, SD_EVENT_PRIORITY_IMPORTANT);
	(void)sd_event_source_set_description(inj->io, "injector");
	log_debug("Injection helper %s started (pid %d)", inj->name, (int)inj->pid);
	return 0;
}

static uint64_t deadline_usec(const Injector *inj)
{
	uint64_t stall = inj->stall_usec ?: DEFAULT_STALL_USEC;
	uint64_t limit = inj->limit_usec ?: DEFAULT_LIMIT_USEC;
	/* ENABLE may inject twice (ask, then set) */
	return 2 * (stall + limit) + DEADLINE_MARGIN_USEC;
}

static int send_head(Injector *inj)
{
	Request *req = inj->head;
	WireRequest w = {
		.id = req->id, .op = req->op, .stall_usec = inj->stall_usec, .limit_usec = inj->limit_usec};
	char control[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov = {&w, sizeof(w)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (req->pidfd >= 0) {
		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &req->pidfd, sizeof(int));
	}
	ssize_t k;
	do
		k = sendmsg(inj->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	int r = sd_event_add_time_relative(inj->event, &inj->deadline, CLOCK_MONOTONIC, deadline_usec(inj),
					   100 * 1000, on_deadline, inj);
	if (r < 0)
		return r;
	inj->sent = true;
	return 0;
}

/* Send the head if nothing is in flight, starting a child if needed. A
 * failure fails the head (never loops: each turn drops one request). */
static void injector_kick(Injector *inj)
{
	while (inj->head && !inj->sent) {
		Request *req = inj->head;
		int r = 0;
		if (req->open_pidfd && req->pidfd < 0) {
			r = req->open_pidfd(req->userdata, &req->pidfd);
			if (r < 0) { /* gone, or no longer the process meant */
				finish_head(inj, r);
				continue;
			}
		}
		if (inj->fd < 0)
			r = child_start(inj);
		if (r >= 0)
			r = send_head(inj);
		if (r >= 0)
			return;
		log_warning_errno(r, "Injection helper %s: cannot hand over a request: %m", inj->name);
		child_stop(inj, true);
		finish_head(inj, r);
	}
}

/* Done from a deferred source, so a done callback never runs inside
 * injector_submit() (callers hold state across it). */
static int on_kick(sd_event_source *s, void *userdata)
{
	injector_kick(userdata);
	return 0;
}

static int submit(Injector *inj, InjectOp op, int pidfd, injector_open_t open_pidfd, injector_done_t done,
		  void *userdata)
{
	if (op < 0 || op >= _INJECT_OP_MAX || (op != INJECT_OP_BARRIER && pidfd < 0 && !open_pidfd))
		return -EINVAL;
	Request *req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	*req = (Request){.id = ++inj->next_id,
			 .op = op,
			 .pidfd = -EBADF,
			 .open_pidfd = open_pidfd,
			 .done = done,
			 .userdata = userdata};
	if (pidfd >= 0) {
		req->pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
		if (req->pidfd < 0) {
			int r = -errno;
			free(req);
			return r;
		}
	}
	if (inj->tail)
		inj->tail->next = req;
	else
		inj->head = req;
	inj->tail = req;
	inj->n++;
	if (!inj->sent)
		(void)sd_event_source_set_enabled(inj->kick, SD_EVENT_ONESHOT);
	return 0;
}

int injector_submit(Injector *inj, InjectOp op, int pidfd, injector_done_t done, void *userdata)
{
	return submit(inj, op, pidfd, NULL, done, userdata);
}

int injector_submit_lazy(Injector *inj, InjectOp op, injector_open_t open_pidfd, injector_done_t done,
			 void *userdata)
{
	return submit(inj, op, -EBADF, open_pidfd, done, userdata);
}

int injector_new(sd_event *e, const char *name, bool ask_merge_any, Injector **ret)
{
	Injector *inj = calloc(1, sizeof(*inj));
	if (!inj)
		return -ENOMEM;
	inj->event = sd_event_ref(e);
	inj->fd = -EBADF;
	snprintf(inj->name, sizeof(inj->name), "%s", name);
	inj->ask_merge_any = ask_merge_any;
	int r = sd_event_add_defer(e, &inj->kick, on_kick, inj);
	if (r < 0) {
		injector_free(inj);
		return r;
	}
	(void)sd_event_source_set_enabled(inj->kick, SD_EVENT_OFF);
	(void)sd_event_source_set_description(inj->kick, "injector-kick");
	*ret = inj;
	return 0;
}

void injector_set_timeouts(Injector *inj, uint64_t stall_usec, uint64_t limit_usec)
{
	inj->stall_usec = stall_usec;
	inj->limit_usec = limit_usec;
}

Injector *injector_free(Injector *inj)
{
	if (!inj)
		return NULL;
	inj->kick = sd_event_source_disable_unref(inj->kick);
	child_stop(inj, false);
	while (inj->head)
		finish_head(inj, -ECANCELED);
	sd_event_unref(inj->event);
	free(inj);
	return NULL;
}
