/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <stdlib.h>

#include "registration-marker.h"

static void check(const char *id, const char *want)
{
	char *p = registration_marker_path("/run/pagemeld", id);
	assert_non_null(p);
	assert_string_equal(p, want);
	free(p);
}

static void test_plain_ids_stay_readable(void **state)
{
	(void)state;
	/* runc/CRI-O/containerd ids: 64 hex digits; podman's too; names with dots and dashes */
	check("4f1c0e2d9b", "/run/pagemeld/containers/4f1c0e2d9b");
	check("web-1.db_2:x", "/run/pagemeld/containers/web-1.db_2:x");
}

static void test_escapes_make_one_safe_name(void **state)
{
	(void)state;
	check("a/b", "/run/pagemeld/containers/a%2Fb");
	check("..", "/run/pagemeld/containers/%2E.");
	check(".hidden", "/run/pagemeld/containers/%2Ehidden");
	check("100%", "/run/pagemeld/containers/100%25");
	check("\xc3\xa9t\xc3\xa9", "/run/pagemeld/containers/%C3%A9t%C3%A9");
	/* distinct ids never share a file: the escape character is escaped */
	check("a%2Fb", "/run/pagemeld/containers/a%252Fb");
}

static void test_state_dir_from_environment(void **state)
{
	(void)state;
	unsetenv("PAGEMELD_STATE_DIR");
	assert_string_equal(pagemeld_state_dir(), "/run/pagemeld");
	setenv("PAGEMELD_STATE_DIR", "/tmp/x", 1);
	assert_string_equal(pagemeld_state_dir(), "/tmp/x");
	setenv("PAGEMELD_STATE_DIR", "relative", 1); /* not a place both sides agree on */
	assert_string_equal(pagemeld_state_dir(), "/run/pagemeld");
	unsetenv("PAGEMELD_STATE_DIR");
	char *d = registration_marker_dir("/run/pagemeld");
	assert_string_equal(d, "/run/pagemeld/containers");
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_ids_stay_readable),
		cmocka_unit_test(test_escapes_make_one_safe_name),
		cmocka_unit_test(test_state_dir_from_environment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
