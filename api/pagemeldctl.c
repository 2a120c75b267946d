/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemeldctl: the operator's client of pagemeldd on the D-Bus system bus
 * ($DBUS_SYSTEM_BUS_ADDRESS is honoured by sd-bus). Everything it prints is
 * formatted by ctl-format.c; this file is the command line and the bus.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "bus-contract.h"
#include "ctl-format.h"
#include "macro.h"
#include "quantity.h"

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

#define USEC_PER_SEC UINT64_C(1000000)
/* SetMergeAcrossNodes unmerges everything first: that can take minutes. */
#define LONG_CALL_TIMEOUT_USEC (30 * 60 * USEC_PER_SEC)

static struct {
	bool json;
	bool force;
	bool wait;
	long iterations; /* top: -1 = until interrupted */
	double interval; /* top: seconds */
	const char *merge;
	const char *swap;
	uint64_t merge_bytes;
	uint64_t swap_bytes;
} arg = {
	.iterations = -1,
	.interval = 2.0,
	.merge_bytes = CTL_UNLIMITED,
	.swap_bytes = CTL_UNLIMITED,
};

static uint64_t page_size;

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
#define _cleanup_bus_ _cleanup_(sd_bus_flush_close_unrefp)
#define _cleanup_msg_ _cleanup_(sd_bus_message_unrefp)
#define _cleanup_bus_error_ _cleanup_(sd_bus_error_free)

static void manager_donep(CtlManager *m)
{
	ctl_manager_done(m);
}

typedef struct CgroupList {
	CtlCgroup *items;
	size_t n;
} CgroupList;

static void cgroup_list_done(CgroupList *l)
{
	ctl_cgroups_free(l->items, l->n);
	*l = (CgroupList){0};
}

/* Print one plain line for a failure and return its exit code. */
static CtlExit report(const sd_bus_error *e, int r, const char *what)
{
	const char *name = e && sd_bus_error_is_set(e) ? e->name : NULL;
	CtlExit code = ctl_exit_code(name, r);
	const char *summary = ctl_error_summary(name, r);

	if (code == CTL_EXIT_UNAVAILABLE && name)
		fprintf(stderr, "pagemeldctl: %s\n", summary);
	else if (code == CTL_EXIT_UNAVAILABLE)
		fprintf(stderr, "pagemeldctl: %s: %s\n", summary, strerror(abs(r)));
	else if (code == CTL_EXIT_ACCESS_DENIED)
		fprintf(stderr, "pagemeldctl: %s: %s\n", what, summary);
	else if (name)
		fprintf(stderr, "pagemeldctl: %s: %s: %s\n", what, summary, e->message ? e->message : name);
	else
		fprintf(stderr, "pagemeldctl: %s: %s: %s\n", what, summary, strerror(abs(r)));
	return code;
}

static int bus_connect(sd_bus **ret)
{
	int r = sd_bus_open_system(ret);
	if (r < 0)
		return report(NULL, r, "connecting");
	return 0;
}

/* A method call on the manager with a timeout (0: sd-bus's default). */
static int call(sd_bus *bus, const char *member, uint64_t timeout_usec, sd_bus_error *error,
		sd_bus_message **ret_reply, const char *types, ...)
{
	_cleanup_msg_ sd_bus_message *m = NULL;
	va_list ap;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
					   PAGEMELD_MANAGER_INTERFACE, member);
	if (r < 0)
		return r;
	if (types) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
		if (r < 0)
			return r;
	}
	return sd_bus_call(bus, m, timeout_usec, error, ret_reply);
}

static int read_number(sd_bus_message *m, char type, int64_t *ret_i, uint64_t *ret_u)
{
	union {
		uint8_t y;
		uint16_t q;
		int16_t n;
		uint32_t u;
		int32_t i;
		uint64_t t;
		int64_t x;
		int b;
	} v;
	int r = sd_bus_message_read_basic(m, type, &v);
	if (r < 0)
		return r;
	switch (type) {
	case 'y':
		*ret_u = v.y;
		break;
	case 'q':
		*ret_u = v.q;
		break;
	case 'u':
		*ret_u = v.u;
		break;
	case 't':
		*ret_u = v.t;
		break;
	case 'b':
		*ret_u = !!v.b;
		break;
	case 'n':
		*ret_i = v.n;
		return 1;
	case 'i':
		*ret_i = v.i;
		return 1;
	case 'x':
		*ret_i = v.x;
		return 1;
	default:
		return -EINVAL;
	}
	return 0; /* unsigned */
}

/* One property value (the variant is current) into its field; a property
 * of an unexpected type is skipped, so a newer daemon never breaks us. */
static int read_field(sd_bus_message *m, const CtlField *f, void *base)
{
	const char *contents;
	char type;
	void *p = (char *)base + f->offset;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	bool number = strlen(contents) == 1 && strchr("yqutbnix", contents[0]);
	bool string = streq(contents, "s") || streq(contents, "o");
	if (!((f->kind == CTL_FIELD_U64 || f->kind == CTL_FIELD_I64) ? number
	      : f->kind == CTL_FIELD_STR			     ? string
								     : streq(contents, "as")))
		return sd_bus_message_skip(m, "v");

	r = sd_bus_message_enter_container(m, 'v', contents);
	if (r < 0)
		return r;
	if (number) {
		int64_t i = 0;
		uint64_t u = 0;
		r = read_number(m, contents[0], &i, &u);
		if (r < 0)
			return r;
		if (f->kind == CTL_FIELD_U64)
			*(uint64_t *)p = r ? (i < 0 ? 0 : (uint64_t)i) : u;
		else
			*(int64_t *)p = r ? i : (u > INT64_MAX ? INT64_MAX : (int64_t)u);
	} else if (string) {
		const char *s;
		r = sd_bus_message_read_basic(m, contents[0], &s);
		if (r < 0)
			return r;
		char *copy = strdup(s);
		if (!copy)
			return -ENOMEM;
		free(*(char **)p);
		*(char **)p = copy;
	} else {
		char **l = NULL;
		r = sd_bus_message_read_strv(m, &l);
		if (r < 0)
			return r;
		strv_free(*(char ***)p);
		*(char ***)p = l;
	}
	return sd_bus_message_exit_container(m);
}

static int parse_properties(sd_bus_message *m, const CtlField *table, void *base)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;
		r = sd_bus_message_read_basic(m, 's', &name);
		if (r < 0)
			return r;
		const CtlField *f = ctl_field_find(table, name);
		r = f ? read_field(m, f, base) : sd_bus_message_skip(m, "v");
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int get_all(sd_bus *bus, const char *path, const char *iface, const CtlField *table, void *base,
		   sd_bus_error *error)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	int r = sd_bus_call_method(bus, PAGEMELD_BUS_NAME, path, PROPERTIES_IFACE, "GetAll", error, &reply,
				   "s", iface);
	if (r < 0)
		return r;
	return parse_properties(reply, table, base);
}

static int load_manager(sd_bus *bus, CtlManager *ret)
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	CtlManager m = {0};
	int r = get_all(bus, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE, ctl_manager_fields, &m,
			&error);
	if (r < 0) {
		ctl_manager_done(&m);
		return -report(&error, r, "reading the daemon's state");
	}
	*ret = m;
	return 0;
}

/* ListCgroups gives the objects; each object's GetAll gives the rest (the
 * containers and processes are not in the list's struct). The struct is
 * read by type, so the order of its fields is not hard-wired here. */
static int list_objects(sd_bus *bus, char ***ret)
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_msg_ sd_bus_message *reply = NULL;
	_cleanup_strv_free_ char **objects = NULL;
	_cleanup_free_ char *inner = NULL;
	const char *contents;
	size_t n = 0;
	char type;
	int r;

	r = call(bus, "ListCgroups", 0, &error, &reply, NULL);
	if (r < 0)
		return -report(&error, r, "listing cgroups");
	r = sd_bus_message_peek_type(reply, &type, &contents);
	if (r < 0 || type != 'a' || contents[0] != '(')
		goto bad;
	r = sd_bus_message_enter_container(reply, 'a', contents);
	if (r < 0)
		goto bad;
	inner = strndup(contents + 1, strlen(contents) - 2);
	if (!inner)
		goto bad;
	while ((r = sd_bus_message_enter_container(reply, 'r', inner)) > 0) {
		const char *object = NULL;
		while ((r = sd_bus_message_peek_type(reply, &type, NULL)) > 0) {
			if (type == 'o' && !object)
				r = sd_bus_message_read_basic(reply, 'o', &object);
			else
				r = sd_bus_message_skip(reply, (char[]){type, 0});
			if (r < 0)
				goto bad;
		}
		if (r < 0 || !object)
			goto bad;
		char **l = realloc(objects, (n + 2) * sizeof(char *));
		if (!l)
			goto bad;
		objects = l;
		objects[n] = strdup(object);
		objects[n + 1] = NULL;
		if (!objects[n])
			goto bad;
		n++;
		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			goto bad;
	}
	if (r < 0)
		goto bad;
	if (!objects) {
		objects = calloc(1, sizeof(char *));
		if (!objects)
			goto bad;
	}
	*ret = TAKE_PTR(objects);
	return 0;
bad:
	fprintf(stderr, "pagemeldctl: unexpected ListCgroups reply (signature %s)\n",
		sd_bus_message_get_signature(reply, true) ?: "?");
	return -CTL_EXIT_DBUS;
}

static int compare_path(const void *a, const void *b)
{
	const CtlCgroup *x = a, *y = b;
	return strcmp(x->path ?: "", y->path ?: "");
}

static int compare_merged(const void *a, const void *b)
{
	const CtlCgroup *x = a, *y = b;
	if (x->merging_pages != y->merging_pages)
		return x->merging_pages < y->merging_pages ? 1 : -1;
	return compare_path(a, b);
}

static int load_cgroups(sd_bus *bus, CgroupList *ret)
{
	_cleanup_strv_free_ char **objects = NULL;
	CgroupList l = {0};
	size_t n = 0;
	int r;

	r = list_objects(bus, &objects);
	if (r < 0)
		return r;
	for (char **o = objects; *o; o++)
		n++;
	l.items = calloc(n ? n : 1, sizeof(CtlCgroup));
	if (!l.items) {
		fprintf(stderr, "pagemeldctl: out of memory\n");
		return -CTL_EXIT_DBUS;
	}
	for (char **o = objects; *o; o++) {
		_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
		CtlCgroup *c = &l.items[l.n];
		*c = (CtlCgroup){.merge_budget = CTL_UNLIMITED, .swap_budget = CTL_UNLIMITED};
		r = get_all(bus, *o, PAGEMELD_CGROUP_INTERFACE, ctl_cgroup_fields, c, &error);
		if (r < 0) {
			ctl_cgroup_done(c);
			/* Removed between the list and the read: not an error. */
			if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
				continue;
			cgroup_list_done(&l);
			return -report(&error, r, "reading a cgroup");
		}
		c->object = strdup(*o);
		l.n++;
	}
	qsort(l.items, l.n, sizeof(CtlCgroup), compare_path);
	*ret = l;
	return 0;
}

static int print_json(json_object *o)
{
	if (!o) {
		fprintf(stderr, "pagemeldctl: out of memory\n");
		return CTL_EXIT_DBUS;
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

static int cmd_status(sd_bus *bus)
{
	_cleanup_(manager_donep) CtlManager m = {0};
	int r = load_manager(bus, &m);
	if (r < 0)
		return -r;
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = ctl_manager_to_json(&m, page_size);
		return print_json(o);
	}
	ctl_print_status(stdout, &m, page_size);
	return 0;
}

static int cmd_list(sd_bus *bus)
{
	_cleanup_(cgroup_list_done) CgroupList l = {0};
	int r = load_cgroups(bus, &l);
	if (r < 0)
		return -r;
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = ctl_cgroups_to_json(l.items, l.n, page_size);
		return print_json(o);
	}
	ctl_print_list(stdout, l.items, l.n, page_size, 0);
	return 0;
}

static int cmd_features(sd_bus *bus)
{
	_cleanup_(manager_donep) CtlManager m = {0};
	int r = load_manager(bus, &m);
	if (r < 0)
		return -r;
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = json_object_new_array();
		for (char **i = m.kernel_features; o && i && *i; i++)
			json_object_array_add(o, json_object_new_string(*i));
		return print_json(o);
	}
	ctl_print_features(stdout, &m);
	return 0;
}

static int cmd_metrics(sd_bus *bus)
{
	_cleanup_(manager_donep) CtlManager m = {0};
	_cleanup_(cgroup_list_done) CgroupList l = {0};
	int r = load_manager(bus, &m);
	if (r < 0)
		return -r;
	r = load_cgroups(bus, &l);
	if (r < 0)
		return -r;
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = json_object_new_object();
		if (o) {
			json_object_object_add(o, "manager", ctl_manager_to_json(&m, page_size));
			json_object_object_add(o, "cgroups", ctl_cgroups_to_json(l.items, l.n, page_size));
		}
		return print_json(o);
	}
	ctl_print_metrics(stdout, &m, l.items, l.n, page_size);
	return 0;
}

/* top fits the terminal; 0 (no limit) when stdout is not one. */
static unsigned terminal_columns(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
		return 0;
	return ws.ws_col;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

static int cmd_top(sd_bus *bus)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (long i = 0; !interrupted && (arg.iterations < 0 || i < arg.iterations); i++) {
		_cleanup_(manager_donep) CtlManager m = {0};
		_cleanup_(cgroup_list_done) CgroupList l = {0};
		int r;

		if (i > 0) {
			struct timespec ts = {(time_t)arg.interval,
					      (long)((arg.interval - floor(arg.interval)) * 1e9)};
			if (nanosleep(&ts, NULL) < 0 && interrupted)
				break;
		}
		r = load_manager(bus, &m);
		if (r < 0)
			return -r;
		r = load_cgroups(bus, &l);
		if (r < 0)
			return -r;
		qsort(l.items, l.n, sizeof(CtlCgroup), compare_merged);

		if (arg.json) {
			/* One compact document per refresh (JSON lines). */
			_cleanup_(json_object_putp) json_object *o = json_object_new_object();
			if (!o)
				return CTL_EXIT_DBUS;
			json_object_object_add(o, "manager", ctl_manager_to_json(&m, page_size));
			json_object_object_add(o, "cgroups", ctl_cgroups_to_json(l.items, l.n, page_size));
			puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE));
		} else {
			char saved[FORMAT_BYTES_MAX], when[16];
			time_t now = time(NULL);
			strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
			uint64_t bytes = m.pages_sharing > UINT64_MAX / page_size
						 ? UINT64_MAX
						 : m.pages_sharing * page_size;
			/* Home, clear: the table is redrawn in place. */
			fputs("\033[H\033[2J", stdout);
			printf("pagemeld top - %s - KSM %s - saved %s - %zu cgroups - every %gs\n\n", when,
			       m.ksm_run ?: "?", format_bytes(saved, sizeof(saved), bytes), l.n,
			       arg.interval);
			ctl_print_list(stdout, l.items, l.n, page_size, terminal_columns());
		}
		fflush(stdout);
	}
	return 0;
}

static int find_cgroup(sd_bus *bus, const char *path, CtlCgroup *ret)
{
	_cleanup_(cgroup_list_done) CgroupList l = {0};
	int r = load_cgroups(bus, &l);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++)
		if (streq_ptr(l.items[i].path, path)) {
			*ret = l.items[i];
			l.items[i] = (CtlCgroup){0};
			return 0;
		}
	fprintf(stderr, "pagemeldctl: no such cgroup: %s (see pagemeldctl list)\n", path);
	return -CTL_EXIT_NOT_FOUND;
}

static int parse_budget(const char *s, uint64_t *ret)
{
	if (streq(s, "max") || streq(s, "none")) {
		*ret = CTL_UNLIMITED;
		return 0;
	}
	return parse_quantity(s, ret);
}

static int cmd_budget(sd_bus *bus, const char *cgroup)
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	uint64_t merge = arg.merge_bytes, swap = arg.swap_bytes;
	int r;

	if (!arg.merge || !arg.swap) {
		/* Keep the budget that was not given. */
		CtlCgroup c = {0};
		r = find_cgroup(bus, cgroup, &c);
		if (r < 0)
			return -r;
		if (!arg.merge)
			merge = c.merge_budget;
		if (!arg.swap)
			swap = c.swap_budget;
		ctl_cgroup_done(&c);
	}
	r = call(bus, "SetBudget", 0, &error, NULL, "stt", cgroup, merge, swap);
	if (r < 0)
		return report(&error, r, "setting the budget");
	return 0;
}

static int cmd_enable(sd_bus *bus, const char *method, const char *cgroup)
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	int r = call(bus, method, LONG_CALL_TIMEOUT_USEC, &error, NULL, "s", cgroup);
	if (r < 0)
		return report(&error, r, streq(method, "EnableCgroup") ? "enabling" : "disabling");
	return 0;
}

static int parse_on_off(const char *value)
{
	if (streq(value, "on") || streq(value, "1") || streq(value, "yes"))
		return 1;
	if (streq(value, "off") || streq(value, "0") || streq(value, "no"))
		return 0;
	return -EINVAL;
}

static int cmd_merge_across_nodes(sd_bus *bus, const char *value)
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	int r = call(bus, "SetMergeAcrossNodes", LONG_CALL_TIMEOUT_USEC, &error, NULL, "b",
		     parse_on_off(value));
	if (r < 0)
		return report(&error, r, "switching merge_across_nodes");
	return 0;
}

typedef struct UnmergeWait {
	bool finished;
	bool ok;
	char *error;
} UnmergeWait;

static int on_unmerge_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	UnmergeWait *w = userdata;
	const char *error = NULL;
	int ok = 0;
	if (sd_bus_message_read(m, "bs", &ok, &error) < 0)
		return 0;
	w->finished = true;
	w->ok = ok;
	w->error = error ? strdup(error) : NULL;
	return 0;
}

static int get_pages_sharing(sd_bus *bus, uint64_t *ret)
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_msg_ sd_bus_message *reply = NULL;
	CtlManager m = {0};
	const CtlField *f = ctl_field_find(ctl_manager_fields, "PagesSharing");
	int r;

	r = sd_bus_call_method(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH, PROPERTIES_IFACE, "Get", &error,
			       &reply, "ss", PAGEMELD_MANAGER_INTERFACE, "PagesSharing");
	if (r >= 0)
		r = read_field(reply, f, &m);
	if (r < 0)
		return -report(&error, r, "reading PagesSharing");
	*ret = m.pages_sharing;
	return 0;
}

static int cmd_unmerge_all(sd_bus *bus)
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	UnmergeWait w = {0};
	uint64_t start = 0, now = 0;
	bool tty = isatty(STDERR_FILENO);
	int r;

	if (arg.wait) {
		/* Subscribe before asking, so the signal cannot be missed. */
		r = sd_bus_match_signal(bus, &slot, NULL, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE,
					"UnmergeFinished", on_unmerge_finished, &w);
		if (r < 0)
			return report(NULL, r, "subscribing to UnmergeFinished");
		r = get_pages_sharing(bus, &start);
		if (r < 0)
			return -r;
		now = start;
	}
	r = call(bus, "UnmergeAll", 0, &error, NULL, "b", (int)arg.force);
	if (r < 0)
		return report(&error, r, "unmerge-all");
	if (!arg.wait) {
		printf("unmerge-all started; pagemeldctl status shows its progress\n");
		return 0;
	}

	while (!w.finished) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return report(NULL, r, "waiting for UnmergeFinished");
		if (r > 0)
			continue;
		r = get_pages_sharing(bus, &now);
		if (r < 0)
			return -r;
		if (w.finished)
			break;
		start = MAX(start, now);
		if (tty) {
			char bar[256];
			fprintf(stderr, "\r%s\033[K",
				ctl_format_progress(bar, sizeof(bar), start, now, page_size, 40));
		}
		r = sd_bus_wait(bus, USEC_PER_SEC / 5);
		if (r < 0)
			return report(NULL, r, "waiting for UnmergeFinished");
	}
	if (tty) {
		/* The signal can arrive before the first poll (a fast unmerge), so the
		 * bar's last state is drawn here: 100% when it succeeded. */
		char bar[256];
		fprintf(stderr, "\r%s\033[K\n",
			ctl_format_progress(bar, sizeof(bar), start, w.ok ? 0 : now, page_size, 40));
	}
	if (!w.ok) {
		fprintf(stderr, "pagemeldctl: unmerge-all failed: %s\n",
			w.error && *w.error ? w.error : "unknown");
		free(w.error);
		return CTL_EXIT_FAILED;
	}
	free(w.error);
	printf("unmerge-all finished: %" PRIu64 " pages unmerged\n", start);
	return 0;
}

static void help(void)
{
	printf("Usage: pagemeldctl [OPTIONS] COMMAND [ARGS]\n"
	       "\n"
	       "Query and steer pagemeldd, the KSM daemon for containers, over the D-Bus\n"
	       "system bus ($DBUS_SYSTEM_BUS_ADDRESS is honoured).\n"
	       "\n"
	       "Read commands (any user; --json for machine-readable output):\n"
	       "  status                      KSM state and machine-wide savings\n"
	       "  list                        managed cgroups: merged, profit, debt/budget, state\n"
	       "  top [-n N] [--interval S]   list, refreshed in place\n"
	       "  features                    kernel features pagemeldd found\n"
	       "  metrics                     OpenMetrics text (Prometheus, node_exporter textfile)\n"
	       "\n"
	       "Commands that change things (root):\n"
	       "  budget CGROUP [--merge Q] [--swap Q]   set budgets (512Mi, 1.5Gi, 1G, max)\n"
	       "  enable CGROUP | disable CGROUP         merge / stop merging and unmerge it\n"
	       "  unmerge-all [--force] [--wait]         unmerge every page (progress with --wait)\n"
	       "  merge-across-nodes on|off              switch NUMA-crossing merges\n"
	       "\n"
	       "Options:\n"
	       "  -j, --json          JSON output\n"
	       "  -n, --iterations N  top: stop after N refreshes\n"
	       "  -i, --interval S    top: seconds between refreshes (default 2)\n"
	       "      --merge Q       budget: merge budget\n"
	       "      --swap Q        budget: swap budget (memory.swap.max)\n"
	       "  -f, --force         unmerge-all: even without the memory to absorb it\n"
	       "  -w, --wait          unmerge-all: wait for UnmergeFinished, with a progress bar\n"
	       "  -h, --help          this text\n"
	       "  -V, --version       pagemeldctl's version\n"
	       "\n"
	       "Exit codes: 0 ok, 1 usage or invalid arguments, 2 daemon or bus unavailable,\n"
	       "3 access denied, 4 not implemented by the daemon, 5 refused (insufficient\n"
	       "headroom, busy), 6 other D-Bus error, 7 no such cgroup, 8 accepted but failed.\n");
}

typedef enum Command {
	CMD_STATUS,
	CMD_LIST,
	CMD_TOP,
	CMD_FEATURES,
	CMD_METRICS,
	CMD_BUDGET,
	CMD_ENABLE,
	CMD_DISABLE,
	CMD_UNMERGE_ALL,
	CMD_MERGE_ACROSS_NODES,
} Command;

static const struct {
	const char *name;
	int args; /* positional arguments after the command */
	bool read;
} commands[] = {
	[CMD_STATUS] = {"status", 0, true},
	[CMD_LIST] = {"list", 0, true},
	[CMD_TOP] = {"top", 0, true},
	[CMD_FEATURES] = {"features", 0, true},
	[CMD_METRICS] = {"metrics", 0, true},
	[CMD_BUDGET] = {"budget", 1, false},
	[CMD_ENABLE] = {"enable", 1, false},
	[CMD_DISABLE] = {"disable", 1, false},
	[CMD_UNMERGE_ALL] = {"unmerge-all", 0, false},
	[CMD_MERGE_ACROSS_NODES] = {"merge-across-nodes", 1, false},
};

enum {
	OPT_MERGE = 0x100,
	OPT_SWAP,
};

_printf_(1, 2) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pagemeldctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'pagemeldctl --help'.\n");
	return CTL_EXIT_USAGE;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{"json", no_argument, NULL, 'j'},
		{"iterations", required_argument, NULL, 'n'},
		{"interval", required_argument, NULL, 'i'},
		{"merge", required_argument, NULL, OPT_MERGE},
		{"swap", required_argument, NULL, OPT_SWAP},
		{"force", no_argument, NULL, 'f'},
		{"wait", no_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{},
	};
	_cleanup_bus_ sd_bus *bus = NULL;
	bool top_opts = false;
	char *end;
	int c, r;

	opterr = 0; /* our own messages, without argv[0]'s full path */
	while ((c = getopt_long(argc, argv, ":jn:i:fwhV", options, NULL)) >= 0) {
		switch (c) {
		case 'j':
			arg.json = true;
			break;
		case 'n':
			errno = 0;
			arg.iterations = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || arg.iterations < 1)
				return usage_error("--iterations takes a positive number, not '%s'", optarg);
			top_opts = true;
			break;
		case 'i':
			errno = 0;
			arg.interval = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(arg.interval >= 0.05 && arg.interval <= 3600))
				return usage_error("--interval takes seconds between 0.05 and 3600, not '%s'",
						   optarg);
			top_opts = true;
			break;
		case OPT_MERGE:
			arg.merge = optarg;
			break;
		case OPT_SWAP:
			arg.swap = optarg;
			break;
		case 'f':
			arg.force = true;
			break;
		case 'w':
			arg.wait = true;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("pagemeldctl %s\n", PAGEMELD_VERSION);
			return 0;
		case ':':
			if (optopt > 0 && optopt < 0x100)
				return usage_error("option '-%c' needs an argument", optopt);
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt > 0 && optopt < 0x100)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}

	if (optind >= argc)
		return usage_error("%s", "missing command");
	const char *name = argv[optind++];
	size_t cmd;
	for (cmd = 0; cmd < ELEMENTSOF(commands); cmd++)
		if (streq(name, commands[cmd].name))
			break;
	if (cmd == ELEMENTSOF(commands))
		return usage_error("unknown command '%s'", name);
	if (argc - optind != commands[cmd].args)
		return usage_error("%s takes %s", name, commands[cmd].args ? "one argument" : "no arguments");
	if (arg.json && !commands[cmd].read)
		return usage_error("--json is for read commands, not %s", name);
	if (top_opts && cmd != CMD_TOP)
		return usage_error("--iterations/--interval are for top, not %s", name);
	if ((arg.merge || arg.swap) && cmd != CMD_BUDGET)
		return usage_error("--merge/--swap are for budget, not %s", name);
	if ((arg.force || arg.wait) && cmd != CMD_UNMERGE_ALL)
		return usage_error("--force/--wait are for unmerge-all, not %s", name);
	if (cmd == CMD_BUDGET && !arg.merge && !arg.swap)
		return usage_error("%s", "budget needs --merge and/or --swap");
	if (arg.merge && parse_budget(arg.merge, &arg.merge_bytes) < 0)
		return usage_error("--merge: invalid quantity '%s' (e.g. 512Mi, 1.5Gi, 1G, max)", arg.merge);
	if (arg.swap && parse_budget(arg.swap, &arg.swap_bytes) < 0)
		return usage_error("--swap: invalid quantity '%s' (e.g. 512Mi, 1.5Gi, 1G, max)", arg.swap);
	if (cmd == CMD_MERGE_ACROSS_NODES && parse_on_off(argv[optind]) < 0)
		return usage_error("merge-across-nodes takes on or off, not '%s'", argv[optind]);

	long ps = sysconf(_SC_PAGESIZE);
	page_size = ps > 0 ? (uint64_t)ps : 4096;

	r = bus_connect(&bus);
	if (r != 0)
		return r;

	switch ((Command)cmd) {
	case CMD_STATUS:
		return cmd_status(bus);
	case CMD_LIST:
		return cmd_list(bus);
	case CMD_TOP:
		return cmd_top(bus);
	case CMD_FEATURES:
		return cmd_features(bus);
	case CMD_METRICS:
		return cmd_metrics(bus);
	case CMD_BUDGET:
		return cmd_budget(bus, argv[optind]);
	case CMD_ENABLE:
		return cmd_enable(bus, "EnableCgroup", argv[optind]);
	case CMD_DISABLE:
		return cmd_enable(bus, "DisableCgroup", argv[optind]);
	case CMD_UNMERGE_ALL:
		return cmd_unmerge_all(bus);
	case CMD_MERGE_ACROSS_NODES:
		return cmd_merge_across_nodes(bus, argv[optind]);
	}
	return CTL_EXIT_USAGE;
}
