/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pidfd_open_member(): a pid read from cgroup.procs is acted on only if,
 * once a pidfd pins it, /proc/PID/cgroup still names that cgroup and the
 * pinned process is alive. /proc is a fixture tree here: the pidfds are
 * real (our own children), their cgroup is whatever the fixture says.
 */
#include "unit-util.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "pidfd-util.h"

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void set_cgroup(const char *root, pid_t pid, const char *text)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "%d/cgroup", (int)pid);
	tree_write(root, rel, text);
}

static void test_member(void **state)
{
	char *root = tmpdir_new();
	pid_t pid = spawn_sleeper();
	int fd = -EBADF;

	/* still there: a pidfd */
	set_cgroup(root, pid, "0::/kubepods/pod1/c1\n");
	assert_int_equal(pidfd_open_member(root, pid, "/kubepods/pod1/c1", &fd), 0);
	assert_true(fd >= 0);
	fd = safe_close(fd);

	/* moved to another cgroup (or its pid now names a process of another
	 * cgroup): refused, and ret untouched */
	set_cgroup(root, pid, "0::/system.slice/sshd.service\n");
	assert_int_equal(pidfd_open_member(root, pid, "/kubepods/pod1/c1", &fd), -ESRCH);
	assert_int_equal(fd, -EBADF);
	/* a prefix is not membership */
	set_cgroup(root, pid, "0::/kubepods/pod1/c10\n");
	assert_int_equal(pidfd_open_member(root, pid, "/kubepods/pod1/c1", &fd), -ESRCH);
	/* no /proc entry, or no v2 line: gone */
	set_cgroup(root, pid, "4:memory:/x\n");
	assert_int_equal(pidfd_open_member(root, pid, "/kubepods/pod1/c1", &fd), -ESRCH);

	/* exited (a zombie, not yet reaped): the cgroup file may still say the
	 * right thing, the liveness check after it refuses */
	set_cgroup(root, pid, "0::/kubepods/pod1/c1\n");
	assert_int_equal(kill(pid, SIGKILL), 0);
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(pidfd_open_member(root, pid, "/kubepods/pod1/c1", &fd), -ESRCH);
	assert_int_equal(fd, -EBADF);
	assert_int_equal(waitpid(pid, NULL, 0), pid);

	/* reaped: no pidfd at all */
	assert_int_equal(pidfd_open_member(root, pid, "/kubepods/pod1/c1", &fd), -ESRCH);
	tmpdir_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
