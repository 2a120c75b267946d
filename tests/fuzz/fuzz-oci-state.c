/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: the OCI state parser and the annotation decision of
 * pagemeld-oci-hook, fed what a runtime could write on the hook's stdin.
 * Also runs the same bytes through the config.json annotation reader, and
 * the parsed annotations through the pod identity reader.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "decide.h"
#include "macro.h"
#include "oci-state.h"
#include "pod-identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	OciState *s = NULL;
	HookError err = {};
	char **l = NULL;

	if (size > OCI_STATE_MAX_BYTES)
		return 0;

	if (oci_config_parse_annotations((const char *)data, size, &l, &err) == 0) {
		check(annotations_count(l) < size);
		strv_free(l);
		l = NULL;
	}

	if (oci_state_parse((const char *)data, size, &s, &err) < 0) {
		check(s == NULL);
		check(err.msg[0] != '\0');
		return 0;
	}
	check(s->id && s->id[0]);
	check(s->pid >= 0);
	check(s->annotations);

	PodIdentity id = {};
	const char *bad = NULL;
	int r = pod_identity_from_annotations(s->annotations, annotations_count(s->annotations), &id, &bad);
	if (r == 0) {
		check(pod_runtime_to_string(id.runtime));
		check(!id.pod_namespace || kube_label_name_valid(id.pod_namespace));
		check(!id.container_name || kube_label_name_valid(id.container_name));
		check(!id.pod_name || kube_subdomain_name_valid(id.pod_name));
		check(id.runtime != POD_RUNTIME_NONE || (!id.pod_namespace && !id.pod_uid));
		pod_identity_done(&id);
	} else
		check(bad && (r == -EBADMSG || r == -EINVAL || r == -ENOMEM));

	HookDecision d = {};
	if (hook_decide(s->annotations, s->status, &d, &err) == 0) {
		check(d.verdict >= 0 && d.verdict < _HOOK_VERDICT_MAX);
		check(hook_verdict_to_string(d.verdict));
		if (hook_daemon_annotations(s->annotations, &d, &l) == 0) {
			const char *m = annotations_get(l, MERGE_ANNOTATION);
			check(m && (streq(m, "true") || streq(m, "false")));
			check(streq(m, "true") == (d.verdict == HOOK_VERDICT_MERGE));
			strv_free(l);
		}
		hook_decision_done(&d);
	} else
		check(err.msg[0] != '\0');

	oci_state_free(s);
	return 0;
}
