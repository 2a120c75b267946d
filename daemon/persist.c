/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "persist.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

static json_object *budget_json(uint64_t v)
{
	return v == UINT64_MAX ? NULL : json_object_new_uint64(v);
}

static int build(Manager *m, json_object **ret)
{
	_cleanup_(json_object_putp) json_object *root = json_object_new_object();
	json_object *cgs = json_object_new_array(), *cts = json_object_new_array();
	if (!root || !cgs || !cts) {
		json_object_put(cgs);
		json_object_put(cts);
		return -ENOMEM;
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "cgroups", cgs);
	json_object_object_add(root, "containers", cts);

	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		json_object *o = json_object_new_object();
		if (!o)
			return -ENOMEM;
		json_object_array_add(cgs, o);
		json_object_object_add(o, "path", json_object_new_string(cg->path));
		json_object_object_add(o, "enabled", json_object_new_boolean(cg->enabled));
		json_object_object_add(o, "merge_budget", budget_json(cg->merge_budget));
		json_object_object_add(o, "swap_budget", budget_json(cg->swap_budget));
		for (Container *c = cg->containers; c; c = c->cgroup_next) {
			json_object *co = json_object_new_object(), *an = json_object_new_object();
			if (!co || !an) {
				json_object_put(co);
				json_object_put(an);
				return -ENOMEM;
			}
			json_object_array_add(cts, co);
			json_object_object_add(co, "id", json_object_new_string(c->id));
			json_object_object_add(co, "cgroup", json_object_new_string(cg->path));
			json_object_object_add(co, "pid", json_object_new_int(c->init_pid));
			for (size_t i = 0; i < c->n_annotations; i++)
				json_object_object_add(an, c->annotations[2 * i],
						       json_object_new_string(c->annotations[2 * i + 1]));
			json_object_object_add(co, "annotations", an);
		}
	}
	*ret = TAKE_PTR(root);
	return 0;
}

int persist_format(Manager *m, char **ret)
{
	_cleanup_(json_object_putp) json_object *root = NULL;
	int r = build(m, &root);
	if (r < 0)
		return r;
	char *s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int write_all(int fd, const char *s, size_t l)
{
	while (l > 0) {
		ssize_t n = write(fd, s, l);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += n;
		l -= (size_t)n;
	}
	return 0;
}

int persist_save(Manager *m)
{
	_cleanup_free_ char *text = NULL, *tmp = NULL, *final = NULL;
	_cleanup_close_ int fd = -EBADF, dfd = -EBADF;
	int r = persist_format(m, &text);
	if (r < 0)
		return r;

	final = path_join(m->state_dir, PERSIST_FILE);
	tmp = path_join(m->state_dir, "." PERSIST_FILE ".tmp");
	if (!final || !tmp)
		return -ENOMEM;
	dfd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, "." PERSIST_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, strlen(text));
	if (r >= 0)
		r = write_all(fd, "\n", 1);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, "." PERSIST_FILE ".tmp", 0);
		return r;
	}
	fd = safe_close(fd);
	if (renameat(dfd, "." PERSIST_FILE ".tmp", dfd, PERSIST_FILE) < 0) {
		r = -errno;
		(void)unlinkat(dfd, "." PERSIST_FILE ".tmp", 0);
		return r;
	}
	if (fsync(dfd) < 0)
		return -errno;
	return 0;
}

static int get_u64_or_unset(json_object *o, const char *key, uint64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		*ret = UINT64_MAX;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	*ret = json_object_get_uint64(v);
	return 0;
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void persisted_state_done(PersistedState *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_cgroups; i++)
		free(s->cgroups[i].path);
	for (size_t i = 0; i < s->n_containers; i++) {
		free(s->containers[i].id);
		free(s->containers[i].cgroup);
		strv_free(s->containers[i].kv);
	}
	free(s->cgroups);
	free(s->containers);
	*s = (PersistedState){};
}

int persist_parse(const char *text, PersistedState *ret)
{
	_cleanup_(json_object_putp) json_object *root = json_tokener_parse(text);
	_cleanup_(persisted_state_done) PersistedState s = {};
	json_object *v, *cgs, *cts;

	if (!root || !json_object_is_type(root, json_type_object))
		return -EINVAL;
	if (!json_object_object_get_ex(root, "version", &v) || json_object_get_int(v) != 1)
		return -EPROTO;
	if (!json_object_object_get_ex(root, "cgroups", &cgs) || !json_object_is_type(cgs, json_type_array) ||
	    !json_object_object_get_ex(root, "containers", &cts) ||
	    !json_object_is_type(cts, json_type_array))
		return -EINVAL;

	size_t ncg = json_object_array_length(cgs), nct = json_object_array_length(cts);
	s.cgroups = calloc(ncg ?: 1, sizeof(PersistedCgroup));
	s.containers = calloc(nct ?: 1, sizeof(PersistedContainer));
	if (!s.cgroups || !s.containers)
		return -ENOMEM;

	for (size_t i = 0; i < ncg; i++) {
		json_object *o = json_object_array_get_idx(cgs, i);
		PersistedCgroup *c = &s.cgroups[s.n_cgroups];
		const char *path = get_string(o, "path");
		if (!path || path[0] != '/')
			return -EINVAL;
		if (get_u64_or_unset(o, "merge_budget", &c->merge_budget) < 0 ||
		    get_u64_or_unset(o, "swap_budget", &c->swap_budget) < 0)
			return -EINVAL;
		c->enabled = !json_object_object_get_ex(o, "enabled", &v) || json_object_get_boolean(v);
		if (!(c->path = strdup(path)))
			return -ENOMEM;
		s.n_cgroups++;
	}

	for (size_t i = 0; i < nct; i++) {
		json_object *o = json_object_array_get_idx(cts, i), *an;
		PersistedContainer *c = &s.containers[s.n_containers];
		const char *id = get_string(o, "id"), *cg = get_string(o, "cgroup");
		if (!id || !cg || cg[0] != '/')
			return -EINVAL;
		if (!json_object_object_get_ex(o, "annotations", &an) ||
		    !json_object_is_type(an, json_type_object))
			return -EINVAL;
		c->pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int(v) : 0;
		size_t n = (size_t)json_object_object_length(an);
		c->kv = calloc(2 * n + 1, sizeof(char *));
		if (!c->kv || !(c->id = strdup(id)) || !(c->cgroup = strdup(cg))) {
			s.n_containers++; /* so done() frees the partial entry */
			return -ENOMEM;
		}
		s.n_containers++;
		size_t k = 0;
		json_object_object_foreach(an, key, val)
		{
			if (!json_object_is_type(val, json_type_string))
				return -EINVAL;
			if (!(c->kv[k++] = strdup(key)) ||
			    !(c->kv[k++] = strdup(json_object_get_string(val))))
				return -ENOMEM;
		}
		c->n = n;
	}
	*ret = s;
	s = (PersistedState){};
	return 0;
}

int persist_load(const char *state_dir, PersistedState *ret)
{
	_cleanup_free_ char *path = path_join(state_dir, PERSIST_FILE), *text = NULL;
	if (!path)
		return -ENOMEM;
	int r = read_full_file(path, 64 << 20, &text, NULL);
	if (r < 0)
		return r;
	return persist_parse(text, ret);
}
