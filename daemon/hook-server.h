/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * pagemeldd's hook socket: <state dir>/hook.sock, AF_UNIX SOCK_SEQPACKET,
 * mode 0600 (or the socket systemd passes from pagemeld.socket). Each
 * connection carries one request (lib/hook-wire.h) from a root peer
 * (SO_PEERCRED) and gets one reply. Its event sources run at a higher
 * sd-event priority than the bus, so a registration never waits behind
 * D-Bus readers. A peer that sends nothing is dropped after
 * HOOK_SERVER_READ_TIMEOUT_USEC; more than HOOK_SERVER_MAX_CALLS
 * connections at once are refused with Busy.
 *
 * It knows nothing of the Manager: a well-formed request goes to the
 * handler, which answers exactly once, at once or later, through
 * hook_call_reply_*().
 */

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"

#define HOOK_SERVER_READ_TIMEOUT_USEC (2 * 1000 * 1000ULL)
#define HOOK_SERVER_MAX_CALLS 128

typedef struct HookServer HookServer;
typedef struct HookCall HookCall;

/* annotations: n_pairs (key, value) pairs, NULL-terminated; valid only for
 * the length of the handler call. pidfd belongs to the call (closed after
 * the reply): dup() it to keep it. */
typedef void (*HookRegisterHandler)(HookCall *call, const char *id, int pidfd, char **annotations,
				    size_t n_pairs, void *userdata);

/* listen_fd >= 0: a listening socket (socket activation), taken over;
 * otherwise the socket is created at <state_dir>/hook.sock. */
int hook_server_new(sd_event *e, int listen_fd, const char *state_dir, int64_t priority,
		    HookRegisterHandler handler, void *userdata, HookServer **ret);
/* Pending calls are dropped (their peers see the connection close). */
HookServer *hook_server_free(HookServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(HookServer *, hook_server_free)

/* The socket's path, NULL when it was passed in. */
const char *hook_server_path(const HookServer *s);

void hook_call_reply_ok(HookCall *c, const char *object_path);
void hook_call_reply_error(HookCall *c, const char *error_name, const char *message);
