/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The estimator's /proc walker: maps -> pagemap -> process_vm_readv. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>

#include "cgroup.h"
#include "estimate-internal.h"
#include "macro.h"

#define BATCH_BYTES (1u << 18)
#define PAGEMAP_CHUNK 512

#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_SWAP (UINT64_C(1) << 62)
#define PM_FILE (UINT64_C(1) << 61)	 /* file page or shared anonymous */
#define PM_EXCLUSIVE (UINT64_C(1) << 56) /* mapped once */
#define PM_PFN_MASK ((UINT64_C(1) << 55) - 1)

typedef struct Batch {
	struct iovec *remote; /* runs of contiguous pages */
	bool *exclusive;      /* per run: every page mapped once */
	size_t n_iov, n_pages, max_pages;
	bool *ok[2];
	int mem_fd; /* /proc/PID/mem */
} Batch;

void estimator_walker_free(Estimator *e)
{
	for (size_t i = 0; i < ELEMENTSOF(e->copy); i++)
		free(e->copy[i]);
	free(e->pfns);
}

/* Add pfn to the set of pages mapped more than once; 1 when it was there
 * already. */
static int pfn_seen(Estimator *e, uint64_t pfn)
{
	if (e->pfn_used + 1 > ((size_t)1 << e->pfn_bits) / 2 || !e->pfns) {
		unsigned bits = e->pfns ? e->pfn_bits + 1 : 10;
		uint64_t *t = calloc((size_t)1 << bits, sizeof(uint64_t));
		if (!t)
			return -ENOMEM;
		size_t mask = ((size_t)1 << bits) - 1;
		for (size_t i = 0; e->pfns && i < ((size_t)1 << e->pfn_bits); i++)
			if (e->pfns[i] != 0)
				for (size_t j = (e->pfns[i] * 0x9e3779b97f4a7c15ULL) >> (64 - bits);;
				     j = (j + 1) & mask)
					if (t[j] == 0) {
						t[j] = e->pfns[i];
						break;
					}
		free(e->pfns);
		e->pfns = t;
		e->pfn_bits = bits;
	}
	size_t mask = ((size_t)1 << e->pfn_bits) - 1;
	for (size_t j = (pfn * 0x9e3779b97f4a7c15ULL) >> (64 - e->pfn_bits);; j = (j + 1) & mask) {
		if (e->pfns[j] == pfn)
			return 1;
		if (e->pfns[j] == 0) {
			e->pfns[j] = pfn;
			e->pfn_used++;
			return 0;
		}
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int estimate_parse_maps_line(const char *line, uint64_t *ret_start, uint64_t *ret_end, bool *ret_scan)
{
	uint64_t start, end;
	char perms[5];
	int name_at = -1;
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %*s %*s %*s %n", &start, &end, perms, &name_at) < 3 ||
	    strlen(perms) != 4 || end < start)
		return -EINVAL;
	const char *name = name_at >= 0 ? line + name_at : "";
	/* The kernel's special mappings (VM_IO/PFNMAP or no anonymous pages);
	 * KSM never scans them. Unreadable or shared mappings neither. */
	bool special =
		startswith(name, "[vvar") || startswith(name, "[vdso]") || startswith(name, "[vsyscall]");
	*ret_start = start;
	*ret_end = end;
	*ret_scan = perms[0] == 'r' && perms[3] == 'p' && !special;
	return 0;
}

/* The PFN of the shared zero page: a read fault on fresh anonymous memory
 * maps it. 0 when pagemap hides PFNs (no CAP_SYS_ADMIN). */
static void probe_zero_pfn(Estimator *e, const char *proc_root)
{
	e->zero_pfn_probed = true;
	volatile uint8_t *p = mmap(NULL, e->page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	(void)p[0];
	char path[4096];
	snprintf(path, sizeof(path), "%s/self/pagemap", proc_root);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t entry = 0;
	if (fd >= 0 &&
	    pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)p / e->page_size * sizeof(entry))) ==
		    (ssize_t)sizeof(entry) &&
	    (entry & PM_PRESENT))
		e->zero_pfn = entry & PM_PFN_MASK;
	munmap((void *)p, e->page_size);
}

/* Copy n bytes at addr into buf, from pid's memory; the bytes read. A
 * process_vm_readv of an anonymous page that is not exclusive to its mm
 * (a KSM page, or shared since fork) takes a read-only pin, and the kernel
 * then unshares the page: it copies it, which would break the very merges
 * and sharing being estimated. /proc/PID/mem reads without a pin. */
static ssize_t read_run(pid_t pid, int mem_fd, bool exclusive, uint8_t *buf, uint64_t addr, size_t n)
{
	if (exclusive) {
		struct iovec local = {buf, n}, remote = {(void *)(uintptr_t)addr, n};
		return process_vm_readv(pid, &local, 1, &remote, 1, 0);
	}
	return pread(mem_fd, buf, n, (off_t)addr);
}

/* Copy the batch into buf; ok[i] says whether page i was read. A page that
 * faults (unmapped meanwhile, PROT_NONE, VM_IO) is skipped, the rest read. */
static int read_batch(Estimator *e, pid_t pid, const Batch *b, uint8_t *buf, bool *ok)
{
	size_t ps = e->page_size, page = 0;
	for (size_t i = 0; i < b->n_iov; i++) {
		uint64_t addr = (uintptr_t)b->remote[i].iov_base;
		size_t left = b->remote[i].iov_len / ps;
		while (left > 0) {
			ssize_t n =
				read_run(pid, b->mem_fd, b->exclusive[i], buf + page * ps, addr, left * ps);
			if (n < 0 && errno != EFAULT && errno != ENOMEM && errno != EIO)
				return errno == ESRCH ? -ESRCH : -errno;
			size_t done = n < 0 ? 0 : MIN((size_t)n / ps, left);
			for (size_t k = 0; k < done; k++)
				ok[page + k] = true;
			page += done;
			addr += done * ps;
			left -= done;
			if (left > 0) { /* the next page failed: skip it */
				ok[page++] = false;
				addr += ps;
				left--;
			}
		}
	}
	return 0;
}

static int throttle(Estimator *e, uint64_t bytes)
{
	const EstimatorConfig *c = &e->config;
	e->bytes_read += bytes;
	if (c->cancel && atomic_load(c->cancel))
		return -ECANCELED;
	if (c->progress) {
		int r = c->progress(c->userdata, e->bytes_read);
		if (r < 0)
			return r;
	}
	if (c->max_bytes_per_sec > 0) {
		if (e->rate_start_ns == 0) {
			e->rate_start_ns = now_ns();
			e->bytes_read = bytes;
		}
		int64_t due = e->rate_start_ns +
			      (int64_t)((double)e->bytes_read * 1e9 / (double)c->max_bytes_per_sec);
		int64_t wait = due - now_ns();
		if (wait > 0) {
			struct timespec ts = {wait / 1000000000, wait % 1000000000};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				if (c->cancel && atomic_load(c->cancel))
					return -ECANCELED;
		}
	}
	return 0;
}

static int flush_batch(Estimator *e, pid_t pid, unsigned group, Batch *b)
{
	if (b->n_pages == 0)
		return 0;
	size_t ps = e->page_size;
	bool verify = !e->config.no_volatile_check;
	int r = read_batch(e, pid, b, e->copy[0], b->ok[0]);
	if (r >= 0 && verify)
		r = read_batch(e, pid, b, e->copy[1], b->ok[1]);
	if (r < 0)
		return r;

	/* Hand runs of good pages to the core in one call each. */
	const uint8_t *c0 = e->copy[0], *c1 = e->copy[1];
	size_t run = 0;
	for (size_t i = 0; i <= b->n_pages; i++) {
		bool good = false;
		if (i < b->n_pages) {
			if (!b->ok[0][i])
				estimator_count_unreadable(e, group, 1);
			else if (verify && (!b->ok[1][i] || memcmp(c0 + i * ps, c1 + i * ps, ps) != 0))
				estimator_count_volatile(e, group, 1);
			else
				good = true;
		}
		if (good) {
			run++;
			continue;
		}
		if (run > 0) {
			r = estimator_add_pages(e, group, c0 + (i - run) * ps, run);
			if (r < 0)
				return r;
		}
		run = 0;
	}
	r = throttle(e, b->n_pages * ps);
	b->n_iov = b->n_pages = 0;
	return r;
}

static int batch_add(Estimator *e, pid_t pid, unsigned group, Batch *b, uint64_t addr, bool exclusive)
{
	struct iovec *last = b->n_iov > 0 ? &b->remote[b->n_iov - 1] : NULL;
	if (last && (uintptr_t)last->iov_base + last->iov_len == addr &&
	    b->exclusive[b->n_iov - 1] == exclusive)
		last->iov_len += e->page_size;
	else {
		b->exclusive[b->n_iov] = exclusive;
		b->remote[b->n_iov++] = (struct iovec){(void *)(uintptr_t)addr, e->page_size};
	}
	if (++b->n_pages == b->max_pages)
		return flush_batch(e, pid, group, b);
	return 0;
}

static int scan_range(Estimator *e, pid_t pid, unsigned group, int pagemap_fd, Batch *b, uint64_t start,
		      uint64_t end)
{
	uint64_t entries[PAGEMAP_CHUNK];
	size_t ps = e->page_size;
	for (uint64_t a = start; a < end;) {
		size_t n = (size_t)MIN((end - a) / ps, (uint64_t)PAGEMAP_CHUNK);
		ssize_t k =
			pread(pagemap_fd, entries, n * sizeof(uint64_t), (off_t)(a / ps * sizeof(uint64_t)));
		if (k < 0)
			return errno == ESRCH ? -ESRCH : -errno;
		if (k == 0)
			return 0;
		n = (size_t)k / sizeof(uint64_t);
		for (size_t i = 0; i < n; i++) {
			uint64_t m = entries[i];
			if (!(m & PM_PRESENT) || (m & (PM_SWAP | PM_FILE)))
				continue;
			uint64_t pfn = m & PM_PFN_MASK;
			if (e->zero_pfn != 0 && pfn == e->zero_pfn)
				continue;
			/* A page mapped more than once is read once (PFN 0: hidden) */
			if (!(m & PM_EXCLUSIVE) && pfn != 0) {
				int r = pfn_seen(e, pfn);
				if (r < 0)
					return r;
				if (r > 0) {
					estimator_count_forked(e, group, 1);
					continue;
				}
			}
			int r = batch_add(e, pid, group, b, a + i * ps, m & PM_EXCLUSIVE);
			if (r < 0)
				return r;
		}
		a += n * ps;
	}
	return 0;
}

int estimator_scan_pid(Estimator *e, const char *proc_root, pid_t pid, unsigned group)
{
	assert(e && proc_root);
	if (group >= e->n_groups || pid <= 0)
		return -EINVAL;
	size_t max_pages = BATCH_BYTES / e->page_size;
	for (size_t i = 0; i < ELEMENTSOF(e->copy); i++)
		if (!e->copy[i] && !(e->copy[i] = malloc(BATCH_BYTES)))
			return -ENOMEM;
	if (!e->zero_pfn_probed)
		probe_zero_pfn(e, proc_root);

	char path[4096];
	snprintf(path, sizeof(path), "%s/%d/maps", proc_root, (int)pid);
	_cleanup_fclose_ FILE *maps = fopen(path, "re");
	if (!maps)
		return errno == ENOENT ? -ESRCH : -errno;
	snprintf(path, sizeof(path), "%s/%d/pagemap", proc_root, (int)pid);
	_cleanup_close_ int pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;

	snprintf(path, sizeof(path), "%s/%d/mem", proc_root, (int)pid);
	_cleanup_close_ int mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (mem_fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;

	_cleanup_free_ struct iovec *remote = calloc(max_pages, sizeof(struct iovec));
	_cleanup_free_ bool *exclusive = calloc(max_pages, sizeof(bool));
	_cleanup_free_ bool *ok0 = calloc(max_pages, sizeof(bool));
	_cleanup_free_ bool *ok1 = calloc(max_pages, sizeof(bool));
	if (!remote || !exclusive || !ok0 || !ok1)
		return -ENOMEM;
	Batch b = {.remote = remote,
		   .exclusive = exclusive,
		   .max_pages = max_pages,
		   .ok = {ok0, ok1},
		   .mem_fd = mem_fd};

	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	int r = 0;
	while (getline(&line, &cap, maps) > 0) {
		uint64_t start, end;
		bool scan;
		if (estimate_parse_maps_line(line, &start, &end, &scan) < 0)
			return -EBADMSG;
		if (!scan)
			continue;
		r = scan_range(e, pid, group, pagemap_fd, &b, start, end);
		if (r < 0)
			return r;
	}
	if (ferror(maps))
		return errno == ESRCH ? -ESRCH : -EIO;
	return flush_batch(e, pid, group, &b);
}

int estimator_scan_cgroup(Estimator *e, const char *proc_root, const char *cg_mount, const char *cg_path,
			  unsigned group)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	int r = cg_list_procs(cg_mount, cg_path, &pids, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = estimator_scan_pid(e, proc_root, pids[i], group);
		if (r < 0 && r != -ESRCH)
			return r;
	}
	return 0;
}
