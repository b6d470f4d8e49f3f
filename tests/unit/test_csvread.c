/* Tests of daemon/csvread.c: line numbers, blank lines, byte order mark, and going on after a
 * malformed line (an open quote must not swallow the lines after it). */
#include "csvread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct expect {
	int rc;
	int line;
	size_t n_fields;
	const char *first;
};

static void check(const char *text, const struct expect *want, size_t n_want)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(f);
	struct csvread *r = csvread_new(f);
	assert_non_null(r);
	char **fields, msg[128];
	size_t n;
	int line, column;
	for (size_t i = 0; i < n_want; i++) {
		int rc = csvread_next(r, &fields, &n, &line, &column, msg, sizeof(msg));
		assert_int_equal(rc, want[i].rc);
		if (rc == 0)
			break;
		assert_int_equal(line, want[i].line);
		if (rc == 1) {
			assert_int_equal(n, want[i].n_fields);
			assert_string_equal(fields[0], want[i].first);
		}
	}
	csvread_free(r);
	fclose(f);
}

static void test_lines_and_blank_lines(void **state)
{
	const struct expect want[] = {
	    {1, 1, 2, "a"}, {1, 3, 2, "c d"}, {1, 4, 1, "x,y"}, {0, 0, 0, ""}};
	check("\xEF\xBB\xBF"
	      "a,b\r\n\n\"c d\",e\n\"x,y\"",
	      want, 4);
}

static void test_goes_on_after_an_open_quote(void **state)
{
	/* Line 2 leaves a quote open: it is an error of line 2 only. */
	const struct expect want[] = {
	    {1, 1, 2, "a"}, {-EINVAL, 2, 0, ""}, {1, 3, 2, "c"}, {1, 4, 2, "e"}, {0, 0, 0, ""}};
	check("a,b\n\"open,x\nc,d\ne,f\n", want, 5);
}

static void test_goes_on_after_a_stray_quote(void **state)
{
	const struct expect want[] = {{-EINVAL, 1, 0, ""}, {1, 2, 2, "c"}, {0, 0, 0, ""}};
	check("a\"b,x\nc,d\n", want, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lines_and_blank_lines),
	    cmocka_unit_test(test_goes_on_after_an_open_quote),
	    cmocka_unit_test(test_goes_on_after_a_stray_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
