/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "trust-domain.h"

#include <string.h>

#include "macro.h"

static const char *const trust_mode_table[_TRUST_MODE_MAX] = {
	[TRUST_MODE_SINGLE] = "single",
	[TRUST_MODE_OFF] = "off",
};

const char *trust_mode_to_string(TrustMode m)
{
	return m >= 0 && m < _TRUST_MODE_MAX ? trust_mode_table[m] : NULL;
}

TrustMode trust_mode_from_string(const char *s)
{
	for (int i = 0; s && i < _TRUST_MODE_MAX; i++)
		if (streq(s, trust_mode_table[i]))
			return (TrustMode)i;
	return _TRUST_MODE_INVALID;
}

TrustVerdict trust_decide(TrustMode mode, const TrustState *s, const char *requested)
{
	if (!requested || !*requested)
		requested = TRUST_DOMAIN_DEFAULT;
	if (mode == TRUST_MODE_OFF)
		return TRUST_ALLOW;
	bool held = s->active && (s->active_cgroups > 0 || s->active_merged > 0);
	if (!held)
		return TRUST_ALLOW_TAKEOVER;
	return streq(s->active, requested) ? TRUST_ALLOW : TRUST_REFUSE;
}

const char *trust_verdict_to_string(TrustVerdict v)
{
	switch (v) {
	case TRUST_ALLOW:
		return "allow";
	case TRUST_ALLOW_TAKEOVER:
		return "takeover";
	case TRUST_REFUSE:
		return "refuse";
	}
	return NULL;
}
