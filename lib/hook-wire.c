/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hook-wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF):
 * what sd-bus accepts in a string, so a name taken from the socket can go
 * out on D-Bus like one that came in on it. */
static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p;
		size_t n;
		uint32_t cp, min;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else
			return false;
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/* Appends s and its NUL at *pos. */
static int put(char *buf, size_t size, size_t *pos, const char *s)
{
	size_t n = strlen(s);
	if (!utf8_valid(s, n))
		return -EINVAL;
	if (n + 1 > size - *pos)
		return -EMSGSIZE;
	memcpy(buf + *pos, s, n + 1);
	*pos += n + 1;
	return 0;
}

static int encode(const char *const *strings, size_t n, char *buf, size_t size, size_t *ret_len)
{
	size_t pos = 0;
	size = MIN(size, (size_t)HOOK_WIRE_MAX);
	for (size_t i = 0; i < n; i++) {
		int r = put(buf, size, &pos, strings[i]);
		if (r < 0)
			return r;
	}
	*ret_len = pos;
	return 0;
}

int hook_wire_encode_request(const char *id, char *const *annotations, char *buf, size_t size,
			     size_t *ret_len)
{
	if (!id || !*id)
		return -EINVAL;
	size_t pos = 0;
	size = MIN(size, (size_t)HOOK_WIRE_MAX);
	const char *head[] = {HOOK_WIRE_VERSION, "register", id};
	int r = encode(head, ELEMENTSOF(head), buf, size, &pos);
	if (r < 0)
		return r;
	size_t pairs = 0;
	for (char *const *a = annotations; a && a[0]; a += 2) {
		if (!a[1])
			return -EINVAL;
		if (++pairs > HOOK_WIRE_MAX_ANNOTATIONS)
			return -EMSGSIZE;
		if ((r = put(buf, size, &pos, a[0])) < 0 || (r = put(buf, size, &pos, a[1])) < 0)
			return r;
	}
	*ret_len = pos;
	return 0;
}

/* Splits buf into its strings; *ret_strings points into buf. */
static int split(const char *buf, size_t len, const char ***ret_strings, size_t *ret_n, const char **ret_why)
{
	if (len == 0 || len > HOOK_WIRE_MAX) {
		*ret_why = len ? "message over the size limit" : "empty message";
		return -EBADMSG;
	}
	if (buf[len - 1] != '\0') {
		*ret_why = "message does not end with a NUL";
		return -EBADMSG;
	}
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	_cleanup_free_ const char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (const char *p = buf; p < buf + len; p += strlen(p) + 1) {
		if (!utf8_valid(p, strlen(p))) {
			*ret_why = "a string is not valid UTF-8";
			return -EBADMSG;
		}
		v[k++] = p;
	}
	*ret_strings = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

void hook_request_done(HookRequest *r)
{
	if (!r)
		return;
	free(r->annotations);
	*r = (HookRequest){};
}

int hook_wire_decode_request(const char *buf, size_t len, HookRequest *ret, const char **ret_why)
{
	const char *why_dummy;
	if (!ret_why)
		ret_why = &why_dummy;
	const char **v;
	size_t n;
	int r = split(buf, len, &v, &n, ret_why);
	if (r < 0)
		return r;
	if (!streq(v[0], HOOK_WIRE_VERSION)) {
		free(v);
		*ret_why = "unsupported protocol version";
		return -EPROTONOSUPPORT;
	}
	if (n < 3 || !streq(v[1], "register") || !*v[2] || (n - 3) % 2 != 0 ||
	    (n - 3) / 2 > HOOK_WIRE_MAX_ANNOTATIONS) {
		*ret_why = n < 3		      ? "request too short"
			   : !streq(v[1], "register") ? "unknown request"
			   : !*v[2]		      ? "empty container id"
			   : (n - 3) % 2	      ? "an annotation key without a value"
						      : "too many annotations";
		free(v);
		return -EBADMSG;
	}
	/* Shift the pairs to the front of the same array: annotations is
	 * NULL-terminated there already (v[n] == NULL). */
	const char *id = v[2];
	memmove(v, v + 3, (n - 3 + 1) * sizeof(*v));
	*ret = (HookRequest){.id = id, .annotations = v, .n_annotations = (n - 3) / 2};
	return 0;
}

int hook_wire_encode_reply_ok(const char *object_path, char *buf, size_t size, size_t *ret_len)
{
	const char *v[] = {HOOK_WIRE_VERSION, "ok", object_path};
	return encode(v, ELEMENTSOF(v), buf, size, ret_len);
}

int hook_wire_encode_reply_error(const char *error_name, const char *message, char *buf, size_t size,
				 size_t *ret_len)
{
	const char *v[] = {HOOK_WIRE_VERSION, "error", error_name, message ?: ""};
	int r = encode(v, ELEMENTSOF(v), buf, size, ret_len);
	if (r == -EMSGSIZE || r == -EINVAL) {
		/* A message too long, or not UTF-8, must not lose the error. */
		const char *w[] = {HOOK_WIRE_VERSION, "error", error_name, ""};
		r = encode(w, ELEMENTSOF(w), buf, size, ret_len);
	}
	return r;
}

int hook_wire_decode_reply(const char *buf, size_t len, HookReply *ret)
{
	const char *why;
	_cleanup_free_ const char **v = NULL;
	size_t n;
	int r = split(buf, len, &v, &n, &why);
	if (r < 0)
		return r;
	if (!streq(v[0], HOOK_WIRE_VERSION))
		return -EBADMSG;
	if (n == 3 && streq(v[1], "ok") && *v[2]) {
		*ret = (HookReply){.ok = true, .object_path = v[2]};
		return 0;
	}
	if (n == 4 && streq(v[1], "error") && *v[2]) {
		*ret = (HookReply){.error_name = v[2], .message = v[3]};
		return 0;
	}
	return -EBADMSG;
}

int hook_wire_send(int sock, const char *buf, size_t len, int fd)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control = {};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t k;
	do
		k = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	return (size_t)k == len ? 0 : -EIO;
}

int hook_wire_recv(int sock, char *buf, size_t size, size_t *ret_len, int *ret_fd)
{
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	/* Room for a few fds, so that a sender of several is seen (and its fds
	 * closed) rather than cut to one with MSG_CTRUNC. */
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} control;
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control.buf,
			    .msg_controllen = sizeof(control.buf)};
	ssize_t k;
	do
		k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;

	int fd = -1, n_fds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t m = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < m; i++) {
			int x;
			memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n_fds++ == 0)
				fd = x;
			else
				close(x);
		}
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n_fds > 1) {
		if (fd >= 0)
			close(fd);
		return -EBADMSG;
	}
	*ret_len = (size_t)k;
	*ret_fd = fd;
	return 0;
}
