/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fork-child.h"

#include <errno.h>
#include <unistd.h>

int fork_child(int fds[2], ChildMain run, void *userdata, pid_t *ret_pid, int *ret_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		safe_close(fds[0]);
		safe_close(fds[1]);
		return r;
	}
	if (pid == 0) {
		safe_close(fds[0]);
		run(userdata, fds[1], parent);
	}
	safe_close(fds[1]);
	*ret_pid = pid;
	*ret_fd = fds[0];
	return 0;
}
