/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /sys/kernel/mm/ksm: every file in one struct, every knob writable with the
 * kernel's errno passed back. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define KSM_SYSFS_DIR "/sys/kernel/mm/ksm"

/* name, writable */
#define KSM_FIELDS(X)                               \
	X(run, true)                                \
	X(pages_to_scan, true)                      \
	X(sleep_millisecs, true)                    \
	X(merge_across_nodes, true)                 \
	X(max_page_sharing, true)                   \
	X(use_zero_pages, true)                     \
	X(smart_scan, true)                         \
	X(stable_node_chains_prune_millisecs, true) \
	X(advisor_max_cpu, true)                    \
	X(advisor_min_pages_to_scan, true)          \
	X(advisor_max_pages_to_scan, true)          \
	X(advisor_target_scan_time, true)           \
	X(full_scans, false)                        \
	X(pages_scanned, false)                     \
	X(pages_shared, false)                      \
	X(pages_sharing, false)                     \
	X(pages_unshared, false)                    \
	X(pages_volatile, false)                    \
	X(pages_skipped, false)                     \
	X(stable_node_chains, false)                \
	X(stable_node_dups, false)                  \
	X(ksm_zero_pages, false)

typedef enum KsmField {
#define KSM_ENUM(name, w) KSM_##name,
	KSM_FIELDS(KSM_ENUM)
#undef KSM_ENUM
	_KSM_FIELD_MAX,
} KsmField;

typedef enum KsmRun {
	KSM_RUN_STOP = 0,
	KSM_RUN_MERGE = 1,
	KSM_RUN_UNMERGE = 2,
} KsmRun;

typedef enum KsmAdvisor {
	KSM_ADVISOR_NONE,
	KSM_ADVISOR_SCAN_TIME,
	_KSM_ADVISOR_MAX,
	KSM_ADVISOR_UNKNOWN = -1,
} KsmAdvisor;

typedef struct KsmState {
	uint64_t value[_KSM_FIELD_MAX];
	bool present[_KSM_FIELD_MAX];
	/* general_profit can be negative: rmap_items cost more than merging saved */
	int64_t general_profit;
	bool general_profit_present;
	KsmAdvisor advisor_mode;
	bool advisor_mode_present;
} KsmState;

const char *ksm_field_name(KsmField f);
/* -EINVAL for a name that is not a numeric KSM file */
int ksm_field_from_name(const char *name);
bool ksm_field_writable(KsmField f);
const char *ksm_advisor_name(KsmAdvisor a);
int ksm_advisor_from_name(const char *name);
const char *ksm_run_name(uint64_t run); /* stopped|running|unmerging */

/* Read every file under ksm_dir (normally KSM_SYSFS_DIR). Files this kernel
 * lacks are marked absent. -ENOENT when ksm_dir itself is missing. */
int ksm_read_state(const char *ksm_dir, KsmState *ret);
int ksm_read_field(const char *ksm_dir, KsmField f, uint64_t *ret);
/* Write one knob; the kernel's errno (EBUSY, EINVAL, ...) comes back as is.
 * -EROFS for a counter. */
int ksm_write_field(const char *ksm_dir, KsmField f, uint64_t value);
int ksm_write_advisor(const char *ksm_dir, KsmAdvisor a);

void ksm_state_print(FILE *f, const KsmState *s);

/* Saves every writable knob and restores it later, run last, so a test or a
 * failed operation leaves KSM as it found it. */
typedef struct KsmSnapshot {
	KsmState state;
	bool valid;
} KsmSnapshot;
int ksm_snapshot_take(const char *ksm_dir, KsmSnapshot *ret);
int ksm_snapshot_restore(const char *ksm_dir, const KsmSnapshot *s);
