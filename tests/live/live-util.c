/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "live-util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>

#include "fileio.h"
#include "macro.h"

#define KSM_TEST_LOCK "/run/lock/pagemeld-ksm-test.lock"

static KsmSnapshot snapshot;
static int lock_fd = -EBADF;

int64_t live_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void live_restore(void)
{
	if (!snapshot.valid)
		return;
	int r = ksm_snapshot_restore(KSM_SYSFS_DIR, &snapshot);
	if (r < 0)
		fprintf(stderr, "live: restoring KSM knobs failed: %s\n", strerror(-r));
	snapshot.valid = false;
}

static void on_fatal_signal(int sig)
{
	live_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void live_setup(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "live: the live tier runs as root\n");
		exit(EXIT_FAILURE);
	}
	if (access(KSM_SYSFS_DIR "/run", W_OK) < 0) {
		fprintf(stderr, "live: no writable " KSM_SYSFS_DIR " (kernel without KSM), skipping\n");
		exit(EXIT_TEST_SKIP);
	}
	lock_fd = open(KSM_TEST_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
		fprintf(stderr, "live: cannot take " KSM_TEST_LOCK ": %m\n");
		exit(1);
	}
	int r = ksm_snapshot_take(KSM_SYSFS_DIR, &snapshot);
	if (r < 0) {
		fprintf(stderr, "live: cannot read KSM state: %s\n", strerror(-r));
		exit(1);
	}
	atexit(live_restore);
	struct sigaction sa = {.sa_handler = on_fatal_signal};
	/* SIGPIPE, SIGHUP: the output piped into a reader that went away
	 * (`| head`) killed it before, knobs and run left as it set them */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

uint64_t live_ksm_read(KsmField f)
{
	uint64_t v = 0;
	(void)ksm_read_field(KSM_SYSFS_DIR, f, &v);
	return v;
}

int live_ksm_start(uint64_t pages_to_scan, uint64_t sleep_ms)
{
	int r;
	KsmState s;
	r = ksm_read_state(KSM_SYSFS_DIR, &s);
	if (r < 0)
		return r;
	if (s.advisor_mode_present && s.advisor_mode != KSM_ADVISOR_NONE) {
		r = ksm_write_advisor(KSM_SYSFS_DIR, KSM_ADVISOR_NONE);
		if (r < 0)
			return r;
	}
	r = ksm_write_field(KSM_SYSFS_DIR, KSM_pages_to_scan, pages_to_scan);
	if (r < 0)
		return r;
	r = ksm_write_field(KSM_SYSFS_DIR, KSM_sleep_millisecs, sleep_ms);
	if (r < 0)
		return r;
	return ksm_write_field(KSM_SYSFS_DIR, KSM_run, KSM_RUN_MERGE);
}

int live_wait_full_scans(uint64_t scans, int timeout_ms)
{
	uint64_t start = live_ksm_read(KSM_full_scans);
	int64_t deadline = live_now_ms() + timeout_ms;
	while (live_ksm_read(KSM_full_scans) < start + scans) {
		if (live_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

static int read_line_fd(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t k = read(fd, buf + n, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

static const char *memfill_path(void)
{
	const char *p = getenv("PAGEMELD_MEMFILL");
	return p ?: MEMFILL_PATH;
}

int live_memfill_start(const char *const *args, LiveChild *ret)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		const char *argv[32] = {memfill_path()};
		for (size_t i = 0; args && args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	safe_close(in[0]);
	safe_close(out[1]);
	LiveChild c = {.pid = pid, .stdin_fd = in[1], .stdout_fd = out[0]};
	char line[128];
	int r = read_line_fd(c.stdout_fd, line, sizeof(line));
	if (r < 0 || !startswith(line, "ready ")) {
		(void)live_memfill_stop(&c);
		return r < 0 ? r : -EPROTO;
	}
	*ret = c;
	return 0;
}

int live_memfill_command(LiveChild *c, const char *cmd)
{
	if (write(c->stdin_fd, cmd, strlen(cmd)) < 0)
		return -errno;
	char line[128];
	int r = read_line_fd(c->stdout_fd, line, sizeof(line));
	if (r < 0)
		return r;
	return streq(line, "ok") ? 0 : -EIO;
}

int live_memfill_stop(LiveChild *c)
{
	int status;
	c->stdin_fd = safe_close(c->stdin_fd);
	c->stdout_fd = safe_close(c->stdout_fd);
	if (c->pid <= 0)
		return -ECHILD;
	while (waitpid(c->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	c->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
