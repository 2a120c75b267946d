/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hook-wire.h"

static char buf[HOOK_WIRE_MAX];

static void test_request_round_trip(void **state)
{
	(void)state;
	char *ann[] = {"merge.pagemeld.io", "true", "merge-budget.pagemeld.io", "", NULL};
	size_t len;
	assert_int_equal(hook_wire_encode_request("c0ffee", ann, buf, sizeof(buf), &len), 0);
	static const char want[] = "pagemeld-hook/1\0register\0c0ffee\0merge.pagemeld.io\0true\0"
				   "merge-budget.pagemeld.io\0";
	assert_int_equal(len, sizeof(want)); /* the trailing NUL of the empty value included */
	assert_memory_equal(buf, want, len);

	HookRequest r = {};
	const char *why = NULL;
	assert_int_equal(hook_wire_decode_request(buf, len, &r, &why), 0);
	assert_string_equal(r.id, "c0ffee");
	assert_int_equal(r.n_annotations, 2);
	assert_string_equal(r.annotations[0], "merge.pagemeld.io");
	assert_string_equal(r.annotations[1], "true");
	assert_string_equal(r.annotations[2], "merge-budget.pagemeld.io");
	assert_string_equal(r.annotations[3], "");
	assert_null(r.annotations[4]);
	hook_request_done(&r);

	assert_int_equal(hook_wire_encode_request("x", NULL, buf, sizeof(buf), &len), 0);
	assert_int_equal(hook_wire_decode_request(buf, len, &r, &why), 0);
	assert_int_equal(r.n_annotations, 0);
	assert_null(r.annotations[0]);
	hook_request_done(&r);
}

static void test_request_encode_limits(void **state)
{
	(void)state;
	size_t len;
	assert_int_equal(hook_wire_encode_request("", NULL, buf, sizeof(buf), &len), -EINVAL);
	char *odd[] = {"key-without-value", NULL};
	assert_int_equal(hook_wire_encode_request("x", odd, buf, sizeof(buf), &len), -EINVAL);
	char *bad[] = {"k", "\xc0\xaf", NULL}; /* an overlong '/' */
	assert_int_equal(hook_wire_encode_request("x", bad, buf, sizeof(buf), &len), -EINVAL);
	assert_int_equal(hook_wire_encode_request("x", NULL, buf, 10, &len), -EMSGSIZE);

	/* a value that alone fills the wire limit */
	char *big = malloc(HOOK_WIRE_MAX);
	memset(big, 'a', HOOK_WIRE_MAX - 1);
	big[HOOK_WIRE_MAX - 1] = '\0';
	char *huge[] = {"k", big, NULL};
	char *large = malloc(2 * HOOK_WIRE_MAX);
	assert_int_equal(hook_wire_encode_request("x", huge, large, 2 * HOOK_WIRE_MAX, &len), -EMSGSIZE);
	free(large);
	free(big);

	/* more pairs than a request may carry */
	char **many = calloc(2 * HOOK_WIRE_MAX_ANNOTATIONS + 3, sizeof(char *));
	for (size_t i = 0; i < 2 * HOOK_WIRE_MAX_ANNOTATIONS + 2; i++)
		many[i] = "k";
	assert_int_equal(hook_wire_encode_request("x", many, buf, sizeof(buf), &len), -EMSGSIZE);
	free(many);
}

static void expect_bad_request(const char *msg, size_t len, int err, const char *why_part)
{
	HookRequest r = {};
	const char *why = NULL;
	assert_int_equal(hook_wire_decode_request(msg, len, &r, &why), err);
	assert_non_null(why);
	if (!strstr(why, why_part))
		fail_msg("why '%s' lacks '%s'", why, why_part);
	assert_null(r.id);
}

static void test_request_malformed(void **state)
{
	(void)state;
#define BAD(lit, err, part) expect_bad_request(lit, sizeof(lit) - 1, err, part)
	expect_bad_request("", 0, -EBADMSG, "empty");
	BAD("pagemeld-hook/1\0register\0id", -EBADMSG, "NUL"); /* truncated: no final NUL */
	BAD("pagemeld-hook/2\0register\0id\0", -EPROTONOSUPPORT, "version");
	BAD("PAGEMELD-HOOK/1\0register\0id\0", -EPROTONOSUPPORT, "version");
	BAD("pagemeld-hook/1\0register\0", -EBADMSG, "short");
	BAD("pagemeld-hook/1\0unregister\0id\0", -EBADMSG, "unknown request");
	BAD("pagemeld-hook/1\0register\0\0", -EBADMSG, "empty container id");
	BAD("pagemeld-hook/1\0register\0id\0k\0", -EBADMSG, "without a value");
	BAD("pagemeld-hook/1\0register\0id\0k\0\xff\0", -EBADMSG, "UTF-8");
	BAD("pagemeld-hook/1\0register\0id\0k\0\xed\xa0\x80\0", -EBADMSG, "UTF-8");	/* a surrogate */
	BAD("pagemeld-hook/1\0register\0id\0k\0\xf4\x90\x80\x80\0", -EBADMSG, "UTF-8"); /* > U+10FFFF */
	BAD("pagemeld-hook/1\0register\0id\0k\0\xe2\x82\0", -EBADMSG, "UTF-8");		/* cut sequence */
#undef BAD
	/* over the size limit, even if well formed */
	char *big = calloc(1, HOOK_WIRE_MAX + 1);
	expect_bad_request(big, HOOK_WIRE_MAX + 1, -EBADMSG, "size");
	free(big);

	/* too many pairs */
	size_t len = 0;
	memcpy(buf, "pagemeld-hook/1\0register\0id\0", 28);
	len = 28;
	for (size_t i = 0; i < 2 * (HOOK_WIRE_MAX_ANNOTATIONS + 1); i++)
		buf[len++] = 'k', buf[len++] = '\0';
	expect_bad_request(buf, len, -EBADMSG, "too many");

	/* valid multi-byte UTF-8 passes */
	static const char ok[] = "pagemeld-hook/1\0register\0\xc3\xa9t\xc3\xa9\0k\0\xf0\x9f\x90\xb3\0";
	HookRequest r = {};
	assert_int_equal(hook_wire_decode_request(ok, sizeof(ok) - 1, &r, NULL), 0);
	assert_string_equal(r.id, "\xc3\xa9t\xc3\xa9");
	hook_request_done(&r);
}

static void test_replies(void **state)
{
	(void)state;
	size_t len;
	HookReply rep;
	assert_int_equal(hook_wire_encode_reply_ok("/io/pagemeld1/cgroup/_2fa", buf, sizeof(buf), &len), 0);
	assert_int_equal(hook_wire_decode_reply(buf, len, &rep), 0);
	assert_true(rep.ok);
	assert_string_equal(rep.object_path, "/io/pagemeld1/cgroup/_2fa");

	assert_int_equal(hook_wire_encode_reply_error("io.pagemeld1.Error.InvalidAnnotation",
						      "merge-budget.pagemeld.io: not a quantity", buf,
						      sizeof(buf), &len),
			 0);
	assert_int_equal(hook_wire_decode_reply(buf, len, &rep), 0);
	assert_false(rep.ok);
	assert_string_equal(rep.error_name, "io.pagemeld1.Error.InvalidAnnotation");
	assert_string_equal(rep.message, "merge-budget.pagemeld.io: not a quantity");

	/* a message that cannot go out keeps the error name */
	assert_int_equal(
		hook_wire_encode_reply_error("io.pagemeld1.Error.Busy", "\xff", buf, sizeof(buf), &len), 0);
	assert_int_equal(hook_wire_decode_reply(buf, len, &rep), 0);
	assert_string_equal(rep.error_name, "io.pagemeld1.Error.Busy");
	assert_string_equal(rep.message, "");

	static const char other[] = "pagemeld-hook/9\0ok\0/x\0";
	assert_int_equal(hook_wire_decode_reply(other, sizeof(other) - 1, &rep), -EBADMSG);
	static const char noname[] = "pagemeld-hook/1\0error\0\0msg\0";
	assert_int_equal(hook_wire_decode_reply(noname, sizeof(noname) - 1, &rep), -EBADMSG);
	static const char extra[] = "pagemeld-hook/1\0ok\0/x\0more\0";
	assert_int_equal(hook_wire_decode_reply(extra, sizeof(extra) - 1, &rep), -EBADMSG);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_socket_fds(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);

	/* one message, one fd */
	assert_int_equal(hook_wire_send(sv[0], "a", 2, p[0]), 0);
	size_t len;
	int fd = -2;
	assert_int_equal(hook_wire_recv(sv[1], buf, sizeof(buf), &len, &fd), 0);
	assert_int_equal(len, 2);
	assert_true(fd >= 0 && fd != p[0]);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	/* no fd */
	assert_int_equal(hook_wire_send(sv[0], "b", 2, -1), 0);
	assert_int_equal(hook_wire_recv(sv[1], buf, sizeof(buf), &len, &fd), 0);
	assert_int_equal(fd, -1);

	/* a message larger than the buffer: truncated, refused */
	char big[100] = {};
	assert_int_equal(hook_wire_send(sv[0], big, sizeof(big), p[0]), 0);
	int before = dup(0);
	close(before); /* the next free fd: the one the kernel installs */
	assert_int_equal(hook_wire_recv(sv[1], buf, 10, &len, &fd), -EBADMSG);
	assert_false(fd_open(before)); /* the received fd was closed */

	/* two fds: refused, both closed */
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} control = {};
	struct iovec iov = {.iov_base = "c", .iov_len = 2};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control.b,
			    .msg_controllen = sizeof(control.b)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	int two[2] = {p[0], p[1]};
	memcpy(CMSG_DATA(c), two, sizeof(two));
	assert_int_equal(sendmsg(sv[0], &mh, 0), 2);
	int a = dup(0), b = dup(0);
	close(a), close(b);
	assert_int_equal(hook_wire_recv(sv[1], buf, sizeof(buf), &len, &fd), -EBADMSG);
	assert_false(fd_open(a));
	assert_false(fd_open(b));

	close(p[0]), close(p[1]);
	close(sv[0]), close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip), cmocka_unit_test(test_request_encode_limits),
		cmocka_unit_test(test_request_malformed),  cmocka_unit_test(test_replies),
		cmocka_unit_test(test_socket_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
