/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <string.h>

#include "bus-contract.h"
#include "decide.h"
#include "fileio.h"
#include "hook-config.h"
#include "macro.h"

#define A(...) ((char *const[]){__VA_ARGS__, NULL})

static HookVerdict decide(char *const *a, const char **decided_by)
{
	HookDecision d = {};
	HookError err = {};
	int r = hook_decide(a, NULL, &d, &err);
	if (r < 0)
		fail_msg("hook_decide: %d %s", r, err.msg);
	if (decided_by)
		*decided_by = d.decided_by;
	HookVerdict v = d.verdict;
	hook_decision_done(&d);
	return v;
}

static void test_pod_level(void **state)
{
	const char *by;
	assert_int_equal(decide(A("merge.pagemeld.io", "true"), &by), HOOK_VERDICT_MERGE);
	assert_string_equal(by, "merge.pagemeld.io");
	assert_int_equal(decide(A("merge.pagemeld.io", "false"), NULL), HOOK_VERDICT_OPTED_OUT);
	assert_int_equal(decide(A("other", "x"), &by), HOOK_VERDICT_NOT_ASKED);
	assert_null(by);
	assert_int_equal(decide((char *const[]){NULL}, NULL), HOOK_VERDICT_NOT_ASKED);
	assert_int_equal(decide(NULL, NULL), HOOK_VERDICT_NOT_ASKED);
	/* Not our key: another domain that merely starts alike. */
	assert_int_equal(decide(A("merge.pagemeld.io.example", "maybe"), NULL), HOOK_VERDICT_NOT_ASKED);
}

static void test_container_override_each_name_key(void **state)
{
	static const char *const keys[] = {
		"io.kubernetes.container.name",
		"io.kubernetes.cri.container-name",
		"io.kubernetes.cri-o.ContainerName",
	};
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const char *by;
		char *k = (char *)keys[i];
		assert_int_equal(
			decide(A("merge.pagemeld.io", "true", "merge.pagemeld.io/b", "false", k, "b"), &by),
			HOOK_VERDICT_OPTED_OUT);
		assert_string_equal(by, "merge.pagemeld.io/b");
		assert_int_equal(
			decide(A("merge.pagemeld.io", "true", "merge.pagemeld.io/b", "false", k, "a"), &by),
			HOOK_VERDICT_MERGE);
		assert_string_equal(by, "merge.pagemeld.io");
		/* The override alone opts one container in. */
		assert_int_equal(decide(A("merge.pagemeld.io/a", "true", k, "a"), NULL), HOOK_VERDICT_MERGE);
		assert_int_equal(decide(A("merge.pagemeld.io/a", "true", k, "b"), NULL),
				 HOOK_VERDICT_NOT_ASKED);
		assert_int_equal(
			decide(A("merge.pagemeld.io", "false", "merge.pagemeld.io/a", "true", k, "a"), NULL),
			HOOK_VERDICT_MERGE);
	}
}

static void test_name_key_precedence(void **state)
{
	/* io.kubernetes.container.name wins over the runtime-specific keys. */
	assert_int_equal(decide(A("io.kubernetes.cri.container-name", "b", "io.kubernetes.container.name",
				  "a", "merge.pagemeld.io/a", "true"),
				NULL),
			 HOOK_VERDICT_MERGE);
}

static void test_crio_full_name(void **state)
{
	HookDecision d = {};
	HookError err = {};
	assert_int_equal(
		hook_decide(A("io.kubernetes.cri-o.ContainerName", "k8s_web_mypod_default_1234-5678_0",
			      "merge.pagemeld.io", "true", "merge.pagemeld.io/web", "false"),
			    NULL, &d, &err),
		0);
	assert_int_equal(d.verdict, HOOK_VERDICT_OPTED_OUT);
	assert_string_equal(d.container_name, "web");
	hook_decision_done(&d);

	char *n = container_name_from_cri("plain");
	assert_string_equal(n, "plain");
	free(n);
	n = container_name_from_cri("k8s_");
	assert_string_equal(n, "k8s_");
	free(n);
	n = container_name_from_cri("k8s__x");
	assert_string_equal(n, "k8s__x");
	free(n);
}

static void test_sandbox_never(void **state)
{
	assert_int_equal(
		decide(A("merge.pagemeld.io", "true", "io.kubernetes.cri-o.ContainerType", "sandbox"), NULL),
		HOOK_VERDICT_SANDBOX);
	assert_int_equal(
		decide(A("merge.pagemeld.io", "true", "io.kubernetes.cri.container-type", "sandbox"), NULL),
		HOOK_VERDICT_SANDBOX);
	assert_int_equal(
		decide(A("merge.pagemeld.io", "true", "io.kubernetes.cri.container-type", "container"), NULL),
		HOOK_VERDICT_MERGE);
	/* Even a per-container "true" naming the sandbox. */
	assert_int_equal(decide(A("merge.pagemeld.io/POD", "true", "io.kubernetes.container.name", "POD",
				  "io.kubernetes.cri-o.ContainerType", "sandbox"),
				NULL),
			 HOOK_VERDICT_SANDBOX);
}

static void expect_invalid(char *const *a, const char *key)
{
	HookDecision d = {.verdict = 42};
	HookError err = {};
	assert_int_equal(hook_decide(a, NULL, &d, &err), -EINVAL);
	assert_int_equal(d.verdict, 42);
	if (!strstr(err.msg, key))
		fail_msg("message \"%s\" does not name %s", err.msg, key);
}

static void test_invalid_values_name_the_key(void **state)
{
	expect_invalid(A("merge.pagemeld.io", "yes"), "merge.pagemeld.io has invalid value \"yes\"");
	expect_invalid(A("merge.pagemeld.io", "True"), "merge.pagemeld.io");
	expect_invalid(A("merge.pagemeld.io", ""), "merge.pagemeld.io");
	/* A bad override of another container is still an error. */
	expect_invalid(A("merge.pagemeld.io", "true", "merge.pagemeld.io/other", "1",
			 "io.kubernetes.container.name", "a"),
		       "merge.pagemeld.io/other");
	expect_invalid(A("merge.pagemeld.io/", "true"), "merge.pagemeld.io/ names no container");
}

static HookVerdict decide_runtime(char *const *a, const char *runtime_name, const char **decided_by)
{
	HookDecision d = {};
	HookError err = {};
	assert_int_equal(hook_decide(a, runtime_name, &d, &err), 0);
	*decided_by = d.decided_by;
	assert_null(d.container_name);
	HookVerdict v = d.verdict;
	hook_decision_done(&d);
	return v;
}

static void test_runtime_name_fallback(void **state)
{
	const char *by;
	char *const *pod = A("merge.pagemeld.io", "true", "merge.pagemeld.io/b", "false",
			     "merge.pagemeld.io/a-b", "true", "io.container.manager", "libpod");

	assert_true(annotations_have_container_override(pod));
	assert_false(annotations_have_container_override(A("merge.pagemeld.io", "true")));

	/* podman kube play: "<pod>-<container>" */
	assert_int_equal(decide_runtime(pod, "mypod-b", &by), HOOK_VERDICT_OPTED_OUT);
	assert_string_equal(by, "merge.pagemeld.io/b");
	assert_int_equal(decide_runtime(pod, "mypod-a", &by), HOOK_VERDICT_MERGE);
	assert_string_equal(by, "merge.pagemeld.io");
	/* the longest container name that fits wins: container "a-b" */
	assert_int_equal(decide_runtime(pod, "mypod-a-b", &by), HOOK_VERDICT_MERGE);
	assert_string_equal(by, "merge.pagemeld.io/a-b");
	/* podman run --name b */
	assert_int_equal(decide_runtime(pod, "b", &by), HOOK_VERDICT_OPTED_OUT);
	/* no partial words: "mypod-xb" is not container "b" */
	assert_int_equal(decide_runtime(pod, "mypod-xb", &by), HOOK_VERDICT_MERGE);
	assert_string_equal(by, "merge.pagemeld.io");

	/* A name annotation always wins over the runtime name. */
	HookDecision d = {};
	HookError err = {};
	assert_int_equal(hook_decide(A("merge.pagemeld.io", "true", "merge.pagemeld.io/b", "false",
				       "io.kubernetes.container.name", "a"),
				     "mypod-b", &d, &err),
			 0);
	assert_int_equal(d.verdict, HOOK_VERDICT_MERGE);
	assert_false(d.matched_runtime_name);
	hook_decision_done(&d);
}

static void test_daemon_annotations(void **state)
{
	HookDecision d = {};
	HookError err = {};
	char **l = NULL;
	char *const *in = A("merge.pagemeld.io", "true", "merge.pagemeld.io/b", "false",
			    "merge-budget.pagemeld.io", "512Mi", "trust-domain.pagemeld.io", "team-a",
			    "io.kubernetes.cri.container-name", "a", "unrelated", "x", "pagemeld.io", "y");

	assert_int_equal(hook_decide(in, NULL, &d, &err), 0);
	assert_int_equal(hook_daemon_annotations(in, &d, &l), 0);
	assert_int_equal(annotations_count(l), 4);
	assert_string_equal(annotations_get(l, "io.kubernetes.cri.container-name"), "a");
	assert_string_equal(annotations_get(l, "merge.pagemeld.io"), "true");
	assert_string_equal(annotations_get(l, "merge-budget.pagemeld.io"), "512Mi");
	assert_string_equal(annotations_get(l, "trust-domain.pagemeld.io"), "team-a");
	assert_null(annotations_get(l, "merge.pagemeld.io/b"));
	assert_null(annotations_get(l, "unrelated"));
	strv_free(l);
	hook_decision_done(&d);
}

static void test_daemon_annotations_identity(void **state)
{
	HookDecision d = {};
	HookError err = {};
	char **l = NULL;
	/* CRI-O's identity keys go along raw, other io.kubernetes keys do not */
	char *const *crio =
		A("merge.pagemeld.io", "true", "io.container.manager", "cri-o", "io.kubernetes.pod.namespace",
		  "ns1", "io.kubernetes.pod.name", "web-0", "io.kubernetes.pod.uid", "0b6c-11",
		  "io.kubernetes.container.name", "app", "io.kubernetes.cri-o.ContainerType", "container");

	assert_int_equal(hook_decide(crio, NULL, &d, &err), 0);
	assert_int_equal(hook_daemon_annotations(crio, &d, &l), 0);
	assert_int_equal(annotations_count(l), 6);
	assert_string_equal(annotations_get(l, "io.container.manager"), "cri-o");
	assert_string_equal(annotations_get(l, "io.kubernetes.pod.namespace"), "ns1");
	assert_string_equal(annotations_get(l, "io.kubernetes.pod.name"), "web-0");
	assert_string_equal(annotations_get(l, "io.kubernetes.pod.uid"), "0b6c-11");
	assert_string_equal(annotations_get(l, "io.kubernetes.container.name"), "app");
	assert_null(annotations_get(l, "io.kubernetes.cri-o.ContainerType"));
	strv_free(l);
	hook_decision_done(&d);

	/* A pod-written CRI-O key on a containerd container: two runtimes. Every
	 * identity key goes along all the same, for pagemeldd to refuse it a
	 * trust domain: without them it would look like a container without
	 * namespace. */
	char *const *fake =
		A("merge.pagemeld.io", "true", "io.kubernetes.cri.container-type", "container",
		  "io.kubernetes.cri.sandbox-namespace", "ns1", "io.kubernetes.cri.container-name", "app",
		  "io.kubernetes.pod.namespace", "kube-system");
	assert_int_equal(hook_decide(fake, NULL, &d, &err), 0);
	assert_int_equal(d.verdict, HOOK_VERDICT_MERGE);
	assert_int_equal(hook_daemon_annotations(fake, &d, &l), 0);
	assert_int_equal(annotations_count(l), 5);
	assert_string_equal(annotations_get(l, "merge.pagemeld.io"), "true");
	assert_string_equal(annotations_get(l, "io.kubernetes.cri.sandbox-namespace"), "ns1");
	assert_string_equal(annotations_get(l, "io.kubernetes.pod.namespace"), "kube-system");
	strv_free(l);
	hook_decision_done(&d);
}

static void test_annotation_sizes(void **state)
{
	char value[PAGEMELD_ANNOTATION_VALUE_MAX + 2], key[PAGEMELD_ANNOTATION_KEY_MAX + 2];
	HookError err = {};

	memset(value, '0', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	char *over_value[] = {"merge.pagemeld.io", "true", "swap-budget.pagemeld.io", value, NULL};
	assert_int_equal(hook_check_annotation_sizes(over_value, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "annotation swap-budget.pagemeld.io: the value is 1025 bytes"));

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	char *over_key[] = {key, "v", NULL};
	assert_int_equal(hook_check_annotation_sizes(over_key, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "the key is 318 bytes"));

	value[PAGEMELD_ANNOTATION_VALUE_MAX] = '\0';
	key[PAGEMELD_ANNOTATION_KEY_MAX] = '\0';
	char *at_caps[] = {key, value, NULL};
	assert_int_equal(hook_check_annotation_sizes(at_caps, &err), 0);
}

static void test_config(void **state)
{
	char *dir = tmpdir_new();
	_cleanup_free_ char *path = path_join(dir, "pagemeld.conf");
	HookConfig c;
	HookError err = {};

	hook_config_init(&c);
	assert_int_equal(c.timeout_ms, 2000);
	assert_int_equal(c.fail_mode, HOOK_FAIL_OPEN);

	assert_int_equal(hook_config_load(path, false, &c, &err), -ENOENT);
	assert_int_equal(hook_config_load(path, true, &c, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot open"));

	tree_write(dir, "pagemeld.conf",
		   "# the daemon's section is not ours\n[Daemon]\nwhatever=1\n\n[Hook]\nTimeoutMSec=350\n"
		   "FailMode=closed\n");
	assert_int_equal(hook_config_load(path, true, &c, &err), 0);
	assert_int_equal(c.timeout_ms, 350);
	assert_int_equal(c.fail_mode, HOOK_FAIL_CLOSED);

	/* The lower-case spellings. */
	tree_write(dir, "pagemeld.conf", "[hook]\ntimeout-ms=20\nfail-mode=open\n");
	assert_int_equal(hook_config_load(path, true, &c, &err), 0);
	assert_int_equal(c.timeout_ms, 20);
	assert_int_equal(c.fail_mode, HOOK_FAIL_OPEN);

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"[Hook]\nFailMode=sometimes\n", ":2: [Hook] FailMode=sometimes"},
		{"[hook]\ntimeout-ms=0\n", "timeout-ms=0"},
		{"[hook]\ntimeout-ms=99999999\n", "timeout-ms=99999999"},
		{"[hook]\ntimeout-ms=2s\n", "timeout-ms=2s"},
		{"[hook]\ntimeout=5\n", "unknown key \"timeout\""},
		{"[hook\n", "syntax error"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		HookConfig keep = {.timeout_ms = 7, .fail_mode = HOOK_FAIL_OPEN};
		tree_write(dir, "pagemeld.conf", bad[i].text);
		assert_int_equal(hook_config_load(path, true, &keep, &err), -EINVAL);
		assert_int_equal(keep.timeout_ms, 7);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("\"%s\" lacks \"%s\"", err.msg, bad[i].msg);
	}
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_level),
		cmocka_unit_test(test_container_override_each_name_key),
		cmocka_unit_test(test_name_key_precedence),
		cmocka_unit_test(test_crio_full_name),
		cmocka_unit_test(test_sandbox_never),
		cmocka_unit_test(test_invalid_values_name_the_key),
		cmocka_unit_test(test_runtime_name_fallback),
		cmocka_unit_test(test_daemon_annotations),
		cmocka_unit_test(test_daemon_annotations_identity),
		cmocka_unit_test(test_annotation_sizes),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
