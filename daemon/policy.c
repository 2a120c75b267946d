/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy.h"

#include <inttypes.h>

#include "errors.h"
#include "log.h"
#include "macro.h"
#include "trust-domain.h"

static const char *domain_of(const CgroupState *cg)
{
	return cg->trust_domain && *cg->trust_domain ? cg->trust_domain : TRUST_DOMAIN_DEFAULT;
}

/* The domain holding the node, from every cgroup but `except`: Domain= of
 * the configuration holds it for good; otherwise the domain of the cgroups
 * that merge (enabled) or still have merged pages. */
static TrustState node_state(Manager *m, const CgroupState *except)
{
	TrustState s = {};
	if (m->config.trust_domain) {
		s.active = m->config.trust_domain;
		s.active_cgroups = 1;
		return s;
	}
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		if (cg == except || (!cg->enabled && cg->merging_pages == 0))
			continue;
		if (!s.active)
			s.active = domain_of(cg);
		if (!streq(s.active, domain_of(cg)))
			continue; /* cannot happen in single mode; off mode does not ask */
		s.active_cgroups += cg->enabled;
		s.active_merged += cg->merging_pages;
	}
	return s;
}

static TrustMode mode(Manager *m)
{
	return m->config.trust_domain_mode == TRUST_DOMAIN_MODE_SINGLE ? TRUST_MODE_SINGLE : TRUST_MODE_OFF;
}

bool policy_may_merge(Manager *m, CgroupState *cg, const char **ret_reason)
{
	if (cg->status == CGROUP_OVER_BUDGET) {
		/* no re-enabling until the budget is raised or EnableCgroup */
		if (ret_reason)
			*ret_reason = "over budget";
		return false;
	}
	TrustState s = node_state(m, cg);
	if (trust_decide(mode(m), &s, cg->trust_domain) == TRUST_REFUSE) {
		if (ret_reason)
			*ret_reason = "trust domain conflict";
		return false;
	}
	return true;
}

int policy_check_registration(Manager *m, CgroupState *cg, const char *path, const char *trust_domain,
			      sd_bus_error *error)
{
	TrustState s = node_state(m, cg);
	if (trust_decide(mode(m), &s, trust_domain) != TRUST_REFUSE)
		return 0;
	log_notice("Refusing container in %s: trust domain %s while %s merges on this node (%" PRIu64
		   " cgroups, %" PRIu64 " merged pages); it runs unmerged",
		   path, trust_domain ?: TRUST_DOMAIN_DEFAULT, s.active, s.active_cgroups, s.active_merged);
	return sd_bus_error_setf(error, PM_ERROR_TRUST_DOMAIN_CONFLICT,
				 "Trust domain %s cannot merge on this node while trust domain %s does "
				 "(TrustDomain Mode=single: %" PRIu64 " cgroups, %" PRIu64
				 " merged pages); the container runs unmerged",
				 trust_domain ?: TRUST_DOMAIN_DEFAULT, s.active, s.active_cgroups,
				 s.active_merged);
}

static void update_node_domain(Manager *m)
{
	const char *now = "";
	if (mode(m) == TRUST_MODE_SINGLE) {
		TrustState s = node_state(m, NULL);
		if (s.active && (s.active_cgroups > 0 || s.active_merged > 0))
			now = s.active;
	}
	if (streq_ptr(m->trust_domain, now))
		return;
	char *d = strdup(now);
	if (!d)
		return;
	free(m->trust_domain);
	m->trust_domain = d;
	manager_mark_dirty(m, MANAGER_DIRTY_TRUST_DOMAIN);
}

void policy_cgroup_added(Manager *m, CgroupState *cg)
{
	update_node_domain(m);
}

void policy_cgroup_removed(Manager *m, CgroupState *cg)
{
	/* cg is still in the list: recompute as if it were gone */
	bool enabled = cg->enabled;
	uint64_t merged = cg->merging_pages;
	cg->enabled = false;
	cg->merging_pages = 0;
	update_node_domain(m);
	cg->enabled = enabled;
	cg->merging_pages = merged;
}
