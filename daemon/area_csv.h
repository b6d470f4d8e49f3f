/* Parses and validates an area registry CSV file (CBS codes, names, population, optional
 * centroids and neighbour lists) into memory. Pure: reads the stream it is given and never
 * touches the database, so a bad file is rejected whole before anything is stored. */
#ifndef WR_AREA_CSV_H
#define WR_AREA_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

/* One area of one classification year. */
struct area {
	char code[11];        /* GM + 4, WK + 6 or BU + 8 characters [0-9A-Z] */
	char kind[3];         /* "GM", "WK" or "BU" */
	char municipality[7]; /* GM code the area belongs to (itself for GM) */
	char *name;           /* NULL when the file has none */
	int year;
	long population; /* -1 when unknown */
	bool has_centroid;
	double lat, lon;  /* WGS84 degrees, when has_centroid */
	char *neighbours; /* PostgreSQL array literal, e.g. "{WK008010,WK008011}" */
	int line;         /* line in the file, for messages */
};

struct area_list {
	struct area *items;
	size_t n;
};

/* Reads the CSV from `in`. The header row names the columns (case-insensitive; see
 * docs/operators-guide.md): code (code, area_code, bu_code, wk_code or gm_code), optional
 * municipality (municipality, gemeente, gm_code; must match the code), name (name, naam,
 * wijk_naam, buurt_naam, ...), population (population, inwoners or inwoners_YYYY), optional
 * year (year, jaar), centroid_lat and centroid_lon, neighbours (codes separated by ";").
 * Other columns are ignored. The year comes from `year` when > 0, else the year column, else
 * the suffix of inwoners_YYYY.
 * On success returns 0 and fills *out (free with area_list_free). On the first problem
 * returns -EINVAL and fills `e` with the file name, line, column and reason; *out is then
 * empty. -ENOMEM when out of memory. `name` (for messages) and `in` are borrowed. */
int area_csv_parse(FILE *in, const char *name, int year, struct area_list *out, struct err *e)
    __attribute__((warn_unused_result));

/* Frees what area_csv_parse allocated and empties the list. NULL-safe. */
void area_list_free(struct area_list *list);

/* Checks a CBS area code and returns its kind ("GM", "WK", "BU") or NULL when malformed.
 * `code` is borrowed. */
const char *area_code_kind(const char *code);

#endif
