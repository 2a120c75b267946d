/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static void expect_id(const char *name, const char *want)
{
	char *id = NULL;
	int r = registration_marker_id(name, &id);
	if (!want) {
		if (r != -EINVAL)
			fail_msg("%s: %d, want -EINVAL", name, r);
		return;
	}
	if (r != 0 || strcmp(id, want) != 0)
		fail_msg("%s: %d \"%s\", want \"%s\"", name, r, id ?: "", want);
	free(id);
}

static void test_names_back_to_ids(void **state)
{
	static const char *const ids[] = {"abc123", ".hidden", "a/b", "pod_x:y-z.1", "%25", "q\"x~"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char *path = registration_marker_path("/s", ids[i]);
		assert_non_null(path);
		expect_id(strrchr(path, '/') + 1, ids[i]);
		free(path);
	}
	expect_id("", NULL);
	expect_id("%", NULL);
	expect_id("%2", NULL);
	expect_id("%2f", NULL); /* the escaping writes upper case */
	expect_id("%41", NULL); /* 'A' is plain: never escaped */
	expect_id("%00", NULL);
	expect_id("%20", NULL); /* no id has a space */
	expect_id(".x", NULL);	/* a leading dot is escaped */
	expect_id("a b", NULL);
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
		cmocka_unit_test(test_names_back_to_ids),
		cmocka_unit_test(test_state_dir_from_environment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
