/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure parts of remote control: fdinfo, status, auxv and maps parsing,
 * the syscall-instruction search, the backend names, the restart check. */
#include "unit-util.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "macro.h"
#include "pidfd-ksm.h"
#include "remote-internal.h"
#include "remote.h"

static char *fixture_text(const char *name)
{
	_cleanup_free_ char *dir = fixture_path("remote");
	_cleanup_free_ char *p = path_join(dir, name);
	char *text;
	assert_int_equal(read_full_file(p, 1 << 20, &text, NULL), 0);
	return text;
}

static void test_fdinfo(void **state)
{
	_cleanup_free_ char *live = fixture_text("fdinfo-pidfd");
	_cleanup_free_ char *exited = fixture_text("fdinfo-exited");
	_cleanup_free_ char *other = fixture_text("fdinfo-not-pidfd");
	pid_t pid = 0;
	assert_int_equal(remote_parse_fdinfo_pid(live, &pid), 0);
	assert_int_equal(pid, 4142);
	pid = 0;
	assert_int_equal(remote_parse_fdinfo_pid(exited, &pid), -ESRCH);
	assert_int_equal(pid, 0); /* untouched on failure */
	assert_int_equal(remote_parse_fdinfo_pid(other, &pid), -EBADF);
	assert_int_equal(remote_parse_fdinfo_pid("Pid:\t0\n", &pid), -ESRCH); /* other pid ns */
	assert_int_equal(remote_parse_fdinfo_pid("Pid:\tx\n", &pid), -EINVAL);
	assert_int_equal(remote_parse_fdinfo_pid("Pid:\t-7\n", &pid), -EINVAL);
	assert_int_equal(remote_parse_fdinfo_pid("", &pid), -EBADF);
}

static void test_status(void **state)
{
	_cleanup_free_ char *sleeping = fixture_text("status-sleeping");
	_cleanup_free_ char *traced = fixture_text("status-traced");
	_cleanup_free_ char *zombie = fixture_text("status-zombie");
	RemoteTaskStatus s;
	assert_int_equal(remote_parse_status(sleeping, &s), 0);
	assert_int_equal(s.state, 'S');
	assert_int_equal(s.tgid, 4142);
	assert_int_equal(s.ppid, 4140);
	assert_int_equal(s.tracer_pid, 0);
	assert_int_equal(remote_parse_status(traced, &s), 0);
	assert_int_equal(s.tracer_pid, 4321);
	assert_int_equal(remote_parse_status(zombie, &s), 0);
	assert_int_equal(s.state, 'Z');
	assert_int_equal(remote_parse_status("State:\tR\nTgid:\t1\nPPid:\t0\n", &s),
			 -EINVAL); /* no TracerPid */
	assert_int_equal(remote_parse_status("State:\tR\nTgid:\t1\nPPid:\t0\nTracerPid:\tz\n", &s), -EINVAL);
}

static void test_auxv(void **state)
{
	Elf64_auxv_t a[] = {
		{.a_type = AT_HWCAP, .a_un.a_val = 1},
		{.a_type = AT_SYSINFO_EHDR, .a_un.a_val = 0x7fff0000},
		{.a_type = AT_PAGESZ, .a_un.a_val = 4096},
		{.a_type = AT_NULL},
	};
	uint64_t v = 0;
	assert_int_equal(remote_parse_auxv_vdso(a, sizeof(a), &v), 0);
	assert_int_equal(v, 0x7fff0000);
	/* truncated before the entry */
	assert_int_equal(remote_parse_auxv_vdso(a, sizeof(a[0]) + 3, &v), -ENOENT);
	/* vdso=0 on the kernel command line: the entry is 0 or absent */
	a[1].a_un.a_val = 0;
	assert_int_equal(remote_parse_auxv_vdso(a, sizeof(a), &v), -ENOENT);
	a[1].a_type = AT_PAGESZ;
	assert_int_equal(remote_parse_auxv_vdso(a, sizeof(a), &v), -ENOENT);
}

static void test_maps_glibc(void **state)
{
	_cleanup_free_ char *maps = fixture_text("maps-glibc");
	_cleanup_free_ RemoteExecRange *r = NULL;
	size_t n = 0;
	assert_int_equal(remote_parse_maps_exec(maps, &r, &n), 0);
	/* bash, libc, libtinfo, vdso, ld.so text; never [vsyscall] */
	assert_int_equal(n, 5);
	assert_int_equal(r[0].rank, 0);
	assert_int_equal(r[0].start, 0x7f3d2448d000ULL);
	assert_int_equal(r[0].end, 0x7f3d2448f000ULL);
	assert_int_equal(r[1].rank, 1);
	assert_int_equal(r[1].start, 0x7f3d2428a000ULL);
	assert_int_equal(r[1].end, 0x7f3d243e0000ULL);
	for (size_t i = 2; i < n; i++) {
		assert_int_equal(r[i].rank, 2);
		assert_true(r[i].start != 0xffffffffff600000ULL);
		if (i > 2)
			assert_true(r[i].start > r[i - 1].start);
	}
}

static void test_maps_static_and_novdso(void **state)
{
	_cleanup_free_ char *st = fixture_text("maps-static");
	_cleanup_free_ char *nv = fixture_text("maps-novdso");
	_cleanup_free_ RemoteExecRange *r = NULL, *r2 = NULL;
	size_t n = 0, n2 = 0;
	assert_int_equal(remote_parse_maps_exec(st, &r, &n), 0);
	assert_int_equal(n, 2); /* vdso, then the static binary's text */
	assert_int_equal(r[0].rank, 0);
	assert_int_equal(r[1].rank, 2);
	assert_int_equal(r[1].start, 0x401000);
	assert_int_equal(remote_parse_maps_exec(nv, &r2, &n2), 0);
	assert_int_equal(r2[0].rank, 1); /* libc first without a vdso */

	RemoteExecRange *r3 = NULL;
	size_t n3 = 0;
	assert_int_equal(remote_parse_maps_exec("00400000-00401000 r--p 00000000 fe:00 1 /x\n", &r3, &n3),
			 -ENOENT);
	assert_int_equal(remote_parse_maps_exec("garbage\n\n", &r3, &n3), -ENOENT);
	assert_null(r3);
}

static void test_find_insn(void **state)
{
	uint8_t buf[64] = {};
	uint64_t a = 0;
	assert_int_equal(remote_find_syscall_insn(buf, sizeof(buf), 0x1000, &a), -ENOENT);
#if defined(__x86_64__)
	buf[17] = 0x0f;
	buf[18] = 0x05;
	assert_int_equal(remote_find_syscall_insn(buf, sizeof(buf), 0x1000, &a), 0);
	assert_int_equal(a, 0x1011);
	/* split at the end of the buffer: not found */
	assert_int_equal(remote_find_syscall_insn(buf, 18, 0x1000, &a), -ENOENT);
	assert_string_equal(remote_arch_name, "x86_64");
#elif defined(__aarch64__)
	const uint8_t svc[4] = {0x01, 0x00, 0x00, 0xd4};
	memcpy(buf + 6, svc, 4); /* unaligned: not an instruction */
	assert_int_equal(remote_find_syscall_insn(buf, sizeof(buf), 0x1000, &a), -ENOENT);
	memcpy(buf + 20, svc, 4);
	assert_int_equal(remote_find_syscall_insn(buf, sizeof(buf), 0x1000, &a), 0);
	assert_int_equal(a, 0x1014);
#endif
}

#if defined(__x86_64__)
#include <sys/user.h>
static void test_restart_pending_x86_64(void **state)
{
	RemoteRegs r = {};
	struct user_regs_struct *u = (struct user_regs_struct *)r.words;
	u->orig_rax = SYS_read;
	const int64_t restart[] = {-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK};
	for (size_t i = 0; i < ELEMENTSOF(restart); i++) {
		u->rax = (uint64_t)restart[i];
		assert_true(remote_arch_restart_pending(&r, false));
	}
	u->rax = (uint64_t)-EINTR;
	assert_false(remote_arch_restart_pending(&r, true));
	u->rax = (uint64_t)-ERESTARTSYS;
	u->orig_rax = (uint64_t)-1; /* not in a syscall */
	assert_false(remote_arch_restart_pending(&r, true));

	/* rewinding an entry stop gives "about to execute the syscall" */
	u->orig_rax = 219; /* restart_syscall */
	u->rax = (uint64_t)-ENOSYS;
	u->rip = 0x7000;
	remote_arch_rewind_entry(&r);
	assert_int_equal(u->rip, 0x6ffe);
	assert_int_equal(u->rax, 219);
	assert_int_equal((int64_t)u->orig_rax, -1);

	const uint64_t args[6] = {1, 2, 3, 4, 5, 6};
	remote_arch_setup_call(&r, 0x5000, SYS_prctl, args);
	assert_int_equal(u->rip, 0x5000);
	assert_int_equal(u->rax, SYS_prctl);
	assert_int_equal(u->rdi, 1);
	assert_int_equal(u->r10, 4);
	assert_int_equal(u->r9, 6);
	assert_int_equal((int64_t)u->orig_rax, -1);
}
#endif

static void test_backend(void **state)
{
	assert_string_equal(remote_backend_name(REMOTE_BACKEND_PTRACE), "ptrace");
	assert_string_equal(remote_backend_name(REMOTE_BACKEND_PIDFD_IOCTL), "pidfd-ioctl");
	assert_null(remote_backend_name(_REMOTE_BACKEND_MAX));
	assert_int_equal(remote_backend(),
			 remote_pidfd_ksm_probe() > 0 ? REMOTE_BACKEND_PIDFD_IOCTL : REMOTE_BACKEND_PTRACE);
}

static void test_bad_pidfd(void **state)
{
	pid_t p;
	int fd;
	assert_int_equal(remote_pidfd_get_pid(-1, &p), -EBADF);
	assert_int_equal(remote_pidfd_get_pid(0, &p), -EBADF); /* stdin is no pidfd */
	assert_int_equal(remote_pidfd_open(0, &fd), -EINVAL);
	assert_int_equal(remote_set_merge_any(-1, true), -EBADF);
	/* our own pid works without privileges */
	assert_int_equal(remote_pidfd_open(getpid(), &fd), 0);
	assert_int_equal(remote_pidfd_get_pid(fd, &p), 0);
	assert_int_equal(p, getpid());
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdinfo),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_auxv),
		cmocka_unit_test(test_maps_glibc),
		cmocka_unit_test(test_maps_static_and_novdso),
		cmocka_unit_test(test_find_insn),
#if defined(__x86_64__)
		cmocka_unit_test(test_restart_pending_x86_64),
#endif
		cmocka_unit_test(test_backend),
		cmocka_unit_test(test_bad_pidfd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
