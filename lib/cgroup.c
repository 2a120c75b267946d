/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cgroup.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>

#include "fileio.h"
#include "macro.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else
			*w++ = *r++;
	}
	*w = '\0';
}

/* Whether a mountinfo entry's "fstype source superopts" is the cgroup2 mount
 * (v1_controller NULL) or the v1 mount holding v1_controller. */
static bool mount_matches(const char *fs, const char *v1_controller)
{
	if (!v1_controller)
		return startswith(fs, "cgroup2 ");
	if (!startswith(fs, "cgroup "))
		return false;
	const char *opts = strrchr(fs, ' ') + 1;
	size_t n = strlen(v1_controller);
	for (const char *o = opts; *o;) {
		size_t len = strcspn(o, ",");
		if (len == n && strncmp(o, v1_controller, n) == 0)
			return true;
		o += len + (o[len] == ',');
	}
	return false;
}

static int find_mount(const char *mountinfo_path, const char *v1_controller, char **ret_mount)
{
	_cleanup_free_ char *text = NULL;
	int r = read_full_file(mountinfo_path, 16 * 1024 * 1024, &text, NULL);
	if (r < 0)
		return r;

	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		const char *sep = strstr(line, " - ");
		if (!sep || !mount_matches(sep + 3, v1_controller))
			continue;
		char mnt[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		unescape_octal(mnt);
		char *m = strdup(mnt);
		if (!m)
			return -ENOMEM;
		*ret_mount = m;
		return 0;
	}
	return -ENOENT;
}

int cg_find_v2_mount(const char *mountinfo_path, char **ret_mount)
{
	return find_mount(mountinfo_path, NULL, ret_mount);
}

int cg_find_v1_mount(const char *mountinfo_path, const char *controller, char **ret_mount)
{
	return find_mount(mountinfo_path, controller, ret_mount);
}

int cg_parse_proc_cgroup(const char *text, char **ret_path)
{
	for (const char *p = text; p && *p;) {
		const char *eol = strchrnul(p, '\n');
		if (startswith(p, "0::")) {
			char *s = strndup(p + 3, (size_t)(eol - p - 3));
			if (!s)
				return -ENOMEM;
			/* A process whose cgroup was removed shows " (deleted)". */
			if (s[0] != '/') {
				free(s);
				return -EINVAL;
			}
			*ret_path = s;
			return 0;
		}
		p = *eol ? eol + 1 : eol;
	}
	return -ENOMEDIUM;
}

int cg_pid_get_path(const char *proc_root, pid_t pid, char **ret_path)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root, (int)pid);
	_cleanup_free_ char *text = NULL;
	int r = read_full_file(path, 1024 * 1024, &text, NULL);
	if (r == -ENOENT)
		return -ESRCH;
	if (r < 0)
		return r;
	return cg_parse_proc_cgroup(text, ret_path);
}

char *cg_file_path(const char *mount, const char *path, const char *file)
{
	_cleanup_free_ char *dir = path_join(mount, path);
	if (!dir || !file)
		return TAKE_PTR(dir);
	return path_join(dir, file);
}

bool cg_exists(const char *mount, const char *path)
{
	_cleanup_free_ char *p = cg_file_path(mount, path, "cgroup.procs");
	return p && access(p, F_OK) == 0;
}

int cg_list_procs(const char *mount, const char *path, pid_t **ret_pids, size_t *ret_n)
{
	_cleanup_free_ char *p = cg_file_path(mount, path, "cgroup.procs");
	if (!p)
		return -ENOMEM;
	_cleanup_fclose_ FILE *f = fopen(p, "re");
	if (!f)
		return -errno;

	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0, cap = 0;
	char line[32];
	while (fgets(line, sizeof(line), f)) {
		uint64_t v;
		if (parse_u64(line, &v) < 0 || v == 0 || v > INT32_MAX)
			return -EBADMSG;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			pid_t *np = reallocarray(pids, cap, sizeof(pid_t));
			if (!np)
				return -ENOMEM;
			pids = np;
		}
		pids[n++] = (pid_t)v;
	}
	if (ferror(f))
		return -EIO;
	*ret_pids = TAKE_PTR(pids);
	*ret_n = n;
	return 0;
}

static int events_frozen(const char *events_path, bool *ret)
{
	_cleanup_free_ char *text = NULL;
	int r = read_full_file(events_path, 4096, &text, NULL);
	if (r < 0)
		return r;
	const char *f = strstr(text, "frozen ");
	if (!f)
		return -EOPNOTSUPP;
	*ret = f[7] == '1';
	return 0;
}

int cg_is_frozen(const char *mount, const char *path, bool *ret)
{
	_cleanup_free_ char *p = cg_file_path(mount, path, "cgroup.events");
	if (!p)
		return -ENOMEM;
	return events_frozen(p, ret);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cg_set_frozen(const char *mount, const char *path, bool frozen, int timeout_ms)
{
	_cleanup_free_ char *freeze = cg_file_path(mount, path, "cgroup.freeze");
	_cleanup_free_ char *events = cg_file_path(mount, path, "cgroup.events");
	if (!freeze || !events)
		return -ENOMEM;

	int r = write_string_file(freeze, frozen ? "1" : "0");
	if (r < 0)
		return r;

	/* cgroup.events wakes poll() with POLLPRI on every change. */
	_cleanup_close_ int fd = open(events, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		bool cur;
		r = events_frozen(events, &cur);
		if (r < 0)
			return r;
		if (cur == frozen)
			return 0;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = POLLPRI};
		char buf[256];
		if (pread(fd, buf, sizeof(buf), 0) < 0) {
			/* re-arm failed: the poll below still bounds the wait */
		}
		if (poll(&pfd, 1, (int)MIN(left, 100)) < 0 && errno != EINTR)
			return -errno;
	}
}

int cg_memory_supported(const char *mount, const char *path)
{
	_cleanup_free_ char *p = cg_file_path(mount, path, "memory.current");
	if (!p)
		return -ENOMEM;
	if (access(p, F_OK) < 0) {
		if (errno != ENOENT)
			return -errno;
		/* Tell a missing cgroup from a missing controller. */
		return cg_exists(mount, path) ? -EOPNOTSUPP : -ENOENT;
	}
	return 0;
}

int cg_read_limit(const char *mount, const char *path, const char *file, uint64_t *ret)
{
	_cleanup_free_ char *p = cg_file_path(mount, path, file);
	if (!p)
		return -ENOMEM;
	return read_u64_file(p, ret);
}

int cg_write_limit(const char *mount, const char *path, const char *file, uint64_t value)
{
	int r = cg_memory_supported(mount, path);
	if (r < 0)
		return r;
	_cleanup_free_ char *p = cg_file_path(mount, path, file);
	if (!p)
		return -ENOMEM;
	if (access(p, F_OK) < 0)
		return errno == ENOENT ? -EOPNOTSUPP : -errno;
	char buf[32];
	if (value == CG_LIMIT_MAX)
		snprintf(buf, sizeof(buf), "max");
	else
		snprintf(buf, sizeof(buf), "%" PRIu64, value);
	return write_string_file(p, buf);
}

int cg_read_memory(const char *mount, const char *path, CgMemory *ret)
{
	CgMemory m = {};
	int r = cg_memory_supported(mount, path);
	if (r < 0)
		return r;
	r = cg_read_limit(mount, path, "memory.current", &m.current);
	if (r < 0)
		return r;
	r = cg_read_limit(mount, path, "memory.max", &m.max);
	if (r < 0)
		return r;
	r = cg_read_limit(mount, path, "memory.swap.current", &m.swap_current);
	if (r >= 0) {
		r = cg_read_limit(mount, path, "memory.swap.max", &m.swap_max);
		if (r < 0)
			return r;
		m.swap_present = true;
	} else if (r != -ENOENT)
		return r;
	*ret = m;
	return 0;
}
