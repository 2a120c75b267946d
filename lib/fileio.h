/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Read a whole (small) file; fails with -EFBIG past max_size bytes. The
 * result is NUL-terminated. */
int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size);
/* Read up to size - 1 bytes of a file into buf and NUL-terminate them (no
 * allocation: for hot paths reading tiny files such as fdinfo). */
int read_file_into(const char *path, char *buf, size_t size);
/* First line, trailing newline stripped. */
int read_one_line(const char *path, char **ret);
/* Write s (plus nothing else) in one write(2), so sysfs/cgroupfs see the
 * whole value and the kernel's errno comes back unchanged. */
int write_string_file(const char *path, const char *s);
/* Replace dfd/name with text atomically and durably: written to dfd/tmp,
 * fsync'd, renamed over name (the temporary removed on failure), dfd
 * fsync'd so the rename survives a crash. The caller names a temporary no
 * other writer uses at the same time. */
int write_file_atomic_at(int dfd, const char *name, const char *tmp, const char *text);

/* Strict decimal u64: no sign, no garbage, no overflow (-EINVAL / -ERANGE). */
int parse_u64(const char *s, uint64_t *ret);
int parse_s64(const char *s, int64_t *ret);
/* parse_u64, except that "max" gives UINT64_MAX (cgroup v2 limits). */
int parse_u64_or_max(const char *s, uint64_t *ret);
int read_u64_file(const char *path, uint64_t *ret);

/* malloc'd "a/b" (no doubled slash); NULL on OOM. */
char *path_join(const char *a, const char *b);
char *strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
