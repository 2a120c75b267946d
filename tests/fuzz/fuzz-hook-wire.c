/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the hook socket's request and reply decoders, fed what
 * any root process could send to pagemeldd's hook socket. A request that
 * decodes must encode back to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "hook-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char again[HOOK_WIRE_MAX];
	HookRequest r = {};
	const char *why = NULL;
	if (hook_wire_decode_request((const char *)data, size, &r, &why) == 0) {
		size_t len;
		check(hook_wire_encode_request(r.id, (char *const *)r.annotations, again, sizeof(again),
					       &len) == 0);
		check(len == size && memcmp(again, data, size) == 0);
		hook_request_done(&r);
	} else
		check(why && !r.id);

	HookReply rep;
	if (hook_wire_decode_reply((const char *)data, size, &rep) == 0)
		check(rep.ok ? rep.object_path != NULL : rep.error_name && rep.message);
	return 0;
}
