/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Built only while lib/remote.c (issue 3) has not landed: the pidfd helpers
 * work; on a kernel with the pidfd KSM ioctls of kernel-patches/ merge-any
 * is set and read through them (lib/remote-pidfd.c); otherwise remote merge
 * control reports -EOPNOTSUPP (no fake success), so the daemon can still
 * manage processes that enabled merging themselves.
 */
#include <sys/syscall.h>

#include "macro.h"
#include "pidfd-ksm.h"
#include "remote.h"

const char *remote_backend_name(RemoteBackend b)
{
	return b == REMOTE_BACKEND_PIDFD_IOCTL ? "pidfd-ioctl" : "ptrace";
}

RemoteBackend remote_backend(void)
{
	static int cached = -1;
	if (cached < 0)
		cached = remote_pidfd_ksm_probe() > 0 ? REMOTE_BACKEND_PIDFD_IOCTL : REMOTE_BACKEND_PTRACE;
	return (RemoteBackend)cached;
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
	if (remote_backend() == REMOTE_BACKEND_PIDFD_IOCTL)
		return remote_pidfd_ksm_set_merge_any(pidfd, enable);
	return -EOPNOTSUPP;
}

int remote_get_merge_any(int pidfd, bool *ret)
{
	if (remote_backend() == REMOTE_BACKEND_PIDFD_IOCTL)
		return remote_pidfd_ksm_get_merge_any(pidfd, ret);
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
