/* The CSV form of case signals (see signal_csv.h): columns found by header name, short
 * spellings of the enums. */
#include "signal_csv.h"

#include "csvread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* CSV columns, by header name. */
enum col {
	COL_SIGNAL_ID,
	COL_TEAM,
	COL_AREA_CODE,
	COL_AREA_YEAR,
	COL_ISO_WEEK,
	COL_SUBJECT,
	COL_AGE_BAND,
	COL_TRAJECTORY,
	COL_KIND,
	COL_THEME,
	COL_MODE,
	COL_INSTRUMENT,
	COL_DOMAIN,
	COL_PHASE,
	COL_SCORE,
	COL_EVENT,
	N_COLS,
};

static const char *const col_names[N_COLS] = {"signal_id", "team",    "area_code", "area_year",
                                              "iso_week",  "subject", "age_band",  "trajectory",
                                              "kind",      "theme",   "mode",      "instrument",
                                              "domain",    "phase",   "score",     "event"};

/* Short CSV spellings of the enums, indexed by their wire numbers (0 = none). */
static const char *const age_bands[] = {"",      "0-11",  "12-17", "18-26",
                                        "27-44", "45-64", "65-74", "75+"};
static const char *const kinds[] = {"", "need", "contact", "outcome", "trajectory"};
static const char *const modes[] = {"", "individual", "online", "group"};
static const char *const phases[] = {"", "intake", "intermediate", "end", "follow_up"};
static const char *const events[] = {"", "opened", "closed"};

/* Index of `value` in `names` (case-insensitive), or -1; "" is 0. */
static int lookup(const char *value, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(value, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

struct signal_csv {
	struct csvread *csv;
	int col[N_COLS]; /* field of each column, -1 when absent */
	size_t n_header;
};

static int read_header(struct signal_csv *rd, char *msg, size_t size)
{
	char **fields;
	size_t n;
	int line, column;
	int r = csvread_next(rd->csv, &fields, &n, &line, &column, msg, size);
	if (r <= 0) {
		if (r == 0)
			snprintf(msg, size, "line 1: file is empty");
		return -EINVAL;
	}
	for (int c = 0; c < N_COLS; c++)
		rd->col[c] = -1;
	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < N_COLS; c++) {
			if (strcasecmp(fields[i], col_names[c]) == 0)
				rd->col[c] = (int)i;
		}
	}
	rd->n_header = n;
	const enum col required[] = {COL_SIGNAL_ID, COL_TEAM,     COL_AREA_CODE,
	                             COL_AREA_YEAR, COL_ISO_WEEK, COL_SUBJECT,
	                             COL_AGE_BAND,  COL_KIND,     COL_THEME};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (rd->col[required[i]] < 0) {
			snprintf(msg, size, "line %d: missing column \"%s\"", line,
			         col_names[required[i]]);
			return -EINVAL;
		}
	}
	return 0;
}

/* Fills *s from one CSV record. Returns 0, or -EINVAL with "column: reason" in msg. */
static int convert(const struct signal_csv *rd, char **fields, size_t n, struct signal *s,
                   char *msg, size_t size)
{
	const char *v[N_COLS];
	if (n != rd->n_header) {
		snprintf(msg, size, "record has %zu fields, the header has %zu", n, rd->n_header);
		return -EINVAL;
	}
	for (int c = 0; c < N_COLS; c++)
		v[c] = rd->col[c] >= 0 ? fields[rd->col[c]] : "";
	const enum col strings[] = {COL_SIGNAL_ID,  COL_TEAM,       COL_AREA_CODE,
	                            COL_ISO_WEEK,   COL_SUBJECT,    COL_THEME,
	                            COL_TRAJECTORY, COL_INSTRUMENT, COL_DOMAIN};
	char **slots[] = {&s->signal_id, &s->team,       &s->area_code,  &s->iso_week, &s->subject,
	                  &s->theme,     &s->trajectory, &s->instrument, &s->domain};
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		if (batch_set_string(slots[i], v[strings[i]]) < 0)
			return -ENOMEM;
	}
	char *end;
	long year = strtol(v[COL_AREA_YEAR], &end, 10);
	if (*v[COL_AREA_YEAR] == '\0' || *end != '\0' || year < 0 || year > 9999) {
		snprintf(msg, size, "area_year: not a year: \"%.20s\"", v[COL_AREA_YEAR]);
		return -EINVAL;
	}
	s->area_year = (int)year;
	const struct {
		enum col col;
		int *slot;
		const char *const *names;
		size_t n;
	} enums[] = {
	    {COL_AGE_BAND, &s->age_band, age_bands, sizeof(age_bands) / sizeof(age_bands[0])},
	    {COL_KIND, (int *)&s->kind, kinds, sizeof(kinds) / sizeof(kinds[0])},
	    {COL_MODE, &s->mode, modes, sizeof(modes) / sizeof(modes[0])},
	    {COL_PHASE, &s->phase, phases, sizeof(phases) / sizeof(phases[0])},
	    {COL_EVENT, &s->event, events, sizeof(events) / sizeof(events[0])},
	};
	for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
		int k = lookup(v[enums[i].col], enums[i].names, enums[i].n);
		if (k < 0) {
			snprintf(msg, size, "%s: unrecognized value \"%.20s\"",
			         col_names[enums[i].col], v[enums[i].col]);
			return -EINVAL;
		}
		*enums[i].slot = k;
	}
	if (s->kind == SIGNAL_KIND_OUTCOME) {
		s->score = strtod(v[COL_SCORE], &end);
		if (*v[COL_SCORE] == '\0' || *end != '\0') {
			snprintf(msg, size, "score: not a number: \"%.20s\"", v[COL_SCORE]);
			return -EINVAL;
		}
	}
	return 0;
}

/* Empties a signal that failed to convert. Its strings would otherwise stay allocated in a slot
 * past the end of the caller's batch, which batch_free never reaches. */
static void clear(struct signal *s)
{
	char **slots[] = {&s->signal_id,  &s->team,  &s->area_code,  &s->iso_week, &s->subject,
	                  &s->trajectory, &s->theme, &s->instrument, &s->domain};
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		if (batch_set_string(slots[i], "") < 0)
			break; /* cannot happen: "" is never allocated */
	}
	s->area_year = s->age_band = s->mode = s->phase = s->event = 0;
	s->kind = SIGNAL_KIND_NONE;
	s->score = 0;
}

struct signal_csv *signal_csv_open(FILE *in, char *msg, size_t size)
{
	struct signal_csv *rd = calloc(1, sizeof(*rd));
	if (rd != NULL)
		rd->csv = csvread_new(in);
	if (rd == NULL || rd->csv == NULL) {
		free(rd);
		snprintf(msg, size, "out of memory");
		return NULL;
	}
	if (read_header(rd, msg, size) < 0) {
		signal_csv_free(rd);
		return NULL;
	}
	return rd;
}

int signal_csv_next(struct signal_csv *rd, struct signal *s, int *line, char *msg, size_t size)
{
	char **fields;
	size_t n;
	int column;
	int r = csvread_next(rd->csv, &fields, &n, line, &column, msg, size);
	if (r != 1)
		return r;
	r = convert(rd, fields, n, s, msg, size);
	if (r == 0)
		return 1;
	if (r == -ENOMEM)
		snprintf(msg, size, "out of memory");
	clear(s);
	return r;
}

void signal_csv_free(struct signal_csv *rd)
{
	if (rd == NULL)
		return;
	csvread_free(rd->csv);
	free(rd);
}
