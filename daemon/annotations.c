/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "annotations.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>

#include "bus-contract.h"
#include "macro.h"
#include "pod-identity.h"
#include "quantity.h"

/* CRI-O and containerd name the container and mark the sandbox this way. */
static const char *const container_name_keys[] = {
	"io.kubernetes.cri-o.ContainerName",
	"io.kubernetes.container.name",
	"io.kubernetes.cri.container-name",
};
static const char *const container_type_keys[] = {
	"io.kubernetes.cri-o.ContainerType",
	"io.kubernetes.cri.container-type",
};

bool annotation_key_is_ours(const char *key)
{
	/* The Kubernetes prefix is everything before the first '/'. */
	const char *slash = strchr(key, '/');
	size_t l = slash ? (size_t)(slash - key) : strlen(key);
	static const char domain[] = "pagemeld.io";
	size_t dl = sizeof(domain) - 1;
	if (l < dl || strncasecmp(key + l - dl, domain, dl) != 0)
		return false;
	return l == dl || key[l - dl - 1] == '.';
}

/* A DNS-1123 label, as Kubernetes requires of container names. */
static bool dns_label_valid(const char *s)
{
	size_t l = strlen(s);
	if (l == 0 || l > 63)
		return false;
	for (size_t i = 0; i < l; i++) {
		char c = s[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-'))
			return false;
	}
	return s[0] != '-' && s[l - 1] != '-';
}

bool trust_domain_name_valid(const char *s)
{
	size_t l = strlen(s);
	if (l == 0 || l > 63 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < l; i++) {
		char c = s[i];
		if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool key_in(const char *key, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (streq(key, keys[i]))
			return true;
	return false;
}

/* The keys whose values pagemeldd reads: capped, and kept. */
static bool annotation_key_is_read(const char *key)
{
	return annotation_key_is_ours(key) || pod_identity_key(key) ||
	       key_in(key, container_name_keys, ELEMENTSOF(container_name_keys)) ||
	       key_in(key, container_type_keys, ELEMENTSOF(container_type_keys));
}

static int parse_bool_value(const char *v, MergeDecision *ret)
{
	/* Exactly what `kubectl annotate` users write; no "yes"/"1" guessing. */
	if (streq(v, "true"))
		*ret = MERGE_YES;
	else if (streq(v, "false"))
		*ret = MERGE_NO;
	else
		return -EINVAL;
	return 0;
}

static const char *lookup(char *const *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (streq(kv[2 * i], key))
			return kv[2 * i + 1];
	return NULL;
}

int annotations_parse(char *const *kv, size_t n, Annotations *ret, const char **ret_bad_key,
		      const char **ret_reason)
{
	Annotations a = {.merge = MERGE_UNSET};
	const char *bad = NULL, *reason = NULL;
	MergeDecision pod = MERGE_UNSET, per_container = MERGE_UNSET;
	const char *name = NULL;

	/* Sizes first: nothing else looks at an oversized key or value. */
	for (size_t i = 0; i < n; i++) {
		const char *k = kv[2 * i], *v = kv[2 * i + 1];
		if (strnlen(k, PAGEMELD_ANNOTATION_KEY_MAX + 1) > PAGEMELD_ANNOTATION_KEY_MAX) {
			bad = k, reason = "key is longer than Kubernetes allows (317 bytes)";
			goto fail;
		}
		if (annotation_key_is_read(k) &&
		    strnlen(v, PAGEMELD_ANNOTATION_VALUE_MAX + 1) > PAGEMELD_ANNOTATION_VALUE_MAX) {
			bad = k, reason = "value is longer than 1024 bytes";
			goto fail;
		}
	}

	for (size_t i = 0; i < ELEMENTSOF(container_name_keys); i++)
		if (!name)
			name = lookup(kv, n, container_name_keys[i]);
	for (size_t i = 0; i < ELEMENTSOF(container_type_keys); i++) {
		const char *t = lookup(kv, n, container_type_keys[i]);
		if (t && streq(t, "sandbox"))
			a.sandbox = true;
	}

	for (size_t i = 0; i < n; i++) {
		const char *k = kv[2 * i], *v = kv[2 * i + 1];
		const char *sub;

		if (!annotation_key_is_ours(k))
			continue; /* other domains are not ours to judge */

		if (streq(k, ANNOTATION_MERGE)) {
			if (parse_bool_value(v, &pod) < 0) {
				bad = k, reason = "value must be \"true\" or \"false\"";
				goto fail;
			}
		} else if ((sub = startswith(k, ANNOTATION_MERGE "/"))) {
			MergeDecision d;
			if (!dns_label_valid(sub)) {
				bad = k, reason = "container name is not a DNS-1123 label";
				goto fail;
			}
			if (parse_bool_value(v, &d) < 0) {
				bad = k, reason = "value must be \"true\" or \"false\"";
				goto fail;
			}
			if (name && streq(name, sub))
				per_container = d;
		} else if (streq(k, ANNOTATION_MERGE_BUDGET) || streq(k, ANNOTATION_SWAP_BUDGET)) {
			uint64_t q;
			int r = parse_quantity(v, &q);
			if (r == -E2BIG) {
				bad = k, reason =
						 "value is longer than 64 bytes (a byte quantity: 512Mi, 1G, "
						 "1.5Gi, 4096)";
				goto fail;
			}
			if (r < 0) {
				bad = k, reason = "not a byte quantity (e.g. 512Mi, 1G, 1.5Gi, 4096)";
				goto fail;
			}
			if (streq(k, ANNOTATION_MERGE_BUDGET)) {
				a.merge_budget = q;
				a.merge_budget_set = true;
			} else {
				a.swap_budget = q;
				a.swap_budget_set = true;
			}
		} else if (streq(k, ANNOTATION_TRUST_DOMAIN)) {
			if (!trust_domain_name_valid(v)) {
				bad = k, reason = "trust domain must be 1-63 of [A-Za-z0-9._-], starting "
						  "alphanumeric";
				goto fail;
			}
			free(a.trust_domain);
			a.trust_domain = strdup(v);
			if (!a.trust_domain)
				goto oom;
		} else {
			bad = k, reason = "unknown key in the pagemeld.io domain";
			goto fail;
		}
	}

	a.merge = per_container != MERGE_UNSET ? per_container : pod;
	if (name) {
		a.container_name = strdup(name);
		if (!a.container_name)
			goto oom;
	}
	*ret = a;
	return 0;

fail:
	annotations_done(&a);
	if (ret_bad_key)
		*ret_bad_key = bad;
	if (ret_reason)
		*ret_reason = reason;
	return -EINVAL;
oom:
	annotations_done(&a);
	return -ENOMEM;
}

int annotations_kept(char *const *kv, size_t n, const Annotations *a, char ***ret, size_t *ret_n)
{
	_cleanup_strv_free_ char **l = calloc(2 * n + 1, sizeof(char *));
	size_t k = 0;

	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *key = kv[2 * i], *v = kv[2 * i + 1];
		char num[STRLEN("18446744073709551615") + 1];

		if (!annotation_key_is_read(key))
			continue;
		/* A quantity as what it means: its byte count. */
		if (streq(key, ANNOTATION_MERGE_BUDGET) && a->merge_budget_set)
			v = num, snprintf(num, sizeof(num), "%" PRIu64, a->merge_budget);
		else if (streq(key, ANNOTATION_SWAP_BUDGET) && a->swap_budget_set)
			v = num, snprintf(num, sizeof(num), "%" PRIu64, a->swap_budget);
		if (!(l[2 * k] = strdup(key)) || !(l[2 * k + 1] = strdup(v)))
			return -ENOMEM;
		k++;
	}
	*ret = TAKE_PTR(l);
	*ret_n = k;
	return 0;
}

void annotations_done(Annotations *a)
{
	if (!a)
		return;
	free(a->container_name);
	free(a->trust_domain);
	a->container_name = a->trust_domain = NULL;
}

bool annotations_want_merge(const Annotations *a)
{
	return !a->sandbox && a->merge != MERGE_NO;
}
