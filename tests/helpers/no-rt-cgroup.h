/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* A cpu cgroup without RT budget: on cgroup v1 with RT group scheduling a
 * new group's cpu.rt_runtime_us is 0, as runc and podman leave container
 * groups, and the kernel refuses SCHED_FIFO to its threads. For the tests
 * and the benchmark of lib/remote's nice -20 fallback. */

/* Creates <v1 cpu mount>/<name> with cpu.rt_runtime_us 0. -ENOENT: this
 * kernel has no RT group scheduling on a v1 cpu hierarchy. */
int no_rt_cgroup_create(const char *name, char **ret_path);
/* Moves the whole process (every thread) into it. */
int no_rt_cgroup_join(const char *path, pid_t pid);
/* rmdir; the group must be empty (its processes reaped). */
int no_rt_cgroup_remove(const char *path);
