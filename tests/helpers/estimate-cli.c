/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * estimate-cli: run lib/estimate on processes and print the result as one
 * JSON object, with the time and memory the run took. For the live tests
 * and bench/estimate.py, bench/savings.py; pagemeldctl goes through the
 * daemon instead.
 *
 *   estimate-cli [--max-table-mib N] [--no-volatile-check] [--use-zero-pages 0|1]
 *                [--max-page-sharing N] [--rate BYTES_PER_SEC] GROUP...
 *
 * GROUP is PID[,PID...] or cg:/cgroup/path (under the v2 mount), with a
 * leading + when it is managed already. KSM's use_zero_pages and
 * max_page_sharing are read from sysfs unless given.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

#include "cgroup.h"
#include "estimate.h"
#include "ksm-sysfs.h"
#include "macro.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Peak RSS of this process image: VmHWM, not getrusage's ru_maxrss, which
 * keeps the pre-exec high-water mark of the forking parent (python). */
static long vm_hwm_kib(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	return kib;
}

static int scan_group(Estimator *e, const char *spec, unsigned g)
{
	const char *cg = startswith(spec, "cg:");
	if (cg) {
		_cleanup_free_ char *mount = NULL;
		int r = cg_find_v2_mount("/proc/self/mountinfo", &mount);
		return r < 0 ? r : estimator_scan_cgroup(e, "/proc", mount, cg, g);
	}
	_cleanup_free_ char *copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		long pid = strtol(t, &end, 10);
		if (*end || pid <= 0)
			return -EINVAL;
		int r = estimator_scan_pid(e, "/proc", (pid_t)pid, g);
		if (r < 0 && r != -ESRCH)
			return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	EstimatorConfig cfg = {};
	int use_zero = -1;
	long long mps = -1;
	static const struct option opts[] = {
		{"max-table-mib", required_argument, NULL, 't'},
		{"no-volatile-check", no_argument, NULL, 'v'},
		{"use-zero-pages", required_argument, NULL, 'z'},
		{"max-page-sharing", required_argument, NULL, 'm'},
		{"rate", required_argument, NULL, 'r'},
		{},
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 't':
			cfg.max_table_bytes = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'v':
			cfg.no_volatile_check = true;
			break;
		case 'z':
			use_zero = atoi(optarg);
			break;
		case 'm':
			mps = strtoll(optarg, NULL, 0);
			break;
		case 'r':
			cfg.max_bytes_per_sec = strtoull(optarg, NULL, 0);
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: estimate-cli [options] [+]PID[,PID...]|[+]cg:/path...\n");
		return 2;
	}
	uint64_t v;
	if (use_zero < 0)
		use_zero = ksm_read_field(KSM_SYSFS_DIR, KSM_use_zero_pages, &v) >= 0 && v > 0;
	if (mps < 0)
		mps = ksm_read_field(KSM_SYSFS_DIR, KSM_max_page_sharing, &v) >= 0 ? (long long)v : 0;
	cfg.use_zero_pages = use_zero > 0;
	cfg.max_page_sharing = (uint64_t)mps;

	_cleanup_estimator_ Estimator *e = NULL;
	int r = estimator_new(&cfg, &e);
	if (r < 0) {
		fprintf(stderr, "estimate-cli: %s\n", strerror(-r));
		return 1;
	}
	double t0 = now_s(), c0 = cpu_s();
	for (int i = optind; i < argc; i++) {
		const char *spec = argv[i];
		bool managed = spec[0] == '+';
		unsigned g;
		r = estimator_add_group(e, managed, &g);
		if (r >= 0)
			r = scan_group(e, spec + managed, g);
		if (r < 0) {
			fprintf(stderr, "estimate-cli: %s: %s\n", spec, strerror(-r));
			return 1;
		}
	}
	EstimateResult res;
	r = estimator_result(e, &res);
	if (r < 0) {
		fprintf(stderr, "estimate-cli: %s\n", strerror(-r));
		return 1;
	}
	double secs = now_s() - t0, cpu = cpu_s() - c0;
	printf("{\"seconds\": %.6f, \"cpu_seconds\": %.6f, \"maxrss_kib\": %ld, \"page_size\": %zu,\n", secs,
	       cpu, vm_hwm_kib(), estimator_page_size(e));
	printf(" \"use_zero_pages\": %s, \"max_page_sharing\": %llu,\n", use_zero > 0 ? "true" : "false",
	       (unsigned long long)mps);
	printf(" \"pages_scanned\": %" PRIu64 ", \"zero_pages\": %" PRIu64 ", \"volatile_pages\": %" PRIu64
	       ", \"unreadable_pages\": %" PRIu64 ", \"forked_pages\": %" PRIu64 ",\n",
	       res.pages_scanned, res.zero_pages, res.volatile_pages, res.unreadable_pages, res.forked_pages);
	printf(" \"dup_pages\": %" PRIu64 ", \"ksm_pages\": %" PRIu64 ", \"dup_within_pages\": %" PRIu64
	       ", \"dup_across_pages\": %" PRIu64 ", \"managed_dup_pages\": %" PRIu64 ",\n",
	       res.dup_pages, res.ksm_pages, res.dup_within_pages, res.dup_across_pages,
	       res.managed_dup_pages);
	printf(" \"profit_bytes\": %" PRId64 ", \"sample_shift\": %u, \"dup_stderr_pages\": %.1f, "
	       "\"table_bytes_peak\": %" PRIu64 ",\n",
	       res.profit_bytes, res.sample_shift, res.dup_stderr_pages, res.table_bytes_peak);
	printf(" \"groups\": [");
	for (size_t i = 0; i < res.n_groups; i++) {
		const EstimateGroup *g = &res.groups[i];
		printf("%s\n  {\"spec\": \"%s\", \"pages_scanned\": %" PRIu64 ", \"zero_pages\": %" PRIu64
		       ", \"volatile_pages\": %" PRIu64 ", \"dup_within_pages\": %" PRIu64
		       ", \"marginal_pages\": %" PRIu64 ", \"marginal_profit_bytes\": %" PRId64 "}",
		       i ? "," : "", argv[optind + (int)i], g->pages_scanned, g->zero_pages,
		       g->volatile_pages, g->dup_within_pages, g->marginal_pages, g->marginal_profit_bytes);
	}
	printf("]}\n");
	estimate_result_done(&res);
	return 0;
}
