/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Remote control on real processes: switch merge-any on and off
 * inside tests/helpers/remote-target while it does a known job, single- and
 * 20-threaded, blocked in read / epoll_wait / futex / nanosleep / wait4, in
 * a busy loop, under a stream of signals, exiting under us. Each asserts
 * the job's result and exit code and ksm_stat's view after every switch;
 * then the error cases (dead, recycled, traced, refused).
 */
#include "live-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ksm-stat.h"
#include "macro.h"
#include "no-rt-cgroup.h"
#include "remote.h"
#include "sched-attr.h"

#define TARGET_PAGES 512
#define MERGE_TIMEOUT_MS 30000

typedef struct Target {
	pid_t pid;
	uint64_t pages_addr, pages_len;
	uint64_t reserve_addr, reserve_len; /* --reserve */
	int pidfd;
	int in_fd;
	int out_fd;
	FILE *out;
} Target;

static const char *target_path(void)
{
	static char path[4096];
	const char *e = getenv("PAGEMELD_REMOTE_TARGET");
	if (e)
		return e;
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	assert_true(n > 0);
	path[n] = '\0';
	strcpy(strrchr(path, '/'), "/live/remote-target");
	return path;
}

/* argv after the program name, NULL-terminated */
static void target_start(Target *t, const char *const *args)
{
	int in[2], out[2];
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		const char *argv[32] = {target_path()};
		for (size_t i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*t = (Target){.pid = pid, .in_fd = in[1], .out_fd = out[0], .pidfd = -1};
	t->out = fdopen(out[0], "r");
	assert_non_null(t->out);
	char line[128];
	assert_non_null(fgets(line, sizeof(line), t->out));
	assert_true(startswith(line, "ready "));
	int rpid;
	int k = sscanf(line, "ready %d %" SCNx64 " %" SCNu64 " %" SCNx64 " %" SCNu64, &rpid, &t->pages_addr,
		       &t->pages_len, &t->reserve_addr, &t->reserve_len);
	assert_true(k == 3 || k == 5);
	assert_int_equal(rpid, pid);
	assert_int_equal(remote_pidfd_open(pid, &t->pidfd), 0);
}

/* Close its stdin, read its result line, reap it: returns the exit code
 * (128 + signal when killed). */
static int target_finish(Target *t, char *result, size_t size)
{
	if (t->in_fd >= 0)
		close(t->in_fd);
	t->in_fd = -1;
	char line[256];
	if (!result) {
		result = line;
		size = sizeof(line);
	}
	/* always read its last words: closing the pipe first would SIGPIPE it */
	result[0] = '\0';
	if (fgets(result, (int)size, t->out))
		result[strcspn(result, "\n")] = '\0';
	fclose(t->out);
	t->out = NULL;
	int status;
	assert_int_equal(waitpid(t->pid, &status, 0), t->pid);
	close(t->pidfd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static KsmStat stat_of(pid_t pid)
{
	KsmStat st;
	assert_int_equal(ksm_stat_read("/proc", pid, &st), 0);
	return st;
}

/* the state letter of /proc/PID/stat; 0 once gone */
static char task_state(pid_t pid)
{
	char path[64], line[512] = "";
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	(void)!fgets(line, sizeof(line), f);
	fclose(f);
	char *p = strrchr(line, ')');
	return p && p[1] && p[2] ? p[2] : 0;
}

static bool kernel_shows_merge_any(void)
{
	return stat_of(getpid()).merge_any != KSM_TRISTATE_ABSENT;
}

static void assert_merge_any(Target *t, bool on)
{
	bool v = !on;
	assert_int_equal(remote_get_merge_any(t->pidfd, &v), 0);
	assert_int_equal(v, on);
	if (kernel_shows_merge_any())
		assert_int_equal(stat_of(t->pid).merge_any, on ? KSM_TRISTATE_YES : KSM_TRISTATE_NO);
}

/* Switch merge-any on and off `rounds` times, checking each, then once
 * more with the pages really merging: they merge, and after the switch-off
 * ksm_merging_pages falls back to 0 (once ksmd has walked the mm again). */
static void cycle(Target *t, int rounds, bool merge)
{
	for (int i = 0; i < rounds; i++) {
		assert_int_equal(remote_set_merge_any(t->pidfd, true), 0);
		assert_merge_any(t, true);
		assert_int_equal(remote_set_merge_any(t->pidfd, false), 0);
		assert_merge_any(t, false);
	}
	if (!merge)
		return;
	assert_int_equal(remote_set_merge_any(t->pidfd, true), 0);
	assert_merge_any(t, true);
	int64_t t0 = live_now_ms();
	KsmStat st;
	do {
		usleep(10000);
		st = stat_of(t->pid);
	} while (st.merging_pages < TARGET_PAGES / 2 && live_now_ms() - t0 < MERGE_TIMEOUT_MS);
	printf("#   merged %" PRIu64 " pages in %" PRId64 " ms\n", st.merging_pages, live_now_ms() - t0);
	assert_true(st.merging_pages >= TARGET_PAGES / 2);

	assert_int_equal(remote_set_merge_any(t->pidfd, false), 0);
	assert_merge_any(t, false);
	t0 = live_now_ms();
	do {
		st = stat_of(t->pid);
		if (st.merging_pages == 0)
			break;
		usleep(10000);
	} while (live_now_ms() - t0 < MERGE_TIMEOUT_MS);
	printf("#   unmerged to %" PRIu64 " pages in %" PRId64 " ms\n", st.merging_pages, live_now_ms() - t0);
	assert_int_equal(st.merging_pages, 0);
}

static void write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

/* A target blocked reading stdin: feed it bytes between switches. */
static void run_reader(const char *mode, const char *threads)
{
	const char *args[] = {mode, "--threads", threads, "--pages", "512", NULL};
	Target t;
	target_start(&t, args);
	uint64_t sum = 0, n = 0;
	unsigned char buf[1000];
	for (int round = 0; round < 20; round++) {
		usleep(2000); /* let it block again */
		cycle(&t, 5, false);
		for (size_t i = 0; i < sizeof(buf); i++) {
			buf[i] = (unsigned char)(i * 7 + round);
			sum += buf[i];
		}
		write_all(t.in_fd, buf, sizeof(buf));
		n += sizeof(buf);
	}
	usleep(2000);
	cycle(&t, 1, true);
	char result[256], want[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	printf("#   %s\n", result);
	snprintf(want, sizeof(want), "result %s %" PRIu64 " ", mode, sum);
	assert_true(startswith(result, want));
	if (streq(mode, "read")) {
		snprintf(want, sizeof(want), "result read %" PRIu64 " %" PRIu64, sum, n);
		assert_string_equal(result, want);
	}
#if defined(__x86_64__)
	/* epoll_wait(-1) broken by our interrupt is put back, not EINTR'd */
	if (streq(mode, "epoll")) {
		snprintf(want, sizeof(want), "result epoll %" PRIu64 " 0", sum);
		assert_string_equal(result, want);
	}
#endif
}

static void test_read_1(void **state)
{
	run_reader("read", "1");
}
static void test_read_20(void **state)
{
	run_reader("read", "20");
}
static void test_epoll_1(void **state)
{
	run_reader("epoll", "1");
}

/* A target whose job runs by itself for a while: switch as it goes. */
static void run_timed(const char *mode, const char *threads, const char *count, const char *ms,
		      const char *want)
{
	const char *args[] = {mode, "--threads", threads, "--count", count, "--ms",
			      ms,   "--pages",	 "512",	  "--go",    NULL};
	Target t;
	target_start(&t, args);
	/* before the job: under load the wait for ksmd's rescan after the
	 * disable has outlasted a 0.6 s job (the target gone: ESRCH) */
	cycle(&t, 1, true);
	write_all(t.in_fd, "go\n", 3);
	/* then as many rounds as fit while the job runs */
	int rounds = 0;
	for (;;) {
		int r = remote_set_merge_any(t.pidfd, (rounds & 1) == 0);
		if (r == -ESRCH)
			break;
		if (r == -EAGAIN && task_state(t.pid) != 'S') /* exiting: 'D' then 'Z' */
			continue;
		assert_int_equal(r, 0);
		rounds++;
		usleep(rounds % 7 * 300);
		/* finished (a zombie, our child): stop */
		char c = task_state(t.pid);
		if (c == 'Z' || c == 0)
			break;
	}
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	printf("#   %s after %d switches\n", result, rounds);
	assert_true(rounds > 0);
	assert_true(startswith(result, want));
}

static void test_futex_1(void **state)
{
	run_timed("futex", "1", "300", "2", "result futex 300 0");
}
static void test_futex_20(void **state)
{
	run_timed("futex", "20", "300", "2", "result futex 300 0");
}
static void test_futex_timeout(void **state)
{
	run_timed("futex-timeout", "1", "300", "2", "result futex-timeout 300 0");
}
static void test_nanosleep(void **state)
{
	run_timed("nanosleep", "1", "100", "5", "result nanosleep 100 ");
}
static void test_nanosleep_long(void **state)
{
	/* one 1 s sleep, switched ~thousands of times: restart_syscall must
	 * continue the remaining time, a re-issued sleep would run over */
	const char *args[] = {"nanosleep", "--count", "1", "--ms", "1000", NULL};
	Target t;
	target_start(&t, args);
	int n = 0;
	while (remote_set_merge_any(t.pidfd, (n & 1) == 0) == 0 && n < 200000) {
		n++;
		usleep(500);
		char c = task_state(t.pid);
		if (c == 'Z' || c == 0)
			break;
	}
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	printf("#   %s (late µs) after %d switches\n", result, n);
	assert_true(n > 100);
	unsigned long late_us = strtoul(strrchr(result, ' ') + 1, NULL, 10);
	assert_true(late_us < 500000); /* less than half the period late */
}
static void test_wait4(void **state)
{
	run_timed("wait4", "1", "50", "10", "result wait4 50 0");
}
static void test_busy_1(void **state)
{
	run_timed("busy", "1", "30000", "0", "result busy ");
}
static void test_busy_20(void **state)
{
	run_timed("busy", "20", "30000", "0", "result busy ");
}

/* A steady stream of SIGRTMIN (queued, each with a value) while we switch:
 * none may be lost, none duplicated. */
static void test_signal_stream(void **state)
{
	const char *args[] = {"signals", "--threads", "1", "--pages", "512", NULL};
	Target t;
	target_start(&t, args);
	uint64_t sent = 0, sum = 0;
	for (int i = 0; i < 400; i++) {
		union sigval v = {.sival_int = i};
		if (sigqueue(t.pid, SIGRTMIN, v) == 0) {
			sent++;
			sum += (uint64_t)i;
		} else
			assert_int_equal(errno, EAGAIN); /* queue full: not sent, not counted */
		if (i % 2 == 0)
			cycle(&t, 1, false);
	}
	cycle(&t, 1, true);
	usleep(20000);
	char result[256], want[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	printf("#   %s (sent %" PRIu64 ")\n", result, sent);
	snprintf(want, sizeof(want), "result signals %" PRIu64 " %" PRIu64, sent, sum);
	assert_string_equal(result, want);
}

/* Signals with a handler without SA_RESTART into an epoll loop while we
 * switch: none lost, and every EINTR the loop saw is owed to a signal (ours
 * are put back), never more EINTRs than signals. */
static void test_epoll_signals(void **state)
{
	const char *args[] = {"epoll-signals", NULL};
	Target t;
	target_start(&t, args);
	uint64_t sent = 0;
	for (int i = 0; i < 300; i++) {
		union sigval v = {.sival_int = i};
		if (sigqueue(t.pid, SIGRTMIN, v) == 0)
			sent++;
		cycle(&t, 1, false);
		if (i % 50 == 0)
			write_all(t.in_fd, "z", 1);
	}
	usleep(20000);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	unsigned long seen = 0, eintr = 0;
	assert_int_equal(sscanf(result, "result epoll-signals %lu %lu", &seen, &eintr), 2);
	printf("#   %s (sent %" PRIu64 ")\n", result, sent);
	assert_int_equal(seen, sent);
#if defined(__x86_64__)
	assert_true(eintr <= seen);
#endif
}

/* The target exits (exit(7) from another thread) while we keep switching:
 * every call succeeds or says ESRCH, the exit code is intact, and the
 * zombie is left for us (its parent) to reap. */
static void test_exit_during(void **state)
{
	for (int round = 0; round < 10; round++) {
		const char *args[] = {"exit", "--threads", round % 2 ? "20" : "1", "--ms", "30", NULL};
		Target t;
		target_start(&t, args);
		int ok = 0, gone = 0;
		for (;;) {
			int r = remote_set_merge_any(t.pidfd, ok % 2 == 0);
			if (r == -ESRCH) {
				gone++;
				break;
			}
			assert_int_equal(r, 0);
			ok++;
		}
		/* and again: the pidfd now names a dead process */
		assert_int_equal(remote_set_merge_any(t.pidfd, true), -ESRCH);
		bool v;
		assert_int_equal(remote_get_merge_any(t.pidfd, &v), -ESRCH);
		assert_int_equal(target_finish(&t, NULL, 0), 7);
		if (round == 0)
			printf("#   %d switches before exit\n", ok);
	}
}

/* A stopped (SIGSTOP) target: switched, and still stopped afterwards. */
static void test_stopped_target(void **state)
{
	const char *args[] = {"read", NULL};
	Target t;
	target_start(&t, args);
	assert_int_equal(kill(t.pid, SIGSTOP), 0);
	siginfo_t si = {};
	assert_int_equal(waitid(P_PID, (id_t)t.pid, &si, WSTOPPED), 0);
	cycle(&t, 3, false);
	assert_int_equal(remote_set_merge_any(t.pidfd, true), 0);
	/* detached, the kernel puts it back into the group stop (it runs for
	 * a moment to get there); then it stays */
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)t.pid);
	int64_t t0 = live_now_ms();
	int stopped_seen = 0;
	while (live_now_ms() - t0 < 2000) {
		FILE *f = fopen(path, "re");
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		assert_non_null(strstr(buf, "TracerPid:\t0\n"));
		if (strstr(buf, "State:\tT (stopped)")) {
			if (++stopped_seen == 20)
				break;
		} else
			assert_int_equal(stopped_seen, 0); /* once stopped, it stays */
		usleep(5000);
	}
	assert_int_equal(stopped_seen, 20);
	assert_int_equal(kill(t.pid, SIGCONT), 0);
	write_all(t.in_fd, "abc", 3);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	assert_string_equal(result, "result read 294 3");
}

/* A vfork parent waits uninterruptibly ('D') for its child: it cannot be
 * stopped, so it is not seized (-EAGAIN, untouched); once the child is gone
 * it works again. */
static void test_uninterruptible(void **state)
{
	const char *args[] = {"vfork", "--count", "1", "--ms", "1500", NULL};
	Target t;
	target_start(&t, args);
	int64_t t0 = live_now_ms();
	while (task_state(t.pid) != 'D') {
		assert_true(live_now_ms() - t0 < 5000);
		usleep(1000);
	}
	int64_t t1 = live_now_ms();
	assert_int_equal(remote_set_merge_any(t.pidfd, true), -EAGAIN);
	assert_true(live_now_ms() - t1 < 500); /* refused at once, not after a timeout */
	assert_int_equal(task_state(t.pid), 'D');
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	assert_string_equal(result, "result vfork 1 0");
	/* and a vfork parent whose child is quick is reached between children */
	const char *args2[] = {"vfork", "--count", "200", "--ms", "5", NULL};
	target_start(&t, args2);
	int ok = 0, again = 0;
	for (;;) {
		int r = remote_set_merge_any(t.pidfd, ok % 2 == 0);
		if (r == -EAGAIN)
			again++;
		else if (r == 0)
			ok++;
		else {
			assert_int_equal(r, -ESRCH);
			break;
		}
		if (task_state(t.pid) == 'Z')
			break;
		usleep(2000);
	}
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	printf("#   vfork: %d switched, %d refused with EAGAIN\n", ok, again);
	assert_string_equal(result, "result vfork 200 0");
	assert_true(ok > 0);
}

/* ---- scheduling attributes (lib/remote boosts the traced thread to
 * SCHED_FIFO for the injection and must put back exactly what it had) ---- */

static SchedAttr sched_of(pid_t tid)
{
	SchedAttr a = {.size = sizeof(a)};
	assert_int_equal(syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0), 0);
	return a;
}

static int sched_set(pid_t tid, SchedAttr a)
{
	a.size = sizeof(a);
	if (a.sched_policy == SCHED_IDLE) {
		/* SCHED_IDLE keeps the nice value the thread had before */
		SchedAttr other = {
			.size = sizeof(other), .sched_policy = SCHED_OTHER, .sched_nice = a.sched_nice};
		if (syscall(SYS_sched_setattr, tid, &other, 0) < 0)
			return -errno;
	}
	return syscall(SYS_sched_setattr, tid, &a, 0) < 0 ? -errno : 0;
}

static void assert_sched_equal(pid_t tid, const SchedAttr *want)
{
	SchedAttr a = sched_of(tid);
	bool rt = want->sched_policy == SCHED_FIFO || want->sched_policy == SCHED_RR;
	if (a.sched_policy != want->sched_policy || a.sched_flags != want->sched_flags ||
	    (!rt && a.sched_nice != want->sched_nice) || a.sched_priority != want->sched_priority) {
		fprintf(stderr,
			"thread %d: policy %u flags %#" PRIx64 " nice %d prio %u, want %u %#" PRIx64
			" %d %u\n",
			(int)tid, a.sched_policy, a.sched_flags, a.sched_nice, a.sched_priority,
			want->sched_policy, want->sched_flags, want->sched_nice, want->sched_priority);
		fail();
	}
}

/* the target's thread ids, leader first */
static size_t task_ids(pid_t pid, pid_t *tids, size_t max)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	size_t n = 1;
	tids[0] = pid;
	for (struct dirent *de; (de = readdir(d)) && n < max;) {
		int tid = atoi(de->d_name);
		if (tid > 0 && tid != pid)
			tids[n++] = tid;
	}
	closedir(d);
	return n;
}

#define SF_RESET_ON_FORK 0x01
static const SchedAttr sched_variants[] = {
	/* the fair ones first: those also go on busy threads */
	{.sched_policy = SCHED_OTHER, .sched_nice = 19},
	{.sched_policy = SCHED_IDLE, .sched_nice = 3},
	{.sched_policy = SCHED_BATCH, .sched_nice = 7},
	{.sched_policy = SCHED_OTHER, .sched_nice = -5, .sched_flags = SF_RESET_ON_FORK},
	{.sched_policy = SCHED_OTHER},
	/* real-time: left alone by the boost, only ever on a sleeping thread */
	{.sched_policy = SCHED_FIFO, .sched_priority = 7},
	{.sched_policy = SCHED_RR, .sched_priority = 3, .sched_flags = SF_RESET_ON_FORK},
};
#define N_FAIR_VARIANTS 5

/* Whether the kernel lets us make tid SCHED_FIFO (RT group scheduling may
 * give its cgroup no RT budget): then lib/remote's boost works too. */
static bool can_boost(pid_t tid)
{
	SchedAttr old = sched_of(tid);
	if (sched_set(tid, (SchedAttr){.sched_policy = SCHED_FIFO, .sched_priority = 1}) < 0)
		return false;
	assert_int_equal(sched_set(tid, old), 0);
	return true;
}

/* The cpu cgroup without RT budget of test_sched_restored_busy_no_rt_budget
 * (tests/helpers/no-rt-cgroup.h), removed by its teardown. */
static char *no_rt_cgroup;

/* Every thread of the target gets a variant (the leader `v`, the others
 * fair ones in turn); after an enable, a disable and an injected call that
 * fails (the kernel's EINVAL), each thread has exactly its own attributes
 * back. During an injection the traced thread (the leader: it sleeps, or
 * all are busy) runs SCHED_FIFO with reset-on-fork or, with `no_rt` (the
 * target in a cpu cgroup without RT budget), nice -20 with reset-on-fork. */
static void run_sched_restored(const char *mode, bool no_rt, Target *tp)
{
	/* busy: no end of its own (teardown_kill() ends it, also on failure) */
	const char *args[] = {mode, "--threads", "3", "--count", "2000000000", NULL};
	Target t;
	target_start(&t, args);
	*tp = t;
	pid_t tids[8];
	size_t n = task_ids(t.pid, tids, ELEMENTSOF(tids));
	assert_int_equal(n, 3);
	if (no_rt)
		assert_int_equal(no_rt_cgroup_join(no_rt_cgroup, t.pid), 0);
	bool boost = can_boost(t.pid);
	assert_false(no_rt && boost);
	printf("#   %s: SCHED_FIFO %s\n", mode, boost ? "allowed" : "refused by the kernel");
	size_t nv = streq(mode, "read") ? ELEMENTSOF(sched_variants) : N_FAIR_VARIANTS;
	for (size_t v = 0; v < nv; v++) {
		SchedAttr want[8];
		for (size_t i = 0; i < n; i++) {
			want[i] = sched_variants[i == 0 ? v : (v + i) % N_FAIR_VARIANTS];
			assert_int_equal(sched_set(tids[i], want[i]), 0);
		}
		for (size_t i = 0; i < n; i++)
			assert_sched_equal(tids[i], &want[i]);

		assert_int_equal(remote_set_merge_any(t.pidfd, true), 0);
		assert_merge_any(&t, true);
		for (size_t i = 0; i < n; i++)
			assert_sched_equal(tids[i], &want[i]);
		assert_int_equal(remote_set_merge_any(t.pidfd, false), 0);
		assert_merge_any(&t, false);
		for (size_t i = 0; i < n; i++)
			assert_sched_equal(tids[i], &want[i]);
		assert_int_equal(remote_madvise(t.pidfd, 4097, 4096, MADV_MERGEABLE), -EINVAL);
		for (size_t i = 0; i < n; i++)
			assert_sched_equal(tids[i], &want[i]);

		/* the policy (and nice) the traced thread has while it runs our call */
		const uint64_t none[6] = {}, own_priority[6] = {PRIO_PROCESS, 0};
		int64_t during = -1, prio = -1;
		assert_int_equal(remote_syscall(t.pidfd, SYS_sched_getscheduler, none, &during), 0);
		assert_int_equal(remote_syscall(t.pidfd, SYS_getpriority, own_priority, &prio), 0);
		bool fair = v < N_FAIR_VARIANTS;
		int64_t expect = (int64_t)want[0].sched_policy |
				 (want[0].sched_flags & SF_RESET_ON_FORK ? SCHED_RESET_ON_FORK : 0);
		if (fair && boost)
			expect = SCHED_FIFO | SCHED_RESET_ON_FORK;
		else if (fair && no_rt)
			expect = SCHED_OTHER | SCHED_RESET_ON_FORK;
		assert_int_equal(during, expect);
		if (fair && no_rt)
			assert_int_equal(prio, 20 - -20); /* the raw syscall answers 20 - nice */
		for (size_t i = 0; i < n; i++)
			assert_sched_equal(tids[i], &want[i]);
	}
	/* back to the default before the job ends (no spinning thread is
	 * left real-time: there never was one) */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sched_set(tids[i], sched_variants[4]), 0);
	char result[256];
	if (streq(mode, "read")) {
		write_all(t.in_fd, "abc", 3);
		assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
		assert_string_equal(result, "result read 294 3");
	} else {
		assert_int_equal(kill(t.pid, SIGKILL), 0);
		assert_int_equal(target_finish(&t, NULL, 0), 128 + SIGKILL);
	}
	tp->pid = 0;
}

/* A child that looks at tid's scheduling `ms` from now: exits 0 when it
 * sees `want`, 10 for SCHED_FIFO|RESET_ON_FORK priority 1 (the boost). */
static pid_t sched_sample_later(pid_t tid, int ms, const SchedAttr *want)
{
	pid_t w = fork();
	assert_true(w >= 0);
	if (w == 0) {
		usleep((useconds_t)ms * 1000);
		SchedAttr a = {.size = sizeof(a)};
		if (syscall(SYS_sched_getattr, tid, &a, sizeof(a), 0) < 0)
			_exit(2);
		if (a.sched_policy == want->sched_policy && a.sched_nice == want->sched_nice)
			_exit(0);
		_exit(a.sched_policy == SCHED_FIFO && a.sched_priority == 1 &&
				      a.sched_flags == SF_RESET_ON_FORK
			      ? 10
			      : 1);
	}
	return w;
}

static int wait_exit_code(pid_t pid)
{
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* The boost lasts while an injected call sleeps, not while it computes: an
 * injected madvise(MADV_POPULATE_READ) over 8 GiB of untouched read-only
 * memory (only page tables are written: 90 ms per 2 GiB on a quiet machine
 * here, so 2 GiB was too short for a sample 100 ms in) has the thread back
 * at its own priority 100 ms in; an injected poll(NULL, 0, 300 ms) sleeps boosted
 * (it costs nobody anything and runs on at once when it wakes). */
static void test_long_call_unboosted(void **state)
{
	const char *args[] = {"read", "--reserve", "8192", NULL};
	Target t;
	target_start(&t, args);
	assert_true(t.reserve_len == 8192ULL << 20);
	const SchedAttr want = {.sched_policy = SCHED_OTHER, .sched_nice = 5};
	assert_int_equal(sched_set(t.pid, want), 0);
	bool boost = can_boost(t.pid) && access("/proc/self/schedstat", R_OK) == 0;

	pid_t w = sched_sample_later(t.pid, 100, &want);
	int64_t t0 = live_now_ms();
	assert_int_equal(remote_madvise(t.pidfd, t.reserve_addr, t.reserve_len, MADV_POPULATE_READ), 0);
	printf("#   populate: %" PRId64 " ms\n", live_now_ms() - t0);
	assert_true(live_now_ms() - t0 >= 150); /* else the sample came too late to mean anything */
	assert_int_equal(wait_exit_code(w), 0);
	assert_sched_equal(t.pid, &want);

	w = sched_sample_later(t.pid, 100, &want);
	const uint64_t poll_args[6] = {0, 0, 300};
	int64_t v = -1;
	t0 = live_now_ms();
	assert_int_equal(remote_syscall(t.pidfd, SYS_poll, poll_args, &v), 0);
	assert_int_equal(v, 0);
	assert_true(live_now_ms() - t0 >= 300);
	assert_int_equal(wait_exit_code(w), boost ? 10 : 0);
	assert_sched_equal(t.pid, &want);

	write_all(t.in_fd, "abc", 3);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	assert_string_equal(result, "result read 294 3");
}

static int setup_target_slot(void **state)
{
	static Target slot;
	slot = (Target){};
	*state = &slot;
	return 0;
}

/* A target a failed assertion left behind: kill and reap it (it would hold
 * the test's stdout open). */
static int teardown_kill(void **state)
{
	Target *t = *state;
	if (t->pid > 0) {
		(void)kill(t->pid, SIGKILL);
		(void)waitpid(t->pid, NULL, 0);
	}
	return 0;
}

static void test_sched_restored_sleeping(void **state)
{
	run_sched_restored("read", false, *state);
}
static void test_sched_restored_busy(void **state)
{
	run_sched_restored("busy", false, *state);
}

/* The same where SCHED_FIFO is refused: nice -20 during the call, the
 * thread's own attributes back after it. */
static void test_sched_restored_busy_no_rt_budget(void **state)
{
	char name[64];
	snprintf(name, sizeof(name), "pagemeld-live-no-rt-%d", (int)getpid());
	int r = no_rt_cgroup_create(name, &no_rt_cgroup);
	if (r == -ENOENT)
		skip(); /* no RT group scheduling: SCHED_FIFO is never refused for want of budget */
	assert_int_equal(r, 0);
	run_sched_restored("busy", true, *state);
}

static int teardown_kill_no_rt(void **state)
{
	teardown_kill(state);
	if (no_rt_cgroup)
		assert_int_equal(no_rt_cgroup_remove(no_rt_cgroup), 0);
	free(no_rt_cgroup);
	no_rt_cgroup = NULL;
	return 0;
}

/* 1000 enable/disable rounds against one long-running target: 4 threads
 * busy besides the one blocked in read (every 100th round wakes it), each
 * thread at its own scheduling attributes, which it still has at the end.
 * (Not 20 busy threads: the test's own work between the calls and each
 * disable's time off the CPU in the kernel then wait behind them, 30-70 ms
 * a round on 2 CPUs; bench/remote-enable times that target.) */
static void test_thousand_rounds(void **state)
{
	const char *args[] = {"read", "--threads", "5", "--pages", "512", NULL};
	Target t;
	target_start(&t, args);
	*(Target *)*state = t;
	pid_t tids[32];
	size_t n = task_ids(t.pid, tids, ELEMENTSOF(tids));
	assert_int_equal(n, 5);
	SchedAttr want[32];
	for (size_t i = 0; i < n; i++) {
		want[i] = sched_variants[i % N_FAIR_VARIANTS];
		assert_int_equal(sched_set(tids[i], want[i]), 0);
	}
	int failures = 0;
	int64_t t0 = live_now_ms();
	for (int i = 0; i < 1000; i++) {
		int r1 = remote_set_merge_any(t.pidfd, true);
		KsmStat on = stat_of(t.pid);
		int r2 = remote_set_merge_any(t.pidfd, false);
		KsmStat off = stat_of(t.pid);
		bool shows = on.merge_any != KSM_TRISTATE_ABSENT;
		if (r1 != 0 || r2 != 0 ||
		    (shows && (on.merge_any != KSM_TRISTATE_YES || off.merge_any != KSM_TRISTATE_NO))) {
			failures++;
			fprintf(stderr, "round %d: %d %d %d %d\n", i, r1, r2, on.merge_any, off.merge_any);
		}
		if (i % 100 == 0)
			write_all(t.in_fd, "x", 1);
	}
	printf("#   1000 rounds in %" PRId64 " ms, %d failures\n", live_now_ms() - t0, failures);
	assert_int_equal(failures, 0);
	for (size_t i = 0; i < n; i++)
		assert_sched_equal(tids[i], &want[i]);
	cycle(&t, 0, true);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	((Target *)*state)->pid = 0;
	assert_string_equal(result, "result read 1200 10");
}

/* ---- errors ---- */

static void test_dead_and_recycled(void **state)
{
	const char *args[] = {"read", NULL};
	Target t;
	target_start(&t, args);
	int pidfd = t.pidfd;
	t.pidfd = dup(pidfd);
	assert_int_equal(target_finish(&t, NULL, 0), 0); /* reaped: the pid is free */
	pid_t p;
	assert_int_equal(remote_pidfd_get_pid(pidfd, &p), -ESRCH);
	assert_int_equal(remote_set_merge_any(pidfd, true), -ESRCH);
	const uint64_t args6[6] = {};
	int64_t v;
	assert_int_equal(remote_syscall(pidfd, SYS_getpid, args6, &v), -ESRCH);
	close(pidfd);
	/* a pid that is not there at all */
	int fd;
	assert_int_equal(remote_pidfd_open(0x3fffffff, &fd), -ESRCH);
}

/* The pid is recycled for a new process (clone3 set_tid puts it exactly
 * there): the old pidfd must not reach the new process. */
static void test_recycled_pid(void **state)
{
	const char *args[] = {"read", NULL};
	Target t;
	target_start(&t, args);
	pid_t old = t.pid;
	int pidfd = t.pidfd;
	t.pidfd = dup(pidfd);
	assert_int_equal(target_finish(&t, NULL, 0), 0);

	int out[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	int in[2];
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	pid_t tid = old;
	struct clone_args ca = {.exit_signal = SIGCHLD, .set_tid = (uintptr_t)&tid, .set_tid_size = 1};
	long c = syscall(SYS_clone3, &ca, sizeof(ca));
	if (c < 0 && (errno == EEXIST || errno == EBUSY)) {
		/* someone took the pid first: nothing to prove this time */
		printf("#   pid %d taken meanwhile: %m\n", (int)old);
		close(pidfd);
		return;
	}
	assert_true(c >= 0);
	if (c == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execl(target_path(), target_path(), "read", NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	assert_int_equal(c, old);
	Target n = {.pid = (pid_t)c, .in_fd = in[1], .out_fd = out[0], .out = fdopen(out[0], "r")};
	char line[128];
	assert_non_null(fgets(line, sizeof(line), n.out));
	assert_true(startswith(line, "ready "));

	assert_int_equal(remote_set_merge_any(pidfd, true), -ESRCH);
	assert_int_equal(remote_set_merge_any(pidfd, false), -ESRCH);
	close(pidfd);
	/* untouched: not merging, not traced, and its job goes on */
	if (kernel_shows_merge_any())
		assert_int_equal(stat_of(n.pid).merge_any, KSM_TRISTATE_NO);
	assert_int_equal(remote_pidfd_open(n.pid, &n.pidfd), 0);
	write_all(n.in_fd, "abc", 3);
	char result[256];
	assert_int_equal(target_finish(&n, result, sizeof(result)), 0);
	assert_string_equal(result, "result read 294 3");
}

/* madvise(MADV_MERGEABLE) on one range, run inside the target: that range
 * merges with merge-any off; MADV_UNMERGEABLE takes it back. */
static void test_madvise_range(void **state)
{
	const char *args[] = {"read", "--pages", "512", NULL};
	Target t;
	target_start(&t, args);
	assert_int_equal(t.pages_len, TARGET_PAGES * (uint64_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(remote_madvise(t.pidfd, t.pages_addr, t.pages_len, MADV_MERGEABLE), 0);
	KsmStat st = stat_of(t.pid);
	if (st.mergeable != KSM_TRISTATE_ABSENT)
		assert_int_equal(st.mergeable, KSM_TRISTATE_YES);
	assert_merge_any(&t, false);
	int64_t t0 = live_now_ms();
	do {
		usleep(10000);
		st = stat_of(t.pid);
	} while (st.merging_pages < TARGET_PAGES / 2 && live_now_ms() - t0 < MERGE_TIMEOUT_MS);
	printf("#   madvised range: %" PRIu64 " pages merging\n", st.merging_pages);
	assert_true(st.merging_pages >= TARGET_PAGES / 2);
	assert_int_equal(remote_madvise(t.pidfd, t.pages_addr, t.pages_len, MADV_UNMERGEABLE), 0);
	t0 = live_now_ms();
	do {
		st = stat_of(t.pid);
		if (st.merging_pages == 0)
			break;
		usleep(10000);
	} while (live_now_ms() - t0 < MERGE_TIMEOUT_MS);
	assert_int_equal(st.merging_pages, 0);
	if (st.mergeable != KSM_TRISTATE_ABSENT)
		assert_int_equal(st.mergeable, KSM_TRISTATE_NO);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	assert_string_equal(result, "result read 0 0");
}

static void test_injected_errno_and_syscall(void **state)
{
	const char *args[] = {"read", NULL};
	Target t;
	target_start(&t, args);
	const uint64_t none[6] = {};
	int64_t v = 0;
	/* PR_GET_MEMORY_MERGE by injection (remote_get_merge_any's path on
	 * kernels before 6.14) agrees with ksm_stat */
	const uint64_t get[6] = {68 /* PR_GET_MEMORY_MERGE */};
	assert_int_equal(remote_set_merge_any(t.pidfd, true), 0);
	assert_int_equal(remote_syscall(t.pidfd, SYS_prctl, get, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(remote_set_merge_any(t.pidfd, false), 0);
	assert_int_equal(remote_syscall(t.pidfd, SYS_prctl, get, &v), 0);
	assert_int_equal(v, 0);
	/* getpid runs in the target: its pid comes back */
	assert_int_equal(remote_syscall(t.pidfd, SYS_getpid, none, &v), 0);
	assert_int_equal(v, t.pid);
	/* the kernel's own errno passes through */
	assert_int_equal(remote_madvise(t.pidfd, 4097, 4096, MADV_MERGEABLE), -EINVAL);
	const uint64_t bad[6] = {9999};
	assert_int_equal(remote_syscall(t.pidfd, SYS_prctl, bad, &v), 0);
	assert_int_equal(v, -EINVAL);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	assert_string_equal(result, "result read 0 0");
}

static void test_already_traced(void **state)
{
	const char *args[] = {"read", NULL};
	Target t;
	target_start(&t, args);
	/* a debugger: a forked tracer that seizes it and waits to be told */
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t dbg = fork();
	assert_true(dbg >= 0);
	if (dbg == 0) {
		close(go[1]);
		if (ptrace(PTRACE_SEIZE, t.pid, NULL, NULL) < 0)
			_exit(1);
		char c;
		(void)!write(STDOUT_FILENO, "", 0);
		(void)!read(go[0], &c, 1);
		_exit(0);
	}
	close(go[0]);
	/* wait until it traces */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)t.pid);
	int64_t t0 = live_now_ms();
	for (;;) {
		char buf[4096];
		FILE *f = fopen(path, "re");
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		if (!strstr(buf, "TracerPid:\t0\n"))
			break;
		assert_true(live_now_ms() - t0 < 10000);
		usleep(1000);
	}
	assert_int_equal(remote_set_merge_any(t.pidfd, true), -EBUSY);
	close(go[1]);
	int status;
	assert_int_equal(waitpid(dbg, &status, 0), dbg);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the debugger is gone: now it works */
	assert_int_equal(remote_set_merge_any(t.pidfd, true), 0);
	assert_merge_any(&t, true);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
}

/* ---- hostile tenants: a seccomp filter on the injected prctl ---- */

#define HOSTILE_STALL_MS 200
/* stall deadline + interrupt grace (100 ms) + a loaded machine's slack */
#define HOSTILE_BOUND_MS (HOSTILE_STALL_MS + 100 + 400)

/* A hex or decimal field of /proc/PID/status (the leader's). */
static uint64_t status_u64(pid_t pid, const char *key, int base)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	uint64_t v = UINT64_MAX;
	size_t n = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, base);
	fclose(f);
	assert_true(v != UINT64_MAX);
	return v;
}

/* One call against a filtered target: its result, and how long it took. */
static int timed_switch(Target *t, int64_t *ret_ms)
{
	int64_t t0 = live_now_ms();
	int r = remote_set_merge_any(t->pidfd, true);
	*ret_ms = live_now_ms() - t0;
	return r;
}

/* Never answered: the injected prctl waits in the filter until our
 * deadline, is interrupted (the notification is withdrawn), and the thread
 * is put back as it was: a sleeping reader re-issues its read, a busy
 * thread computes on; the mask, the scheduling, the result are intact,
 * and the caller was back within the bound. */
static void test_seccomp_notif_unanswered(void **state)
{
	remote_set_timeouts(HOSTILE_STALL_MS * 1000, 0);
	const char *args[] = {"read", "--threads", "4", "--seccomp", "notif", NULL};
	Target t;
	target_start(&t, args);
	const SchedAttr want = sched_of(t.pid);
	uint64_t blk = status_u64(t.pid, "SigBlk", 16);
	for (int i = 0; i < 3; i++) {
		int64_t ms;
		assert_int_equal(timed_switch(&t, &ms), -ETIMEDOUT);
		printf("#   user-notification never answered: -ETIMEDOUT after %" PRId64 " ms\n", ms);
		assert_true(ms >= HOSTILE_STALL_MS - 10 && ms < HOSTILE_BOUND_MS);
		assert_int_equal(status_u64(t.pid, "TracerPid", 10), 0);
		assert_int_equal(status_u64(t.pid, "SigBlk", 16), blk);
		assert_sched_equal(t.pid, &want);
	}
	assert_int_equal(remote_drain(), 0);
	if (kernel_shows_merge_any())
		assert_int_equal(stat_of(t.pid).merge_any, KSM_TRISTATE_NO);
	write_all(t.in_fd, "abc", 3);
	char result[256];
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	assert_string_equal(result, "result read 294 3");

	/* a thread stopped while computing (no syscall to piggyback on) */
	const char *busy[] = {"busy", "--count", "400000", "--seccomp", "notif", "--go", NULL};
	target_start(&t, busy);
	write_all(t.in_fd, "go\n", 3);
	int64_t ms;
	int r = timed_switch(&t, &ms);
	printf("#   busy target: %s after %" PRId64 " ms\n", r < 0 ? strerror(-r) : "ok", ms);
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(ms < HOSTILE_BOUND_MS);
	assert_int_equal(status_u64(t.pid, "TracerPid", 10), 0);
	assert_true(task_state(t.pid) == 'R' || task_state(t.pid) == 'S');
	assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
	assert_true(startswith(result, "result busy "));
	remote_set_timeouts(0, 0);
}

/* Received but never answered, with WAIT_KILLABLE_RECV: from then on only a
 * fatal signal ends the wait, our interrupt does not. The caller is back
 * within the bound all the same; the thread stays traced ("parked", -EBUSY
 * to a second call) until the tenant answers, then remote_drain() restores
 * and detaches it. More than 16 at once: every one is detached. */
#define N_PARKED 20
static void test_seccomp_notif_killable(void **state)
{
	remote_set_timeouts(HOSTILE_STALL_MS * 1000, 0);
	/* answered 8 s after receipt: after the last target's timeout */
	const char *args[] = {"read", "--seccomp", "notif-recv", "--ms", "8000", NULL};
	Target t[N_PARKED];
	uint64_t blk[N_PARKED];
	int64_t worst = 0;
	for (int i = 0; i < N_PARKED; i++) {
		target_start(&t[i], args);
		blk[i] = status_u64(t[i].pid, "SigBlk", 16);
		int64_t ms;
		assert_int_equal(timed_switch(&t[i], &ms), -ETIMEDOUT);
		worst = MAX(worst, ms);
		assert_true(ms < HOSTILE_BOUND_MS);
		assert_int_equal(status_u64(t[i].pid, "TracerPid", 10), (uint64_t)syscall(SYS_gettid));
	}
	printf("#   %d killable waits: each -ETIMEDOUT within %" PRId64 " ms\n", N_PARKED, worst);
	int64_t t0 = live_now_ms();
	assert_int_equal(remote_set_merge_any(t[0].pidfd, true), -EBUSY);
	assert_true(live_now_ms() - t0 < 100);
	assert_int_equal(remote_drain(), N_PARKED);
	t0 = live_now_ms();
	int left;
	while ((left = remote_drain()) > 0) {
		assert_true(live_now_ms() - t0 < 30000);
		usleep(20000);
	}
	printf("#   all %d restored and detached %" PRId64 " ms after the last timeout\n", N_PARKED,
	       live_now_ms() - t0);
	for (int i = 0; i < N_PARKED; i++) {
		assert_int_equal(status_u64(t[i].pid, "TracerPid", 10), 0);
		assert_int_equal(status_u64(t[i].pid, "SigBlk", 16), blk[i]);
		/* registers back: the read re-issued, the job's result right */
		write_all(t[i].in_fd, "abc", 3);
		char result[256];
		assert_int_equal(target_finish(&t[i], result, sizeof(result)), 0);
		assert_string_equal(result, "result read 294 3");
	}
	remote_set_timeouts(0, 0);
}

/* SECCOMP_RET_KILL_PROCESS, or KILL_THREAD in a single-threaded process:
 * the tenant's filter kills it for our call. Its own choice; we answer
 * -ESRCH at once, and the parent still reaps it (killed by SIGSYS). */
static void test_seccomp_kill(void **state)
{
	static const char *const kinds[] = {"kill", "kill-thread"};
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		const char *args[] = {"read", "--seccomp", kinds[i], NULL};
		Target t;
		target_start(&t, args);
		int64_t ms;
		assert_int_equal(timed_switch(&t, &ms), -ESRCH);
		printf("#   %s: -ESRCH after %" PRId64 " ms\n", kinds[i], ms);
		assert_true(ms < HOSTILE_BOUND_MS);
		assert_int_equal(target_finish(&t, NULL, 0), 128 + SIGSYS);
	}
	/* KILL_THREAD in a threaded process: only our thread (the leader)
	 * dies, the process lives on without it (-EPERM: refused, not gone);
	 * the dead leader stays ours in name (TracerPid) until the process
	 * exits: the kernel lets no one detach or reap it before */
	const char *args[] = {"read", "--threads", "4", "--seccomp", "kill-thread", NULL};
	Target t;
	target_start(&t, args);
	int64_t ms;
	int r = timed_switch(&t, &ms);
	printf("#   kill-thread, 4 threads: %d after %" PRId64 " ms\n", r, ms);
	assert_int_equal(r, -EPERM);
	assert_true(ms < HOSTILE_BOUND_MS);
	assert_int_equal(task_state(t.pid), 'Z');
	assert_int_equal(remote_set_merge_any(t.pidfd, true), -ESRCH);
	kill(t.pid, SIGKILL);
	assert_int_equal(target_finish(&t, NULL, 0), 128 + SIGKILL);
	assert_int_equal(remote_drain(), 0);
}

/* The tracer's side of test_seccomp_kill_thread_other_parent(), in a child
 * (as pagemeldd's helpers are): exit code 0 when all held, else which
 * step failed. */
static _noreturn_ void kill_thread_tracer(int pidfd, int sock)
{
	if (remote_set_merge_any(pidfd, true) != -EPERM)
		_exit(10);
	/* the dead leader is held back: one exit waits, with its pidfd */
	int fd;
	if (remote_drain() != 0 || remote_drain_fds(&fd, 1) != 1)
		_exit(11);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) != 0)
		_exit(12);
	if (send(sock, "k", 1, MSG_NOSIGNAL) != 1) /* now kill the process */
		_exit(13);
	if (poll(&p, 1, 10000) != 1)
		_exit(14);
	if (remote_drain() != 0 || remote_drain_fds(&fd, 1) != 0)
		_exit(15);
	/* alive until the parent has reaped it: our own exit would pass the
	 * exit on too, and hide the bug */
	char c;
	_exit(recv(sock, &c, 1, 0) == 1 ? 0 : 16);
}

/* KILL_THREAD in a threaded process whose parent is not the tracer (a
 * container's runtime, pagemeldd's helper): the dead leader's exit reaches
 * the tracer only once the whole process is gone, and its parent can reap
 * it only after the tracer has taken it. remote_drain_fds() wakes the
 * tracer for that, remote_drain() passes the exit on: the parent reaps it
 * while the tracer lives on. */
static void test_seccomp_kill_thread_other_parent(void **state)
{
	const char *args[] = {"read", "--threads", "4", "--seccomp", "kill-thread", NULL};
	Target t;
	target_start(&t, args);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t tracer = fork();
	assert_true(tracer >= 0);
	if (tracer == 0)
		kill_thread_tracer(t.pidfd, sv[1]);
	close(sv[1]);
	char c = 0;
	bool injected = recv(sv[0], &c, 1, 0) == 1;
	assert_int_equal(kill(t.pid, SIGKILL), 0);
	int status = 0;
	pid_t got = 0;
	int64_t t0 = live_now_ms();
	while ((got = waitpid(t.pid, &status, WNOHANG)) == 0 && live_now_ms() - t0 < 10000)
		usleep(1000);
	int64_t ms = live_now_ms() - t0;
	(void)send(sv[0], "x", 1, MSG_NOSIGNAL);
	close(sv[0]);
	int tstatus;
	assert_int_equal(waitpid(tracer, &tstatus, 0), tracer);
	if (got == 0) /* the tracer's exit has passed it on by now */
		got = waitpid(t.pid, &status, 0);
	fclose(t.out);
	close(t.in_fd);
	close(t.pidfd);
	printf("#   reaped by its parent %" PRId64 " ms after SIGKILL; tracer exit %d\n", ms,
	       WIFEXITED(tstatus) ? WEXITSTATUS(tstatus) : 128 + WTERMSIG(tstatus));
	assert_true(injected);
	assert_true(WIFEXITED(tstatus));
	assert_int_equal(WEXITSTATUS(tstatus), 0);
	assert_int_equal(got, t.pid);
	assert_true(ms < 10000);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* SECCOMP_RET_ERRNO: the filter's errno comes back as the call's own;
 * SECCOMP_RET_TRAP: refused (-EPERM), and the SIGSYS our call raised is
 * taken away before the tenant's handler could see it (it counts any as a
 * failure). Both targets run on with the right result. */
static void test_seccomp_errno_trap(void **state)
{
	static const char *const kinds[] = {"errno", "trap"};
	static const int want[] = {-EACCES, -EPERM};
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
		for (int threads = 1; threads <= 4; threads += 3) {
			char nthreads[8];
			snprintf(nthreads, sizeof(nthreads), "%d", threads);
			const char *args[] = {"read", "--threads", nthreads, "--seccomp", kinds[i], NULL};
			Target t;
			target_start(&t, args);
			uint64_t blk = status_u64(t.pid, "SigBlk", 16);
			for (int round = 0; round < 20; round++) {
				int64_t ms;
				assert_int_equal(timed_switch(&t, &ms), want[i]);
				assert_true(ms < HOSTILE_BOUND_MS);
			}
			assert_int_equal(status_u64(t.pid, "TracerPid", 10), 0);
			assert_int_equal(status_u64(t.pid, "SigBlk", 16), blk);
			write_all(t.in_fd, "abc", 3);
			char result[256];
			assert_int_equal(target_finish(&t, result, sizeof(result)), 0);
			assert_string_equal(result, "result read 294 3");
		}
	}
}

static volatile sig_atomic_t sigchld_seen;

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_seen++;
}

static bool sigchld_in(int how_pending)
{
	sigset_t set;
	if (how_pending)
		assert_int_equal(sigpending(&set), 0);
	else
		assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &set), 0);
	return sigismember(&set, SIGCHLD) == 1;
}

/* The tracer's waits end on the SIGCHLD of each ptrace stop, SIGCHLD
 * blocked meanwhile: the caller's mask is its own again after a call, one
 * that blocks SIGCHLD itself finds one pending for it (its children's
 * SIGCHLDs are not lost to our waits), a handler hears of them, and a
 * caller that ignores SIGCHLD (no signal comes) still gets through. */
static void test_tracer_sigchld(void **state)
{
	const char *args[] = {"read", "--threads", "1", "--pages", "512", NULL};
	struct sigaction ignore = {.sa_handler = SIG_IGN}, count = {.sa_handler = on_sigchld}, old;
	sigset_t chld;
	Target t;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	target_start(&t, args);

	assert_false(sigchld_in(false));
	cycle(&t, 3, false);
	assert_false(sigchld_in(false));

	assert_int_equal(sigprocmask(SIG_BLOCK, &chld, NULL), 0);
	cycle(&t, 1, false);
	assert_true(sigchld_in(false));
	assert_true(sigchld_in(true));

	assert_int_equal(sigaction(SIGCHLD, &count, &old), 0);
	sigchld_seen = 0;
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &chld, NULL), 0);
	assert_true(sigchld_seen > 0);
	sigchld_seen = 0;
	cycle(&t, 1, false);
	assert_true(sigchld_seen > 0);

	assert_int_equal(sigaction(SIGCHLD, &ignore, NULL), 0);
	int64_t t0 = live_now_ms();
	cycle(&t, 3, false);
	printf("#   3 rounds with SIGCHLD ignored: %" PRId64 " ms\n", live_now_ms() - t0);
	/* back before it exits: an ignored SIGCHLD would reap it for us */
	assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
	assert_int_equal(target_finish(&t, NULL, 0), 0);
}

/* ptrace refused: an unprivileged caller (uid 65534) against a target of
 * the same uid that made itself non-dumpable. */
static void test_refused(void **state)
{
	int rp[2];
	assert_int_equal(pipe(rp), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(rp[0]);
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(90);
		int sync[2];
		if (pipe(sync) < 0)
			_exit(91);
		pid_t target = fork();
		if (target == 0) {
			prctl(PR_SET_DUMPABLE, 0);
			close(sync[0]);
			close(sync[1]);
			pause();
			_exit(0);
		}
		usleep(100000);
		int fd, r = remote_pidfd_open(target, &fd);
		if (r == 0)
			r = remote_set_merge_any(fd, true);
		int r2 = 0;
		if (r == -EPERM) {
			/* and a dumpable sibling of the same uid works */
			pid_t ok = fork();
			if (ok == 0) {
				/* setuid() left the mm non-dumpable */
				prctl(PR_SET_DUMPABLE, 1);
				pause();
				_exit(0);
			}
			usleep(50000);
			int fd2;
			r2 = remote_pidfd_open(ok, &fd2);
			if (r2 == 0)
				r2 = remote_set_merge_any(fd2, true);
			kill(ok, SIGKILL);
			waitpid(ok, NULL, 0);
		}
		kill(target, SIGKILL);
		waitpid(target, NULL, 0);
		int res[2] = {r, r2};
		(void)!write(rp[1], res, sizeof(res));
		_exit(0);
	}
	close(rp[1]);
	int res[2] = {1, 1};
	assert_int_equal(read(rp[0], res, sizeof(res)), (ssize_t)sizeof(res));
	close(rp[0]);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(res[0], -EPERM);
	assert_int_equal(res[1], 0);
}

int main(void)
{
	live_setup();
	assert_int_equal(live_ksm_start(5000, 10), 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_1),
		cmocka_unit_test(test_read_20),
		cmocka_unit_test(test_epoll_1),
		cmocka_unit_test(test_futex_1),
		cmocka_unit_test(test_futex_20),
		cmocka_unit_test(test_futex_timeout),
		cmocka_unit_test(test_nanosleep),
		cmocka_unit_test(test_nanosleep_long),
		cmocka_unit_test(test_wait4),
		cmocka_unit_test(test_busy_1),
		cmocka_unit_test(test_busy_20),
		cmocka_unit_test(test_signal_stream),
		cmocka_unit_test(test_exit_during),
		cmocka_unit_test(test_stopped_target),
		cmocka_unit_test_setup_teardown(test_thousand_rounds, setup_target_slot, teardown_kill),
		cmocka_unit_test_setup_teardown(test_sched_restored_sleeping, setup_target_slot,
						teardown_kill),
		cmocka_unit_test_setup_teardown(test_sched_restored_busy, setup_target_slot, teardown_kill),
		cmocka_unit_test_setup_teardown(test_sched_restored_busy_no_rt_budget, setup_target_slot,
						teardown_kill_no_rt),
		cmocka_unit_test(test_long_call_unboosted),
		cmocka_unit_test(test_dead_and_recycled),
		cmocka_unit_test(test_epoll_signals),
		cmocka_unit_test(test_recycled_pid),
		cmocka_unit_test(test_uninterruptible),
		cmocka_unit_test(test_madvise_range),
		cmocka_unit_test(test_injected_errno_and_syscall),
		cmocka_unit_test(test_already_traced),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_tracer_sigchld),
		cmocka_unit_test(test_seccomp_notif_unanswered),
		cmocka_unit_test(test_seccomp_notif_killable),
		cmocka_unit_test(test_seccomp_kill),
		cmocka_unit_test(test_seccomp_kill_thread_other_parent),
		cmocka_unit_test(test_seccomp_errno_trap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
