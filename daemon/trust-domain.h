/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Trust domains (pure decision). KSM across tenants is a side channel: a
 * tenant can tell by write timing (copy-on-write of a merged page) whether
 * another tenant holds a page with given contents, and merged pages make
 * Rowhammer-style Flip Feng Shui possible. A trust domain names who may
 * share pages with whom.
 *
 * A container's domain comes from its pod namespace, read by
 * pod_identity_from_annotations() (lib/pod-identity.h) from the keys the
 * runtime writes itself, never from a key the pod chooses. The operator's
 * rules (pagemeld.conf [TrustDomain] Namespace=GLOB DOMAIN, first match)
 * map it to a domain; without a match the namespace is its own domain. A
 * container without a namespace is in the operator's NoNamespaceDomain=.
 * trust-domain.pagemeld.io only narrows: "<domain>/<name>". '/' is in no
 * domain name or namespace, so no narrowed name equals another domain.
 *
 *  single (default): the node merges one domain at a time. The active domain
 *    is held while any cgroup of it has merging enabled or still has merged
 *    pages (an enabled cgroup will merge on ksmd's next pass, so "has merged
 *    pages" alone would let two domains meet). A registration from another
 *    domain then is refused (TrustDomainConflict); the container runs,
 *    unmerged. Once the domain holds nothing, the next one takes over.
 *  off: every domain merges (one shared KSM pool, the kernel's default).
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum TrustMode {
	TRUST_MODE_SINGLE,
	TRUST_MODE_OFF,
	_TRUST_MODE_MAX,
	_TRUST_MODE_INVALID = -EINVAL,
} TrustMode;

/* The default of NoNamespaceDomain=: capitalised, so no Kubernetes
 * namespace (a DNS-1123 label) has it as its own domain. */
#define TRUST_DOMAIN_NO_NAMESPACE "Host"

typedef struct TrustDomainRule {
	char *glob;   /* fnmatch(3) pattern over the namespace */
	char *domain; /* trust_domain_name_valid() */
} TrustDomainRule;

typedef struct TrustDomainMap {
	TrustDomainRule *rules; /* in pagemeld.conf's order; the first match wins */
	size_t n_rules;
	const char *no_namespace; /* the domain of containers without a namespace */
} TrustDomainMap;

/* The domain of a pod namespace (NULL: none) before any narrowing. */
const char *trust_domain_of_namespace(const TrustDomainMap *map, const char *pod_namespace);

typedef struct PodIdentity PodIdentity;

/* A container's domain from its pod identity (pod-identity.h): the
 * namespace mapped, then narrowed by `narrow` (the trust-domain.pagemeld.io
 * value, NULL or "" for none) into "<domain>/<narrow>". -ENOMEM. */
int trust_domain_of_identity(const TrustDomainMap *map, const PodIdentity *id, const char *narrow,
			     char **ret);

/* The same from its annotations (flat key/value pairs): the
 * namespace from pod_identity_from_annotations(). Keys of two runtimes, or an invalid namespace, are
 * -EBADMSG / -EINVAL with *ret_bad_key set (when non-NULL): a pod imitating
 * another runtime has no namespace anyone can trust, and is not put in the
 * no-namespace domain either. -ENOMEM. */
int trust_domain_derive(const TrustDomainMap *map, char *const *kv, size_t n, const char *narrow, char **ret,
			const char **ret_bad_key);

const char *trust_mode_to_string(TrustMode m);
TrustMode trust_mode_from_string(const char *s); /* _TRUST_MODE_INVALID for garbage */

/* Names are validated where annotations are parsed:
 * trust_domain_name_valid() in annotations.h. */

typedef enum TrustVerdict {
	TRUST_ALLOW,	      /* same domain as the active one, or mode off */
	TRUST_ALLOW_TAKEOVER, /* no active domain: this one becomes active */
	TRUST_REFUSE,	      /* TrustDomainConflict */
} TrustVerdict;

typedef struct TrustState {
	const char *active;	 /* NULL: none */
	uint64_t active_cgroups; /* cgroups of the active domain with merging enabled */
	uint64_t active_merged;	 /* their merging pages (sum) */
} TrustState;

/* requested: a derived domain, never NULL. */
TrustVerdict trust_decide(TrustMode mode, const TrustState *s, const char *requested);
const char *trust_verdict_to_string(TrustVerdict v);
