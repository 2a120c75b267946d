/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "no-rt-cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"
#include "macro.h"

int no_rt_cgroup_create(const char *name, char **ret_path)
{
	_cleanup_free_ char *mnt = NULL;
	int r = cg_find_v1_mount("/proc/self/mountinfo", "cpu", &mnt);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = path_join(mnt, name);
	_cleanup_free_ char *knob = path ? path_join(path, "cpu.rt_runtime_us") : NULL;
	if (!knob)
		return -ENOMEM;
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	/* -ENOENT without CONFIG_RT_GROUP_SCHED: the group has no such file */
	r = write_string_file(knob, "0");
	if (r < 0) {
		(void)rmdir(path);
		return r;
	}
	*ret_path = TAKE_PTR(path);
	return 0;
}

int no_rt_cgroup_join(const char *path, pid_t pid)
{
	_cleanup_free_ char *procs = path_join(path, "cgroup.procs");
	char s[32];
	if (!procs)
		return -ENOMEM;
	snprintf(s, sizeof(s), "%d", (int)pid);
	return write_string_file(procs, s);
}

int no_rt_cgroup_remove(const char *path)
{
	return rmdir(path) < 0 && errno != ENOENT ? -errno : 0;
}
