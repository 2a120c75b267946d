/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pm-register ID PID: what the OCI hook does, for the qemu guest of
 * kernel-patches/check, which has no python: RegisterContainer(ID,
 * pidfd_open(PID), {merge.pagemeld.io: true}) on the system bus, then print
 * the object path, the Manager's KernelFeatures and the remote-control
 * backend pagemeldd reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bus-contract.h"

int main(int argc, char **argv)
{
	sd_bus *bus = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *path;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s ID PID\n", argv[0]);
		return 2;
	}
	int pidfd = (int)syscall(SYS_pidfd_open, atoi(argv[2]), 0);
	if (pidfd < 0) {
		perror("pidfd_open");
		return 1;
	}
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		fprintf(stderr, "system bus: %s\n", strerror(-r));
		return 1;
	}
	r = sd_bus_call_method(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE, "RegisterContainer", &error, &reply, "sha{ss}",
			       argv[1], pidfd, 1, "merge.pagemeld.io", "true");
	if (r < 0) {
		fprintf(stderr, "RegisterContainer: %s: %s\n", error.name ?: "?", error.message ?: strerror(-r));
		return 1;
	}
	r = sd_bus_message_read(reply, "o", &path);
	if (r < 0)
		return 1;
	printf("registered %s\n", path);
	reply = sd_bus_message_unref(reply);

	r = sd_bus_get_property(bus, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH, PAGEMELD_MANAGER_INTERFACE, "KernelFeatures", &error, &reply, "as");
	if (r < 0) {
		fprintf(stderr, "KernelFeatures: %s\n", error.message ?: strerror(-r));
		return 1;
	}
	r = sd_bus_message_enter_container(reply, 'a', "s");
	if (r < 0)
		return 1;
	printf("KernelFeatures:");
	const char *f;
	while ((r = sd_bus_message_read(reply, "s", &f)) > 0)
		printf(" %s", f);
	printf("\n");
	sd_bus_message_unref(reply);
	sd_bus_unref(bus);
	return 0;
}
