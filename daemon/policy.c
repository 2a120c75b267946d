/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy.h"

#include "macro.h"

/* Mode=ignore: trust domains are stored and shown, never enforced. With
 * Mode=single the node's domain is Domain= or the first one registered;
 * enforcing it (refusing other domains) is issue 5's. */

bool policy_may_merge(Manager *m, CgroupState *cg, const char **ret_reason)
{
	return true;
}

void policy_cgroup_added(Manager *m, CgroupState *cg)
{
	if (m->config.trust_domain_mode != TRUST_DOMAIN_MODE_SINGLE || (m->trust_domain && *m->trust_domain))
		return;
	const char *td = m->config.trust_domain ?: cg->trust_domain;
	if (td) {
		char *s = strdup(td);
		if (s) {
			free(m->trust_domain);
			m->trust_domain = s;
		}
	}
}

void policy_cgroup_removed(Manager *m, CgroupState *cg)
{
}
