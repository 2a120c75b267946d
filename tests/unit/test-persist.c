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
	m.seq = 9;
	cg.seq = 4;
	c1.seq = 5;

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
	assert_int_equal(s.seq, 9);
	assert_int_equal(s.cgroups[0].seq, 4);
	assert_int_equal(s.containers[0].seq, 5);
	assert_int_equal(s.containers[0].cgroup_seq, 4);
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
	assert_int_equal(persist_rebuild(dir, NULL, "/nonexistent", NULL, &s), 0);
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
	assert_int_equal(persist_rebuild(dir, cgroups, proc, NULL, &s), 0);
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

	assert_int_equal(persist_rebuild(dir, cgroups, proc, NULL, &s), 0);
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

/* The snapshot reconciled with the markers: the markers say who is
 * registered, their records win, the snapshot keeps the cgroups' state
 * when they are the cgroups it knew. */
static void test_reconcile_snapshot_and_markers(void **state)
{
	char *dir = tmpdir_new();
	PersistedState snap, s;
	const char *snapshot =
		"{\"version\":1,\"seq\":10,\"cgroups\":["
		"{\"path\":\"/a\",\"seq\":3,\"enabled\":false,\"merge_budget\":100,\"swap_budget\":null},"
		"{\"path\":\"/b\",\"seq\":5,\"enabled\":true,\"merge_budget\":200,\"swap_budget\":null},"
		"{\"path\":\"/c\",\"seq\":6,\"enabled\":false,\"merge_budget\":300,\"swap_budget\":7}],"
		"\"containers\":["
		"{\"id\":\"keep\",\"cgroup\":\"/a\",\"pid\":1,\"seq\":3,\"cgroup_seq\":3,\"annotations\":{}},"
		"{\"id\":\"changed\",\"cgroup\":\"/"
		"a\",\"pid\":2,\"seq\":4,\"cgroup_seq\":3,\"annotations\":{}},"
		"{\"id\":\"legacy\",\"cgroup\":\"/"
		"a\",\"pid\":3,\"seq\":7,\"cgroup_seq\":3,\"annotations\":{}},"
		"{\"id\":\"gone\",\"cgroup\":\"/b\",\"pid\":4,\"seq\":5,\"cgroup_seq\":5,\"annotations\":{}},"
		"{\"id\":\"old\",\"cgroup\":\"/"
		"c\",\"pid\":5,\"seq\":6,\"cgroup_seq\":6,\"annotations\":{}}]}";

	/* unchanged since the snapshot */
	tree_write(dir, "containers/keep",
		   "{\"id\":\"keep\",\"cgroup\":\"/"
		   "a\",\"pid\":1,\"seq\":3,\"cgroup_seq\":3,\"annotations\":{}}");
	/* registered again after it, with another pid and a budget */
	tree_write(dir, "containers/changed",
		   "{\"id\":\"changed\",\"cgroup\":\"/a\",\"pid\":99,\"seq\":12,\"cgroup_seq\":3,"
		   "\"annotations\":{\"merge-budget.pagemeld.io\":\"1024\"}}");
	/* an older pagemeldd's empty marker: the snapshot's record */
	tree_write(dir, "containers/legacy", "");
	/* registered after it in a new cgroup */
	tree_write(dir, "containers/new",
		   "{\"id\":\"new\",\"cgroup\":\"/"
		   "n\",\"pid\":6,\"seq\":11,\"cgroup_seq\":11,\"annotations\":{}}");
	/* /c emptied ("old" unregistered) and created again after it */
	tree_write(dir, "containers/re",
		   "{\"id\":\"re\",\"cgroup\":\"/"
		   "c\",\"pid\":7,\"seq\":13,\"cgroup_seq\":13,\"annotations\":{}}");

	assert_int_equal(persist_parse(snapshot, &snap), 0);
	assert_int_equal(persist_rebuild(dir, NULL, "/nonexistent", &snap, &s), 0);
	persisted_state_done(&snap);

	assert_int_equal(s.n_containers, 5);
	assert_null(find(&s, "gone")); /* no marker: unregistered after the snapshot */
	assert_null(find(&s, "old"));
	assert_false(find(&s, "keep")->newer);
	assert_int_equal(find(&s, "changed")->pid, 99); /* the marker wins */
	assert_true(find(&s, "changed")->newer);
	assert_string_equal(find(&s, "changed")->kv[1], "1024");
	assert_int_equal(find(&s, "legacy")->pid, 3);
	assert_false(find(&s, "legacy")->newer);
	assert_true(find(&s, "new")->newer);
	assert_true(find(&s, "re")->newer);
	assert_int_equal(s.seq, 13);
	/* in the order they registered (the last one's budget stays) */
	static const char *const order[] = {"keep", "legacy", "new", "changed", "re"};
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(s.containers[i].id, order[i]);

	assert_int_equal(s.n_cgroups, 3);
	const PersistedCgroup *cg = find_cgroup(&s, "/a"); /* the snapshot's */
	assert_false(cg->rebuilt);
	assert_false(cg->enabled);
	assert_int_equal(cg->merge_budget, 100);
	cg = find_cgroup(&s, "/n"); /* new: as a registration creates it */
	assert_true(cg->rebuilt);
	assert_true(cg->enabled);
	assert_int_equal(cg->seq, 11);
	cg = find_cgroup(&s, "/c"); /* created again: not the snapshot's /c */
	assert_true(cg->rebuilt);
	assert_true(cg->enabled);
	assert_int_equal(cg->merge_budget, UINT64_MAX);
	assert_int_equal(cg->swap_budget, UINT64_MAX);
	assert_null(find_cgroup(&s, "/b"));
	persisted_state_done(&s);

	/* the markers directory lost: the snapshot as it is */
	tmpdir_remove(dir);
	dir = tmpdir_new();
	assert_int_equal(persist_parse(snapshot, &snap), 0);
	assert_int_equal(persist_rebuild(dir, NULL, "/nonexistent", &snap, &s), 0);
	persisted_state_done(&snap);
	assert_int_equal(s.n_containers, 5);
	assert_non_null(find(&s, "gone"));
	assert_int_equal(s.n_cgroups, 3);
	assert_false(find_cgroup(&s, "/c")->enabled);
	persisted_state_done(&s);
	tmpdir_remove(dir);
}

/* A marker is written whole or not at all, and removed once. */
static void test_marker_save_remove(void **state)
{
	Manager m;
	CgroupState cg;
	Container c1, c2;
	char *dir = tmpdir_new();
	PersistedState s;
	struct stat st;
	fill(&m, &cg, &c1, &c2, dir);
	c1.seq = 8;
	cg.seq = 2;

	assert_int_equal(persist_marker_save(dir, &c1), -ENOENT); /* no markers directory */
	tree_write(dir, "containers/.keep", "");
	assert_int_equal(persist_marker_save(dir, &c1), 0);
	char *tmp = strdup_printf("%s/containers/.marker.tmp", dir);
	assert_int_equal(stat(tmp, &st), -1);
	free(tmp);
	assert_int_equal(persist_rebuild(dir, NULL, "/nonexistent", NULL, &s), 0);
	assert_int_equal(s.n_containers, 1);
	assert_int_equal(s.containers[0].seq, 8);
	assert_int_equal(s.containers[0].cgroup_seq, 2);
	assert_int_equal(s.cgroups[0].seq, 2);
	assert_int_equal(s.seq, 8);
	persisted_state_done(&s);

	/* an id whose marker name is NAME_MAX long: the temporary fits too */
	char long_id[256];
	memset(long_id, 'a', 255);
	long_id[255] = '\0';
	c2.id = long_id;
	assert_int_equal(persist_marker_save(dir, &c2), 0);
	assert_int_equal(persist_marker_remove(dir, long_id), 0);

	assert_int_equal(persist_marker_remove(dir, "c1"), 0);
	assert_int_equal(persist_marker_remove(dir, "c1"), 0); /* gone already */
	assert_int_equal(persist_rebuild(dir, NULL, "/nonexistent", NULL, &s), 0);
	assert_int_equal(s.n_containers, 0);
	persisted_state_done(&s);
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refuses_garbage),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_container_record),
		cmocka_unit_test(test_rebuild_from_markers_and_cgroups),
		cmocka_unit_test(test_reconcile_snapshot_and_markers),
		cmocka_unit_test(test_marker_save_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
