/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The pagemeld.io annotations of DESIGN.md, parsed without any daemon state
 * (a unit test links this file alone):
 *   merge.pagemeld.io: "true"|"false"        the pod opts in (or out)
 *   merge.pagemeld.io/<container>: ...        overrides it for one container
 *   merge-budget.pagemeld.io: <quantity>      cap on the cgroup's merge debt
 *   swap-budget.pagemeld.io: <quantity>       memory.swap.max of the cgroup
 *   trust-domain.pagemeld.io: <name>          who may share pages with whom
 * Any other key in the pagemeld.io domain is an error (a typo must not be
 * silently ignored); keys of other domains are ignored, except the CRI keys
 * that name the container and mark the pod sandbox.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANNOTATION_MERGE "merge.pagemeld.io"
#define ANNOTATION_MERGE_BUDGET "merge-budget.pagemeld.io"
#define ANNOTATION_SWAP_BUDGET "swap-budget.pagemeld.io"
#define ANNOTATION_TRUST_DOMAIN "trust-domain.pagemeld.io"

typedef enum MergeDecision {
	MERGE_UNSET = -1, /* no merge.pagemeld.io key: the caller decides */
	MERGE_NO = 0,
	MERGE_YES = 1,
} MergeDecision;

typedef struct Annotations {
	MergeDecision merge;  /* after the per-container override */
	bool sandbox;	      /* the pod's pause container: never merged */
	char *container_name; /* from the CRI keys, NULL when absent */
	bool merge_budget_set;
	uint64_t merge_budget; /* bytes */
	bool swap_budget_set;
	uint64_t swap_budget; /* bytes */
	char *trust_domain;   /* NULL when absent */
} Annotations;

/* kv is a flat array of n (key, value) pairs, i.e. 2*n strings.
 * -EINVAL for a bad key or value, or one over the sizes of bus-contract.h
 * (PAGEMELD_ANNOTATION_*_MAX, QUANTITY_MAX_LEN): *ret_bad_key (when non-NULL) then points
 * at the offending key inside kv and *ret_reason at a static explanation.
 * -ENOMEM on OOM. */
int annotations_parse(char *const *kv, size_t n, Annotations *ret, const char **ret_bad_key,
		      const char **ret_reason);
void annotations_done(Annotations *a);

/* What pagemeldd keeps of kv, and saves: the keys it reads (its own, the
 * runtime's identity and container keys), quantities as their byte count,
 * nothing else. a is annotations_parse()'s result for the same kv, so every
 * value kept is bounded and parses again to the same a. *ret: a flat,
 * NULL-terminated (key, value) array of *ret_n pairs. */
int annotations_kept(char *const *kv, size_t n, const Annotations *a, char ***ret, size_t *ret_n);

/* Whether the daemon should merge this container: never the sandbox, never
 * an explicit "false"; an absent key counts as yes, because calling
 * RegisterContainer at all is the opt-in. */
bool annotations_want_merge(const Annotations *a);

/* True for keys in the pagemeld.io domain (which must all be known). */
bool annotation_key_is_ours(const char *key);
/* Trust domain names: 1..63 of [A-Za-z0-9._-], starting alphanumeric. */
bool trust_domain_name_valid(const char *s);
