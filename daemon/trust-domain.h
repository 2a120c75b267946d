/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Trust domains (pure decision). KSM across tenants is a side channel: a
 * tenant can tell by write timing (copy-on-write of a merged page) whether
 * another tenant holds a page with given contents, and merged pages make
 * Rowhammer-style Flip Feng Shui possible. trust-domain.pagemeld.io names
 * who may share pages with whom.
 *
 *  single (default): the node merges one domain at a time. The active domain
 *    is held while any cgroup of it has merging enabled or still has merged
 *    pages (an enabled cgroup will merge on ksmd's next pass, so "has merged
 *    pages" alone would let two domains meet). A registration from another
 *    domain then is refused (TrustDomainConflict); the container runs,
 *    unmerged. Once the domain holds nothing, the next one takes over.
 *  off: every domain merges (one shared KSM pool, the kernel's default).
 *
 * A container without the annotation is in the domain "default".
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum TrustMode {
	TRUST_MODE_SINGLE,
	TRUST_MODE_OFF,
	_TRUST_MODE_MAX,
	_TRUST_MODE_INVALID = -EINVAL,
} TrustMode;

#define TRUST_DOMAIN_DEFAULT "default"

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

/* requested NULL or "" means TRUST_DOMAIN_DEFAULT. */
TrustVerdict trust_decide(TrustMode mode, const TrustState *s, const char *requested);
const char *trust_verdict_to_string(TrustVerdict v);
