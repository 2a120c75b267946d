/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ksm-journal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

#define TMP_FILE "." KSM_JOURNAL_FILE ".tmp"

int ksm_journal_save(const char *state_dir, const KsmJournal *j)
{
	_cleanup_close_ int dfd = -EBADF;
	char text[256];
	int n;

	assert(state_dir);
	assert(j);
	n = snprintf(text, sizeof(text), "job=%s\n", j->job);
	if (j->has_run)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "run=%" PRIu64 "\n", j->run);
	if (j->has_merge_across_nodes)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "merge_across_nodes=%" PRIu64 "\n",
			      j->merge_across_nodes);
	assert((size_t)n < sizeof(text));

	dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/* on disk, rename included, before the worker writes run=2 */
	return write_file_atomic_at(dfd, KSM_JOURNAL_FILE, TMP_FILE, text);
}

int ksm_journal_load(const char *state_dir, KsmJournal *ret)
{
	_cleanup_free_ char *path = path_join(state_dir, KSM_JOURNAL_FILE), *text = NULL;
	KsmJournal j = {};
	int r;

	if (!path)
		return -ENOMEM;
	r = read_full_file(path, 4096, &text, NULL);
	if (r < 0)
		return r;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(line, '=');
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		const char *v = eq + 1;
		if (streq(line, "job")) {
			if (strlen(v) >= sizeof(j.job))
				return -EINVAL;
			strcpy(j.job, v);
		} else if (streq(line, "run")) {
			if (parse_u64(v, &j.run) < 0)
				return -EINVAL;
			j.has_run = true;
		} else if (streq(line, "merge_across_nodes")) {
			if (parse_u64(v, &j.merge_across_nodes) < 0)
				return -EINVAL;
			j.has_merge_across_nodes = true;
		}
		/* other keys: a newer pagemeldd's, skipped */
	}
	if (!j.job[0])
		return -EINVAL;
	*ret = j;
	return 0;
}

int ksm_journal_remove(const char *state_dir)
{
	_cleanup_free_ char *path = path_join(state_dir, KSM_JOURNAL_FILE);
	if (!path)
		return -ENOMEM;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
