/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "registration-marker.h"

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
