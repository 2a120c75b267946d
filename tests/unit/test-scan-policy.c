/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <math.h>

#include "macro.h"
#include "scan-policy.h"

static void test_target_met(void **state)
{
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	c.target_scan_ms = 10000;
	c.cpu_budget = 0.5;
	c.pages_per_cpu_ms = 1000;
	ScanPolicy p;
	/* 1 GiB = 262144 pages in 10 s: 26.2 pages/ms = 2.6% CPU */
	assert_int_equal(scan_policy_compute(&c, 262144, false, &p), 0);
	assert_false(p.capped);
	assert_int_equal(p.sleep_ms, 20);
	/* P = R s / (1 - R/k) = 26.2144 * 20 / 0.9737856 = 538.4 -> 539 */
	assert_int_equal(p.pages_to_scan, 539);
	assert_true(p.scan_time_ms <= 10000);
	assert_true(p.scan_time_ms > 9900);
	assert_true(fabs(p.cpu_share - 0.0262) < 0.001);
}

static void test_cpu_cap(void **state)
{
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	c.target_scan_ms = 1000;
	c.cpu_budget = 0.10;
	c.pages_per_cpu_ms = 1000;
	ScanPolicy p;
	/* 4 GiB in 1 s would need 100% CPU: capped at 10% -> 100 pages/ms */
	assert_int_equal(scan_policy_compute(&c, 1048576, false, &p), 0);
	assert_true(p.capped);
	assert_true(fabs(p.cpu_share - 0.10) < 0.005);
	assert_true(fabs(p.rate_pages_per_ms - 100) < 1);
	/* so a full scan takes ~10.5 s, not 1 s */
	assert_true(p.scan_time_ms > 10000 && p.scan_time_ms < 11000);
	/* P = 100 * 20 / 0.9 = 2222.2 -> 2223 */
	assert_int_equal(p.pages_to_scan, 2223);
	assert_int_equal(p.sleep_ms, 20);
}

static void test_small_sleeps_longer(void **state)
{
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	c.target_scan_ms = 60000;
	ScanPolicy p;
	/* 1000 pages in a minute: 0.0167 pages/ms; 64-page batches every ~3.8 s */
	assert_int_equal(scan_policy_compute(&c, 1000, false, &p), 0);
	assert_int_equal(p.pages_to_scan, 64);
	assert_true(p.sleep_ms > 3500 && p.sleep_ms < 4000);
	assert_true(p.scan_time_ms <= 60000);
	/* tiny: the sleep is capped; the scan is then faster than asked */
	assert_int_equal(scan_policy_compute(&c, 10, false, &p), 0);
	assert_int_equal(p.sleep_ms, c.max_sleep_ms);
	assert_true(p.scan_time_ms < 60000);
	/* nothing managed: kernel defaults */
	assert_int_equal(scan_policy_compute(&c, 0, false, &p), 0);
	assert_int_equal(p.pages_to_scan, 100);
	assert_int_equal(p.sleep_ms, 20);
}

static void test_floor_kernel_defaults(void **state)
{
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	c.target_scan_ms = 60000;
	c.pages_per_cpu_ms = 300;
	c.floor_kernel_defaults = true;
	ScanPolicy p;
	/* 1000 pages in a minute would be 64 pages every ~3.8 s: the floor
	 * keeps the defaults' 100 pages per 20 ms (P = 100 exactly in the model) */
	assert_int_equal(scan_policy_compute(&c, 1000, false, &p), 0);
	assert_int_equal(p.sleep_ms, 20);
	assert_true(p.pages_to_scan >= 100 && p.pages_to_scan <= 101);
	assert_false(p.capped);
	/* 1 GiB in 60 s is 4.4 pages/ms, still under the defaults' 4.9; 4 GiB
	 * (17.5 pages/ms) is above the floor and the target rules as before */
	assert_int_equal(scan_policy_compute(&c, 262144, false, &p), 0);
	assert_true(p.pages_to_scan >= 100 && p.pages_to_scan <= 101);
	assert_int_equal(scan_policy_compute(&c, 1048576, false, &p), 0);
	assert_int_equal(p.sleep_ms, 20);
	assert_true(p.pages_to_scan > 100);
	assert_true(p.scan_time_ms <= 60000 && p.scan_time_ms > 59000);
	/* a CPU budget below the defaults' share (1.6% at k=300) wins over the floor */
	c.cpu_budget = 0.01;
	assert_int_equal(scan_policy_compute(&c, 1000, false, &p), 0);
	assert_true(p.capped);
	assert_true(p.cpu_share <= 0.0101);
	assert_true(p.rate_pages_per_ms < 3.05);
}

static void test_burst_rate(void **state)
{
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	c.target_scan_ms = 60000;
	c.pages_per_cpu_ms = 300;
	c.cpu_budget = 0.10;
	ScanPolicy p;
	/* burst: the budget's whole rate, 30 pages/ms: P = 30 * 20 / 0.9 = 666.7 */
	assert_int_equal(scan_policy_compute(&c, 53248, true, &p), 0);
	assert_int_equal(p.sleep_ms, 20);
	assert_int_equal(p.pages_to_scan, 667);
	assert_true(fabs(p.cpu_share - 0.10) < 0.001);
	assert_true(p.scan_time_ms < 1800);
	/* settled: the target's rate, 53248 pages in 60 s */
	assert_int_equal(scan_policy_compute(&c, 53248, false, &p), 0);
	assert_true(p.scan_time_ms <= 60000 && p.scan_time_ms > 50000);
}

static void test_burst_window(void **state)
{
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	ScanBurst b = {};
	c.burst_full_scans = 3;
	/* nothing registered yet */
	assert_false(scan_policy_burst(&c, &b, 0, 10));
	/* containers register: 3 full scans at the budget's rate */
	assert_true(scan_policy_burst(&c, &b, 2, 10));
	assert_true(scan_policy_burst(&c, &b, 2, 12));
	assert_false(scan_policy_burst(&c, &b, 2, 13));
	assert_false(scan_policy_burst(&c, &b, 2, 40));
	/* another one: a burst again, from the scan count it is seen at */
	assert_true(scan_policy_burst(&c, &b, 3, 50));
	assert_true(scan_policy_burst(&c, &b, 3, 52));
	/* one more during the burst extends it */
	assert_true(scan_policy_burst(&c, &b, 4, 52));
	assert_true(scan_policy_burst(&c, &b, 4, 54));
	assert_false(scan_policy_burst(&c, &b, 4, 55));
	/* ksmd restarted after an unmerge-all (run=2): full_scans starts from
	 * 0 and every page is new again, so a burst of 3 scans from there */
	assert_true(scan_policy_burst(&c, &b, 4, 0));
	assert_true(scan_policy_burst(&c, &b, 4, 2));
	assert_false(scan_policy_burst(&c, &b, 4, 3));
	assert_false(scan_policy_burst(&c, &b, 4, 30));
	/* off */
	c.burst_full_scans = 0;
	b = (ScanBurst){};
	assert_false(scan_policy_burst(&c, &b, 7, 0));
}

static void test_invalid(void **state)
{
	ScanPolicy p;
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	c.cpu_budget = 0;
	assert_int_equal(scan_policy_compute(&c, 1, false, &p), -EINVAL);
	c = SCAN_POLICY_CONFIG_DEFAULT;
	c.cpu_budget = 1.5;
	assert_int_equal(scan_policy_compute(&c, 1, false, &p), -EINVAL);
	c = SCAN_POLICY_CONFIG_DEFAULT;
	c.pages_per_cpu_ms = NAN;
	assert_int_equal(scan_policy_compute(&c, 1, false, &p), -EINVAL);
	c = SCAN_POLICY_CONFIG_DEFAULT;
	c.target_scan_ms = 0;
	assert_int_equal(scan_policy_compute(&c, 1, false, &p), -EINVAL);
	/* even a budget of 100% never plans ksmd at 100% */
	c = SCAN_POLICY_CONFIG_DEFAULT;
	c.cpu_budget = 1.0;
	c.target_scan_ms = 1;
	assert_int_equal(scan_policy_compute(&c, 1u << 30, false, &p), 0);
	assert_true(p.capped);
	assert_true(p.cpu_share < 0.96);
	/* 0.95 * 1000 pages/ms: P = 950 * 20 / 0.05 */
	assert_int_equal(p.pages_to_scan, 380000);
}

static void test_advisor(void **state)
{
	ScanPolicyConfig c = SCAN_POLICY_CONFIG_DEFAULT;
	ScanAdvisorSettings a;
	c.target_scan_ms = 1500;
	c.cpu_budget = 0.125;
	assert_int_equal(scan_policy_advisor(&c, &a), 0);
	assert_int_equal(a.target_scan_time_s, 2);
	assert_int_equal(a.max_cpu_percent, 13);
	c.target_scan_ms = 1;
	c.cpu_budget = 0.001;
	assert_int_equal(scan_policy_advisor(&c, &a), 0);
	assert_int_equal(a.target_scan_time_s, 1);
	assert_int_equal(a.max_cpu_percent, 1);
}

static void test_calibrate(void **state)
{
	double k;
	/* 1e6 pages in 250 ticks of 100 Hz = 2500 ms -> 400 pages/ms */
	assert_int_equal(scan_policy_calibrate(1000000, 250, 100, &k), 0);
	assert_true(fabs(k - 400) < 1e-9);
	assert_int_equal(scan_policy_calibrate(1000, 0, 100, &k), -EDOM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_met),
		cmocka_unit_test(test_cpu_cap),
		cmocka_unit_test(test_small_sleeps_longer),
		cmocka_unit_test(test_floor_kernel_defaults),
		cmocka_unit_test(test_burst_rate),
		cmocka_unit_test(test_burst_window),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_advisor),
		cmocka_unit_test(test_calibrate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
