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

static char *annotations_a[] = {(char *)"merge.pagemeld.io", (char *)"true",
				(char *)"merge-budget.pagemeld.io", (char *)"1Gi", NULL};

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
			  .n_annotations = 2,
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
	assert_int_equal(s.containers[0].n, 2);
	assert_string_equal(s.containers[0].kv[0], "merge.pagemeld.io");
	assert_string_equal(s.containers[0].kv[3], "1Gi");
	assert_null(s.containers[0].kv[4]);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refuses_garbage),
		cmocka_unit_test(test_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
