/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The containers the OCI runtimes on this node have started, opted in or
 * not, read from the runtimes' own state directories: pagemeldd knows only
 * the containers the hook handed it, and `pagemeldctl estimate --namespace`
 * must also find the others of a pod namespace.
 *
 * A state root holds one directory per container:
 *   runc  <root>/<id>/state.json   init_process_pid, init_process_start,
 *                                  config.labels "bundle=<dir>"
 *   crun  <root>/<id>/status       pid, bundle
 * and the bundle's config.json holds the annotations the runtime was given,
 * from which lib/pod-identity reads the pod's identity (the same rules as
 * the hook and pagemeldd: only keys the container engine writes itself).
 * Roots: CTL_RUNTIME_ROOTS_DEFAULT (runc, crun, containerd's runc shims per
 * containerd namespace), or $PAGEMELD_RUNTIME_ROOTS (colon-separated).
 * The state directories are root's (0700): others get -EACCES.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "pod-identity.h"

/* '*' as the last component: every directory below (containerd keeps one
 * runc root per containerd namespace: k8s.io, moby, ...). */
#define CTL_RUNTIME_ROOTS_DEFAULT "/run/runc:/run/crun:/run/containerd/runc/*"

typedef struct CtlRuntimeContainer {
	char *id;
	pid_t pid;	      /* the container's init, in sysroot's /proc */
	bool sandbox;	      /* the pod sandbox (pause): never merged */
	PodIdentity identity; /* runtime POD_RUNTIME_NONE without pod keys */
} CtlRuntimeContainer;

void ctl_runtime_containers_free(CtlRuntimeContainer *c, size_t n);

/* Every running container under the roots (a colon-separated list, each
 * prefixed with sysroot, "" for the real root). A root that does not exist
 * is skipped; a container whose state or bundle cannot be parsed, whose
 * identity keys are invalid, or whose init is gone or has been replaced (a
 * runc init_process_start that differs from /proc's) is skipped: the
 * runtime's state outlives its processes. -EACCES when a root exists but
 * may not be read; -ENOMEM. *ret and *ret_n are written only on success. */
int ctl_runtime_containers(const char *sysroot, const char *roots, CtlRuntimeContainer **ret, size_t *ret_n);
