/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Fixture trees for unit tests: committed ones under tests/fixtures
 * ($PAGEMELD_FIXTURES) and scratch ones built in a temp dir. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* $PAGEMELD_FIXTURES/<name>, malloc'd */
char *fixture_path(const char *name);
/* A fresh temp dir; removed (recursively) by tmpdir_remove. */
char *tmpdir_new(void);
void tmpdir_remove(char *dir);
/* dir/relpath := content, creating parent directories. */
void tree_write(const char *dir, const char *relpath, const char *content);
/* content of dir/relpath without its trailing newline, malloc'd */
char *tree_read(const char *dir, const char *relpath);
