/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pidfd KSM ioctls of kernel-patches/ (PIDFD_KSM_SET_MERGE_ANY,
 * PIDFD_KSM_CLEAR_MERGE_ANY, PIDFD_KSM_GET_STATUS): merge-any of another
 * process in one system call, without stopping it, on the process the pidfd
 * pins (a recycled pid is never reached). remote.c prefers this backend to
 * ptrace injection when remote_pidfd_ksm_probe() says the kernel has it.
 */
#include "pidfd-ksm.h"

#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "log.h"
#include "macro.h"

static int ksm_status_raw(int pidfd, struct pagemeld_pidfd_ksm_status *st)
{
	*st = (struct pagemeld_pidfd_ksm_status){.size = sizeof(*st)};
	if (ioctl(pidfd, PAGEMELD_PIDFD_KSM_GET_STATUS, st) < 0)
		return negative_errno();
	/* A kernel that knows a shorter struct than ours would say so; the
	 * first published one is the shortest there is. */
	if (st->size < PAGEMELD_PIDFD_KSM_STATUS_SIZE_VER0)
		return -EPROTO;
	return 0;
}

/* What a kernel without the ioctls (or without KSM) answers. */
static bool errno_means_absent(int r)
{
	return r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP;
}

int remote_pidfd_ksm_probe(void)
{
	_cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (fd < 0)
		return errno == ENOSYS ? 0 : negative_errno();

	struct pagemeld_pidfd_ksm_status st;
	int r = ksm_status_raw(fd, &st);
	if (r >= 0)
		return 1;
	if (errno_means_absent(r)) {
		log_debug_errno(r, "pidfd KSM ioctls: absent: %m");
		return 0;
	}
	return log_debug_errno(r, "pidfd KSM ioctls: probe failed: %m");
}

int remote_pidfd_ksm_set_merge_any(int pidfd, bool enable)
{
	if (pidfd < 0)
		return -EBADF;
	unsigned long cmd = enable ? PAGEMELD_PIDFD_KSM_SET_MERGE_ANY : PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY;
	/* EINTR: we were signalled while waiting for the target's mmap lock
	 * (the kernel only gives up there for a fatal signal), or, disabling,
	 * while unmerging; the state is whole either way, so retry. */
	for (int i = 0; i < 8; i++) {
		if (ioctl(pidfd, cmd, 0) >= 0)
			return 0;
		if (errno != EINTR)
			return negative_errno();
	}
	return -EINTR;
}

int remote_pidfd_ksm_get_status(int pidfd, PidfdKsmStatus *ret)
{
	if (pidfd < 0)
		return -EBADF;
	struct pagemeld_pidfd_ksm_status st;
	int r = ksm_status_raw(pidfd, &st);
	if (r < 0)
		return r;
	*ret = (PidfdKsmStatus){
		.merge_any = st.flags & PAGEMELD_PIDFD_KSM_MERGE_ANY,
		.mergeable = st.flags & PAGEMELD_PIDFD_KSM_MERGEABLE,
		.merging_pages = st.merging_pages,
		.rmap_items = st.rmap_items,
		.zero_pages = st.zero_pages,
		.process_profit = st.process_profit,
	};
	return 0;
}

int remote_pidfd_ksm_get_merge_any(int pidfd, bool *ret)
{
	PidfdKsmStatus st;
	int r = remote_pidfd_ksm_get_status(pidfd, &st);
	if (r < 0)
		return r;
	*ret = st.merge_any;
	return 0;
}
