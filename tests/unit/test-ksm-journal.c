/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "ksm-journal.h"
#include "macro.h"

static void test_round_trip(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	KsmJournal j = {.job = "merge-across-nodes",
			.has_run = true,
			.run = 1,
			.has_merge_across_nodes = true,
			.merge_across_nodes = 0},
		   got;

	assert_int_equal(ksm_journal_load(dir, &got), -ENOENT);
	assert_int_equal(ksm_journal_save(dir, &j), 0);
	assert_int_equal(ksm_journal_load(dir, &got), 0);
	assert_string_equal(got.job, "merge-across-nodes");
	assert_true(got.has_run);
	assert_int_equal(got.run, 1);
	assert_true(got.has_merge_across_nodes);
	assert_int_equal(got.merge_across_nodes, 0);

	/* No temporary file left behind; removal is idempotent. */
	_cleanup_free_ char *tmp = path_join(dir, ".ksm-job.tmp");
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(ksm_journal_remove(dir), 0);
	assert_int_equal(ksm_journal_remove(dir), 0);
	assert_int_equal(ksm_journal_load(dir, &got), -ENOENT);

	/* Without the optional knobs. */
	KsmJournal k = {.job = "unmerge-all"};
	assert_int_equal(ksm_journal_save(dir, &k), 0);
	assert_int_equal(ksm_journal_load(dir, &got), 0);
	assert_false(got.has_run);
	assert_false(got.has_merge_across_nodes);
	tmpdir_remove(dir);
}

static void test_bad_records(void **state)
{
	(void)state;
	char *dir = tmpdir_new();
	KsmJournal got;

	tree_write(dir, "ksm-job", "job=unmerge-all\nrun=one\n");
	assert_int_equal(ksm_journal_load(dir, &got), -EINVAL);
	tree_write(dir, "ksm-job", "run=1\n"); /* no job */
	assert_int_equal(ksm_journal_load(dir, &got), -EINVAL);
	tree_write(dir, "ksm-job", "garbage\n");
	assert_int_equal(ksm_journal_load(dir, &got), -EINVAL);
	/* a newer daemon's extra key is skipped */
	tree_write(dir, "ksm-job", "job=unmerge-all\nrun=2\nfuture=1\n");
	assert_int_equal(ksm_journal_load(dir, &got), 0);
	assert_int_equal(got.run, 2);
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
