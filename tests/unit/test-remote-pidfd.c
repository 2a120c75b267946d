/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/remote-pidfd.c on whatever kernel runs the tests: the probe answers,
 * and on a kernel without the ioctls every call fails with the errno the
 * backend choice relies on. The patched kernel itself is exercised in the
 * qemu guest by kernel-patches/check. */
#include "unit-util.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "macro.h"
#include "pidfd-ksm.h"

#ifndef PR_GET_MEMORY_MERGE
#define PR_GET_MEMORY_MERGE 68
#endif

static bool absent_errno(int r)
{
	return r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP;
}

static void test_layout(void **state)
{
	/* the VER0 uapi layout of kernel-patches/0003 */
	assert_int_equal(sizeof(struct pagemeld_pidfd_ksm_status), 40);
	assert_int_equal(offsetof(struct pagemeld_pidfd_ksm_status, flags), 4);
	assert_int_equal(offsetof(struct pagemeld_pidfd_ksm_status, merging_pages), 8);
	assert_int_equal(offsetof(struct pagemeld_pidfd_ksm_status, rmap_items), 16);
	assert_int_equal(offsetof(struct pagemeld_pidfd_ksm_status, zero_pages), 24);
	assert_int_equal(offsetof(struct pagemeld_pidfd_ksm_status, process_profit), 32);
	assert_int_equal(PAGEMELD_PIDFD_KSM_SET_MERGE_ANY, 0xff80);
	assert_int_equal(PAGEMELD_PIDFD_KSM_CLEAR_MERGE_ANY, 0xff81);
	assert_int_equal(PAGEMELD_PIDFD_KSM_GET_STATUS, 0xc028ff82);
}

static void test_probe_matches_calls(void **state)
{
	int present = remote_pidfd_ksm_probe();
	assert_true(present == 0 || present == 1);

	_cleanup_close_ int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
	assert_true(self >= 0);
	PidfdKsmStatus st;
	bool any;
	int r = remote_pidfd_ksm_get_status(self, &st);
	if (present) {
		assert_int_equal(r, 0);
		assert_int_equal(remote_pidfd_ksm_get_merge_any(self, &any), 0);
		assert_int_equal(any, prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) == 1);
	} else {
		assert_true(absent_errno(r));
		assert_true(absent_errno(remote_pidfd_ksm_get_merge_any(self, &any)));
		/* set/clear on our own pidfd: unknown ioctl, nothing changed */
		assert_true(absent_errno(remote_pidfd_ksm_set_merge_any(self, true)));
		assert_int_equal(prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0), 0);
	}
}

static void test_bad_fds(void **state)
{
	PidfdKsmStatus st;
	assert_int_equal(remote_pidfd_ksm_set_merge_any(-1, true), -EBADF);
	assert_int_equal(remote_pidfd_ksm_get_status(-1, &st), -EBADF);
	/* not a pidfd at all */
	_cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(remote_pidfd_ksm_set_merge_any(fd, true), -ENOTTY);
	assert_int_equal(remote_pidfd_ksm_get_status(fd, &st), -ENOTTY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_probe_matches_calls),
		cmocka_unit_test(test_bad_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
