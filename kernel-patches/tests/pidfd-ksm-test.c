/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test of the pidfd KSM ioctls of kernel-patches/ (runs as root inside the
 * qemu guest that kernel-patches/check boots, linked statically).
 *
 *  - enable merge-any through a pidfd on a child that never calls prctl, see
 *    its identical pages merge (ksm_stat, the status ioctl, pages_sharing);
 *  - the status ioctl and /proc/PID/ksm_stat (ksm_merge_any, ksm_mergeable,
 *    backported) agree;
 *  - merge-any set through the pidfd survives the child's execve and is
 *    inherited by what it forks afterwards;
 *  - disable and see every page unmerged at once, data intact;
 *  - EPERM for an unprivileged caller (uid nobody, no CAP_SYS_NICE), both on
 *    a root process and on a process of its own uid; a process may act on
 *    itself;
 *  - ESRCH for an exited process, zombie and reaped;
 *  - EINVAL for bad arguments; the status struct is versioned by size.
 *
 * Prints one "ok N - ..." / "not ok N - ..." line per check, then
 * "N passed, N failed" and "PIDFD-KSM-TEST: PASS" or "PIDFD-KSM-TEST: FAIL".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pidfd-ksm.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

#define NPAGES 512
#define NOBODY 65534
#define MERGE_TIMEOUT_S 120

static long page_size;
static int passed, failed;

static void check(bool cond, const char *fmt, ...)
{
	va_list ap;
	printf("%s %d - ", cond ? "ok" : "not ok", passed + failed + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (cond)
		passed++;
	else
		failed++;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* 0 or -errno */
static int ksm_ioctl(int pidfd, unsigned long cmd, void *arg)
{
	return ioctl(pidfd, cmd, arg) < 0 ? -errno : 0;
}

static int ksm_status(int pidfd, struct pagemeld_pidfd_ksm_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_GET_STATUS, st);
}

static int write_knob(const char *name, const char *value)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	int r = n < 0 ? -errno : 0;
	close(fd);
	return r;
}

static long read_knob(const char *name)
{
	char path[128], buf[64] = "";
	snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/* The value of "key" (with or without a colon) in /proc/PID/ksm_stat. */
static bool ksm_stat_field(pid_t pid, const char *key, char *out, size_t outlen)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl) != 0 || (line[kl] != ' ' && line[kl] != ':'))
			continue;
		char *v = line + kl + (line[kl] == ':');
		v += strspn(v, " ");
		v[strcspn(v, "\n")] = '\0';
		snprintf(out, outlen, "%s", v);
		found = true;
		break;
	}
	fclose(f);
	return found;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A child that maps NPAGES identical non-zero pages and waits. On SIGUSR1 it
 * checks its data and exits 0 if intact; with exec_after it execs
 * "sleep 1000" (via busybox) after reporting ready, so merge-any set before
 * that can be seen to survive execve. */
static pid_t spawn_workload(int *ready_fd, uintptr_t *ret_addr)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		size_t len = (size_t)NPAGES * page_size;
		unsigned char *m =
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(2);
		memset(m, 0x5a, len);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		uintptr_t a = (uintptr_t)m;
		(void)!write(p[1], &a, sizeof(a));
		int sig;
		sigwait(&set, &sig);
		for (size_t i = 0; i < len; i++)
			if (m[i] != 0x5a)
				_exit(3);
		_exit(0);
	}
	close(p[1]);
	uintptr_t a;
	if (read(p[0], &a, sizeof(a)) != sizeof(a)) {
		close(p[0]);
		return -1;
	}
	*ready_fd = p[0];
	*ret_addr = a;
	return pid;
}

static int finish_workload(pid_t pid)
{
	kill(pid, SIGUSR1);
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool wait_merged(int pidfd, uint64_t want, struct pagemeld_pidfd_ksm_status *st)
{
	double end = now() + MERGE_TIMEOUT_S;
	while (now() < end) {
		if (ksm_status(pidfd, st) == 0 && st->merging_pages >= want)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* How many distinct physical pages back the workload's NPAGES pages, read
 * from /proc/PID/pagemap (root sees PFNs); -1 on error. */
static int distinct_frames(pid_t pid, uintptr_t addr)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	static uint64_t e[NPAGES];
	ssize_t n = pread(fd, e, sizeof(e), (off_t)(addr / page_size) * 8);
	close(fd);
	if (n != (ssize_t)sizeof(e))
		return -1;
	for (int i = 0; i < NPAGES; i++) {
		if (!(e[i] >> 63)) /* not present */
			return -1;
		e[i] &= (1ULL << 55) - 1;
	}
	qsort(e, NPAGES, sizeof(e[0]), cmp_u64);
	int d = 1;
	for (int i = 1; i < NPAGES; i++)
		d += e[i] != e[i - 1];
	return d;
}

static bool wait_counter_zero(int pidfd, struct pagemeld_pidfd_ksm_status *st)
{
	double end = now() + MERGE_TIMEOUT_S;
	while (now() < end) {
		if (ksm_status(pidfd, st) == 0 && st->merging_pages == 0)
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/* Run fn in a child that became uid/gid nobody (which drops every
 * capability, CAP_SYS_NICE included); its exit status is the result. */
static int as_nobody(int (*fn)(int pidfd), int pidfd)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		_exit(fn(pidfd));
	}
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* exit codes: 0 = as expected, 1x = wrong answer */
static int nobody_set_root_target(int pidfd)
{
	int r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	if (r != -EPERM)
		return 10 + (r == 0 ? 0 : 1);
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, NULL);
	if (r != -EPERM)
		return 20;
	struct pagemeld_pidfd_ksm_status st;
	r = ksm_status(pidfd, &st); /* ptrace READ of a root process: refused */
	if (r != -EPERM)
		return 30;
	return 0;
}

static int nobody_set_own_uid_target(int pidfd)
{
	struct pagemeld_pidfd_ksm_status st;
	/* same uid: the ptrace check passes, so reading works ... */
	if (ksm_status(pidfd, &st) != 0)
		return 10;
	/* ... but changing needs CAP_SYS_NICE */
	if (ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL) != -EPERM)
		return 20;
	/* a process may act on itself, as with the prctl */
	int self = pidfd_open(getpid());
	if (self < 0)
		return 30;
	if (ksm_ioctl(self, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL) != 0)
		return 40;
	if (prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) != 1)
		return 50;
	if (ksm_ioctl(self, PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, NULL) != 0)
		return 60;
	if (prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) != 0)
		return 70;
	return 0;
}

static void test_merge_unmerge(void)
{
	int ready;
	uintptr_t addr = 0;
	pid_t child = spawn_workload(&ready, &addr);
	check(child > 0, "spawn workload child");
	if (child <= 0)
		return;
	int pidfd = pidfd_open(child);
	check(pidfd >= 0, "pidfd_open(child)");

	struct pagemeld_pidfd_ksm_status st;
	int r = ksm_status(pidfd, &st);
	check(r == 0, "GET_STATUS before enable (r=%d)", r);
	check(!(st.flags & PAGEMELD_PIDFD_KSM_MERGE_ANY) && st.merging_pages == 0,
	      "not merging before enable (flags=%#x merging=%llu)", st.flags,
	      (unsigned long long)st.merging_pages);
	check(st.size == PAGEMELD_PIDFD_KSM_STATUS_SIZE_VER0, "status size %u", st.size);

	char v[32] = "";
	check(ksm_stat_field(child, "ksm_merge_any", v, sizeof(v)) && strcmp(v, "no") == 0,
	      "ksm_stat ksm_merge_any before enable: '%s'", v);

	long sharing_before = read_knob("pages_sharing");
	double t0 = now();
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	check(r == 0, "SET_MERGE_ANY on child (r=%d)", r);
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	check(r == 0, "SET_MERGE_ANY again is a no-op (r=%d)", r);
	r = ksm_status(pidfd, &st);
	check(r == 0 && (st.flags & PAGEMELD_PIDFD_KSM_MERGE_ANY) &&
		      (st.flags & PAGEMELD_PIDFD_KSM_MERGEABLE),
	      "status says merge_any+mergeable (r=%d flags=%#x)", r, st.flags);
	check(ksm_stat_field(child, "ksm_merge_any", v, sizeof(v)) && strcmp(v, "yes") == 0,
	      "ksm_stat ksm_merge_any after enable: '%s'", v);
	check(ksm_stat_field(child, "ksm_mergeable", v, sizeof(v)) && strcmp(v, "yes") == 0,
	      "ksm_stat ksm_mergeable after enable: '%s'", v);

	bool merged = wait_merged(pidfd, NPAGES - 1, &st);
	check(merged, "child merged %llu of %d pages in %.1fs (rmap_items=%llu profit=%lld)",
	      (unsigned long long)st.merging_pages, NPAGES, now() - t0, (unsigned long long)st.rmap_items,
	      (long long)st.process_profit);
	check(ksm_stat_field(child, "ksm_merging_pages", v, sizeof(v)) && atol(v) >= NPAGES - 1,
	      "ksm_stat ksm_merging_pages agrees: %s", v);
	long sharing = read_knob("pages_sharing");
	check(sharing >= sharing_before + NPAGES - 2, "pages_sharing %ld (was %ld)", sharing, sharing_before);
	check(st.process_profit > 0, "process_profit %lld > 0", (long long)st.process_profit);
	int frames = distinct_frames(child, addr);
	check(frames >= 1 && frames <= 4, "pagemap: %d pages share %d frames", NPAGES, frames);

	/* the unprivileged caller, on this root process */
	r = as_nobody(nobody_set_root_target, pidfd);
	check(r == 0, "uid nobody: SET/CLEAR/GET_STATUS on a root process -> EPERM (code %d)", r);
	r = ksm_status(pidfd, &st);
	check(r == 0 && (st.flags & PAGEMELD_PIDFD_KSM_MERGE_ANY),
	      "merge-any unchanged after the refused calls");

	t0 = now();
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, NULL);
	double dt = now() - t0;
	check(r == 0, "CLEAR_MERGE_ANY on child (r=%d, %.3fs)", r, dt);
	r = ksm_status(pidfd, &st);
	check(r == 0 && !(st.flags & PAGEMELD_PIDFD_KSM_MERGE_ANY) &&
		      !(st.flags & PAGEMELD_PIDFD_KSM_MERGEABLE),
	      "status: merge-any off, no VMA left VM_MERGEABLE (flags=%#x)", st.flags);
	/* The ioctl returned after breaking every merge: the frames are
	 * private again now, before ksmd runs (it only fixes the counters). */
	frames = distinct_frames(child, addr);
	check(frames == NPAGES, "pagemap right after CLEAR: %d distinct frames of %d", frames, NPAGES);
	bool zero = wait_counter_zero(pidfd, &st);
	check(zero, "ksm_merging_pages back to 0 after ksmd's pass (%llu)",
	      (unsigned long long)st.merging_pages);
	check(ksm_stat_field(child, "ksm_merge_any", v, sizeof(v)) && strcmp(v, "no") == 0,
	      "ksm_stat ksm_merge_any after disable: '%s'", v);
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, NULL);
	check(r == 0, "CLEAR_MERGE_ANY again is a no-op (r=%d)", r);

	/* bad arguments */
	r = ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, 1UL) < 0 ? -errno : 0;
	check(r == -EINVAL, "SET_MERGE_ANY with arg != 0 -> EINVAL (r=%d)", r);
	struct pagemeld_pidfd_ksm_status small = {.size = 8};
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_GET_STATUS, &small);
	check(r == -EINVAL, "GET_STATUS with size 8 -> EINVAL (r=%d)", r);
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_GET_STATUS, (void *)16);
	check(r == -EFAULT, "GET_STATUS with a bad pointer -> EFAULT (r=%d)", r);
	/* a caller built with a bigger (future) struct */
	struct {
		struct pagemeld_pidfd_ksm_status s;
		uint64_t future[3];
	} big;
	memset(&big, 0xee, sizeof(big));
	big.s.size = sizeof(big);
	unsigned long cmd_big = _IOWR(PAGEMELD_PIDFS_IOCTL_MAGIC, 0x82, big);
	r = ksm_ioctl(pidfd, cmd_big, &big);
	check(r == 0 && big.s.size == PAGEMELD_PIDFD_KSM_STATUS_SIZE_VER0 &&
		      big.future[0] == 0xeeeeeeeeeeeeeeeeULL,
	      "larger struct: kernel fills its %u bytes, leaves the rest (r=%d)", big.s.size, r);

	r = finish_workload(child);
	check(r == 0, "child data intact after merge+unmerge (exit %d)", r);
	close(ready);

	/* ESRCH: zombie, then reaped */
	pid_t z = fork();
	if (z == 0)
		_exit(0);
	int zfd = pidfd_open(z);
	check(zfd >= 0, "pidfd_open(short-lived child)");
	siginfo_t si;
	/* WNOWAIT: wait for the exit but leave a zombie */
	waitid(P_PID, z, &si, WEXITED | WNOWAIT);
	r = ksm_ioctl(zfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	check(r == -ESRCH, "SET_MERGE_ANY on a zombie -> ESRCH (r=%d)", r);
	r = ksm_status(zfd, &st);
	check(r == -ESRCH, "GET_STATUS on a zombie -> ESRCH (r=%d)", r);
	waitpid(z, NULL, 0);
	r = ksm_ioctl(zfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	check(r == -ESRCH, "SET_MERGE_ANY on a reaped process -> ESRCH (r=%d)", r);
	r = ksm_ioctl(zfd, PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, NULL);
	check(r == -ESRCH, "CLEAR_MERGE_ANY on a reaped process -> ESRCH (r=%d)", r);
	r = ksm_status(zfd, &st);
	check(r == -ESRCH, "GET_STATUS on a reaped process -> ESRCH (r=%d)", r);
	close(zfd);
	close(pidfd);
}

/* A child of uid nobody, target of an unprivileged caller of the same uid. */
static void test_nobody_same_uid(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	pid_t t = fork();
	if (t == 0) {
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		/* the uid change made us non-dumpable, which only
		 * CAP_SYS_PTRACE may look past: be an ordinary process */
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			_exit(101);
		(void)!write(p[1], "r", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	char c;
	check(read(p[0], &c, 1) == 1, "spawn a uid-nobody target");
	close(p[0]);
	int pidfd = pidfd_open(t);
	int r = as_nobody(nobody_set_own_uid_target, pidfd);
	check(r == 0,
	      "uid nobody on a uid-nobody process: GET_STATUS ok, SET -> EPERM (no "
	      "CAP_SYS_NICE); on itself ok (code %d)",
	      r);
	/* root with CAP_SYS_NICE may */
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	check(r == 0, "root: SET_MERGE_ANY on the uid-nobody process (r=%d)", r);
	r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, NULL);
	check(r == 0, "root: CLEAR_MERGE_ANY on the uid-nobody process (r=%d)", r);
	kill(t, SIGKILL);
	waitpid(t, NULL, 0);
	close(pidfd);
}

/* merge-any set through the pidfd before execve is kept by the new image. */
static void test_exec_inherit(const char *sleep_bin)
{
	int go[2], ready[2];
	if (pipe2(go, 0) < 0 || pipe2(ready, O_CLOEXEC) < 0)
		return;
	pid_t t = fork();
	if (t == 0) {
		close(go[1]);
		(void)!write(ready[1], "r", 1);
		char c;
		(void)!read(go[0], &c, 1);
		execl(sleep_bin, "sleep", "1000", (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	close(ready[1]);
	char c;
	(void)!read(ready[0], &c, 1);
	close(ready[0]);
	int pidfd = pidfd_open(t);
	int r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	check(r == 0, "SET_MERGE_ANY before execve (r=%d)", r);
	close(go[1]);
	/* wait for the exec: /proc/PID/exe changes */
	char exe[256] = "";
	double end = now() + 30;
	while (now() < end) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)t);
		ssize_t n = readlink(path, exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			if (strstr(exe, "busybox") || strstr(exe, "sleep"))
				break;
		}
		usleep(20 * 1000);
	}
	struct pagemeld_pidfd_ksm_status st;
	r = ksm_status(pidfd, &st);
	check(r == 0 && (st.flags & PAGEMELD_PIDFD_KSM_MERGE_ANY),
	      "merge-any survives execve into %s (r=%d flags=%#x)", exe, r, st.flags);
	kill(t, SIGKILL);
	waitpid(t, NULL, 0);
	close(pidfd);
}

/* merge-any set through the pidfd is inherited by a child forked afterwards. */
static void test_fork_inherit(void)
{
	int go[2], back[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(back, O_CLOEXEC) < 0)
		return;
	pid_t t = fork();
	if (t == 0) {
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		pid_t g = fork();
		if (g == 0) {
			pause();
			_exit(0);
		}
		(void)!write(back[1], &g, sizeof(g));
		pause();
		_exit(0);
	}
	close(go[0]);
	close(back[1]);
	int pidfd = pidfd_open(t);
	int r = ksm_ioctl(pidfd, PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, NULL);
	check(r == 0, "SET_MERGE_ANY before fork (r=%d)", r);
	(void)!write(go[1], "f", 1);
	pid_t g = -1;
	(void)!read(back[0], &g, sizeof(g));
	int gfd = g > 0 ? pidfd_open(g) : -1;
	struct pagemeld_pidfd_ksm_status st;
	r = gfd >= 0 ? ksm_status(gfd, &st) : -EBADF;
	check(r == 0 && (st.flags & PAGEMELD_PIDFD_KSM_MERGE_ANY),
	      "the child forked afterwards has merge-any (r=%d flags=%#x)", r, r == 0 ? st.flags : 0);
	if (g > 0)
		kill(g, SIGKILL);
	kill(t, SIGKILL);
	waitpid(t, NULL, 0);
	if (gfd >= 0)
		close(gfd);
	close(pidfd);
	close(go[1]);
	close(back[0]);
}

int main(int argc, char **argv)
{
	const char *sleep_bin = argc > 1 ? argv[1] : "/bin/busybox";
	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Is the interface there at all? Status of ourselves. */
	int self = pidfd_open(getpid());
	struct pagemeld_pidfd_ksm_status st;
	int r = ksm_status(self, &st);
	check(r == 0, "GET_STATUS on a pidfd of self (r=%d: %s)", r, strerror(-r));
	close(self);
	if (r != 0) {
		printf("%d passed, %d failed\nPIDFD-KSM-TEST: FAIL interface absent\n", passed, failed);
		return 1;
	}

	check(write_knob("pages_to_scan", "4000") == 0, "ksm pages_to_scan=4000");
	check(write_knob("sleep_millisecs", "10") == 0, "ksm sleep_millisecs=10");
	check(write_knob("run", "1") == 0, "ksm run=1");

	test_merge_unmerge();
	test_nobody_same_uid();
	test_exec_inherit(sleep_bin);
	test_fork_inherit();

	write_knob("run", "2"); /* leave nothing merged */
	printf("%d passed, %d failed\n", passed, failed);
	printf("PIDFD-KSM-TEST: %s\n", failed == 0 ? "PASS" : "FAIL");
	return failed == 0 ? 0 : 1;
}
