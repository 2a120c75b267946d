/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fileio.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "macro.h"

/* Read from fd into buf until *n reaches size (0) or the file ends (1). */
static int read_upto(int fd, char *buf, size_t size, size_t *n)
{
	while (*n < size) {
		ssize_t k = read(fd, buf + *n, size - *n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return 1;
		*n += (size_t)k;
	}
	return 0;
}

int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;

	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;

	for (;;) {
		if (n == cap) {
			if (cap >= max_size)
				return -EFBIG;
			cap = MIN(cap * 2, max_size);
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		int r = read_upto(fd, buf, cap, &n);
		if (r < 0)
			return r;
		if (n > max_size) /* max_size under the first 4096 */
			return -EFBIG;
		if (r > 0)
			break;
	}
	buf[n] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_size)
		*ret_size = n;
	return 0;
}

int read_file_into(const char *path, char *buf, size_t size)
{
	if (size == 0)
		return -EINVAL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	int r = read_upto(fd, buf, size - 1, &n);
	if (r < 0)
		return r;
	buf[n] = '\0';
	return 0;
}

int read_one_line(const char *path, char **ret)
{
	char *s;
	int r = read_full_file(path, 64 * 1024, &s, NULL);
	if (r < 0)
		return r;
	s[strcspn(s, "\n")] = '\0';
	*ret = s;
	return 0;
}

int write_string_file(const char *path, const char *s)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	size_t l = strlen(s);
	ssize_t k;
	do
		k = write(fd, s, l);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	if ((size_t)k != l)
		return -EIO;
	return 0;
}

int write_file_atomic_at(int dfd, const char *name, const char *tmp, const char *text)
{
	_cleanup_close_ int fd = -EBADF;
	int r = 0;

	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (size_t l = strlen(text); l > 0 && r >= 0;) {
		ssize_t k = write(fd, text, l);
		if (k < 0 && errno != EINTR)
			r = -errno;
		else if (k > 0)
			text += k, l -= (size_t)k;
	}
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return r;
	}
	return fsync(dfd) < 0 ? -errno : 0;
}

int parse_u64(const char *s, uint64_t *ret)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	/* Allow the trailing newline sysfs files carry. */
	if (*end == '\n')
		end++;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_s64(const char *s, int64_t *ret)
{
	if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
		return -EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end == '\n')
		end++;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_u64_or_max(const char *s, uint64_t *ret)
{
	if (s && (streq(s, "max") || streq(s, "max\n"))) {
		*ret = UINT64_MAX;
		return 0;
	}
	return parse_u64(s, ret);
}

int read_u64_file(const char *path, uint64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	int r = read_one_line(path, &s);
	if (r < 0)
		return r;
	return parse_u64_or_max(s, ret);
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	return strdup_printf("%.*s%s%s", (int)la, a, (la > 0 && a[la - 1] == '/') || !*b ? "" : "/", b);
}

char *strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}
