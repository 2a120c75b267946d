/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "estimate.h"

#include <assert.h>
#include <math.h>
#include <xxhash.h>

#include "estimate-internal.h"
#include "macro.h"

/* One (content, group) with its page count; count 0 marks an empty slot.
 * pinned: the content is counted exactly, never sampled. */
typedef struct Entry {
	uint64_t hash;
	uint32_t group : 31;
	uint32_t pinned : 1;
	uint32_t count;
} Entry;

#define MIN_CAPACITY 1024

static size_t slot_of(uint64_t hash, uint32_t group, unsigned bits)
{
	/* The high bits of a multiplicative mix: sampling keeps hashes with
	 * zero low bits, so the low bits must not pick the slot. */
	uint64_t k = (hash ^ ((uint64_t)group * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
	return (size_t)(k >> (64 - bits));
}

static void table_put(Entry *table, unsigned bits, Entry x)
{
	size_t mask = ((size_t)1 << bits) - 1;
	for (size_t i = slot_of(x.hash, x.group, bits);; i = (i + 1) & mask)
		if (table[i].count == 0) {
			table[i] = x;
			return;
		}
}

static bool sampled_in(uint64_t hash, unsigned shift)
{
	return (hash & ((UINT64_C(1) << shift) - 1)) == 0;
}

static void note_bytes(Estimator *e, uint64_t extra)
{
	uint64_t now = ((uint64_t)1 << e->bits) * sizeof(Entry) + extra;
	if (e->pinned)
		now += ((uint64_t)1 << e->pinned_bits) * sizeof(uint64_t);
	e->table_bytes_peak = MAX(e->table_bytes_peak, now);
}

/* Move every entry kept at `shift` into a table of 2^bits slots. */
static int rebuild(Estimator *e, unsigned bits, unsigned shift)
{
	Entry *t = calloc((size_t)1 << bits, sizeof(Entry));
	if (!t)
		return -ENOMEM;
	note_bytes(e, ((uint64_t)1 << bits) * sizeof(Entry));
	size_t used = 0;
	for (size_t i = 0; i < ((size_t)1 << e->bits); i++)
		if (e->table[i].count > 0 && (e->table[i].pinned || sampled_in(e->table[i].hash, shift))) {
			table_put(t, bits, e->table[i]);
			used++;
		}
	free(e->table);
	e->table = t;
	e->bits = bits;
	e->used = used;
	e->sample_shift = shift;
	return 0;
}

/* The set of pinned contents (hash 0 stands for an empty slot, so a content
 * hashing to 0 is never pinned). */
static bool pinned_has(const Estimator *e, uint64_t hash)
{
	size_t mask = ((size_t)1 << e->pinned_bits) - 1;
	for (size_t i = slot_of(hash, 0, e->pinned_bits);; i = (i + 1) & mask) {
		if (e->pinned[i] == 0)
			return false;
		if (e->pinned[i] == hash)
			return true;
	}
}

/* Before the first sampling, every count is exact: the heaviest contents
 * (those whose entries take at most 1/8 of the table) stay exact from now
 * on. Sampling them would let one content decide the estimate by falling on
 * one side of the hash mask or the other; which contents are pinned does
 * not depend on the hash, so the sampled rest stays unbiased. */
static int pin_heavy(Estimator *e)
{
	size_t cap = (size_t)1 << e->bits, budget = cap / 8, hist[33] = {};
	for (size_t i = 0; i < cap; i++)
		if (e->table[i].count > 0)
			hist[63 - __builtin_clzll(e->table[i].count)]++;
	for (unsigned b = 1; b < ELEMENTSOF(hist); b++) {
		size_t n = 0;
		for (unsigned k = b; k < ELEMENTSOF(hist); k++)
			n += hist[k];
		if (n == 0)
			return 0;
		if (n > budget)
			continue;
		unsigned bits = 4;
		while (((size_t)1 << bits) < 2 * n)
			bits++;
		free(e->pinned);
		e->pinned = calloc((size_t)1 << bits, sizeof(uint64_t));
		if (!e->pinned)
			return -ENOMEM;
		e->pinned_bits = bits;
		size_t mask = ((size_t)1 << bits) - 1;
		for (size_t i = 0; i < cap; i++) {
			uint64_t h = e->table[i].hash;
			if (e->table[i].count >> b == 0 || h == 0 || pinned_has(e, h))
				continue;
			for (size_t j = slot_of(h, 0, bits);; j = (j + 1) & mask)
				if (e->pinned[j] == 0) {
					e->pinned[j] = h;
					break;
				}
		}
		/* a pinned content's entries in every group stay too */
		size_t m = 0;
		for (size_t i = 0; i < cap; i++)
			m += e->table[i].count > 0 && pinned_has(e, e->table[i].hash);
		if (m > budget)
			continue;
		for (size_t i = 0; i < cap; i++)
			if (e->table[i].count > 0 && pinned_has(e, e->table[i].hash))
				e->table[i].pinned = 1;
		note_bytes(e, 0);
		return 0;
	}
	free(e->pinned);
	e->pinned = NULL;
	return 0;
}

/* Called when one more entry would pass the 1/2 load factor: double the
 * table, or, at its cap, sample more sparsely into a table half as big (so
 * the old and new arrays together never exceed 1.5 times the cap). */
static int make_room(Estimator *e)
{
	if (((uint64_t)2 << e->bits) * sizeof(Entry) <= e->max_table_bytes)
		return rebuild(e, e->bits + 1, e->sample_shift);

	if (e->sample_shift == 0) {
		int r = pin_heavy(e);
		if (r < 0)
			return r;
	}
	unsigned bits = e->bits - 1, shift = e->sample_shift;
	size_t kept;
	do {
		if (++shift >= 64)
			return -E2BIG;
		kept = 0;
		for (size_t i = 0; i < ((size_t)1 << e->bits); i++)
			if (e->table[i].count > 0 &&
			    (e->table[i].pinned || sampled_in(e->table[i].hash, shift)))
				kept++;
	} while (kept + 1 > ((size_t)1 << bits) / 2);
	return rebuild(e, bits, shift);
}

static int table_add(Estimator *e, uint64_t hash, uint32_t group)
{
	bool pin = e->pinned && pinned_has(e, hash);
	if (!pin && !sampled_in(hash, e->sample_shift))
		return 0;
	size_t mask = ((size_t)1 << e->bits) - 1;
	for (size_t i = slot_of(hash, group, e->bits);; i = (i + 1) & mask) {
		Entry *x = &e->table[i];
		if (x->count == 0)
			break;
		if (x->hash == hash && x->group == group) {
			if (x->count == UINT32_MAX)
				return -EOVERFLOW;
			x->count++;
			return 0;
		}
	}
	if (e->used + 1 > ((size_t)1 << e->bits) / 2) {
		int r = make_room(e);
		if (r < 0)
			return r;
		pin = e->pinned && pinned_has(e, hash);
		if (!pin && !sampled_in(hash, e->sample_shift))
			return 0;
	}
	table_put(e->table, e->bits, (Entry){.hash = hash, .group = group, .pinned = pin, .count = 1});
	e->used++;
	return 0;
}

int estimator_new(const EstimatorConfig *config, Estimator **ret)
{
	assert(ret);
	_cleanup_estimator_ Estimator *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (config)
		e->config = *config;
	e->max_table_bytes = e->config.max_table_bytes ?: ESTIMATE_DEFAULT_MAX_TABLE_BYTES;
	if (e->max_table_bytes < MIN_CAPACITY * sizeof(Entry))
		return -EINVAL;
	e->page_size = (size_t)sysconf(_SC_PAGESIZE);
	e->zero = calloc(1, e->page_size);
	if (!e->zero)
		return -ENOMEM;
	e->zero_hash = XXH3_64bits(e->zero, e->page_size);
	e->bits = 10;
	e->table = calloc(MIN_CAPACITY, sizeof(Entry));
	if (!e->table)
		return -ENOMEM;
	note_bytes(e, 0);
	*ret = TAKE_PTR(e);
	return 0;
}

Estimator *estimator_free(Estimator *e)
{
	if (!e)
		return NULL;
	free(e->table);
	free(e->pinned);
	free(e->groups);
	free(e->zero);
	estimator_walker_free(e);
	free(e);
	return NULL;
}

int estimator_add_group(Estimator *e, bool managed, unsigned *ret_group)
{
	assert(e && ret_group);
	if (e->n_groups >= INT32_MAX) /* Entry.group has 31 bits */
		return -E2BIG;
	GroupState *g = reallocarray(e->groups, e->n_groups + 1, sizeof(GroupState));
	if (!g)
		return -ENOMEM;
	e->groups = g;
	e->groups[e->n_groups] = (GroupState){.managed = managed};
	*ret_group = (unsigned)e->n_groups++;
	return 0;
}

size_t estimator_page_size(const Estimator *e)
{
	return e->page_size;
}

int estimator_add_pages(Estimator *e, unsigned group, const void *buf, size_t n_pages)
{
	assert(e && (buf || n_pages == 0));
	if (group >= e->n_groups)
		return -EINVAL;
	GroupState *g = &e->groups[group];
	const uint8_t *p = buf;
	for (size_t i = 0; i < n_pages; i++, p += e->page_size) {
		uint64_t h = XXH3_64bits(p, e->page_size);
		g->pages_scanned++;
		/* Zero pages stay out of the table: counted exactly, never sampled. */
		if (h == e->zero_hash && memcmp(p, e->zero, e->page_size) == 0) {
			g->zero_pages++;
			continue;
		}
		int r = table_add(e, h, group);
		if (r < 0)
			return r;
	}
	return 0;
}

void estimator_count_volatile(Estimator *e, unsigned group, uint64_t n_pages)
{
	if (group < e->n_groups) {
		e->groups[group].volatile_pages += n_pages;
		e->groups[group].pages_scanned += n_pages;
	}
}

void estimator_count_forked(Estimator *e, unsigned group, uint64_t n_pages)
{
	if (group < e->n_groups) {
		e->groups[group].forked_pages += n_pages;
		e->groups[group].pages_scanned += n_pages;
	}
}

void estimator_count_unreadable(Estimator *e, unsigned group, uint64_t n_pages)
{
	if (group < e->n_groups)
		e->groups[group].unreadable_pages += n_pages;
}

/* Pages KSM frees when n identical pages merge: all but one per KSM page,
 * and a KSM page takes at most max_page_sharing sharers. */
static uint64_t ksm_pages_for(const Estimator *e, uint64_t n)
{
	if (n == 0)
		return 0;
	uint64_t mps = e->config.max_page_sharing;
	return mps > 0 ? (n + mps - 1) / mps : 1;
}

static uint64_t saving(const Estimator *e, uint64_t n)
{
	return n - ksm_pages_for(e, n);
}

static int cmp_entry(const void *a, const void *b)
{
	const Entry *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->group < y->group ? -1 : x->group > y->group;
}

/* One content: its entries (one per group holding it), each count scaled.
 * Adds its share to every figure. */
static void account_content(const Estimator *e, const Entry *run, size_t n, uint64_t scale, EstimateResult *r,
			    double *sumsq)
{
	uint64_t total = 0, managed = 0;
	for (size_t i = 0; i < n; i++) {
		total += run[i].count;
		if (e->groups[run[i].group].managed)
			managed += run[i].count;
	}
	uint64_t s = saving(e, total);
	if (run[0].pinned)
		scale = 1;
	else
		*sumsq += (double)s * (double)s;
	r->dup_pages += s * scale;
	if (total >= 2)
		r->ksm_pages += ksm_pages_for(e, total) * scale;
	r->managed_dup_pages += saving(e, managed) * scale;
	for (size_t i = 0; i < n; i++) {
		EstimateGroup *g = &r->groups[run[i].group];
		uint64_t c = run[i].count;
		g->dup_within_pages += saving(e, c) * scale;
		if (e->groups[run[i].group].managed)
			g->marginal_pages += (saving(e, managed) - saving(e, managed - c)) * scale;
		else
			g->marginal_pages += (saving(e, managed + c) - saving(e, managed)) * scale;
	}
}

int estimator_result(const Estimator *e, EstimateResult *ret)
{
	assert(e && ret);
	EstimateResult r = {
		.sample_shift = e->sample_shift,
		.n_groups = e->n_groups,
	};
	r.groups = calloc(MAX(e->n_groups, (size_t)1), sizeof(EstimateGroup));
	if (!r.groups)
		return -ENOMEM;

	/* Sort a copy, so the estimator can go on scanning. */
	_cleanup_free_ Entry *sorted = malloc(MAX(e->used, (size_t)1) * sizeof(Entry));
	if (!sorted) {
		free(r.groups);
		return -ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; i < ((size_t)1 << e->bits); i++)
		if (e->table[i].count > 0)
			sorted[n++] = e->table[i];
	assert(n == e->used);
	qsort(sorted, n, sizeof(Entry), cmp_entry);

	uint64_t scale = UINT64_C(1) << e->sample_shift;
	double sumsq = 0;
	for (size_t a = 0, b; a < n; a = b) {
		for (b = a + 1; b < n && sorted[b].hash == sorted[a].hash; b++)
			;
		account_content(e, sorted + a, b - a, scale, &r, &sumsq);
	}
	if (e->sample_shift > 0)
		r.dup_stderr_pages = sqrt((double)(scale - 1) * (double)scale * sumsq);

	/* Zero pages, counted exactly: one more content, or, with
	 * use_zero_pages, each one mapped to the zero page and saved. */
	if (e->config.use_zero_pages) {
		for (size_t i = 0; i < e->n_groups; i++) {
			uint64_t z = e->groups[i].zero_pages;
			r.dup_pages += z;
			r.groups[i].dup_within_pages += z;
			r.groups[i].marginal_pages += z;
			if (e->groups[i].managed)
				r.managed_dup_pages += z;
		}
	} else {
		_cleanup_free_ Entry *zero_run = calloc(MAX(e->n_groups, (size_t)1), sizeof(Entry));
		if (!zero_run) {
			free(r.groups);
			return -ENOMEM;
		}
		size_t nz = 0;
		for (size_t i = 0; i < e->n_groups; i++)
			if (e->groups[i].zero_pages > 0) {
				if (e->groups[i].zero_pages > UINT32_MAX) {
					free(r.groups);
					return -EOVERFLOW;
				}
				zero_run[nz++] = (Entry){.group = (uint32_t)i,
							 .count = (uint32_t)e->groups[i].zero_pages};
			}
		double ignored = 0;
		if (nz > 0)
			account_content(e, zero_run, nz, 1, &r, &ignored);
	}

	for (size_t i = 0; i < e->n_groups; i++) {
		const GroupState *s = &e->groups[i];
		EstimateGroup *g = &r.groups[i];
		g->pages_scanned = s->pages_scanned;
		g->zero_pages = s->zero_pages;
		g->volatile_pages = s->volatile_pages;
		g->unreadable_pages = s->unreadable_pages;
		g->forked_pages = s->forked_pages;
		g->marginal_profit_bytes = (int64_t)(g->marginal_pages * e->page_size) -
					   (int64_t)(g->pages_scanned * ESTIMATE_RMAP_ITEM_BYTES);
		r.pages_scanned += s->pages_scanned;
		r.zero_pages += s->zero_pages;
		r.volatile_pages += s->volatile_pages;
		r.unreadable_pages += s->unreadable_pages;
		r.forked_pages += s->forked_pages;
		r.dup_within_pages += g->dup_within_pages;
	}
	r.dup_across_pages = r.dup_pages - r.dup_within_pages;
	r.profit_bytes =
		(int64_t)(r.dup_pages * e->page_size) - (int64_t)(r.pages_scanned * ESTIMATE_RMAP_ITEM_BYTES);
	r.table_bytes_peak = e->table_bytes_peak;
	*ret = r;
	return 0;
}

void estimate_result_done(EstimateResult *r)
{
	if (!r)
		return;
	free(r->groups);
	r->groups = NULL;
	r->n_groups = 0;
}
