/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pidfd-util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>

#include "cgroup.h"
#include "fileio.h"
#include "macro.h"
#include "remote.h"

int pidfd_verify(const char *proc_root, int fd, pid_t *ret_pid)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	int64_t pid;

	if (fd < 0)
		return -EBADF;
	path = strdup_printf("%s/self/fdinfo/%d", proc_root, fd);
	if (!path)
		return -ENOMEM;
	int r = read_full_file(path, 64 * 1024, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? -EBADF : r;

	/* Only pidfds have a "Pid:" line (and "NSpid:"); other fds do not. */
	const char *p = NULL;
	for (const char *line = text; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if ((p = startswith(line, "Pid:")))
			break;
	if (!p)
		return -EBADF;
	while (*p == ' ' || *p == '\t')
		p++;
	char buf[32];
	size_t l = strcspn(p, "\n");
	if (l == 0 || l >= sizeof(buf))
		return -EBADF;
	memcpy(buf, p, l);
	buf[l] = '\0';
	r = parse_s64(buf, &pid);
	if (r < 0)
		return -EBADF;
	if (pid == -1)
		return -ESRCH;
	if (pid == 0)
		return -EREMOTE;
	r = pidfd_check_alive(fd);
	if (r < 0)
		return r;
	*ret_pid = (pid_t)pid;
	return 0;
}

/* Polled, not signalled: signal 0 needs CAP_KILL (or the same uid) towards
 * the target, which the unit's bounding set does not hold, so a container
 * running as another uid or in a user namespace would look dead. A pidfd turns
 * readable once its process has exited, whoever owns it. */
int pidfd_check_alive(int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int n;

	if (pidfd < 0)
		return -EBADF;
	do
		n = poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (p.revents & POLLNVAL)
		return -EBADF;
	if (p.revents & (POLLIN | POLLHUP | POLLERR))
		return -ESRCH;
	return 0;
}

int pidfd_open_member(const char *proc_root, pid_t pid, const char *cgroup, int *ret_pidfd)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *path = NULL;

	/* The order matters: the pidfd first pins one process; the cgroup
	 * read through /proc/PID afterwards is then that process's or a
	 * successor's; the liveness check last tells which. */
	int r = remote_pidfd_open(pid, &fd);
	if (r < 0)
		return r;
	r = cg_pid_get_path(proc_root, pid, &path);
	if (r == -ENOENT || r == -ENOMEDIUM)
		return -ESRCH;
	if (r < 0)
		return r;
	if (!streq(path, cgroup))
		return -ESRCH;
	r = pidfd_check_alive(fd);
	if (r < 0)
		return r;
	*ret_pidfd = TAKE_FD(fd);
	return 0;
}
