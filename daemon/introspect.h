/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

/* `pagemeldd --bus-introspect`: the io.pagemeld1.* interfaces exactly as the
 * vtables define them, introspected over a private peer-to-peer connection
 * (no bus, no root needed). */
int introspect_print(FILE *out);
