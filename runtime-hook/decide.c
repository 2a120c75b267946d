/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "decide.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-contract.h"
#include "macro.h"
#include "pod-identity.h"

static const char *const verdict_names[_HOOK_VERDICT_MAX] = {
	[HOOK_VERDICT_NOT_ASKED] = "not-asked",
	[HOOK_VERDICT_SANDBOX] = "sandbox",
	[HOOK_VERDICT_OPTED_OUT] = "opted-out",
	[HOOK_VERDICT_MERGE] = "merge",
};

const char *hook_verdict_to_string(HookVerdict v)
{
	if ((unsigned)v >= _HOOK_VERDICT_MAX)
		return NULL;
	return verdict_names[v];
}

void hook_decision_done(HookDecision *d)
{
	if (!d)
		return;
	free(d->container_name);
	d->container_name = NULL;
}

/* Where container runtimes write the container's name, in order of trust. */
static const char *const name_keys[] = {
	"io.kubernetes.container.name",
	"io.kubernetes.cri.container-name",
	"io.kubernetes.cri-o.ContainerName",
};

/* Where they say "this is the pod sandbox". */
static const char *const type_keys[] = {
	"io.kubernetes.cri-o.ContainerType",
	"io.kubernetes.cri.container-type",
};

char *container_name_from_cri(const char *value)
{
	/* Kubernetes names are DNS labels (no '_'), so the first field after
	 * "k8s_" is the container's name. */
	const char *p = startswith(value, "k8s_");
	if (p) {
		const char *end = strchr(p, '_');
		if (end && end > p)
			return strndup(p, (size_t)(end - p));
	}
	return strdup(value);
}

static int parse_bool_value(const char *key, const char *value, bool *ret, HookError *err)
{
	if (streq(value, "true"))
		*ret = true;
	else if (streq(value, "false"))
		*ret = false;
	else {
		hook_error_set(err,
			       "annotation %s has invalid value \"%.64s\": must be \"true\" or \"false\"",
			       key, value);
		return -EINVAL;
	}
	return 0;
}

/* podman: "<pod>-<container>" or a plain name. */
static size_t runtime_name_matches(const char *runtime_name, const char *container)
{
	size_t n = strlen(runtime_name), c = strlen(container);
	if (streq(runtime_name, container))
		return c;
	if (n > c + 1 && runtime_name[n - c - 1] == '-' && streq(runtime_name + n - c, container))
		return c;
	return 0;
}

bool annotations_have_container_override(char *const *annotations)
{
	for (char *const *i = annotations; i && i[0] && i[1]; i += 2) {
		const char *suffix = startswith(i[0], MERGE_ANNOTATION);
		if (suffix && suffix[0] == '/')
			return true;
	}
	return false;
}

int hook_decide(char *const *annotations, const char *runtime_name, HookDecision *ret, HookError *err)
{
	size_t best = 0;
	_cleanup_free_ char *name = NULL;
	const char *pod_key = NULL, *ctr_key = NULL;
	bool pod = false, ctr = false, sandbox = false;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(type_keys); i++) {
		const char *t = annotations_get(annotations, type_keys[i]);
		if (t && streq(t, "sandbox"))
			sandbox = true;
	}

	for (size_t i = 0; i < ELEMENTSOF(name_keys) && !name; i++) {
		const char *v = annotations_get(annotations, name_keys[i]);
		if (v && v[0]) {
			name = container_name_from_cri(v);
			if (!name)
				return -ENOMEM;
		}
	}

	/* Every merge key is checked, whichever container it names: a typo
	 * in a pod's annotations shows on the first container, not never. */
	for (char *const *i = annotations; i && i[0] && i[1]; i += 2) {
		const char *key = i[0], *suffix = startswith(key, MERGE_ANNOTATION);
		bool b;

		if (!suffix || (suffix[0] != '\0' && suffix[0] != '/'))
			continue;
		if (streq(suffix, "/")) {
			hook_error_set(err, "annotation %s names no container", key);
			return -EINVAL;
		}
		r = parse_bool_value(key, i[1], &b, err);
		if (r < 0)
			return r;
		if (suffix[0] == '\0') {
			pod_key = key;
			pod = b;
		} else if (name) {
			if (streq(suffix + 1, name)) {
				ctr_key = key;
				ctr = b;
			}
		} else if (runtime_name) {
			size_t m = runtime_name_matches(runtime_name, suffix + 1);
			if (m > best) {
				best = m;
				ctr_key = key;
				ctr = b;
			}
		}
	}

	HookDecision d = {};
	if (sandbox) {
		d.verdict = HOOK_VERDICT_SANDBOX;
	} else if (ctr_key) {
		d.verdict = ctr ? HOOK_VERDICT_MERGE : HOOK_VERDICT_OPTED_OUT;
		d.decided_by = ctr_key;
	} else if (pod_key) {
		d.verdict = pod ? HOOK_VERDICT_MERGE : HOOK_VERDICT_OPTED_OUT;
		d.decided_by = pod_key;
	} else
		d.verdict = HOOK_VERDICT_NOT_ASKED;
	d.matched_runtime_name = !name && ctr_key;
	d.container_name = TAKE_PTR(name);
	*ret = d;
	return 0;
}

static bool is_pagemeld_key(const char *key)
{
	const char *dom = strstr(key, PAGEMELD_ANNOTATION_DOMAIN);
	if (!dom || dom == key)
		return false;
	dom += STRLEN(PAGEMELD_ANNOTATION_DOMAIN);
	return dom[0] == '\0' || dom[0] == '/';
}

int hook_daemon_annotations(char *const *annotations, const HookDecision *d, char ***ret)
{
	size_t n = annotations_count(annotations), k = 0;
	_cleanup_strv_free_ char **l = calloc(2 * (n + 1) + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;

	/* The runtime's identity keys go along raw, all of them: pagemeldd
	 * applies pod-identity's rules itself, and the trust domain comes from
	 * them. Dropping the keys of a pod imitating another runtime would hand
	 * pagemeldd a container without namespace, which belongs to the
	 * no-namespace domain; with them, it is refused a domain. */
	for (char *const *i = annotations; i && i[0] && i[1]; i += 2) {
		/* the merge keys are replaced by the verdict */
		bool ours = is_pagemeld_key(i[0]) && !startswith(i[0], MERGE_ANNOTATION);
		if (!ours && !pod_identity_key(i[0]))
			continue;
		l[k] = strdup(i[0]);
		l[k + 1] = strdup(i[1]);
		if (!l[k] || !l[k + 1])
			return -ENOMEM;
		k += 2;
	}
	l[k] = strdup(MERGE_ANNOTATION);
	l[k + 1] = strdup(d->verdict == HOOK_VERDICT_MERGE ? "true" : "false");
	if (!l[k] || !l[k + 1])
		return -ENOMEM;

	*ret = TAKE_PTR(l);
	return 0;
}

int hook_check_annotation_sizes(char *const *annotations, HookError *err)
{
	for (char *const *i = annotations; i && i[0] && i[1]; i += 2) {
		size_t kl = strlen(i[0]), vl = strlen(i[1]);
		const char *more = kl > 80 ? "..." : "";
		if (kl > PAGEMELD_ANNOTATION_KEY_MAX) {
			hook_error_set(err,
				       "annotation %.80s%s: the key is %zu bytes, more than the %d allowed",
				       i[0], more, kl, PAGEMELD_ANNOTATION_KEY_MAX);
			return -E2BIG;
		}
		if (vl > PAGEMELD_ANNOTATION_VALUE_MAX) {
			hook_error_set(err,
				       "annotation %.80s%s: the value is %zu bytes, more than the %d allowed",
				       i[0], more, vl, PAGEMELD_ANNOTATION_VALUE_MAX);
			return -E2BIG;
		}
	}
	return 0;
}
