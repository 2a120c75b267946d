/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "budget-policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "quantity.h"
#include "util.h"

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

uint64_t budget_proc_debt(const BudgetProc *p, uint64_t page_size)
{
	return sat_mul(sat_add(p->merging_pages, p->zero_pages), page_size);
}

uint64_t budget_cgroup_debt(uint64_t merging_pages, uint64_t zero_pages, uint64_t page_size)
{
	return budget_proc_debt(&(BudgetProc){.merging_pages = merging_pages, .zero_pages = zero_pages},
				page_size);
}

uint64_t budget_debt(const BudgetProc *procs, size_t n, uint64_t page_size)
{
	uint64_t d = 0;
	for (size_t i = 0; i < n; i++)
		d = sat_add(d, budget_proc_debt(&procs[i], page_size));
	return d;
}

uint64_t budget_headroom_one(const CgMemory *m, uint64_t swap_free)
{
	if (m->max == CG_LIMIT_MAX)
		return BUDGET_UNLIMITED;
	uint64_t mem = m->current >= m->max ? 0 : m->max - m->current;
	uint64_t swap;
	if (!m->swap_present)
		swap = swap_free; /* no per-cgroup swap accounting: only the system's bounds it */
	else if (m->swap_max == CG_LIMIT_MAX)
		swap = swap_free;
	else
		swap = MIN(m->swap_current >= m->swap_max ? 0 : m->swap_max - m->swap_current, swap_free);
	return sat_add(mem, swap);
}

uint64_t budget_headroom(const CgMemory *levels, size_t n, uint64_t swap_free)
{
	uint64_t h = BUDGET_UNLIMITED;
	for (size_t i = 0; i < n; i++)
		h = MIN(h, budget_headroom_one(&levels[i], swap_free));
	return h;
}

uint64_t budget_safe_limit(const BudgetInput *in, BudgetLimitSource *ret_source)
{
	uint64_t limit = BUDGET_UNLIMITED;
	BudgetLimitSource src = BUDGET_LIMIT_NONE;

	if (in->merge_budget != BUDGET_UNLIMITED) {
		limit = in->merge_budget;
		src = BUDGET_LIMIT_BUDGET;
	}
	if (in->headroom_known && in->headroom != BUDGET_UNLIMITED) {
		uint64_t h = in->headroom > in->margin ? in->headroom - in->margin : 0;
		/* On a tie the budget is named: it is the operator's choice. */
		if (h < limit) {
			limit = h;
			src = BUDGET_LIMIT_HEADROOM;
		}
	}
	if (ret_source)
		*ret_source = src;
	return limit;
}

typedef struct SortCtx {
	const BudgetProc *procs;
	uint64_t page_size;
} SortCtx;

static int order_cmp(const void *a, const void *b, void *userdata)
{
	const SortCtx *c = userdata;
	const BudgetProc *x = &c->procs[*(const size_t *)a], *y = &c->procs[*(const size_t *)b];
	uint64_t dx = budget_proc_debt(x, c->page_size), dy = budget_proc_debt(y, c->page_size);
	if (dx != dy)
		return dx > dy ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

int budget_plan(const BudgetProc *procs, size_t n, const BudgetInput *in, size_t **ret_unmerge,
		BudgetVerdict *ret)
{
	if (in->page_size == 0)
		return -EINVAL;

	BudgetVerdict v = {};
	v.debt = budget_debt(procs, n, in->page_size);
	v.limit = budget_safe_limit(in, &v.source);
	v.over = v.debt > v.limit;
	v.debt_after = v.debt;

	_cleanup_free_ size_t *order = NULL;
	if (v.over) {
		order = calloc(n, sizeof(size_t));
		if (!order)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		SortCtx ctx = {procs, in->page_size};
		qsort_r(order, n, sizeof(size_t), order_cmp, &ctx);

		/* Biggest mergers first: fewest processes touched for the most
		 * debt; skip those whose unmerging would not fit. */
		uint64_t room = in->unmerge_room;
		if (room != BUDGET_UNLIMITED)
			room = room > in->margin ? room - in->margin : 0;
		size_t k = 0;
		for (size_t i = 0; i < n && v.debt_after > v.limit; i++) {
			uint64_t d = budget_proc_debt(&procs[order[i]], in->page_size);
			if (d == 0)
				break; /* sorted: the rest have nothing to give back */
			if (room != BUDGET_UNLIMITED) {
				if (d > room) {
					v.n_unsafe++;
					continue;
				}
				room -= d;
			}
			v.debt_after -= d;
			order[k++] = order[i];
		}
		v.n_unmerge = k;
		if (k == 0)
			order = mfree(order);
	}

	if (ret_unmerge)
		*ret_unmerge = TAKE_PTR(order);
	*ret = v;
	return 0;
}

const char *budget_limit_source_name(BudgetLimitSource s)
{
	switch (s) {
	case BUDGET_LIMIT_NONE:
		return "none";
	case BUDGET_LIMIT_BUDGET:
		return "budget";
	case BUDGET_LIMIT_HEADROOM:
		return "headroom";
	}
	return NULL;
}

const char *budget_verdict_format(const BudgetVerdict *v, const BudgetInput *in, char *buf, size_t size)
{
	/* one buffer per figure: two format_bytes() into one buffer print one value twice */
	char d[FORMAT_BYTES_MAX], l[FORMAT_BYTES_MAX], b[FORMAT_BYTES_MAX], h[FORMAT_BYTES_MAX];
	snprintf(buf, size,
		 "over its %s limit: merge debt %s > %s (budget %s, headroom %s, margin %" PRIu64
		 "): unmerging %zu of its biggest mergers",
		 budget_limit_source_name(v->source), format_bytes(d, sizeof(d), v->debt),
		 format_bytes(l, sizeof(l), v->limit),
		 in->merge_budget == BUDGET_UNLIMITED ? "unlimited"
						      : format_bytes(b, sizeof(b), in->merge_budget),
		 in->headroom_known ? format_bytes(h, sizeof(h), in->headroom) : "unknown", in->margin,
		 v->n_unmerge);
	return buf;
}

static const char *const cgroup_status_names[_CGROUP_STATUS_MAX] = {
	[CGROUP_MERGING] = "merging",
	[CGROUP_OVER_BUDGET] = "over-budget",
	[CGROUP_DISABLED] = "disabled",
	[CGROUP_UNSUPPORTED] = "unsupported",
};

const char *cgroup_status_name(CgroupStatus s)
{
	return s >= 0 && s < _CGROUP_STATUS_MAX ? cgroup_status_names[s] : "unknown";
}

static bool pid_in(const pid_t *l, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == pid)
			return true;
	return false;
}

/* Leaving over-budget or disabled: merging, or unsupported without a memcg. */
static CgroupStatus status_merging(BudgetMemcg memcg)
{
	return memcg == BUDGET_MEMCG_NO ? CGROUP_UNSUPPORTED : CGROUP_MERGING;
}

static int decide_over(const BudgetFacts *f, BudgetDecision *d)
{
	d->limit = budget_safe_limit(&f->in, NULL);
	d->debt = budget_cgroup_debt(f->merging_pages, f->zero_pages, f->in.page_size);
	if (d->debt <= d->limit)
		return 0;
	if (!f->procs_read) {
		d->need_procs = true;
		return 0;
	}

	/* Over on the sums: plan on the processes that can still give back. */
	_cleanup_free_ BudgetProc *procs = calloc(MAX(f->n_procs, (size_t)1), sizeof(BudgetProc));
	if (!procs)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < f->n_procs; i++) {
		const BudgetProc *p = &f->procs[i];
		if (p->pid == f->self || pid_in(f->unmerged, f->n_unmerged, p->pid))
			continue;
		procs[k++] = *p;
	}
	_cleanup_free_ size_t *sel = NULL;
	int r = budget_plan(procs, k, &f->in, &sel, &d->verdict);
	if (r < 0)
		return r;
	if (!d->verdict.over)
		return 0;

	d->status = CGROUP_OVER_BUDGET;
	d->budget_exceeded = true;
	if (d->verdict.n_unmerge == 0)
		return 0;
	if (f->ksm_busy) {
		d->unmerge_later = true;
		return 0;
	}
	d->unmerge = calloc(d->verdict.n_unmerge, sizeof(pid_t));
	if (!d->unmerge)
		return -ENOMEM;
	for (size_t i = 0; i < d->verdict.n_unmerge; i++)
		d->unmerge[i] = procs[sel[i]].pid;
	d->n_unmerge = d->verdict.n_unmerge;
	return 0;
}

int budget_decide(const BudgetFacts *f, BudgetDecision *ret)
{
	if (f->in.page_size == 0)
		return -EINVAL;

	BudgetDecision d = {
		.status = f->status,
		.unsupported_logged = f->unsupported_logged,
		.limit = BUDGET_UNLIMITED,
	};

	/* Without the v2 memory controller only the merge budget applies.
	 * State follows a fresh check only: the check is cached for 30 s. */
	if (!f->memcg_checked)
		;
	else if (f->memcg == BUDGET_MEMCG_NO) {
		d.log_unsupported = !f->unsupported_logged;
		d.unsupported_logged = true;
		if (d.status == CGROUP_MERGING)
			d.status = CGROUP_UNSUPPORTED;
	} else if (f->memcg == BUDGET_MEMCG_YES && d.status == CGROUP_UNSUPPORTED) {
		d.status = CGROUP_MERGING;
		d.unsupported_logged = false;
	}

	switch (f->event) {
	case BUDGET_EVENT_EVALUATE:
		if (d.status != CGROUP_DISABLED && f->enabled) {
			int r = decide_over(f, &d);
			if (r < 0) {
				budget_decision_done(&d);
				return r;
			}
		}
		break;
	case BUDGET_EVENT_BUDGET_SET:
		/* Raising the budget lets an over-budget cgroup merge again. */
		if (d.status == CGROUP_OVER_BUDGET && f->in.merge_budget > f->old_merge_budget) {
			d.status = status_merging(f->memcg);
			d.reset_unmerged = true;
		}
		break;
	case BUDGET_EVENT_ENABLE:
		/* merging until the next memory controller check says otherwise */
		d.reset_unmerged = true;
		if (d.status == CGROUP_OVER_BUDGET || d.status == CGROUP_DISABLED)
			d.status = CGROUP_MERGING;
		break;
	case BUDGET_EVENT_DISABLE:
		d.status = CGROUP_DISABLED;
		break;
	case BUDGET_EVENT_MEMCG:
		break;
	}
	*ret = d;
	return 0;
}

void budget_decision_done(BudgetDecision *d)
{
	free(d->unmerge);
	d->unmerge = NULL;
	d->n_unmerge = 0;
}

void unmerge_predict(uint64_t pages_sharing, uint64_t zero_pages, uint64_t page_size, uint64_t margin,
		     uint64_t mem_available, uint64_t swap_free, UnmergePrediction *ret)
{
	UnmergePrediction p = {
		.pages_sharing = pages_sharing,
		.zero_pages = zero_pages,
		.page_size = page_size,
		.margin = margin,
		.mem_available = mem_available,
		.swap_free = swap_free,
	};
	p.need = sat_add(sat_mul(sat_add(pages_sharing, zero_pages), page_size), margin);
	p.available = sat_add(mem_available, swap_free);
	p.fits = p.need <= p.available;
	*ret = p;
}

const char *unmerge_prediction_format(const UnmergePrediction *p, char *buf, size_t size)
{
	char need[FORMAT_BYTES_MAX], avail[FORMAT_BYTES_MAX];
	snprintf(buf, size,
		 "unmerging needs %s (pages_sharing %" PRIu64 " + ksm_zero_pages %" PRIu64
		 " pages of %" PRIu64 " bytes, plus a margin of %" PRIu64
		 " bytes) %s %s is available (MemAvailable %" PRIu64 " + SwapFree %" PRIu64 " bytes)",
		 format_bytes(need, sizeof(need), p->need), p->pages_sharing, p->zero_pages, p->page_size,
		 p->margin, p->fits ? "and" : "but only", format_bytes(avail, sizeof(avail), p->available),
		 p->mem_available, p->swap_free);
	return buf;
}

bool budget_cgroup_unmerge_fits(uint64_t debt, uint64_t headroom, uint64_t margin)
{
	if (headroom == BUDGET_UNLIMITED)
		return true;
	return sat_add(debt, margin) <= headroom;
}
