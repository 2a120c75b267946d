/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "unit-util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

static void expect_ok(const char *s, uint64_t want)
{
	uint64_t v = 0;
	int r = parse_quantity(s, &v);
	if (r != 0 || v != want)
		fail_msg("parse_quantity(\"%s\") = %d, %llu; want %llu", s, r, (unsigned long long)v,
			 (unsigned long long)want);
}

static void expect_err(const char *s, int err)
{
	uint64_t v = 4242;
	int r = parse_quantity(s, &v);
	if (r != err)
		fail_msg("parse_quantity(\"%s\") = %d, want %d", s, r, err);
	assert_int_equal(v, 4242); /* output untouched on failure */
}

static void test_kubernetes_forms(void **state)
{
	expect_ok("0", 0);
	expect_ok("4096", 4096);
	expect_ok("512Mi", 512ULL << 20);
	expect_ok("1G", 1000000000ULL);
	expect_ok("1.5Gi", 3ULL << 29);
	expect_ok("100k", 100000);
	expect_ok("1Ki", 1024);
	expect_ok("2Ti", 2ULL << 40);
	expect_ok("1Pi", 1ULL << 50);
	expect_ok("3Ei", 3ULL << 60);
	expect_ok("1e3", 1000);
	expect_ok("1E", 1000000000000000000ULL);
	expect_ok("+5M", 5000000);
	expect_ok(".5Ki", 512);
	expect_ok("0.1", 1);	    /* rounds up, like Kubernetes */
	expect_ok("1.0001k", 1001); /* 1000.1 -> 1001 */
	expect_ok("18446744073709551615", UINT64_MAX);
	expect_ok("-0", 0);
}

static void test_garbage(void **state)
{
	expect_err("", -EINVAL);
	expect_err("abc", -EINVAL);
	expect_err("12 Mi", -EINVAL);
	expect_err("12Mb", -EINVAL);
	expect_err("12mi", -EINVAL);
	expect_err("100m", -EINVAL); /* millibytes */
	expect_err("1.2.3", -EINVAL);
	expect_err("Mi", -EINVAL);
	expect_err("1e", -EINVAL);
	expect_err("0x10", -EINVAL);
	expect_err(" 1", -EINVAL);
	expect_err("1 ", -EINVAL);
}

static void test_range(void **state)
{
	expect_err("-1", -ERANGE);
	expect_err("-512Mi", -ERANGE);
	expect_err("18446744073709551616", -ERANGE);
	expect_err("16Ei", -ERANGE);
	expect_err("20E", -ERANGE);
	expect_err("1e20", -ERANGE);
	expect_err("1e999", -ERANGE);
	expect_err("99999999999999999999999999999999999999999999999", -ERANGE);
}

static void test_length_cap(void **state)
{
	/* 200 KiB of leading zeros: refused unread, whatever follows. */
	size_t l = 200 * 1024;
	char *zeros = malloc(l + 2);
	assert_non_null(zeros);
	memset(zeros, '0', l);
	strcpy(zeros + l, "1");
	expect_err(zeros, -E2BIG);
	free(zeros);

	char at_cap[QUANTITY_MAX_LEN + 2];
	memset(at_cap, '0', QUANTITY_MAX_LEN - 2);
	strcpy(at_cap + QUANTITY_MAX_LEN - 2, "Ki");
	assert_int_equal(strlen(at_cap), QUANTITY_MAX_LEN);
	at_cap[QUANTITY_MAX_LEN - 3] = '1';
	expect_ok(at_cap, 1024);
	memmove(at_cap + 1, at_cap, QUANTITY_MAX_LEN + 1);
	at_cap[0] = '0';
	expect_err(at_cap, -E2BIG);
	expect_err("-00000000000000000000000000000000000000000000000000000000000000000", -E2BIG);
}

static void test_format(void **state)
{
	char buf[FORMAT_BYTES_MAX];
	assert_string_equal(format_bytes(buf, sizeof(buf), 17), "17 B");
	assert_string_equal(format_bytes(buf, sizeof(buf), 3ULL << 29), "1.5 GiB");
	assert_string_equal(format_bytes(buf, sizeof(buf), 512 * 1024), "512.0 KiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubernetes_forms),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_length_cap),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
