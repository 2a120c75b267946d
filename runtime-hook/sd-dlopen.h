/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libsystemd, loaded only when the hook needs it (the bus, the journal):
 * linking it costs every run of the hook ~0.6 ms of loading libsystemd.so.0
 * and its own libraries (libgcrypt, liblzma, libzstd, liblz4, libcap...),
 * also when the container does not opt in. The pattern of systemd's own
 * optional libraries: the hook compiles against libsystemd's headers and
 * calls through sym_* pointers resolved by dlopen_libsystemd(). */

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>

#include "macro.h"

#define LIBSYSTEMD_SONAME "libsystemd.so.0"

extern typeof(sd_bus_call) *sym_sd_bus_call;
extern typeof(sd_bus_error_free) *sym_sd_bus_error_free;
extern typeof(sd_bus_error_has_name) *sym_sd_bus_error_has_name;
extern typeof(sd_bus_error_is_set) *sym_sd_bus_error_is_set;
extern typeof(sd_bus_flush_close_unref) *sym_sd_bus_flush_close_unref;
extern typeof(sd_bus_message_append) *sym_sd_bus_message_append;
extern typeof(sd_bus_message_close_container) *sym_sd_bus_message_close_container;
extern typeof(sd_bus_message_new_method_call) *sym_sd_bus_message_new_method_call;
extern typeof(sd_bus_message_open_container) *sym_sd_bus_message_open_container;
extern typeof(sd_bus_message_read) *sym_sd_bus_message_read;
extern typeof(sd_bus_message_unref) *sym_sd_bus_message_unref;
extern typeof(sd_bus_negotiate_fds) *sym_sd_bus_negotiate_fds;
extern typeof(sd_bus_new) *sym_sd_bus_new;
extern typeof(sd_bus_set_address) *sym_sd_bus_set_address;
extern typeof(sd_bus_set_bus_client) *sym_sd_bus_set_bus_client;
extern typeof(sd_bus_set_description) *sym_sd_bus_set_description;
extern typeof(sd_bus_set_method_call_timeout) *sym_sd_bus_set_method_call_timeout;
extern typeof(sd_bus_start) *sym_sd_bus_start;
extern typeof(sd_journal_send) *sym_sd_journal_send;

/* dlopen() libsystemd.so.0 (once; later calls return the first result) and
 * resolve every sym_* above. 0 on success; -EOPNOTSUPP when the library or
 * a symbol is missing, with *ret_error (if not NULL) pointing at a static
 * sentence "cannot load libsystemd.so.0: <dlerror>". */
int dlopen_libsystemd(const char **ret_error);

/* For _cleanup_(): they do nothing on NULL, so also when nothing was
 * loaded. */
DEFINE_TRIVIAL_CLEANUP_FUNC(sd_bus *, sym_sd_bus_flush_close_unref)
DEFINE_TRIVIAL_CLEANUP_FUNC(sd_bus_message *, sym_sd_bus_message_unref)

static inline void sym_sd_bus_error_freep(sd_bus_error *e)
{
	if (sym_sd_bus_error_free)
		sym_sd_bus_error_free(e);
}
