/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Remote KSM control: switch merge-any on or off inside another process,
 * query it, and run one syscall there. Every call takes a pidfd: a pid that
 * was recycled is never touched.
 *
 * Two backends sit behind this interface:
 *  - ptrace syscall injection (upstream kernels): PTRACE_SEIZE + INTERRUPT
 *    one thread, run the syscall at a `syscall` instruction already mapped in
 *    the target, restore every register, detach;
 *  - the pidfd KSM ioctls of kernel-patches/ when the running kernel has them.
 *
 * Errors: -ESRCH dead process, -EPERM ptrace refused (or the target's
 * seccomp filter trapped or killed the injected call), -EBUSY already traced
 * by a debugger (or by a call of ours it never finished, see remote_drain()),
 * -ETIMEDOUT the target did not let the call finish in time (see
 * remote_set_timeouts()); an injected call's own failure comes back as its
 * errno.
 *
 * With CAP_SYS_NICE, the ptrace backend runs the traced thread and the
 * calling thread SCHED_FIFO for the length of one injection (~100 µs) and
 * then restores both exactly; without it, injections into busy processes
 * wait for the scheduler (see lib/remote-ptrace.c, sched_boost()). While it
 * waits for the traced thread, the calling thread blocks SIGCHLD and takes
 * the ones ptrace stops send it; its mask is restored after, and a SIGCHLD
 * taken is raised again where a handler or a blocked mask watches for it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum RemoteBackend {
	REMOTE_BACKEND_PTRACE,
	REMOTE_BACKEND_PIDFD_IOCTL,
	_REMOTE_BACKEND_MAX,
} RemoteBackend;

const char *remote_backend_name(RemoteBackend b); /* "ptrace" / "pidfd-ioctl" */
/* The backend in use: probed once, the pidfd path when the kernel has it. */
RemoteBackend remote_backend(void);

/* pidfd_open(2) with the pid checked afterwards against the pidfd, so
 * the caller holds a pidfd that names the process it meant. */
int remote_pidfd_open(pid_t pid, int *ret_pidfd);
/* The pid a pidfd names now; -ESRCH once the process has exited. */
int remote_pidfd_get_pid(int pidfd, pid_t *ret_pid);

/* PR_SET_MEMORY_MERGE inside the target. Disabling unmerges its pages. */
int remote_set_merge_any(int pidfd, bool enable);
/* PR_GET_MEMORY_MERGE inside the target (read from ksm_stat where the
 * kernel shows ksm_merge_any, so no stop is needed). */
int remote_get_merge_any(int pidfd, bool *ret);
/* madvise(addr, len, advice) inside the target (MADV_MERGEABLE ...). */
int remote_madvise(int pidfd, uint64_t addr, uint64_t len, int advice);
/* Run syscall nr with args in the target. Returns < 0 when the injection
 * failed; otherwise 0 with the raw syscall return (maybe -errno) in
 * *ret_value. */
int remote_syscall(int pidfd, long nr, const uint64_t args[6], int64_t *ret_value);

/* Deadlines of the ptrace backend, process-wide; 0 keeps the default. An
 * injection is given up once the traced thread has not run on a CPU for
 * stall_usec while we wait for it (default 1 s: a seccomp user-notification
 * nobody answers, an uninterruptible sleep), or once it has taken limit_usec
 * in all (default 30 s: a call that computes, an unmerge of many GiB). The
 * thread is interrupted, its registers, signal mask and scheduling put back,
 * and detached: -ETIMEDOUT. */
void remote_set_timeouts(uint64_t stall_usec, uint64_t limit_usec);
/* A thread that does not stop even when interrupted (a killable-only wait:
 * a user-notification its listener received but never answers) stays
 * traced until it does; each later call on the same calling thread, or
 * this one, restores and detaches those that have stopped since. Returns
 * how many are still waiting. Never blocks. */
int remote_drain(void);
/* A thread we traced that died before the rest of its process stays a
 * zombie its parent cannot reap until this thread (its tracer) has taken
 * the exit report, which the kernel gives only once the whole process is
 * gone. remote_drain() takes and passes on those that have come; each
 * pidfd stored in fds (up to max) polls readable when one has. Returns how
 * many are waiting. */
size_t remote_drain_fds(int *fds, size_t max);
