/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pod-identity.h"

#include "macro.h"

enum {
	F_NAMESPACE,
	F_NAME,
	F_UID,
	F_CONTAINER,
	_F_MAX,
};

/* Per runtime, the key of each field; NULL where the runtime sets none. */
static const char *const field_keys[_POD_RUNTIME_MAX][_F_MAX] = {
	[POD_RUNTIME_CONTAINERD] =
		{
			[F_NAMESPACE] = "io.kubernetes.cri.sandbox-namespace",
			[F_NAME] = "io.kubernetes.cri.sandbox-name",
			[F_UID] = "io.kubernetes.cri.sandbox-uid",
			[F_CONTAINER] = "io.kubernetes.cri.container-name",
		},
	[POD_RUNTIME_CRIO] =
		{
			[F_NAMESPACE] = "io.kubernetes.pod.namespace",
			[F_NAME] = "io.kubernetes.pod.name",
			[F_UID] = "io.kubernetes.pod.uid",
			[F_CONTAINER] = "io.kubernetes.container.name",
		},
};

#define KEY_CONTAINER_MANAGER "io.container.manager"

/* Keys that only one runtime writes, beyond the field keys: containerd's
 * remaining io.kubernetes.cri.* keys. (podman kube play also writes
 * io.kubernetes.cri-o.ContainerType and SandboxID, so CRI-O's own
 * io.kubernetes.cri-o.* keys identify no runtime.) */
static const char *const containerd_keys[] = {
	"io.kubernetes.cri.container-type",
	"io.kubernetes.cri.sandbox-id",
	"io.kubernetes.cri.image-name",
};

static bool alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool kube_label_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool kube_subdomain_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 253)
		return false;
	/* dot-separated parts, each like a label but without the length cap */
	for (const char *part = s;;) {
		size_t len = strcspn(part, ".");
		if (len == 0 || !alnum_lower(part[0]) || !alnum_lower(part[len - 1]))
			return false;
		for (size_t i = 0; i < len; i++)
			if (!alnum_lower(part[i]) && part[i] != '-')
				return false;
		if (!part[len])
			return true;
		part += len + 1;
	}
}

static bool uid_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!alnum_lower(c) && !(c >= 'A' && c <= 'Z') && c != '-' && c != '.' && c != '_')
			return false;
	}
	return true;
}

static bool field_valid(int f, const char *v)
{
	switch (f) {
	case F_NAME:
		return kube_subdomain_name_valid(v);
	case F_UID:
		return uid_valid(v);
	default:
		return kube_label_name_valid(v);
	}
}

const char *pod_runtime_to_string(PodRuntime r)
{
	static const char *const names[_POD_RUNTIME_MAX] = {
		[POD_RUNTIME_NONE] = "none",
		[POD_RUNTIME_CONTAINERD] = "containerd",
		[POD_RUNTIME_CRIO] = "cri-o",
		[POD_RUNTIME_PODMAN] = "podman",
	};
	return (unsigned)r < _POD_RUNTIME_MAX ? names[r] : NULL;
}

/* The runtime a key belongs to (as its field key, *ret_field set, or as a
 * marker, *ret_field = -1); POD_RUNTIME_NONE for any other key. */
static PodRuntime key_runtime(const char *key, const char *value, int *ret_field)
{
	*ret_field = -1;
	for (PodRuntime r = 0; r < _POD_RUNTIME_MAX; r++)
		for (int f = 0; f < _F_MAX; f++)
			if (field_keys[r][f] && streq(key, field_keys[r][f])) {
				*ret_field = f;
				return r;
			}
	for (size_t i = 0; i < ELEMENTSOF(containerd_keys); i++)
		if (streq(key, containerd_keys[i]))
			return POD_RUNTIME_CONTAINERD;
	if (streq(key, KEY_CONTAINER_MANAGER)) {
		if (streq(value, "cri-o"))
			return POD_RUNTIME_CRIO;
		if (streq(value, "libpod"))
			return POD_RUNTIME_PODMAN;
	}
	return POD_RUNTIME_NONE;
}

bool pod_identity_key(const char *key)
{
	int f;
	return key && (key_runtime(key, "", &f) != POD_RUNTIME_NONE || streq(key, KEY_CONTAINER_MANAGER));
}

void pod_identity_done(PodIdentity *id)
{
	if (!id)
		return;
	free(id->pod_namespace);
	free(id->pod_name);
	free(id->pod_uid);
	free(id->container_name);
	*id = (PodIdentity){};
}

int pod_identity_from_annotations(char *const *kv, size_t n, PodIdentity *ret, const char **ret_bad_key)
{
	PodRuntime runtime = POD_RUNTIME_NONE;
	const char *values[_F_MAX] = {};
	const char *keys[_F_MAX] = {};

	for (size_t i = 0; i < n; i++) {
		const char *key = kv[2 * i], *value = kv[2 * i + 1];
		int f;
		PodRuntime r = key_runtime(key, value, &f);
		if (r == POD_RUNTIME_NONE)
			continue;
		if (runtime != POD_RUNTIME_NONE && r != runtime) {
			/* the later key of the two names the conflict */
			if (ret_bad_key)
				*ret_bad_key = key;
			return -EBADMSG;
		}
		runtime = r;
		if (f < 0)
			continue;
		if (keys[f]) {
			if (ret_bad_key)
				*ret_bad_key = key;
			return -EBADMSG;
		}
		keys[f] = key;
		values[f] = value;
	}

	for (int f = 0; f < _F_MAX; f++)
		if (values[f] && *values[f] && !field_valid(f, values[f])) {
			if (ret_bad_key)
				*ret_bad_key = keys[f];
			return -EINVAL;
		}

	_cleanup_(pod_identity_done) PodIdentity id = {.runtime = runtime};
	char **out[_F_MAX] = {
		[F_NAMESPACE] = &id.pod_namespace,
		[F_NAME] = &id.pod_name,
		[F_UID] = &id.pod_uid,
		[F_CONTAINER] = &id.container_name,
	};
	for (int f = 0; f < _F_MAX; f++) {
		if (!values[f] || !*values[f])
			continue;
		*out[f] = strdup(values[f]);
		if (!*out[f])
			return -ENOMEM;
	}
	*ret = id;
	id = (PodIdentity){};
	return 0;
}
