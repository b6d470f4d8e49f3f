/* Initiative registry commands (see cli_initiatives.h). The file is validated whole, then
 * stored with one upsert per row in one transaction. CSV header (any order): code, name,
 * themes, areas (lists separated by ';'), contact_role, url, active. */
#include "cli_initiatives.h"

#include "cli.h"
#include "csvread.h"
#include "initiative.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum col { C_CODE, C_NAME, C_THEMES, C_AREAS, C_ROLE, C_URL, C_ACTIVE, N_COLS };
static const char *const col_names[N_COLS] = {"code",         "name", "themes", "areas",
                                              "contact_role", "url",  "active"};

/* $1 organisation or NULL, $2 area or NULL */
static const char sql_list[] =
    "SELECT organisation, code, array_to_string(themes, ';'), array_to_string(areas, ';'),"
    " CASE WHEN active THEN 'active' ELSE 'inactive' END, name FROM initiative"
    " WHERE ($1::text IS NULL OR organisation = $1) AND ($2::text IS NULL OR $2 = ANY(areas))"
    " ORDER BY organisation, code";

static int usage(void)
{
	fputs("usage: wijkradar initiatives import --organisation ORG FILE.csv\n"
	      "       wijkradar initiatives list [--organisation ORG] [--area CODE]\n",
	      stderr);
	return 2;
}

struct row {
	struct initiative in;
	int line;
};

/* Reads and validates the whole file. Returns the rows (caller frees) or NULL after printing
 * the first problem; *n the count. */
static struct row *read_file(const char *path, size_t *n)
{
	char msg[160], **fields;
	size_t nf, cap = 0;
	int line, column, col[N_COLS];
	struct row *rows = NULL;
	struct err e;
	*n = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "error: could not open \"%s\": %s\n", path, strerror(errno));
		return NULL;
	}
	struct csvread *rd = csvread_new(f);
	int r = rd != NULL ? csvread_next(rd, &fields, &nf, &line, &column, msg, sizeof(msg)) : -1;
	if (r <= 0) {
		fprintf(stderr, "error: initiatives file \"%s\": %s\n", path,
		        r == 0       ? "file is empty"
		        : rd == NULL ? "out of memory"
		                     : msg);
		goto fail;
	}
	size_t n_header = nf;
	for (int c = 0; c < N_COLS; c++) {
		col[c] = -1;
		for (size_t i = 0; i < nf; i++) {
			if (strcasecmp(fields[i], col_names[c]) == 0)
				col[c] = (int)i;
		}
		if (col[c] < 0 && c <= C_AREAS) {
			fprintf(stderr,
			        "error: initiatives file \"%s\", line 1: missing column \"%s\"\n",
			        path, col_names[c]);
			goto fail;
		}
	}
	while ((r = csvread_next(rd, &fields, &nf, &line, &column, msg, sizeof(msg))) != 0) {
		if (r < 0 || nf != n_header) {
			fprintf(stderr, "error: initiatives file \"%s\", line %d: %s\n", path, line,
			        r < 0 ? msg : "wrong number of fields");
			goto fail;
		}
		if (*n == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			struct row *p = realloc(rows, cap * sizeof(*rows));
			if (p == NULL)
				goto fail;
			rows = p;
		}
		const char *v[N_COLS];
		for (int c = 0; c < N_COLS; c++)
			v[c] = col[c] >= 0 ? fields[col[c]] : NULL;
		err_clear(&e);
		if (initiative_parse(v[C_CODE], v[C_NAME], v[C_THEMES], v[C_AREAS], v[C_ROLE],
		                     v[C_URL], v[C_ACTIVE], &rows[*n].in, &e) < 0) {
			fprintf(stderr, "error: initiatives file \"%s\", line %d: %s\n", path, line,
			        e.msg);
			goto fail;
		}
		rows[*n].line = line;
		(*n)++;
	}
	csvread_free(rd);
	fclose(f);
	return rows;
fail:
	csvread_free(rd);
	fclose(f);
	free(rows);
	*n = 0;
	return NULL;
}

static int import(int argc, char **argv, const struct config *c)
{
	static const struct option opts[] = {{"organisation", required_argument, NULL, 'o'},
	                                     {NULL, 0, NULL, 0}};
	const char *org = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (opt != 'o')
			return usage();
		org = optarg;
	}
	if (optind != argc - 1 || org == NULL)
		return usage();
	size_t n = 0;
	struct row *rows = read_file(argv[optind], &n);
	if (rows == NULL) {
		fputs("No initiatives were imported.\n", stderr);
		return 1;
	}
	PGconn *conn = cli_open(c);
	int rc = conn == NULL ? 1 : 0;
	PGresult *res = rc == 0 ? PQexec(conn, "BEGIN") : NULL;
	rc = rc == 0 && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : 1;
	PQclear(res);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct initiative *in = &rows[i].in;
		char themes[2400], areas[2400];
		initiative_array(in, false, themes, sizeof(themes));
		initiative_array(in, true, areas, sizeof(areas));
		const char *params[] = {
		    org,   in->code,         in->name, themes,
		    areas, in->contact_role, in->url,  in->active ? "true" : "false"};
		res = PQexecParams(conn, initiative_sql_upsert, 8, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			const char *msg = PQresultStatus(res) == PGRES_TUPLES_OK
			                      ? "unrecognized theme in \"themes\""
			                      : PQresultErrorMessage(res);
			fprintf(stderr, "error: initiatives file \"%s\", line %d: %.*s\n",
			        argv[optind], rows[i].line, (int)strcspn(msg, "\n"), msg);
			rc = 1;
		}
		PQclear(res);
	}
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
		res = PQexec(conn, rc == 0 ? "COMMIT" : "ROLLBACK");
		rc = rc == 0 && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : 1;
		PQclear(res);
	}
	if (rc == 0)
		printf("imported %zu initiatives for organisation %s\n", n, org);
	else
		fputs("No initiatives were imported.\n", stderr);
	PQfinish(conn);
	free(rows);
	return rc;
}

static const struct cli_listing listing = {
    .options = {"organisation", "area"},
    .sql = sql_list,
    .widths = {16, 20, 24, 30, 8, 0},
    .n_columns = 6,
};

/* `list` through the shared listing helper. */
static int list(int argc, char **argv, const struct config *c)
{
	return cli_list(argc, argv, c, &listing, usage);
}

int cli_initiatives(int argc, char **argv, const struct config *c)
{
	static const struct cli_subcommand cmds[] = {
	    {"import", import}, {"list", list}, {NULL, NULL}};
	return cli_dispatch(argc, argv, c, cmds, usage);
}
