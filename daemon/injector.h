/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Injections off the event loop.
 *
 * Switching merge-any on or off in a tenant's process (lib/remote.h) stops
 * one of its threads and waits for it, which a tenant can drag out: a
 * seccomp user-notification nobody answers on prctl, an uninterruptible
 * sleep. lib/remote-ptrace.c bounds every wait and gives such a thread
 * back, but a thread it could not even interrupt stays traced ("parked")
 * until it stops, and only the tracer may put it back. So the injections
 * run in a long-lived forked child, the tracer, which keeps parked threads
 * and drains them between requests; a fork per injection would exit with
 * parked threads and the kernel would resume them on our registers.
 *
 * pagemeldd sends one request at a time (a pidfd in SCM_RIGHTS) and gets
 * the lib's result back. A request not answered within its deadline (both
 * of the lib's limits, twice, plus a margin: the child is then broken, not
 * the tenant) kills the child; the request fails with -ETIMEDOUT and the
 * next one starts a new child. The child never logs, and dies once
 * pagemeldd is gone (after putting back what it can).
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Injector Injector;

typedef enum InjectOp {
	INJECT_OP_BARRIER, /* no process: answered once everything before it is */
	INJECT_OP_ENABLE,  /* merge-any on (asked first with ask_merge_any) */
	INJECT_OP_DISABLE, /* merge-any off: unmerges the process */
	_INJECT_OP_MAX,
} InjectOp;

/* result: what lib/remote.h returned (ENABLE: 1 switched on, 0 was on
 * already), -ETIMEDOUT when the child had to be killed, -ECANCELED when the
 * injector is freed first. Called from the event loop, never from inside
 * injector_submit(). */
typedef void (*injector_done_t)(int result, void *userdata);

/* name: the child's comm (at most 15 characters). ask_merge_any: ENABLE
 * asks the process whether it merges already, for kernels whose ksm_stat
 * cannot say (the caller reads ksm_stat before submitting). */
int injector_new(sd_event *e, const char *name, bool ask_merge_any, Injector **ret);
/* Every queued request fails with -ECANCELED; the child is told to go
 * (it drains its parked threads first). */
Injector *injector_free(Injector *inj);
DEFINE_TRIVIAL_CLEANUP_FUNC(Injector *, injector_free);

/* The lib's deadlines (remote_set_timeouts(), 0 = the default), sent with
 * each request. */
void injector_set_timeouts(Injector *inj, uint64_t stall_usec, uint64_t limit_usec);

/* Queue op on pidfd (duplicated; -EBADF for BARRIER). */
int injector_submit(Injector *inj, InjectOp op, int pidfd, injector_done_t done, void *userdata);
/* The same with the pidfd opened by open_pidfd(userdata, &fd) only when the
 * request is sent: a long queue holds no fds, and what the opener checks
 * (the process is still in its cgroup) is checked right before the call.
 * Its error is the request's result. */
typedef int (*injector_open_t)(void *userdata, int *ret_pidfd);
int injector_submit_lazy(Injector *inj, InjectOp op, injector_open_t open_pidfd, injector_done_t done,
			 void *userdata);
