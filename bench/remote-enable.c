/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * remote-enable: how long one remote_set_merge_any(pidfd, true) takes
 * (target: median under 200 µs), on
 *   - an idle target (its one thread blocked in read(2)),
 *   - a 20-thread busy target (every thread spinning, the leader too),
 *   - the busy target confined to CPU 1 and the caller on CPU 0,
 *   - the busy target in a cpu cgroup without RT budget (cgroup v1 with RT
 *     group scheduling, as runc and podman leave containers there): the
 *     kernel refuses SCHED_FIFO to its threads and lib/remote falls back to
 *     nice -20 for the traced thread,
 *   - the idle and the busy target again with CAP_SYS_NICE dropped from our
 *     effective set: the kernel then refuses lib/remote's SCHED_FIFO boost
 *     of the traced thread and of the tracer, and the injection runs
 *     unboosted, as it does under RestrictRealtime= or RT group scheduling,
 * N rounds each (default 1000): enable timed, then an untimed disable.
 * Prints median, p90, p99, max per case, and the backend in use.
 *
 *   build/bench/remote-enable [--rounds N] [--threads T]
 *
 * Root (ptrace of a child works unprivileged too, but the KSM test lock
 * lives in /run/lock). Takes that lock so no live test's counters see our
 * merge-any targets.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "no-rt-cgroup.h"
#include "remote.h"

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void *spin(void *arg)
{
	volatile uint64_t x = 0;
	for (;;)
		x++;
	return NULL;
}

/* A child: `threads` spinning threads (the leader among them), or, with
 * threads == 0, one thread blocked reading a pipe nobody writes. */
static void pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static pid_t start_target(int threads, int cpu, int *ret_keep)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[1]);
		pin(cpu);
		if (threads == 0) {
			char c;
			(void)!read(p[0], &c, 1);
			_exit(0);
		}
		for (int i = 1; i < threads; i++) {
			pthread_t t;
			pthread_create(&t, NULL, spin, NULL);
		}
		spin(NULL);
	}
	close(p[0]);
	*ret_keep = p[1];
	usleep(200000); /* let it settle (threads started, blocked) */
	return pid;
}

/* CAP_SYS_NICE in or out of this (single-threaded) process's effective set;
 * it stays permitted. */
static int set_cap_sys_nice(bool on)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {};
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	if (on)
		d[0].effective |= 1U << CAP_SYS_NICE;
	else
		d[0].effective &= ~(1U << CAP_SYS_NICE);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

/* cpu >= 0: the target on that CPU, the caller on CPU 0 (as a container
 * confined by a cpuset leaves the daemon a CPU of its own); !boost: without
 * CAP_SYS_NICE; cgroup: the target in that cpu cgroup */
static int run_case(const char *name, int threads, bool boost, int cpu, const char *cgroup, int rounds)
{
	int keep;
	cpu_set_t old_set;
	sched_getaffinity(0, sizeof(old_set), &old_set);
	pid_t pid = start_target(threads, cpu, &keep);
	if (cpu >= 0)
		pin(0);
	if (pid < 0)
		return -1;
	int r;
	if (cgroup && (r = no_rt_cgroup_join(cgroup, pid)) < 0) {
		fprintf(stderr, "moving the target into %s: %s\n", cgroup, strerror(-r));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	int pidfd;
	r = remote_pidfd_open(pid, &pidfd);
	if (r < 0) {
		fprintf(stderr, "pidfd_open: %s\n", strerror(-r));
		return -1;
	}
	if (!boost && (r = set_cap_sys_nice(false)) < 0) {
		fprintf(stderr, "dropping CAP_SYS_NICE: %s\n", strerror(-r));
		return -1;
	}

	int64_t *t = calloc((size_t)rounds, sizeof(int64_t));
	int failures = 0;
	int64_t start = now_ns();
	for (int i = 0; i < rounds; i++) {
		int64_t t0 = now_ns();
		r = remote_set_merge_any(pidfd, true);
		t[i] = now_ns() - t0;
		if (r < 0) {
			failures++;
			fprintf(stderr, "enable: %s\n", strerror(-r));
		}
		if (remote_set_merge_any(pidfd, false) < 0)
			failures++;
	}
	int64_t total = now_ns() - start;
	if (!boost)
		(void)set_cap_sys_nice(true);
	sched_setaffinity(0, sizeof(old_set), &old_set);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(keep);
	close(pidfd);

	qsort(t, (size_t)rounds, sizeof(int64_t), cmp64);
	printf("%-42s rounds=%d failures=%d median=%.1fus p90=%.1fus p99=%.1fus max=%.1fus (%.1f s)\n", name,
	       rounds, failures, t[rounds / 2] / 1e3, t[rounds * 9 / 10] / 1e3, t[rounds * 99 / 100] / 1e3,
	       t[rounds - 1] / 1e3, total / 1e9);
	free(t);
	return failures ? -1 : 0;
}

int main(int argc, char **argv)
{
	int rounds = 1000, threads = 20;
	static const struct option opts[] = {
		{"rounds", required_argument, NULL, 'r'},
		{"threads", required_argument, NULL, 't'},
		{},
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 't')
			threads = atoi(optarg);
		else
			return 2;
	}
	if (rounds < 10 || threads < 1)
		return 2;

	int lock = open("/run/lock/pagemeld-ksm-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		fprintf(stderr, "warning: KSM test lock not taken: %m\n");

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("remote-enable: backend=%s cpus=%ld\n", remote_backend_name(remote_backend()), ncpu);
	int r = 0;
	r |= run_case("idle (blocked in read)", 0, true, -1, NULL, rounds);
	char name[64];
	snprintf(name, sizeof(name), "busy %d threads", threads);
	r |= run_case(name, threads, true, -1, NULL, rounds);
	if (ncpu >= 2) {
		snprintf(name, sizeof(name), "busy %d threads on CPU 1, caller on CPU 0", threads);
		r |= run_case(name, threads, true, 1, NULL, rounds);
	}
	_cleanup_free_ char *no_rt = NULL;
	char group[64];
	snprintf(group, sizeof(group), "pagemeld-bench-no-rt-%d", (int)getpid());
	int k = no_rt_cgroup_create(group, &no_rt);
	if (k == 0) {
		snprintf(name, sizeof(name), "busy %d threads, no RT budget (nice -20)", threads);
		r |= run_case(name, threads, true, -1, no_rt, rounds);
		(void)no_rt_cgroup_remove(no_rt);
	} else
		printf("(no cpu cgroup without RT budget: %s; RT group scheduling absent?)\n", strerror(-k));
	r |= run_case("idle, unboosted (no CAP_SYS_NICE)", 0, false, -1, NULL, rounds);
	snprintf(name, sizeof(name), "busy %d threads, unboosted", threads);
	r |= run_case(name, threads, false, -1, NULL, rounds);
	return r ? 1 : 0;
}
