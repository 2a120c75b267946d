/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemeldctl: the operator's client of pagemeldd on the D-Bus system bus
 * ($DBUS_SYSTEM_BUS_ADDRESS is honoured by sd-bus). Everything it prints is
 * formatted by ctl-format.c; this file is the command line and the bus.
 */
#include <dirent.h>
#include <fcntl.h>
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
#include "cgroup.h"
#include "fileio.h"
#include "ctl-format.h"
#include "ctl-runtime.h"
#include "macro.h"
#include "pod-identity.h"
#include "quantity.h"

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

#define USEC_PER_SEC UINT64_C(1000000)
/* SetMergeAcrossNodes unmerges everything first: that can take minutes. */
#define LONG_CALL_TIMEOUT_USEC (30 * 60 * USEC_PER_SEC)

static struct {
	bool json;
	bool candidates;
	bool force;
	bool wait;
	bool wide;	       /* list, top: the cgroup path too */
	const char *namespace; /* list, top: only this pod namespace */
	long iterations;       /* top: -1 = until interrupted */
	double interval;       /* top: seconds */
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

typedef struct UnmergeWait {
	bool finished;
	bool ok;
	char *error;
} UnmergeWait;

static void unmerge_wait_done(UnmergeWait *w)
{
	free(w->error);
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
/* Containers, a(ss): the ids and, in parallel, the names. */
static int read_containers(sd_bus_message *m, CtlCgroup *c)
{
	_cleanup_strv_free_ char **ids = NULL, **names = NULL;
	const char *id, *name;
	size_t n = 0;
	int r = sd_bus_message_enter_container(m, 'a', "(ss)");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "(ss)", &id, &name)) > 0) {
		char **a = realloc(ids, (n + 2) * sizeof(char *));
		if (!a)
			return -ENOMEM;
		ids = a;
		ids[n] = ids[n + 1] = NULL;
		char **b = realloc(names, (n + 2) * sizeof(char *));
		if (!b)
			return -ENOMEM;
		names = b;
		names[n] = names[n + 1] = NULL;
		ids[n] = strdup(id);
		names[n] = strdup(name);
		n++;
		if (!ids[n - 1] || !names[n - 1])
			return -ENOMEM;
	}
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	strv_free(c->containers);
	strv_free(c->container_names);
	c->containers = TAKE_PTR(ids);
	c->container_names = TAKE_PTR(names);
	return 0;
}

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
					 : streq(contents, "as") || streq(contents, "a(ss)")))
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
	} else if (f->kind == CTL_FIELD_CONTAINERS) {
		r = read_containers(m, base);
		if (r < 0)
			return r;
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

static int load_manager(sd_bus *bus, CtlManager *ret, sd_bus_error *error)
{
	CtlManager m = {0};
	int r = get_all(bus, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE, ctl_manager_fields, &m,
			error);
	if (r < 0) {
		ctl_manager_done(&m);
		return r;
	}
	*ret = m;
	return 0;
}

static int bad_reply(sd_bus_message *reply, sd_bus_error *error)
{
	return sd_bus_error_setf(error, SD_BUS_ERROR_INCONSISTENT_MESSAGE,
				 "unexpected ListCgroups reply (signature %s)",
				 sd_bus_message_get_signature(reply, true) ?: "?");
}

/* ListCgroups gives the objects; each object's GetAll gives the rest (the
 * containers and processes are not in the list's struct). The struct is
 * read by type, so the order of its fields is not hard-wired here. */
static int list_objects(sd_bus *bus, char ***ret, sd_bus_error *error)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	_cleanup_strv_free_ char **objects = NULL;
	_cleanup_free_ char *inner = NULL;
	const char *contents;
	size_t n = 0;
	char type;
	int r;

	r = call(bus, "ListCgroups", 0, error, &reply, NULL);
	if (r < 0)
		return r;
	r = sd_bus_message_peek_type(reply, &type, &contents);
	if (r < 0 || type != 'a' || contents[0] != '(')
		return bad_reply(reply, error);
	r = sd_bus_message_enter_container(reply, 'a', contents);
	if (r < 0)
		return bad_reply(reply, error);
	inner = strndup(contents + 1, strlen(contents) - 2);
	if (!inner)
		return -ENOMEM;
	while ((r = sd_bus_message_enter_container(reply, 'r', inner)) > 0) {
		const char *object = NULL;
		while ((r = sd_bus_message_peek_type(reply, &type, NULL)) > 0) {
			if (type == 'o' && !object)
				r = sd_bus_message_read_basic(reply, 'o', &object);
			else
				r = sd_bus_message_skip(reply, (char[]){type, 0});
			if (r < 0)
				return bad_reply(reply, error);
		}
		if (r < 0 || !object)
			return bad_reply(reply, error);
		char **l = realloc(objects, (n + 2) * sizeof(char *));
		if (!l)
			return -ENOMEM;
		objects = l;
		objects[n] = strdup(object);
		objects[n + 1] = NULL;
		if (!objects[n])
			return -ENOMEM;
		n++;
		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			return bad_reply(reply, error);
	}
	if (r < 0)
		return bad_reply(reply, error);
	if (!objects) {
		objects = calloc(1, sizeof(char *));
		if (!objects)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(objects);
	return 0;
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

static int load_cgroups(sd_bus *bus, CgroupList *ret, sd_bus_error *error)
{
	_cleanup_strv_free_ char **objects = NULL;
	_cleanup_(cgroup_list_done) CgroupList l = {0};
	size_t n = 0;
	int r;

	r = list_objects(bus, &objects, error);
	if (r < 0)
		return r;
	for (char **o = objects; *o; o++)
		n++;
	l.items = calloc(n ? n : 1, sizeof(CtlCgroup));
	if (!l.items)
		return -ENOMEM;
	for (char **o = objects; *o; o++) {
		_cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
		CtlCgroup *c = &l.items[l.n];
		*c = (CtlCgroup){.merge_budget = CTL_UNLIMITED, .swap_budget = CTL_UNLIMITED};
		r = get_all(bus, *o, PAGEMELD_CGROUP_INTERFACE, ctl_cgroup_fields, c, &e);
		if (r < 0) {
			ctl_cgroup_done(c);
			/* Removed between the list and the read: not an error. */
			if (sd_bus_error_has_name(&e, SD_BUS_ERROR_UNKNOWN_OBJECT))
				continue;
			sd_bus_error_move(error, &e);
			return r;
		}
		c->object = strdup(*o);
		l.n++;
	}
	qsort(l.items, l.n, sizeof(CtlCgroup), compare_path);
	*ret = l;
	l = (CgroupList){0};
	return 0;
}

/* For the reading verbs: ListCgroups and the cgroup objects are for root and
 * the reader group; anyone else gets an empty list and *ret_denied, and still
 * sees the machine-wide totals. */
static int load_cgroups_or_denied(sd_bus *bus, CgroupList *ret, bool *ret_denied, sd_bus_error *error)
{
	_cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
	int r = load_cgroups(bus, ret, &e);
	if (r >= 0) {
		*ret_denied = false;
		return 0;
	}
	if (ctl_exit_code(sd_bus_error_is_set(&e) ? e.name : NULL, r) != CTL_EXIT_ACCESS_DENIED) {
		sd_bus_error_move(error, &e);
		return r;
	}
	*ret = (CgroupList){0};
	*ret_denied = true;
	return 0;
}

static void note_readers_only(const char *what)
{
	fprintf(stderr, "pagemeldctl: %s left out: %s\n", what,
		ctl_error_summary(CTL_ERROR_READERS_ONLY, -EACCES));
}

static int print_json(json_object *o)
{
	if (!o)
		return -ENOMEM;
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

/* --namespace: keep the cgroups of that pod namespace. */
static void filter_namespace(CgroupList *l)
{
	size_t k = 0;
	if (!arg.namespace)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (streq_ptr(l->items[i].pod_namespace, arg.namespace))
			l->items[k++] = l->items[i];
		else
			ctl_cgroup_done(&l->items[i]);
	}
	l->n = k;
}

static int verb_status(sd_bus *bus, char **args, sd_bus_error *error)
{
	_cleanup_(manager_donep) CtlManager m = {0};
	int r = load_manager(bus, &m, error);
	if (r < 0)
		return r;
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = ctl_manager_to_json(&m, page_size);
		return print_json(o);
	}
	ctl_print_status(stdout, &m, page_size);
	return 0;
}

static int verb_list(sd_bus *bus, char **args, sd_bus_error *error)
{
	_cleanup_(cgroup_list_done) CgroupList l = {0};
	bool denied;
	int r = load_cgroups_or_denied(bus, &l, &denied, error);
	if (r < 0)
		return r;
	/* Nothing to show but per-cgroup rows: an empty list would read as
	 * "nothing managed". */
	if (denied)
		return sd_bus_error_set(error, CTL_ERROR_READERS_ONLY, NULL);
	filter_namespace(&l);
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = ctl_cgroups_to_json(l.items, l.n, page_size);
		return print_json(o);
	}
	ctl_print_list(stdout, l.items, l.n, page_size, 0, arg.wide);
	return 0;
}

static int verb_features(sd_bus *bus, char **args, sd_bus_error *error)
{
	_cleanup_(manager_donep) CtlManager m = {0};
	int r = load_manager(bus, &m, error);
	if (r < 0)
		return r;
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = json_object_new_array();
		for (char **i = m.kernel_features; o && i && *i; i++)
			json_object_array_add(o, json_object_new_string(*i));
		return print_json(o);
	}
	ctl_print_features(stdout, &m);
	return 0;
}

/* The manager and its cgroups, in one JSON object; NULL on OOM. */
static json_object *everything_to_json(const CtlManager *m, const CgroupList *l)
{
	json_object *o = json_object_new_object();
	if (o) {
		json_object_object_add(o, "manager", ctl_manager_to_json(m, page_size));
		json_object_object_add(o, "cgroups", ctl_cgroups_to_json(l->items, l->n, page_size));
	}
	return o;
}

static int verb_metrics(sd_bus *bus, char **args, sd_bus_error *error)
{
	_cleanup_(manager_donep) CtlManager m = {0};
	_cleanup_(cgroup_list_done) CgroupList l = {0};
	bool denied;
	int r = load_manager(bus, &m, error);
	if (r < 0)
		return r;
	r = load_cgroups_or_denied(bus, &l, &denied, error);
	if (r < 0)
		return r;
	if (denied)
		note_readers_only("per-cgroup series");
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = everything_to_json(&m, &l);
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

static int verb_top(sd_bus *bus, char **args, sd_bus_error *error)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (long i = 0; !interrupted && (arg.iterations < 0 || i < arg.iterations); i++) {
		_cleanup_(manager_donep) CtlManager m = {0};
		_cleanup_(cgroup_list_done) CgroupList l = {0};
		bool denied;
		int r;

		if (i > 0) {
			struct timespec ts = {(time_t)arg.interval,
					      (long)((arg.interval - floor(arg.interval)) * 1e9)};
			if (nanosleep(&ts, NULL) < 0 && interrupted)
				break;
		}
		r = load_manager(bus, &m, error);
		if (r < 0)
			return r;
		r = load_cgroups_or_denied(bus, &l, &denied, error);
		if (r < 0)
			return r;
		if (denied && i == 0)
			note_readers_only("per-cgroup rows");
		filter_namespace(&l);
		qsort(l.items, l.n, sizeof(CtlCgroup), compare_merged);

		if (arg.json) {
			/* One compact document per refresh (JSON lines). */
			_cleanup_(json_object_putp) json_object *o = everything_to_json(&m, &l);
			if (!o)
				return -ENOMEM;
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
			printf("pagemeld top - %s - KSM %s - saved %s - %" PRIu64 " cgroups - every %gs\n\n",
			       when, m.ksm_run ?: "?", format_bytes(saved, sizeof(saved), bytes),
			       denied ? m.managed_cgroups : (uint64_t)l.n, arg.interval);
			if (denied)
				puts("(per-cgroup rows: root and the reader group only)");
			else
				ctl_print_list(stdout, l.items, l.n, page_size, terminal_columns(), arg.wide);
		}
		fflush(stdout);
	}
	return 0;
}

static int find_cgroup(sd_bus *bus, const char *path, CtlCgroup *ret, sd_bus_error *error)
{
	_cleanup_(cgroup_list_done) CgroupList l = {0};
	int r = load_cgroups(bus, &l, error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < l.n; i++)
		if (streq_ptr(l.items[i].path, path)) {
			*ret = l.items[i];
			l.items[i] = (CtlCgroup){0};
			return 0;
		}
	/* What pagemeldd answers for it, found before asking. */
	return sd_bus_error_setf(error, PM_ERROR_NO_SUCH_CGROUP, "%s is not managed (see pagemeldctl list)",
				 path);
}

static int parse_budget(const char *s, uint64_t *ret)
{
	if (streq(s, "max") || streq(s, "none")) {
		*ret = CTL_UNLIMITED;
		return 0;
	}
	return parse_quantity(s, ret);
}

static int usage(sd_bus_error *error, const char *fmt, ...) _printf_(2, 3);
static int usage(sd_bus_error *error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = sd_bus_error_setfv(error, CTL_ERROR_USAGE, fmt, ap);
	va_end(ap);
	return r;
}

static int check_budget(char **args, sd_bus_error *error)
{
	if (!arg.merge && !arg.swap)
		return usage(error, "%s", "budget needs --merge and/or --swap");
	return 0;
}

static int verb_budget(sd_bus *bus, char **args, sd_bus_error *error)
{
	uint64_t merge = arg.merge_bytes, swap = arg.swap_bytes;
	int r;

	if (!arg.merge || !arg.swap) {
		/* Keep the budget that was not given. */
		CtlCgroup c = {0};
		r = find_cgroup(bus, args[0], &c, error);
		if (r < 0)
			return r;
		if (!arg.merge)
			merge = c.merge_budget;
		if (!arg.swap)
			swap = c.swap_budget;
		ctl_cgroup_done(&c);
	}
	return call(bus, "SetBudget", 0, error, NULL, "stt", args[0], merge, swap);
}

static int verb_enable(sd_bus *bus, char **args, sd_bus_error *error)
{
	return call(bus, "EnableCgroup", LONG_CALL_TIMEOUT_USEC, error, NULL, "s", args[0]);
}

static int verb_disable(sd_bus *bus, char **args, sd_bus_error *error)
{
	return call(bus, "DisableCgroup", LONG_CALL_TIMEOUT_USEC, error, NULL, "s", args[0]);
}

static int parse_on_off(const char *value)
{
	if (streq(value, "on") || streq(value, "1") || streq(value, "yes"))
		return 1;
	if (streq(value, "off") || streq(value, "0") || streq(value, "no"))
		return 0;
	return -EINVAL;
}

static int check_merge_across_nodes(char **args, sd_bus_error *error)
{
	if (parse_on_off(args[0]) < 0)
		return usage(error, "merge-across-nodes takes on or off, not '%s'", args[0]);
	return 0;
}

static int verb_merge_across_nodes(sd_bus *bus, char **args, sd_bus_error *error)
{
	/* The one-argument form unforced: a daemon older than the flags
	 * method still answers it. */
	if (!arg.force)
		return call(bus, "SetMergeAcrossNodes", LONG_CALL_TIMEOUT_USEC, error, NULL, "b",
			    parse_on_off(args[0]));
	return call(bus, "SetMergeAcrossNodesWithFlags", LONG_CALL_TIMEOUT_USEC, error, NULL, "bt",
		    parse_on_off(args[0]), PAGEMELD_MERGE_ACROSS_NODES_FORCE);
}

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

static int get_pages_sharing(sd_bus *bus, uint64_t *ret, sd_bus_error *error)
{
	_cleanup_msg_ sd_bus_message *reply = NULL;
	CtlManager m = {0};
	const CtlField *f = ctl_field_find(ctl_manager_fields, "PagesSharing");
	int r;

	r = sd_bus_call_method(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH, PROPERTIES_IFACE, "Get", error,
			       &reply, "ss", PAGEMELD_MANAGER_INTERFACE, "PagesSharing");
	if (r >= 0)
		r = read_field(reply, f, &m);
	if (r < 0)
		return r;
	*ret = m.pages_sharing;
	return 0;
}

/* Until UnmergeFinished, with a progress bar on a terminal. */
static int wait_unmerge(sd_bus *bus, UnmergeWait *w, uint64_t *start, sd_bus_error *error)
{
	bool tty = isatty(STDERR_FILENO);
	uint64_t now = *start;
	char bar[256];
	int r;

	while (!w->finished) {
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = get_pages_sharing(bus, &now, error);
		if (r < 0)
			return r;
		if (w->finished)
			break;
		*start = MAX(*start, now);
		if (tty)
			fprintf(stderr, "\r%s\033[K",
				ctl_format_progress(bar, sizeof(bar), *start, now, page_size, 40));
		r = sd_bus_wait(bus, USEC_PER_SEC / 5);
		if (r < 0)
			return r;
	}
	/* The signal can arrive before the first poll (a fast unmerge), so the
	 * bar's last state is drawn here: 100% when it succeeded. */
	if (tty)
		fprintf(stderr, "\r%s\033[K\n",
			ctl_format_progress(bar, sizeof(bar), *start, w->ok ? 0 : now, page_size, 40));
	return 0;
}

static int verb_unmerge_all(sd_bus *bus, char **args, sd_bus_error *error)
{
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
	_cleanup_(unmerge_wait_done) UnmergeWait w = {0};
	uint64_t start = 0;
	int r;

	if (arg.wait) {
		/* Subscribe before asking, so the signal cannot be missed. */
		r = sd_bus_match_signal(bus, &slot, NULL, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE,
					"UnmergeFinished", on_unmerge_finished, &w);
		if (r < 0)
			return r;
		r = get_pages_sharing(bus, &start, error);
		if (r < 0)
			return r;
	}
	r = call(bus, "UnmergeAll", 0, error, NULL, "b", (int)arg.force);
	if (r < 0)
		return r;
	if (!arg.wait) {
		printf("unmerge-all started; pagemeldctl status shows its progress\n");
		return 0;
	}
	r = wait_unmerge(bus, &w, &start, error);
	if (r < 0)
		return r;
	if (!w.ok)
		return sd_bus_error_set(error, CTL_ERROR_FAILED, w.error && *w.error ? w.error : "unknown");
	printf("unmerge-all finished: %" PRIu64 " pages unmerged\n", start);
	return 0;
}

/* ---- estimate ---- */

typedef struct EstimateWait {
	uint64_t job;
	bool finished;
	char *error;
	uint64_t bytes_read;
	CtlEstimate result;
} EstimateWait;

static void estimate_wait_done(EstimateWait *w)
{
	free(w->error);
	ctl_estimate_done(&w->result);
}

static int read_figures(sd_bus_message *m, CtlEstimate *e, CtlEstimateGroup *g)
{
	int r = sd_bus_message_enter_container(m, 'a', "{sx}");
	if (r < 0)
		return r;
	for (;;) {
		const char *name;
		int64_t v;
		r = sd_bus_message_read(m, "{sx}", &name, &v);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		ctl_estimate_set(e, g, name, v);
	}
	return sd_bus_message_exit_container(m);
}

static int parse_estimate_finished(sd_bus_message *m, EstimateWait *w)
{
	const char *error;
	int r = sd_bus_message_read(m, "s", &error);
	if (r < 0)
		return r;
	w->error = strdup(error);
	if (!w->error)
		return -ENOMEM;
	r = read_figures(m, &w->result, NULL);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "(sa{sx})");
	if (r < 0)
		return r;
	for (;;) {
		const char *path;
		r = sd_bus_message_enter_container(m, 'r', "sa{sx}");
		if (r < 0)
			return r;
		if (r == 0)
			break;
		r = sd_bus_message_read(m, "s", &path);
		if (r < 0)
			return r;
		CtlEstimateGroup *n = realloc(w->result.groups, (w->result.n_groups + 1) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		w->result.groups = n;
		CtlEstimateGroup *g = &n[w->result.n_groups++];
		*g = (CtlEstimateGroup){.path = strdup(path)};
		if (!g->path)
			return -ENOMEM;
		r = read_figures(m, &w->result, g);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	return sd_bus_message_exit_container(m);
}

static int on_estimate_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	EstimateWait *w = userdata;
	uint64_t job;
	if (w->finished || sd_bus_message_read(m, "t", &job) < 0 || job != w->job)
		return 0;
	if (streq_ptr(sd_bus_message_get_member(m), "EstimateProgress")) {
		(void)sd_bus_message_read(m, "t", &w->bytes_read);
		return 0;
	}
	int r = parse_estimate_finished(m, w);
	if (r < 0 && !w->error)
		w->error = strdup("malformed EstimateFinished signal");
	w->finished = true;
	return 0;
}

typedef struct PathList {
	char **paths;
	size_t n;
} PathList;

static void path_list_done(PathList *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	*l = (PathList){0};
}

static int path_list_add(PathList *l, const char *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (streq(l->paths[i], p))
			return 0;
	char **n = realloc(l->paths, (l->n + 2) * sizeof(char *));
	if (!n)
		return -ENOMEM;
	l->paths = n;
	if (!(n[l->n] = strdup(p)))
		return -ENOMEM;
	n[++l->n] = NULL;
	return 0;
}

static bool cgroup_has_processes(int dfd)
{
	char buf[16];
	int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	return n > 0;
}

/* Leaf cgroups with processes below mount/rel (depth-first). */
static int walk_leaves(const char *mount, const char *rel, unsigned depth, PathList *out)
{
	_cleanup_free_ char *dir = strdup_printf("%s%s", mount, rel);
	if (!dir)
		return -ENOMEM;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	bool children = false;
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		children = true;
		if (depth >= 32)
			continue;
		_cleanup_free_ char *sub = strdup_printf("%s/%s", streq(rel, "/") ? "" : rel, de->d_name);
		r = sub ? walk_leaves(mount, sub, depth + 1, out) : -ENOMEM;
	}
	if (r >= 0 && !children && !streq(rel, "/") && cgroup_has_processes(dirfd(d)))
		r = path_list_add(out, rel);
	closedir(d);
	return r;
}

/* --namespace: the managed cgroups pagemeldd places in the namespace, and
 * the containers of that namespace the runtimes started that are not
 * opted in (their state is root's: others see the managed ones only). */
static int namespace_containers(sd_bus *bus, PathList *paths, sd_bus_error *error)
{
	_cleanup_(cgroup_list_done) CgroupList managed = {0};
	CtlRuntimeContainer *rc = NULL;
	size_t rn = 0;
	int r = load_cgroups(bus, &managed, error);
	if (r < 0)
		return r;
	filter_namespace(&managed);
	for (size_t i = 0; r >= 0 && i < managed.n; i++)
		if (managed.items[i].path)
			r = path_list_add(paths, managed.items[i].path);
	if (r < 0)
		return r;
	const char *roots = getenv("PAGEMELD_RUNTIME_ROOTS");
	r = ctl_runtime_containers("", roots ? roots : CTL_RUNTIME_ROOTS_DEFAULT, &rc, &rn);
	if (r == -EACCES || r == -EPERM) {
		fprintf(stderr,
			"The container runtimes' state is root's: containers of %s that are not opted in "
			"are left out.\n",
			arg.namespace);
		return 0;
	}
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot read the container runtimes' state: %s",
					       strerror(-r));
	for (size_t i = 0; r >= 0 && i < rn; i++) {
		_cleanup_free_ char *path = NULL;
		if (rc[i].sandbox || !streq_ptr(rc[i].identity.pod_namespace, arg.namespace))
			continue;
		if (cg_pid_get_path("/proc", rc[i].pid, &path) < 0 || streq(path, "/"))
			continue; /* exited meanwhile */
		r = path_list_add(paths, path);
	}
	ctl_runtime_containers_free(rc, rn);
	return r;
}

static int check_estimate(char **args, sd_bus_error *error)
{
	if ((int)arg.candidates + !!arg.namespace + !!args[0] != 1)
		return usage(error, "%s",
			     "estimate takes cgroups, --namespace NS or --candidates (one of them)");
	for (char **a = args; *a; a++)
		if ((*a)[0] != '/')
			return usage(error, "estimate: '%s' is not a cgroup path (/kubepods/...)", *a);
	return 0;
}

static int verb_estimate(sd_bus *bus, char **args, sd_bus_error *error)
{
	_cleanup_(sd_bus_slot_unrefp) sd_bus_slot *progress_slot = NULL, *finished_slot = NULL;
	_cleanup_(estimate_wait_done) EstimateWait w = {0};
	_cleanup_(path_list_done) PathList paths = {0};
	_cleanup_(cgroup_list_done) CgroupList managed = {0};
	_cleanup_msg_ sd_bus_message *m = NULL, *reply = NULL;
	int r;

	if (arg.candidates) {
		/* Not opted in: every leaf cgroup with processes that pagemeldd
		 * does not manage. The managed ones are estimated too, as
		 * merging already, so each candidate's marginal saving is what
		 * it adds to them. */
		_cleanup_free_ char *mount = NULL;
		r = load_cgroups(bus, &managed, error);
		if (r < 0)
			return r;
		r = cg_find_v2_mount("/proc/self/mountinfo", &mount);
		if (r < 0)
			return sd_bus_error_setf(error, PM_ERROR_NO_CGROUP_V2, "No cgroup v2 mount: %s",
						 strerror(-r));
		PathList leaves = {0};
		r = walk_leaves(mount, "/", 0, &leaves);
		for (size_t i = 0; r >= 0 && i < leaves.n; i++) {
			bool is_managed = false;
			for (size_t j = 0; j < managed.n; j++)
				is_managed |= streq_ptr(managed.items[j].path, leaves.paths[i]);
			if (!is_managed)
				r = path_list_add(&paths, leaves.paths[i]);
		}
		path_list_done(&leaves);
		if (r < 0)
			return r;
		if (paths.n == 0) {
			printf("No candidates: every cgroup with processes is managed.\n");
			return 0;
		}
		for (size_t j = 0; r >= 0 && j < managed.n; j++)
			if (managed.items[j].path)
				r = path_list_add(&paths, managed.items[j].path);
		if (r < 0)
			return r;
	} else if (arg.namespace) {
		r = namespace_containers(bus, &paths, error);
		if (r < 0)
			return r;
		if (paths.n == 0) {
			printf("No containers in namespace %s.\n", arg.namespace);
			return 0;
		}
	} else
		for (char **a = args; *a; a++) {
			r = path_list_add(&paths, *a);
			if (r < 0)
				return r;
		}

	/* Subscribe before asking, so no signal is missed. */
	r = sd_bus_match_signal(bus, &progress_slot, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
				PAGEMELD_MANAGER_INTERFACE, "EstimateProgress", on_estimate_signal, &w);
	if (r >= 0)
		r = sd_bus_match_signal(bus, &finished_slot, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
					PAGEMELD_MANAGER_INTERFACE, "EstimateFinished", on_estimate_signal,
					&w);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_call(bus, &m, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
					   PAGEMELD_MANAGER_INTERFACE, "Estimate");
	if (r >= 0)
		r = sd_bus_message_append_strv(m, paths.paths);
	if (r >= 0)
		r = sd_bus_call(bus, m, 0, error, &reply);
	if (r >= 0)
		r = sd_bus_message_read(reply, "t", &w.job);
	if (r < 0)
		return r;

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	bool tty = isatty(STDERR_FILENO), cancel_sent = false;
	while (!w.finished) {
		if (interrupted && !cancel_sent) {
			cancel_sent = true;
			(void)call(bus, "CancelEstimate", 0, NULL, NULL, "t", w.job);
		}
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		if (tty) {
			char b[FORMAT_BYTES_MAX];
			fprintf(stderr, "\restimating: %s read\033[K",
				format_bytes(b, sizeof(b), w.bytes_read));
		}
		r = sd_bus_wait(bus, USEC_PER_SEC / 5);
		if (r < 0 && r != -EINTR)
			return r;
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	if (w.error && *w.error)
		return sd_bus_error_set(error, CTL_ERROR_FAILED, w.error);

	if (arg.candidates) {
		/* the table lists the candidates; the managed ones were context */
		size_t k = 0;
		for (size_t i = 0; i < w.result.n_groups; i++)
			if (w.result.groups[i].managed)
				free(w.result.groups[i].path);
			else
				w.result.groups[k++] = w.result.groups[i];
		w.result.n_groups = k;
	}
	ctl_estimate_sort(&w.result);
	if (arg.json) {
		_cleanup_(json_object_putp) json_object *o = ctl_estimate_to_json(&w.result);
		return print_json(o);
	}
	ctl_print_estimate(stdout, &w.result);
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
	       "  list [--wide] [--namespace NS]\n"
	       "                              managed cgroups: merged, profit, debt/budget, state,\n"
	       "                              namespace/pod/container (or the container id)\n"
	       "  top [-n N] [--interval S] [--wide] [--namespace NS]\n"
	       "                              list, refreshed in place\n"
	       "  features                    kernel features pagemeldd found\n"
	       "  metrics                     OpenMetrics text (Prometheus, node_exporter textfile)\n"
	       "\n"
	       "Root or the reader group ([Daemon] ReaderGroup=, default pagemeld):\n"
	       "  estimate CGROUP...|--namespace NS|--candidates\n"
	       "                              what merging would save, before it is on;\n"
	       "                              --namespace: every container of pod namespace NS,\n"
	       "                              opted in or not (those not opted in: root only);\n"
	       "                              --candidates: every leaf cgroup with processes\n"
	       "                              that is not managed, ranked by marginal saving\n"
	       "\n"
	       "Commands that change things (root):\n"
	       "  budget CGROUP [--merge Q] [--swap Q]   set budgets (512Mi, 1.5Gi, 1G, max)\n"
	       "  enable CGROUP | disable CGROUP         merge / stop merging and unmerge it\n"
	       "  unmerge-all [--force] [--wait]         unmerge every page (progress with --wait)\n"
	       "  merge-across-nodes [--force] on|off    switch NUMA-crossing merges (unmerges all)\n"
	       "\n"
	       "Options:\n"
	       "  -j, --json          JSON output\n"
	       "      --candidates    estimate: the cgroups not opted in\n"
	       "  -n, --iterations N  top: stop after N refreshes\n"
	       "  -i, --interval S    top: seconds between refreshes (default 2)\n"
	       "      --wide          list, top: the cgroup path too\n"
	       "      --namespace NS  list, top: only the cgroups of pods in namespace NS;\n"
	       "                      estimate: every container of namespace NS\n"
	       "      --merge Q       budget: merge budget\n"
	       "      --swap Q        budget: swap budget (memory.swap.max)\n"
	       "  -f, --force         unmerge-all, merge-across-nodes: even without the memory\n"
	       "                      to absorb the unmerge\n"
	       "  -w, --wait          unmerge-all: wait for UnmergeFinished, with a progress bar\n"
	       "  -h, --help          this text\n"
	       "  -V, --version       pagemeldctl's version\n"
	       "\n"
	       "Exit codes: 0 ok, 1 usage or invalid arguments, 2 daemon or bus unavailable,\n"
	       "3 access denied, 4 not implemented by the daemon, 5 refused (insufficient\n"
	       "headroom, busy), 6 other D-Bus error, 7 no such cgroup, 8 accepted but failed.\n");
}

/* The options, indexed so a verb lists the ones it takes as a bit mask.
 * Options without a short form get a val of 0x100 + their index. */
enum {
	OPT_JSON,
	OPT_CANDIDATES,
	OPT_ITERATIONS,
	OPT_INTERVAL,
	OPT_MERGE,
	OPT_SWAP,
	OPT_FORCE,
	OPT_WAIT,
	OPT_WIDE,
	OPT_NAMESPACE,
	OPT_HELP,
	OPT_VERSION,
	_OPT_MAX,
};
#define LONG_ONLY(i) (0x100 + (i))

static const struct option options[] = {
	[OPT_JSON] = {"json", no_argument, NULL, 'j'},
	[OPT_CANDIDATES] = {"candidates", no_argument, NULL, LONG_ONLY(OPT_CANDIDATES)},
	[OPT_ITERATIONS] = {"iterations", required_argument, NULL, 'n'},
	[OPT_INTERVAL] = {"interval", required_argument, NULL, 'i'},
	[OPT_MERGE] = {"merge", required_argument, NULL, LONG_ONLY(OPT_MERGE)},
	[OPT_SWAP] = {"swap", required_argument, NULL, LONG_ONLY(OPT_SWAP)},
	[OPT_FORCE] = {"force", no_argument, NULL, 'f'},
	[OPT_WAIT] = {"wait", no_argument, NULL, 'w'},
	[OPT_WIDE] = {"wide", no_argument, NULL, LONG_ONLY(OPT_WIDE)},
	[OPT_NAMESPACE] = {"namespace", required_argument, NULL, LONG_ONLY(OPT_NAMESPACE)},
	[OPT_HELP] = {"help", no_argument, NULL, 'h'},
	[OPT_VERSION] = {"version", no_argument, NULL, 'V'},
	[_OPT_MAX] = {},
};

#define BIT(i) (1u << (i))

typedef struct Verb {
	const char *name;
	unsigned min_args, max_args;
	unsigned options;  /* BIT(OPT_*) of the options it takes */
	const char *doing; /* for messages: "pagemeldctl: <doing>: ..." */
	/* Checks the arguments beyond their count, before connecting; may be NULL. */
	int (*check)(char **args, sd_bus_error *error);
	int (*run)(sd_bus *bus, char **args, sd_bus_error *error);
} Verb;

#define READ_OPTIONS BIT(OPT_JSON)
#define LIST_OPTIONS (BIT(OPT_WIDE) | BIT(OPT_NAMESPACE))

static const Verb verbs[] = {
	{"status", 0, 0, READ_OPTIONS, "reading the daemon's state", NULL, verb_status},
	{"list", 0, 0, READ_OPTIONS | LIST_OPTIONS, "listing cgroups", NULL, verb_list},
	{"top", 0, 0, READ_OPTIONS | LIST_OPTIONS | BIT(OPT_ITERATIONS) | BIT(OPT_INTERVAL), "top", NULL,
	 verb_top},
	{"features", 0, 0, READ_OPTIONS, "reading the daemon's state", NULL, verb_features},
	{"metrics", 0, 0, READ_OPTIONS, "reading metrics", NULL, verb_metrics},
	{"budget", 1, 1, BIT(OPT_MERGE) | BIT(OPT_SWAP), "setting the budget", check_budget, verb_budget},
	{"enable", 1, 1, 0, "enabling", NULL, verb_enable},
	{"disable", 1, 1, 0, "disabling", NULL, verb_disable},
	{"unmerge-all", 0, 0, BIT(OPT_FORCE) | BIT(OPT_WAIT), "unmerge-all", NULL, verb_unmerge_all},
	{"merge-across-nodes", 1, 1, BIT(OPT_FORCE), "switching merge_across_nodes", check_merge_across_nodes,
	 verb_merge_across_nodes},
	{"estimate", 0, 1024, READ_OPTIONS | BIT(OPT_CANDIDATES) | BIT(OPT_NAMESPACE), "estimating",
	 check_estimate, verb_estimate},
};

static const Verb *find_verb(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(name, verbs[i].name))
			return &verbs[i];
	return NULL;
}

static int option_index(int c)
{
	for (int i = 0; i < _OPT_MAX; i++)
		if (options[i].val == c)
			return i;
	return -1;
}

/* The one place a failure becomes a message and an exit code. doing: what
 * was being done, NULL before a command was known. */
static CtlExit report(const char *doing, const sd_bus_error *e, int r)
{
	const char *name = sd_bus_error_is_set(e) ? e->name : NULL;
	doing = doing ?: "parsing the command line";
	const char *summary = ctl_error_summary(name, r);
	const char *detail = name ? e->message ?: name : strerror(abs(r));
	CtlExit code = ctl_exit_code(name, r);

	if (streq_ptr(name, CTL_ERROR_USAGE))
		fprintf(stderr, "pagemeldctl: %s\nTry 'pagemeldctl --help'.\n", detail);
	else if (code == CTL_EXIT_UNAVAILABLE && bus_error_classify(name, r) == BUS_ERROR_NOT_RUNNING)
		fprintf(stderr, "pagemeldctl: %s\n", summary);
	else if (code == CTL_EXIT_UNAVAILABLE)
		fprintf(stderr, "pagemeldctl: %s: %s\n", summary, detail);
	else if (code == CTL_EXIT_ACCESS_DENIED)
		fprintf(stderr, "pagemeldctl: %s: %s\n", doing, summary);
	else
		fprintf(stderr, "pagemeldctl: %s: %s: %s\n", doing, summary, detail);
	return code;
}

/* Options and the command line into arg and *ret_verb; 1: done (help,
 * version), 0: run *ret_verb with argv[optind...]. */
static int parse_argv(int argc, char *argv[], const Verb **ret_verb, sd_bus_error *error)
{
	unsigned given = 0;
	char *end;
	int c;

	opterr = 0; /* our own messages, without argv[0]'s full path */
	while ((c = getopt_long(argc, argv, ":jn:i:fwhV", options, NULL)) >= 0) {
		int i = option_index(c);
		if (i >= 0)
			given |= BIT(i);
		switch (i) {
		case OPT_JSON:
			arg.json = true;
			break;
		case OPT_CANDIDATES:
			arg.candidates = true;
			break;
		case OPT_WIDE:
			arg.wide = true;
			break;
		case OPT_NAMESPACE:
			if (!kube_label_name_valid(optarg))
				return usage(error, "--namespace takes a Kubernetes namespace name, not '%s'",
					     optarg);
			arg.namespace = optarg;
			break;
		case OPT_ITERATIONS:
			errno = 0;
			arg.iterations = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || arg.iterations < 1)
				return usage(error, "--iterations takes a positive number, not '%s'", optarg);
			break;
		case OPT_INTERVAL:
			errno = 0;
			arg.interval = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(arg.interval >= 0.05 && arg.interval <= 3600))
				return usage(error,
					     "--interval takes seconds between 0.05 and 3600, not '%s'",
					     optarg);
			break;
		case OPT_MERGE:
			arg.merge = optarg;
			if (parse_budget(optarg, &arg.merge_bytes) < 0)
				return usage(error,
					     "--merge: invalid quantity '%s' (e.g. 512Mi, 1.5Gi, 1G, max)",
					     optarg);
			break;
		case OPT_SWAP:
			arg.swap = optarg;
			if (parse_budget(optarg, &arg.swap_bytes) < 0)
				return usage(error,
					     "--swap: invalid quantity '%s' (e.g. 512Mi, 1.5Gi, 1G, max)",
					     optarg);
			break;
		case OPT_FORCE:
			arg.force = true;
			break;
		case OPT_WAIT:
			arg.wait = true;
			break;
		case OPT_HELP:
			help();
			return 1;
		case OPT_VERSION:
			printf("pagemeldctl %s\n", PAGEMELD_VERSION);
			return 1;
		default:
			if (optopt > 0 && optopt < 0x100)
				return usage(error,
					     c == ':' ? "option '-%c' needs an argument"
						      : "unknown option '-%c'",
					     optopt);
			return usage(error,
				     c == ':' ? "option '%s' needs an argument" : "unknown option '%s'",
				     argv[optind - 1]);
		}
	}

	if (optind >= argc)
		return usage(error, "%s", "missing command");
	const Verb *v = find_verb(argv[optind]);
	if (!v)
		return usage(error, "unknown command '%s'", argv[optind]);
	optind++;
	unsigned n = (unsigned)(argc - optind);
	if (n < v->min_args || n > v->max_args)
		return v->min_args == v->max_args
			       ? usage(error, "%s takes %u argument(s), not %u", v->name, v->max_args, n)
			       : usage(error, "%s takes %u to %u arguments, not %u", v->name, v->min_args,
				       v->max_args, n);
	for (int i = 0; i < _OPT_MAX; i++)
		if (given & ~v->options & BIT(i))
			return usage(error, "--%s is not an option of %s", options[i].name, v->name);
	*ret_verb = v;
	return 0;
}

int main(int argc, char *argv[])
{
	_cleanup_bus_error_ sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_bus_ sd_bus *bus = NULL;
	const Verb *v = NULL;
	int r;

	r = parse_argv(argc, argv, &v, &error);
	if (r > 0)
		return CTL_EXIT_OK;
	if (r >= 0 && v->check)
		r = v->check(argv + optind, &error);
	if (r >= 0) {
		long ps = sysconf(_SC_PAGESIZE);
		page_size = ps > 0 ? (uint64_t)ps : 4096;
		r = sd_bus_open_system(&bus);
	}
	if (r >= 0)
		r = v->run(bus, argv + optind, &error);
	return r < 0 ? report(v ? v->doing : NULL, &error, r) : CTL_EXIT_OK;
}
