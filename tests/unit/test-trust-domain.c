/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include "macro.h"
#include "trust-domain.h"

static void test_mode_names(void **state)
{
	assert_int_equal(trust_mode_from_string("single"), TRUST_MODE_SINGLE);
	assert_int_equal(trust_mode_from_string("off"), TRUST_MODE_OFF);
	assert_int_equal(trust_mode_from_string("Single"), _TRUST_MODE_INVALID);
	assert_int_equal(trust_mode_from_string(NULL), _TRUST_MODE_INVALID);
	assert_string_equal(trust_mode_to_string(TRUST_MODE_OFF), "off");
	assert_null(trust_mode_to_string(_TRUST_MODE_MAX));
}

static void test_single(void **state)
{
	TrustState none = {};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &none, "a"), TRUST_ALLOW_TAKEOVER);

	TrustState a = {.active = "a", .active_cgroups = 1, .active_merged = 0};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &a, "a"), TRUST_ALLOW);
	/* enabled but nothing merged yet still holds the node: ksmd would
	 * merge both domains on its next pass */
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &a, "b"), TRUST_REFUSE);
	/* no annotation = "default", a domain like any other */
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &a, NULL), TRUST_REFUSE);
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &a, ""), TRUST_REFUSE);

	/* merged pages left behind (cgroups gone or disabled, pages not yet
	 * unmerged) hold it too */
	TrustState leftover = {.active = "a", .active_cgroups = 0, .active_merged = 12};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &leftover, "b"), TRUST_REFUSE);

	/* the domain holds nothing any more: the next one takes over */
	TrustState idle = {.active = "a"};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &idle, "b"), TRUST_ALLOW_TAKEOVER);

	TrustState def = {.active = TRUST_DOMAIN_DEFAULT, .active_cgroups = 3};
	assert_int_equal(trust_decide(TRUST_MODE_SINGLE, &def, NULL), TRUST_ALLOW);
	assert_string_equal(trust_verdict_to_string(TRUST_REFUSE), "refuse");
}

static void test_off(void **state)
{
	TrustState a = {.active = "a", .active_cgroups = 5, .active_merged = 1000};
	assert_int_equal(trust_decide(TRUST_MODE_OFF, &a, "b"), TRUST_ALLOW);
	assert_int_equal(trust_decide(TRUST_MODE_OFF, &a, NULL), TRUST_ALLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_names),
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
