/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int max_level = LOG_INFO;
static bool with_prefix;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",	   [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_prefix(bool on)
{
	with_prefix = on;
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	if (streq(s, "error"))
		return LOG_ERR;
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (streq(s, level_names[i]))
			return (int)i;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

const char *log_level_to_string(int level)
{
	if (level < 0 || (size_t)level >= ELEMENTSOF(level_names))
		return NULL;
	return level_names[level];
}

const char *errno_name(int error)
{
	return strerror(error < 0 ? -error : error);
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	int ret = error > 0 ? -error : error;

	if (level > max_level)
		return ret;

	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	/* Make %m name the error we were given, not whatever errno holds. */
	errno = error < 0 ? -error : error;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	if (with_prefix)
		fprintf(stderr, "<%d>%s\n", level, buf);
	else if (max_level >= LOG_DEBUG)
		fprintf(stderr, "%s:%d: %s\n", file, line, buf);
	else
		fprintf(stderr, "%s\n", buf);

	errno = saved;
	return ret;
}
