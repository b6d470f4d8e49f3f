/* Tests of daemon/params.c, the API's query and path parameter parsing: integer ranges, ids,
 * the change-feed cursor, enumerations and theme codes. */
#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_int(void **state)
{
	long n = -1;
	assert_int_equal(params_int("50", 1, 500, &n), 0);
	assert_int_equal(n, 50);
	assert_int_equal(params_int("-3", -5, 5, &n), 0);
	assert_int_equal(n, -3);
	/* strtol's leading blanks and sign are accepted, as the API always has. */
	assert_int_equal(params_int(" +5", 1, 500, &n), 0);
	assert_int_equal(n, 5);
	const char *bad[] = {"", "0", "501", "5x", "5 ", "99999999999999999999999", "+"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(params_int(bad[i], 1, 500, &n), -EINVAL);
	assert_int_equal(n, 5); /* untouched on failure */
}

static void test_id(void **state)
{
	assert_true(params_id("1"));
	assert_true(params_id("999999999999999999"));
	assert_false(params_id(""));
	assert_false(params_id("0"));
	assert_false(params_id("012"));
	assert_false(params_id("1000000000000000000")); /* 19 digits */
	assert_false(params_id("12a"));
	assert_false(params_id("-1"));
}

static void test_cursor(void **state)
{
	struct params_cursor c;
	assert_int_equal(params_cursor_parse("0", &c), 0);
	assert_string_equal(c.xid, "0");
	assert_string_equal(c.event, "0");
	assert_int_equal(params_cursor_parse("812345.17", &c), 0);
	assert_string_equal(c.xid, "812345");
	assert_string_equal(c.event, "17");
	assert_int_equal(params_cursor_parse("1234567890123456789.123456789012345678", &c), 0);
	const char *bad[] = {"",
	                     ".",
	                     "1.",
	                     ".1",
	                     "1.2.3",
	                     "a.1",
	                     "1.b",
	                     "12345678901234567890.1",
	                     "1.1234567890123456789",
	                     "-1.2"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(params_cursor_parse(bad[i], &c), -EINVAL);
}

static void test_one_of_and_theme(void **state)
{
	static const char *const set[] = {"new", "closed"};
	assert_true(params_one_of("closed", set, 2));
	assert_false(params_one_of("Closed", set, 2));
	assert_false(params_one_of("closed", set, 1));
	assert_true(params_theme("EENZAAM"));
	assert_true(params_theme("SCHULDEN_2"));
	assert_false(params_theme("eenzaam"));
	assert_false(params_theme("A B"));
	assert_false(params_theme("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_int),
	    cmocka_unit_test(test_id),
	    cmocka_unit_test(test_cursor),
	    cmocka_unit_test(test_one_of_and_theme),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
