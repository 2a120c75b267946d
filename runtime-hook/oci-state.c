/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "oci-state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <json-c/json.h>

#include "fileio.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free)

void hook_error_set(HookError *e, const char *fmt, ...)
{
	if (!e)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void oci_state_free(OciState *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->status);
	free(s->bundle);
	strv_free(s->annotations);
	free(s);
}

const char *annotations_get(char *const *annotations, const char *key)
{
	if (!annotations)
		return NULL;
	for (char *const *i = annotations; i[0] && i[1]; i += 2)
		if (streq(i[0], key))
			return i[1];
	return NULL;
}

size_t annotations_count(char *const *annotations)
{
	size_t n = 0;
	if (annotations)
		while (annotations[2 * n])
			n++;
	return n;
}

/* A JSON string as a C string: refuse embedded NULs (\u0000), which would
 * silently cut a key or a value short. */
static int json_string_dup(json_object *o, char **ret)
{
	const char *s = json_object_get_string(o);
	size_t len = (size_t)json_object_get_string_len(o);
	if (strlen(s) != len)
		return -EINVAL;
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

static int parse_json(const char *buf, size_t size, const char *what, json_object **ret, HookError *err)
{
	_cleanup_(json_tokener_freep) json_tokener *tok = NULL;
	_cleanup_(json_object_putp) json_object *o = NULL;

	if (size > INT_MAX)
		return hook_error_set(err, "%s is too large", what), -EFBIG;
	/* An empty document is the usual sign of a hook run by hand. */
	if (size == 0)
		return hook_error_set(err, "%s is empty", what), -EINVAL;
	if (memchr(buf, '\0', size))
		return hook_error_set(err, "%s contains a NUL byte", what), -EINVAL;

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)size);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue)
		return hook_error_set(err, "%s is not valid JSON: truncated at byte %zu", what, size),
		       -EINVAL;
	if (jerr != json_tokener_success || !o) {
		hook_error_set(err, "%s is not valid JSON: %s at byte %zu", what,
			       json_tokener_error_desc(jerr), json_tokener_get_parse_end(tok));
		return -EINVAL;
	}
	/* Only whitespace may follow the document. */
	for (size_t i = json_tokener_get_parse_end(tok); i < size; i++)
		if (!strchr(" \t\r\n", buf[i]))
			return hook_error_set(err, "%s has trailing data at byte %zu", what, i), -EINVAL;
	if (!json_object_is_type(o, json_type_object))
		return hook_error_set(err, "%s is not a JSON object", what), -EINVAL;

	*ret = TAKE_PTR(o);
	return 0;
}

static int parse_annotations(json_object *obj, const char *what, char ***ret, HookError *err)
{
	_cleanup_strv_free_ char **l = NULL;
	size_t n = 0;

	if (!json_object_is_type(obj, json_type_object))
		return hook_error_set(err, "%s: \"annotations\" is not an object", what), -EINVAL;

	l = calloc(2 * (size_t)json_object_object_length(obj) + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;

	json_object_object_foreach(obj, key, val)
	{
		if (!json_object_is_type(val, json_type_string))
			return hook_error_set(err, "%s: annotation \"%s\" is not a string", what, key),
			       -EINVAL;
		l[2 * n] = strdup(key);
		if (!l[2 * n])
			return -ENOMEM;
		int r = json_string_dup(val, &l[2 * n + 1]);
		if (r == -EINVAL)
			return hook_error_set(err, "%s: annotation \"%s\" contains a NUL character", what,
					      key),
			       r;
		if (r < 0)
			return r;
		n++;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

int oci_config_parse_annotations(const char *buf, size_t size, char ***ret, HookError *err)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	json_object *a;
	int r;

	r = parse_json(buf, size, "config.json", &o, err);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(o, "annotations", &a) || json_object_is_type(a, json_type_null)) {
		char **empty = calloc(1, sizeof(char *));
		if (!empty)
			return -ENOMEM;
		*ret = empty;
		return 0;
	}
	return parse_annotations(a, "config.json", ret, err);
}

static int get_optional_string(json_object *o, const char *key, char **ret, HookError *err)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		*ret = NULL;
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return hook_error_set(err, "OCI state: \"%s\" is not a string", key), -EINVAL;
	int r = json_string_dup(v, ret);
	if (r == -EINVAL)
		hook_error_set(err, "OCI state: \"%s\" contains a NUL character", key);
	return r;
}

int oci_state_parse(const char *buf, size_t size, OciState **ret, HookError *err)
{
	_cleanup_(json_object_putp) json_object *o = NULL;
	_cleanup_oci_state_ OciState *s = NULL;
	json_object *v;
	int r;

	r = parse_json(buf, size, "OCI state", &o, err);
	if (r < 0)
		return r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;

	r = get_optional_string(o, "id", &s->id, err);
	if (r < 0)
		return r;
	if (!s->id || !s->id[0])
		return hook_error_set(err, "OCI state has no container \"id\""), -EINVAL;
	r = get_optional_string(o, "status", &s->status, err);
	if (r < 0)
		return r;
	r = get_optional_string(o, "bundle", &s->bundle, err);
	if (r < 0)
		return r;

	/* runc leaves pid out once the container is gone, crun writes 0. */
	if (json_object_object_get_ex(o, "pid", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_int))
			return hook_error_set(err, "OCI state: \"pid\" is not an integer"), -EINVAL;
		errno = 0;
		int64_t pid = json_object_get_int64(v);
		if (errno != 0 || pid < 0 || pid > INT_MAX)
			return hook_error_set(err, "OCI state: \"pid\" %s is out of range",
					      json_object_to_json_string(v)),
			       -EINVAL;
		s->pid = (pid_t)pid;
	}

	if (json_object_object_get_ex(o, "annotations", &v) && !json_object_is_type(v, json_type_null)) {
		r = parse_annotations(v, "OCI state", &s->annotations, err);
		if (r < 0)
			return r;
		s->has_annotations = 1;
	} else {
		s->annotations = calloc(1, sizeof(char *));
		if (!s->annotations)
			return -ENOMEM;
	}

	*ret = TAKE_PTR(s);
	return 0;
}

/* The bundle is the container's: its config.json may be a FIFO (an open
 * that waits for a writer, a read that never ends) or a device. O_NONBLOCK
 * makes the open return, and only a regular file is read. */
static int read_config_file(const char *path, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if (st.st_size > OCI_CONFIG_MAX_BYTES)
		return -EFBIG;
	return oci_read_bounded(fd, OCI_CONFIG_MAX_BYTES, ret, ret_size);
}

int oci_state_load_bundle_annotations(OciState *s, HookError *err)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	char **l = NULL;
	size_t size;
	int r;

	if (s->has_annotations)
		return 0;
	if (!s->bundle || !s->bundle[0])
		return hook_error_set(err, "OCI state has neither annotations nor a bundle"), -EINVAL;

	path = path_join(s->bundle, "config.json");
	if (!path)
		return -ENOMEM;
	r = read_config_file(path, &buf, &size);
	if (r == -EFBIG)
		return hook_error_set(err, "%s is larger than %d bytes", path, OCI_CONFIG_MAX_BYTES), r;
	if (r == -EBADFD)
		return hook_error_set(err, "%s is not a regular file", path), r;
	if (r < 0)
		return hook_error_set(err, "cannot read %s: %s", path, strerror(-r)), r;
	r = oci_config_parse_annotations(buf, size, &l, err);
	if (r < 0)
		return r;
	strv_free(s->annotations);
	s->annotations = l;
	s->has_annotations = 1;
	return 0;
}

int oci_read_bounded(int fd, size_t max, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, alloc = 0;

	for (;;) {
		if (size + 1 >= alloc) {
			/* Room for max + 1 bytes: one more than allowed tells "too big". */
			size_t n = alloc ? MIN(alloc * 2, max + 2) : MIN((size_t)4096, max + 2);
			if (n <= alloc)
				return -EFBIG;
			char *p = realloc(buf, n);
			if (!p)
				return -ENOMEM;
			buf = p;
			alloc = n;
		}
		ssize_t k = read(fd, buf + size, alloc - size - 1);
		if (k < 0)
			return -errno; /* EINTR included: the deadline fired */
		if (k == 0)
			break;
		size += (size_t)k;
		if (size > max)
			return -EFBIG;
	}
	buf[size] = '\0';
	*ret = TAKE_PTR(buf);
	if (ret_size)
		*ret_size = size;
	return 0;
}
