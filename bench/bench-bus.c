/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-bus: latency of pagemeldd's D-Bus calls as a dashboard sees them, from
 * a client on the same bus (sd-bus, synchronous calls, one at a time).
 *
 *   bench-bus ADDRESS getall|list|sweep N
 *
 * Prints one line: "<what> n=N calls/s=X p50_us=X p99_us=X max_us=X [bytes=X]"
 * and, for sweep, the daemon's LastSweepCPUUSec median/max over the N sweeps.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "bus-contract.h"

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static int one_call(sd_bus *bus, const char *what, size_t *ret_items)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int r;

	if (strcmp(what, "getall") == 0)
		r = sd_bus_call_method(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
				       "org.freedesktop.DBus.Properties", "GetAll", &error, &reply, "s",
				       PAGEMELD_MANAGER_INTERFACE);
	else if (strcmp(what, "list") == 0)
		r = sd_bus_call_method(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
				       PAGEMELD_MANAGER_INTERFACE, "ListCgroups", &error, &reply, NULL);
	else
		r = sd_bus_call_method(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
				       PAGEMELD_MANAGER_INTERFACE, "Sweep", &error, &reply, NULL);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", what, error.message ?: strerror(-r));
		sd_bus_error_free(&error);
		return r;
	}
	if (ret_items && strcmp(what, "list") == 0) {
		/* decode it fully, as a dashboard would */
		size_t n = 0;
		const char *o, *p, *s, *ns, *pod, *uid;
		uint64_t a, b, c, d, e;
		int64_t x;
		r = sd_bus_message_enter_container(reply, 'a', "(ostttxttssss)");
		while (r >= 0 && (r = sd_bus_message_read(reply, "(ostttxttssss)", &o, &p, &a, &b, &c, &x, &d,
							  &e, &s, &ns, &pod, &uid)) > 0)
			n++;
		*ret_items = n;
	}
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

static int get_u64(sd_bus *bus, const char *prop, uint64_t *ret)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r = sd_bus_get_property_trivial(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
					    PAGEMELD_MANAGER_INTERFACE, prop, &error, 't', ret);
	sd_bus_error_free(&error);
	return r;
}

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: bench-bus ADDRESS getall|list|sweep N\n");
		return 2;
	}
	const char *what = argv[2];
	size_t n = strtoul(argv[3], NULL, 10);
	if (n == 0)
		return 2;
	if ((r = sd_bus_new(&bus)) < 0 || (r = sd_bus_set_address(bus, argv[1])) < 0 ||
	    (r = sd_bus_set_bus_client(bus, 1)) < 0 || (r = sd_bus_start(bus)) < 0) {
		fprintf(stderr, "connect: %s\n", strerror(-r));
		return 1;
	}
	uint64_t *lat = calloc(n, sizeof(uint64_t)), *cpu = calloc(n, sizeof(uint64_t));
	size_t items = 0;
	/* warm-up */
	if (one_call(bus, what, &items) < 0)
		return 1;
	uint64_t t0 = now_us();
	for (size_t i = 0; i < n; i++) {
		uint64_t s = now_us();
		if (one_call(bus, what, &items) < 0)
			return 1;
		lat[i] = now_us() - s;
		if (strcmp(what, "sweep") == 0 && get_u64(bus, "LastSweepCPUUSec", &cpu[i]) < 0)
			return 1;
	}
	uint64_t total = now_us() - t0;
	qsort(lat, n, sizeof(uint64_t), cmp_u64);
	printf("%s n=%zu calls/s=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64, what, n,
	       (double)n * 1e6 / (double)total, pct(lat, n, 0.5), pct(lat, n, 0.99), lat[n - 1]);
	if (strcmp(what, "list") == 0)
		printf(" items=%zu", items);
	if (strcmp(what, "sweep") == 0) {
		qsort(cpu, n, sizeof(uint64_t), cmp_u64);
		printf(" sweep_cpu_p50_us=%" PRIu64 " sweep_cpu_max_us=%" PRIu64, pct(cpu, n, 0.5),
		       cpu[n - 1]);
	}
	printf("\n");
	free(lat);
	free(cpu);
	sd_bus_flush_close_unref(bus);
	return 0;
}
