/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "trust-domain.h"

#include <assert.h>
#include <fnmatch.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "pod-identity.h"

static const char *const trust_mode_table[_TRUST_MODE_MAX] = {
	[TRUST_MODE_SINGLE] = "single",
	[TRUST_MODE_OFF] = "off",
};

const char *trust_mode_to_string(TrustMode m)
{
	return m >= 0 && m < _TRUST_MODE_MAX ? trust_mode_table[m] : NULL;
}

TrustMode trust_mode_from_string(const char *s)
{
	for (int i = 0; s && i < _TRUST_MODE_MAX; i++)
		if (streq(s, trust_mode_table[i]))
			return (TrustMode)i;
	return _TRUST_MODE_INVALID;
}

const char *trust_domain_of_namespace(const TrustDomainMap *map, const char *pod_namespace)
{
	if (!pod_namespace)
		return map->no_namespace ?: TRUST_DOMAIN_NO_NAMESPACE;
	for (size_t i = 0; i < map->n_rules; i++)
		if (fnmatch(map->rules[i].glob, pod_namespace, 0) == 0)
			return map->rules[i].domain;
	return pod_namespace;
}

int trust_domain_of_identity(const TrustDomainMap *map, const PodIdentity *id, const char *narrow, char **ret)
{
	const char *base = trust_domain_of_namespace(map, id->pod_namespace);
	char *d = narrow && *narrow ? strdup_printf("%s/%s", base, narrow) : strdup(base);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

int trust_domain_derive(const TrustDomainMap *map, char *const *kv, size_t n, const char *narrow, char **ret,
			const char **ret_bad_key)
{
	_cleanup_(pod_identity_done) PodIdentity id = {};
	int r = pod_identity_from_annotations(kv, n, &id, ret_bad_key);
	if (r < 0)
		return r;
	return trust_domain_of_identity(map, &id, narrow, ret);
}

TrustVerdict trust_decide(TrustMode mode, const TrustState *s, const char *requested)
{
	assert(requested);
	if (mode == TRUST_MODE_OFF)
		return TRUST_ALLOW;
	bool held = s->active && (s->active_cgroups > 0 || s->active_merged > 0);
	if (!held)
		return TRUST_ALLOW_TAKEOVER;
	return streq(s->active, requested) ? TRUST_ALLOW : TRUST_REFUSE;
}

const char *trust_verdict_to_string(TrustVerdict v)
{
	switch (v) {
	case TRUST_ALLOW:
		return "allow";
	case TRUST_ALLOW_TAKEOVER:
		return "takeover";
	case TRUST_REFUSE:
		return "refuse";
	}
	return NULL;
}
