/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The hook socket's wire format: pagemeld-oci-hook asks pagemeldd to
 * register a container over an AF_UNIX SOCK_SEQPACKET socket in the state
 * directory, one request and one reply, instead of a D-Bus round trip
 * through dbus-daemon. Documented in pagemeld-oci-hook(1).
 *
 * A message is a sequence of NUL-terminated UTF-8 strings (no NUL inside a
 * string, the last byte is NUL), at most HOOK_WIRE_MAX bytes:
 *
 *   request  "pagemeld-hook/1" "register" ID KEY VALUE KEY VALUE ...
 *            + exactly one fd in SCM_RIGHTS: the container init's pidfd
 *   reply    "pagemeld-hook/1" "ok" OBJECT-PATH
 *            "pagemeld-hook/1" "error" ERROR-NAME MESSAGE
 *
 * ERROR-NAME is one of the io.pagemeld1.Error.* names RegisterContainer
 * returns. A request of another version gets an error reply naming the
 * version the server speaks; the first string is the only place a version
 * lives, so a later one may change everything after it.
 *
 * Pure: encoders and decoders over caller buffers, no I/O; the socket
 * helpers below do one sendmsg/recvmsg each.
 */

#include <stdbool.h>
#include <stddef.h>

#define HOOK_WIRE_VERSION "pagemeld-hook/1"
#define HOOK_WIRE_MAX 65536	      /* bytes in one message, either way */
#define HOOK_WIRE_MAX_ANNOTATIONS 256 /* key/value pairs in one request */
#define HOOK_SOCKET_NAME "hook.sock"  /* in the state directory */

typedef struct HookRequest {
	const char *id;		  /* points into the decoded buffer */
	const char **annotations; /* (key, value) pairs, NULL-terminated, into the buffer */
	size_t n_annotations;	  /* pairs */
} HookRequest;

void hook_request_done(HookRequest *r);

typedef struct HookReply {
	bool ok;
	const char *object_path; /* ok */
	const char *error_name;	 /* !ok */
	const char *message;	 /* !ok */
} HookReply;

/* Encodes a register request for id with the (key, value) pairs in
 * annotations (NULL-terminated, as OciState.annotations). -EMSGSIZE when it
 * does not fit in size bytes or exceeds the wire limits, -EINVAL for an
 * empty id or a string that is not valid UTF-8. */
int hook_wire_encode_request(const char *id, char *const *annotations, char *buf, size_t size,
			     size_t *ret_len);

/* Decodes a request in place (buf[0..len) must stay alive while ret is
 * used). -EPROTONOSUPPORT for another version, -EBADMSG for anything else
 * malformed; *ret_why (static string) says what. */
int hook_wire_decode_request(const char *buf, size_t len, HookRequest *ret, const char **ret_why);

int hook_wire_encode_reply_ok(const char *object_path, char *buf, size_t size, size_t *ret_len);
int hook_wire_encode_reply_error(const char *error_name, const char *message, char *buf, size_t size,
				 size_t *ret_len);
/* -EBADMSG for a malformed reply (or another version's). */
int hook_wire_decode_reply(const char *buf, size_t len, HookReply *ret);

/* Sends one message with fd (or none when fd < 0) in SCM_RIGHTS. */
int hook_wire_send(int sock, const char *buf, size_t len, int fd);

/* Receives one message into buf (size HOOK_WIRE_MAX is enough) with at most
 * one fd: *ret_fd is the fd or -1. A truncated message, truncated control
 * data or more than one fd is -EBADMSG (every fd received is closed). */
int hook_wire_recv(int sock, char *buf, size_t size, size_t *ret_len, int *ret_fd);
