/* Area registry commands (see cli_areas.h). The file is parsed and validated completely
 * before the first row is written; the rows then go in with one prepared upsert per area
 * inside a single transaction. */
#include "cli_areas.h"

#include "area_csv.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $1 year, $2 code, $3 kind, $4 name, $5 municipality, $6 population, $7 lat, $8 lon,
 * $9 neighbours (array literal) */
static const char sql_upsert[] =
    "INSERT INTO area (year, code, kind, name, municipality, population, centroid_lat,"
    " centroid_lon, neighbours) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (year, code) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,"
    " municipality = EXCLUDED.municipality, population = EXCLUDED.population,"
    " centroid_lat = EXCLUDED.centroid_lat, centroid_lon = EXCLUDED.centroid_lon,"
    " neighbours = EXCLUDED.neighbours, imported_at = now()";

/* $1 year or NULL, $2 municipality or NULL */
static const char sql_list[] =
    "SELECT year, code, kind, coalesce(population::text, '-'), coalesce(name, '')"
    " FROM area WHERE ($1::smallint IS NULL OR year = $1) AND"
    " ($2::text IS NULL OR municipality = $2) ORDER BY year, code";

static int usage(void)
{
	fputs("usage: wijkradar areas import [--year YYYY] FILE.csv\n"
	      "       wijkradar areas list [--year YYYY] [--municipality GMxxxx]\n",
	      stderr);
	return 2;
}

static bool command_ok(PGconn *conn, PGresult *res, const char *what)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return true;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
	fprintf(stderr, "error: %s: %.*s\n", what, (int)strcspn(msg, "\n"), msg);
	return false;
}

static int store(PGconn *conn, const struct area_list *list)
{
	bool ok = true;
	PGresult *res = PQexec(conn, "BEGIN");
	ok = command_ok(conn, res, "could not start transaction");
	PQclear(res);
	if (ok) {
		res = PQprepare(conn, "upsert_area", sql_upsert, 9, NULL);
		ok = command_ok(conn, res, "could not prepare area upsert");
		PQclear(res);
	}
	for (size_t i = 0; ok && i < list->n; i++) {
		const struct area *a = &list->items[i];
		char year[8], pop[24], lat[32], lon[32];
		snprintf(year, sizeof(year), "%d", a->year);
		snprintf(pop, sizeof(pop), "%ld", a->population);
		snprintf(lat, sizeof(lat), "%.9g", a->lat);
		snprintf(lon, sizeof(lon), "%.9g", a->lon);
		const char *params[9] = {year,
		                         a->code,
		                         a->kind,
		                         a->name,
		                         a->municipality,
		                         a->population >= 0 ? pop : NULL,
		                         a->has_centroid ? lat : NULL,
		                         a->has_centroid ? lon : NULL,
		                         a->neighbours};
		res = PQexecPrepared(conn, "upsert_area", 9, params, NULL, NULL, 0);
		char what[64];
		snprintf(what, sizeof(what), "could not store area from line %d", a->line);
		ok = command_ok(conn, res, what);
		PQclear(res);
	}
	res = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
	ok = command_ok(conn, res, ok ? "could not commit" : "could not roll back") && ok;
	PQclear(res);
	return ok ? 0 : -EIO;
}

static int import(int argc, char **argv, const struct config *c)
{
	static const struct option opts[] = {{"year", required_argument, NULL, 'y'},
	                                     {NULL, 0, NULL, 0}};
	int year = 0, opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "y:", opts, NULL)) != -1) {
		if (opt != 'y')
			return usage();
		year = atoi(optarg);
		if (year < 1990 || year > 2100) {
			fprintf(stderr, "error: invalid year: \"%s\"\n", optarg);
			return 2;
		}
	}
	if (optind != argc - 1)
		return usage();
	const char *path = argv[optind];
	FILE *in = fopen(path, "r");
	if (in == NULL) {
		fprintf(stderr, "error: could not open areas file \"%s\": %s\n", path,
		        strerror(errno));
		return 1;
	}
	struct area_list list = {0};
	struct err e;
	err_clear(&e);
	int r = area_csv_parse(in, path, year, &list, &e);
	fclose(in);
	if (r < 0) {
		if (r == -ENOMEM)
			err_set(&e, 0, "internal", "out of memory reading \"%s\"", path);
		cli_print_err(&e);
		fputs("No areas were imported.\n", stderr);
		return 1;
	}
	PGconn *conn = cli_open(c);
	r = conn == NULL ? -EIO : 0;
	if (r == 0)
		r = store(conn, &list);
	if (r == 0) {
		/* One summary line per year in the file. */
		for (size_t i = 0; i < list.n; i++) {
			size_t n = 0;
			bool seen = false;
			for (size_t j = 0; j < list.n; j++) {
				n += list.items[j].year == list.items[i].year;
				seen = seen || (j < i && list.items[j].year == list.items[i].year);
			}
			if (!seen)
				printf("imported %zu areas for year %d\n", n, list.items[i].year);
		}
	} else {
		fputs("No areas were imported.\n", stderr);
	}
	PQfinish(conn);
	area_list_free(&list);
	return r == 0 ? 0 : 1;
}

static const struct cli_listing listing = {
    .options = {"year", "municipality"},
    .sql = sql_list,
    .header = "year  code        kd  population  name",
    .widths = {4, 10, 2, -10, 0},
    .n_columns = 5,
    .count_noun = "areas",
};

/* `list` through the shared listing helper. */
static int list(int argc, char **argv, const struct config *c)
{
	return cli_list(argc, argv, c, &listing, usage);
}

int cli_areas(int argc, char **argv, const struct config *c)
{
	static const struct cli_subcommand cmds[] = {
	    {"import", import}, {"list", list}, {NULL, NULL}};
	return cli_dispatch(argc, argv, c, cmds, usage);
}
