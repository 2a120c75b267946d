/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memfill: a workload with a known mix of identical and unique pages, used by
 * the live, integration and container tests and by the demo. Static, so it
 * runs in a busybox container.
 *
 *   memfill --same N --unique M [--zero Z] [--merge] [--sleep SECONDS] [--tag T]
 *
 * --zero adds Z pages written with zeros: with use_zero_pages=1 ksmd merges
 * them with the zero page (ksm_zero_pages, not ksm_merging_pages).
 *
 * Prints "ready PID" once its pages are written. Then, with --sleep, it waits
 * that long (0 = until SIGTERM/SIGINT); without, it reads commands from stdin:
 * "merge" / "unmerge" (its own prctl) and "stat", each answered by a line,
 * until EOF. Before exiting it checks every page still holds what it wrote:
 * exit 0 when all do, 3 when one does not (merging must never change data).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Identical pages: the same bytes in every memfill anywhere (so containers
 * share them). Unique pages: seeded by pid, time and index. */
static void fill_page(uint64_t *p, size_t words, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t i = 0; i < words; i++)
		p[i] = splitmix(&s);
}

int main(int argc, char **argv)
{
	unsigned long same = 0, unique = 0, zero = 0;
	long sleep_s = -1;
	int merge = 0;
	static const struct option opts[] = {
		{"same", required_argument, NULL, 's'},
		{"unique", required_argument, NULL, 'u'},
		{"merge", no_argument, NULL, 'm'},
		{"sleep", required_argument, NULL, 'S'},
		{"tag", required_argument, NULL, 't'},
		{"zero", required_argument, NULL, 'z'},
		{},
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 's':
			same = strtoul(optarg, NULL, 0);
			break;
		case 'u':
			unique = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			merge = 1;
			break;
		case 'S':
			sleep_s = strtol(optarg, NULL, 0);
			break;
		case 'z':
			zero = strtoul(optarg, NULL, 0);
			break;
		case 't':
			break; /* only shows in ps */
		default:
			fprintf(stderr,
				"usage: memfill --same N --unique M [--zero Z] [--merge] [--sleep S]\n");
			return 2;
		}
	}

	long page = sysconf(_SC_PAGESIZE);
	size_t words = (size_t)page / sizeof(uint64_t), filled = same + unique, total = filled + zero;
	if (merge && prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "memfill: prctl(PR_SET_MEMORY_MERGE): %s\n", strerror(errno));
		return 1;
	}
	uint64_t *mem = NULL;
	if (total > 0) {
		mem = mmap(NULL, total * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		if (mem == MAP_FAILED) {
			fprintf(stderr, "memfill: mmap: %s\n", strerror(errno));
			return 1;
		}
	}
	uint64_t unique_seed = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)mem;
	for (size_t i = 0; i < filled; i++)
		fill_page(mem + i * words, words, i < same ? 0x70616765ULL : unique_seed + i);
	for (size_t i = filled; i < total; i++)
		memset(mem + i * words, 0, (size_t)page); /* faults in a page of its own */

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	printf("ready %d\n", (int)getpid());
	fflush(stdout);

	if (sleep_s >= 0) {
		for (long t = 0; !stop && (sleep_s == 0 || t < sleep_s * 10); t++)
			usleep(100000);
	} else {
		char line[64];
		while (!stop && fgets(line, sizeof(line), stdin)) {
			if (strncmp(line, "merge", 5) == 0 || strncmp(line, "unmerge", 7) == 0) {
				int on = line[0] == 'm';
				if (prctl(PR_SET_MEMORY_MERGE, on, 0, 0, 0) < 0)
					printf("error %s\n", strerror(errno));
				else
					printf("ok\n");
			} else
				printf("error unknown command\n");
			fflush(stdout);
		}
	}

	/* Verify every page: merging and unmerging must never change data. */
	uint64_t *expect = malloc((size_t)page);
	if (!expect)
		return 1;
	for (size_t i = 0; i < total; i++) {
		if (i < filled)
			fill_page(expect, words, i < same ? 0x70616765ULL : unique_seed + i);
		else
			memset(expect, 0, (size_t)page);
		if (memcmp(expect, mem + i * words, (size_t)page) != 0) {
			fprintf(stderr, "memfill: page %zu changed\n", i);
			free(expect);
			return 3;
		}
	}
	free(expect);
	return 0;
}
