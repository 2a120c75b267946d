/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon/persist.c: the registrations file round-trips, is replaced
 * atomically and refuses what it cannot trust. */
#include "unit-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "persist.h"

static char *annotations_a[] = {(char *)"merge.pagemeld.io",
				(char *)"true",
				(char *)"merge-budget.pagemeld.io",
				(char *)"1Gi",
				(char *)"x\\\"y",
				(char *)"tab\there\x01 \xc3\xa9 / \\ \"q\"",
				NULL};

static void fill(Manager *m, CgroupState *cg, Container *c1, Container *c2, char *dir)
{
	*m = (Manager){.state_dir = dir, .cgroups = cg, .n_cgroups = 1, .containers = c1, .n_containers = 2};
	*cg = (CgroupState){.manager = m,
			    .path = (char *)"/kubepods/pod1/ctr \"quoted\"",
			    .containers = c1,
			    .n_containers = 2,
			    .enabled = false,
			    .merge_budget = 1ULL << 30,
			    .swap_budget = UINT64_MAX};
	*c1 = (Container){.manager = m,
			  .id = (char *)"c1",
			  .cgroup = cg,
			  .annotations = annotations_a,
			  .n_annotations = 3,
			  .init_pid = 4242,
			  .next = c2,
			  .cgroup_next = c2};
	*c2 = (Container){.manager = m,
			  .id = (char *)"c2",
			  .cgroup = cg,
			  .annotations = (char *[]){NULL},
			  .n_annotations = 0,
			  .prev = c1,
			  .cgroup_prev = c1};
}

static void test_round_trip(void **state)
{
	Manager m;
	CgroupState cg;
	Container c1, c2;
	char *dir = tmpdir_new();
	fill(&m, &cg, &c1, &c2, dir);

	assert_int_equal(persist_save(&m), 0);
	struct stat st;
	char *tmp = strdup_printf("%s/.registrations.json.tmp", dir);
	assert_int_equal(stat(tmp, &st), -1); /* no temp file left */
	free(tmp);

	PersistedState s;
	assert_int_equal(persist_load(dir, &s), 0);
	assert_int_equal(s.n_cgroups, 1);
	assert_string_equal(s.cgroups[0].path, cg.path);
	assert_false(s.cgroups[0].enabled);
	assert_int_equal(s.cgroups[0].merge_budget, 1ULL << 30);
	assert_int_equal(s.cgroups[0].swap_budget, UINT64_MAX);
	assert_int_equal(s.n_containers, 2);
	assert_string_equal(s.containers[0].id, "c1");
	assert_string_equal(s.containers[0].cgroup, cg.path);
	assert_int_equal(s.containers[0].pid, 4242);
	assert_int_equal(s.containers[0].n, 3);
	assert_string_equal(s.containers[0].kv[0], "merge.pagemeld.io");
	assert_string_equal(s.containers[0].kv[3], "1Gi");
	/* escaped on the way out, the same bytes on the way in */
	assert_string_equal(s.containers[0].kv[4], annotations_a[4]);
	assert_string_equal(s.containers[0].kv[5], annotations_a[5]);
	assert_null(s.containers[0].kv[6]);
	assert_string_equal(s.containers[1].id, "c2");
	assert_int_equal(s.containers[1].n, 0);
	persisted_state_done(&s);

	/* a second save replaces the file */
	cg.enabled = true;
	assert_int_equal(persist_save(&m), 0);
	assert_int_equal(persist_load(dir, &s), 0);
	assert_true(s.cgroups[0].enabled);
	persisted_state_done(&s);
	tmpdir_remove(dir);
}

static void expect_parse(const char *text, int want)
{
	PersistedState s;
	int r = persist_parse(text, &s);
	if (r != want)
		fail_msg("persist_parse(%s) = %d, want %d", text, r, want);
	if (r == 0)
		persisted_state_done(&s);
}

static void test_refuses_garbage(void **state)
{
	expect_parse("{\"version\":1,\"cgroups\":[],\"containers\":[]}", 0);
	expect_parse("", -EINVAL);
	expect_parse("{\"version\":1,\"cgroups\":[", -EINVAL);
	expect_parse("[]", -EINVAL);
	expect_parse("{\"version\":2,\"cgroups\":[],\"containers\":[]}", -EPROTO);
	expect_parse("{\"version\":1,\"cgroups\":[{\"path\":\"relative\"}],\"containers\":[]}", -EINVAL);
	expect_parse("{\"version\":1,\"cgroups\":[],\"containers\":[{\"id\":\"x\",\"cgroup\":\"/a\"}]}",
		     -EINVAL);
	expect_parse("{\"version\":1,\"cgroups\":[],\"containers\":[{\"id\":\"x\",\"cgroup\":\"/a\","
		     "\"annotations\":{\"k\":1}}]}",
		     -EINVAL);
	expect_parse(
		"{\"version\":1,\"cgroups\":[{\"path\":\"/a\",\"merge_budget\":\"lots\"}],\"containers\":[]}",
		-EINVAL);
}

static void test_missing(void **state)
{
	PersistedState s;
	char *dir = tmpdir_new();
	assert_int_equal(persist_load(dir, &s), -ENOENT);
	tmpdir_remove(dir);
}

static const PersistedContainer *find(const PersistedState *s, const char *id)
{
	for (size_t i = 0; i < s->n_containers; i++)
		if (strcmp(s->containers[i].id, id) == 0)
			return &s->containers[i];
	return NULL;
}

static const PersistedCgroup *find_cgroup(const PersistedState *s, const char *path)
{
	for (size_t i = 0; i < s->n_cgroups; i++)
		if (strcmp(s->cgroups[i].path, path) == 0)
			return &s->cgroups[i];
	return NULL;
}

static void test_container_record(void **state)
{
	Manager m;
	CgroupState cg;
	Container c1, c2;
	char *dir = tmpdir_new(), *text = NULL;
	fill(&m, &cg, &c1, &c2, dir);

	/* a marker's content: the container's record, read back by the rebuild */
	assert_int_equal(persist_container_format(&c1, &text), 0);
	tree_write(dir, "containers/c1", text);
	free(text);
	PersistedState s;
	assert_int_equal(persist_rebuild(dir, NULL, "/nonexistent", &s), 0);
	assert_int_equal(s.n_containers, 1);
	assert_string_equal(s.containers[0].id, "c1");
	assert_string_equal(s.containers[0].cgroup, cg.path);
	assert_int_equal(s.containers[0].pid, 4242);
	assert_int_equal(s.containers[0].n, 3);
	assert_string_equal(s.containers[0].kv[3], "1Gi");
	assert_string_equal(s.containers[0].kv[5], annotations_a[5]);
	assert_int_equal(s.n_cgroups, 1);
	assert_true(s.cgroups[0].rebuilt);
	assert_true(s.cgroups[0].enabled);
	assert_int_equal(s.cgroups[0].merge_budget, UINT64_MAX);
	persisted_state_done(&s);
	tmpdir_remove(dir);
}

static void test_rebuild_from_markers_and_cgroups(void **state)
{
	char *dir = tmpdir_new(), *cgroups = tmpdir_new(), *proc = tmpdir_new();
	PersistedState s;
	static const char id_crio[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	/* no markers directory: nothing to rebuild, nothing failed */
	assert_int_equal(persist_rebuild(dir, cgroups, proc, &s), 0);
	assert_int_equal(s.n_containers, 0);
	persisted_state_done(&s);

	/* a record, a record for another id (not trusted), empty markers
	 * (an older pagemeldd's, or ENOSPC), a name no id escapes to */
	tree_write(dir, "containers/rec",
		   "{\"id\":\"rec\",\"cgroup\":\"/a\",\"pid\":7,"
		   "\"annotations\":{\"merge-budget.pagemeld.io\":\"1024\"}}");
	tree_write(dir, "containers/liar", "{\"id\":\"other\",\"cgroup\":\"/victim\",\"annotations\":{}}");
	tree_write(dir, "containers/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "");
	tree_write(dir, "containers/plain", "");
	tree_write(dir, "containers/twice", "");
	tree_write(dir, "containers/gone", "");
	tree_write(dir, "containers/bad%zz", "");
	/* the cgroup tree: crio's scope and its conmon's, runc's plain name,
	 * one id under two directories (ambiguous), a similar longer name */
	tree_write(cgroups,
		   "kubepods.slice/pod1/"
		   "crio-conmon-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope/"
		   "cgroup.procs",
		   "");
	tree_write(cgroups,
		   "kubepods.slice/pod1/"
		   "crio-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope/cgroup.procs",
		   "41\n42\n");
	tree_write(cgroups, "runc/plain/cgroup.procs", "");
	tree_write(cgroups, "runc/plainer/cgroup.procs", "");
	tree_write(cgroups, "x/twice/cgroup.procs", "");
	tree_write(cgroups, "y/twice/cgroup.procs", "");
	tree_write(cgroups, "a/cgroup.procs", "");
	tree_write(cgroups, "liar/cgroup.procs", "");
	/* crio's processes all have merging off: it was disabled */
	tree_write(proc, "41/ksm_stat",
		   "ksm_rmap_items 0\nksm_zero_pages 0\nksm_merging_pages 0\n"
		   "ksm_process_profit 0\nksm_merge_any: no\nksm_mergeable: no\n");
	tree_write(proc, "42/ksm_stat",
		   "ksm_rmap_items 0\nksm_zero_pages 0\nksm_merging_pages 0\n"
		   "ksm_process_profit 0\nksm_merge_any: no\nksm_mergeable: no\n");

	assert_int_equal(persist_rebuild(dir, cgroups, proc, &s), 0);
	assert_int_equal(s.n_containers, 4);
	const PersistedContainer *c = find(&s, "rec");
	assert_non_null(c);
	assert_string_equal(c->cgroup, "/a");
	assert_int_equal(c->pid, 7);
	assert_string_equal(c->kv[1], "1024");
	c = find(&s, id_crio);
	assert_non_null(c);
	assert_string_equal(c->cgroup,
			    "/kubepods.slice/pod1/"
			    "crio-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope");
	assert_int_equal(c->pid, 0);
	assert_int_equal(c->n, 0);
	c = find(&s, "plain");
	assert_non_null(c);
	assert_string_equal(c->cgroup, "/runc/plain");
	assert_null(find(&s, "twice"));
	assert_null(find(&s, "gone"));
	/* a record of another id is not believed: found by its own name */
	assert_string_equal(find(&s, "liar")->cgroup, "/liar");
	assert_null(find(&s, "other"));

	assert_int_equal(s.n_cgroups, 4);
	const PersistedCgroup *cg = find_cgroup(&s, c->cgroup);
	assert_non_null(cg);
	assert_true(cg->rebuilt);
	assert_true(cg->enabled); /* no process tells otherwise */
	cg = find_cgroup(&s, find(&s, id_crio)->cgroup);
	assert_non_null(cg);
	assert_false(cg->enabled);
	persisted_state_done(&s);

	tmpdir_remove(dir);
	tmpdir_remove(cgroups);
	tmpdir_remove(proc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refuses_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_container_record),
		cmocka_unit_test(test_rebuild_from_markers_and_cgroups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
