/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * x86_64 hooks of the syscall injector: struct user_regs_struct through
 * PTRACE_GETREGS/SETREGS, the 2-byte `syscall` instruction (0f 05), the
 * syscall number in orig_rax while in the kernel.
 *
 * Restart, as arch_do_signal_or_restart() does it after get_signal() found
 * nothing to deliver: orig_rax >= 0 and rax one of -ERESTARTNOHAND,
 * -ERESTARTSYS, -ERESTARTNOINTR -> rax = orig_rax, rip -= 2;
 * -ERESTART_RESTARTBLOCK -> rax = __NR_restart_syscall, rip -= 2. We never
 * compute that ourselves: the thread is resumed untouched and the kernel
 * does it, we only recognise the case.
 */
#include <errno.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include "macro.h"
#include "remote-internal.h"

#if !defined(__x86_64__)
#error "remote-arch-x86_64.c built for another architecture"
#endif

_Static_assert(sizeof(struct user_regs_struct) <= sizeof(RemoteRegs), "RemoteRegs too small");

const uint8_t remote_arch_syscall_insn[] = {0x0f, 0x05};
const size_t remote_arch_syscall_insn_size = 2;
const size_t remote_arch_syscall_insn_align = 1;
const char remote_arch_name[] = "x86_64";

static struct user_regs_struct *U(RemoteRegs *r)
{
	return (struct user_regs_struct *)r->words;
}
static const struct user_regs_struct *CU(const RemoteRegs *r)
{
	return (const struct user_regs_struct *)r->words;
}

int remote_arch_get_regs(pid_t tid, RemoteRegs *r)
{
	*r = (RemoteRegs){};
	if (ptrace(PTRACE_GETREGS, tid, NULL, U(r)) < 0)
		return negative_errno();
	return 0;
}

int remote_arch_set_regs(pid_t tid, const RemoteRegs *r)
{
	if (ptrace(PTRACE_SETREGS, tid, NULL, CU(r)) < 0)
		return negative_errno();
	return 0;
}

uint64_t remote_arch_pc(const RemoteRegs *r)
{
	return CU(r)->rip;
}

bool remote_arch_restart_pending(const RemoteRegs *r, bool insn_at_pc)
{
	const struct user_regs_struct *u = CU(r);
	return (int64_t)u->orig_rax >= 0 && remote_is_restart_code((int64_t)u->rax);
}

bool remote_arch_eintr_restartable(const RemoteRegs *r, RemoteRegs *ret_rewound)
{
	const struct user_regs_struct *u = CU(r);
	if ((int64_t)u->rax != -EINTR)
		return false;
	switch ((int64_t)u->orig_rax) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
		if ((int)u->r10 != -1) /* a finite timeout: re-issued, it would start over */
			return false;
		break;
	case SYS_epoll_pwait2:
		if (u->r10 != 0) /* timeout pointer */
			return false;
		break;
	default:
		return false;
	}
	*ret_rewound = *r;
	struct user_regs_struct *w = U(ret_rewound);
	w->rip -= remote_arch_syscall_insn_size;
	w->rax = w->orig_rax;
	w->orig_rax = (uint64_t)-1;
	return true;
}

/* The syscall ABI's six argument registers. */
static void set_args(struct user_regs_struct *u, const uint64_t args[6])
{
	u->rdi = args[0];
	u->rsi = args[1];
	u->rdx = args[2];
	u->r10 = args[3];
	u->r8 = args[4];
	u->r9 = args[5];
}

void remote_arch_setup_call(RemoteRegs *r, uint64_t insn_addr, long nr, const uint64_t args[6])
{
	struct user_regs_struct *u = U(r);
	u->rip = insn_addr;
	u->rax = (uint64_t)nr;
	u->orig_rax = (uint64_t)-1; /* not in a syscall: no restart logic on these */
	set_args(u, args);
}

long remote_arch_entry_nr(const RemoteRegs *r)
{
	return (long)CU(r)->orig_rax;
}

int remote_arch_replace_syscall(pid_t tid, RemoteRegs *entry, long nr, const uint64_t args[6])
{
	RemoteRegs n = *entry;
	struct user_regs_struct *u = U(&n);
	u->orig_rax = (uint64_t)nr;
	set_args(u, args);
	return remote_arch_set_regs(tid, &n);
}

int64_t remote_arch_return_value(const RemoteRegs *r)
{
	return (int64_t)CU(r)->rax;
}

void remote_arch_rewind_entry(RemoteRegs *entry)
{
	struct user_regs_struct *u = U(entry);
	/* At entry rip is past the instruction, rax = -ENOSYS, orig_rax the
	 * number (rcx/r11 already hold what `syscall` put there, as they
	 * would after re-executing it). */
	u->rip -= remote_arch_syscall_insn_size;
	u->rax = u->orig_rax;
	u->orig_rax = (uint64_t)-1;
}

/* The kernel keeps the FPU/vector state across a syscall on x86_64. */
int remote_arch_extra_save(pid_t tid, void **ret)
{
	*ret = NULL;
	return 0;
}

int remote_arch_extra_restore(pid_t tid, const void *extra)
{
	return 0;
}

void remote_arch_extra_free(void *extra)
{
}
