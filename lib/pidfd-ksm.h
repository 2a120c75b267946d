/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Mirror of the uapi that kernel-patches/0003 adds to <linux/pidfd.h>: the
 * pidfd KSM ioctls. Kept under our own names so this builds against any
 * kernel headers; kernel-patches/tests/uapi-check.c asserts, against the
 * patched header, that every number, size and offset here is the kernel's.
 *
 * A kernel without the patch answers ENOTTY (set/clear) or EINVAL (the
 * status call, whose argument is not 0) to these numbers.
 */

#include <linux/ioctl.h>
#include <stdint.h>

#define PAGEMELD_PIDFS_IOCTL_MAGIC 0xFF

#define PAGEMELD_PIDFD_KSM_MERGE_ANY (1U << 0) /* merge-any is set on the mm */
#define PAGEMELD_PIDFD_KSM_MERGEABLE (1U << 1) /* some VMA is VM_MERGEABLE */

struct pagemeld_pidfd_ksm_status {
	uint32_t size; /* in: sizeof this struct; out: bytes the kernel filled */
	uint32_t flags;
	uint64_t merging_pages;
	uint64_t rmap_items;
	uint64_t zero_pages;
	int64_t process_profit; /* bytes */
};

#define PAGEMELD_PIDFD_KSM_STATUS_SIZE_VER0 40

#define PAGEMELD_PIDFD_KSM_SET_MERGE_ANY _IO(PAGEMELD_PIDFS_IOCTL_MAGIC, 0x80)
#define PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY _IO(PAGEMELD_PIDFS_IOCTL_MAGIC, 0x81)
#define PAGEMELD_PIDFD_KSM_GET_STATUS \
	_IOWR(PAGEMELD_PIDFS_IOCTL_MAGIC, 0x82, struct pagemeld_pidfd_ksm_status)

_Static_assert(sizeof(struct pagemeld_pidfd_ksm_status) == PAGEMELD_PIDFD_KSM_STATUS_SIZE_VER0,
	       "pidfd_ksm_status VER0 layout");

/* ---- lib/remote-pidfd.c: the calls on top of the ioctls ---- */

#include <stdbool.h>

/* What the status ioctl reports about one process. */
typedef struct PidfdKsmStatus {
	bool merge_any; /* MMF_VM_MERGE_ANY: prctl(PR_SET_MEMORY_MERGE) or the set ioctl */
	bool mergeable; /* some VMA is VM_MERGEABLE, so ksmd scans the process */
	uint64_t merging_pages;
	uint64_t rmap_items;
	uint64_t zero_pages;
	int64_t process_profit; /* bytes */
} PidfdKsmStatus;

/* Does the running kernel have the ioctls? Asks the status of a pidfd of
 * ourselves: 1 yes, 0 no (ENOTTY/EINVAL: unpatched kernel; ENOSYS: no
 * pidfd_open; EOPNOTSUPP: patched kernel built without KSM), < 0 when the
 * probe itself failed (EMFILE...). Not cached: remote_backend() caches. */
int remote_pidfd_ksm_probe(void);

/* The ioctls. -ESRCH: the process exited; -EPERM: the caller may not (needs
 * ptrace-attach rights over it and CAP_SYS_NICE); -ENOTTY/-EINVAL: the
 * kernel has no such ioctl. Disabling unmerges every page of the target. */
int remote_pidfd_ksm_set_merge_any(int pidfd, bool enable);
int remote_pidfd_ksm_get_status(int pidfd, PidfdKsmStatus *ret);
int remote_pidfd_ksm_get_merge_any(int pidfd, bool *ret);
