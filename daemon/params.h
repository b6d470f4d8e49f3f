/* The pure parsing of the API's query and path parameters: integers in a range, {id} path
 * segments, the change-feed cursor, enumerations, theme codes. Text in, result out, no HTTP:
 * the handlers in api*.c call these and reply 400/404 themselves, and tests/fuzz/fuzz_query.c
 * fuzzes them. (Area codes, weeks and report periods have their parsers in area_csv.h,
 * isoweek.h and report_data.h.) */
#ifndef WR_PARAMS_H
#define WR_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

/* Parses `v` as a whole decimal integer within [lo, hi] into *out. Returns 0, or -EINVAL
 * (empty, trailing characters, out of range; *out untouched). */
int params_int(const char *v, long lo, long hi, long *out);

/* True when `v` is a row id: 1 to 18 decimal digits without a leading zero. */
bool params_id(const char *v);

/* The change-feed cursor: "0" (the beginning) or "XID.EVENT" in decimal digits (XID at most
 * 19, EVENT at most 18), as the feed's "next" gives it. */
struct params_cursor {
	char xid[20];
	char event[19];
};

/* Splits cursor `v` into *out. Returns 0, or -EINVAL (*out then unspecified). */
int params_cursor_parse(const char *v, struct params_cursor *out);

/* True when `v` is one of the n strings of `set` (exact match). */
bool params_one_of(const char *v, const char *const *set, size_t n);

/* True when `v` is a theme code as the listings accept it: at most 32 of [A-Z0-9_]. */
bool params_theme(const char *v);

#endif
