/* Unit tests for daemon/area_csv: parsing area registry CSV text (inline strings through
 * fmemopen, and the real Leeuwarden file), the year rules, and the line and column that every
 * rejection names. */
#include "area_csv.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define LEEUWARDEN WR_TEST_DATA "/../../deploy/data/leeuwarden_wijken_2024.csv"

/* Parses the first `len` bytes of `text` as the file "t.csv". */
static int parse_len(const char *text, size_t len, int year, struct area_list *out, struct err *e)
{
	char *copy = malloc(len + 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	FILE *f = fmemopen(copy, len, "r");
	assert_non_null(f);
	err_clear(e);
	int r = area_csv_parse(f, "t.csv", year, out, e);
	fclose(f);
	free(copy);
	return r;
}

static int parse(const char *text, int year, struct area_list *out, struct err *e)
{
	return parse_len(text, strlen(text), year, out, e);
}

/* Checks a rejection: -EINVAL, an empty list, and a message that starts with the file
 * name and `where` (e.g. `line 3, column 2 ("population")`) and contains `reason`. */
static void assert_rejected(int r, const struct area_list *list, const struct err *e,
                            const char *where, const char *reason)
{
	char prefix[160];
	snprintf(prefix, sizeof(prefix), "areas file \"t.csv\", %s: ", where);
	bool ok = r == -EINVAL && list->n == 0 && list->items == NULL &&
	          strcmp(e->code, "invalid_area_file") == 0 && e->http_status == 400 &&
	          strncmp(e->msg, prefix, strlen(prefix)) == 0 && strstr(e->msg, reason) != NULL;
	if (!ok)
		print_error("returned %d, n %zu, message\n\"%s\"\nwanted\n\"%s...%s...\"\n", r,
		            list->n, e->msg, prefix, reason);
	assert_int_equal(r, -EINVAL);
	assert_int_equal(list->n, 0);
	assert_null(list->items);
	assert_string_equal(e->code, "invalid_area_file");
	assert_int_equal(e->http_status, 400);
	assert_true(ok);
}

struct want_area {
	const char *code;
	const char *kind;
	const char *municipality;
	const char *name; /* NULL: none */
	int year;
	long population;
	bool has_centroid;
	double lat, lon;
	const char *neighbours;
	int line;
};

static void assert_area(const struct area *a, const struct want_area *w)
{
	assert_string_equal(a->code, w->code);
	assert_string_equal(a->kind, w->kind);
	assert_string_equal(a->municipality, w->municipality);
	if (w->name == NULL)
		assert_null(a->name);
	else
		assert_string_equal(a->name, w->name);
	assert_int_equal(a->year, w->year);
	assert_int_equal(a->population, w->population);
	assert_int_equal(a->has_centroid, w->has_centroid);
	if (w->has_centroid) {
		assert_true(fabs(a->lat - w->lat) < 1e-9);
		assert_true(fabs(a->lon - w->lon) < 1e-9);
	}
	assert_string_equal(a->neighbours, w->neighbours);
	assert_int_equal(a->line, w->line);
}

/* The generic layout: every column, quoted fields with commas and doubled quotes, "." and
 * empty populations, lower-case codes, spaces around values, an ignored extra column. */
static const char generic_lf[] =
    "code,municipality,name,population,year,centroid_lat,centroid_lon,neighbours,extra\n"
    "GM0080,GM0080,Leeuwarden,128810,2024,53.2012,5.7999,,x\n"
    "WK008010,GM0080,\"Binnenstad, centrum\",6710,2024,53.2030,5.7930,WK008011;WK008020,\"y, "
    "z\"\n"
    "WK008011,,\"Zeg \"\"hallo\"\"\",.,2024,,,WK008010,\n"
    "wk008020,gm0080, Oud-Oost ,,2024, 53.2060 , 5.8120 ,wk008010 | WK008011,\n"
    "BU00802001,GM0080,,12,2024,,,,\n";

static const struct want_area generic_want[] = {
    {"GM0080", "GM", "GM0080", "Leeuwarden", 2024, 128810, true, 53.2012, 5.7999, "{}", 2},
    {"WK008010", "WK", "GM0080", "Binnenstad, centrum", 2024, 6710, true, 53.2030, 5.7930,
     "{WK008011,WK008020}", 3},
    {"WK008011", "WK", "GM0080", "Zeg \"hallo\"", 2024, -1, false, 0, 0, "{WK008010}", 4},
    {"WK008020", "WK", "GM0080", "Oud-Oost", 2024, -1, true, 53.2060, 5.8120, "{WK008010,WK008011}",
     5},
    {"BU00802001", "BU", "GM0080", NULL, 2024, 12, false, 0, 0, "{}", 6},
};

#define N_GENERIC (sizeof(generic_want) / sizeof(generic_want[0]))

/* Replaces every "\n" of `text` by `eol` and prefixes `prefix`; the caller frees. */
static char *rewrite(const char *text, const char *prefix, const char *eol)
{
	size_t n = strlen(prefix) + 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n' ? strlen(eol) : 1;
	char *out = malloc(n), *q = out;
	assert_non_null(out);
	q += sprintf(q, "%s", prefix);
	for (const char *p = text; *p; p++)
		q += *p == '\n' ? sprintf(q, "%s", eol) : sprintf(q, "%c", *p);
	return out;
}

static void test_generic(void **state)
{
	static const struct {
		const char *what, *prefix, *eol;
	} variants[] = {
	    {"LF", "", "\n"},
	    {"CRLF", "", "\r\n"},
	    {"BOM and CRLF", "\xEF\xBB\xBF", "\r\n"},
	    {"BOM and LF", "\xEF\xBB\xBF", "\n"},
	};
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		struct area_list list = {NULL, 0};
		struct err e;
		char *text = rewrite(generic_lf, variants[v].prefix, variants[v].eol);
		int r = parse(text, 0, &list, &e);
		free(text);
		if (r != 0 || list.n != N_GENERIC)
			print_error("%s: %s\n", variants[v].what, e.msg);
		assert_int_equal(r, 0);
		assert_int_equal(list.n, N_GENERIC);
		for (size_t i = 0; i < N_GENERIC; i++)
			assert_area(&list.items[i], &generic_want[i]);
		area_list_free(&list);
		assert_int_equal(list.n, 0);
		assert_null(list.items);
	}
}

static void test_blank_lines(void **state)
{
	/* blank lines (also whitespace-only and CRLF ones) are skipped but still counted, so
	 * the line numbers are the physical lines of the file */
	static const char text[] = "code,population,neighbours\n"
	                           "\n"
	                           "WK008010,1,WK008011\n"
	                           "   \n"
	                           "\r\n"
	                           "WK008011,2,\n"
	                           "\n";
	static const struct want_area want[] = {
	    {"WK008010", "WK", "GM0080", NULL, 2024, 1, false, 0, 0, "{WK008011}", 3},
	    {"WK008011", "WK", "GM0080", NULL, 2024, 2, false, 0, 0, "{}", 6},
	};
	struct area_list list = {NULL, 0};
	struct err e;
	assert_int_equal(parse(text, 2024, &list, &e), 0);
	assert_int_equal(list.n, 2);
	assert_area(&list.items[0], &want[0]);
	assert_area(&list.items[1], &want[1]);
	area_list_free(&list);

	/* and an error after them names the physical line */
	assert_rejected(parse("code,population\n\nWK008010,1\n\r\nWK008011,x\n", 2024, &list, &e),
	                &list, &e, "line 5, column 2 (\"population\")",
	                "invalid population: \"x\"");
}

static void test_no_final_newline(void **state)
{
	struct area_list list = {NULL, 0};
	struct err e;
	assert_int_equal(
	    parse("code,name,population\nWK008010,\"Binnenstad\",6710", 2024, &list, &e), 0);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.items[0].name, "Binnenstad");
	assert_int_equal(list.items[0].population, 6710);
	area_list_free(&list);
}

static void test_population(void **state)
{
	static const struct {
		const char *field;
		long population;
	} cases[] = {
	    {"", -1}, {".", -1}, {" . ", -1}, {"0", 0}, {"140", 140}, {"100000000", 100000000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[96];
		struct area_list list = {NULL, 0};
		struct err e;
		snprintf(text, sizeof(text), "code,population\nWK008010,%s\n", cases[i].field);
		int r = parse(text, 2024, &list, &e);
		if (r != 0)
			print_error("\"%s\": %s\n", cases[i].field, e.msg);
		assert_int_equal(r, 0);
		assert_int_equal(list.n, 1);
		assert_int_equal(list.items[0].population, cases[i].population);
		area_list_free(&list);
	}
}

static void test_years(void **state)
{
	static const struct {
		const char *text;
		int year; /* argument */
		int want; /* year of the area */
		const char *why;
	} cases[] = {
	    {"code,population\nWK008010,5\n", 2023, 2023, "argument only"},
	    {"code,inwoners_2024\nWK008010,5\n", 0, 2024, "suffix of inwoners_YYYY"},
	    {"code,inwoners_2024\nWK008010,5\n", 2023, 2023, "argument over the suffix"},
	    {"code,population,jaar\nWK008010,5,2022\n", 0, 2022, "year column"},
	    {"code,population,year\nWK008010,5,2022\n", 2022, 2022, "column equal to argument"},
	    {"code,inwoners_2024,year\nWK008010,5,2022\n", 0, 2022, "column over the suffix"},
	    {"code,population,year\nWK008010,5,1990\n", 0, 1990, "lowest year"},
	    {"code,population,year\nWK008010,5,2100\n", 0, 2100, "highest year"},
	    /* the header says the argument counts "when > 0" */
	    {"code,inwoners_2024\nWK008010,5\n", -1, 2024, "negative argument is no year"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct area_list list = {NULL, 0};
		struct err e;
		int r = parse(cases[i].text, cases[i].year, &list, &e);
		if (r != 0 || list.n != 1 || list.items[0].year != cases[i].want)
			print_error("case %zu (%s): %s\n", i, cases[i].why, e.msg);
		assert_int_equal(r, 0);
		assert_int_equal(list.n, 1);
		assert_int_equal(list.items[0].year, cases[i].want);
		area_list_free(&list);
	}
}

static void test_several_years(void **state)
{
	/* one code may appear once per year; neighbours are looked up within the same year */
	static const char text[] = "code,population,year,neighbours\n"
	                           "WK008010,1,2023,WK008011\n"
	                           "WK008011,2,2023,WK008010\n"
	                           "WK008010,3,2024,\n";
	struct area_list list = {NULL, 0};
	struct err e;
	assert_int_equal(parse(text, 0, &list, &e), 0);
	assert_int_equal(list.n, 3);
	assert_int_equal(list.items[0].year, 2023);
	assert_int_equal(list.items[2].year, 2024);
	assert_string_equal(list.items[2].code, "WK008010");
	assert_int_equal(list.items[2].population, 3);
	area_list_free(&list);
}

static void test_header_names(void **state)
{
	/* header names are case-insensitive and have Dutch and CBS aliases */
	static const char text[] = "BU_CODE,Gemeente,buurt_naam,Inwoners,Lat,Lon,Buren\n"
	                           "BU00801000,GM0080,Binnenstad-Noord,120,53.2,5.79,BU00801001\n"
	                           "BU00801001,GM0080,Binnenstad-Zuid,130,53.1,5.78,BU00801000\n";
	struct area_list list = {NULL, 0};
	struct err e;
	int r = parse(text, 2024, &list, &e);
	if (r != 0)
		print_error("%s\n", e.msg);
	assert_int_equal(r, 0);
	assert_int_equal(list.n, 2);
	const struct want_area want = {"BU00801000", "BU", "GM0080", "Binnenstad-Noord", 2024, 120,
	                               true,         53.2, 5.79,     "{BU00801001}",     2};
	assert_area(&list.items[0], &want);
	area_list_free(&list);
}

static void test_leeuwarden(void **state)
{
	struct area_list list = {NULL, 0};
	struct err e;
	err_clear(&e);
	FILE *f = fopen(LEEUWARDEN, "r");
	assert_non_null(f);
	int r = area_csv_parse(f, "leeuwarden_wijken_2024.csv", 0, &list, &e);
	fclose(f);
	if (r != 0)
		print_error("%s\n", e.msg);
	assert_int_equal(r, 0);
	/* GM0080 and 22 wijken, on lines 2..24 */
	assert_int_equal(list.n, 23);
	static const struct want_area gm = {
	    "GM0080", "GM", "GM0080", "Leeuwarden (gemeente)", 2024, 128810, false, 0, 0, "{}", 2};
	assert_area(&list.items[0], &gm);
	long wijken = 0;
	for (size_t i = 0; i < list.n; i++) {
		const struct area *a = &list.items[i];
		assert_int_equal(a->year, 2024); /* from the header inwoners_2024 */
		assert_string_equal(a->municipality, "GM0080");
		assert_int_equal(a->line, (int)i + 2);
		assert_false(a->has_centroid);
		assert_string_equal(a->neighbours, "{}");
		if (i > 0) {
			assert_string_equal(a->kind, "WK");
			wijken += a->population;
		}
	}
	/* The wijk figures are rounded to 5 separately, so they add up to 128820, not to the
	 * municipality's 128810 (summed from the file: 6710 + 8590 + ... + 8390). */
	assert_int_equal(wijken, 128820);
	static const struct want_area wk[] = {
	    {"WK008020", "WK", "GM0080", "Oud-Oost", 2024, 12410, false, 0, 0, "{}", 5},
	    {"WK008071", "WK", "GM0080", NULL, 2024, 3355, false, 0, 0, "{}", 18},
	    {"WK008074", "WK", "GM0080", "Middelsee", 2024, 140, false, 0, 0, "{}", 21},
	    {"WK008041", "WK", "GM0080", "Nijl\xC3\xA2n & De Zwette", 2024, 4050, false, 0, 0, "{}",
	     10},
	    {"WK008082", "WK", "GM0080", "Grou e.o.", 2024, 8390, false, 0, 0, "{}", 24},
	};
	for (size_t k = 0; k < sizeof(wk) / sizeof(wk[0]); k++) {
		const struct area *found = NULL;
		for (size_t i = 0; i < list.n; i++) {
			if (strcmp(list.items[i].code, wk[k].code) == 0)
				found = &list.items[i];
		}
		assert_non_null(found);
		assert_area(found, &wk[k]);
	}
	area_list_free(&list);
}

static void test_leeuwarden_year_argument(void **state)
{
	/* the argument overrides the inwoners_2024 suffix */
	struct area_list list = {NULL, 0};
	struct err e;
	err_clear(&e);
	FILE *f = fopen(LEEUWARDEN, "r");
	assert_non_null(f);
	assert_int_equal(area_csv_parse(f, "leeuwarden_wijken_2024.csv", 2025, &list, &e), 0);
	fclose(f);
	assert_int_equal(list.n, 23);
	for (size_t i = 0; i < list.n; i++)
		assert_int_equal(list.items[i].year, 2025);
	area_list_free(&list);
}

struct bad_case {
	const char *text;
	int year;
	const char *where;
	const char *reason;
};

#define HDR "code,population\n"
#define GEO "code,population,centroid_lat,centroid_lon\n"
#define NBR "code,population,neighbours\n"

static const struct bad_case bad_cases[] = {
    /* codes */
    {HDR "WK008010,1\nXX123,2\n", 2024, "line 3, column 1 (\"code\")",
     "invalid area code: \"XX123\""},
    {HDR "WK00801,1\n", 2024, "line 2, column 1 (\"code\")", "invalid area code: \"WK00801\""},
    {HDR "WK008010,1\n,2\n", 2024, "line 3, column 1 (\"code\")", "invalid area code: \"\""},
    {HDR "BU0080100,1\n", 2024, "line 2, column 1 (\"code\")", "invalid area code"},
    {HDR "WK00801-,1\n", 2024, "line 2, column 1 (\"code\")", "invalid area code"},
    /* municipality */
    {"code,gm_code,population\nWK008010,GM0080,1\nWK008020,GM0014,5\n", 2024,
     "line 3, column 2 (\"gm_code\")",
     "area \"WK008020\" does not belong to municipality \"GM0014\""},
    {"code,municipality,population\nGM0080,GM0014,1\n", 2024, "line 2, column 2 (\"municipality\")",
     "does not belong to municipality \"GM0014\""},
    /* duplicates, also when the second is written in lower case */
    {HDR "WK008010,1\nWK008011,2\nWK008010,3\n", 2024, "line 4, column 1 (\"code\")",
     "duplicate area code \"WK008010\" (first on line 2)"},
    {HDR "WK008011,1\nWK008010,2\nwk008010,3\n", 2024, "line 4, column 1 (\"code\")",
     "duplicate area code \"WK008010\" (first on line 3)"},
    /* population */
    {HDR "WK008010,1\nWK008011,abc\n", 2024, "line 3, column 2 (\"population\")",
     "invalid population: \"abc\""},
    {HDR "WK008010,-5\n", 2024, "line 2, column 2 (\"population\")", "invalid population: \"-5\""},
    {HDR "WK008010,1.5\n", 2024, "line 2, column 2 (\"population\")", "invalid population"},
    {HDR "WK008010,1e3\n", 2024, "line 2, column 2 (\"population\")", "invalid population"},
    {HDR "WK008010,12 34\n", 2024, "line 2, column 2 (\"population\")", "invalid population"},
    {HDR "WK008010,100000001\n", 2024, "line 2, column 2 (\"population\")", "invalid population"},
    {HDR "WK008010,99999999999999999999\n", 2024, "line 2, column 2 (\"population\")",
     "invalid population"},
    /* centroids */
    {GEO "WK008010,1,91,5.8\n", 2024, "line 2, column 3 (\"centroid_lat\")",
     "invalid latitude: \"91\""},
    {GEO "WK008010,1,-90.5,5.8\n", 2024, "line 2, column 3 (\"centroid_lat\")", "invalid latitude"},
    {GEO "WK008010,1,abc,5.8\n", 2024, "line 2, column 3 (\"centroid_lat\")", "invalid latitude"},
    {GEO "WK008010,1,nan,5.8\n", 2024, "line 2, column 3 (\"centroid_lat\")", "invalid latitude"},
    {GEO "WK008010,1,,5.8\n", 2024, "line 2, column 3 (\"centroid_lat\")",
     "invalid latitude: \"\""},
    {GEO "WK008010,1,53.2,181\n", 2024, "line 2, column 4 (\"centroid_lon\")",
     "invalid longitude: \"181\""},
    {GEO "WK008010,1,53.2,5.8x\n", 2024, "line 2, column 4 (\"centroid_lon\")",
     "invalid longitude"},
    {GEO "WK008010,1,53.2,\n", 2024, "line 2, column 4 (\"centroid_lon\")",
     "invalid longitude: \"\""},
    {GEO "WK008010,1,53.2,inf\n", 2024, "line 2, column 4 (\"centroid_lon\")", "invalid longitude"},
    {"code,population,centroid_lat\nWK008010,1,53.2\n", 2024, "line 1",
     "columns \"centroid_lat\" and \"centroid_lon\" come together"},
    {"code,population,centroid_lon\nWK008010,1,5.8\n", 2024, "line 1",
     "columns \"centroid_lat\" and \"centroid_lon\" come together"},
    /* neighbours */
    {NBR "WK008010,1,WK008011\nWK008011,2,WK0080\n", 2024, "line 3, column 3 (\"neighbours\")",
     "invalid neighbour code: \"WK0080\""},
    {NBR "WK008010,1,WK008011\nWK008012,2,\n", 2024, "line 2, column 3 (\"neighbours\")",
     "neighbour \"WK008011\" is not an area of 2024 in this file"},
    {NBR "WK008010,1,WK008011;wk008010\nWK008011,2,\n", 2024, "line 2, column 3 (\"neighbours\")",
     "area lists itself as neighbour"},
    {"code,year,population,neighbours\nWK008010,2023,1,WK008011\nWK008011,2024,2,WK008010\n", 0,
     "line 2, column 4 (\"neighbours\")",
     "neighbour \"WK008011\" is not an area of 2023 in this file"},
    /* quoting and record shape */
    {"code,name,population\nWK008010,A,1\nWK008011,\"Oud,2\n", 2024, "line 3, column 2 (\"name\")",
     "malformed quoting"},
    {"code,name,population\nWK008010,A,1\nWK008011,\"Oud,2", 2024, "line 3, column 2 (\"name\")",
     "malformed quoting"},
    {"code,name,population\nWK008010,A,1\nWK008011,\"Oud\"x,2\n", 2024,
     "line 3, column 2 (\"name\")", "malformed quoting"},
    {"code,name,population\nWK008010,A,1\nWK008011,Oud\"x,2\n", 2024, "line 3, column 2 (\"name\")",
     "malformed quoting"},
    /* a record may not span lines, even inside quotes */
    {"code,name,population\nWK008010,\"Oud\nOost\",1\n", 2024, "line 2, column 2 (\"name\")",
     "malformed quoting"},
    {HDR "WK008010,1,extra\n", 2024, "line 2", "record has 3 fields, the header has 2"},
    {HDR "WK008010,1\nWK008011\n", 2024, "line 3", "record has 1 fields, the header has 2"},
    /* names */
    {"code,name,population\nWK008010,\"a\x01z\",1\n", 2024, "line 2, column 2 (\"name\")",
     "name contains a control character"},
    /* header */
    {"naam,population\nX,1\n", 2024, "line 1", "missing column \"code\""},
    {"code,naam\nWK008010,X\n", 2024, "line 1", "missing column \"population\""},
    {"code,population,Code\nWK008010,1,WK008010\n", 2024, "line 1, column 3 (\"code\")",
     "duplicate column name"},
    /* years */
    {HDR "WK008010,1\n", 0, "line 1", "cannot tell the year of the areas"},
    {"code,population,year\nWK008010,1,2023\n", 2024, "line 2, column 3 (\"year\")",
     "year 2023 differs from the requested 2024"},
    {"code,population,year\nWK008010,1,20x4\n", 0, "line 2, column 3 (\"year\")",
     "invalid year: \"20x4\""},
    {"code,population,year\nWK008010,1,1989\n", 0, "line 2, column 3 (\"year\")",
     "invalid year: \"1989\""},
    {"code,population,year\nWK008010,1,\n", 0, "line 2, column 3 (\"year\")", "invalid year: \"\""},
    {HDR "WK008010,1\n", 1800, "line 2", "year 1800 is outside 1990..2100"},
    {"code,inwoners_1980\nWK008010,1\n", 0, "line 2", "year 1980 is outside 1990..2100"},
    /* empty files */
    {"", 2024, "line 1", "file is empty"},
    {"\n  \r\n\n", 2024, "line 1", "file is empty"},
    {"\xEF\xBB\xBF", 2024, "line 1", "file is empty"},
    {HDR, 2024, "line 1", "file has no data rows"},
    /* a BOM and CRLF do not hide the header or shift the lines */
    {"\xEF\xBB\xBF"
     "code,population\r\nWK008010,1\r\nWK008011,x\r\n",
     2024, "line 3, column 2 (\"population\")", "invalid population: \"x\""},
};

static void test_rejected(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *t = &bad_cases[i];
		struct area_list list = {NULL, 0};
		struct err e;
		int r = parse(t->text, t->year, &list, &e);
		if (r != -EINVAL)
			print_error("case %zu\n", i);
		assert_rejected(r, &list, &e, t->where, t->reason);
		area_list_free(&list);
	}
}

static void test_nul_byte(void **state)
{
	static const char text[] = "code,population\nWK008010,1\nWK0\0,1\n";
	struct area_list list = {NULL, 0};
	struct err e;
	int r = parse_len(text, sizeof(text) - 1, 2024, &list, &e);
	assert_rejected(r, &list, &e, "line 3", "line contains a NUL byte");
}

static void test_name_length(void **state)
{
	/* 200 bytes are accepted, 201 are not */
	char text[320], name[202];
	struct area_list list = {NULL, 0};
	struct err e;
	memset(name, 'a', 200);
	name[200] = '\0';
	snprintf(text, sizeof(text), "code,name,population\nWK008010,%s,1\n", name);
	assert_int_equal(parse(text, 2024, &list, &e), 0);
	assert_int_equal(strlen(list.items[0].name), 200);
	area_list_free(&list);

	name[200] = 'a';
	name[201] = '\0';
	snprintf(text, sizeof(text), "code,name,population\nWK008010,%s,1\n", name);
	assert_rejected(parse(text, 2024, &list, &e), &list, &e, "line 2, column 2 (\"name\")",
	                "name longer than 200 bytes");
}

static void test_rejected_after_many_rows(void **state)
{
	/* 150 good rows (more than one allocation step) and then a bad one: nothing is kept.
	 * Row k is WK0080xx with xx = k as two digits, for k < 100; BU codes after that. */
	size_t cap = 64 * 160, len = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len, "code,population,neighbours\n");
	for (int k = 0; k < 150; k++) {
		if (k < 100)
			len += (size_t)snprintf(text + len, cap - len, "WK0080%02d,%d,%s\n", k, k,
			                        k > 0 ? "WK008000" : "");
		else
			len += (size_t)snprintf(text + len, cap - len, "BU00800%03d,%d,\n", k, k);
	}
	/* first a good parse of the 150 rows */
	struct area_list list = {NULL, 0};
	struct err e;
	assert_int_equal(parse(text, 2024, &list, &e), 0);
	assert_int_equal(list.n, 150);
	assert_string_equal(list.items[149].code, "BU00800149");
	assert_int_equal(list.items[149].line, 151);
	assert_string_equal(list.items[99].neighbours, "{WK008000}");
	area_list_free(&list);

	len += (size_t)snprintf(text + len, cap - len, "WK008000,5,\n");
	assert_true(len < cap);
	assert_rejected(parse(text, 2024, &list, &e), &list, &e, "line 152, column 1 (\"code\")",
	                "duplicate area code \"WK008000\" (first on line 2)");
	free(text);
}

static void test_too_many_fields(void **state)
{
	/* 300 fields in a header or a record are refused by count, on their own line */
	static const char *const heads[] = {"code,population,", "code,population\nWK008010,1,"};
	static const char *const where[] = {"line 1", "line 2"};
	for (size_t i = 0; i < 2; i++) {
		char text[1024];
		size_t len = (size_t)snprintf(text, sizeof(text), "%s", heads[i]);
		for (int k = 0; k < 298; k++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s",
			                        k < 297 ? "x," : "x\n");
		assert_true(len < sizeof(text) - 1);
		struct area_list list = {NULL, 0};
		struct err e;
		assert_rejected(parse(text, 2024, &list, &e), &list, &e, where[i],
		                "more than 256 fields");
	}
}

static void test_list_free(void **state)
{
	struct area_list list = {NULL, 0};
	area_list_free(NULL);
	area_list_free(&list); /* empty list */
	assert_null(list.items);
	assert_int_equal(list.n, 0);
}

static void test_code_kind(void **state)
{
	static const struct {
		const char *code;
		const char *kind; /* NULL: malformed */
	} cases[] = {
	    {"GM0080", "GM"},   {"WK008020", "WK"},  {"BU00800000", "BU"}, {"BU0080100A", "BU"},
	    {"GM0A8Z", "GM"},   {"gm0080", NULL},    {"Gm0080", NULL},     {"GM008", NULL},
	    {"GM00800", NULL},  {"WK0080", NULL},    {"WK0080200", NULL},  {"BU008000001", NULL},
	    {"XX0080", NULL},   {"", NULL},          {"GM00 0", NULL},     {"GM008a", NULL},
	    {"WK00802-", NULL}, {"BU0080000", NULL}, {"GM", NULL},         {"WK", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *kind = area_code_kind(cases[i].code);
		if ((kind == NULL) != (cases[i].kind == NULL))
			print_error("\"%s\" gave %s\n", cases[i].code,
			            kind != NULL ? kind : "NULL");
		if (cases[i].kind == NULL)
			assert_null(kind);
		else
			assert_string_equal(kind, cases[i].kind);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generic),
	    cmocka_unit_test(test_blank_lines),
	    cmocka_unit_test(test_no_final_newline),
	    cmocka_unit_test(test_population),
	    cmocka_unit_test(test_years),
	    cmocka_unit_test(test_several_years),
	    cmocka_unit_test(test_header_names),
	    cmocka_unit_test(test_leeuwarden),
	    cmocka_unit_test(test_leeuwarden_year_argument),
	    cmocka_unit_test(test_rejected),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_name_length),
	    cmocka_unit_test(test_rejected_after_many_rows),
	    cmocka_unit_test(test_too_many_fields),
	    cmocka_unit_test(test_list_free),
	    cmocka_unit_test(test_code_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
