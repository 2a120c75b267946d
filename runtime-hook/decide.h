/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Which containers merge (DESIGN.md "Names"): merge.pagemeld.io at pod level,
 * overridden by merge.pagemeld.io/<container>. The container's name comes
 * from io.kubernetes.container.name, io.kubernetes.cri.container-name
 * (containerd) or io.kubernetes.cri-o.ContainerName (CRI-O, which may write
 * its full "k8s_<name>_<pod>_<namespace>_<uid>_<attempt>" form). The pod
 * sandbox (pause) container never merges. Values are exactly "true" or
 * "false"; anything else is an error that names the key.
 *
 * Pure: no I/O, no daemon state.
 */

#include <stdbool.h>
#include <stddef.h>

#include "oci-state.h"

#define MERGE_ANNOTATION "merge.pagemeld.io"
#define PAGEMELD_ANNOTATION_DOMAIN ".pagemeld.io"

typedef enum HookVerdict {
	HOOK_VERDICT_NOT_ASKED, /* no merge.pagemeld.io annotation applies */
	HOOK_VERDICT_SANDBOX,	/* the pod sandbox: never merged */
	HOOK_VERDICT_OPTED_OUT, /* "false" at pod level or for this container */
	HOOK_VERDICT_MERGE,	/* "true" */
	_HOOK_VERDICT_MAX,
} HookVerdict;

const char *hook_verdict_to_string(HookVerdict v);

typedef struct HookDecision {
	HookVerdict verdict;
	/* The key the verdict came from (points into the annotations), NULL
	 * when none applied. */
	const char *decided_by;
	/* The container's Kubernetes name when one was found, malloc'd. */
	char *container_name;
	/* No name annotation: the override was matched on runtime_name. */
	bool matched_runtime_name;
} HookDecision;

void hook_decision_done(HookDecision *d);

/* runtime_name: the container's name as its engine knows it, for engines
 * that write no Kubernetes name annotation (podman kube play names
 * containers "<pod>-<container>"); NULL when unknown. It is used only when
 * no name annotation exists: merge.pagemeld.io/<c> then applies when it
 * equals <c> or ends with "-<c>", the longest such <c> winning. */
int hook_decide(char *const *annotations, const char *runtime_name, HookDecision *ret, HookError *err);

/* Whether any merge.pagemeld.io/<container> key is present. */
bool annotations_have_container_override(char *const *annotations);

/* The annotations to hand to the daemon: every *.pagemeld.io key except the
 * per-container merge overrides, with merge.pagemeld.io set to the verdict
 * ("true"/"false"). Same list layout as OciState.annotations. */
int hook_daemon_annotations(char *const *annotations, const HookDecision *d, char ***ret);

/* Whether the annotations to hand to the daemon fit pagemeldd's sizes
 * (PAGEMELD_ANNOTATION_*_MAX of bus-contract.h): -E2BIG with err naming
 * the key otherwise, which pagemeldd would refuse anyway, and a request
 * that large would not even reach it with a reason. */
int hook_check_annotation_sizes(char *const *annotations, HookError *err);

/* The container name out of a CRI-O "k8s_<name>_<pod>_..." name, or the
 * value itself when it has not that form. malloc'd. */
char *container_name_from_cri(const char *value);
