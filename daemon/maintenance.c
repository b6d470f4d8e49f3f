/* The daily maintenance job (see maintenance.h): one call of wr_maintain. */
#include "maintenance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_maintain[] =
    "SELECT status, coalesce(to_char(horizon, 'YYYY-MM-DD'), ''), partitions_made,"
    " partitions_dropped, signals_carried, signals_removed, persons_removed, keys_removed"
    " FROM wr_maintain($1::date, $2::boolean, $3::int, $4::int, $5::boolean)";

void maintenance_options_from_config(const struct config *c, time_t now,
                                     struct maintenance_options *o)
{
	struct tm tm;
	memset(o, 0, sizeof(*o));
	gmtime_r(&now, &tm);
	strftime(o->today, sizeof(o->today), "%Y-%m-%d", &tm);
	o->retention = c->retention_enabled;
	o->months = c->retention_months;
	o->key_weeks = c->ingest_max_age_weeks;
}

int maintenance_run(PGconn *conn, const struct maintenance_options *o,
                    struct maintenance_summary *out, struct err *e)
{
	char months[16], weeks[16];
	struct timespec t0, t1;
	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(months, sizeof(months), "%d", o->months);
	snprintf(weeks, sizeof(weeks), "%d", o->key_weeks);
	const char *params[] = {o->today, o->retention ? "true" : "false", months, weeks,
	                        o->force ? "true" : "false"};
	PGresult *res = PQexecParams(conn, sql_maintain, 5, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		err_set(e, 0, "maintenance", "maintenance failed: %s", PQerrorMessage(conn));
		/* libpq's messages end in a newline. */
		size_t n = strlen(e->msg);
		if (n > 0 && e->msg[n - 1] == '\n')
			e->msg[n - 1] = '\0';
		PQclear(res);
		return -EIO;
	}
	const char *status = PQgetvalue(res, 0, 0);
	out->busy = strcmp(status, "busy") == 0;
	out->done = strcmp(status, "done") == 0;
	snprintf(out->horizon, sizeof(out->horizon), "%s", PQgetvalue(res, 0, 1));
	out->partitions_made = atoi(PQgetvalue(res, 0, 2));
	out->partitions_dropped = atoi(PQgetvalue(res, 0, 3));
	out->signals_carried = atoi(PQgetvalue(res, 0, 4));
	out->signals_removed = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	out->persons_removed = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
	out->keys_removed = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	PQclear(res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out->duration_ms =
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return 0;
}
