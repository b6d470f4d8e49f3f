/* Area registry CSV parsing and validation (see area_csv.h). Quoting is libcsv's; each
 * physical line must hold one record (no field spans lines), so messages can name the line.
 * Checks: code form and kind, the code's municipality (CBS codes embed it), numbers and
 * ranges, duplicates, neighbours that exist in the same file. */
#include "area_csv.h"

#include "csvread.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum column {
	COL_CODE,
	COL_MUNICIPALITY,
	COL_NAME,
	COL_POPULATION,
	COL_YEAR,
	COL_LAT,
	COL_LON,
	COL_NEIGHBOURS,
	N_COLUMNS,
};

/* Accepted header names per column, in order of preference. */
static const char *const header_names[N_COLUMNS][8] = {
    [COL_CODE] = {"code", "area_code", "bu_code", "wk_code", "gm_code", NULL},
    [COL_MUNICIPALITY] = {"municipality", "gemeente", "gm_code", NULL},
    [COL_NAME] = {"name", "naam", "bu_naam", "buurt_naam", "wk_naam", "wijk_naam", "gm_naam",
                  "gemeente_naam"},
    [COL_POPULATION] = {"population", "inwoners", "aantal_inwoners", NULL},
    [COL_YEAR] = {"year", "jaar", NULL},
    [COL_LAT] = {"centroid_lat", "lat", "latitude", NULL},
    [COL_LON] = {"centroid_lon", "lon", "longitude", NULL},
    [COL_NEIGHBOURS] = {"neighbours", "neighbors", "buren", NULL},
};

#define MAX_NAME 200

struct parse {
	const char *file;
	struct err *e;
	int line;
	int status;
	/* fields of the current record (borrowed from the reader) */
	char **fields;
	size_t n_fields;
	/* header */
	bool have_header;
	char *headers[CSVREAD_MAX_FIELDS];
	size_t n_headers;
	int col[N_COLUMNS]; /* field index, -1 when absent */
	int header_year;    /* from inwoners_YYYY, 0 when none */
	int year;           /* from the caller, 0 when none */
	struct area_list *out;
	size_t cap;
};

const char *area_code_kind(const char *code)
{
	static const struct {
		const char *kind;
		size_t len;
	} kinds[] = {{"GM", 6}, {"WK", 8}, {"BU", 10}};
	size_t n = strlen(code);
	for (size_t i = 0; i < 3; i++) {
		if (n != kinds[i].len || strncmp(code, kinds[i].kind, 2) != 0)
			continue;
		if (strspn(code + 2, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n - 2)
			return NULL;
		return kinds[i].kind;
	}
	return NULL;
}

static int fail(struct parse *p, int column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills p->e with "areas file "F", line L[, column C ("header")]: message". */
static int fail(struct parse *p, int column, const char *fmt, ...)
{
	char msg[384], where[160] = "";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (column >= 0 && (size_t)column < p->n_headers)
		snprintf(where, sizeof(where), ", column %d (\"%.60s\")", column + 1,
		         p->headers[column]);
	else if (column >= 0)
		snprintf(where, sizeof(where), ", column %d", column + 1);
	err_set(p->e, 400, "invalid_area_file", "areas file \"%s\", line %d%s: %s", p->file,
	        p->line, where, msg);
	p->status = -EINVAL;
	return -EINVAL;
}

/* Trims ASCII whitespace in place and returns the start. */
static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int read_header(struct parse *p)
{
	for (int c = 0; c < N_COLUMNS; c++)
		p->col[c] = -1;
	for (size_t i = 0; i < p->n_fields; i++) {
		char *h = trim(p->fields[i]);
		for (char *q = h; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		p->headers[i] = strdup(h);
		if (p->headers[i] == NULL)
			return -ENOMEM;
		p->n_headers = i + 1;
	}
	for (int c = 0; c < N_COLUMNS; c++) {
		/* Earlier names in the list win over later ones. */
		for (size_t k = 0; k < 8 && header_names[c][k] != NULL && p->col[c] < 0; k++) {
			for (size_t i = 0; i < p->n_headers; i++) {
				if (strcmp(p->headers[i], header_names[c][k]) == 0) {
					p->col[c] = (int)i;
					break;
				}
			}
		}
	}
	if (p->col[COL_POPULATION] < 0) {
		for (size_t i = 0; i < p->n_headers; i++) {
			const char *h = p->headers[i];
			if (strncmp(h, "inwoners_", 9) == 0 && strlen(h) == 13 &&
			    strspn(h + 9, "0123456789") == 4) {
				p->col[COL_POPULATION] = (int)i;
				p->header_year = atoi(h + 9);
				break;
			}
		}
	}
	for (size_t i = 0; i < p->n_headers; i++) {
		for (size_t j = 0; j < i; j++) {
			if (p->headers[i][0] != '\0' && strcmp(p->headers[i], p->headers[j]) == 0)
				return fail(p, (int)i, "duplicate column name");
		}
	}
	if (p->col[COL_CODE] < 0)
		return fail(p, -1, "missing column \"code\" (or \"wk_code\", \"bu_code\")");
	if (p->col[COL_POPULATION] < 0)
		return fail(p, -1, "missing column \"population\" (or \"inwoners_YYYY\")");
	if ((p->col[COL_LAT] < 0) != (p->col[COL_LON] < 0))
		return fail(p, -1, "columns \"centroid_lat\" and \"centroid_lon\" come together");
	if (p->year == 0 && p->col[COL_YEAR] < 0 && p->header_year == 0)
		return fail(p, -1, "cannot tell the year of the areas");
	p->have_header = true;
	return 0;
}

/* The field of column c in the current record, trimmed; "" when the record is short. */
static char *field(struct parse *p, enum column c)
{
	int i = p->col[c];
	if (i < 0 || (size_t)i >= p->n_fields)
		return NULL;
	return trim(p->fields[i]);
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	if (*s == '\0' || strspn(s, "0123456789-") != strlen(s))
		return -EINVAL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	if (*s == '\0')
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int read_codes(struct parse *p, struct area *a, char *s)
{
	size_t cap = strlen(s) + 3, len = 0;
	a->neighbours = malloc(cap);
	if (a->neighbours == NULL)
		return -ENOMEM;
	a->neighbours[len++] = '{';
	for (char *save = NULL, *tok = strtok_r(s, "; \t|", &save); tok != NULL;
	     tok = strtok_r(NULL, "; \t|", &save)) {
		for (char *q = tok; *q; q++)
			*q = (char)toupper((unsigned char)*q);
		if (area_code_kind(tok) == NULL)
			return fail(p, p->col[COL_NEIGHBOURS], "invalid neighbour code: \"%.20s\"",
			            tok);
		if (strcmp(tok, a->code) == 0)
			return fail(p, p->col[COL_NEIGHBOURS], "area lists itself as neighbour");
		if (len > 1)
			a->neighbours[len++] = ',';
		size_t n = strlen(tok);
		memcpy(a->neighbours + len, tok, n);
		len += n;
	}
	a->neighbours[len++] = '}';
	a->neighbours[len] = '\0';
	return 0;
}

static int read_record(struct parse *p)
{
	struct area a = {.population = -1, .line = p->line};
	char *s;
	long v;
	int r;

	if (p->n_fields != p->n_headers)
		return fail(p, -1, "record has %zu fields, the header has %zu", p->n_fields,
		            p->n_headers);
	/* code and kind */
	s = field(p, COL_CODE);
	for (char *q = s; *q; q++)
		*q = (char)toupper((unsigned char)*q);
	const char *kind = area_code_kind(s);
	if (kind == NULL)
		return fail(p, p->col[COL_CODE], "invalid area code: \"%.20s\"", s);
	snprintf(a.code, sizeof(a.code), "%s", s);
	snprintf(a.kind, sizeof(a.kind), "%s", kind);
	/* CBS codes embed the municipality's four characters after the prefix. */
	snprintf(a.municipality, sizeof(a.municipality), "GM%.4s", a.code + 2);
	s = field(p, COL_MUNICIPALITY);
	if (s != NULL && *s != '\0' && strcasecmp(s, a.municipality) != 0)
		return fail(p, p->col[COL_MUNICIPALITY],
		            "area \"%s\" does not belong to municipality \"%.20s\"", a.code, s);
	/* year */
	a.year = p->year != 0 ? p->year : p->header_year;
	s = field(p, COL_YEAR);
	if (s != NULL) {
		if (parse_long(s, 1990, 2100, &v) < 0)
			return fail(p, p->col[COL_YEAR], "invalid year: \"%.20s\"", s);
		if (p->year != 0 && v != p->year)
			return fail(p, p->col[COL_YEAR], "year %ld differs from the requested %d",
			            v, p->year);
		a.year = (int)v;
	}
	if (a.year < 1990 || a.year > 2100)
		return fail(p, -1, "year %d is outside 1990..2100", a.year);
	/* population: empty or "." (CBS's mark for a secret or missing figure) is unknown */
	s = field(p, COL_POPULATION);
	if (*s != '\0' && strcmp(s, ".") != 0) {
		if (parse_long(s, 0, 100000000, &v) < 0)
			return fail(p, p->col[COL_POPULATION], "invalid population: \"%.20s\"", s);
		a.population = v;
	}
	/* centroid */
	if (p->col[COL_LAT] >= 0) {
		char *lat = field(p, COL_LAT), *lon = field(p, COL_LON);
		if (*lat != '\0' || *lon != '\0') {
			if (parse_double(lat, -90, 90, &a.lat) < 0)
				return fail(p, p->col[COL_LAT], "invalid latitude: \"%.20s\"", lat);
			if (parse_double(lon, -180, 180, &a.lon) < 0)
				return fail(p, p->col[COL_LON], "invalid longitude: \"%.20s\"",
				            lon);
			a.has_centroid = true;
		}
	}
	/* name: optional, no control characters */
	s = field(p, COL_NAME);
	if (s != NULL && *s != '\0') {
		if (strlen(s) > MAX_NAME)
			return fail(p, p->col[COL_NAME], "name longer than %d bytes", MAX_NAME);
		for (const char *q = s; *q; q++) {
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				return fail(p, p->col[COL_NAME],
				            "name contains a control character");
		}
		if ((a.name = strdup(s)) == NULL)
			return -ENOMEM;
	}
	/* neighbours */
	s = field(p, COL_NEIGHBOURS);
	r = read_codes(p, &a, s != NULL ? s : (char[]){""});
	if (r < 0)
		goto bad;
	/* duplicates */
	for (size_t i = 0; i < p->out->n; i++) {
		const struct area *b = &p->out->items[i];
		if (b->year == a.year && strcmp(b->code, a.code) == 0) {
			r = fail(p, p->col[COL_CODE],
			         "duplicate area code \"%s\" (first on line %d)", a.code, b->line);
			goto bad;
		}
	}
	if (p->out->n == p->cap) {
		size_t ncap = p->cap != 0 ? p->cap * 2 : 64;
		struct area *items = realloc(p->out->items, ncap * sizeof(*items));
		if (items == NULL) {
			r = -ENOMEM;
			goto bad;
		}
		p->out->items = items;
		p->cap = ncap;
	}
	p->out->items[p->out->n++] = a;
	return 0;
bad:
	free(a.name);
	free(a.neighbours);
	return r;
}

/* Every neighbour must be an area of the same year in this file. */
static int check_neighbours(struct parse *p)
{
	for (size_t i = 0; i < p->out->n; i++) {
		const struct area *a = &p->out->items[i];
		char *list = strdup(a->neighbours + 1);
		if (list == NULL)
			return p->status = -ENOMEM;
		for (char *save = NULL, *tok = strtok_r(list, ",}", &save); tok != NULL;
		     tok = strtok_r(NULL, ",}", &save)) {
			bool found = false;
			for (size_t j = 0; j < p->out->n && !found; j++) {
				found = p->out->items[j].year == a->year &&
				        strcmp(p->out->items[j].code, tok) == 0;
			}
			if (!found) {
				p->line = a->line;
				fail(p, p->col[COL_NEIGHBOURS],
				     "neighbour \"%s\" is not an area of %d in this file", tok,
				     a->year);
				break;
			}
		}
		free(list);
		if (p->status != 0)
			return p->status;
	}
	return 0;
}

int area_csv_parse(FILE *in, const char *name, int year, struct area_list *out, struct err *e)
{
	struct parse p = {.file = name, .e = e, .year = year > 0 ? year : 0, .out = out};
	char msg[128];
	int r, column;

	out->items = NULL;
	out->n = 0;
	struct csvread *reader = csvread_new(in);
	if (reader == NULL)
		return -ENOMEM;
	while (p.status == 0 && (r = csvread_next(reader, &p.fields, &p.n_fields, &p.line, &column,
	                                          msg, sizeof(msg))) != 0) {
		if (r == -ENOMEM) {
			p.status = r;
		} else if (r < 0) {
			fail(&p, column, "%s", msg);
		} else {
			r = p.have_header ? read_record(&p) : read_header(&p);
			if (r < 0 && p.status == 0)
				p.status = r;
		}
	}
	if (p.status == 0 && !p.have_header) {
		p.line = 1;
		fail(&p, -1, "file is empty");
	} else if (p.status == 0 && out->n == 0) {
		fail(&p, -1, "file has no data rows");
	}
	if (p.status == 0)
		check_neighbours(&p);
	r = p.status;
	for (size_t i = 0; i < p.n_headers; i++)
		free(p.headers[i]);
	csvread_free(reader);
	if (r < 0)
		area_list_free(out);
	return r;
}

void area_list_free(struct area_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->items[i].name);
		free(list->items[i].neighbours);
	}
	free(list->items);
	list->items = NULL;
	list->n = 0;
}
