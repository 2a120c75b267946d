/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ksm-stat.h"

#include <fcntl.h>
#include <stdio.h>

#include "fileio.h"
#include "macro.h"

static int parse_yes_no(const char *v, KsmTristate *ret)
{
	if (streq(v, "yes"))
		*ret = KSM_TRISTATE_YES;
	else if (streq(v, "no"))
		*ret = KSM_TRISTATE_NO;
	else
		return -EINVAL;
	return 0;
}

int ksm_stat_parse(const char *text, KsmStat *ret)
{
	KsmStat s = {
		.merge_any = KSM_TRISTATE_ABSENT,
		.mergeable = KSM_TRISTATE_ABSENT,
		.from_ksm_stat = true,
	};
	bool seen_merging = false;
	const char *p = text;

	while (*p) {
		const char *eol = strchrnul(p, '\n');
		char line[128];
		size_t l = (size_t)(eol - p);
		if (l >= sizeof(line))
			return -EINVAL;
		memcpy(line, p, l);
		line[l] = '\0';
		p = *eol ? eol + 1 : eol;
		if (l == 0)
			continue;

		/* "key value", or "key: value" for the 6.14 yes/no fields */
		char *value = strchr(line, ' ');
		if (!value)
			return -EINVAL;
		if (value > line && value[-1] == ':')
			value[-1] = '\0';
		*value++ = '\0';
		int r = 0;
		/* Unknown keys are skipped: newer kernels add fields. */
		if (streq(line, "ksm_rmap_items"))
			r = parse_u64(value, &s.rmap_items);
		else if (streq(line, "ksm_zero_pages"))
			r = parse_u64(value, &s.zero_pages);
		else if (streq(line, "ksm_merging_pages")) {
			r = parse_u64(value, &s.merging_pages);
			seen_merging = true;
		} else if (streq(line, "ksm_process_profit"))
			r = parse_s64(value, &s.process_profit);
		else if (streq(line, "ksm_merge_any"))
			r = parse_yes_no(value, &s.merge_any);
		else if (streq(line, "ksm_mergeable"))
			r = parse_yes_no(value, &s.mergeable);
		if (r < 0)
			return r;
	}
	if (!seen_merging)
		return -EINVAL;
	*ret = s;
	return 0;
}

static int read_at(int dirfd, const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int ksm_stat_read_at(int dirfd, KsmStat *ret)
{
	char buf[1024];
	int r = read_at(dirfd, "ksm_stat", buf, sizeof(buf));
	if (r >= 0) {
		/* The kernel prints nothing for a task without an mm: a zombie. */
		if (buf[0] == '\0')
			return -ESRCH;
		return ksm_stat_parse(buf, ret);
	}
	if (r != -ENOENT)
		return r;

	/* Pre-6.1 kernels: only the merging page count. */
	r = read_at(dirfd, "ksm_merging_pages", buf, sizeof(buf));
	if (r < 0)
		return r;
	KsmStat s = {
		.merge_any = KSM_TRISTATE_ABSENT,
		.mergeable = KSM_TRISTATE_ABSENT,
	};
	r = parse_u64(buf, &s.merging_pages);
	if (r < 0)
		return r;
	*ret = s;
	return 0;
}

int ksm_stat_read(const char *proc_root, pid_t pid, KsmStat *ret)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%d", proc_root, (int)pid);
	_cleanup_close_ int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	return ksm_stat_read_at(dirfd, ret);
}
