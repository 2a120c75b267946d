/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* The body of a forked child: it talks to its parent over fd and never
 * returns (it _exit()s). parent is the forking process's pid, for a
 * getppid() check after PR_SET_PDEATHSIG. */
typedef _noreturn_ void (*ChildMain)(void *userdata, int fd, pid_t parent);

/* Fork a child connected to this process by fds, a pipe2() or socketpair()
 * pair made with O_CLOEXEC: the child gets fds[1] and runs run(userdata,
 * fds[1], our pid); we keep fds[0], returned in *ret_fd with the child's
 * pid. Both fds are closed on failure. */
int fork_child(int fds[2], ChildMain run, void *userdata, pid_t *ret_pid, int *ret_fd);
