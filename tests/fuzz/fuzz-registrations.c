/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target: pagemeldd's state file as a crash, a full disk or a
 * hand edit leaves it, parsed as restore parses it. Whatever parses, each
 * container's annotations either fail with a key named, or reduce to what
 * pagemeldd keeps (annotations_kept), which is bounded and parses again to
 * the same values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "annotations.h"
#include "bus-contract.h"
#include "fuzz-util.h"
#include "macro.h"
#include "persist.h"

static void check_container(const PersistedContainer *c)
{
	Annotations a, b;
	const char *bad = NULL, *why = NULL;
	char **kept = NULL;
	size_t n = 0;

	if (annotations_parse(c->kv, c->n, &a, &bad, &why) < 0) {
		check(bad && why);
		return;
	}
	check(annotations_kept(c->kv, c->n, &a, &kept, &n) == 0);
	check(n <= c->n);
	for (size_t i = 0; i < 2 * n; i += 2)
		check(strlen(kept[i]) <= PAGEMELD_ANNOTATION_KEY_MAX &&
		      strlen(kept[i + 1]) <= PAGEMELD_ANNOTATION_VALUE_MAX);
	check(annotations_parse(kept, n, &b, NULL, NULL) == 0);
	check(a.merge == b.merge && a.sandbox == b.sandbox);
	check(a.merge_budget_set == b.merge_budget_set && a.merge_budget == b.merge_budget);
	check(a.swap_budget_set == b.swap_budget_set && a.swap_budget == b.swap_budget);
	check(streq_ptr(a.trust_domain, b.trust_domain) && streq_ptr(a.container_name, b.container_name));
	annotations_done(&a);
	annotations_done(&b);
	strv_free(kept);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	PersistedState s;

	check(text);
	memcpy(text, data, size);
	text[size] = '\0';
	if (persist_parse(text, &s) == 0) {
		for (size_t i = 0; i < s.n_cgroups; i++)
			check(s.cgroups[i].path && s.cgroups[i].path[0] == '/');
		for (size_t i = 0; i < s.n_containers; i++) {
			check(s.containers[i].id && s.containers[i].cgroup[0] == '/');
			check_container(&s.containers[i]);
		}
		persisted_state_done(&s);
	}
	free(text);
	return 0;
}
