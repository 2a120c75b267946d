/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* io.pagemeld1.Error.* names; documented in api/io.pagemeld1.Manager.xml. */
#define PM_ERROR(name) "io.pagemeld1.Error." name
#define PM_ERROR_ACCESS_DENIED PM_ERROR("AccessDenied")
#define PM_ERROR_NOT_IMPLEMENTED PM_ERROR("NotImplemented")
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
