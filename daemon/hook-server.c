/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hook-server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus-contract.h"
#include "hook-wire.h"
#include "log.h"

struct HookCall {
	HookServer *server;
	int fd;
	int pidfd;
	uid_t peer_uid; /* SO_PEERCRED at connect time */
	pid_t peer_pid;
	sd_event_source *io, *timeout;
	HookCall *next, *prev;
};

struct HookServer {
	sd_event *event;
	int listen_fd;
	sd_event_source *listen_io;
	int64_t priority;
	char *path; /* NULL when passed in */
	HookRegisterHandler handler;
	void *userdata;
	HookCall *calls;
	unsigned n_calls;
	char buf[HOOK_WIRE_MAX]; /* one request at a time: the loop is single-threaded */
};

static HookCall *hook_call_free(HookCall *c)
{
	if (!c)
		return NULL;
	HookServer *s = c->server;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_calls--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timeout);
	if (c->pidfd >= 0)
		close(c->pidfd);
	close(c->fd);
	free(c);
	return NULL;
}

/* Sends the reply and ends the call. The peer has room for it: it sent one
 * request and reads one reply, so a failure here is a peer gone away. */
static void reply_and_free(HookCall *c, const char *buf, size_t len)
{
	int r = hook_wire_send(c->fd, buf, len, -1);
	if (r < 0)
		log_debug_errno(r, "Hook socket: cannot send the reply: %m");
	hook_call_free(c);
}

void hook_call_reply_ok(HookCall *c, const char *object_path)
{
	char buf[1024];
	size_t len;
	if (hook_wire_encode_reply_ok(object_path, buf, sizeof(buf), &len) < 0) {
		hook_call_reply_error(c, "org.freedesktop.DBus.Error.Failed", "Object path too long");
		return;
	}
	reply_and_free(c, buf, len);
}

void hook_call_reply_error(HookCall *c, const char *error_name, const char *message)
{
	char buf[4096];
	size_t len;
	/* Only an error name longer than the buffer fails: never ours. */
	if (hook_wire_encode_reply_error(error_name, message, buf, sizeof(buf), &len) < 0)
		len = 0;
	reply_and_free(c, buf, len);
}

static int on_call_timeout(sd_event_source *es, uint64_t usec, void *userdata)
{
	HookCall *c = userdata;
	(void)es, (void)usec;
	log_debug("Hook socket: dropping a peer that sent no request in time");
	hook_call_free(c);
	return 0;
}

static int on_call_readable(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	HookCall *c = userdata;
	HookServer *s = c->server;
	_cleanup_(hook_request_done) HookRequest req = {};
	const char *why = NULL;
	size_t len;
	int pidfd;
	(void)es, (void)revents;

	int r = hook_wire_recv(fd, s->buf, sizeof(s->buf), &len, &pidfd);
	if (r == -EAGAIN)
		return 0;
	if (r < 0) {
		hook_call_reply_error(c, PM_ERROR_INVALID_REQUEST,
				      r == -EBADMSG
					      ? "Malformed request: over the size limit or more than one fd"
					      : "Cannot read the request");
		return 0;
	}
	if (len == 0) { /* the peer closed without a request */
		if (pidfd >= 0)
			close(pidfd);
		hook_call_free(c);
		return 0;
	}
	c->pidfd = pidfd;
	/* One request per connection: nothing more is read from it. */
	c->io = sd_event_source_disable_unref(c->io);
	c->timeout = sd_event_source_disable_unref(c->timeout);

	/* Refused after its request is read, so the peer reads the reason
	 * rather than a reset connection. */
	if (c->peer_uid != 0) {
		log_notice("Hook socket: refusing uid %u (pid %d): only root registers containers",
			   (unsigned)c->peer_uid, (int)c->peer_pid);
		hook_call_reply_error(c, PM_ERROR_ACCESS_DENIED, "Only root may register containers");
		return 0;
	}

	r = hook_wire_decode_request(s->buf, len, &req, &why);
	if (r == -EPROTONOSUPPORT) {
		hook_call_reply_error(c, PM_ERROR_INVALID_REQUEST,
				      "Unsupported protocol version; pagemeldd speaks " HOOK_WIRE_VERSION);
		return 0;
	}
	if (r < 0) {
		char msg[256];
		snprintf(msg, sizeof(msg), "Malformed request: %s", why ?: strerror(-r));
		hook_call_reply_error(c, PM_ERROR_INVALID_REQUEST, msg);
		return 0;
	}
	if (c->pidfd < 0) {
		hook_call_reply_error(c, PM_ERROR_INVALID_REQUEST, "The request carries no pidfd");
		return 0;
	}
	/* The handler may reply (and free c) before it returns. */
	s->handler(c, req.id, c->pidfd, (char **)req.annotations, req.n_annotations, s->userdata);
	return 0;
}

static int accept_one(HookServer *s, int fd)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	_cleanup_free_ HookCall *c = calloc(1, sizeof(*c));
	int r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	*c = (HookCall){.server = s, .fd = fd, .pidfd = -EBADF};
	c->next = s->calls;
	if (s->calls)
		s->calls->prev = c;
	s->calls = c;
	s->n_calls++;
	HookCall *call = TAKE_PTR(c);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		r = -errno;
		hook_call_free(call);
		return r;
	}
	call->peer_uid = cred.uid;
	call->peer_pid = cred.pid;
	if (s->n_calls > HOOK_SERVER_MAX_CALLS) {
		hook_call_reply_error(call, PM_ERROR_BUSY, "Too many hook connections at once");
		return 0;
	}
	r = sd_event_add_io(s->event, &call->io, fd, EPOLLIN, on_call_readable, call);
	if (r >= 0)
		r = sd_event_source_set_priority(call->io, s->priority);
	if (r >= 0)
		r = sd_event_add_time_relative(s->event, &call->timeout, CLOCK_MONOTONIC,
					       HOOK_SERVER_READ_TIMEOUT_USEC, 0, on_call_timeout, call);
	if (r >= 0)
		r = sd_event_source_set_priority(call->timeout, s->priority);
	if (r < 0)
		hook_call_free(call);
	return r;
}

static int on_listen_readable(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	HookServer *s = userdata;
	(void)es, (void)revents;

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warning_errno(errno, "Hook socket: accept failed: %m");
			return 0;
		}
		int r = accept_one(s, cfd);
		if (r < 0)
			log_warning_errno(r, "Hook socket: cannot take a connection: %m");
	}
}

static int listen_at(const char *path, int *ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path); /* a previous instance's */
	/* Created 0600 rather than chmod'ed after: no moment where others could connect. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return -errno;
	if (listen(fd, SOMAXCONN) < 0)
		return -errno;
	*ret = TAKE_FD(fd);
	return 0;
}

int hook_server_new(sd_event *e, int listen_fd, const char *state_dir, int64_t priority,
		    HookRegisterHandler handler, void *userdata, HookServer **ret)
{
	_cleanup_(hook_server_freep) HookServer *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(e);
	s->listen_fd = -EBADF;
	s->priority = priority;
	s->handler = handler;
	s->userdata = userdata;

	if (listen_fd >= 0) {
		/* systemd passes it blocking: the accept loop would hang the event
		 * loop once the queue is empty. */
		int fl = fcntl(listen_fd, F_GETFL);
		if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
		s->listen_fd = listen_fd;
	} else {
		if (asprintf(&s->path, "%s/%s", state_dir, HOOK_SOCKET_NAME) < 0) {
			s->path = NULL;
			return -ENOMEM;
		}
		r = listen_at(s->path, &s->listen_fd);
		if (r < 0) {
			free(s->path); /* not ours to unlink */
			s->path = NULL;
			return r;
		}
	}
	r = sd_event_add_io(e, &s->listen_io, s->listen_fd, EPOLLIN, on_listen_readable, s);
	if (r < 0)
		return r;
	r = sd_event_source_set_priority(s->listen_io, priority);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

HookServer *hook_server_free(HookServer *s)
{
	if (!s)
		return NULL;
	while (s->calls)
		hook_call_free(s->calls);
	sd_event_source_disable_unref(s->listen_io);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path) {
		(void)unlink(s->path);
		free(s->path);
	}
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

const char *hook_server_path(const HookServer *s)
{
	return s->path;
}
