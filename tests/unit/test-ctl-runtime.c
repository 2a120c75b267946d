/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-runtime.h"
#include "macro.h"

#define CRIO_SHOP                                                                                   \
	"{\"annotations\": {\"io.container.manager\": \"cri-o\", \"io.kubernetes.pod.namespace\": " \
	"\"shop\", \"io.kubernetes.pod.name\": \"web-1\", \"io.kubernetes.container.name\": \"nginx\"}}"

static void proc_stat(const char *root, int pid, unsigned long long start)
{
	char rel[64], text[256];
	snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
	/* a comm with spaces and a ')' must not shift the fields */
	snprintf(text, sizeof(text),
		 "%d (a) b) S 1 %d %d 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %llu 1000 10 "
		 "18446744073709551615\n",
		 pid, pid, pid, start);
	tree_write(root, rel, text);
}

static void runc_state(const char *root, const char *rel, int pid, unsigned long long start,
		       const char *bundle)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "{\"id\": \"x\", \"init_process_pid\": %d, \"init_process_start\": %llu, "
		 "\"config\": {\"labels\": [\"other=1\", \"bundle=%s\"]}}",
		 pid, start, bundle);
	tree_write(root, rel, text);
}

static const CtlRuntimeContainer *find(const CtlRuntimeContainer *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].id, id))
			return &v[i];
	return NULL;
}

static void test_runtime_containers(void **state)
{
	char *root = tmpdir_new();
	/* runc, CRI-O pod in namespace shop */
	runc_state(root, "run/runc/c1/state.json", 100, 555, "/b/c1");
	tree_write(root, "b/c1/config.json", CRIO_SHOP);
	proc_stat(root, 100, 555);
	/* runc, but the pid now names another process (start time differs) */
	runc_state(root, "run/runc/c2/state.json", 101, 555, "/b/c1");
	proc_stat(root, 101, 777);
	/* crun, containerd's pod sandbox of namespace shop */
	tree_write(root, "run/crun/c3/status", "{\"pid\": 102, \"bundle\": \"/b/c3\"}");
	tree_write(root, "b/c3/config.json",
		   "{\"annotations\": {\"io.kubernetes.cri.sandbox-namespace\": \"shop\", "
		   "\"io.kubernetes.cri.sandbox-name\": \"web-2\", \"io.kubernetes.cri.container-type\": "
		   "\"sandbox\"}}");
	proc_stat(root, 102, 9);
	/* containerd's runc root of namespace k8s.io: no annotations at all */
	runc_state(root, "run/containerd/runc/k8s.io/c4/state.json", 103, 10, "/b/c4");
	tree_write(root, "b/c4/config.json", "{\"ociVersion\": \"1.0.2\"}");
	proc_stat(root, 103, 10);
	/* the keys of two runtimes at once: an imitation, never placed */
	runc_state(root, "run/runc/c5/state.json", 104, 11, "/b/c5");
	tree_write(root, "b/c5/config.json",
		   "{\"annotations\": {\"io.container.manager\": \"cri-o\", \"io.kubernetes.pod.namespace\": "
		   "\"shop\", \"io.kubernetes.cri.sandbox-namespace\": \"bank\"}}");
	proc_stat(root, 104, 11);
	/* exited: the state outlives the process */
	runc_state(root, "run/runc/c6/state.json", 105, 12, "/b/c1");
	/* garbage, and a relative bundle */
	tree_write(root, "run/runc/c7/state.json", "{not json");
	runc_state(root, "run/runc/c8/state.json", 100, 555, "b/c1");

	CtlRuntimeContainer *v = NULL;
	size_t n = 0;
	assert_int_equal(ctl_runtime_containers(root, CTL_RUNTIME_ROOTS_DEFAULT, &v, &n), 0);
	assert_int_equal(n, 3);
	const CtlRuntimeContainer *c = find(v, n, "c1");
	assert_non_null(c);
	assert_int_equal(c->pid, 100);
	assert_false(c->sandbox);
	assert_int_equal(c->identity.runtime, POD_RUNTIME_CRIO);
	assert_string_equal(c->identity.pod_namespace, "shop");
	assert_string_equal(c->identity.pod_name, "web-1");
	assert_string_equal(c->identity.container_name, "nginx");
	c = find(v, n, "c3");
	assert_non_null(c);
	assert_int_equal(c->pid, 102);
	assert_true(c->sandbox);
	assert_string_equal(c->identity.pod_namespace, "shop");
	c = find(v, n, "c4");
	assert_non_null(c);
	assert_int_equal(c->identity.runtime, POD_RUNTIME_NONE);
	assert_null(c->identity.pod_namespace);
	ctl_runtime_containers_free(v, n);

	/* one root only; roots that do not exist are no error */
	assert_int_equal(ctl_runtime_containers(root, "/run/crun:/nonexistent:/nonexistent/*", &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "c3");
	ctl_runtime_containers_free(v, n);
	tmpdir_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_containers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
