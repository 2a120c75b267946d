/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>

#include "bus-contract.h"
#include "macro.h"

#define FDO(name) "org.freedesktop.DBus.Error." name

/* Every name of the NULL-terminated list sorts into kind, whatever the
 * errno beside it (a named error is the daemon's or the bus's word). */
static void assert_kind(BusErrorKind kind, const char *const *names)
{
	for (; *names; names++) {
		print_message("%s\n", *names);
		assert_int_equal(bus_error_classify(*names, -EIO), kind);
		assert_int_equal(bus_error_classify(*names, -EACCES), kind);
	}
}

static void test_contract_errors(void **state)
{
	assert_kind(BUS_ERROR_ACCESS_DENIED, (const char *const[]){PM_ERROR_ACCESS_DENIED, NULL});
	assert_kind(BUS_ERROR_NOT_FOUND,
		    (const char *const[]){PM_ERROR_NO_SUCH_CGROUP, PM_ERROR_NO_SUCH_CONTAINER, NULL});
	assert_kind(BUS_ERROR_REFUSED, (const char *const[]){PM_ERROR_BUSY, PM_ERROR_INSUFFICIENT_HEADROOM,
							     PM_ERROR_NO_MEMORY_CONTROLLER,
							     PM_ERROR_TRUST_DOMAIN_CONFLICT, NULL});
	/* only the hook socket's client sees it (a malformed request) */
	assert_kind(BUS_ERROR_INVALID_ARGS, (const char *const[]){PM_ERROR_INVALID_REQUEST, NULL});
	/* refusals of one container or one call, which no exit code singles out */
	assert_kind(BUS_ERROR_OTHER, (const char *const[]){PM_ERROR_INVALID_ANNOTATION, PM_ERROR_PROCESS_GONE,
							   PM_ERROR_FORBIDDEN_PROCESS, PM_ERROR_NOT_OPTED_IN,
							   PM_ERROR_NO_CGROUP_V2, PM_ERROR_REMOTE_FAILED,
							   PM_ERROR_KERNEL_REFUSED, NULL});
}

/* Only what pagemeldd sends sorts into a kind: guessed names, older
 * spellings and near misses are "other". */
static void test_names_outside_the_contract(void **state)
{
	assert_kind(BUS_ERROR_OTHER,
		    (const char *const[]){PM_ERROR("NotImplemented"), PM_ERROR("PermissionDenied"),
					  PM_ERROR("Refused"), PM_ERROR("NotFound"),
					  PM_ERROR("UnknownCgroup"), PM_ERROR("InvalidArgument"),
					  PM_ERROR("NotRegistered"), PM_ERROR("busy"), PM_ERROR_PREFIX,
					  "io.pagemeld1.AccessDenied", FDO("Failed"), NULL});
}

static void test_bus_errors(void **state)
{
	assert_kind(BUS_ERROR_NOT_RUNNING,
		    (const char *const[]){FDO("ServiceUnknown"), FDO("NameHasNoOwner"),
					  FDO("Spawn.ChildExited"), "org.freedesktop.systemd1.UnitMasked",
					  NULL});
	assert_kind(BUS_ERROR_UNREACHABLE, (const char *const[]){FDO("Disconnected"), FDO("NoServer"), NULL});
	assert_kind(BUS_ERROR_TIMEOUT, (const char *const[]){FDO("NoReply"), FDO("Timeout"), NULL});
	assert_kind(BUS_ERROR_ACCESS_DENIED,
		    (const char *const[]){FDO("AccessDenied"), FDO("AuthFailed"), NULL});
	assert_kind(BUS_ERROR_NOT_IMPLEMENTED,
		    (const char *const[]){FDO("UnknownMethod"), FDO("NotSupported"), NULL});
	assert_kind(BUS_ERROR_NOT_FOUND, (const char *const[]){FDO("UnknownObject"), NULL});
	assert_kind(BUS_ERROR_INVALID_ARGS, (const char *const[]){FDO("InvalidArgs"), NULL});
}

/* No name, or sd-bus's System.Error.<ERRNO>: a local failure, by errno. */
static void test_local_failures(void **state)
{
	static const struct {
		const char *name;
		int error;
		BusErrorKind kind;
	} cases[] = {
		{NULL, -ENOENT, BUS_ERROR_UNREACHABLE},
		{NULL, -ECONNREFUSED, BUS_ERROR_UNREACHABLE},
		{NULL, -EPIPE, BUS_ERROR_UNREACHABLE},
		{NULL, -ETIMEDOUT, BUS_ERROR_TIMEOUT},
		{NULL, -EPERM, BUS_ERROR_ACCESS_DENIED},
		{NULL, -ENOMEM, BUS_ERROR_OTHER},
		{"System.Error.ENOTCONN", -ENOTCONN, BUS_ERROR_UNREACHABLE},
		{"System.Error.ETIMEDOUT", -ETIMEDOUT, BUS_ERROR_TIMEOUT},
		{"System.Error.ENOMEM", -ENOMEM, BUS_ERROR_OTHER},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		print_message("%s %d\n", cases[i].name ?: "(none)", cases[i].error);
		assert_int_equal(bus_error_classify(cases[i].name, cases[i].error), cases[i].kind);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_errors),
		cmocka_unit_test(test_names_outside_the_contract),
		cmocka_unit_test(test_bus_errors),
		cmocka_unit_test(test_local_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
