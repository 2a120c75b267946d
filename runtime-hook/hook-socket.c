/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hook-socket.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int hook_socket_register(const char *state_dir, const char *id, char *const *annotations, int pidfd,
			 uint64_t timeout_ms, char *reply_buf, HookReply *ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -EBADF;
	size_t len;
	int r;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", state_dir, HOOK_SOCKET_NAME) >=
	    sizeof(sa.sun_path))
		return -ENAMETOOLONG;

	/* The request first: an annotation set that cannot be sent is the
	 * caller's to report, not a reason to try the socket. */
	r = hook_wire_encode_request(id, annotations, reply_buf, HOOK_WIRE_MAX, &len);
	if (r < 0)
		return r;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() waits for room in the listen backlog: bounded the same way. */
	struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
			     .tv_usec = (long)(timeout_ms % 1000) * 1000};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	uint64_t deadline = now_ms() + timeout_ms;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;

	r = hook_wire_send(fd, reply_buf, len, pidfd);
	if (r < 0)
		return r == -EAGAIN ? -ETIMEDOUT : r;

	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int k = poll(&p, 1, (int)MIN(deadline - now, (uint64_t)INT32_MAX));
		if (k < 0)
			return -errno; /* EINTR: the hook's own time limit */
		if (k > 0)
			break;
	}

	int got_fd;
	r = hook_wire_recv(fd, reply_buf, HOOK_WIRE_MAX, &len, &got_fd);
	if (r < 0)
		return r;
	if (got_fd >= 0) {
		close(got_fd);
		return -EBADMSG;
	}
	if (len == 0)
		return -ECONNRESET; /* the daemon closed without a reply */
	return hook_wire_decode_reply(reply_buf, len, ret);
}
