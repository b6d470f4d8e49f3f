/* The analyze command (see cli_analyze.h). */
#include "cli_analyze.h"

#include "analysis.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* $1 run id: the alerts the run raised or updated, strongest first. */
static const char sql_alerts[] =
    "SELECT a.id, a.organisation, a.area_code, coalesce(ar.name, ''), a.theme, a.observed,"
    " round(a.expected::numeric, 1), round(a.upperbound::numeric, 1),"
    " round(a.ratio::numeric, 2), a.trend, a.state, to_char(a.first_week, 'IYYY-\"W\"IW'),"
    " to_char(a.last_week, 'IYYY-\"W\"IW'), round(a.recurrence_weeks::numeric / 52, 1)"
    " FROM alert a LEFT JOIN area ar ON ar.year = a.area_year AND ar.code = a.area_code"
    " WHERE a.run_id = $1 ORDER BY a.strength DESC";

int cli_analyze(int argc, char **argv, const struct config *c)
{
	static const struct option opts[] = {{"week", required_argument, NULL, 'w'},
	                                     {NULL, 0, NULL, 0}};
	struct analysis_options o;
	analysis_options_from_config(c, &o);
	o.week = analysis_previous_week(time(NULL));
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "w:", opts, NULL)) != -1) {
		if (opt != 'w' || isoweek_parse(optarg, &o.week) < 0) {
			fprintf(stderr, "usage: wijkradar analyze [--week YYYY-Www]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: wijkradar analyze [--week YYYY-Www]\n");
		return 2;
	}
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	struct analysis_summary sum;
	struct err e;
	char week[16];
	err_clear(&e);
	isoweek_format(o.week, week, sizeof(week));
	o.trigger = "cli";
	o.requested_by = "cli";
	int r = analysis_run(conn, &o, &sum, &e);
	if (r < 0) {
		cli_print_err(&e);
		PQfinish(conn);
		return 1;
	}
	printf("analysis of %s (run %lld): %d series, %d evaluated, %d alerts raised, %d "
	       "updated, %.0f ms\n",
	       week, sum.run_id, sum.series_total, sum.series_analysed, sum.alerts_raised,
	       sum.alerts_updated, sum.duration_ms);
	char id[24];
	snprintf(id, sizeof(id), "%lld", sum.run_id);
	const char *params[] = {id};
	PGresult *res = PQexecParams(conn, sql_alerts, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(res); i++)
			printf(
			    "alert %s [%s] %s %s %s %s: %s persons in %s, expected %s (upper bound "
			    "%s, ratio %s), weeks %s..%s, trend %s, about once in %s years by "
			    "chance\n",
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 10), PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
			    PQgetvalue(res, i, 5), PQgetvalue(res, i, 12), PQgetvalue(res, i, 6),
			    PQgetvalue(res, i, 7), PQgetvalue(res, i, 8), PQgetvalue(res, i, 11),
			    PQgetvalue(res, i, 12), PQgetvalue(res, i, 9), PQgetvalue(res, i, 13));
	}
	PQclear(res);
	PQfinish(conn);
	return 0;
}
