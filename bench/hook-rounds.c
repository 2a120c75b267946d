/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hook-rounds HOOK CGROUP_DIR ROUNDS [BATCH]: what one run of pagemeld-oci-hook costs
 * without a runtime around it, against a live pagemeldd (PAGEMELD_STATE_DIR
 * names its state dir). In interleaved rounds (the order flips every round),
 * each case gets a fresh sleeping child in CGROUP_DIR as the container init
 * and the OCI state on a pipe, and is timed from posix_spawn to waitpid:
 *   true        /bin/true (the floor of any hook)
 *   optout      the hook, the container not opted in (no daemon call)
 *   reg-merged  the hook registers a process that already merges (the
 *               daemon has nothing to enable): exec + round trip + bookkeeping
 *   reg-enable  the hook registers a fresh process: the daemon enables
 *               merging in it (pidfd ioctl on a patched kernel, else ptrace)
 * Prints the median, p10 and p90 of each, and the medians of the per-round
 * differences. BATCH > 1 times that many runs of a case back to back (their
 * children started first) and counts the mean as one sample: for a guest
 * whose only clocksource is jiffies (4 ms steps). The children are killed after each case: pagemeldd
 * unregisters them when they exit. Used where Python is not (bench/hook-vm.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

extern char **environ;

enum {
	CASE_TRUE,
	CASE_OPTOUT,
	CASE_REG_MERGED,
	CASE_REG_ENABLE,
	N_CASES
};
static const char *const case_name[N_CASES] = {"true", "optout", "reg-merged", "reg-enable"};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void die(const char *what)
{
	fprintf(stderr, "hook-rounds: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A container init stand-in: sleeps in CGROUP_DIR, merging already if asked. */
static pid_t start_child(const char *cgroup, int merging)
{
	char path[4096], b = 0;
	int ready[2];
	if (pipe(ready) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (merging && prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) < 0)
			_exit(1);
		if (write(ready[1], &b, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &b, 1) != 1)
		die("the child did not start");
	close(ready[0]);
	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	FILE *f = fopen(path, "we");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0)
		die(path);
	usleep(1000); /* asleep in pause(), as an init blocked before exec is */
	return pid;
}

static double run_case(const char *prog, char *const argv[], const char *state)
{
	posix_spawn_file_actions_t fa;
	int in[2], st;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		die("pipe");
	if (write(in[1], state, strlen(state)) != (ssize_t)strlen(state))
		die("write");
	close(in[1]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	double t0 = now_ms();
	int r = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
	if (r != 0) {
		errno = r;
		die(prog);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	double t1 = now_ms();
	close(in[0]);
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "hook-rounds: %s exited with status %d\n", prog, st);
		exit(1);
	}
	return t1 - t0;
}

int main(int argc, char **argv)
{
	char state[512];
	double *v[N_CASES], *d[N_CASES];

	if ((argc != 4 && argc != 5) || atoi(argv[3]) < 2 || (argc == 5 && atoi(argv[4]) < 1)) {
		fprintf(stderr, "usage: hook-rounds HOOK CGROUP_DIR ROUNDS (>= 2) [BATCH (>= 1)]\n");
		return 2;
	}
	const char *hook = argv[1], *cgroup = argv[2];
	int n = atoi(argv[3]), batch = argc == 5 ? atoi(argv[4]) : 1;
	pid_t *children = calloc((size_t)batch, sizeof(pid_t));
	if (!children)
		die("calloc");
	char *true_argv[] = {"true", NULL};
	char *hook_argv[] = {(char *)hook, "--config", "/dev/null", "--fail-mode", "closed", "create", NULL};

	for (int k = 0; k < N_CASES; k++) {
		v[k] = calloc((size_t)n, sizeof(double));
		d[k] = calloc((size_t)n, sizeof(double));
		if (!v[k] || !d[k])
			die("calloc");
	}
	for (int r = 0; r < n; r++)
		for (int j = 0; j < N_CASES; j++) {
			int k = r % 2 ? N_CASES - 1 - j : j;
			for (int b = 0; b < batch; b++)
				children[b] = start_child(cgroup, k == CASE_REG_MERGED);
			double sum = 0;
			for (int b = 0; b < batch; b++) {
				snprintf(state, sizeof(state),
					 "{\"ociVersion\":\"1.0.2\",\"id\":\"hook-rounds-%d-%d-%d\",\"pid\":%"
					 "d,"
					 "\"annotations\":{\"merge.pagemeld.io\":\"%s\"}}",
					 r, k, b, (int)children[b], k == CASE_OPTOUT ? "false" : "true");
				sum += k == CASE_TRUE ? run_case("/bin/true", true_argv, state)
						      : run_case(hook, hook_argv, state);
			}
			v[k][r] = sum / batch;
			for (int b = 0; b < batch; b++) {
				kill(children[b], SIGKILL);
				waitpid(children[b], NULL, 0);
			}
			usleep(3000); /* the daemon sees the exits and unregisters */
		}
	for (int k = 0; k < N_CASES; k++)
		for (int r = 0; r < n; r++)
			d[k][r] = v[k][r] - v[CASE_TRUE][r];
	printf("%d interleaved rounds of %d run(s) per case; hook %s\n", n, batch, hook);
	for (int k = 0; k < N_CASES; k++) {
		qsort(v[k], (size_t)n, sizeof(double), cmp_double);
		qsort(d[k], (size_t)n, sizeof(double), cmp_double);
		printf("  %-10s median %7.3f ms  p10 %7.3f  p90 %7.3f   median over true %+7.3f ms\n",
		       case_name[k], v[k][n / 2], v[k][n / 10], v[k][n * 9 / 10], d[k][n / 2]);
	}
	double load[3];
	if (getloadavg(load, 3) == 3)
		printf("  load average %.2f %.2f %.2f\n", load[0], load[1], load[2]);
	return 0;
}
