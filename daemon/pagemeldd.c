/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemeldd: lets containers use KSM safely. See DESIGN.md and pagemeldd(8).
 *
 *   pagemeldd [--config FILE] [--state-dir DIR] [--no-seccomp]
 *   pagemeldd --bus-introspect      print the D-Bus interfaces (XML)
 *   pagemeldd --seccomp-test        confine, then prove a syscall is refused
 *   pagemeldd --check-config        parse the configuration and exit
 */
#include <getopt.h>
#include <stdio.h>

#include "introspect.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "registration-marker.h"
#include "seccomp-util.h"

static void help(void)
{
	printf("pagemeldd " PAGEMELD_VERSION " - KSM for containers, on the D-Bus system bus\n\n"
	       "  -c --config FILE     configuration (default " CONFIG_PATH_DEFAULT ")\n"
	       "     --state-dir DIR   registrations (default " PAGEMELD_STATE_DIR_DEFAULT
	       ", or $PAGEMELD_STATE_DIR)\n"
	       "     --no-seccomp      do not confine the daemon (debugging only)\n"
	       "     --check-config    parse the configuration, report, exit\n"
	       "     --bus-introspect  print the io.pagemeld1 interfaces as XML\n"
	       "     --seccomp-test    install the filter and check it refuses what it must\n"
	       "     --version\n"
	       "  -h --help\n");
}

int main(int argc, char **argv)
{
	enum {
		ARG_STATE_DIR = 0x100,
		ARG_NO_SECCOMP,
		ARG_CHECK,
		ARG_INTROSPECT,
		ARG_SECCOMP_TEST,
		ARG_VERSION
	};
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"state-dir", required_argument, NULL, ARG_STATE_DIR},
		{"no-seccomp", no_argument, NULL, ARG_NO_SECCOMP},
		{"check-config", no_argument, NULL, ARG_CHECK},
		{"bus-introspect", no_argument, NULL, ARG_INTROSPECT},
		{"seccomp-test", no_argument, NULL, ARG_SECCOMP_TEST},
		{"version", no_argument, NULL, ARG_VERSION},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_(manager_freep) Manager *m = NULL;
	bool check = false;
	int c, r;

	log_set_prefix(true);
	r = manager_new(&m);
	if (r < 0)
		return log_error_errno(r, "Out of memory"), 1;

	while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
		switch (c) {
		case 'c':
			free(m->config_path);
			m->config_path = strdup(optarg);
			break;
		case ARG_STATE_DIR:
			free(m->state_dir);
			m->state_dir = strdup(optarg);
			break;
		case ARG_NO_SECCOMP:
			m->seccomp = false;
			break;
		case ARG_CHECK:
			check = true;
			break;
		case ARG_INTROSPECT:
			return introspect_print(stdout) < 0 ? 1 : 0;
		case ARG_SECCOMP_TEST:
			r = seccomp_confine();
			if (r < 0)
				return log_error_errno(r, "Cannot install the seccomp filter: %m"), 1;
			return seccomp_selftest() < 0 ? 1 : 0;
		case ARG_VERSION:
			puts("pagemeldd " PAGEMELD_VERSION);
			return 0;
		case 'h':
			help();
			return 0;
		default:
			return 2;
		}
	if (optind < argc) {
		log_error("Unexpected argument %s", argv[optind]);
		return 2;
	}

	r = manager_load_config(m);
	if (r < 0)
		return 1;
	if (check) {
		printf("%s: ok\n", m->config_path ?: CONFIG_PATH_DEFAULT);
		return 0;
	}
	r = manager_startup(m);
	if (r < 0)
		return 1;
	r = manager_run(m);
	return r < 0 ? 1 : 0;
}
