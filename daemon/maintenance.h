/* The daily maintenance job: monthly partitions for the coming months, and retention of raw
 * signals (BRIEF §5), carried out by the SQL function wr_maintain (sql/007_retention.sql).
 * Shared by the daemon's scheduler and `wijkradar maintain`. One run a day over all replicas,
 * coordinated in the database. */
#ifndef WR_MAINTENANCE_H
#define WR_MAINTENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "config.h"
#include "err.h"

struct maintenance_options {
	char today[11]; /* YYYY-MM-DD (UTC) */
	bool retention; /* also remove what is past retention */
	int months;     /* retention.months */
	int key_weeks;  /* ingest.max_age_weeks: how long idempotency keys are kept */
	bool force;     /* run even when today's run is done */
};

struct maintenance_summary {
	bool busy;        /* another session is running it */
	bool done;        /* it ran today already (not forced) */
	char horizon[11]; /* YYYY-MM-DD, "" without retention */
	int partitions_made;
	int partitions_dropped;
	int signals_carried;
	long long signals_removed;
	long long persons_removed;
	long long keys_removed;
	double duration_ms;
};

/* Fills `o` from the configuration (borrowed) for the UTC day of `now`. */
void maintenance_options_from_config(const struct config *c, time_t now,
                                     struct maintenance_options *o);

/* Writes one line saying what a run did (not busy, not done) into buf: "retention to
 * YYYY-MM-DD: ... removed, ... kept; N partitions made; T ms", or "retention is off; ...". */
void maintenance_describe(const struct maintenance_summary *r, char *buf, size_t size);

/* Runs the job on `conn` (borrowed, connected, not in a transaction). Returns 0 and fills
 * *out (busy or done set when it did nothing), or -EIO with `e` filled. */
int maintenance_run(PGconn *conn, const struct maintenance_options *o,
                    struct maintenance_summary *out, struct err *e)
    __attribute__((warn_unused_result));

#endif
