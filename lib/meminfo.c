/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "meminfo.h"

#include <errno.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"

/* "Name:     1234 kB" -> bytes. Lines without a unit are page counts
 * (HugePages_*): not used here. */
static int parse_kb(const char *value, uint64_t *ret)
{
	while (*value == ' ' || *value == '\t')
		value++;
	size_t digits = strspn(value, "0123456789");
	if (digits == 0 || digits > 20)
		return -EINVAL;
	char num[21];
	memcpy(num, value, digits);
	num[digits] = '\0';
	if (!streq(value + digits, " kB"))
		return -EINVAL;
	uint64_t kb;
	int r = parse_u64(num, &kb);
	if (r < 0)
		return r;
	if (kb > UINT64_MAX / 1024)
		return -ERANGE;
	*ret = kb * 1024;
	return 0;
}

int meminfo_parse(const char *text, MemInfo *ret)
{
	static const struct {
		const char *name;
		size_t offset;
	} fields[] = {
		{"MemTotal", offsetof(MemInfo, mem_total)},
		{"MemFree", offsetof(MemInfo, mem_free)},
		{"MemAvailable", offsetof(MemInfo, mem_available)},
		{"SwapTotal", offsetof(MemInfo, swap_total)},
		{"SwapFree", offsetof(MemInfo, swap_free)},
	};
	MemInfo m = {};
	unsigned seen = 0;

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *colon = memchr(line, ':', len);
		if (colon) {
			for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
				size_t nlen = strlen(fields[i].name);
				if ((size_t)(colon - line) != nlen ||
				    strncmp(line, fields[i].name, nlen) != 0)
					continue;
				char value[64];
				size_t vlen = len - nlen - 1;
				if (vlen >= sizeof(value))
					return -EINVAL;
				memcpy(value, colon + 1, vlen);
				value[vlen] = '\0';
				int r = parse_kb(value, (uint64_t *)((char *)&m + fields[i].offset));
				if (r < 0)
					return r;
				seen |= 1u << i;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	/* MemTotal, MemFree, SwapTotal, SwapFree are mandatory */
	if ((seen & 0x1b) != 0x1b)
		return -EINVAL;
	m.mem_available_present = seen & 0x4;
	if (!m.mem_available_present)
		m.mem_available = m.mem_free; /* pessimistic, pre-3.14 kernels */
	*ret = m;
	return 0;
}

int meminfo_read(const char *proc_root, MemInfo *ret)
{
	_cleanup_free_ char *p = path_join(proc_root, "meminfo");
	if (!p)
		return -ENOMEM;
	_cleanup_free_ char *text = NULL;
	int r = read_full_file(p, 1024 * 1024, &text, NULL);
	if (r < 0)
		return r;
	return meminfo_parse(text, ret);
}
