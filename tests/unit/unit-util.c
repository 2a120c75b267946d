/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

char *fixture_path(const char *name)
{
	const char *base = getenv("PAGEMELD_FIXTURES");
	if (!base) {
		fprintf(stderr, "PAGEMELD_FIXTURES is not set\n");
		abort();
	}
	return path_join(base, name);
}

char *tmpdir_new(void)
{
	char *t = strdup("/tmp/pagemeld-unit-XXXXXX");
	if (!t || !mkdtemp(t))
		abort();
	return t;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

void tmpdir_remove(char *dir)
{
	if (!dir)
		return;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

void tree_write(const char *dir, const char *relpath, const char *content)
{
	_cleanup_free_ char *p = path_join(dir, relpath);
	assert_non_null(p);
	for (char *s = p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	FILE *f = fopen(p, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

char *tree_read(const char *dir, const char *relpath)
{
	_cleanup_free_ char *p = path_join(dir, relpath);
	char *s = NULL;
	assert_int_equal(read_full_file(p, 1 << 20, &s, NULL), 0);
	size_t l = strlen(s);
	if (l > 0 && s[l - 1] == '\n')
		s[l - 1] = '\0';
	return s;
}
