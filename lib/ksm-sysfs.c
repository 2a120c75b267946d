/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ksm-sysfs.h"

#include <inttypes.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"

static const struct {
	const char *name;
	bool writable;
} fields[_KSM_FIELD_MAX] = {
#define KSM_ROW(n, w) [KSM_##n] = {#n, w},
	KSM_FIELDS(KSM_ROW)
#undef KSM_ROW
};

static const char *const advisor_names[_KSM_ADVISOR_MAX] = {
	[KSM_ADVISOR_NONE] = "none",
	[KSM_ADVISOR_SCAN_TIME] = "scan-time",
};

const char *ksm_field_name(KsmField f)
{
	return f >= 0 && f < _KSM_FIELD_MAX ? fields[f].name : NULL;
}

int ksm_field_from_name(const char *name)
{
	for (int i = 0; i < _KSM_FIELD_MAX; i++)
		if (streq(fields[i].name, name))
			return i;
	return -EINVAL;
}

bool ksm_field_writable(KsmField f)
{
	return f >= 0 && f < _KSM_FIELD_MAX && fields[f].writable;
}

const char *ksm_advisor_name(KsmAdvisor a)
{
	return a >= 0 && a < _KSM_ADVISOR_MAX ? advisor_names[a] : NULL;
}

int ksm_advisor_from_name(const char *name)
{
	for (int i = 0; i < _KSM_ADVISOR_MAX; i++)
		if (streq(advisor_names[i], name))
			return i;
	return -EINVAL;
}

const char *ksm_run_name(uint64_t run)
{
	switch (run) {
	case KSM_RUN_STOP:
		return "stopped";
	case KSM_RUN_MERGE:
		return "running";
	case KSM_RUN_UNMERGE:
		return "unmerging";
	default:
		return "unknown";
	}
}

static int read_file_in(const char *dir, const char *name, char **ret)
{
	_cleanup_free_ char *p = path_join(dir, name);
	if (!p)
		return -ENOMEM;
	return read_one_line(p, ret);
}

int ksm_read_field(const char *ksm_dir, KsmField f, uint64_t *ret)
{
	if (f < 0 || f >= _KSM_FIELD_MAX)
		return -EINVAL;
	_cleanup_free_ char *s = NULL;
	int r = read_file_in(ksm_dir, fields[f].name, &s);
	if (r < 0)
		return r;
	return parse_u64(s, ret);
}

/* "[none] scan-time" -> the bracketed choice */
static int parse_advisor_line(const char *s, KsmAdvisor *ret)
{
	const char *open = strchr(s, '[');
	const char *close = open ? strchr(open, ']') : NULL;
	if (!close)
		return -EINVAL;
	char name[64];
	size_t l = (size_t)(close - open - 1);
	if (l == 0 || l >= sizeof(name))
		return -EINVAL;
	memcpy(name, open + 1, l);
	name[l] = '\0';
	int a = ksm_advisor_from_name(name);
	*ret = a < 0 ? KSM_ADVISOR_UNKNOWN : (KsmAdvisor)a;
	return 0;
}

int ksm_read_state(const char *ksm_dir, KsmState *ret)
{
	KsmState s = {.advisor_mode = KSM_ADVISOR_UNKNOWN};
	int r;

	if (access(ksm_dir, F_OK) < 0)
		return -errno;

	for (int i = 0; i < _KSM_FIELD_MAX; i++) {
		r = ksm_read_field(ksm_dir, i, &s.value[i]);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		s.present[i] = true;
	}

	_cleanup_free_ char *profit = NULL;
	r = read_file_in(ksm_dir, "general_profit", &profit);
	if (r >= 0) {
		r = parse_s64(profit, &s.general_profit);
		if (r < 0)
			return r;
		s.general_profit_present = true;
	} else if (r != -ENOENT)
		return r;

	_cleanup_free_ char *advisor = NULL;
	r = read_file_in(ksm_dir, "advisor_mode", &advisor);
	if (r >= 0) {
		r = parse_advisor_line(advisor, &s.advisor_mode);
		if (r < 0)
			return r;
		s.advisor_mode_present = true;
	} else if (r != -ENOENT)
		return r;

	*ret = s;
	return 0;
}

int ksm_write_field(const char *ksm_dir, KsmField f, uint64_t value)
{
	if (f < 0 || f >= _KSM_FIELD_MAX)
		return -EINVAL;
	if (!fields[f].writable)
		return -EROFS;
	_cleanup_free_ char *p = path_join(ksm_dir, fields[f].name);
	if (!p)
		return -ENOMEM;
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	return write_string_file(p, buf);
}

int ksm_write_advisor(const char *ksm_dir, KsmAdvisor a)
{
	const char *name = ksm_advisor_name(a);
	if (!name)
		return -EINVAL;
	_cleanup_free_ char *p = path_join(ksm_dir, "advisor_mode");
	if (!p)
		return -ENOMEM;
	return write_string_file(p, name);
}

void ksm_state_print(FILE *f, const KsmState *s)
{
	for (int i = 0; i < _KSM_FIELD_MAX; i++) {
		if (s->present[i])
			fprintf(f, "%-36s %" PRIu64 "\n", fields[i].name, s->value[i]);
		else
			fprintf(f, "%-36s absent\n", fields[i].name);
	}
	if (s->general_profit_present)
		fprintf(f, "%-36s %" PRId64 "\n", "general_profit", s->general_profit);
	else
		fprintf(f, "%-36s absent\n", "general_profit");
	fprintf(f, "%-36s %s\n", "advisor_mode",
		!s->advisor_mode_present ? "absent" : ksm_advisor_name(s->advisor_mode) ?: "unknown");
}

int ksm_snapshot_take(const char *ksm_dir, KsmSnapshot *ret)
{
	KsmSnapshot s = {};
	int r = ksm_read_state(ksm_dir, &s.state);
	if (r < 0)
		return r;
	s.valid = true;
	*ret = s;
	return 0;
}

int ksm_snapshot_restore(const char *ksm_dir, const KsmSnapshot *s)
{
	int ret = 0, r;

	if (!s->valid)
		return 0;

	/* The advisor owns pages_to_scan while it is on: switch it first. */
	if (s->state.advisor_mode_present && s->state.advisor_mode >= 0) {
		r = ksm_write_advisor(ksm_dir, s->state.advisor_mode);
		if (r < 0 && ret == 0)
			ret = r;
	}
	for (int i = 0; i < _KSM_FIELD_MAX; i++) {
		if (!fields[i].writable || !s->state.present[i] || i == KSM_run)
			continue;
		uint64_t cur;
		if (ksm_read_field(ksm_dir, i, &cur) >= 0 && cur == s->state.value[i])
			continue;
		if (i == KSM_merge_across_nodes || i == KSM_max_page_sharing) {
			/* Only changeable with no shared pages: unmerge first. */
			(void)ksm_write_field(ksm_dir, KSM_run, KSM_RUN_UNMERGE);
		}
		if (i == KSM_pages_to_scan && s->state.advisor_mode == KSM_ADVISOR_SCAN_TIME)
			continue; /* owned by the advisor, EINVAL otherwise */
		r = ksm_write_field(ksm_dir, i, s->state.value[i]);
		if (r < 0 && ret == 0)
			ret = r;
	}
	if (s->state.present[KSM_run]) {
		r = ksm_write_field(ksm_dir, KSM_run, s->state.value[KSM_run]);
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}
