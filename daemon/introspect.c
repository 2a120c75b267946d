/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "introspect.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <systemd/sd-id128.h>

#include "cgroup-bus.h"
#include "log.h"
#include "macro.h"
#include "manager-bus.h"
#include "registry.h"

typedef struct Server {
	sd_bus *bus;
	atomic_bool stop;
} Server;

static void *serve(void *p)
{
	Server *s = p;
	while (!atomic_load(&s->stop)) {
		int r = sd_bus_process(s->bus, NULL);
		if (r < 0)
			break;
		if (r == 0)
			(void)sd_bus_wait(s->bus, 100 * 1000);
	}
	return NULL;
}

/* Print the <interface name="io.pagemeld1.*"> elements of an introspection. */
static void print_ours(FILE *out, const char *xml)
{
	const char *p = xml;
	while ((p = strstr(p, "<interface name=\"io.pagemeld1."))) {
		const char *e = strstr(p, "</interface>");
		if (!e)
			break;
		e += STRLEN("</interface>");
		fprintf(out, " %.*s\n", (int)(e - p), p);
		p = e;
	}
}

static int introspect_path(sd_bus *client, const char *path, char **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	const char *xml;
	int r = sd_bus_call_method(client, NULL, path, "org.freedesktop.DBus.Introspectable", "Introspect",
				   &error, &reply, NULL);
	if (r < 0) {
		log_error("Introspecting %s failed: %s", path, error.message ?: strerror(-r));
		sd_bus_error_free(&error);
		return r;
	}
	r = sd_bus_message_read(reply, "s", &xml);
	if (r < 0)
		return r;
	*ret = strdup(xml);
	return *ret ? 0 : -ENOMEM;
}

int introspect_print(FILE *out)
{
	_cleanup_(manager_freep) Manager *m = NULL;
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *client = NULL;
	_cleanup_free_ char *mxml = NULL, *cxml = NULL;
	Server server = {};
	CgroupState *cg;
	sd_id128_t id;
	int pair[2], r;
	pthread_t thread;

	r = manager_new(&m);
	if (r < 0)
		return r;
	/* One example cgroup so its object exists. */
	r = registry_add_cgroup(m, "/example", PAGEMELD_CGROUP_PREFIX, &cg);
	if (r < 0)
		return r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	if ((r = sd_bus_new(&m->bus)) < 0 || (r = sd_bus_set_fd(m->bus, pair[0], pair[0])) < 0 ||
	    (r = sd_id128_randomize(&id)) < 0 || (r = sd_bus_set_server(m->bus, 1, id)) < 0 ||
	    (r = sd_bus_set_anonymous(m->bus, true)) < 0 || (r = manager_bus_add(m)) < 0 ||
	    (r = cgroup_bus_add(m)) < 0 || (r = sd_bus_start(m->bus)) < 0)
		return log_error_errno(r, "Cannot set up the introspection server: %m");
	if ((r = sd_bus_new(&client)) < 0 || (r = sd_bus_set_fd(client, pair[1], pair[1])) < 0 ||
	    (r = sd_bus_set_anonymous(client, true)) < 0)
		return log_error_errno(r, "Cannot set up the introspection client: %m");

	server.bus = m->bus;
	r = -pthread_create(&thread, NULL, serve, &server);
	if (r < 0)
		return log_error_errno(r, "Cannot start the introspection thread: %m");
	r = sd_bus_start(client);
	if (r >= 0)
		r = introspect_path(client, PAGEMELD_MANAGER_PATH, &mxml);
	if (r >= 0)
		r = introspect_path(client, cg->object_path, &cxml);
	atomic_store(&server.stop, true);
	pthread_join(thread, NULL);
	if (r < 0)
		return log_error_errno(r, "Introspection failed: %m");

	fputs("<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
	      " \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node>\n",
	      out);
	print_ours(out, mxml);
	print_ours(out, cxml);
	fputs("</node>\n", out);
	return 0;
}
