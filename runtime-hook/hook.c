/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pagemeld-oci-hook: the OCI runtime hook that hands opted-in containers to
 * pagemeldd.
 *
 *   pagemeld-oci-hook [--config FILE] [--fail-mode open|closed]
 *                     [--timeout-ms N] create|stop   < OCI state
 *
 * create (createRuntime stage): read the state, decide from the annotations
 *   (decide.h), open a pidfd for the container init and call
 *   io.pagemeld1.Manager.RegisterContainer(id, pidfd, annotations).
 * stop (poststop stage): call UnregisterContainer(id).
 *
 * Exit codes (README.md and pagemeld-oci-hook(1) list the same):
 *   0  done: registered, unregistered, nothing to do (not opted in, opted
 *      out, the pod sandbox), or a failure that fail-mode=open tolerates
 *   1  internal error (out of memory...)
 *   2  usage or configuration error (bad arguments, bad pagemeld.conf)
 *   3  invalid input: the OCI state is unreadable, not JSON, over 1 MiB,
 *      has no id, has no pid at create; the bundle's config.json is
 *      unreadable, over 8 MiB, not a regular file or not JSON; or a
 *      merge.pagemeld.io annotation has a value other than "true"/"false";
 *      or a pagemeld.io or identity annotation is over pagemeldd's size
 *      limits
 *   4  the container's process (the state's pid) does not exist
 *   5  pagemeldd unreachable: no bus, daemon not running, timeout, time limit
 *      reached
 *   6  pagemeldd refused the container (io.pagemeld1.Error.*, access
 *      denied)
 * Every failure but the pod's own invalid annotation is pagemeld's or the
 * node's, and fail-mode decides: under fail-mode=closed the code above,
 * under open 0 (the container runs unmerged). A merge.pagemeld.io key with
 * an invalid value, or a forwarded annotation over pagemeldd's sizes, exits
 * 3 whatever fail-mode says, as the pod's own mistake must show on the pod. A configuration the hook cannot read is judged by
 * --fail-mode, else by the file's own valid FailMode= line, else open.
 *
 * It never blocks the runtime: it forks nothing, reads at most 1 MiB of
 * state and 8 MiB of config.json (a regular file, opened O_NONBLOCK), and a
 * timer bounds its whole run to timeout-ms plus HOOK_SLACK_MS. Every reason
 * goes to stderr and to the journal (syslog identifier pagemeld-oci-hook;
 * plain syslog where there is no journald).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include <sys/stat.h>

#include "bus-contract.h"
#include "decide.h"
#include "fileio.h"
#include "hook-config.h"
#include "hook-socket.h"
#include "macro.h"
#include "oci-state.h"
#include "registration-marker.h"
#include "remote.h"
#include "sd-dlopen.h"

#define HOOK_IDENT "pagemeld-oci-hook"
#define HOOK_SLACK_MS 1000 /* reading the state and connecting, on top of the call timeout */

enum {
	EXIT_DONE = 0,
	EXIT_INTERNAL = 1,
	EXIT_USAGE = 2,
	EXIT_BAD_INPUT = 3,
	EXIT_NO_PROCESS = 4,
	EXIT_UNREACHABLE = 5,
	EXIT_REFUSED = 6,
};

static const char *arg_config = HOOK_CONFIG_PATH;
static bool arg_config_explicit;
static const char *arg_fail_mode, *arg_timeout_ms;
static const char *container_id; /* for the log lines, once known */
static HookConfig config;

/* ---- reporting: stderr and the journal (or syslog) ---- */

static void report(int level, const char *fmt, ...) _printf_(2, 3);
static void report(int level, const char *fmt, ...)
{
	char msg[1024], line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (container_id)
		snprintf(line, sizeof(line), "container %s: %s", container_id, msg);
	else
		snprintf(line, sizeof(line), "%s", msg);

	/* stderr only for what the runtime's user should see. */
	if (level <= LOG_WARNING)
		fprintf(stderr, HOOK_IDENT ": %s\n", line);
	/* The journal through libsystemd, loaded for this when nothing loaded
	 * it yet only for what matters (notice and up): info lines come after
	 * a D-Bus call, which loaded it. Without the library, or without
	 * journald, plain syslog (journald's /dev/log where it runs; silently
	 * nothing without /dev/log). */
	bool journal = level <= LOG_NOTICE ? dlopen_libsystemd(NULL) >= 0 : sym_sd_journal_send != NULL;
	if (!journal ||
	    sym_sd_journal_send("MESSAGE=%s", line, "PRIORITY=%i", level, "SYSLOG_IDENTIFIER=" HOOK_IDENT,
				"CONTAINER_ID=%s", container_id ?: "", NULL) < 0) {
		openlog(HOOK_IDENT, LOG_PID, LOG_DAEMON);
		syslog(level, "%s", line);
		closelog();
	}
}

/* A failure of pagemeld itself: fail-mode decides whether it stops the
 * container. */
static int fail(int code, const char *what)
{
	if (config.fail_mode == HOOK_FAIL_CLOSED) {
		report(LOG_ERR, "%s; fail-mode=closed: refusing the container", what);
		return code;
	}
	report(LOG_WARNING, "%s; the container runs unmerged (fail-mode=open)", what);
	return EXIT_DONE;
}

/* ---- the time limit ---- */

static volatile sig_atomic_t deadline_hit;
static volatile sig_atomic_t backstop_code;

static void arm_timer(uint64_t ms)
{
	struct itimerval it = {
		.it_value = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (long)(ms % 1000) * 1000}};
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

static void on_alarm(int sig)
{
	static const char msg[] = HOOK_IDENT ": time limit reached, giving up\n";
	if (!deadline_hit) {
		/* First the soft limit: blocking calls return EINTR and the
		 * normal path reports it. Should that not happen soon, stop. */
		deadline_hit = 1;
		arm_timer(HOOK_SLACK_MS / 2);
		return;
	}
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(backstop_code);
}

static void setup_time_limit(void)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: EINTR wanted */
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGALRM, &sa, NULL);
	backstop_code = config.fail_mode == HOOK_FAIL_CLOSED ? EXIT_UNREACHABLE : EXIT_DONE;
	arm_timer(config.timeout_ms + HOOK_SLACK_MS);
}

/* ---- the daemon ---- */

static const char *bus_address(void)
{
	const char *a = getenv("DBUS_SYSTEM_BUS_ADDRESS");
	return a && a[0] ? a : "unix:path=/run/dbus/system_bus_socket";
}

static int bus_connect(sd_bus **ret, char *why, size_t why_size)
{
	_cleanup_(sym_sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	const char *dl_error;
	int r;

	/* Not there: like a bus that is down (fail-mode decides). */
	if (dlopen_libsystemd(&dl_error) < 0) {
		snprintf(why, why_size, "%s", dl_error);
		return -ENOTCONN;
	}

	r = sym_sd_bus_new(&bus);
	if (r < 0)
		goto unreachable;
	(void)sym_sd_bus_set_description(bus, HOOK_IDENT);
	r = sym_sd_bus_set_address(bus, bus_address());
	if (r < 0)
		goto unreachable;
	(void)sym_sd_bus_set_bus_client(bus, 1);
	(void)sym_sd_bus_negotiate_fds(bus, 1);
	/* Covers the Hello too, which sd_bus_call waits for. */
	(void)sym_sd_bus_set_method_call_timeout(bus, config.timeout_ms * 1000);
	r = sym_sd_bus_start(bus);
	if (r < 0)
		goto unreachable;
	*ret = TAKE_PTR(bus);
	return 0;

unreachable:
	snprintf(why, why_size, "system bus %s not reachable: %s", bus_address(), strerror(-r));
	return -ENOTCONN;
}

/* Exit status for pagemeldd refusing the container with D-Bus error name:
 * an InvalidAnnotation is the pod's own annotation (a budget that is no
 * quantity, a domain that is no name), not a failure of pagemeld. */
static int refused_code(const char *name)
{
	return streq_ptr(name, PM_ERROR_INVALID_ANNOTATION) ? EXIT_BAD_INPUT : EXIT_REFUSED;
}

/* What a registration that pagemeldd did not accept ends with: the pod's
 * own invalid annotation (EXIT_BAD_INPUT) stops the container whatever the
 * fail mode, so that the mistake shows on the pod; fail-mode decides the
 * rest. */
static int registration_failed(int code, const char *why)
{
	if (code == EXIT_BAD_INPUT) {
		report(LOG_ERR, "%s", why);
		return code;
	}
	return fail(code, why);
}

/* Call method; on failure return EXIT_UNREACHABLE, EXIT_BAD_INPUT or EXIT_REFUSED with a
 * sentence in why. *error keeps the D-Bus error for the caller. */
static int call_daemon(sd_bus_message *m, sd_bus *bus, sd_bus_message **reply, sd_bus_error *error, char *why,
		       size_t why_size)
{
	int r = sym_sd_bus_call(bus, m, config.timeout_ms * 1000, error, reply);
	if (r >= 0)
		return EXIT_DONE;

	const char *name = sym_sd_bus_error_is_set(error) ? error->name : NULL;
	switch (deadline_hit ? BUS_ERROR_TIMEOUT : bus_error_classify(name, r)) {
	case BUS_ERROR_TIMEOUT:
		snprintf(why, why_size, "pagemeldd did not answer within %llu ms",
			 (unsigned long long)config.timeout_ms);
		return EXIT_UNREACHABLE;
	case BUS_ERROR_NOT_RUNNING:
		snprintf(why, why_size, "pagemeldd is not running (no owner of %s on %s)", PAGEMELD_BUS_NAME,
			 bus_address());
		return EXIT_UNREACHABLE;
	case BUS_ERROR_UNREACHABLE:
		snprintf(why, why_size, "pagemeldd unreachable: %s",
			 name ? error->message ?: name : strerror(-r));
		return EXIT_UNREACHABLE;
	default:
		if (name)
			snprintf(why, why_size, "pagemeldd refused: %s: %s", name, error->message ?: "");
		else
			snprintf(why, why_size, "calling pagemeldd failed: %s", strerror(-r));
		return refused_code(name);
	}
}

/* The daemon's own socket (hook-socket.h): one round trip, no libsystemd.
 * Returns an exit code, or -ENOENT when there is no socket to try (D-Bus
 * then). */
static int register_via_socket(const OciState *s, char **ann, int pidfd, char *why, size_t why_size)
{
	static char buf[HOOK_WIRE_MAX];
	HookReply reply;
	int r = hook_socket_register(pagemeld_state_dir(), s->id, ann, pidfd, config.timeout_ms, buf, &reply);
	if (r == -ENOENT || r == -ECONNREFUSED || r == -ENOTDIR)
		return -ENOENT;
	if (r == -ETIMEDOUT || r == -EINTR || deadline_hit) {
		snprintf(why, why_size, "pagemeldd did not answer within %llu ms",
			 (unsigned long long)config.timeout_ms);
		return EXIT_UNREACHABLE;
	}
	if (r == -EMSGSIZE || r == -EINVAL) {
		snprintf(why, why_size, "the annotations do not fit a request to pagemeldd: %s",
			 strerror(-r));
		return EXIT_REFUSED;
	}
	if (r < 0) {
		snprintf(why, why_size, "pagemeldd's hook socket failed: %s", strerror(-r));
		return EXIT_UNREACHABLE;
	}
	if (!reply.ok) {
		snprintf(why, why_size, "pagemeldd refused: %s: %s", reply.error_name, reply.message);
		return refused_code(reply.error_name);
	}
	return EXIT_DONE;
}

static int do_register(const OciState *s, const HookDecision *d)
{
	_cleanup_(sym_sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sym_sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(sym_sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_strv_free_ char **ann = NULL;
	_cleanup_close_ int pidfd = -EBADF;
	char why[768];
	const char *path;
	int r;

	if (s->pid <= 0)
		return fail(EXIT_BAD_INPUT,
			    "the OCI state has no pid; createRuntime needs the container's process");
	r = remote_pidfd_open(s->pid, &pidfd);
	if (r == -ESRCH) {
		snprintf(why, sizeof(why), "process %d of the OCI state does not exist", (int)s->pid);
		return fail(EXIT_NO_PROCESS, why);
	}
	if (r < 0) {
		snprintf(why, sizeof(why), "pidfd_open(%d) failed: %s", (int)s->pid, strerror(-r));
		return fail(EXIT_INTERNAL, why);
	}

	r = hook_daemon_annotations(s->annotations, d, &ann);
	if (r < 0)
		return fail(EXIT_INTERNAL, "out of memory");
	/* The container's own annotation, as an invalid merge.pagemeld.io value is. */
	HookError size_err;
	if (hook_check_annotation_sizes(ann, &size_err) < 0) {
		report(LOG_ERR, "%s", size_err.msg);
		return EXIT_BAD_INPUT;
	}

	/* Success is silent here: pagemeldd logs the registration. */
	r = register_via_socket(s, ann, pidfd, why, sizeof(why));
	if (r == EXIT_DONE)
		return EXIT_DONE;
	if (r != -ENOENT)
		return registration_failed(r, why);

	if (bus_connect(&bus, why, sizeof(why)) < 0)
		return fail(EXIT_UNREACHABLE, why);

	r = sym_sd_bus_message_new_method_call(bus, &m, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
					       PAGEMELD_MANAGER_INTERFACE, "RegisterContainer");
	if (r >= 0)
		r = sym_sd_bus_message_append(m, "sh", s->id, pidfd);
	if (r >= 0)
		r = sym_sd_bus_message_open_container(m, 'a', "{ss}");
	for (char **i = ann; r >= 0 && i[0]; i += 2)
		r = sym_sd_bus_message_append(m, "{ss}", i[0], i[1]);
	if (r >= 0)
		r = sym_sd_bus_message_close_container(m);
	if (r < 0) {
		snprintf(why, sizeof(why), "building the D-Bus call failed: %s", strerror(-r));
		return fail(EXIT_INTERNAL, why);
	}

	r = call_daemon(m, bus, &reply, &error, why, sizeof(why));
	if (r != EXIT_DONE)
		return registration_failed(r, why);

	if (sym_sd_bus_message_read(reply, "o", &path) < 0)
		path = "?";
	report(LOG_INFO, "registered with pagemeldd as %s (%s by %s)", path,
	       hook_verdict_to_string(d->verdict), d->decided_by);
	return EXIT_DONE;
}

/* lib/registration-marker.h: pagemeldd keeps <state dir>/containers/<id>
 * while it has the container registered and unregisters it by itself when
 * its init exits, usually before poststop. True only when the directory is
 * there and the marker is not; anything else (no directory: an older or
 * absent pagemeldd, an unreadable one) means ask pagemeldd. */
static bool surely_not_registered(const char *id)
{
	const char *state_dir = pagemeld_state_dir();
	_cleanup_free_ char *dir = registration_marker_dir(state_dir);
	_cleanup_free_ char *marker = registration_marker_path(state_dir, id);
	struct stat st;

	if (!dir || !marker)
		return false;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	return lstat(marker, &st) < 0 && errno == ENOENT;
}

static int do_unregister(const OciState *s)
{
	_cleanup_(sym_sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sym_sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(sym_sd_bus_error_freep) sd_bus_error error = SD_BUS_ERROR_NULL;
	char why[768];
	int r;

	/* Silent, without libsystemd or the bus: the common case. */
	if (surely_not_registered(s->id))
		return EXIT_DONE;

	if (bus_connect(&bus, why, sizeof(why)) < 0)
		return fail(EXIT_UNREACHABLE, why);
	r = sym_sd_bus_message_new_method_call(bus, &m, PAGEMELD_BUS_NAME, PAGEMELD_MANAGER_PATH,
					       PAGEMELD_MANAGER_INTERFACE, "UnregisterContainer");
	if (r >= 0)
		r = sym_sd_bus_message_append(m, "s", s->id);
	if (r < 0) {
		snprintf(why, sizeof(why), "building the D-Bus call failed: %s", strerror(-r));
		return fail(EXIT_INTERNAL, why);
	}
	r = call_daemon(m, bus, &reply, &error, why, sizeof(why));
	if (r == EXIT_REFUSED && sym_sd_bus_error_has_name(&error, PM_ERROR_NO_SUCH_CONTAINER)) {
		/* Its registration failed open, or pagemeldd restarted. */
		report(LOG_INFO, "not registered with pagemeldd (%s), nothing to do", error.name);
		return EXIT_DONE;
	}
	if (r != EXIT_DONE)
		return fail(r, why);
	report(LOG_INFO, "unregistered from pagemeldd");
	return EXIT_DONE;
}

/* ---- podman: the container's name from its conmon ---- */

/* podman (4.3 at least) writes no Kubernetes name annotation, not even for
 * `podman kube play`, so a per-container override could never apply. The
 * name it gives the container ("<pod>-<container>" under kube play) is on
 * the command line of the container's conmon, an ancestor of this hook
 * (conmon -> runc create -> hook). It is believed only when that conmon's
 * -c/--cid is the state's id. */
static int conmon_container_name(const char *id, char **ret)
{
	pid_t p = getppid();

	for (int depth = 0; depth < 4 && p > 1; depth++) {
		_cleanup_free_ char *comm = NULL, *path = NULL, *cmdline = NULL, *stat = NULL;
		size_t size;

		path = strdup_printf("/proc/%d/comm", (int)p);
		if (!path)
			return -ENOMEM;
		if (read_one_line(path, &comm) < 0)
			return -ESRCH;
		if (streq(comm, "conmon")) {
			const char *cid = NULL, *name = NULL;
			free(path);
			path = strdup_printf("/proc/%d/cmdline", (int)p);
			if (!path)
				return -ENOMEM;
			if (read_full_file(path, 256 * 1024, &cmdline, &size) < 0)
				return -ESRCH;
			for (size_t i = 0; i < size; i += strlen(cmdline + i) + 1) {
				const char *a = cmdline + i,
					   *next = i + strlen(a) + 1 < size ? a + strlen(a) + 1 : NULL;
				if ((streq(a, "-c") || streq(a, "--cid")) && next)
					cid = next;
				else if ((streq(a, "-n") || streq(a, "--name")) && next)
					name = next;
				else if (startswith(a, "--cid="))
					cid = a + STRLEN("--cid=");
				else if (startswith(a, "--name="))
					name = a + STRLEN("--name=");
			}
			if (!cid || !name || !streq(cid, id))
				return -ESRCH;
			char *n = strdup(name);
			if (!n)
				return -ENOMEM;
			*ret = n;
			return 0;
		}
		/* Up one: the ppid is the field after the parenthesised comm. */
		free(path);
		path = strdup_printf("/proc/%d/stat", (int)p);
		if (!path)
			return -ENOMEM;
		if (read_one_line(path, &stat) < 0)
			return -ESRCH;
		const char *rp = strrchr(stat, ')');
		int ppid;
		if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1)
			return -ESRCH;
		p = ppid;
	}
	return -ESRCH;
}

static int decide(const OciState *s, HookDecision *ret, HookError *err)
{
	_cleanup_free_ char *runtime_name = NULL;
	int r;

	r = hook_decide(s->annotations, NULL, ret, err);
	if (r < 0 || ret->container_name || !annotations_have_container_override(s->annotations) ||
	    !streq_ptr(annotations_get(s->annotations, "io.container.manager"), "libpod"))
		return r;

	if (conmon_container_name(s->id, &runtime_name) < 0) {
		report(LOG_NOTICE, "podman container without a name annotation and no conmon naming it: "
				   "per-container merge.pagemeld.io keys cannot apply");
		return r;
	}
	hook_decision_done(ret);
	return hook_decide(s->annotations, runtime_name, ret, err);
}

/* ---- main ---- */

static void help(void)
{
	printf("%s [OPTIONS] create|stop < OCI-STATE\n\n"
	       "OCI runtime hook of pagemeld: hands opted-in containers to pagemeldd.\n\n"
	       "  -h --help              show this help\n"
	       "     --version           show the version\n"
	       "     --config FILE       read FILE instead of " HOOK_CONFIG_PATH "\n"
	       "     --fail-mode MODE    open|closed, overrides the configuration\n"
	       "     --timeout-ms N      D-Bus call timeout, overrides the configuration\n\n"
	       "Exit codes: 0 done or tolerated, 1 internal, 2 usage/config, 3 invalid input,\n"
	       "4 no such process, 5 pagemeldd unreachable, 6 refused; all but an invalid\n"
	       "merge.pagemeld.io value (3) only with fail-mode=closed.\n",
	       program_invocation_short_name);
}

static int parse_argv(int argc, char **argv, bool *ret_create, char *why, size_t why_size)
{
	enum {
		ARG_VERSION = 0x100,
		ARG_CONFIG,
		ARG_FAIL_MODE,
		ARG_TIMEOUT
	};
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, ARG_VERSION},
		{"config", required_argument, NULL, ARG_CONFIG},
		{"fail-mode", required_argument, NULL, ARG_FAIL_MODE},
		{"timeout-ms", required_argument, NULL, ARG_TIMEOUT},
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("%s %s\n", HOOK_IDENT, PAGEMELD_VERSION);
			return 0;
		case ARG_CONFIG:
			arg_config = optarg;
			arg_config_explicit = true;
			break;
		case ARG_FAIL_MODE:
			arg_fail_mode = optarg;
			break;
		case ARG_TIMEOUT:
			arg_timeout_ms = optarg;
			break;
		default:
			snprintf(why, why_size, "invalid option (see --help)");
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		snprintf(why, why_size, "expected one argument, create or stop (see --help)");
		return -EINVAL;
	}
	/* The stage names are accepted too, for hand-written configurations. */
	const char *verb = argv[optind];
	if (streq(verb, "create") || streq(verb, "createRuntime"))
		*ret_create = true;
	else if (streq(verb, "stop") || streq(verb, "poststop"))
		*ret_create = false;
	else {
		snprintf(why, why_size, "unknown command \"%s\": expected create or stop", verb);
		return -EINVAL;
	}
	return 1;
}

/* On failure, why says what is wrong and config.fail_mode is still the best
 * guess (--fail-mode, else the file's own FailMode=, else open): fail-mode
 * governs a configuration error too. */
static int load_config(char *why, size_t why_size)
{
	HookError err = {};
	HookConfig loaded;
	bool mode_given = false;
	int r, ret = 0;

	hook_config_init(&config);
	if (arg_fail_mode) {
		if (hook_fail_mode_from_string(arg_fail_mode, &config.fail_mode) >= 0)
			mode_given = true;
		else {
			snprintf(why, why_size, "--fail-mode=%s: want open or closed", arg_fail_mode);
			ret = -EINVAL;
		}
	}

	hook_config_init(&loaded);
	r = hook_config_load(arg_config, arg_config_explicit, &loaded, &err);
	if (r >= 0) {
		config.timeout_ms = loaded.timeout_ms;
		if (!mode_given)
			config.fail_mode = loaded.fail_mode;
	} else if (r != -ENOENT || arg_config_explicit) {
		if (!mode_given)
			(void)hook_config_salvage_fail_mode(arg_config, &config.fail_mode);
		if (ret == 0)
			snprintf(why, why_size, "configuration: %s", err.msg);
		ret = r;
	}
	if (ret < 0)
		return ret;

	if (arg_timeout_ms && hook_timeout_ms_from_string(arg_timeout_ms, &config.timeout_ms) < 0) {
		snprintf(why, why_size, "--timeout-ms=%s: want milliseconds, 1..%d", arg_timeout_ms,
			 HOOK_TIMEOUT_MS_MAX);
		return -EINVAL;
	}
	return 0;
}

static int run(bool create)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_oci_state_ OciState *s = NULL;
	_cleanup_(hook_decision_done) HookDecision d = {};
	HookError err = {};
	char why[768];
	size_t size;
	int r;

	/* Until the verdict is known, a failure is not the pod's: fail-mode. */
	r = oci_read_bounded(STDIN_FILENO, OCI_STATE_MAX_BYTES, &buf, &size);
	if (r == -EFBIG) {
		snprintf(why, sizeof(why), "the OCI state on stdin is larger than %d bytes",
			 OCI_STATE_MAX_BYTES);
		return fail(EXIT_BAD_INPUT, why);
	}
	if (r == -EINTR && deadline_hit)
		return fail(EXIT_UNREACHABLE, "time limit reached while reading the OCI state on stdin");
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot read the OCI state on stdin: %s", strerror(-r));
		return fail(EXIT_BAD_INPUT, why);
	}

	r = oci_state_parse(buf, size, &s, &err);
	if (r == -ENOMEM)
		return fail(EXIT_INTERNAL, "out of memory");
	if (r < 0)
		return fail(EXIT_BAD_INPUT, err.msg);
	container_id = s->id;

	r = oci_state_load_bundle_annotations(s, &err);
	if (r == -ENOMEM)
		return fail(EXIT_INTERNAL, "out of memory");
	if (r < 0)
		return fail(EXIT_BAD_INPUT, err.msg);

	r = decide(s, &d, &err);
	if (r == -ENOMEM)
		return fail(EXIT_INTERNAL, "out of memory");
	if (r < 0) {
		/* The pod's own merge.pagemeld.io value: its mistake, shown
		 * on it whatever fail-mode says. */
		report(LOG_ERR, "%s", err.msg);
		return EXIT_BAD_INPUT;
	}
	/* Silent: under containerd the hook runs for every container. */
	if (d.verdict != HOOK_VERDICT_MERGE)
		return EXIT_DONE;

	return create ? do_register(s, &d) : do_unregister(s);
}

int main(int argc, char **argv)
{
	bool create = true;
	char why[768];
	int r;

	/* A runtime that closed our stderr must not kill us with SIGPIPE. */
	(void)signal(SIGPIPE, SIG_IGN);

	r = parse_argv(argc, argv, &create, why, sizeof(why));
	if (r == 0)
		return EXIT_DONE;
	if (r < 0) {
		/* The configuration only for its fail-mode. */
		char ignored[768];
		(void)load_config(ignored, sizeof(ignored));
		return fail(EXIT_USAGE, why);
	}
	if (load_config(why, sizeof(why)) < 0)
		return fail(EXIT_USAGE, why);
	setup_time_limit();
	return run(create);
}
