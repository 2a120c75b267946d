/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "registration-marker.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

const char *pagemeld_state_dir(void)
{
	const char *e = getenv("PAGEMELD_STATE_DIR");
	return e && e[0] == '/' ? e : PAGEMELD_STATE_DIR_DEFAULT;
}

char *registration_marker_dir(const char *state_dir)
{
	return path_join(state_dir, REGISTRATION_MARKER_DIR);
}

static bool marker_char_plain(unsigned char ch, size_t i)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch == '_' || ch == ':' || ch == '-' || (ch == '.' && i > 0);
}

char *registration_marker_path(const char *state_dir, const char *id)
{
	size_t l = strlen(id);
	char *name = malloc(3 * l + 1), *p = name, *r;

	if (!name)
		return NULL;
	for (size_t i = 0; i < l; i++) {
		unsigned char ch = (unsigned char)id[i];
		if (marker_char_plain(ch, i))
			*p++ = (char)ch;
		else
			p += sprintf(p, "%%%02X", ch);
	}
	*p = '\0';
	r = strdup_printf("%s/" REGISTRATION_MARKER_DIR "/%s", state_dir, name);
	free(name);
	return r;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int registration_marker_id(const char *name, char **ret)
{
	size_t l = strlen(name), k = 0;
	char *id;

	if (l == 0)
		return -EINVAL;
	id = malloc(l + 1);
	if (!id)
		return -ENOMEM;
	for (size_t i = 0; i < l; i++) {
		unsigned char ch = (unsigned char)name[i];
		int hi, lo, b;
		/* Only what the escaping writes: a byte of an id (printable, no
		 * space) that is not plain, as %XX. */
		if (ch == '%' && (hi = unhex(name[i + 1])) >= 0 && (lo = unhex(name[i + 2])) >= 0 &&
		    (b = hi * 16 + lo) > ' ' && b < 127 && !marker_char_plain((unsigned char)b, k)) {
			id[k++] = (char)b;
			i += 2;
		} else if (ch != '%' && marker_char_plain(ch, k))
			id[k++] = (char)ch;
		else {
			free(id);
			return -EINVAL;
		}
	}
	id[k] = '\0';
	*ret = id;
	return 0;
}
