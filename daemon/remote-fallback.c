/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Built only while lib/remote.c (issue 3) has not landed: the pidfd helpers
 * work, remote merge control reports -EOPNOTSUPP (no fake success), so the
 * daemon can still manage processes that enabled merging themselves.
 */
#include <sys/syscall.h>

#include "macro.h"
#include "remote.h"

const char *remote_backend_name(RemoteBackend b)
{
	return b == REMOTE_BACKEND_PIDFD_IOCTL ? "pidfd-ioctl" : "ptrace";
}

RemoteBackend remote_backend(void)
{
	return REMOTE_BACKEND_PTRACE;
}

int remote_pidfd_open(pid_t pid, int *ret_pidfd)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	*ret_pidfd = fd;
	return 0;
}

int remote_pidfd_get_pid(int pidfd, pid_t *ret_pid)
{
	return -EOPNOTSUPP;
}

int remote_set_merge_any(int pidfd, bool enable)
{
	return -EOPNOTSUPP;
}

int remote_get_merge_any(int pidfd, bool *ret)
{
	return -EOPNOTSUPP;
}

int remote_madvise(int pidfd, uint64_t addr, uint64_t len, int advice)
{
	return -EOPNOTSUPP;
}

int remote_syscall(int pidfd, long nr, const uint64_t args[6], int64_t *ret_value)
{
	return -EOPNOTSUPP;
}
