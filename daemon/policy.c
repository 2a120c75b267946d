/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy.h"

#include <inttypes.h>

#include "errors.h"
#include "log.h"
#include "macro.h"
#include "trust-domain.h"
#include "util.h"

/* The domain holding the node, from every cgroup but `except`: Domain= of
 * the configuration holds it for good; otherwise the domain of the cgroups
 * that merge (enabled) or still have merged pages. A cgroup without domain
 * (keys of two runtimes) never merges in single mode; pages it merged
 * before (Mode=off, then a reload) do not hold the node. */
static TrustState node_state(Manager *m, const CgroupState *except)
{
	TrustState s = {};
	if (m->config.trust_domain) {
		s.active = m->config.trust_domain;
		s.active_cgroups = 1;
		return s;
	}
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		if (cg == except || !cg->trust_domain || (!cg->enabled && cg->merging_pages == 0))
			continue;
		if (!s.active)
			s.active = cg->trust_domain;
		if (!streq(s.active, cg->trust_domain))
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
	if (mode(m) == TRUST_MODE_OFF)
		return true;
	if (!cg->trust_domain) {
		if (ret_reason)
			*ret_reason = "no trust domain (pod identity keys of two runtimes)";
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

int policy_check_registration(Manager *m, CgroupState *cg, const char *path, char *const *kv, size_t n,
			      const char *narrow, sd_bus_error *error)
{
	if (mode(m) == TRUST_MODE_OFF)
		return 0;
	_cleanup_free_ char *trust_domain = NULL;
	const char *bad = NULL;
	TrustDomainMap map = config_trust_map(&m->config);
	int r = trust_domain_derive(&map, kv, n, narrow, &trust_domain, &bad);
	if (r == -ENOMEM)
		return sd_bus_error_set_errno(error, ENOMEM);
	if (r < 0) {
		/* Only a pod imitating another runtime's keys gets here: its
		 * namespace is unknown, and the no-namespace domain is not its. */
		log_notice(
			"Refusing container in %s: pod identity key %s %s; no trust domain can be told, it "
			"runs unmerged",
			path, strna(bad),
			r == -EBADMSG ? "conflicts with another runtime's keys" : "is invalid");
		return sd_bus_error_setf(
			error, PM_ERROR_TRUST_DOMAIN_CONFLICT,
			"Pod identity key %s %s: the pod's namespace, and so its trust domain, "
			"cannot be told; the container runs unmerged",
			strna(bad), r == -EBADMSG ? "conflicts with another runtime's keys" : "is invalid");
	}
	TrustState s = node_state(m, cg);
	if (trust_decide(mode(m), &s, trust_domain) != TRUST_REFUSE)
		return 0;
	log_notice("Refusing container in %s: trust domain %s while %s merges on this node (%" PRIu64
		   " cgroups, %" PRIu64 " merged pages); it runs unmerged",
		   path, trust_domain, s.active, s.active_cgroups, s.active_merged);
	return sd_bus_error_setf(error, PM_ERROR_TRUST_DOMAIN_CONFLICT,
				 "Trust domain %s cannot merge on this node while trust domain %s does "
				 "(TrustDomain Mode=single: %" PRIu64 " cgroups, %" PRIu64
				 " merged pages); the container runs unmerged",
				 trust_domain, s.active, s.active_cgroups, s.active_merged);
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
