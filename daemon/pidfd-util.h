/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* The pid a received fd names, from proc_root/self/fdinfo/FD ("Pid:").
 * -EBADF: the fd is not a pidfd; -ESRCH: the process has exited;
 * -EREMOTE: it lives in a pid namespace we cannot see. */
int pidfd_verify(const char *proc_root, int fd, pid_t *ret_pid);
/* 0 while the process lives, -ESRCH after it exited (a zombie counts as
 * exited). Needs no privilege over the process. */
int pidfd_check_alive(int pidfd);
/* A pidfd for pid, which was read earlier from cgroup.procs of cgroup (a
 * path under the v2 mount): -ESRCH when it has exited, or left the cgroup,
 * or the pid now names another process (it was recycled). */
int pidfd_open_member(const char *proc_root, pid_t pid, const char *cgroup, int *ret_pidfd);
