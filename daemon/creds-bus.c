/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "creds-bus.h"

#include <string.h>

#include "errors.h"
#include "macro.h"

int bus_sender_uid(sd_bus_message *msg, uid_t *ret_uid, sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	uid_t uid;
	int r;

	if (!msg)
		return sd_bus_error_set(error, PM_ERROR_ACCESS_DENIED, "No caller to check");
	r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID, &creds);
	if (r >= 0) {
		r = sd_bus_creds_get_euid(creds, &uid);
		if (r < 0)
			r = sd_bus_creds_get_uid(creds, &uid);
	}
	if (r < 0)
		return sd_bus_error_setf(error, PM_ERROR_ACCESS_DENIED, "Cannot identify the caller: %s",
					 strerror(-r));
	*ret_uid = uid;
	return 0;
}
