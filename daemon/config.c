/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <ini.h>
#include <stdio.h>
#include <syslog.h>

#include "annotations.h"
#include "fileio.h"
#include "ksm-sysfs.h"
#include "log.h"
#include "macro.h"
#include "pod-identity.h"
#include "quantity.h"

static const char *const trust_domain_mode_names[_TRUST_DOMAIN_MODE_MAX] = {
	[TRUST_DOMAIN_MODE_IGNORE] = "off",
	[TRUST_DOMAIN_MODE_SINGLE] = "single",
};

const char *trust_domain_mode_name(TrustDomainMode m)
{
	return m >= 0 && m < _TRUST_DOMAIN_MODE_MAX ? trust_domain_mode_names[m] : NULL;
}

int trust_domain_mode_from_name(const char *s)
{
	if (streq(s, "ignore")) /* the first name of "off" */
		return TRUST_DOMAIN_MODE_IGNORE;
	for (int i = 0; i < _TRUST_DOMAIN_MODE_MAX; i++)
		if (streq(s, trust_domain_mode_names[i]))
			return i;
	return -EINVAL;
}

static const char *const scan_policy_mode_names[_SCAN_POLICY_MAX] = {
	[SCAN_POLICY_KERNEL] = "kernel",
	[SCAN_POLICY_PAGEMELD] = "pagemeld",
	[SCAN_POLICY_ADVISOR] = "advisor",
};

const char *scan_policy_mode_name(int m)
{
	return m >= 0 && m < _SCAN_POLICY_MAX ? scan_policy_mode_names[m] : NULL;
}

int scan_policy_mode_from_name(const char *s)
{
	for (int i = 0; i < _SCAN_POLICY_MAX; i++)
		if (streq(s, scan_policy_mode_names[i]))
			return i;
	return -EINVAL;
}

void config_init_defaults(Config *c)
{
	*c = (Config){
		.sweep_interval_usec = 5 * 1000000ULL,
		.log_level = LOG_INFO,
		.start_ksm = true,
		.inject_stall_usec = 1000 * 1000ULL,
		.inject_timeout_usec = 30 * 1000 * 1000ULL,
		.default_merge_budget = UINT64_MAX,
		.default_swap_budget = UINT64_MAX,
		.max_merge_budget = UINT64_MAX,
		.headroom_margin = 8ULL << 20,
		.unmerge_all_margin = 128ULL << 20,
		.scan_policy = SCAN_POLICY_KERNEL,
		.target_scan_usec = 60ULL * 1000000ULL,
		.ksmd_cpu_budget = 0.10,
		.ksmd_pages_per_cpu_ms = KSMD_PAGES_PER_CPU_MS_DEFAULT,
		.trust_domain_mode = TRUST_DOMAIN_MODE_SINGLE,
		.estimate_rate = (uint64_t)ESTIMATE_RATE_MIBPS_DEFAULT << 20,
	};
	c->reader_group = strdup(READER_GROUP_DEFAULT); /* NULL when out of memory: root only */
}

static void trust_rules_free(Config *c)
{
	for (size_t i = 0; i < c->n_trust_rules; i++) {
		free(c->trust_rules[i].glob);
		free(c->trust_rules[i].domain);
	}
	free(c->trust_rules);
	c->trust_rules = NULL;
	c->n_trust_rules = 0;
}

void config_done(Config *c)
{
	if (!c)
		return;
	free(c->advisor_mode);
	free(c->trust_domain);
	free(c->reader_group);
	free(c->trust_no_namespace);
	trust_rules_free(c);
	c->advisor_mode = c->trust_domain = c->reader_group = c->trust_no_namespace = NULL;
}

TrustDomainMap config_trust_map(const Config *c)
{
	return (TrustDomainMap){
		.rules = c->trust_rules,
		.n_rules = c->n_trust_rules,
		.no_namespace = c->trust_no_namespace ?: TRUST_DOMAIN_NO_NAMESPACE,
	};
}

/* Namespace=GLOB DOMAIN; empty: forget the rules so far. A glob is what a
 * namespace is made of plus fnmatch's *?[]!. */
static int parse_trust_rule(Config *c, const char *v, const char **why)
{
	if (!*v) {
		trust_rules_free(c);
		return 0;
	}
	size_t gl = strcspn(v, " \t");
	const char *d = v + gl + strspn(v + gl, " \t");
	if (gl == 0 || gl > 253 || !*d || !trust_domain_name_valid(d)) {
		*why = "expected GLOB DOMAIN: a namespace pattern, then a domain name (1-63 of "
		       "[A-Za-z0-9._-], starting alphanumeric)";
		return -EINVAL;
	}
	for (size_t i = 0; i < gl; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-*?[]!", v[i])) {
			*why = "the pattern may hold [a-z0-9-] and *?[]! only";
			return -EINVAL;
		}
	TrustDomainRule *n = realloc(c->trust_rules, (c->n_trust_rules + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->trust_rules = n;
	TrustDomainRule rule = {strndup(v, gl), strdup(d)};
	if (!rule.glob || !rule.domain) {
		free(rule.glob);
		free(rule.domain);
		return -ENOMEM;
	}
	c->trust_rules[c->n_trust_rules++] = rule;
	return 0;
}

/* Debian's useradd rule, loosely: what getgrnam() can be asked for. */
static bool reader_group_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

typedef struct ParseState {
	Config *config;
	char *error;
} ParseState;

static int parse_bool(const char *v, bool *ret)
{
	if (streq(v, "yes") || streq(v, "true") || streq(v, "1") || streq(v, "on"))
		*ret = true;
	else if (streq(v, "no") || streq(v, "false") || streq(v, "0") || streq(v, "off"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

/* A number in lo..hi; out of it, -ERANGE and *why says so (range_why). */
static int parse_u64_between(const char *value, uint64_t lo, uint64_t hi, const char *range_why,
			     const char **why, uint64_t *ret)
{
	uint64_t v;
	int r = parse_u64(value, &v);
	if (r < 0)
		return r;
	if (v < lo || v > hi) {
		*why = range_why;
		return -ERANGE;
	}
	*ret = v;
	return 0;
}

/* "unlimited" / empty -> UINT64_MAX, else a quantity */
static int parse_budget(const char *v, uint64_t *ret)
{
	if (!*v || streq(v, "unlimited") || streq(v, "max")) {
		*ret = UINT64_MAX;
		return 0;
	}
	return parse_quantity(v, ret);
}

static int parse_knob(const char *v, ConfigKnob *k)
{
	if (!*v) {
		k->set = false;
		return 0;
	}
	int r = parse_u64(v, &k->value);
	if (r < 0)
		return r;
	k->set = true;
	return 0;
}

static int parse_bool_knob(const char *v, ConfigKnob *k)
{
	bool b;
	if (!*v) {
		k->set = false;
		return 0;
	}
	if (parse_bool(v, &b) < 0)
		return -EINVAL;
	k->set = true;
	k->value = b;
	return 0;
}

/* inih handler: returns 1 on success, 0 to stop with an error. */
static int handler(void *user, const char *section, const char *name, const char *value)
{
	ParseState *ps = user;
	Config *c = ps->config;
	const char *why = NULL;
	int r = 0;

	if (!name) /* a section header alone */
		return 1;

	if (streq(section, "Daemon")) {
		if (streq(name, "SweepIntervalSec")) {
			uint64_t s;
			r = parse_u64_between(value, 1, 86400, "must be 1..86400", &why, &s);
			if (r >= 0)
				c->sweep_interval_usec = s * 1000000ULL;
		} else if (streq(name, "LogLevel")) {
			int l = log_level_from_string(value);
			if (l < 0)
				r = -EINVAL, why = "expected debug, info, notice, warning, err, ...";
			else
				c->log_level = l;
		} else if (streq(name, "StartKsm")) {
			r = parse_bool(value, &c->start_ksm);
		} else if (streq(name, "InjectStallMSec")) {
			uint64_t ms;
			r = parse_u64_between(value, 10, 60000, "must be 10..60000", &why, &ms);
			if (r >= 0)
				c->inject_stall_usec = ms * 1000ULL;
		} else if (streq(name, "InjectTimeoutSec")) {
			uint64_t s;
			r = parse_u64_between(value, 1, 3600, "must be 1..3600", &why, &s);
			if (r >= 0)
				c->inject_timeout_usec = s * 1000000ULL;
		} else if (streq(name, "ReaderGroup")) {
			free(c->reader_group);
			c->reader_group = NULL;
			if (*value && !reader_group_name_valid(value))
				r = -EINVAL,
				why = "a group name (1-32 of [a-z0-9_-], not starting with -), or empty";
			else if (*value && !(c->reader_group = strdup(value)))
				r = -ENOMEM;
		} else
			r = -ENOKEY;
	} else if (streq(section, "Budgets")) {
		if (streq(name, "DefaultMergeBudget"))
			r = parse_budget(value, &c->default_merge_budget);
		else if (streq(name, "DefaultSwapBudget"))
			r = parse_budget(value, &c->default_swap_budget);
		else if (streq(name, "MaxMergeBudget"))
			r = parse_budget(value, &c->max_merge_budget);
		else if (streq(name, "HeadroomMargin"))
			r = parse_quantity(value, &c->headroom_margin);
		else if (streq(name, "UnmergeAllMargin"))
			r = parse_quantity(value, &c->unmerge_all_margin);
		else
			r = -ENOKEY;
		if (r == -EINVAL || r == -ERANGE)
			why = "expected a byte quantity (512Mi, 1G, ...) or \"unlimited\"";
	} else if (streq(section, "Scan")) {
		if (streq(name, "PagesToScan"))
			r = parse_knob(value, &c->pages_to_scan);
		else if (streq(name, "SleepMillisecs"))
			r = parse_knob(value, &c->sleep_millisecs);
		else if (streq(name, "MaxPageSharing")) {
			r = parse_knob(value, &c->max_page_sharing);
			if (r >= 0 && c->max_page_sharing.set && c->max_page_sharing.value < 2)
				r = -ERANGE, why = "must be at least 2";
		} else if (streq(name, "UseZeroPages"))
			r = parse_bool_knob(value, &c->use_zero_pages);
		else if (streq(name, "SmartScan"))
			r = parse_bool_knob(value, &c->smart_scan);
		else if (streq(name, "AdvisorMode")) {
			if (!*value) {
				free(c->advisor_mode);
				c->advisor_mode = NULL;
			} else if (ksm_advisor_from_name(value) < 0) {
				r = -EINVAL, why = "expected none or scan-time";
			} else {
				free(c->advisor_mode);
				c->advisor_mode = strdup(value);
				if (!c->advisor_mode)
					r = -ENOMEM;
			}
		} else if (streq(name, "ScanPolicy")) {
			int p = scan_policy_mode_from_name(value);
			if (p < 0)
				r = -EINVAL, why = "expected kernel, pagemeld or advisor";
			else
				c->scan_policy = p;
		} else if (streq(name, "TargetScanSec")) {
			uint64_t v;
			r = parse_u64_between(value, 1, 86400, "must be 1..86400", &why, &v);
			if (r >= 0)
				c->target_scan_usec = v * 1000000ULL;
		} else if (streq(name, "KsmdCpuPercent")) {
			uint64_t v;
			r = parse_u64_between(value, 1, 100, "must be 1..100", &why, &v);
			if (r >= 0)
				c->ksmd_cpu_budget = (double)v / 100.0;
		} else if (streq(name, "KsmdPagesPerCpuMs")) {
			uint64_t v;
			r = parse_u64_between(value, 1, UINT64_MAX, "must be positive", &why, &v);
			if (r >= 0)
				c->ksmd_pages_per_cpu_ms = (double)v;
		} else
			r = -ENOKEY;
	} else if (streq(section, "Estimate")) {
		if (streq(name, "RateMiBps")) {
			uint64_t v;
			r = parse_u64(value, &v);
			if (r >= 0 && v > (UINT64_MAX >> 20))
				r = -ERANGE;
			if (r >= 0)
				c->estimate_rate = v << 20;
			if (r < 0)
				why = "expected MiB per second, 0 for no limit";
		} else
			r = -ENOKEY;
	} else if (streq(section, "TrustDomain")) {
		if (streq(name, "Mode")) {
			int m = trust_domain_mode_from_name(value);
			if (m < 0)
				r = -EINVAL, why = "expected single or off";
			else
				c->trust_domain_mode = m;
		} else if (streq(name, "Domain")) {
			free(c->trust_domain);
			c->trust_domain = NULL;
			if (*value && !trust_domain_name_valid(value))
				r = -EINVAL, why = "1-63 of [A-Za-z0-9._-], starting alphanumeric";
			else if (*value && !(c->trust_domain = strdup(value)))
				r = -ENOMEM;
		} else if (streq(name, "Namespace")) {
			r = parse_trust_rule(c, value, &why);
		} else if (streq(name, "NoNamespaceDomain")) {
			free(c->trust_no_namespace);
			c->trust_no_namespace = NULL;
			/* Never a namespace's name: that namespace would share
			 * its pages with every container outside Kubernetes. */
			if (*value && (!trust_domain_name_valid(value) || kube_label_name_valid(value)))
				r = -EINVAL,
				why = "1-63 of [A-Za-z0-9._-], starting alphanumeric, with a capital, "
				      "'.' or '_' so that it is no namespace's name";
			else if (*value && !(c->trust_no_namespace = strdup(value)))
				r = -ENOMEM;
		} else
			r = -ENOKEY;
	} else if (streq(section, "Hook") || streq(section, "hook")) {
		return 1; /* pagemeld-oci-hook's section of the same file */
	} else {
		free(ps->error);
		ps->error = strdup_printf("unknown section [%s]", section);
		return 0;
	}

	if (r >= 0)
		return 1;
	free(ps->error);
	if (r == -ENOKEY)
		ps->error = strdup_printf("unknown key %s in [%s]", name, section);
	else
		ps->error = strdup_printf("[%s] %s=%s: %s", section, name, value, why ?: errno_name(r));
	return 0;
}

static int finish(int r, ParseState *ps, Config *c, Config *ret, char **ret_error)
{
	if (r == 0 && c->default_merge_budget != UINT64_MAX &&
	    c->default_merge_budget > c->max_merge_budget) {
		free(ps->error);
		ps->error = strdup("[Budgets] DefaultMergeBudget is above MaxMergeBudget");
		r = -EINVAL;
	}
	if (r != 0) {
		if (r > 0) {
			char *e = strdup_printf("line %d: %s", r, ps->error ?: "syntax error");
			free(ps->error);
			ps->error = e;
		} else if (!ps->error)
			ps->error = strdup("out of memory");
		config_done(c);
		if (ret_error)
			*ret_error = TAKE_PTR(ps->error);
		free(ps->error);
		return -EINVAL;
	}
	*ret = *c;
	return 0;
}

int config_parse_string(const char *text, Config *ret, char **ret_error)
{
	Config c;
	config_init_defaults(&c);
	ParseState ps = {.config = &c};
	int r = ini_parse_string(text, handler, &ps);
	return finish(r, &ps, &c, ret, ret_error);
}

int config_load(const char *path, Config *ret, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	int r = read_full_file(path, 1 << 20, &text, NULL);
	if (r == -ENOENT) {
		config_init_defaults(ret);
		return 0;
	}
	if (r < 0) {
		if (ret_error)
			*ret_error = strdup_printf("cannot read %s: %s", path, errno_name(r));
		return r;
	}
	return config_parse_string(text, ret, ret_error);
}
