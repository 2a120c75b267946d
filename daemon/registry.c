/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "registry.h"

#include "annotations.h"
#include "log.h"
#include "macro.h"
#include "trust-domain.h"

#define LIST_PREPEND(next, prev, head, item)   \
	do {                                   \
		(item)->next = (head);         \
		(item)->prev = NULL;           \
		if (head)                      \
			(head)->prev = (item); \
		(head) = (item);               \
	} while (0)
#define LIST_REMOVE(next, prev, head, item)                \
	do {                                               \
		if ((item)->next)                          \
			(item)->next->prev = (item)->prev; \
		if ((item)->prev)                          \
			(item)->prev->next = (item)->next; \
		else                                       \
			(head) = (item)->next;             \
		(item)->next = (item)->prev = NULL;        \
	} while (0)

Container *registry_find_container(Manager *m, const char *id)
{
	for (Container *c = m->containers; c; c = c->next)
		if (streq(c->id, id))
			return c;
	return NULL;
}

CgroupState *registry_find_cgroup(Manager *m, const char *path)
{
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next)
		if (streq(cg->path, path))
			return cg;
	return NULL;
}

CgroupState *registry_find_cgroup_by_object(Manager *m, const char *object_path)
{
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next)
		if (streq(cg->object_path, object_path))
			return cg;
	return NULL;
}

int registry_add_cgroup(Manager *m, const char *path, const char *object_prefix, CgroupState **ret)
{
	CgroupState *cg = calloc(1, sizeof(*cg));
	if (!cg)
		return -ENOMEM;
	cg->manager = m;
	cg->path = strdup(path);
	if (!cg->path || sd_bus_path_encode(object_prefix, path, &cg->object_path) < 0) {
		free(cg->path);
		free(cg);
		return -ENOMEM;
	}
	cg->enabled = true;
	cg->status = CGROUP_MERGING;
	cg->procs_fd = -EBADF;
	cg->merge_budget = m->config.default_merge_budget;
	cg->swap_budget = m->config.default_swap_budget;
	LIST_PREPEND(next, prev, m->cgroups, cg);
	m->n_cgroups++;
	*ret = cg;
	return 0;
}

static void container_free(Container *c)
{
	sd_event_source_disable_unref(c->exit_watch);
	strv_free(c->annotations);
	free(c->name);
	pod_identity_done(&c->identity);
	free(c->trust_domain);
	free(c->id);
	free(c);
}

static void cgroup_update_trust_domain(CgroupState *cg)
{
	/* The oldest container decides (the list is newest first); one cgroup
	 * holds one pod's container. */
	const char *td = NULL;
	for (Container *c = cg->containers; c; c = c->cgroup_next)
		td = c->trust_domain;
	if (streq_ptr(td, cg->trust_domain))
		return;
	free(cg->trust_domain);
	cg->trust_domain = td ? strdup(td) : NULL;
}

void registry_remove_cgroup(Manager *m, CgroupState *cg)
{
	while (cg->containers)
		registry_remove_container(m, cg->containers);
	LIST_REMOVE(next, prev, m->cgroups, cg);
	m->n_cgroups--;
	free(cg->trust_domain);
	free(cg->object_path);
	free(cg->path);
	free(cg);
}

static char **kv_copy(char *const *kv, size_t n)
{
	char **l = calloc(2 * n + 1, sizeof(char *));
	if (!l)
		return NULL;
	for (size_t i = 0; i < 2 * n; i++)
		if (!(l[i] = strdup(kv[i]))) {
			strv_free(l);
			return NULL;
		}
	return l;
}

int registry_set_annotations(Container *c, char *const *kv, size_t n, const char *name)
{
	/* The same rules as the hook's: a caller's or a pod's keys that name two
	 * runtimes, or an invalid name, leave the container without identity
	 * and without trust domain (policy.c does not let it merge unless
	 * domains are off). */
	PodIdentity id = {};
	const char *bad = NULL, *narrow = NULL;
	char *td = NULL;
	int r = pod_identity_from_annotations(kv, n, &id, &bad);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		log_notice("Container %s: no pod identity and no trust domain, key %s %s", c->id, bad ?: "?",
			   r == -EBADMSG ? "conflicts with another runtime's keys" : "has an invalid value");
	for (size_t i = 0; i < n; i++)
		if (streq(kv[2 * i], ANNOTATION_TRUST_DOMAIN))
			narrow = kv[2 * i + 1];
	TrustDomainMap map = config_trust_map(&c->manager->config);
	if (r >= 0 && trust_domain_of_identity(&map, &id, narrow, &td) < 0) {
		pod_identity_done(&id);
		return -ENOMEM;
	}

	char **l = kv_copy(kv, n);
	char *nm = name ? strdup(name) : NULL;
	if (!l || (name && !nm)) {
		strv_free(l);
		free(nm);
		free(td);
		pod_identity_done(&id);
		return -ENOMEM;
	}
	strv_free(c->annotations);
	free(c->name);
	free(c->trust_domain);
	c->trust_domain = td;
	pod_identity_done(&c->identity);
	c->identity = id;
	c->annotations = l;
	c->n_annotations = n;
	c->name = nm;
	if (c->cgroup)
		cgroup_update_trust_domain(c->cgroup);
	return 0;
}

int registry_add_container(Manager *m, CgroupState *cg, const char *id, char *const *kv, size_t n,
			   const char *name, Container **ret)
{
	Container *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->manager = m;
	c->id = strdup(id);
	if (!c->id || registry_set_annotations(c, kv, n, name) < 0) {
		container_free(c);
		return -ENOMEM;
	}
	LIST_PREPEND(next, prev, m->containers, c);
	m->n_containers++;
	registry_move_container(c, cg);
	*ret = c;
	return 0;
}

void registry_move_container(Container *c, CgroupState *to)
{
	CgroupState *from = c->cgroup;
	if (from == to)
		return;
	if (from) {
		LIST_REMOVE(cgroup_next, cgroup_prev, from->containers, c);
		from->n_containers--;
		cgroup_update_trust_domain(from);
	}
	c->cgroup = to;
	if (to) {
		LIST_PREPEND(cgroup_next, cgroup_prev, to->containers, c);
		to->n_containers++;
		cgroup_update_trust_domain(to);
	}
}

void registry_remove_container(Manager *m, Container *c)
{
	registry_move_container(c, NULL);
	LIST_REMOVE(next, prev, m->containers, c);
	m->n_containers--;
	container_free(c);
}

const PodIdentity *registry_cgroup_identity(const CgroupState *cg)
{
	for (const Container *c = cg->containers; c; c = c->cgroup_next)
		if (c->identity.pod_namespace || c->identity.pod_name || c->identity.pod_uid)
			return &c->identity;
	return NULL;
}
