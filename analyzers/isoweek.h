/* ISO 8601 week arithmetic: signals carry ISO weeks ("2026-W14"), never exact dates.
 * Pure functions, no time-of-day: callers pass "today" in. */
#ifndef WR_ISOWEEK_H
#define WR_ISOWEEK_H

#include <stddef.h>

/* An ISO week: year 1..9999 and week 1..52 or 53. */
struct isoweek {
	int year;
	int week;
};

/* Number of ISO weeks (52 or 53) in ISO year `year`. This function can't fail. */
int isoweek_weeks_in_year(int year);

/* Parses exactly "YYYY-Www" (for example "2026-W05") into *out. Rejects other forms, years
 * outside 1900..9999 and week 53 in a year that has 52 weeks.
 * Returns 0, or -EINVAL (and leaves *out untouched). `s` is borrowed. */
int isoweek_parse(const char *s, struct isoweek *out);

/* Formats `w` as "YYYY-Www" into buf (at least 9 bytes). Returns 0, or -EINVAL when the
 * buffer is too small or `w` is not a valid week. */
int isoweek_format(struct isoweek w, char *buf, size_t size);

/* Continuous week number: 0 for the week holding Monday 1969-12-29 (1970-W01), counting
 * up by one per week. Differences of indices are numbers of weeks. `w` must be valid. */
long isoweek_to_index(struct isoweek w);

/* Inverse of isoweek_to_index. This function can't fail for indices of years 1..9999. */
struct isoweek isoweek_from_index(long index);

/* The ISO week holding the civil date y-m-d (proleptic Gregorian). m 1..12, d 1..31. */
struct isoweek isoweek_from_date(int y, int m, int d);

/* Writes the civil date of the Monday of week `w` as "YYYY-MM-DD" into buf (at least 11
 * bytes). Returns 0, or -EINVAL when the buffer is too small. `w` must be valid. */
int isoweek_monday(struct isoweek w, char *buf, size_t size);

#endif
