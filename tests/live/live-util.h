/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the live tests: they run as root against the real kernel, one at
 * a time (KSM counters are global), and leave every KSM knob as they found
 * it. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ksm-sysfs.h"

/* 77: the meson/automake "skipped" exit code. */
#define EXIT_TEST_SKIP 77

/* Exits 77 unless root with KSM present; takes the machine-wide KSM test
 * lock (/run/lock/pagemeld-ksm-test.lock, shared with the pytest tier);
 * snapshots every KSM knob and restores it at exit, on SIGTERM/SIGINT (a
 * meson timeout) and from live_restore(). */
void live_setup(void);
void live_restore(void);

/* Fast scanning for tests: run=1, pages_to_scan, sleep_millisecs. */
int live_ksm_start(uint64_t pages_to_scan, uint64_t sleep_ms);
/* Wait until full_scans has advanced by `scans` or timeout_ms passed. */
int live_wait_full_scans(uint64_t scans, int timeout_ms);
uint64_t live_ksm_read(KsmField f);

/* Start tests/helpers/memfill with the given argv (NULL-terminated, after
 * the program name); waits for its "ready" line. Its stdin is a pipe: close
 * it (live_memfill_stop) and memfill verifies its pages and exits. */
typedef struct LiveChild {
	pid_t pid;
	int stdin_fd;
	int stdout_fd;
} LiveChild;
int live_memfill_start(const char *const *args, LiveChild *ret);
/* Ask for a command ("unmerge\n", "merge\n") and wait for its "ok" reply. */
int live_memfill_command(LiveChild *c, const char *cmd);
/* Close stdin, wait; returns the exit status (0 = pages verified). */
int live_memfill_stop(LiveChild *c);

int64_t live_now_ms(void);
