/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hook-config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "fileio.h"
#include "macro.h"

void hook_config_init(HookConfig *c)
{
	*c = (HookConfig){
		.timeout_ms = HOOK_TIMEOUT_MS_DEFAULT,
		.fail_mode = HOOK_FAIL_OPEN,
	};
}

int hook_fail_mode_from_string(const char *s, HookFailMode *ret)
{
	if (streq(s, "open"))
		*ret = HOOK_FAIL_OPEN;
	else if (streq(s, "closed"))
		*ret = HOOK_FAIL_CLOSED;
	else
		return -EINVAL;
	return 0;
}

int hook_timeout_ms_from_string(const char *s, uint64_t *ret)
{
	uint64_t v;
	int r = parse_u64(s, &v);
	if (r < 0)
		return r;
	if (v < 1 || v > HOOK_TIMEOUT_MS_MAX)
		return -ERANGE;
	*ret = v;
	return 0;
}

typedef struct ParseCtx {
	HookConfig cfg;
	HookError *err;
	int failed;
} ParseCtx;

static int on_ini_value(void *user, const char *section, const char *name, const char *value)
{
	ParseCtx *ctx = user;

	/* [Hook] in the style of pagemeldd's sections; [hook] and the
	 * lower-case key spellings are accepted as well. */
	if (strcasecmp(section, "Hook") != 0 || !name)
		return 1;
	if (streq(name, "TimeoutMSec") || streq(name, "timeout-ms")) {
		if (hook_timeout_ms_from_string(value, &ctx->cfg.timeout_ms) < 0) {
			hook_error_set(ctx->err, "[Hook] %s=%s: want milliseconds, 1..%d", name, value,
				       HOOK_TIMEOUT_MS_MAX);
			ctx->failed = 1;
			return 0;
		}
	} else if (streq(name, "FailMode") || streq(name, "fail-mode")) {
		if (hook_fail_mode_from_string(value, &ctx->cfg.fail_mode) < 0) {
			hook_error_set(ctx->err, "[Hook] %s=%s: want \"open\" or \"closed\"", name, value);
			ctx->failed = 1;
			return 0;
		}
	} else {
		hook_error_set(ctx->err, "[Hook] unknown key \"%s\"", name);
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

int hook_config_load(const char *path, bool must_exist, HookConfig *c, HookError *err)
{
	ParseCtx ctx = {.cfg = *c, .err = err};
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = negative_errno();
		if (r == -ENOENT && !must_exist)
			return r;
		hook_error_set(err, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	int line = ini_parse_file(f, on_ini_value, &ctx);
	fclose(f);
	if (line != 0) {
		if (!ctx.failed)
			hook_error_set(err, "syntax error");
		/* Prefix the place: "<path>:<line>: <reason>". */
		char reason[sizeof(err->msg)];
		snprintf(reason, sizeof(reason), "%s", err ? err->msg : "");
		hook_error_set(err, "%s:%d: %s", path, line, reason);
		return -EINVAL;
	}
	*c = ctx.cfg;
	return 0;
}

typedef struct SalvageCtx {
	bool found;
	HookFailMode mode;
} SalvageCtx;

static int on_ini_fail_mode(void *user, const char *section, const char *name, const char *value)
{
	SalvageCtx *ctx = user;
	HookFailMode m;

	if (strcasecmp(section, "Hook") == 0 && name &&
	    (streq(name, "FailMode") || streq(name, "fail-mode")) &&
	    hook_fail_mode_from_string(value, &m) >= 0) {
		ctx->found = true;
		ctx->mode = m;
	}
	return 1; /* every line, whatever else is wrong */
}

int hook_config_salvage_fail_mode(const char *path, HookFailMode *ret)
{
	SalvageCtx ctx = {};
	FILE *f = fopen(path, "re");
	if (!f)
		return -ENOENT;
	(void)ini_parse_file(f, on_ini_fail_mode, &ctx);
	fclose(f);
	if (!ctx.found)
		return -ENOENT;
	*ret = ctx.mode;
	return 0;
}
