/* ISO 8601 week arithmetic (see isoweek.h).
 * Days are counted from 1970-01-01 with the days-from-civil method for the proleptic
 * Gregorian calendar; ISO week 1 is the week with the year's first Thursday. */
#include "isoweek.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Days since 1970-01-01 of civil date y-m-d. */
static long days_from_civil(long y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Civil date of a day number (inverse of days_from_civil). */
static void civil_from_days(long z, int *y, int *m, int *d)
{
	z += 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* Weekday of a day number, 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday). */
static int weekday(long days)
{
	long r = (days + 3) % 7;
	return (int)(r < 0 ? r + 7 : r);
}

/* Day number of the Monday of ISO week 1 of `year`. */
static long week1_monday(int year)
{
	long jan4 = days_from_civil(year, 1, 4);
	return jan4 - weekday(jan4);
}

int isoweek_weeks_in_year(int year)
{
	return (int)((week1_monday(year + 1) - week1_monday(year)) / 7);
}

int isoweek_parse(const char *s, struct isoweek *out)
{
	if (s == NULL || strlen(s) != 8 || s[4] != '-' || s[5] != 'W')
		return -EINVAL;
	for (int i = 0; i < 8; i++) {
		if (i != 4 && i != 5 && !isdigit((unsigned char)s[i]))
			return -EINVAL;
	}
	int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int week = (s[6] - '0') * 10 + (s[7] - '0');
	if (year < 1900 || week < 1 || week > isoweek_weeks_in_year(year))
		return -EINVAL;
	out->year = year;
	out->week = week;
	return 0;
}

int isoweek_format(struct isoweek w, char *buf, size_t size)
{
	if (w.year < 1 || w.year > 9999 || w.week < 1 || w.week > isoweek_weeks_in_year(w.year))
		return -EINVAL;
	int n = snprintf(buf, size, "%04d-W%02d", w.year, w.week);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	return 0;
}

long isoweek_to_index(struct isoweek w)
{
	long monday = week1_monday(w.year) + 7L * (w.week - 1);
	/* 1970-W01 starts on Monday 1969-12-29, day -3. */
	return (monday + 3) / 7;
}

struct isoweek isoweek_from_index(long index)
{
	long monday = index * 7 - 3;
	/* The ISO year is the civil year of the week's Thursday. */
	long thursday = monday + 3;
	/* Civil year of `thursday` by estimate and correction. */
	int year = (int)(1970 + thursday / 365);
	while (days_from_civil(year, 1, 1) > thursday)
		year--;
	while (days_from_civil(year + 1, 1, 1) <= thursday)
		year++;
	struct isoweek w = {year, (int)((monday - week1_monday(year)) / 7) + 1};
	return w;
}

struct isoweek isoweek_from_date(int y, int m, int d)
{
	long days = days_from_civil(y, m, d);
	long monday = days - weekday(days);
	return isoweek_from_index((monday + 3) / 7);
}

int isoweek_monday(struct isoweek w, char *buf, size_t size)
{
	int y, m, d;
	civil_from_days(week1_monday(w.year) + 7L * (w.week - 1), &y, &m, &d);
	int n = snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
	return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}
