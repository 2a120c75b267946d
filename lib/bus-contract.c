/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-contract.h"

#include <errno.h>
#include <stdlib.h>

#include "macro.h"

#define FDO_ERROR(name) "org.freedesktop.DBus.Error." name

/* pagemeldd's own errors: every one it sends, and nothing else, so a name
 * the daemon never sends cannot slip into a kind. */
static const struct {
	const char *name;
	BusErrorKind kind;
} table[] = {
	{PM_ERROR_ACCESS_DENIED, BUS_ERROR_ACCESS_DENIED},
	{PM_ERROR_INVALID_ANNOTATION, BUS_ERROR_OTHER},
	{PM_ERROR_PROCESS_GONE, BUS_ERROR_OTHER},
	{PM_ERROR_FORBIDDEN_PROCESS, BUS_ERROR_OTHER},
	{PM_ERROR_NOT_OPTED_IN, BUS_ERROR_OTHER},
	{PM_ERROR_NO_SUCH_CONTAINER, BUS_ERROR_NOT_FOUND},
	{PM_ERROR_NO_SUCH_CGROUP, BUS_ERROR_NOT_FOUND},
	{PM_ERROR_NO_CGROUP_V2, BUS_ERROR_OTHER},
	{PM_ERROR_REMOTE_FAILED, BUS_ERROR_OTHER},
	{PM_ERROR_KERNEL_REFUSED, BUS_ERROR_OTHER},
	{PM_ERROR_BUSY, BUS_ERROR_REFUSED},
	{PM_ERROR_INSUFFICIENT_HEADROOM, BUS_ERROR_REFUSED},
	{PM_ERROR_NO_MEMORY_CONTROLLER, BUS_ERROR_REFUSED},
	{PM_ERROR_TRUST_DOMAIN_CONFLICT, BUS_ERROR_REFUSED},
	{PM_ERROR_INVALID_REQUEST, BUS_ERROR_INVALID_ARGS},

	/* the bus's, and the activator's */
	{FDO_ERROR("ServiceUnknown"), BUS_ERROR_NOT_RUNNING},
	{FDO_ERROR("NameHasNoOwner"), BUS_ERROR_NOT_RUNNING},
	{FDO_ERROR("Disconnected"), BUS_ERROR_UNREACHABLE},
	{FDO_ERROR("NoServer"), BUS_ERROR_UNREACHABLE},
	{FDO_ERROR("NoReply"), BUS_ERROR_TIMEOUT},
	{FDO_ERROR("Timeout"), BUS_ERROR_TIMEOUT},
	{FDO_ERROR("AccessDenied"), BUS_ERROR_ACCESS_DENIED},
	{FDO_ERROR("AuthFailed"), BUS_ERROR_ACCESS_DENIED},
	{FDO_ERROR("InteractiveAuthorizationRequired"), BUS_ERROR_ACCESS_DENIED},
	{FDO_ERROR("NotSupported"), BUS_ERROR_NOT_IMPLEMENTED},
	{FDO_ERROR("UnknownMethod"), BUS_ERROR_NOT_IMPLEMENTED},
	{FDO_ERROR("UnknownObject"), BUS_ERROR_NOT_FOUND},
	{FDO_ERROR("InvalidArgs"), BUS_ERROR_INVALID_ARGS},
};

static BusErrorKind classify_errno(int error)
{
	switch (abs(error)) {
	case ETIMEDOUT:
		return BUS_ERROR_TIMEOUT;
	case ENOENT:
	case ECONNREFUSED:
	case ENOTCONN:
	case ECONNRESET:
	case EHOSTDOWN:
	case EPIPE:
	case EINTR:
		return BUS_ERROR_UNREACHABLE;
	case EACCES:
	case EPERM:
		return BUS_ERROR_ACCESS_DENIED;
	default:
		return BUS_ERROR_OTHER;
	}
}

BusErrorKind bus_error_classify(const char *error_name, int error)
{
	if (!error_name || startswith(error_name, "System.Error."))
		return classify_errno(error);
	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		if (streq(error_name, table[i].name))
			return table[i].kind;
	/* D-Bus activation of a pagemeldd that cannot start */
	if (startswith(error_name, FDO_ERROR("Spawn.")) ||
	    startswith(error_name, "org.freedesktop.systemd1."))
		return BUS_ERROR_NOT_RUNNING;
	return BUS_ERROR_OTHER;
}
