/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "quantity.h"

#include <ctype.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"

typedef unsigned __int128 u128;

static const struct {
	const char *suffix;
	u128 base;
	int exp10; /* for decimal suffixes: multiplier is 10^exp10 */
} suffixes[] = {
	{"Ki", 1024, 0},
	{"Mi", 1024ULL * 1024, 0},
	{"Gi", 1024ULL * 1024 * 1024, 0},
	{"Ti", 1024ULL * 1024 * 1024 * 1024, 0},
	{"Pi", 1024ULL * 1024 * 1024 * 1024 * 1024, 0},
	{"Ei", 1024ULL * 1024 * 1024 * 1024 * 1024 * 1024, 0},
	{"k", 0, 3},
	{"M", 0, 6},
	{"G", 0, 9},
	{"T", 0, 12},
	{"P", 0, 15},
	{"E", 0, 18},
	{"", 0, 0},
};

static const u128 LIMIT = (u128)UINT64_MAX;

int parse_quantity(const char *s, uint64_t *ret)
{
	if (!s || !*s)
		return -EINVAL;
	if (strnlen(s, QUANTITY_MAX_LEN + 1) > QUANTITY_MAX_LEN)
		return -E2BIG;
	const char *p = s;
	bool negative = false;
	if (*p == '+' || *p == '-') {
		negative = *p == '-';
		p++;
	}
	if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
		return -EINVAL;

	/* mantissa = digits (integer and fraction) as one integer, scale = number
	 * of fraction digits; capped at 38 significant digits to stay in u128. */
	u128 mantissa = 0;
	int scale = 0, digits = 0;
	bool dot = false, overflow = false;
	for (; isdigit((unsigned char)*p) || (*p == '.' && !dot); p++) {
		if (*p == '.') {
			dot = true;
			continue;
		}
		if (digits >= 38) {
			if (!dot)
				overflow = true;
			continue; /* further fraction digits only matter for rounding up */
		}
		mantissa = mantissa * 10 + (u128)(*p - '0');
		if (mantissa)
			digits++;
		if (dot)
			scale++;
	}

	int exp10 = 0;
	u128 base = 1;
	if (*p == 'e' || *p == 'E') {
		/* "1e3"; but "1E" alone is the exa suffix */
		const char *q = p + 1;
		bool eneg = false;
		if (*q == '+' || *q == '-')
			eneg = *q++ == '-';
		if (isdigit((unsigned char)*q)) {
			int e = 0;
			for (; isdigit((unsigned char)*q); q++) {
				e = e * 10 + (*q - '0');
				if (e > 100)
					return eneg ? -EINVAL : -ERANGE;
			}
			if (*q)
				return -EINVAL;
			exp10 = eneg ? -e : e;
			p = q;
		}
	}
	if (*p) {
		size_t i;
		for (i = 0; i < ELEMENTSOF(suffixes); i++)
			if (streq(p, suffixes[i].suffix))
				break;
		if (i == ELEMENTSOF(suffixes))
			return -EINVAL;
		if (suffixes[i].base)
			base = suffixes[i].base;
		exp10 = suffixes[i].exp10;
	}

	if (negative)
		return mantissa == 0 ? (*ret = 0, 0) : -ERANGE;
	if (overflow)
		return -ERANGE;

	/* value = mantissa * base * 10^(exp10 - scale), rounded up */
	int e = exp10 - scale;
	u128 v = mantissa;
	for (; e > 0; e--) {
		if (v > LIMIT)
			return -ERANGE;
		v *= 10;
	}
	if (v > LIMIT && e >= 0)
		return -ERANGE;
	if (base > 1) {
		/* v < 2^64 here unless e < 0 still pending; multiply first, then
		 * divide, in 128 bits: v <= 10^38 so base (< 2^61) can overflow,
		 * hence the check. */
		if (v > ((u128)-1) / base)
			return -ERANGE;
		v *= base;
	}
	for (; e < 0; e++) {
		u128 q = v / 10;
		if (v % 10)
			q++; /* round up as Kubernetes does */
		v = q;
	}
	if (v > LIMIT)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

const char *format_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	size_t u = 0;
	double v = (double)bytes;
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}
