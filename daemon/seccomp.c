/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seccomp-util.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "log.h"
#include "macro.h"

static const char *const allowed[] = {
	/* process basics, memory, threads (an unmerge worker may use one) */
	"brk",
	"mmap",
	"munmap",
	"mremap",
	"mprotect",
	"madvise",
	"exit",
	"exit_group",
	"futex",
	"futex_waitv",
	"set_robust_list",
	"get_robust_list",
	"rseq",
	"set_tid_address",
	"clone",
	"clone3",
	"sched_yield",
	"sched_getaffinity",
	"getrandom",
	"restart_syscall",
	"rt_sigaction",
	"rt_sigprocmask",
	"rt_sigreturn",
	"rt_sigtimedwait",
	"sigaltstack",
	"getpid",
	"gettid",
	"getppid",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getresuid",
	"getresgid",
	"getgroups",
	"uname",
	"prctl",
	"arch_prctl",
	"prlimit64",
	"getrlimit",
	"getrusage",
	"sysinfo",
	"umask",
	"capget",
	/* time */
	"clock_gettime",
	"clock_getres",
	"clock_nanosleep",
	"nanosleep",
	"gettimeofday",
	"time",
	/* event loop (sd-event) and sd-bus on its existing socket */
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"timerfd_create",
	"timerfd_settime",
	"timerfd_gettime",
	"signalfd4",
	"eventfd2",
	"poll",
	"ppoll",
	"select",
	"pselect6",
	"accept4", /* the hook socket */
	"sendmsg",
	"recvmsg",
	"sendto",
	"recvfrom",
	"getsockopt",
	"setsockopt",
	"getsockname",
	"getpeername",
	"shutdown",
	/* files: procfs, sysfs, cgroupfs, the state directory */
	"openat",
	"open",
	"close",
	"close_range",
	"read",
	"pread64",
	"readv",
	"write",
	"pwrite64",
	"writev",
	"lseek",
	"fstat",
	"newfstatat",
	"stat",
	"lstat",
	"statx",
	"fstatfs",
	"statfs",
	"getdents64",
	"fcntl",
	"dup",
	"dup2",
	"dup3",
	"pipe2",
	"fsync",
	"fdatasync",
	"rename",
	"renameat",
	"renameat2",
	"unlink",
	"unlinkat",
	"mkdir",
	"mkdirat",
	"readlink",
	"readlinkat",
	"access",
	"faccessat",
	"faccessat2",
	"getcwd",
	"ioctl",
	"flock",
	"inotify_init1",
	"inotify_add_watch",
	"inotify_rm_watch",
	"memfd_create",
	"ftruncate",
	/* signals and lib/remote: pidfds, ptrace injection, reading the target */
	"kill",
	"tgkill",
	"tkill",
	"rt_tgsigqueueinfo", /* lib/remote re-sends a user-sent fault signal with its siginfo */
	"pidfd_open",
	"pidfd_send_signal",
	"pidfd_getfd",
	"ptrace",
	"wait4",
	"waitid",
	"process_vm_readv",
	"process_vm_writev",
	"process_madvise",
	"process_mrelease",
	"sched_getattr", /* lib/remote: SCHED_FIFO for the length of an injection, then restored */
	"sched_setattr",
};

int seccomp_confine(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(allowed); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture (open, stat, ... on aarch64) */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0) {
			seccomp_release(ctx);
			return log_debug_errno(r, "seccomp_rule_add(%s): %m", allowed[i]);
		}
	}
	/* sd_notify() opens an AF_UNIX datagram socket per message; no other
	 * socket may be created (but AF_UNIX pairs). */
	const struct scmp_arg_cmp unix_only = {.arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_UNIX, .datum_b = 0};
	r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &unix_only);
	/* the injection helper's channel (injector.c), started again after a kill */
	if (r >= 0)
		r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, &unix_only);
	if (r < 0) {
		seccomp_release(ctx);
		return r;
	}
	r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return r;
	log_debug("seccomp allow-list of %zu syscalls in force", ELEMENTSOF(allowed));
	return 0;
}

static int expect_refused(const char *what, long ret)
{
	if (ret >= 0 || errno != EPERM) {
		log_error("seccomp self-test: %s was not refused (ret %ld, %s)", what, ret,
			  ret < 0 ? strerror(errno) : "success");
		return -EIO;
	}
	log_info("seccomp self-test: %s refused with EPERM", what);
	return 0;
}

static int expect_reached(const char *what, long ret, int tolerated_errno)
{
	if (ret < 0 && errno == EPERM && tolerated_errno != EPERM) {
		log_error("seccomp self-test: %s was refused: %m", what);
		return -EPERM;
	}
	if (ret < 0 && errno != tolerated_errno) {
		log_error("seccomp self-test: %s failed: %m", what);
		return -EIO;
	}
	log_info("seccomp self-test: %s allowed", what);
	return 0;
}

int seccomp_selftest(void)
{
	int r = 0, k;
	char buf[8];
	struct iovec local = {buf, sizeof(buf)}, remote = {buf, sizeof(buf)};
	siginfo_t si;

	/* Forbidden: spawning programs, new sockets, mounts, namespaces. */
	char *const argv[] = {(char *)"/bin/true", NULL};
	k = expect_refused("execve", syscall(SYS_execve, "/bin/true", argv, NULL));
	r = r ?: k;
	k = expect_refused("socket", socket(AF_INET, SOCK_STREAM, 0));
	r = r ?: k;
	k = expect_refused("mount", mount("none", "/mnt", "tmpfs", 0, NULL));
	r = r ?: k;
	k = expect_refused("unshare", unshare(CLONE_NEWNS));
	r = r ?: k;

	/* Needed by lib/remote: these must reach the kernel. */
	long fd = syscall(SYS_pidfd_open, getpid(), 0);
	k = expect_reached("pidfd_open", fd, 0);
	r = r ?: k;
	if (fd >= 0)
		close((int)fd);
	/* reading our own memory through process_vm_readv works */
	k = expect_reached("process_vm_readv", process_vm_readv(getpid(), &local, 1, &remote, 1, 0), 0);
	r = r ?: k;
	/* we have no children: ECHILD means the kernel saw the call */
	k = expect_reached("waitid", waitid(P_ALL, 0, &si, WEXITED | WNOHANG), ECHILD);
	r = r ?: k;
	/* ptrace of pid 1 is refused by the kernel (EPERM too), so use a
	 * request that fails with ESRCH on a non-traced pid instead */
	k = expect_reached("ptrace", ptrace(PTRACE_GETEVENTMSG, getpid(), NULL, NULL), ESRCH);
	r = r ?: k;
	return r;
}
