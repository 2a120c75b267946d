/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * remote-hook: an OCI createRuntime hook for the remote-control runc test
 * (the real hook is runtime-hook/). Reads the container state from
 * stdin, switches merge-any on in the container's init (alive, in its
 * cgroup, not yet exec'd), reads it back, and appends one line to the file
 * named by argv[1]: "ok <pid> <backend>" or "fail <pid> <error>". Exits 0
 * only on success, so runc refuses to start the container otherwise.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remote.h"

static void report(const char *file, const char *line)
{
	FILE *f = fopen(file, "ae");
	if (f) {
		fputs(line, f);
		fclose(f);
	}
	fputs(line, stderr);
}

int main(int argc, char **argv)
{
	char line[256];
	if (argc != 2)
		return 2;

	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, stdin);
	buf[n] = '\0';
	json_object *state = json_tokener_parse(buf), *jpid = NULL;
	if (!state || !json_object_object_get_ex(state, "pid", &jpid) ||
	    !json_object_is_type(jpid, json_type_int)) {
		report(argv[1], "fail 0 no pid in the OCI state\n");
		return 1;
	}
	pid_t pid = (pid_t)json_object_get_int(jpid);
	json_object_put(state);

	int pidfd, r = remote_pidfd_open(pid, &pidfd);
	if (r >= 0)
		r = remote_set_merge_any(pidfd, true);
	bool on = false;
	if (r >= 0)
		r = remote_get_merge_any(pidfd, &on);
	if (r >= 0 && !on)
		r = -EIO;
	if (r < 0) {
		snprintf(line, sizeof(line), "fail %d %s\n", (int)pid, strerror(-r));
		report(argv[1], line);
		return 1;
	}
	close(pidfd);
	snprintf(line, sizeof(line), "ok %d %s\n", (int)pid, remote_backend_name(remote_backend()));
	report(argv[1], line);
	return 0;
}
