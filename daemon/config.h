/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/pagemeld/pagemeld.conf (INI, parsed by inih). Pure: no daemon state,
 * so tests/unit/test-config.c links it alone. Every key is documented in
 * packaging/pagemeld.conf. */

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_PATH_DEFAULT "/etc/pagemeld/pagemeld.conf"

typedef enum TrustDomainMode {
	TRUST_DOMAIN_MODE_IGNORE, /* annotations stored and shown, never enforced */
	TRUST_DOMAIN_MODE_SINGLE, /* only one trust domain merges on this node */
	_TRUST_DOMAIN_MODE_MAX,
} TrustDomainMode;

/* An optional KSM knob: written at start-up (and reload) when set. */
typedef struct ConfigKnob {
	bool set;
	uint64_t value;
} ConfigKnob;

typedef struct Config {
	/* [Daemon] */
	uint64_t sweep_interval_usec; /* SweepIntervalSec, > 0 */
	int log_level;		      /* LogLevel */
	bool start_ksm;		      /* StartKsm: run=1 when the first cgroup registers */
	/* [Budgets] UINT64_MAX = unlimited */
	uint64_t default_merge_budget; /* DefaultMergeBudget */
	uint64_t default_swap_budget;  /* DefaultSwapBudget; UINT64_MAX = leave memory.swap.max */
	/* [Scan] */
	ConfigKnob pages_to_scan;
	ConfigKnob sleep_millisecs;
	ConfigKnob use_zero_pages;
	ConfigKnob smart_scan;
	ConfigKnob max_page_sharing;
	char *advisor_mode; /* NULL = leave it */
	/* [TrustDomain] */
	TrustDomainMode trust_domain_mode;
	char *trust_domain; /* Domain=, NULL = the first one that registers */
} Config;

void config_init_defaults(Config *c);
void config_done(Config *c);
/* Parse an INI text over the defaults. -EINVAL with a malloc'd message
 * ("line 3: [Daemon] SweepIntervalSec: ...") in *ret_error. */
int config_parse_string(const char *text, Config *ret, char **ret_error);
/* Same for a file; a missing file gives the defaults (return 0). Other read
 * errors are returned with *ret_error set. */
int config_load(const char *path, Config *ret, char **ret_error);

const char *trust_domain_mode_name(TrustDomainMode m);
int trust_domain_mode_from_name(const char *s);
