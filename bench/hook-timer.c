/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hook-timer LOG HOOK [ARG...]: runs HOOK the way an OCI runtime runs a hook
 * (stdin, stdout and stderr passed on) and appends one line to LOG:
 *   <start ns> <end ns> <exit code>
 * CLOCK_MONOTONIC from just before the spawn to just after the wait: what
 * the runtime waits for. Exits with HOOK's exit code. bench/hook-burst.py
 * puts it in front of pagemeld-oci-hook in a container's createRuntime hook.
 *
 * hook-timer --clock: what that clock resolves here, for a guest whose
 * clocksource may be jiffies: clock_getres() and the smallest step seen
 * between successive distinct readings (bench/hook-node-vm.py).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* clock_getres() says what timers resolve (the tick without high-resolution
 * timers), not what a reading resolves: watch the readings step. */
static int print_clock(void)
{
	struct timespec res;
	unsigned long long last = now_ns(), end = last + 2000000000ULL, step = 0;
	int steps = 0;

	clock_getres(CLOCK_MONOTONIC, &res);
	while (steps < 1000) {
		unsigned long long t = now_ns();
		if (t == last)
			continue;
		if (step == 0 || t - last < step)
			step = t - last;
		last = t;
		steps++;
		if (t > end)
			break;
	}
	printf("clock_getres %lld ns, smallest step %llu ns over %d steps\n",
	       (long long)res.tv_sec * 1000000000LL + res.tv_nsec, step, steps);
	return 0;
}

int main(int argc, char **argv)
{
	char line[96];
	pid_t pid;
	int status, code;

	if (argc == 2 && strcmp(argv[1], "--clock") == 0)
		return print_clock();
	if (argc < 3) {
		fprintf(stderr, "usage: hook-timer LOG HOOK [ARG...] | --clock\n");
		return 2;
	}
	unsigned long long t0 = now_ns();
	int r = posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, environ);
	if (r != 0) {
		fprintf(stderr, "hook-timer: cannot run %s: %s\n", argv[2], strerror(r));
		return 127;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	unsigned long long t1 = now_ns();
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	/* One write(2) with O_APPEND: lines of concurrent hooks never interleave. */
	int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		int n = snprintf(line, sizeof(line), "%llu %llu %d\n", t0, t1, code);
		if (write(fd, line, (size_t)n) != n)
			fprintf(stderr, "hook-timer: cannot write %s\n", argv[1]);
		close(fd);
	}
	return code;
}
