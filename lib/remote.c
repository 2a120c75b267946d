/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Remote KSM control: pidfd handling, backend choice, the pure parsers the
 * injector uses, and the KSM calls on top of remote_syscall().
 */
#include "remote.h"

#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "ksm-stat.h"
#include "log.h"
#include "macro.h"
#include "pidfd-ksm.h"
#include "remote-internal.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

/* ---- backend ---- */

static const char *const backend_names[_REMOTE_BACKEND_MAX] = {
	[REMOTE_BACKEND_PTRACE] = "ptrace",
	[REMOTE_BACKEND_PIDFD_IOCTL] = "pidfd-ioctl",
};

const char *remote_backend_name(RemoteBackend b)
{
	if ((unsigned)b >= _REMOTE_BACKEND_MAX)
		return NULL;
	return backend_names[b];
}

/* The kernel patch's pidfd KSM ioctls (lib/remote-pidfd.c) when the
 * running kernel has them: merge-any set/clear/query without stopping the
 * target. remote_syscall() and remote_madvise() have no ioctl: they always
 * inject. */
RemoteBackend remote_backend(void)
{
	static int cached = -1;
	if (cached < 0)
		cached = remote_pidfd_ksm_probe() > 0 ? REMOTE_BACKEND_PIDFD_IOCTL : REMOTE_BACKEND_PTRACE;
	return (RemoteBackend)cached;
}

/* ---- pure parsers ---- */

int remote_parse_fdinfo_pid(const char *text, pid_t *ret)
{
	for (const char *p = text; p && *p;) {
		const char *v = startswith(p, "Pid:");
		if (v) {
			char *end;
			errno = 0;
			long n = strtol(v, &end, 10);
			if (errno != 0 || end == v || (*end != '\n' && *end != '\0') || n < -1 ||
			    n > INT32_MAX)
				return -EINVAL;
			if (n <= 0)
				return -ESRCH; /* -1: exited; 0: not in our pid namespace */
			*ret = (pid_t)n;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -EBADF;
}

static int parse_status_pid(const char *v, pid_t *ret)
{
	uint64_t n;
	char buf[32];
	size_t l = strspn(v, " \t");
	v += l;
	l = strcspn(v, "\n");
	if (l == 0 || l >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, v, l);
	buf[l] = '\0';
	int r = parse_u64(buf, &n);
	if (r < 0)
		return r;
	if (n > INT32_MAX)
		return -ERANGE;
	*ret = (pid_t)n;
	return 0;
}

int remote_parse_status(const char *text, RemoteTaskStatus *ret)
{
	RemoteTaskStatus s = {.state = 0, .tgid = -1, .ppid = -1, .tracer_pid = -1};
	for (const char *p = text; p && *p;) {
		const char *v;
		int r = 0;
		if ((v = startswith(p, "State:"))) {
			v += strspn(v, " \t");
			if (*v == '\0' || *v == '\n')
				return -EINVAL;
			s.state = *v;
		} else if ((v = startswith(p, "Tgid:")))
			r = parse_status_pid(v, &s.tgid);
		else if ((v = startswith(p, "PPid:")))
			r = parse_status_pid(v, &s.ppid);
		else if ((v = startswith(p, "TracerPid:")))
			r = parse_status_pid(v, &s.tracer_pid);
		if (r < 0)
			return r;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (s.state == 0 || s.tgid < 0 || s.ppid < 0 || s.tracer_pid < 0)
		return -EINVAL;
	*ret = s;
	return 0;
}

int remote_parse_auxv_vdso(const void *auxv, size_t size, uint64_t *ret)
{
	/* native word size: pagemeld supports 64-bit arches only */
	const Elf64_auxv_t *a = auxv;
	for (size_t i = 0; (i + 1) * sizeof(*a) <= size; i++) {
		if (a[i].a_type == AT_NULL)
			break;
		if (a[i].a_type == AT_SYSINFO_EHDR) {
			if (a[i].a_un.a_val == 0)
				return -ENOENT;
			*ret = a[i].a_un.a_val;
			return 0;
		}
	}
	return -ENOENT;
}

static int exec_range_cmp(const void *a, const void *b)
{
	const RemoteExecRange *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

int remote_parse_maps_exec(const char *maps, RemoteExecRange **ret, size_t *ret_n)
{
	_cleanup_free_ RemoteExecRange *v = NULL;
	size_t n = 0, cap = 0;

	for (const char *p = maps; p && *p;) {
		const char *eol = strchrnul(p, '\n');
		char line[4096];
		size_t l = MIN((size_t)(eol - p), sizeof(line) - 1);
		memcpy(line, p, l);
		line[l] = '\0';
		p = *eol ? eol + 1 : NULL;

		unsigned long long start, end, off, inode;
		char perms[8];
		int path_at = -1;
		/* start-end perms offset dev inode [path] */
		if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %llu %n", &start, &end, perms, &off, &inode,
			   &path_at) < 5)
			continue;
		if (strlen(perms) < 4 || perms[2] != 'x' || end <= start)
			continue;
		const char *path = path_at >= 0 && path_at <= (int)l ? line + path_at : "";
		int rank;
		if (streq(path, "[vdso]"))
			rank = 0;
		else if (path[0] == '/') {
			const char *base = strrchr(path, '/') + 1;
			rank = startswith(base, "libc.so") || startswith(base, "libc-") ? 1 : 2;
		} else if (path[0] == '[')
			continue; /* [vsyscall]: emulated, not a real syscall site */
		else
			rank = 3;

		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			RemoteExecRange *nv = reallocarray(v, ncap, sizeof(*v));
			if (!nv)
				return -ENOMEM;
			v = nv;
			cap = ncap;
		}
		v[n++] = (RemoteExecRange){.start = start, .end = end, .rank = rank};
	}
	if (n == 0)
		return -ENOENT;
	qsort(v, n, sizeof(*v), exec_range_cmp);
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

int remote_find_syscall_insn(const void *buf, size_t size, uint64_t base, uint64_t *ret_addr)
{
	const uint8_t *b = buf;
	size_t isz = remote_arch_syscall_insn_size, align = remote_arch_syscall_insn_align;
	size_t first = (size_t)((align - base % align) % align);

	/* memmem, not a memcmp per position: the vdso's first syscall sits
	 * ~2 KiB in, and this runs on every injection outside a syscall */
	for (const uint8_t *p = b + MIN(first, size);
	     (p = memmem(p, size - (size_t)(p - b), remote_arch_syscall_insn, isz)); p++)
		if ((size_t)(p - b) % align == first % align) {
			*ret_addr = base + (uint64_t)(p - b);
			return 0;
		}
	return -ENOENT;
}

/* ---- pidfds ---- */

int remote_pidfd_get_pid(int pidfd, pid_t *ret_pid)
{
	char path[64], buf[1024];
	if (pidfd < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	int r = read_file_into(path, buf, sizeof(buf));
	if (r < 0)
		return r == -ENOENT ? -EBADF : r;
	return remote_parse_fdinfo_pid(buf, ret_pid);
}

int remote_pidfd_open(pid_t pid, int *ret_pidfd)
{
	if (pid <= 0)
		return -EINVAL;
	_cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	/* pidfd_open refuses a pid that is not a thread-group leader, and the
	 * fd pins the process it names; check it still names `pid`, not a
	 * process that has since exited. */
	pid_t now;
	int r = remote_pidfd_get_pid(fd, &now);
	if (r < 0)
		return r;
	if (now != pid)
		return -ESRCH;
	*ret_pidfd = TAKE_FD(fd);
	return 0;
}

/* ---- the calls ---- */

int remote_syscall(int pidfd, long nr, const uint64_t args[6], int64_t *ret_value)
{
	static const uint64_t zero[6] = {};
	pid_t pid;
	int r = remote_pidfd_get_pid(pidfd, &pid);
	if (r < 0)
		return r;
	return remote_ptrace_syscall(pidfd, pid, nr, args ?: zero, ret_value);
}

static int remote_call_int(int pidfd, long nr, const uint64_t args[6], int64_t *ret)
{
	int64_t v;
	int r = remote_syscall(pidfd, nr, args, &v);
	if (r < 0)
		return r;
	if (v < 0 && v >= -4095)
		return (int)v; /* the injected call's own errno */
	if (ret)
		*ret = v;
	return 0;
}

int remote_set_merge_any(int pidfd, bool enable)
{
	if (remote_backend() == REMOTE_BACKEND_PIDFD_IOCTL)
		return remote_pidfd_ksm_set_merge_any(pidfd, enable);
	const uint64_t args[6] = {PR_SET_MEMORY_MERGE, enable ? 1 : 0};
	return remote_call_int(pidfd, SYS_prctl, args, NULL);
}

int remote_get_merge_any(int pidfd, bool *ret)
{
	if (remote_backend() == REMOTE_BACKEND_PIDFD_IOCTL)
		return remote_pidfd_ksm_get_merge_any(pidfd, ret);
	pid_t pid;
	int r = remote_pidfd_get_pid(pidfd, &pid);
	if (r < 0)
		return r;

	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	_cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	/* The directory was opened by pid: only trust it if the pidfd still
	 * names that pid now (then the pid was not recycled in between). */
	pid_t again;
	r = remote_pidfd_get_pid(pidfd, &again);
	if (r < 0)
		return r;
	if (again != pid)
		return -ESRCH;

	KsmStat st;
	r = ksm_stat_read_at(dfd, &st);
	if (r >= 0 && st.merge_any != KSM_TRISTATE_ABSENT) {
		*ret = st.merge_any == KSM_TRISTATE_YES;
		return 0;
	}
	if (r == -ESRCH)
		return r;

	/* Pre-6.14 kernel: ask the process itself. */
	const uint64_t args[6] = {PR_GET_MEMORY_MERGE};
	int64_t v;
	r = remote_call_int(pidfd, SYS_prctl, args, &v);
	if (r < 0)
		return r;
	*ret = v != 0;
	return 0;
}

int remote_madvise(int pidfd, uint64_t addr, uint64_t len, int advice)
{
	const uint64_t args[6] = {addr, len, (uint64_t)(int64_t)advice};
	return remote_call_int(pidfd, SYS_madvise, args, NULL);
}
