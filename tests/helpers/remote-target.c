/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * remote-target: a process for the remote-control torture tests. It holds
 * --pages identical pages (so KSM has something to merge once merge-any is
 * switched on from outside), does one known job in its main thread, and
 * --threads N-1 extra threads that checksum a buffer in a loop. At the end
 * it prints "result <mode> <value> [extra]" and exits 0 when every
 * self-check held, 3 when one did not.
 *
 *   remote-target MODE [--threads N] [--count C] [--ms M] [--pages P] [--reserve MIB] [--go]
 *                      [--seccomp KIND]
 *
 * MODE (what the main thread does, blocking where it says):
 *   read      sum the bytes read from stdin until EOF          -> byte sum, count
 *   epoll     the same, waiting in epoll_wait before each read -> byte sum, EINTRs seen
 *   futex     C times: FUTEX_WAIT until a helper thread bumps the word every M ms
 *   futex-timeout   the same with a 10 s timeout (restart_block path)
 *   nanosleep C relative sleeps of M ms each; checks none returned early or EINTR
 *   wait4     C times: fork a child that sleeps M ms and exits 42; wait4 it
 *   busy      checksum a buffer C times (no syscalls)           -> checksum
 *   signals   read stdin until EOF while counting SIGRTMIN (sigqueue values)
 *             -> signals seen, sum of their values
 *   epoll-signals  epoll loop (no timeout) on stdin while counting SIGRTMIN
 *             with a handler without SA_RESTART -> signals seen, EINTRs seen
 *   exit      busy loop; a thread calls exit(7) after M ms
 *   vfork     C times: vfork a child that sleeps M ms and _exits 5; the
 *             parent sits in an uninterruptible wait meanwhile
 *
 * "ready <pid> <pages address> <pages length>" goes to stdout once pages and
 * threads are set up; with --reserve, followed by "<address> <length>" of
 * that many MiB mapped read-only and never touched (for an injected
 * madvise(MADV_POPULATE_READ) that computes for a while).
 *
 * --go: after "ready", wait for a line on stdin before the job starts, so a
 * test's checks on the idle target cannot outlast a timed job (modes that
 * do not read stdin).
 *
 * --seccomp KIND: before any thread starts, a hostile tenant's filter on
 * prctl(PR_SET_MEMORY_MERGE, ...) (nothing else) for every thread:
 *   notif       SECCOMP_RET_USER_NOTIF, the listener never read
 *   notif-recv  the same with WAIT_KILLABLE_RECV: a thread receives the
 *               notification (from then on only a fatal signal ends the wait)
 *               and answers EPERM --ms M later
 *   kill        SECCOMP_RET_KILL_PROCESS (RLIMIT_CORE 0: no core file)
 *   kill-thread SECCOMP_RET_KILL_THREAD
 *   errno       SECCOMP_RET_ERRNO with EACCES
 *   trap        SECCOMP_RET_TRAP; a SIGSYS handler that counts as a failed
 *               self-check (the tenant never calls prctl itself)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long opt_count = 100, opt_ms = 1, opt_pages = 256, opt_reserve_mib;
static int opt_threads = 1;
static bool opt_go;
static const char *opt_seccomp;
static atomic_int stop_workers;
static atomic_int failed;

#define BUF_WORDS 4096

static uint64_t checksum(const uint64_t *b, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void fill(uint64_t *b, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed += 0x9e3779b97f4a7c15ULL;
		uint64_t z = seed;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		b[i] = z ^ (z >> 31);
	}
}

static void *worker(void *arg)
{
	uint64_t *b = malloc(BUF_WORDS * sizeof(uint64_t));
	if (!b)
		abort();
	fill(b, BUF_WORDS, (uintptr_t)arg);
	uint64_t want = checksum(b, BUF_WORDS);
	long rounds = 0;
	while (!atomic_load(&stop_workers)) {
		if (checksum(b, BUF_WORDS) != want)
			atomic_store(&failed, 1);
		rounds++;
	}
	free(b);
	return (void *)rounds;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static _Atomic uint32_t futex_word;

static void *futex_bumper(void *arg)
{
	for (long i = 0; i < opt_count; i++) {
		sleep_ms(opt_ms);
		atomic_fetch_add(&futex_word, 1);
		syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

static int job_futex(bool timeout, uint64_t *value, uint64_t *extra)
{
	pthread_t t;
	if (pthread_create(&t, NULL, futex_bumper, NULL) != 0)
		return -1;
	uint32_t seen = 0;
	long eintr = 0;
	while (seen < (uint32_t)opt_count) {
		struct timespec to = {.tv_sec = 10};
		long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, seen, timeout ? &to : NULL, NULL,
				 0);
		if (r < 0 && errno == EINTR)
			eintr++;
		else if (r < 0 && errno == ETIMEDOUT)
			atomic_store(&failed, 1);
		seen = atomic_load(&futex_word);
	}
	pthread_join(t, NULL);
	*value = seen;
	*extra = (uint64_t)eintr;
	/* FUTEX_WAIT restarts transparently: no EINTR without a handler */
	if (eintr != 0)
		atomic_store(&failed, 1);
	return 0;
}

static int job_nanosleep(uint64_t *value, uint64_t *extra)
{
	int64_t worst_late = 0;
	for (long i = 0; i < opt_count; i++) {
		struct timespec ts = {.tv_sec = opt_ms / 1000, .tv_nsec = (opt_ms % 1000) * 1000000L};
		int64_t t0 = now_ns();
		/* the raw syscall: glibc would hide nothing here, but be sure */
		long r = syscall(SYS_nanosleep, &ts, &ts);
		int64_t el = now_ns() - t0;
		if (r != 0 || el < opt_ms * 1000000LL) {
			fprintf(stderr, "nanosleep %ld: r=%ld errno=%d elapsed=%" PRId64 "ns\n", i, r, errno,
				el);
			atomic_store(&failed, 1);
		}
		if (el - opt_ms * 1000000LL > worst_late)
			worst_late = el - opt_ms * 1000000LL;
	}
	*value = (uint64_t)opt_count;
	*extra = (uint64_t)(worst_late / 1000); /* µs: a re-issued sleep would add a whole period */
	return 0;
}

static int job_wait4(uint64_t *value, uint64_t *extra)
{
	long ok = 0;
	for (long i = 0; i < opt_count; i++) {
		pid_t c = fork();
		if (c < 0)
			return -1;
		if (c == 0) {
			sleep_ms(opt_ms);
			_exit(42);
		}
		int status;
		pid_t w = (pid_t)syscall(SYS_wait4, c, &status, 0, NULL);
		if (w != c || !WIFEXITED(status) || WEXITSTATUS(status) != 42) {
			fprintf(stderr, "wait4: got %d status %#x errno %d\n", (int)w, status, errno);
			atomic_store(&failed, 1);
		} else
			ok++;
	}
	*value = (uint64_t)ok;
	*extra = 0;
	return 0;
}

static int job_read(bool use_epoll, uint64_t *value, uint64_t *extra)
{
	int ep = -1;
	uint64_t sum = 0, eintr = 0, n = 0;
	if (use_epoll) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN};
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) < 0)
			return -1;
	}
	for (;;) {
		if (use_epoll) {
			struct epoll_event ev;
			int k = epoll_wait(ep, &ev, 1, -1);
			if (k < 0 && errno == EINTR) {
				/* Linux reports EINTR from epoll_wait for a
				 * ptrace stop as for SIGSTOP/SIGCONT (signal(7));
				 * counted, not an error */
				eintr++;
				continue;
			}
			if (k < 0)
				return -1;
		}
		unsigned char buf[4096];
		ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));
		if (k < 0 && errno == EINTR) {
			eintr++;
			continue;
		}
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		for (ssize_t i = 0; i < k; i++)
			sum += buf[i];
		n += (uint64_t)k;
	}
	*value = sum;
	*extra = use_epoll ? eintr : n;
	/* read(2) on a pipe restarts: EINTR only with a non-SA_RESTART handler */
	if (!use_epoll && eintr != 0)
		atomic_store(&failed, 1);
	return 0;
}

static int job_vfork(uint64_t *value, uint64_t *extra)
{
	volatile long ok = 0; /* volatile: live across vfork() */
	for (volatile long i = 0; i < opt_count; i++) {
		pid_t c = vfork();
		if (c < 0)
			return -1;
		if (c == 0) {
			/* only raw syscalls between vfork and _exit */
			struct timespec ts = {.tv_sec = opt_ms / 1000, .tv_nsec = (opt_ms % 1000) * 1000000L};
			syscall(SYS_nanosleep, &ts, NULL);
			_exit(5);
		}
		int status;
		if (waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 5)
			ok++;
		else
			atomic_store(&failed, 1);
	}
	*value = (uint64_t)ok;
	*extra = 0;
	return 0;
}

static atomic_ulong sig_count, sig_sum;

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	atomic_fetch_add(&sig_count, 1);
	atomic_fetch_add(&sig_sum, (unsigned long)si->si_value.sival_int);
}

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif
#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

static void on_sigsys(int sig)
{
	static const char msg[] = "remote-target: SIGSYS\n";
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	atomic_store(&failed, 1);
}

static void *answer_late(void *arg)
{
	int fd = (int)(intptr_t)arg;
	for (;;) {
		struct seccomp_notif req = {};
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			return NULL;
		}
		sleep_ms(opt_ms);
		struct seccomp_notif_resp resp = {.id = req.id, .error = -EPERM};
		(void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
}

/* The filter of --seccomp KIND; -1 on a failure, else 0. */
static int install_filter(const char *kind)
{
	uint32_t action;
	unsigned flags = 0;
	if (strcmp(kind, "notif") == 0)
		action = SECCOMP_RET_USER_NOTIF, flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
	else if (strcmp(kind, "notif-recv") == 0)
		action = SECCOMP_RET_USER_NOTIF,
		flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
	else if (strcmp(kind, "kill") == 0)
		action = SECCOMP_RET_KILL_PROCESS;
	else if (strcmp(kind, "kill-thread") == 0)
		action = SECCOMP_RET_KILL_THREAD;
	else if (strcmp(kind, "errno") == 0)
		action = SECCOMP_RET_ERRNO | EACCES;
	else if (strcmp(kind, "trap") == 0)
		action = SECCOMP_RET_TRAP;
	else
		return -1;
	if (action == SECCOMP_RET_KILL_PROCESS) {
		struct rlimit no_core = {};
		if (setrlimit(RLIMIT_CORE, &no_core) < 0)
			return -1;
	}
	if (action == SECCOMP_RET_TRAP && signal(SIGSYS, on_sigsys) == SIG_ERR)
		return -1;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 0, 3),
		/* the low word of args[0] (little-endian) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_MEMORY_MERGE, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0)
		return -1;
	/* notif: the listener stays open (closed, the kernel would answer
	 * ENOSYS itself) and unread */
	if (flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
		pthread_t t;
		if (pthread_create(&t, NULL, answer_late, (void *)(intptr_t)fd) != 0)
			return -1;
	}
	return 0;
}

static void *exit_thread(void *arg)
{
	sleep_ms(opt_ms);
	exit(7);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"threads", required_argument, NULL, 't'}, {"count", required_argument, NULL, 'c'},
		{"ms", required_argument, NULL, 'm'},	   {"pages", required_argument, NULL, 'p'},
		{"reserve", required_argument, NULL, 'R'}, {"go", no_argument, NULL, 'g'},
		{"seccomp", required_argument, NULL, 's'}, {},
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 't':
			opt_threads = atoi(optarg);
			break;
		case 'c':
			opt_count = atol(optarg);
			break;
		case 'm':
			opt_ms = atol(optarg);
			break;
		case 'p':
			opt_pages = atol(optarg);
			break;
		case 'R':
			opt_reserve_mib = atol(optarg);
			break;
		case 'g':
			opt_go = true;
			break;
		case 's':
			opt_seccomp = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc || opt_threads < 1 || opt_threads > 256)
		return 2;
	const char *mode = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* identical pages for KSM, kept alive (and checked) to the end */
	long psz = sysconf(_SC_PAGESIZE);
	size_t words = (size_t)psz / 8;
	uint64_t *pages = mmap(NULL, (size_t)(opt_pages * psz), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		return 1;
	for (long i = 0; i < opt_pages; i++)
		fill(pages + (size_t)i * words, words, 42);
	uint64_t page_sum = checksum(pages, words);

	if (strcmp(mode, "signals") == 0 || strcmp(mode, "epoll-signals") == 0) {
		struct sigaction sa = {.sa_sigaction = on_rt,
				       .sa_flags =
					       SA_SIGINFO | (strcmp(mode, "signals") == 0 ? SA_RESTART : 0)};
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGRTMIN, &sa, NULL) < 0)
			return 1;
	}

	if (opt_seccomp && install_filter(opt_seccomp) < 0) {
		perror("seccomp");
		return 1;
	}

	pthread_t th[256];
	for (int i = 1; i < opt_threads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) != 0)
			return 1;
	pthread_t ex;
	if (strcmp(mode, "exit") == 0 && pthread_create(&ex, NULL, exit_thread, NULL) != 0)
		return 1;

	size_t reserve_len = (size_t)opt_reserve_mib << 20;
	void *reserve = NULL;
	if (reserve_len > 0) {
		reserve = mmap(NULL, reserve_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		if (reserve == MAP_FAILED)
			return 1;
		printf("ready %d %#lx %ld %#lx %zu\n", (int)getpid(), (unsigned long)(uintptr_t)pages,
		       opt_pages * psz, (unsigned long)(uintptr_t)reserve, reserve_len);
	} else
		printf("ready %d %#lx %ld\n", (int)getpid(), (unsigned long)(uintptr_t)pages,
		       opt_pages * psz);

	if (opt_go) {
		char go[16];
		if (!fgets(go, sizeof(go), stdin))
			return 1;
	}

	uint64_t value = 0, extra = 0;
	int r = 0;
	if (strcmp(mode, "read") == 0)
		r = job_read(false, &value, &extra);
	else if (strcmp(mode, "epoll") == 0)
		r = job_read(true, &value, &extra);
	else if (strcmp(mode, "futex") == 0)
		r = job_futex(false, &value, &extra);
	else if (strcmp(mode, "futex-timeout") == 0)
		r = job_futex(true, &value, &extra);
	else if (strcmp(mode, "nanosleep") == 0)
		r = job_nanosleep(&value, &extra);
	else if (strcmp(mode, "wait4") == 0)
		r = job_wait4(&value, &extra);
	else if (strcmp(mode, "vfork") == 0)
		r = job_vfork(&value, &extra);
	else if (strcmp(mode, "busy") == 0 || strcmp(mode, "exit") == 0) {
		uint64_t *b = malloc(BUF_WORDS * sizeof(uint64_t));
		fill(b, BUF_WORDS, 7);
		uint64_t want = checksum(b, BUF_WORDS);
		for (long i = 0; strcmp(mode, "exit") == 0 || i < opt_count; i++)
			if (checksum(b, BUF_WORDS) != want)
				atomic_store(&failed, 1);
		value = want;
		free(b);
	} else if (strcmp(mode, "epoll-signals") == 0) {
		r = job_read(true, &value, &extra);
		value = atomic_load(&sig_count);
	} else if (strcmp(mode, "signals") == 0) {
		r = job_read(false, &value, &extra);
		value = atomic_load(&sig_count);
		extra = atomic_load(&sig_sum);
	} else
		return 2;
	if (r < 0) {
		perror("job");
		return 1;
	}

	atomic_store(&stop_workers, 1);
	for (int i = 1; i < opt_threads; i++)
		pthread_join(th[i], NULL);
	for (long i = 0; i < opt_pages; i++)
		if (checksum(pages + (size_t)i * words, words) != page_sum)
			atomic_store(&failed, 1);

	printf("result %s %" PRIu64 " %" PRIu64 "\n", mode, value, extra);
	return atomic_load(&failed) ? 3 : 0;
}
