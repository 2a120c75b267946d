/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The OCI runtime state a hook receives on stdin, read leniently: runc's
 * "creating", crun's "created" with its extra "root" key, poststop states
 * without a pid (or with pid 0, as crun writes). Unknown keys are ignored.
 * Annotations come from the state or, where it has none, from
 * <bundle>/config.json.
 *
 * Pure parsing over buffers, so unit tests and the fuzzer link it alone;
 * the only I/O is oci_read_bounded() and oci_state_load_bundle_annotations().
 */

#include <stddef.h>
#include <sys/types.h>

/* The state on stdin is tiny; more than this is refused (-EFBIG). */
#define OCI_STATE_MAX_BYTES (1024 * 1024)
/* config.json carries the whole spec, so it may be larger. */
#define OCI_CONFIG_MAX_BYTES (8 * 1024 * 1024)

/* A human-readable reason for a failure, filled by the parsers. */
typedef struct HookError {
	char msg[512];
} HookError;

void hook_error_set(HookError *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Annotations: a NULL-terminated list of key, value, key, value, ... */
typedef struct OciState {
	char *id;
	char *status; /* may be NULL: some runtimes leave it out at poststop */
	pid_t pid;    /* 0 when absent or 0 (poststop) */
	char *bundle; /* may be NULL */
	char **annotations;
	int has_annotations; /* the state carried an "annotations" object */
} OciState;

void oci_state_free(OciState *s);
static inline void oci_state_freep(OciState **s)
{
	if (*s)
		oci_state_free(*s);
}
#define _cleanup_oci_state_ __attribute__((cleanup(oci_state_freep)))

/* Parse a state document of size bytes (need not be NUL-terminated).
 * -EINVAL with a reason in *err for anything that is not a usable state:
 * not JSON, not an object, no string "id", a pid that is not a
 * non-negative integer, annotations that are not strings. */
int oci_state_parse(const char *buf, size_t size, OciState **ret, HookError *err);

/* The "annotations" object of a config.json (OCI spec) document; an empty
 * list when it has none. */
int oci_config_parse_annotations(const char *buf, size_t size, char ***ret, HookError *err);

/* When the state has no annotations, read them from <bundle>/config.json.
 * A no-op when it has them. config.json must be a regular file (-EBADFD
 * otherwise: a FIFO is never waited for) of at most OCI_CONFIG_MAX_BYTES
 * (-EFBIG). */
int oci_state_load_bundle_annotations(OciState *s, HookError *err);

/* Read fd to EOF, at most max bytes: -EFBIG past that. The result is
 * NUL-terminated. Returns -EINTR when interrupted (the caller's deadline). */
int oci_read_bounded(int fd, size_t max, char **ret, size_t *ret_size);

/* Look a key up in an annotation list; NULL when absent. */
const char *annotations_get(char *const *annotations, const char *key);
size_t annotations_count(char *const *annotations);
