/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Internals of lib/remote*.c: the pure parsers (unit-tested on fixtures),
 * the ptrace injector and the per-architecture hooks it calls. Not an API
 * for other components: use remote.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The kernel's restart codes (include/linux/errno.h; no uapi or libc header
 * has them). A syscall a signal interrupted returns one, negated, and the
 * kernel turns it into a restart or -EINTR on the way back to user space;
 * a tracer sees it at the syscall-exit stop. */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

static inline bool remote_is_restart_code(int64_t v)
{
	return v == -ERESTARTSYS || v == -ERESTARTNOINTR || v == -ERESTARTNOHAND ||
	       v == -ERESTART_RESTARTBLOCK;
}

/* ---- pure parsers (no process access) ---- */

/* The "Pid:" line of /proc/self/fdinfo/<pidfd>: > 0 the pid, -ESRCH for
 * -1 (exited) or 0 (not in our pid namespace), -EBADF without one (not a
 * pidfd). */
int remote_parse_fdinfo_pid(const char *text, pid_t *ret);

typedef struct RemoteTaskStatus {
	char state; /* 'R', 'S', 'D', 'T', 't', 'Z', 'X', ... */
	pid_t tgid;
	pid_t ppid;
	pid_t tracer_pid; /* 0: not traced */
} RemoteTaskStatus;
/* /proc/PID/status (or /proc/PID/task/TID/status) text. */
int remote_parse_status(const char *text, RemoteTaskStatus *ret);

/* AT_SYSINFO_EHDR (the vdso) from the bytes of /proc/PID/auxv (native word
 * size); -ENOENT when absent or 0 (vdso=0). */
int remote_parse_auxv_vdso(const void *auxv, size_t size, uint64_t *ret);

typedef struct RemoteExecRange {
	uint64_t start, end;
	int rank; /* lower is preferred: 0 vdso, 1 libc, 2 other file text, 3 anonymous */
} RemoteExecRange;
/* The executable mappings of a /proc/PID/maps text, best first (vdso, libc
 * text, other file-backed text, other). *ret is malloc'd. */
int remote_parse_maps_exec(const char *maps, RemoteExecRange **ret, size_t *ret_n);

/* Offset of the first syscall instruction (the arch's pattern at its
 * alignment, counted from base) in buf; -ENOENT when none. */
int remote_find_syscall_insn(const void *buf, size_t size, uint64_t base, uint64_t *ret_addr);

/* ---- architecture hooks (remote-arch-<arch>.c) ---- */

/* Enough for struct user_regs_struct plus the syscall number on every
 * supported arch; the arch file checks its layout fits. */
typedef struct RemoteRegs {
	uint64_t words[48];
} RemoteRegs;

extern const uint8_t remote_arch_syscall_insn[];
extern const size_t remote_arch_syscall_insn_size;
extern const size_t remote_arch_syscall_insn_align;
extern const char remote_arch_name[];

int remote_arch_get_regs(pid_t tid, RemoteRegs *r);
int remote_arch_set_regs(pid_t tid, const RemoteRegs *r);
uint64_t remote_arch_pc(const RemoteRegs *r);

/* At a stop taken on the way out of an interrupted syscall that the kernel
 * will restart (it sees no signal to deliver: we block them all), is the
 * thread about to re-execute its syscall instruction? x86_64 reads
 * orig_rax/rax (-ERESTARTSYS...); aarch64 sees a pc already rewound, which
 * the caller checks by reading the instruction at pc (insn_at_pc). */
bool remote_arch_restart_pending(const RemoteRegs *r, bool insn_at_pc);

/* A thread whose wait our interrupt ended with -EINTR although the kernel
 * would otherwise have kept it waiting: epoll_wait/epoll_pwait with timeout
 * -1, epoll_pwait2 with no timeout (they are never restarted, signal(7)).
 * Fills *ret_rewound with the registers that re-issue the call. x86_64
 * only: aarch64 loses the first argument (x0 holds the -EINTR). */
bool remote_arch_eintr_restartable(const RemoteRegs *r, RemoteRegs *ret_rewound);

/* Point the thread at insn_addr with the registers that make it issue
 * syscall nr(args) there (and, on x86_64, orig_rax = -1 so that no restart
 * logic applies to these registers). */
void remote_arch_setup_call(RemoteRegs *r, uint64_t insn_addr, long nr, const uint64_t args[6]);
/* At a syscall-entry stop: the syscall the kernel is about to run. */
long remote_arch_entry_nr(const RemoteRegs *r);
/* At a syscall-entry stop: replace the syscall and its arguments. */
int remote_arch_replace_syscall(pid_t tid, RemoteRegs *entry, long nr, const uint64_t args[6]);
/* At a syscall-exit stop: the raw return value (-errno on failure). */
int64_t remote_arch_return_value(const RemoteRegs *r);
/* Turn registers seen at a syscall-entry stop into those of the moment
 * before that syscall instruction ran, so restoring them re-issues it. */
void remote_arch_rewind_entry(RemoteRegs *entry);

/* Register state a syscall may clobber beyond RemoteRegs (aarch64 SVE: the
 * syscall ABI discards the upper bits). Opaque, malloc'd; NULL when none. */
int remote_arch_extra_save(pid_t tid, void **ret);
int remote_arch_extra_restore(pid_t tid, const void *extra);
void remote_arch_extra_free(void *extra);

/* ---- the injector (remote-ptrace.c) ---- */

int remote_ptrace_syscall(int pidfd, pid_t pid, long nr, const uint64_t args[6], int64_t *ret_value);
