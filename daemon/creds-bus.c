/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "creds-bus.h"

#include <assert.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "log.h"
#include "macro.h"
#include "util.h"

/* Callers seen lately, by unique bus name. Without it every read of
 * per-cgroup data would cost a synchronous GetConnectionCredentials round
 * trip to the bus driver on the event loop, plus two reads of the group
 * files: what a flood of unprivileged readers would make the hook wait on.
 * A unique name is never reused on a bus, so its uid never goes stale; the
 * membership is re-read after MEMBERSHIP_TTL_USEC. Fixed size: a flood of
 * new connections only recycles slots. One bus per daemon process, so the
 * cache is the process's. */
#define CALLERS_MAX 64
#define MEMBERSHIP_TTL_USEC (5 * UINT64_C(1000000))

typedef struct Caller {
	char sender[64]; /* "" unused */
	uid_t uid;
	int reader;	       /* -1 not checked yet, 0 no, 1 yes */
	uint64_t reader_until; /* CLOCK_MONOTONIC usec */
} Caller;

static Caller callers[CALLERS_MAX];
static unsigned callers_next;
static char *callers_group; /* the ReaderGroup= the memberships were checked against */

static Caller *caller_find(const char *sender)
{
	if (!sender || strlen(sender) >= sizeof(callers[0].sender))
		return NULL;
	for (size_t i = 0; i < CALLERS_MAX; i++)
		if (streq(callers[i].sender, sender))
			return &callers[i];
	return NULL;
}

static Caller *caller_add(const char *sender, uid_t uid)
{
	if (!sender || strlen(sender) >= sizeof(callers[0].sender))
		return NULL;
	Caller *c = &callers[callers_next++ % CALLERS_MAX];
	*c = (Caller){.uid = uid, .reader = -1};
	strcpy(c->sender, sender);
	return c;
}

static int sender_uid(sd_bus_message *msg, Caller **ret_caller, uid_t *ret_uid, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	const char *sender = sd_bus_message_get_sender(msg);
	Caller *c = caller_find(sender);
	uid_t uid;
	int r;

	if (c) {
		*ret_caller = c;
		*ret_uid = c->uid;
		return 0;
	}
	r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID, &creds);
	if (r >= 0) {
		r = sd_bus_creds_get_euid(creds, &uid);
		if (r < 0)
			r = sd_bus_creds_get_uid(creds, &uid);
	}
	if (r < 0)
		return sd_bus_error_setf(error, PM_ERROR_ACCESS_DENIED, "Cannot identify the caller: %s",
					 strerror(-r));
	*ret_caller = caller_add(sender, uid);
	*ret_uid = uid;
	return 0;
}

int bus_sender_uid(sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error)
{
	Caller *c;
	if (!msg)
		return sd_bus_error_set(error, PM_ERROR_ACCESS_DENIED, "No caller to check");
	return sender_uid(msg, &c, ret_uid, error);
}

/* Is uid a member of group name: its primary group in /etc/passwd or a
 * member listed in /etc/group. Read directly (fgetpwent/fgetgrent, no
 * NSS): the seccomp-confined daemon may not reach an NSS service, and the
 * bus driver vouches for the uid alone, not for a process's groups. */
static int user_in_group(uid_t uid, const char *name, bool *ret)
{
	_cleanup_free_ char *user = NULL;
	gid_t primary = (gid_t)-1, want = (gid_t)-1;
	bool listed = false, found = false;

	FILE *f = fopen("/etc/passwd", "re");
	if (!f)
		return -errno;
	struct passwd *pw;
	while ((pw = fgetpwent(f)))
		if (pw->pw_uid == uid) {
			primary = pw->pw_gid;
			user = strdup(pw->pw_name);
			break;
		}
	fclose(f);

	f = fopen("/etc/group", "re");
	if (!f)
		return -errno;
	struct group *g;
	while ((g = fgetgrent(f)))
		if (streq(g->gr_name, name)) {
			found = true;
			want = g->gr_gid;
			for (char **mem = g->gr_mem; user && mem && *mem; mem++)
				listed |= streq(*mem, user);
			break;
		}
	fclose(f);
	if (!found)
		return -ENOENT;
	*ret = listed || (primary != (gid_t)-1 && primary == want);
	return 0;
}

/* 1 reader, 0 not; *ret_fresh: the membership was checked just now. */
static int caller_reader(Manager *m, sd_bus_message *msg, uid_t *ret_uid, bool *ret_fresh,
			 sd_bus_error *error)
{
	Caller *c = NULL;
	uid_t uid;
	int r;

	assert(m);
	if (!msg)
		return sd_bus_error_set(error, PM_ERROR_ACCESS_DENIED, "No caller to check");
	r = sender_uid(msg, &c, &uid, error);
	if (r < 0)
		return r;
	*ret_uid = uid;
	*ret_fresh = false;
	if (uid == 0)
		return 1;

	/* A reload may name another group: forget what was checked against the old one. */
	if (!streq_ptr(callers_group, m->config.reader_group)) {
		for (size_t i = 0; i < CALLERS_MAX; i++)
			callers[i].reader = -1;
		free(callers_group);
		callers_group = m->config.reader_group ? strdup(m->config.reader_group) : NULL;
	}
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (c && c->reader >= 0 && now < c->reader_until)
		return c->reader;

	bool member = false;
	r = m->config.reader_group ? user_in_group(uid, m->config.reader_group, &member) : -ENOENT;
	if (r < 0)
		log_debug_errno(r, "Reader group %s: %m", strempty(m->config.reader_group));
	if (c) {
		c->reader = member;
		c->reader_until = now + MEMBERSHIP_TTL_USEC;
	}
	*ret_fresh = true;
	return member;
}

int bus_caller_is_reader(Manager *m, sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error)
{
	bool fresh;
	return caller_reader(m, msg, ret_uid, &fresh, error);
}

int bus_current_caller_is_reader(sd_bus *bus, Manager *m, sd_bus_error *error)
{
	sd_bus_message *msg = sd_bus_get_current_message(bus);
	uid_t uid;
	if (!msg)
		return 1;
	return bus_caller_is_reader(m, msg, &uid, error);
}

int bus_check_reader(Manager *m, sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error)
{
	bool fresh;
	uid_t uid;
	int r = caller_reader(m, msg, &uid, &fresh, error);
	if (r < 0)
		return r;
	if (r == 0) {
		if (fresh)
			log_notice("Refused %s from uid %u (%s): root or group %s only",
				   strempty(sd_bus_message_get_member(msg)), (unsigned)uid,
				   strempty(sd_bus_message_get_sender(msg)),
				   strempty(m->config.reader_group));
		return sd_bus_error_setf(error, PM_ERROR_ACCESS_DENIED,
					 "Only root or members of group %s may call %s",
					 m->config.reader_group ?: "(none configured)",
					 strempty(sd_bus_message_get_member(msg)));
	}
	*ret_uid = uid;
	return 0;
}
