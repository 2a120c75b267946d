/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <fcntl.h>

#include "log.h"
#include "macro.h"

static int cleanup_calls;
static void count_cleanup(int *p)
{
	if (*p)
		cleanup_calls++;
}

static void test_cleanup_and_take(void **state)
{
	char *kept;
	{
		_cleanup_free_ char *p = strdup("x");
		kept = TAKE_PTR(p);
		assert_null(p);
	}
	free(kept);

	int fd;
	{
		_cleanup_close_ int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(f >= 0);
		fd = TAKE_FD(f);
		assert_int_equal(f, -EBADF);
	}
	assert_true(fcntl(fd, F_GETFD) >= 0); /* still open: ownership moved */
	assert_int_equal(safe_close(fd), -EBADF);
	assert_true(fcntl(fd, F_GETFD) < 0);

	cleanup_calls = 0;
	{
		_cleanup_(count_cleanup) int a = 1;
		(void)a;
	}
	assert_int_equal(cleanup_calls, 1);
	freep(&(void *){NULL}); /* destructors accept NULL */
	closep(&(int){-EBADF});
}

static void test_ret_nerrno(void **state)
{
	assert_int_equal(RET_NERRNO(open("/nonexistent/x", O_RDONLY)), -ENOENT);
	assert_int_equal(RET_NERRNO(0), 0);
}

static void test_log_levels(void **state)
{
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("error"), LOG_ERR);
	assert_int_equal(log_level_from_string("warning"), LOG_WARNING);
	assert_int_equal(log_level_from_string("3"), 3);
	assert_int_equal(log_level_from_string("loud"), -EINVAL);
	assert_string_equal(log_level_to_string(LOG_INFO), "info");

	/* log_*_errno returns the negative errno, whatever sign it was given */
	log_set_max_level(LOG_ERR);
	assert_int_equal(log_debug_errno(ENOENT, "not shown: %m"), -ENOENT);
	assert_int_equal(log_debug_errno(-EPERM, "not shown"), -EPERM);
	errno = 42;
	(void)log_error_errno(EBUSY, "shown: %m");
	assert_int_equal(errno, 42); /* logging leaves errno alone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cleanup_and_take),
		cmocka_unit_test(test_ret_nerrno),
		cmocka_unit_test(test_log_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
