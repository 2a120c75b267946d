/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <string.h>

#include "macro.h"
#include "pod-identity.h"

#define N(kv) (ELEMENTSOF(kv) / 2)

static void expect(char *const *kv, size_t n, PodRuntime runtime, const char *ns, const char *name,
		   const char *uid, const char *container)
{
	PodIdentity id;
	const char *bad = NULL;
	int r = pod_identity_from_annotations(kv, n, &id, &bad);
	if (r != 0)
		fail_msg("pod_identity_from_annotations = %d (bad key %s)", r, bad ? bad : "-");
	assert_int_equal(id.runtime, runtime);
	assert_true(streq_ptr(id.pod_namespace, ns));
	assert_true(streq_ptr(id.pod_name, name));
	assert_true(streq_ptr(id.pod_uid, uid));
	assert_true(streq_ptr(id.container_name, container));
	pod_identity_done(&id);
}

static void expect_err(char *const *kv, size_t n, int err, const char *bad_key)
{
	PodIdentity id = {.runtime = 4242};
	const char *bad = NULL;
	assert_int_equal(pod_identity_from_annotations(kv, n, &id, &bad), err);
	assert_non_null(bad);
	assert_string_equal(bad, bad_key);
	assert_int_equal(id.runtime, 4242); /* untouched on failure */
}

/* What containerd 1.6.20 wrote into an app container's spec in
 * tests/integration/test_containerd.py, the pod's let-through keys first. */
static void test_containerd(void **state)
{
	(void)state;
	/* clang-format off */
	char *kv[] = {
		"merge.pagemeld.io", "true",
		"merge.pagemeld.io/optout", "false",
		"io.kubernetes.cri.container-type", "container",
		"io.kubernetes.cri.sandbox-id", "5f0c1e",
		"io.kubernetes.cri.sandbox-namespace", "team-a",
		"io.kubernetes.cri.sandbox-uid", "0f6c51c1-5d6e-4b55-9a3c-6f1f1e1a9b01",
		"io.kubernetes.cri.sandbox-name", "merge-demo",
		"io.kubernetes.cri.container-name", "app-a",
		"io.kubernetes.cri.image-name", "localhost/pagemeld-cri:1",
	};
	/* clang-format on */
	expect(kv, N(kv), POD_RUNTIME_CONTAINERD, "team-a", "merge-demo",
	       "0f6c51c1-5d6e-4b55-9a3c-6f1f1e1a9b01", "app-a");
}

/* CRI-O (internal/factory/container/container.go): the pod's annotations,
 * its own io.kubernetes.cri-o.* keys and io.container.manager, then the
 * kubelet's labels. */
static void test_crio(void **state)
{
	(void)state;
	/* clang-format off */
	char *kv[] = {
		"merge.pagemeld.io", "true",
		"io.kubernetes.cri-o.ContainerType", "container",
		"io.kubernetes.cri-o.ContainerName", "k8s_web_shop-0_prod_7c1b_0",
		"io.kubernetes.cri-o.SandboxID", "9d3e",
		"io.container.manager", "cri-o",
		"io.kubernetes.pod.namespace", "prod",
		"io.kubernetes.pod.name", "shop-0.eu",
		"io.kubernetes.pod.uid", "7c1b2a3d-aaaa-bbbb-cccc-1234567890ab",
		"io.kubernetes.container.name", "web",
	};
	/* clang-format on */
	expect(kv, N(kv), POD_RUNTIME_CRIO, "prod", "shop-0.eu", "7c1b2a3d-aaaa-bbbb-cccc-1234567890ab",
	       "web");
	/* an older CRI-O without io.container.manager: the kubelet's keys suffice */
	expect(kv + 10, N(kv) - 5, POD_RUNTIME_CRIO, "prod", "shop-0.eu",
	       "7c1b2a3d-aaaa-bbbb-cccc-1234567890ab", "web");
}

/* podman 4.3 kube play, as observed in a container's config.json: libpod
 * names no pod, namespace, uid or container in the annotations. */
static void test_podman_kube_play(void **state)
{
	(void)state;
	/* clang-format off */
	char *kv[] = {
		"foo.example/a", "b",
		"io.container.manager", "libpod",
		"io.kubernetes.cri-o.ContainerType", "container",
		"io.kubernetes.cri-o.Created", "2026-12-06T01:15:12.505722769Z",
		"io.kubernetes.cri-o.SandboxID", "a889de8e75f2",
		"io.podman.annotations.autoremove", "FALSE",
		"org.opencontainers.image.stopSignal", "15",
	};
	/* clang-format on */
	expect(kv, N(kv), POD_RUNTIME_PODMAN, NULL, NULL, NULL, NULL);
}

static void test_no_runtime_keys(void **state)
{
	(void)state;
	char *kv[] = {
		"merge.pagemeld.io",
		"true",
		"io.container.manager",
		"something-else",
		"io.kubernetes.cri-o.ContainerType",
		"container", /* podman run in a pod writes it too */
	};
	expect(kv, N(kv), POD_RUNTIME_NONE, NULL, NULL, NULL, NULL);
	expect(NULL, 0, POD_RUNTIME_NONE, NULL, NULL, NULL, NULL);
	/* empty values count as unset (a CRI client that sends no namespace) */
	/* clang-format off */
	char *empty[] = {
		"io.kubernetes.cri.sandbox-namespace", "",
		"io.kubernetes.cri.container-name", "c",
	};
	/* clang-format on */
	expect(empty, N(empty), POD_RUNTIME_CONTAINERD, NULL, NULL, NULL, "c");
}

/* A pod that lets its own annotations imitate another runtime's keys gets
 * an error, never the identity it wrote. */
static void test_imitation_is_an_error(void **state)
{
	(void)state;
	/* under CRI-O, which copies every pod annotation first */
	/* clang-format off */
	char *under_crio[] = {
		"io.kubernetes.cri.sandbox-namespace", "kube-system",
		"io.container.manager", "cri-o",
		"io.kubernetes.pod.namespace", "tenant",
	};
	/* clang-format on */
	expect_err(under_crio, N(under_crio), -EBADMSG, "io.container.manager");
	/* a CRI-O pod posing as podman, whose pods have no namespace */
	/* clang-format off */
	char *as_podman[] = {
		"io.container.manager", "cri-o",
		"io.kubernetes.pod.namespace", "tenant",
		"io.container.manager", "libpod",
	};
	/* clang-format on */
	expect_err(as_podman, N(as_podman), -EBADMSG, "io.container.manager");
	/* containerd with a pass-through glob wide enough for CRI-O's keys */
	/* clang-format off */
	char *under_containerd[] = {
		"io.kubernetes.pod.namespace", "kube-system",
		"io.kubernetes.cri.container-type", "container",
		"io.kubernetes.cri.sandbox-namespace", "tenant",
	};
	/* clang-format on */
	expect_err(under_containerd, N(under_containerd), -EBADMSG, "io.kubernetes.cri.container-type");
	/* one key twice */
	/* clang-format off */
	char *twice[] = {
		"io.kubernetes.pod.namespace", "tenant",
		"io.kubernetes.pod.namespace", "kube-system",
	};
	/* clang-format on */
	expect_err(twice, N(twice), -EBADMSG, "io.kubernetes.pod.namespace");
}

static void test_invalid_values(void **state)
{
	(void)state;
	char *ns[] = {"io.kubernetes.cri.sandbox-namespace", "Team_A"};
	expect_err(ns, N(ns), -EINVAL, "io.kubernetes.cri.sandbox-namespace");
	char *name[] = {"io.kubernetes.pod.name", "a..b"};
	expect_err(name, N(name), -EINVAL, "io.kubernetes.pod.name");
	char *uid[] = {"io.kubernetes.cri.sandbox-uid", "a b"};
	expect_err(uid, N(uid), -EINVAL, "io.kubernetes.cri.sandbox-uid");
	char *ctr[] = {"io.kubernetes.container.name", "web\n"};
	expect_err(ctr, N(ctr), -EINVAL, "io.kubernetes.container.name");
}

static void test_name_rules(void **state)
{
	(void)state;
	char long_label[65], long_sub[255];
	memset(long_label, 'a', 64);
	long_label[64] = 0;
	memset(long_sub, 'a', 254);
	long_sub[254] = 0;

	assert_true(kube_label_name_valid("default"));
	assert_true(kube_label_name_valid("a"));
	assert_true(kube_label_name_valid("kube-system"));
	assert_true(kube_label_name_valid("0abc9"));
	assert_true(kube_label_name_valid(long_label + 1)); /* 63 */
	assert_false(kube_label_name_valid(long_label));    /* 64 */
	assert_false(kube_label_name_valid(""));
	assert_false(kube_label_name_valid(NULL));
	assert_false(kube_label_name_valid("-a"));
	assert_false(kube_label_name_valid("a-"));
	assert_false(kube_label_name_valid("a.b"));
	assert_false(kube_label_name_valid("A"));
	assert_false(kube_label_name_valid("a/b"));

	assert_true(kube_subdomain_name_valid("shop-0.eu"));
	assert_true(kube_subdomain_name_valid("a.b.c"));
	assert_true(kube_subdomain_name_valid(long_sub + 1)); /* 253 */
	assert_false(kube_subdomain_name_valid(long_sub));    /* 254 */
	assert_false(kube_subdomain_name_valid(".a"));
	assert_false(kube_subdomain_name_valid("a."));
	assert_false(kube_subdomain_name_valid("a..b"));
	assert_false(kube_subdomain_name_valid("a-.b"));
	assert_false(kube_subdomain_name_valid("a.-b"));
	assert_false(kube_subdomain_name_valid("a_b"));

	assert_string_equal(pod_runtime_to_string(POD_RUNTIME_CONTAINERD), "containerd");
	assert_string_equal(pod_runtime_to_string(POD_RUNTIME_CRIO), "cri-o");
	assert_string_equal(pod_runtime_to_string(POD_RUNTIME_PODMAN), "podman");
	assert_string_equal(pod_runtime_to_string(POD_RUNTIME_NONE), "none");
	assert_null(pod_runtime_to_string(_POD_RUNTIME_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_containerd),
		cmocka_unit_test(test_crio),
		cmocka_unit_test(test_podman_kube_play),
		cmocka_unit_test(test_no_runtime_keys),
		cmocka_unit_test(test_imitation_is_an_error),
		cmocka_unit_test(test_invalid_values),
		cmocka_unit_test(test_name_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
