/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "persist.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "fileio.h"
#include "ksm-stat.h"
#include "log.h"
#include "macro.h"
#include "registration-marker.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* The snapshot is written by hand, not through json-c objects: building,
 * printing and freeing a json-c tree of every container cost O(N)
 * allocations (4 ms of the event loop at 500 containers). Reading stays
 * json-c. */
static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (;;) {
		/* what JSON escapes: the quote, the backslash, control characters */
		const char *p = s;
		while ((unsigned char)*p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		fwrite(s, 1, (size_t)(p - s), f);
		if (!*p)
			break;
		if (*p == '"' || *p == '\\')
			fputc('\\', f), fputc(*p, f);
		else
			fprintf(f, "\\u%04x", (unsigned char)*p);
		s = p + 1;
	}
	fputc('"', f);
}

static void put_budget(FILE *f, uint64_t v)
{
	if (v == UINT64_MAX)
		fputs("null", f);
	else
		fprintf(f, "%" PRIu64, v);
}

static void put_container(FILE *f, const Container *c)
{
	fputs("{\"id\":", f);
	put_string(f, c->id);
	fputs(",\"cgroup\":", f);
	put_string(f, c->cgroup->path);
	fprintf(f, ",\"pid\":%d,\"seq\":%" PRIu64 ",\"cgroup_seq\":%" PRIu64 ",\"annotations\":{",
		(int)c->init_pid, c->seq, c->cgroup->seq);
	for (size_t i = 0; i < c->n_annotations; i++) {
		if (i > 0)
			fputc(',', f);
		put_string(f, c->annotations[2 * i]);
		fputc(':', f);
		put_string(f, c->annotations[2 * i + 1]);
	}
	fputs("}}", f);
}

/* What f wrote, as a string; f is closed. */
static int memstream_finish(FILE *f, char **buf, char **ret)
{
	if (fclose(f) != 0 || !*buf) {
		free(*buf);
		return -ENOMEM;
	}
	*ret = *buf;
	return 0;
}

int persist_container_format(const Container *c, char **ret)
{
	char *buf = NULL;
	size_t size;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	(void)__fsetlocking(f, FSETLOCKING_BYCALLER);
	put_container(f, c);
	return memstream_finish(f, &buf, ret);
}

int persist_format(Manager *m, char **ret)
{
	char *buf = NULL;
	size_t size;
	FILE *f = open_memstream(&buf, &size);
	bool first = true;

	if (!f)
		return -ENOMEM;
	(void)__fsetlocking(f, FSETLOCKING_BYCALLER);
	fprintf(f, "{\"version\":1,\"seq\":%" PRIu64 ",\"cgroups\":[", m->seq);
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next) {
		fputs(first ? "{\"path\":" : ",{\"path\":", f);
		first = false;
		put_string(f, cg->path);
		fprintf(f, ",\"seq\":%" PRIu64 ",\"enabled\":%s,\"merge_budget\":", cg->seq,
			cg->enabled ? "true" : "false");
		put_budget(f, cg->merge_budget);
		fputs(",\"swap_budget\":", f);
		put_budget(f, cg->swap_budget);
		fputc('}', f);
	}
	fputs("],\"containers\":[", f);
	first = true;
	for (CgroupState *cg = m->cgroups; cg; cg = cg->next)
		for (Container *c = cg->containers; c; c = c->cgroup_next) {
			if (!first)
				fputc(',', f);
			first = false;
			put_container(f, c);
		}
	fputs("]}\n", f);
	return memstream_finish(f, &buf, ret);
}

int persist_save(Manager *m)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = -EBADF;
	int r = persist_format(m, &text);
	if (r < 0)
		return r;
	dfd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return write_file_atomic_at(dfd, PERSIST_FILE, "." PERSIST_FILE ".tmp", text);
}

/* Not a marker's name (those never start with a dot), and short: the
 * name of an id's marker may be up to NAME_MAX already. pagemeldd writes
 * one marker at a time. */
#define MARKER_TMP ".marker.tmp"

/* The markers directory, opened, and the marker's name in it. */
static int marker_open_dir(const char *state_dir, const char *id, int *ret_dfd, char **ret_name)
{
	_cleanup_free_ char *dir = registration_marker_dir(state_dir),
			    *path = registration_marker_path(state_dir, id), *name = NULL;
	if (!dir || !path || !(name = strdup(strrchr(path, '/') + 1)))
		return -ENOMEM;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	*ret_dfd = dfd;
	*ret_name = TAKE_PTR(name);
	return 0;
}

int persist_marker_save(const char *state_dir, const Container *c)
{
	_cleanup_free_ char *name = NULL, *record = NULL;
	_cleanup_close_ int dfd = -EBADF;
	int r = persist_container_format(c, &record);
	if (r >= 0)
		r = marker_open_dir(state_dir, c->id, &dfd, &name);
	if (r >= 0)
		r = write_file_atomic_at(dfd, name, MARKER_TMP, record);
	return r;
}

int persist_marker_refresh(const char *state_dir, const Container *c)
{
	_cleanup_free_ char *record = NULL, *text = NULL, *path = registration_marker_path(state_dir, c->id);
	if (!path)
		return -ENOMEM;
	int r = persist_container_format(c, &record);
	if (r < 0)
		return r;
	if (read_full_file(path, strlen(record), &text, NULL) >= 0 && streq(text, record))
		return 0;
	return persist_marker_save(state_dir, c);
}

int persist_marker_remove(const char *state_dir, const char *id)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int dfd = -EBADF;
	int r = marker_open_dir(state_dir, id, &dfd, &name);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (unlinkat(dfd, name, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
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

/* An absent key (an older pagemeldd's file) reads as 0. */
static uint64_t get_seq(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_uint64(v);
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void persisted_container_done(PersistedContainer *c)
{
	free(c->id);
	free(c->cgroup);
	strv_free(c->kv);
	*c = (PersistedContainer){};
}

void persisted_state_done(PersistedState *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_cgroups; i++)
		free(s->cgroups[i].path);
	for (size_t i = 0; i < s->n_containers; i++)
		persisted_container_done(&s->containers[i]);
	free(s->cgroups);
	free(s->containers);
	*s = (PersistedState){};
}

/* *ret written only on success. */
static int container_parse(json_object *o, PersistedContainer *ret)
{
	_cleanup_(persisted_container_done) PersistedContainer c = {};
	json_object *v, *an;
	const char *id = get_string(o, "id"), *cg = get_string(o, "cgroup");

	if (!id || !cg || cg[0] != '/')
		return -EINVAL;
	if (!json_object_object_get_ex(o, "annotations", &an) || !json_object_is_type(an, json_type_object))
		return -EINVAL;
	c.pid = json_object_object_get_ex(o, "pid", &v) ? json_object_get_int(v) : 0;
	c.seq = get_seq(o, "seq");
	c.cgroup_seq = get_seq(o, "cgroup_seq");
	size_t n = (size_t)json_object_object_length(an), k = 0;
	c.kv = calloc(2 * n + 1, sizeof(char *));
	if (!c.kv || !(c.id = strdup(id)) || !(c.cgroup = strdup(cg)))
		return -ENOMEM;
	json_object_object_foreach(an, key, val)
	{
		if (!json_object_is_type(val, json_type_string))
			return -EINVAL;
		if (!(c.kv[k++] = strdup(key)) || !(c.kv[k++] = strdup(json_object_get_string(val))))
			return -ENOMEM;
	}
	c.n = n;
	*ret = c;
	c = (PersistedContainer){};
	return 0;
}

int persist_parse(const char *text, PersistedState *ret)
{
	_cleanup_(json_object_putp) json_object *root = json_tokener_parse(text);
	_cleanup_(persisted_state_done) PersistedState s = {};
	json_object *v, *cgs, *cts;
	int r;

	if (!root || !json_object_is_type(root, json_type_object))
		return -EINVAL;
	if (!json_object_object_get_ex(root, "version", &v) || json_object_get_int(v) != 1)
		return -EPROTO;
	if (!json_object_object_get_ex(root, "cgroups", &cgs) || !json_object_is_type(cgs, json_type_array) ||
	    !json_object_object_get_ex(root, "containers", &cts) ||
	    !json_object_is_type(cts, json_type_array))
		return -EINVAL;
	s.seq = get_seq(root, "seq");

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
		c->seq = get_seq(o, "seq");
		if (!(c->path = strdup(path)))
			return -ENOMEM;
		s.n_cgroups++;
	}

	for (size_t i = 0; i < nct; i++) {
		r = container_parse(json_object_array_get_idx(cts, i), &s.containers[s.n_containers]);
		if (r < 0)
			return r;
		s.n_containers++;
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

/* ---- rebuilding from the markers ---- */

#define MARKER_MAX (64 << 10)
#define SCAN_DEPTH_MAX 32
#define SCAN_DIRS_MAX (1 << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

typedef struct Lost {
	char *id;
	char *found; /* the first cgroup named after it */
	unsigned matches;
} Lost;

/* name is <id> or has it between non-alphanumerics (crio-<id>.scope), and is
 * not a runtime's monitor (crio-conmon-<id>.scope). */
static bool named_after(const char *name, const char *id)
{
	size_t l = strlen(id);
	for (const char *p = strstr(name, id); p; p = strstr(p + 1, id)) {
		bool start = p == name || !isalnum((unsigned char)p[-1]);
		bool end = !p[l] || !isalnum((unsigned char)p[l]);
		if (start && end)
			return !strstr(name, "conmon");
	}
	return false;
}

static int scan(const char *mount, const char *rel, unsigned depth, Lost *lost, size_t n, size_t *dirs)
{
	_cleanup_free_ char *full = path_join(mount, rel);
	_cleanup_(closedirp) DIR *d = NULL;

	if (!full)
		return -ENOMEM;
	d = opendir(full);
	if (!d)
		return 0; /* gone meanwhile, or not ours to read */
	for (struct dirent *de; (de = readdir(d));) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR &&
		    (de->d_type != DT_UNKNOWN ||
		     fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)))
			continue;
		if (++*dirs > SCAN_DIRS_MAX)
			return -E2BIG;
		_cleanup_free_ char *child = strdup_printf("%s/%s", streq(rel, "/") ? "" : rel, de->d_name);
		if (!child)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			if (named_after(de->d_name, lost[i].id) && lost[i].matches++ == 0 &&
			    !(lost[i].found = strdup(child)))
				return -ENOMEM;
		if (depth < SCAN_DEPTH_MAX) {
			int r = scan(mount, child, depth + 1, lost, n, dirs);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Merging on in any process, or nothing to tell: enabled. All off: disabled. */
static bool cgroup_merging(const char *mount, const char *proc_root, const char *path)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	bool off = false;

	if (cg_list_procs(mount, path, &pids, &n) < 0)
		return true;
	for (size_t i = 0; i < n; i++) {
		KsmStat st;
		if (ksm_stat_read(proc_root, pids[i], &st) < 0)
			continue;
		if (st.merge_any == KSM_TRISTATE_YES)
			return true;
		off = off || st.merge_any == KSM_TRISTATE_NO;
	}
	return !off;
}

static int add_container(PersistedState *s, size_t *alloc, PersistedContainer *c)
{
	if (s->n_containers == *alloc) {
		size_t na = *alloc ? 2 * *alloc : 16;
		PersistedContainer *nc = reallocarray(s->containers, na, sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		s->containers = nc;
		*alloc = na;
	}
	s->containers[s->n_containers++] = *c;
	*c = (PersistedContainer){};
	return 0;
}

/* The marker's record, when it holds one for this id. */
static int marker_record(int dfd, const char *name, const char *id, PersistedContainer *ret)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	_cleanup_free_ char *text = NULL;
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size > MARKER_MAX)
		return -EINVAL; /* an empty marker: an older pagemeldd's */
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		return -ENOMEM;
	ssize_t l = pread(fd, text, (size_t)st.st_size, 0);
	if (l < 0)
		return -errno;
	text[l] = '\0';
	_cleanup_(json_object_putp) json_object *o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object))
		return -EINVAL;
	PersistedContainer c;
	int r = container_parse(o, &c);
	if (r < 0)
		return r;
	if (!streq(c.id, id)) {
		persisted_container_done(&c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

/* The snapshot's record of id, taken out of it; NULL when it has none. */
static PersistedContainer *snapshot_take(PersistedState *snapshot, const char *id)
{
	for (size_t i = 0; snapshot && i < snapshot->n_containers; i++)
		if (snapshot->containers[i].id && streq(snapshot->containers[i].id, id))
			return &snapshot->containers[i];
	return NULL;
}

/* The snapshot's entry for a cgroup: the same path, created by the same
 * registration. */
static PersistedCgroup *snapshot_cgroup(PersistedState *snapshot, const char *path, uint64_t seq)
{
	for (size_t i = 0; snapshot && i < snapshot->n_cgroups; i++)
		if (snapshot->cgroups[i].path && streq(snapshot->cgroups[i].path, path) &&
		    snapshot->cgroups[i].seq == seq)
			return &snapshot->cgroups[i];
	return NULL;
}

static int container_seq_cmp(const void *a, const void *b)
{
	const PersistedContainer *x = a, *y = b;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

int persist_rebuild(const char *state_dir, const char *cgroup_mount, const char *proc_root,
		    PersistedState *snapshot, PersistedState *ret)
{
	_cleanup_(persisted_state_done) PersistedState s = {};
	_cleanup_free_ char *dir = registration_marker_dir(state_dir);
	_cleanup_(closedirp) DIR *d = NULL;
	Lost *lost = NULL;
	size_t n_lost = 0, alloc = 0, dirs = 0;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	d = opendir(dir);
	if (!d && errno != ENOENT)
		return -errno;
	if (!d && snapshot) {
		for (size_t i = 0; i < snapshot->n_containers; i++)
			snapshot->containers[i].newer = false;
		*ret = *snapshot;
		*snapshot = (PersistedState){};
		return 0;
	}
	for (struct dirent *de; d && (de = readdir(d));) {
		_cleanup_free_ char *id = NULL;
		PersistedContainer c = {}, *saved;
		if (de->d_name[0] == '.')
			continue;
		if (registration_marker_id(de->d_name, &id) < 0) {
			log_debug("Rebuild: %s/%s names no container", dir, de->d_name);
			continue;
		}
		r = marker_record(dirfd(d), de->d_name, id, &c);
		if (r == -ENOMEM)
			goto finish;
		if (r >= 0)
			c.newer = !snapshot || c.seq > snapshot->seq;
		else if ((saved = snapshot_take(snapshot, id))) { /* an older pagemeldd's empty marker */
			c = *saved;
			*saved = (PersistedContainer){};
		}
		if (c.id) {
			r = add_container(&s, &alloc, &c);
			if (r < 0) {
				persisted_container_done(&c);
				goto finish;
			}
			continue;
		}
		Lost *nl = reallocarray(lost, n_lost + 1, sizeof(Lost));
		if (!nl) {
			r = -ENOMEM;
			goto finish;
		}
		lost = nl;
		lost[n_lost++] = (Lost){.id = TAKE_PTR(id)};
	}

	/* Markers without a record: their cgroups, by name. */
	if (n_lost > 0 && cgroup_mount) {
		r = scan(cgroup_mount, "/", 0, lost, n_lost, &dirs);
		if (r < 0 && r != -E2BIG)
			goto finish;
	}
	for (size_t i = 0; i < n_lost; i++) {
		if (lost[i].matches != 1) {
			log_debug("Rebuild: container %s: %u cgroups named after it", lost[i].id,
				  lost[i].matches);
			continue;
		}
		PersistedContainer c = {.id = TAKE_PTR(lost[i].id),
					.cgroup = TAKE_PTR(lost[i].found),
					.newer = true,
					.kv = calloc(1, sizeof(char *))};
		r = c.kv ? add_container(&s, &alloc, &c) : -ENOMEM;
		persisted_container_done(&c);
		if (r < 0)
			goto finish;
	}

	/* In the order they registered: where two set their cgroup's budget,
	 * the later one's stays, as it did. */
	if (s.n_containers > 1)
		qsort(s.containers, s.n_containers, sizeof(PersistedContainer), container_seq_cmp);

	/* One entry per cgroup: the snapshot's, else its state scanned (without
	 * a snapshot) or a new cgroup's (created after the snapshot, which
	 * would hold it had it been disabled or budgeted since). */
	s.seq = snapshot ? snapshot->seq : 0;
	s.cgroups = calloc(s.n_containers ?: 1, sizeof(PersistedCgroup));
	if (!s.cgroups) {
		r = -ENOMEM;
		goto finish;
	}
	for (size_t i = 0; i < s.n_containers; i++) {
		const PersistedContainer *c = &s.containers[i];
		bool known = false;
		s.seq = MAX(s.seq, MAX(c->seq, c->cgroup_seq));
		for (size_t j = 0; j < s.n_cgroups && !known; j++)
			known = streq(s.cgroups[j].path, c->cgroup);
		if (known)
			continue;
		PersistedCgroup *cg = &s.cgroups[s.n_cgroups],
				*saved = snapshot_cgroup(snapshot, c->cgroup, c->cgroup_seq);
		if (saved) {
			*cg = *saved;
			*saved = (PersistedCgroup){};
		} else {
			*cg = (PersistedCgroup){.seq = c->cgroup_seq,
						.rebuilt = true,
						.merge_budget = UINT64_MAX,
						.swap_budget = UINT64_MAX};
			cg->enabled = snapshot || !cgroup_mount ||
				      cgroup_merging(cgroup_mount, proc_root, c->cgroup);
			if (!(cg->path = strdup(c->cgroup))) {
				r = -ENOMEM;
				goto finish;
			}
		}
		s.n_cgroups++;
	}
	*ret = s;
	s = (PersistedState){};
	r = 0;
finish:
	for (size_t i = 0; i < n_lost; i++) {
		free(lost[i].id);
		free(lost[i].found);
	}
	free(lost);
	return r;
}
