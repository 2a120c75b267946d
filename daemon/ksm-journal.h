/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The record of a KSM-wide job (UnmergeAll, SetMergeAcrossNodes) in the
 * state directory, written before the worker touches /sys/kernel/mm/ksm
 * and removed once the job has ended and run is back.
 *
 * The worker dies with pagemeldd (PR_SET_PDEATHSIG). Killed inside its
 * run=2 write the kernel leaves run=0; killed later (waiting for
 * pages_shared to reach 0) run stays 2; killed after switching
 * merge_across_nodes the switch stays unacknowledged. The next start reads
 * this record and puts the knobs back as they were before the job
 * (budget_ksm_repair()).
 *
 * File: <state dir>/ksm-job, lines "key=value": job=<name>, run=<0|1>,
 * merge_across_nodes=<0|1> (absent when the kernel has no such knob).
 * Written to a temporary file, fsync'd and renamed over: a reader sees
 * the old record or the new one, never half of one.
 */

#include <stdbool.h>
#include <stdint.h>

#define KSM_JOURNAL_FILE "ksm-job"
#define KSM_JOURNAL_JOB_MAX 32

typedef struct KsmJournal {
	char job[KSM_JOURNAL_JOB_MAX];
	bool has_run;
	uint64_t run; /* the value to restore */
	bool has_merge_across_nodes;
	uint64_t merge_across_nodes; /* the value before the job */
} KsmJournal;

int ksm_journal_save(const char *state_dir, const KsmJournal *j);
/* -ENOENT when there is no record; -EINVAL for one that cannot be parsed. */
int ksm_journal_load(const char *state_dir, KsmJournal *ret);
/* 0 also when there was none. */
int ksm_journal_remove(const char *state_dir);
