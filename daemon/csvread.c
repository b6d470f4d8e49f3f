/* Line-at-a-time CSV reading on libcsv (see csvread.h). Each line is parsed and finished on
 * its own (csv_fini), so an open quote at the end of a line is an error of that line. */
#include "csvread.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <csv.h>

struct csvread {
	FILE *in;
	struct csv_parser csv;
	char *line;
	size_t line_cap;
	int line_no;
	char *fields[CSVREAD_MAX_FIELDS];
	size_t n_fields;
	bool too_many;
	bool oom;
};

static void clear_fields(struct csvread *r)
{
	for (size_t i = 0; i < r->n_fields; i++)
		free(r->fields[i]);
	r->n_fields = 0;
	r->too_many = false;
}

static void on_field(void *data, size_t len, void *arg)
{
	struct csvread *r = arg;
	if (r->n_fields >= CSVREAD_MAX_FIELDS) {
		r->too_many = true;
		return;
	}
	char *s = malloc(len + 1);
	if (s == NULL) {
		r->oom = true;
		return;
	}
	memcpy(s, data, len);
	s[len] = '\0';
	r->fields[r->n_fields++] = s;
}

static void on_record(int terminator, void *arg)
{
	(void)terminator;
	(void)arg;
}

struct csvread *csvread_new(FILE *in)
{
	struct csvread *r = calloc(1, sizeof(*r));
	if (r == NULL || csv_init(&r->csv, CSV_STRICT | CSV_STRICT_FINI) != 0) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->in = in;
	return r;
}

void csvread_free(struct csvread *r)
{
	if (r == NULL)
		return;
	clear_fields(r);
	csv_free(&r->csv);
	free(r->line);
	free(r);
}

int csvread_next(struct csvread *r, char ***fields, size_t *n_fields, int *line, int *column,
                 char *msg, size_t msg_size)
{
	ssize_t len;
	*column = -1;
	clear_fields(r);
	while ((len = getline(&r->line, &r->line_cap, r->in)) >= 0) {
		char *text = r->line;
		*line = ++r->line_no;
		if (r->line_no == 1 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
			text += 3; /* a byte order mark from spreadsheet exports */
			len -= 3;
		}
		if (strspn(text, " \t\r\n") == (size_t)len)
			continue;
		if (memchr(text, '\0', (size_t)len) != NULL) {
			snprintf(msg, msg_size, "line contains a NUL byte");
			return -EINVAL;
		}
		if (csv_parse(&r->csv, text, (size_t)len, on_field, on_record, r) != (size_t)len ||
		    csv_fini(&r->csv, on_field, on_record, r) != 0) {
			snprintf(msg, msg_size, "%s",
			         csv_error(&r->csv) == CSV_EPARSE
			             ? "malformed quoting (a quote left open, or a quote "
			               "inside an unquoted field)"
			             : csv_strerror(csv_error(&r->csv)));
			*column = (int)r->n_fields;
			/* Make the parser usable again for a caller that goes on: csv_fini fails
			 * (CSV_STRICT_FINI) before it resets an open quote, so start afresh. */
			csv_free(&r->csv);
			if (csv_init(&r->csv, CSV_STRICT | CSV_STRICT_FINI) != 0) {
				clear_fields(r);
				return -ENOMEM;
			}
			clear_fields(r);
			return -EINVAL;
		}
		if (r->oom) {
			clear_fields(r);
			return -ENOMEM;
		}
		if (r->too_many) {
			snprintf(msg, msg_size, "more than %d fields", CSVREAD_MAX_FIELDS);
			clear_fields(r);
			return -EINVAL;
		}
		*fields = r->fields;
		*n_fields = r->n_fields;
		return 1;
	}
	if (ferror(r->in)) {
		snprintf(msg, msg_size, "could not read: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}
