/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Who a container is, in Kubernetes terms, read from its OCI annotations:
 * pod namespace, pod name, pod uid and container name. Only keys that the
 * runtime writes itself AFTER copying the pod's annotations are read, so a
 * pod cannot name itself into another namespace:
 *   containerd (CRI)   io.kubernetes.cri.sandbox-namespace, -sandbox-name,
 *                      -sandbox-uid, io.kubernetes.cri.container-name
 *                      (set after the pod_annotations pass-through)
 *   CRI-O              io.kubernetes.pod.namespace, io.kubernetes.pod.name,
 *                      io.kubernetes.pod.uid, io.kubernetes.container.name
 *                      (the kubelet's labels, written after the pod's
 *                      annotations), and io.container.manager = "cri-o"
 *   podman             io.container.manager = "libpod"; kube play writes
 *                      no pod or container name, namespace or uid at all
 *                      (4.3 to 5.8), so those stay NULL
 * Each runtime's keys identify it. Keys of two runtimes at once can only
 * come from a pod imitating another runtime: that is an error, never a
 * guess. No key of any runtime (plain runc, crun, `podman run` without
 * libpod's key) is POD_RUNTIME_NONE with every field NULL.
 *
 * Pure: no I/O, no logging. Shared by the hook (what it forwards) and
 * pagemeldd (identity, and the namespace that trust domains derive from).
 */

#include <stdbool.h>
#include <stddef.h>

typedef enum PodRuntime {
	POD_RUNTIME_NONE,
	POD_RUNTIME_CONTAINERD,
	POD_RUNTIME_CRIO,
	POD_RUNTIME_PODMAN,
	_POD_RUNTIME_MAX,
} PodRuntime;

typedef struct PodIdentity {
	PodRuntime runtime;
	/* NULL when the runtime did not set the key, or set it empty */
	char *pod_namespace;  /* DNS-1123 label */
	char *pod_name;	      /* DNS-1123 subdomain */
	char *pod_uid;	      /* 1..128 of [A-Za-z0-9._-] (a UUID from the kubelet) */
	char *container_name; /* DNS-1123 label */
} PodIdentity;

/* kv is a flat array of n (key, value) pairs, i.e. 2*n strings.
 * -EBADMSG when keys of more than one runtime are present, or one of the
 * keys read here appears twice; -EINVAL for a value that is not a valid
 * Kubernetes name. In both cases *ret_bad_key (when non-NULL) points at the
 * offending key inside kv. -ENOMEM on OOM. *ret is written only on
 * success; release it with pod_identity_done(). */
int pod_identity_from_annotations(char *const *kv, size_t n, PodIdentity *ret, const char **ret_bad_key);
void pod_identity_done(PodIdentity *id);

/* Whether pod_identity_from_annotations() reads this key: what the hook
 * forwards to pagemeldd, which applies the same rules again. */
bool pod_identity_key(const char *key);

/* "none", "containerd", "cri-o", "podman"; NULL when out of range */
const char *pod_runtime_to_string(PodRuntime r);

/* Kubernetes' DNS-1123 label (namespaces, container names): 1..63 of
 * [a-z0-9-], starting and ending alphanumeric. */
bool kube_label_name_valid(const char *s);
/* DNS-1123 subdomain (pod names): 1..253 of [a-z0-9.-], each dot-separated
 * part starting and ending alphanumeric. */
bool kube_subdomain_name_valid(const char *s);
