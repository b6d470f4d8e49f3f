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

void maintenance_describe(const struct maintenance_summary *r, char *buf, size_t size)
{
	if (r->horizon[0] != '\0')
		snprintf(
		    buf, size,
		    "retention to %s: %d partitions dropped, %lld signals, %lld person-weeks and "
		    "%lld idempotency keys removed, %d signals of open trajectories kept; %d "
		    "partitions made; %.0f ms",
		    r->horizon, r->partitions_dropped, r->signals_removed, r->persons_removed,
		    r->keys_removed, r->signals_carried, r->partitions_made, r->duration_ms);
	else
		snprintf(buf, size,
		         "retention is off (retention.enabled); %d partitions made; %.0f ms",
		         r->partitions_made, r->duration_ms);
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
		const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
		err_set(e, 0, "maintenance", "maintenance failed: %.*s", (int)strcspn(msg, "\n"),
		        msg);
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
