/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Kubernetes resource quantities as bytes: "512Mi", "1G", "1.5Gi", "100k",
 * "1e9", plain "4096". Fractions round up, as Kubernetes' Value() does.
 * Garbage (and "m" millis, meaningless for bytes) -> -EINVAL;
 * negatives and values past UINT64_MAX -> -ERANGE. */
int parse_quantity(const char *s, uint64_t *ret);

/* "1.5 GiB", "512 KiB", "17 B" into buf; returns buf. */
const char *format_bytes(char *buf, size_t size, uint64_t bytes);
#define FORMAT_BYTES_MAX 32
