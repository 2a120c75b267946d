/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-runtime.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"

#define STATE_MAX (4u << 20) /* runc's state.json carries the whole config */

static void container_done(CtlRuntimeContainer *c)
{
	free(c->id);
	pod_identity_done(&c->identity);
}

void ctl_runtime_containers_free(CtlRuntimeContainer *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		container_done(&c[i]);
	free(c);
}

static json_object *parse_file(const char *path)
{
	_cleanup_free_ char *text = NULL;
	size_t size;
	if (read_full_file(path, STATE_MAX, &text, &size) < 0)
		return NULL;
	return json_tokener_parse(text);
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static bool get_u64(json_object *o, const char *key, uint64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	int64_t x = json_object_get_int64(v);
	if (x <= 0)
		return false;
	*ret = (uint64_t)x;
	return true;
}

/* Field 22 of /proc/PID/stat, after the comm in parentheses. */
static int proc_start_time(const char *sysroot, pid_t pid, uint64_t *ret)
{
	_cleanup_free_ char *path = strdup_printf("%s/proc/%d/stat", sysroot, (int)pid), *text = NULL;
	size_t size;
	if (!path)
		return -ENOMEM;
	int r = read_full_file(path, 4096, &text, &size);
	if (r < 0)
		return r;
	char *p = strrchr(text, ')');
	if (!p)
		return -EBADMSG;
	p++;
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EBADMSG;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p + 1, &end, 10);
	if (errno || end == p + 1)
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* The bundle's annotations as lib/pod-identity wants them: a flat array of
 * (key, value) pairs pointing into the parsed config. */
static int read_identity(const char *sysroot, const char *bundle, CtlRuntimeContainer *c)
{
	_cleanup_free_ char *path = strdup_printf("%s%s/config.json", sysroot, bundle);
	if (!path)
		return -ENOMEM;
	json_object *cfg = parse_file(path), *ann;
	if (!cfg)
		return -EBADMSG;
	int r = 0;
	if (json_object_object_get_ex(cfg, "annotations", &ann) &&
	    json_object_is_type(ann, json_type_object)) {
		size_t n = (size_t)json_object_object_length(ann), i = 0;
		_cleanup_free_ char **kv = calloc(2 * n + 1, sizeof(char *));
		if (!kv)
			r = -ENOMEM;
		json_object_object_foreach(ann, key, val)
		{
			if (r < 0 || !json_object_is_type(val, json_type_string))
				continue;
			const char *v = json_object_get_string(val);
			if ((streq(key, "io.kubernetes.cri-o.ContainerType") ||
			     streq(key, "io.kubernetes.cri.container-type")) &&
			    streq(v, "sandbox"))
				c->sandbox = true;
			kv[2 * i] = key;
			kv[2 * i + 1] = (char *)v;
			i++;
		}
		if (r >= 0)
			r = pod_identity_from_annotations(kv, i, &c->identity, NULL);
	} else
		c->identity = (PodIdentity){.runtime = POD_RUNTIME_NONE};
	json_object_put(cfg);
	return r;
}

/* One <root>/<id>: > 0 when *c was filled, 0 to skip, < 0 on ENOMEM. */
static int read_container(const char *sysroot, const char *root, const char *id, CtlRuntimeContainer *c)
{
	_cleanup_free_ char *runc = strdup_printf("%s/%s/state.json", root, id);
	_cleanup_free_ char *crun = strdup_printf("%s/%s/status", root, id);
	if (!runc || !crun)
		return -ENOMEM;
	*c = (CtlRuntimeContainer){0};
	json_object *st = parse_file(runc);
	const char *bundle = NULL;
	uint64_t pid = 0, start = 0;
	bool check_start = false;
	if (st) {
		json_object *cfg, *labels;
		check_start = get_u64(st, "init_process_start", &start);
		if (get_u64(st, "init_process_pid", &pid) && json_object_object_get_ex(st, "config", &cfg) &&
		    json_object_object_get_ex(cfg, "labels", &labels) &&
		    json_object_is_type(labels, json_type_array))
			for (size_t i = 0; i < json_object_array_length(labels); i++) {
				json_object *l = json_object_array_get_idx(labels, i);
				const char *s = json_object_is_type(l, json_type_string)
							? json_object_get_string(l)
							: NULL;
				if (s && startswith(s, "bundle="))
					bundle = startswith(s, "bundle=");
			}
	} else if ((st = parse_file(crun))) {
		(void)get_u64(st, "pid", &pid);
		bundle = get_string(st, "bundle");
	}
	int r = 0;
	if (!bundle || bundle[0] != '/' || pid == 0 || pid > INT32_MAX)
		goto out;
	uint64_t now;
	if (proc_start_time(sysroot, (pid_t)pid, &now) < 0 || (check_start && now != start))
		goto out; /* gone, or the pid names another process now */
	r = read_identity(sysroot, bundle, c);
	if (r == -ENOMEM)
		goto out;
	if (r < 0) {
		r = 0; /* unreadable bundle or invalid identity keys: not one we can place */
		goto out;
	}
	c->pid = (pid_t)pid;
	c->id = strdup(id);
	if (!c->id) {
		pod_identity_done(&c->identity);
		r = -ENOMEM;
		goto out;
	}
	r = 1;
out:
	json_object_put(st);
	return r;
}

static int add_root(const char *sysroot, const char *dir, CtlRuntimeContainer **v, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		CtlRuntimeContainer c;
		r = read_container(sysroot, dir, de->d_name, &c);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		CtlRuntimeContainer *nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv) {
			container_done(&c);
			r = -ENOMEM;
			break;
		}
		*v = nv;
		(*v)[(*n)++] = c;
		r = 0;
	}
	closedir(d);
	return r;
}

int ctl_runtime_containers(const char *sysroot, const char *roots, CtlRuntimeContainer **ret, size_t *ret_n)
{
	assert(sysroot && roots && ret && ret_n);
	_cleanup_free_ char *list = strdup(roots);
	CtlRuntimeContainer *v = NULL;
	size_t n = 0;
	int r = list ? 0 : -ENOMEM;
	char *save = NULL;
	for (char *root = list ? strtok_r(list, ":", &save) : NULL; r >= 0 && root;
	     root = strtok_r(NULL, ":", &save)) {
		size_t l = strlen(root);
		bool all_below = l >= 2 && streq(root + l - 2, "/*");
		if (all_below)
			root[l - 2] = '\0';
		_cleanup_free_ char *dir = strdup_printf("%s%s", sysroot, root);
		if (!dir) {
			r = -ENOMEM;
			break;
		}
		if (!all_below) {
			r = add_root(sysroot, dir, &v, &n);
			continue;
		}
		DIR *d = opendir(dir);
		if (!d) {
			r = errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
			continue;
		}
		struct dirent *de;
		while (r >= 0 && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			_cleanup_free_ char *sub = strdup_printf("%s/%s", dir, de->d_name);
			r = sub ? add_root(sysroot, sub, &v, &n) : -ENOMEM;
		}
		closedir(d);
	}
	if (r < 0) {
		ctl_runtime_containers_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
