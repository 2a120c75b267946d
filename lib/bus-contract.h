/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/*
 * The D-Bus contract of pagemeldd, shared by the daemon, pagemeldctl and the
 * OCI hook: bus name, object paths, interfaces, the io.pagemeld1.Error.*
 * names pagemeldd sends, and the one sorting of D-Bus errors into the kinds
 * the clients' exit codes are made of. Plain strings and a pure function, no
 * sd-bus: the hook includes it without loading libsystemd.
 *
 * api/io.pagemeld1.Manager.xml documents every error below;
 * scripts/check-bus-contract.sh fails when one is not sent by daemon/ or not
 * documented there, and when code spells an io.pagemeld1.Error name that is
 * not here.
 */

#define PAGEMELD_BUS_NAME "io.pagemeld1"
#define PAGEMELD_MANAGER_PATH "/io/pagemeld1"
#define PAGEMELD_MANAGER_INTERFACE "io.pagemeld1.Manager"
#define PAGEMELD_CGROUP_PREFIX "/io/pagemeld1/cgroup"
#define PAGEMELD_CGROUP_INTERFACE "io.pagemeld1.Cgroup"

/* RegisterContainer's annotations (the hook socket's too): a key longer
 * than Kubernetes allows (a 253-byte DNS prefix, '/', a 63-byte name), or a
 * value longer than PAGEMELD_ANNOTATION_VALUE_MAX of a key pagemeldd reads
 * (its own, the runtime's identity keys), is refused with
 * Error.InvalidAnnotation naming the key. Other keys' values are not read,
 * and not kept. */
#define PAGEMELD_ANNOTATION_KEY_MAX 317
#define PAGEMELD_ANNOTATION_VALUE_MAX 1024

#define PM_ERROR_PREFIX "io.pagemeld1.Error."
#define PM_ERROR(name) PM_ERROR_PREFIX name
#define PM_ERROR_ACCESS_DENIED PM_ERROR("AccessDenied")
#define PM_ERROR_INVALID_ANNOTATION PM_ERROR("InvalidAnnotation")
#define PM_ERROR_PROCESS_GONE PM_ERROR("ProcessGone")
#define PM_ERROR_FORBIDDEN_PROCESS PM_ERROR("ForbiddenProcess")
#define PM_ERROR_NOT_OPTED_IN PM_ERROR("NotOptedIn")
#define PM_ERROR_NO_SUCH_CONTAINER PM_ERROR("NoSuchContainer")
#define PM_ERROR_NO_SUCH_CGROUP PM_ERROR("NoSuchCgroup")
#define PM_ERROR_NO_CGROUP_V2 PM_ERROR("NoCgroupV2")
#define PM_ERROR_REMOTE_FAILED PM_ERROR("RemoteFailed")
#define PM_ERROR_KERNEL_REFUSED PM_ERROR("KernelRefused")
#define PM_ERROR_BUSY PM_ERROR("Busy")
#define PM_ERROR_INSUFFICIENT_HEADROOM PM_ERROR("InsufficientHeadroom")
#define PM_ERROR_NO_MEMORY_CONTROLLER PM_ERROR("NoMemoryController")
#define PM_ERROR_TRUST_DOMAIN_CONFLICT PM_ERROR("TrustDomainConflict")
#define PM_ERROR_INVALID_REQUEST PM_ERROR("InvalidRequest")

/* SetMergeAcrossNodesWithFlags(b, t flags): unmerge even when the node or
 * a managed cgroup cannot take the copies back (UnmergeAll(true)'s force). */
#define PAGEMELD_MERGE_ACROSS_NODES_FORCE UINT64_C(1)
#define PAGEMELD_MERGE_ACROSS_NODES_FLAGS_ALL PAGEMELD_MERGE_ACROSS_NODES_FORCE

/* What a failed call means to a client. Each client maps a kind to its own
 * documented exit code (pagemeldctl(1), pagemeld-oci-hook(1)). */
typedef enum BusErrorKind {
	BUS_ERROR_OTHER,	   /* any other error, and names outside the contract */
	BUS_ERROR_NOT_RUNNING,	   /* the bus is up, io.pagemeld1 has no owner */
	BUS_ERROR_UNREACHABLE,	   /* no bus, or the connection broke */
	BUS_ERROR_TIMEOUT,	   /* no answer in time */
	BUS_ERROR_ACCESS_DENIED,   /* the bus policy or pagemeldd said no */
	BUS_ERROR_NOT_IMPLEMENTED, /* this pagemeldd lacks the method */
	BUS_ERROR_REFUSED,	   /* a valid request pagemeldd declines now (headroom, busy, policy) */
	BUS_ERROR_NOT_FOUND,	   /* the cgroup or container named is not managed */
	BUS_ERROR_INVALID_ARGS,	   /* a malformed argument */
	_BUS_ERROR_KIND_MAX,
} BusErrorKind;

/* error_name: the D-Bus error's name, NULL for a local failure; error: the
 * negative errno of the failed call. sd-bus's System.Error.<ERRNO> names
 * are local failures too, sorted by error. */
BusErrorKind bus_error_classify(const char *error_name, int error);
