/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sd-dlopen.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "macro.h"

typeof(sd_bus_call) *sym_sd_bus_call;
typeof(sd_bus_error_free) *sym_sd_bus_error_free;
typeof(sd_bus_error_has_name) *sym_sd_bus_error_has_name;
typeof(sd_bus_error_is_set) *sym_sd_bus_error_is_set;
typeof(sd_bus_flush_close_unref) *sym_sd_bus_flush_close_unref;
typeof(sd_bus_message_append) *sym_sd_bus_message_append;
typeof(sd_bus_message_close_container) *sym_sd_bus_message_close_container;
typeof(sd_bus_message_new_method_call) *sym_sd_bus_message_new_method_call;
typeof(sd_bus_message_open_container) *sym_sd_bus_message_open_container;
typeof(sd_bus_message_read) *sym_sd_bus_message_read;
typeof(sd_bus_message_unref) *sym_sd_bus_message_unref;
typeof(sd_bus_negotiate_fds) *sym_sd_bus_negotiate_fds;
typeof(sd_bus_new) *sym_sd_bus_new;
typeof(sd_bus_set_address) *sym_sd_bus_set_address;
typeof(sd_bus_set_bus_client) *sym_sd_bus_set_bus_client;
typeof(sd_bus_set_description) *sym_sd_bus_set_description;
typeof(sd_bus_set_method_call_timeout) *sym_sd_bus_set_method_call_timeout;
typeof(sd_bus_start) *sym_sd_bus_start;
typeof(sd_journal_send) *sym_sd_journal_send;

#define SYM(name)                           \
	{                                   \
		(void **)&sym_##name, #name \
	}

static const struct {
	void **ptr;
	const char *name;
} symbols[] = {
	SYM(sd_bus_call),
	SYM(sd_bus_error_free),
	SYM(sd_bus_error_has_name),
	SYM(sd_bus_error_is_set),
	SYM(sd_bus_flush_close_unref),
	SYM(sd_bus_message_append),
	SYM(sd_bus_message_close_container),
	SYM(sd_bus_message_new_method_call),
	SYM(sd_bus_message_open_container),
	SYM(sd_bus_message_read),
	SYM(sd_bus_message_unref),
	SYM(sd_bus_negotiate_fds),
	SYM(sd_bus_new),
	SYM(sd_bus_set_address),
	SYM(sd_bus_set_bus_client),
	SYM(sd_bus_set_description),
	SYM(sd_bus_set_method_call_timeout),
	SYM(sd_bus_start),
	SYM(sd_journal_send),
};

static int load_result = 1; /* 1: not tried yet */
static char load_error[512];

static void unresolve(void)
{
	for (size_t i = 0; i < ELEMENTSOF(symbols); i++)
		*symbols[i].ptr = NULL;
}

int dlopen_libsystemd(const char **ret_error)
{
	void *dl;

	if (load_result <= 0)
		goto done;

	/* RTLD_NOW: a missing symbol of libsystemd's own fails here, not in
	 * the middle of a call; RTLD_LOCAL: nothing leaks into our namespace. */
	dl = dlopen(LIBSYSTEMD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(load_error, sizeof(load_error), "cannot load " LIBSYSTEMD_SONAME ": %s", dlerror());
		load_result = -EOPNOTSUPP;
		goto done;
	}
	for (size_t i = 0; i < ELEMENTSOF(symbols); i++) {
		(void)dlerror();
		*symbols[i].ptr = dlsym(dl, symbols[i].name);
		if (!*symbols[i].ptr) {
			const char *e = dlerror();
			snprintf(load_error, sizeof(load_error), "cannot load " LIBSYSTEMD_SONAME ": %s",
				 e ?: symbols[i].name);
			unresolve();
			(void)dlclose(dl);
			load_result = -EOPNOTSUPP;
			goto done;
		}
	}
	load_result = 0; /* kept loaded until exit */
done:
	if (load_result < 0 && ret_error)
		*ret_error = load_error;
	return load_result;
}
