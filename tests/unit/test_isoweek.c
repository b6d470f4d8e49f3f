/* Unit tests for analyzers/isoweek: parsing and formatting "YYYY-Www", weeks per ISO year,
 * the week of a civil date, and the continuous week index with its inverse. */
#include "isoweek.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_parse_good(void **state)
{
	static const struct {
		const char *text;
		int year, week;
	} cases[] = {
	    {"2026-W01", 2026, 1},  {"2026-W14", 2026, 14}, {"2026-W53", 2026, 53},
	    {"2020-W53", 2020, 53}, {"2015-W53", 2015, 53}, {"2024-W52", 2024, 52},
	    {"1900-W01", 1900, 1},  {"9999-W01", 9999, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct isoweek w = {0, 0};
		int r = isoweek_parse(cases[i].text, &w);
		if (r != 0)
			print_error("case %zu: \"%s\" rejected\n", i, cases[i].text);
		assert_int_equal(r, 0);
		assert_int_equal(w.year, cases[i].year);
		assert_int_equal(w.week, cases[i].week);
	}
}

static void test_parse_bad(void **state)
{
	static const char *const cases[] = {
	    "2026-W1",    /* week needs two digits */
	    "2026W01",    /* no dash */
	    "2026-W00",   /* week 0 does not exist */
	    "2021-W53",   /* 2021 has 52 weeks */
	    "2024-W53",   /* 2024 has 52 weeks */
	    "2026-W54",   /* no year has 54 weeks */
	    "2026-W99",   /* beyond any year */
	    "2026-w01",   /* lower-case w */
	    "2026-01",    /* month, not week */
	    "2026-01-05", /* a date */
	    " 2026-W01",  /* leading space */
	    "2026-W01 ",  /* trailing space */
	    "2026-W010",  /* too long */
	    "+026-W01",   /* sign in the year */
	    "20a6-W01",   /* letter in the year */
	    "2026-W0a",   /* letter in the week */
	    "1899-W52",   /* before 1900 */
	    "0000-W01",   /* year 0 */
	    "",           /* empty */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct isoweek w = {-7, -7};
		int r = isoweek_parse(cases[i], &w);
		if (r != -EINVAL)
			print_error("case %zu: \"%s\" gave %d\n", i, cases[i], r);
		assert_int_equal(r, -EINVAL);
		/* *out is left untouched on failure */
		assert_int_equal(w.year, -7);
		assert_int_equal(w.week, -7);
	}
}

static void test_weeks_in_year(void **state)
{
	/* A year has 53 ISO weeks when 1 January is a Thursday, or a Wednesday in a leap year:
	 * 2015-01-01 Thu, 2020-01-01 Wed (leap), 2026-01-01 Thu, 2004-01-01 Thu, 2009-01-01 Thu,
	 * 1970-01-01 Thu. The others start on another day: 2021-01-01 Fri, 2024-01-01 Mon
	 * (leap), 2025-01-01 Wed (not leap), 2023-01-01 Sun, 2000-01-01 Sat (leap), 1969-01-01
	 * Wed (not leap). */
	static const struct {
		int year, weeks;
	} cases[] = {
	    {2015, 53}, {2020, 53}, {2026, 53}, {2004, 53}, {2009, 53}, {1970, 53},
	    {2021, 52}, {2024, 52}, {2025, 52}, {2023, 52}, {2000, 52}, {1969, 52},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = isoweek_weeks_in_year(cases[i].year);
		if (n != cases[i].weeks)
			print_error("year %d: %d weeks\n", cases[i].year, n);
		assert_int_equal(n, cases[i].weeks);
	}
}

static void test_weeks_in_year_count(void **state)
{
	/* 400 Gregorian years are exactly 20871 weeks (146097 days / 7), of which 71 years
	 * have 53 weeks: 400 * 52 + 71 = 20871. */
	int long_years = 0;
	long weeks = 0;
	for (int y = 2000; y < 2400; y++) {
		int n = isoweek_weeks_in_year(y);
		assert_true(n == 52 || n == 53);
		long_years += n == 53;
		weeks += n;
	}
	assert_int_equal(long_years, 71);
	assert_int_equal(weeks, 20871);
}

static void test_from_date(void **state)
{
	static const struct {
		int y, m, d;
		int year, week;
	} cases[] = {
	    {2021, 1, 3, 2020, 53},   /* Sunday; 2021-W01 starts Monday 2021-01-04 */
	    {2021, 1, 4, 2021, 1},    /* that Monday */
	    {2024, 12, 30, 2025, 1},  /* Monday; Thursday 2025-01-02 lies in 2025 */
	    {2024, 12, 29, 2024, 52}, /* the Sunday before */
	    {2026, 1, 1, 2026, 1},    /* Thursday */
	    {2025, 12, 29, 2026, 1},  /* Monday of that week */
	    {2008, 12, 29, 2009, 1},  /* Monday; Thursday 2009-01-01 */
	    {2005, 1, 1, 2004, 53},   /* Saturday after 2004's Thursday 2004-12-30 */
	    {2010, 1, 3, 2009, 53},   /* Sunday */
	    {1970, 1, 1, 1970, 1},    /* Thursday */
	    {1969, 12, 29, 1970, 1},  /* Monday of 1970-W01 */
	    {1969, 12, 28, 1969, 52}, /* Sunday before it */
	    /* 2024-01-01 is a Monday, so 2024-W01 starts there; 29 February is day 60 of the
	     * year: (60 - 1) / 7 + 1 = week 9. */
	    {2024, 2, 29, 2024, 9},
	    {2026, 4, 1, 2026, 14}, /* 2025-12-29 + 13 * 7 days = 2026-03-30 (Monday) */
	    {2026, 12, 31, 2026, 53},
	    {2027, 1, 3, 2026, 53},
	    {2027, 1, 4, 2027, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct isoweek w = isoweek_from_date(cases[i].y, cases[i].m, cases[i].d);
		if (w.year != cases[i].year || w.week != cases[i].week)
			print_error("%04d-%02d-%02d: got %d-W%02d\n", cases[i].y, cases[i].m,
			            cases[i].d, w.year, w.week);
		assert_int_equal(w.year, cases[i].year);
		assert_int_equal(w.week, cases[i].week);
	}
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

static void test_from_date_every_day(void **state)
{
	/* 1990-01-01 was a Monday, so 1990-W01 starts on it. Walking day by day, the week
	 * index must rise by one exactly on every seventh day, and never otherwise. */
	struct isoweek first = isoweek_from_date(1990, 1, 1);
	assert_int_equal(first.year, 1990);
	assert_int_equal(first.week, 1);
	long start = isoweek_to_index(first);
	long day = 0;
	for (int y = 1990; y <= 2100; y++) {
		for (int m = 1; m <= 12; m++) {
			for (int d = 1; d <= days_in_month(y, m); d++, day++) {
				struct isoweek w = isoweek_from_date(y, m, d);
				long want = start + day / 7;
				if (isoweek_to_index(w) != want)
					print_error("%04d-%02d-%02d: got %d-W%02d\n", y, m, d,
					            w.year, w.week);
				assert_int_equal(isoweek_to_index(w), want);
			}
		}
	}
}

static void test_index_known(void **state)
{
	assert_int_equal(isoweek_to_index((struct isoweek){1970, 1}), 0);
	assert_int_equal(isoweek_to_index((struct isoweek){1970, 2}), 1);
	assert_int_equal(isoweek_to_index((struct isoweek){1969, 52}), -1);
	/* 2026-W01 starts Monday 2025-12-29. From 1970-01-01 to 2026-01-01 are 56 years with 14
	 * leap days (1972..2024): 56 * 365 + 14 = 20454 days; 2025-12-29 is 3 days earlier
	 * (20451) and 1969-12-29 is 3 days before 1970-01-01, so 20451 + 3 = 20454 days
	 * = 2922 weeks. */
	assert_int_equal(isoweek_to_index((struct isoweek){2026, 1}), 2922);
	/* 1970 has 53 weeks, so 1971-W01 is week 53 after 1970-W01. */
	assert_int_equal(isoweek_to_index((struct isoweek){1971, 1}), 53);

	struct isoweek w = isoweek_from_index(0);
	assert_int_equal(w.year, 1970);
	assert_int_equal(w.week, 1);
	w = isoweek_from_index(-1);
	assert_int_equal(w.year, 1969);
	assert_int_equal(w.week, 52);
	w = isoweek_from_index(2922);
	assert_int_equal(w.year, 2026);
	assert_int_equal(w.week, 1);
	w = isoweek_from_index(2921);
	assert_int_equal(w.year, 2025);
	assert_int_equal(w.week, 52);
}

static void test_index_round_trip(void **state)
{
	long prev = isoweek_to_index((struct isoweek){1989, isoweek_weeks_in_year(1989)});
	size_t n = 0;
	for (int y = 1990; y <= 2100; y++) {
		int weeks = isoweek_weeks_in_year(y);
		for (int wk = 1; wk <= weeks; wk++, n++) {
			struct isoweek w = {y, wk};
			long idx = isoweek_to_index(w);
			if (idx != prev + 1)
				print_error("%d-W%02d: index %ld after %ld\n", y, wk, idx, prev);
			assert_int_equal(idx, prev + 1);
			struct isoweek back = isoweek_from_index(idx);
			if (back.year != y || back.week != wk)
				print_error("%d-W%02d: index %ld gives %d-W%02d\n", y, wk, idx,
				            back.year, back.week);
			assert_int_equal(back.year, y);
			assert_int_equal(back.week, wk);
			prev = idx;
		}
	}
	/* 111 years of 52 weeks plus one per long year, all visited once. */
	assert_int_equal(n, (size_t)(prev - isoweek_to_index((struct isoweek){1990, 1}) + 1));
	assert_true(n > 111 * 52);
}

static void test_format(void **state)
{
	char buf[16];
	assert_int_equal(isoweek_format((struct isoweek){2026, 1}, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2026-W01");
	assert_int_equal(isoweek_format((struct isoweek){2020, 53}, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2020-W53");
	assert_int_equal(isoweek_format((struct isoweek){1900, 10}, buf, 9), 0);
	assert_string_equal(buf, "1900-W10");
	/* format and parse are inverses */
	struct isoweek w = {0, 0};
	assert_int_equal(isoweek_parse(buf, &w), 0);
	assert_int_equal(w.year, 1900);
	assert_int_equal(w.week, 10);
}

static void test_format_bad(void **state)
{
	static const struct isoweek bad[] = {
	    {2021, 53}, /* 2021 has 52 weeks */
	    {2026, 0},  {2026, 54}, {0, 1}, {10000, 1}, {-1, 1},
	};
	char buf[16];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(isoweek_format(bad[i], buf, sizeof(buf)), -EINVAL);
	/* "2026-W01" needs 9 bytes with the terminator */
	assert_int_equal(isoweek_format((struct isoweek){2026, 1}, buf, 8), -EINVAL);
	assert_int_equal(isoweek_format((struct isoweek){2026, 1}, buf, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_weeks_in_year), cmocka_unit_test(test_weeks_in_year_count),
	    cmocka_unit_test(test_from_date),     cmocka_unit_test(test_from_date_every_day),
	    cmocka_unit_test(test_index_known),   cmocka_unit_test(test_index_round_trip),
	    cmocka_unit_test(test_format),        cmocka_unit_test(test_format_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
