/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * aarch64 hooks of the syscall injector: struct user_pt_regs through
 * PTRACE_GETREGSET/SETREGSET NT_PRSTATUS, the syscall number the kernel
 * will run through NT_ARM_SYSTEM_CALL, the `svc #0` instruction
 * (0xd4000001, 4-byte aligned), x8 = number, x0..x5 = arguments, x0 = result.
 *
 * Restart differs from x86_64: arm64's do_signal() rewinds pc to the svc and
 * puts orig_x0 back into x0 *before* get_signal(), so at our interrupt stop
 * the thread already sits on its svc with the original arguments, and the
 * -ERESTART* code is gone (only kernel locals remember it; that is also why
 * -ERESTART_RESTARTBLOCK's switch to restart_syscall happens after
 * get_signal(), and only while pc is untouched). So "restart pending" is
 * "pc points at an svc": the injector resumes the thread untouched, the
 * kernel finishes its own restart (x8 = __NR_restart_syscall where due),
 * and we catch that svc at its entry.
 *
 * Two more arm64 facts: at syscall stops the kernel shows x7 as 0/1
 * (entry/exit) and ignores writes to it, restoring the real value itself;
 * a syscall discards the SVE state beyond the FPSIMD view and leaves
 * streaming mode, so live SVE/SSVE registers are saved and written back.
 *
 * Compiled in CI with Debian's gcc-aarch64-linux-gnu (tests/meson.build,
 * suite lint); not run there: no arm64 machine.
 */
#include <elf.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <asm/ptrace.h>

#include "macro.h"
#include "remote-internal.h"

#if !defined(__aarch64__)
#error "remote-arch-aarch64.c built for another architecture"
#endif

#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif
#ifndef NT_ARM_SVE
#define NT_ARM_SVE 0x405
#endif
#ifndef NT_ARM_SSVE
#define NT_ARM_SSVE 0x40b
#endif

/* words[0..33]: user_pt_regs; words[SYSCALLNO]: NT_ARM_SYSTEM_CALL */
#define SYSCALLNO 40
_Static_assert(sizeof(struct user_pt_regs) <= SYSCALLNO * sizeof(uint64_t), "RemoteRegs layout");
_Static_assert(SYSCALLNO < sizeof(((RemoteRegs *)0)->words) / sizeof(uint64_t), "RemoteRegs too small");

const uint8_t remote_arch_syscall_insn[] = {0x01, 0x00, 0x00, 0xd4}; /* svc #0, little endian */
const size_t remote_arch_syscall_insn_size = 4;
const size_t remote_arch_syscall_insn_align = 4;
const char remote_arch_name[] = "aarch64";

static struct user_pt_regs *U(RemoteRegs *r)
{
	return (struct user_pt_regs *)r->words;
}
static const struct user_pt_regs *CU(const RemoteRegs *r)
{
	return (const struct user_pt_regs *)r->words;
}

int remote_arch_get_regs(pid_t tid, RemoteRegs *r)
{
	*r = (RemoteRegs){};
	struct iovec iov = {.iov_base = U(r), .iov_len = sizeof(struct user_pt_regs)};
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return negative_errno();
	int nr = -1;
	iov = (struct iovec){.iov_base = &nr, .iov_len = sizeof(nr)};
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
		return negative_errno();
	r->words[SYSCALLNO] = (uint64_t)(int64_t)nr;
	return 0;
}

int remote_arch_set_regs(pid_t tid, const RemoteRegs *r)
{
	struct user_pt_regs u = *CU(r);
	struct iovec iov = {.iov_base = &u, .iov_len = sizeof(u)};
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return negative_errno();
	int nr = (int)(int64_t)r->words[SYSCALLNO];
	iov = (struct iovec){.iov_base = &nr, .iov_len = sizeof(nr)};
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &iov) < 0)
		return negative_errno();
	return 0;
}

uint64_t remote_arch_pc(const RemoteRegs *r)
{
	return CU(r)->pc;
}

bool remote_arch_restart_pending(const RemoteRegs *r, bool insn_at_pc)
{
	/* see the top of this file: the kernel rewound pc already */
	return insn_at_pc;
}

bool remote_arch_eintr_restartable(const RemoteRegs *r, RemoteRegs *ret_rewound)
{
	/* x0 already holds -EINTR and orig_x0 is not visible to ptrace: the
	 * epoll fd cannot be put back. The program gets EINTR, as after a
	 * SIGSTOP/SIGCONT. */
	return false;
}

void remote_arch_setup_call(RemoteRegs *r, uint64_t insn_addr, long nr, const uint64_t args[6])
{
	struct user_pt_regs *u = U(r);
	u->pc = insn_addr;
	u->regs[8] = (uint64_t)nr;
	for (int i = 0; i < 6; i++)
		u->regs[i] = args[i];
	r->words[SYSCALLNO] = (uint64_t)-1; /* NO_SYSCALL: not in a syscall */
}

long remote_arch_entry_nr(const RemoteRegs *r)
{
	return (long)(int64_t)r->words[SYSCALLNO];
}

int remote_arch_replace_syscall(pid_t tid, RemoteRegs *entry, long nr, const uint64_t args[6])
{
	RemoteRegs n = *entry;
	struct user_pt_regs *u = U(&n);
	for (int i = 0; i < 6; i++)
		u->regs[i] = args[i];
	/* invoke_syscall() takes the number from NT_ARM_SYSTEM_CALL at entry */
	n.words[SYSCALLNO] = (uint64_t)nr;
	return remote_arch_set_regs(tid, &n);
}

int64_t remote_arch_return_value(const RemoteRegs *r)
{
	return (int64_t)CU(r)->regs[0];
}

void remote_arch_rewind_entry(RemoteRegs *entry)
{
	struct user_pt_regs *u = U(entry);
	/* At entry x0..x5 still hold the arguments (the kernel keeps orig_x0
	 * aside and writes x0 only on return), pc is past the svc. */
	u->pc -= remote_arch_syscall_insn_size;
	u->regs[8] = entry->words[SYSCALLNO]; /* restart_syscall, or the call itself */
	entry->words[SYSCALLNO] = (uint64_t)-1;
}

/* ---- SVE / streaming SVE ---- */

typedef struct ArchExtra {
	unsigned type; /* NT_ARM_SVE or NT_ARM_SSVE */
	size_t size;
	uint8_t data[];
} ArchExtra;

/* The regset when it holds live SVE state (not just the FPSIMD view,
 * which a syscall preserves); NULL otherwise. */
static int save_vector_regset(pid_t tid, unsigned type, ArchExtra **ret)
{
	struct user_sve_header h = {};
	struct iovec iov = {.iov_base = &h, .iov_len = sizeof(h)};
	*ret = NULL;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)(uintptr_t)type, &iov) < 0)
		return errno == EINVAL || errno == ENODEV || errno == EIO ? 0 : negative_errno();
	if ((h.flags & SVE_PT_REGS_MASK) != SVE_PT_REGS_SVE || h.size < sizeof(h))
		return 0;
	ArchExtra *e = malloc(sizeof(ArchExtra) + h.size);
	if (!e)
		return -ENOMEM;
	e->type = type;
	e->size = h.size;
	iov = (struct iovec){.iov_base = e->data, .iov_len = h.size};
	if (ptrace(PTRACE_GETREGSET, tid, (void *)(uintptr_t)type, &iov) < 0) {
		free(e);
		return negative_errno();
	}
	e->size = iov.iov_len;
	*ret = e;
	return 0;
}

int remote_arch_extra_save(pid_t tid, void **ret)
{
	ArchExtra *e = NULL;
	/* streaming mode first: when it is on, NT_ARM_SSVE has the live Z/P
	 * registers and writing it back re-enters streaming mode */
	int r = save_vector_regset(tid, NT_ARM_SSVE, &e);
	if (r < 0)
		return r;
	if (!e) {
		r = save_vector_regset(tid, NT_ARM_SVE, &e);
		if (r < 0)
			return r;
	}
	*ret = e;
	return 0;
}

int remote_arch_extra_restore(pid_t tid, const void *extra)
{
	const ArchExtra *e = extra;
	if (!e)
		return 0;
	struct iovec iov = {.iov_base = (void *)e->data, .iov_len = e->size};
	if (ptrace(PTRACE_SETREGSET, tid, (void *)(uintptr_t)e->type, &iov) < 0)
		return negative_errno();
	return 0;
}

void remote_arch_extra_free(void *extra)
{
	free(extra);
}
