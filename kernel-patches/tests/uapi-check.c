/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Compiled by kernel-patches/check against the patched kernel's
 * include/uapi/linux/pidfd.h: fails to build when lib/pidfd-ksm.h, the
 * mirror pagemeld builds with, differs from what the kernel patch defines.
 */
#include <stddef.h>
#include <linux/pidfd.h>

#include "pidfd-ksm.h"

#define SAME_FIELD(f)                                                                      \
	_Static_assert(offsetof(struct pidfd_ksm_status, f) ==                             \
				       offsetof(struct pagemeld_pidfd_ksm_status, f) &&    \
			       sizeof(((struct pidfd_ksm_status *)0)->f) ==                \
				       sizeof(((struct pagemeld_pidfd_ksm_status *)0)->f), \
		       #f)

_Static_assert(PIDFS_IOCTL_MAGIC == PAGEMELD_PIDFS_IOCTL_MAGIC, "magic");
_Static_assert(PIDFD_KSM_SET_MERGE_ANY == PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, "set");
_Static_assert(PIDFD_KSM_CLEAR_MERGE_ANY == PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, "clear");
_Static_assert(PIDFD_KSM_GET_STATUS == PAGEMELD_PIDFD_KSM_GET_STATUS, "status");
_Static_assert(PIDFD_KSM_MERGE_ANY == PAGEMELD_PIDFD_KSM_MERGE_ANY, "flag merge_any");
_Static_assert(PIDFD_KSM_MERGEABLE == PAGEMELD_PIDFD_KSM_MERGEABLE, "flag mergeable");
_Static_assert(PIDFD_KSM_STATUS_SIZE_VER0 == PAGEMELD_PIDFD_KSM_STATUS_SIZE_VER0, "ver0");
_Static_assert(sizeof(struct pidfd_ksm_status) == sizeof(struct pagemeld_pidfd_ksm_status), "size");
SAME_FIELD(size);
SAME_FIELD(flags);
SAME_FIELD(merging_pages);
SAME_FIELD(rmap_items);
SAME_FIELD(zero_pages);
SAME_FIELD(process_profit);

/* Upstream's namespace ioctls keep their numbers. */
_Static_assert(PIDFD_GET_UTS_NAMESPACE == _IO(0xFF, 10), "namespace ioctls untouched");

int main(void)
{
	return 0;
}
