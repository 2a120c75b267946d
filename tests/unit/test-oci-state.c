/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "oci-state.h"

static int parse(const char *json, OciState **ret, HookError *err)
{
	return oci_state_parse(json, strlen(json), ret, err);
}

static void test_runc_creating(void **state)
{
	/* What runc 1.1 wrote to a createRuntime hook on this machine. */
	const char *json =
		"{\"ociVersion\":\"1.0.2-dev\",\"id\":\"inv1\",\"status\":\"creating\",\"pid\":9588,"
		"\"bundle\":\"/tmp/b\",\"annotations\":{\"merge.pagemeld.io\":\"true\"}}";
	_cleanup_oci_state_ OciState *s = NULL;
	HookError err = {};

	assert_int_equal(parse(json, &s, &err), 0);
	assert_string_equal(s->id, "inv1");
	assert_string_equal(s->status, "creating");
	assert_int_equal(s->pid, 9588);
	assert_string_equal(s->bundle, "/tmp/b");
	assert_true(s->has_annotations);
	assert_int_equal(annotations_count(s->annotations), 1);
	assert_string_equal(annotations_get(s->annotations, "merge.pagemeld.io"), "true");
	assert_null(annotations_get(s->annotations, "merge.pagemeld.io/x"));
}

static void test_crun_created_with_root(void **state)
{
	/* crun 1.8: "created", an extra "root" key, keys in another order. */
	const char *json =
		"{\"ociVersion\":\"1.0\",\"id\":\"inv5\",\"pid\":10142,\"root\":\"rootfs\","
		"\"bundle\":\"/tmp/b\",\"status\":\"created\",\"annotations\":{\"merge.pagemeld.io\":"
		"\"true\",\"merge.pagemeld.io/b\":\"false\"}}\n";
	_cleanup_oci_state_ OciState *s = NULL;
	HookError err = {};

	assert_int_equal(parse(json, &s, &err), 0);
	assert_string_equal(s->status, "created");
	assert_int_equal(s->pid, 10142);
	assert_int_equal(annotations_count(s->annotations), 2);
	assert_string_equal(annotations_get(s->annotations, "merge.pagemeld.io/b"), "false");
}

static void test_poststop_without_pid(void **state)
{
	_cleanup_oci_state_ OciState *a = NULL, *b = NULL, *c = NULL;
	HookError err = {};

	/* runc: no pid key at all; crun: pid 0; some: null */
	assert_int_equal(parse("{\"id\":\"x\",\"status\":\"stopped\",\"bundle\":\"/b\"}", &a, &err), 0);
	assert_int_equal(a->pid, 0);
	assert_false(a->has_annotations);
	assert_int_equal(annotations_count(a->annotations), 0);
	assert_int_equal(parse("{\"id\":\"x\",\"pid\":0,\"status\":\"stopped\"}", &b, &err), 0);
	assert_int_equal(b->pid, 0);
	assert_int_equal(parse("{\"id\":\"x\",\"pid\":null,\"status\":null,\"annotations\":null}", &c, &err),
			 0);
	assert_int_equal(c->pid, 0);
	assert_null(c->status);
}

static void expect_bad(const char *json, const char *want_in_msg)
{
	OciState *s = (OciState *)0x1;
	HookError err = {};
	int r = parse(json, &s, &err);
	if (r != -EINVAL)
		fail_msg("parse(%s) = %d, want -EINVAL", json, r);
	assert_ptr_equal(s, (OciState *)0x1); /* untouched on failure */
	if (!strstr(err.msg, want_in_msg))
		fail_msg("parse(%s): message \"%s\" lacks \"%s\"", json, err.msg, want_in_msg);
}

static void test_bad_states(void **state)
{
	expect_bad("", "empty");
	expect_bad("{\"id\":", "not valid JSON");
	expect_bad("{\"id\":\"x\"} {}", "trailing data");
	expect_bad("[1,2]", "not a JSON object");
	expect_bad("{\"status\":\"creating\",\"pid\":1}", "no container \"id\"");
	expect_bad("{\"id\":\"\"}", "no container \"id\"");
	expect_bad("{\"id\":5}", "\"id\" is not a string");
	expect_bad("{\"id\":\"x\",\"pid\":\"12\"}", "\"pid\" is not an integer");
	expect_bad("{\"id\":\"x\",\"pid\":1.5}", "\"pid\" is not an integer");
	expect_bad("{\"id\":\"x\",\"pid\":-3}", "out of range");
	expect_bad("{\"id\":\"x\",\"pid\":4294967296}", "out of range");
	expect_bad("{\"id\":\"x\",\"annotations\":[]}", "\"annotations\" is not an object");
	expect_bad("{\"id\":\"x\",\"annotations\":{\"a\":1}}", "annotation \"a\" is not a string");
	expect_bad("{\"id\":\"x\",\"annotations\":{\"a\":\"b\\u0000c\"}}", "NUL");
	expect_bad("{\"id\":\"a\\u0000b\"}", "NUL");
	expect_bad("{\"id\":\"\xff\xfe\"}", "not valid JSON");
}

static void test_embedded_nul_byte(void **state)
{
	static const char json[] = "{\"id\":\"x\"}\0garbage";
	OciState *s = NULL;
	HookError err = {};
	assert_int_equal(oci_state_parse(json, sizeof(json) - 1, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NUL byte"));
}

static void test_annotations_from_bundle(void **state)
{
	char *dir = tmpdir_new();
	_cleanup_free_ char *json = strdup_printf("{\"id\":\"c\",\"pid\":5,\"bundle\":\"%s\"}", dir);
	_cleanup_oci_state_ OciState *s = NULL;
	HookError err = {};

	tree_write(dir, "config.json",
		   "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]},"
		   "\"annotations\":{\"merge.pagemeld.io\":\"true\",\"io.kubernetes.cri.container-name\":"
		   "\"web\"}}");
	assert_int_equal(parse(json, &s, &err), 0);
	assert_false(s->has_annotations);
	assert_int_equal(oci_state_load_bundle_annotations(s, &err), 0);
	assert_true(s->has_annotations);
	assert_string_equal(annotations_get(s->annotations, "io.kubernetes.cri.container-name"), "web");

	/* A state with annotations never looks at the bundle. */
	_cleanup_oci_state_ OciState *t = NULL;
	_cleanup_free_ char *json2 =
		strdup_printf("{\"id\":\"c\",\"bundle\":\"%s\",\"annotations\":{\"k\":\"v\"}}", dir);
	assert_int_equal(parse(json2, &t, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(t, &err), 0);
	assert_int_equal(annotations_count(t->annotations), 1);

	/* config.json without annotations: an empty list. */
	tree_write(dir, "config.json", "{\"ociVersion\":\"1.0.2\"}");
	_cleanup_oci_state_ OciState *u = NULL;
	assert_int_equal(parse(json, &u, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(u, &err), 0);
	assert_int_equal(annotations_count(u->annotations), 0);

	/* A broken config.json is an error that says so. */
	tree_write(dir, "config.json", "{\"annotations\":");
	_cleanup_oci_state_ OciState *v = NULL;
	assert_int_equal(parse(json, &v, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "config.json is not valid JSON"));
	tmpdir_remove(dir);

	/* No annotations and no bundle. */
	_cleanup_oci_state_ OciState *w = NULL;
	assert_int_equal(parse("{\"id\":\"c\"}", &w, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(w, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "neither annotations nor a bundle"));

	/* A bundle that does not exist. */
	_cleanup_oci_state_ OciState *x = NULL;
	assert_int_equal(parse("{\"id\":\"c\",\"bundle\":\"/nonexistent/pagemeld\"}", &x, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(x, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/pagemeld/config.json"));
}

/* config.json is the container's: a FIFO there is refused at once, not
 * waited on (no writer: a blocking open would hang), and so are directories
 * and files over the limit. */
static void test_bundle_config_not_regular(void **state)
{
	char *dir = tmpdir_new();
	_cleanup_free_ char *json = strdup_printf("{\"id\":\"c\",\"pid\":5,\"bundle\":\"%s\"}", dir);
	_cleanup_free_ char *conf = path_join(dir, "config.json");
	HookError err = {};

	assert_int_equal(mkfifo(conf, 0600), 0);
	_cleanup_oci_state_ OciState *s = NULL;
	assert_int_equal(parse(json, &s, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(s, &err), -EBADFD);
	assert_non_null(strstr(err.msg, "config.json is not a regular file"));
	assert_int_equal(unlink(conf), 0);

	assert_int_equal(mkdir(conf, 0700), 0);
	_cleanup_oci_state_ OciState *t = NULL;
	assert_int_equal(parse(json, &t, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(t, &err), -EBADFD);
	assert_int_equal(rmdir(conf), 0);

	/* One byte over the limit, sparse: refused by its size, unread. */
	int fd = open(conf, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, OCI_CONFIG_MAX_BYTES + 1), 0);
	close(fd);
	_cleanup_oci_state_ OciState *u = NULL;
	assert_int_equal(parse(json, &u, &err), 0);
	assert_int_equal(oci_state_load_bundle_annotations(u, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "is larger than 8388608 bytes"));
	tmpdir_remove(dir);
}

static void test_read_bounded(void **state)
{
	char *dir = tmpdir_new();
	_cleanup_free_ char *path = path_join(dir, "f");
	_cleanup_free_ char *big = malloc(5000);
	memset(big, 'a', 4999);
	big[4999] = '\0';
	tree_write(dir, "f", big);

	for (size_t max = 4998; max <= 5000; max++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		char *buf = NULL;
		size_t size = 0;
		assert_true(fd >= 0);
		int r = oci_read_bounded(fd, max, &buf, &size);
		close(fd);
		if (max < 4999) {
			assert_int_equal(r, -EFBIG);
			assert_null(buf);
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(size, 4999);
			assert_int_equal(strlen(buf), 4999);
			free(buf);
		}
	}
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runc_creating),
		cmocka_unit_test(test_crun_created_with_root),
		cmocka_unit_test(test_poststop_without_pid),
		cmocka_unit_test(test_bad_states),
		cmocka_unit_test(test_embedded_nul_byte),
		cmocka_unit_test(test_annotations_from_bundle),
		cmocka_unit_test(test_bundle_config_not_regular),
		cmocka_unit_test(test_read_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
