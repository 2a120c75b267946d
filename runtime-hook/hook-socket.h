/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The hook's fast path to pagemeldd: one request and one reply over the
 * daemon's own socket, <state dir>/hook.sock (lib/hook-wire.h), without
 * libsystemd or dbus-daemon.
 */

#include <stddef.h>
#include <stdint.h>

#include "hook-wire.h"

/* Registers container id (its init's pidfd, the annotations for the daemon)
 * and waits at most timeout_ms for the reply, which is decoded into *ret
 * (its strings live in reply_buf, HOOK_WIRE_MAX bytes).
 *   0             a reply: ret->ok, or the daemon's error name and message
 *   -ENOENT, -ECONNREFUSED
 *                 no socket, or nobody listening on it: the daemon is not
 *                 running or predates the socket; D-Bus may still answer
 *   -ETIMEDOUT    no reply in time; other < 0: the exchange failed */
int hook_socket_register(const char *state_dir, const char *id, char *const *annotations, int pidfd,
			 uint64_t timeout_ms, char *reply_buf, HookReply *ret);
