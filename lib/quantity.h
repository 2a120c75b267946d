/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The longest quantity accepted, in bytes: every byte count has a form far
 * shorter ("18446744073709551615" is 20), and a tenant's 200 KiB of leading
 * zeros must not be read, logged or stored. */
#define QUANTITY_MAX_LEN 64

/* Kubernetes resource quantities as bytes: "512Mi", "1G", "1.5Gi", "100k",
 * "1e9", plain "4096". Fractions round up, as Kubernetes' Value() does.
 * Garbage (and "m" millis, meaningless for bytes) -> -EINVAL;
 * negatives and values past UINT64_MAX -> -ERANGE; longer than
 * QUANTITY_MAX_LEN -> -E2BIG (before anything else is looked at). */
int parse_quantity(const char *s, uint64_t *ret);

/* "1.5 GiB", "512 KiB", "17 B" into buf; returns buf. */
const char *format_bytes(char *buf, size_t size, uint64_t bytes);
#define FORMAT_BYTES_MAX 32
