/* Database-wide gauges for /metrics: alerts by state and deliveries due, counted in PostgreSQL
 * every 30 s and after each analysis run, through the pool and never blocking the loop. They are
 * counts over the whole database (not per organisation or area: cardinality and privacy), so
 * every replica on one database reports the same numbers. */
#ifndef WR_DB_GAUGES_H
#define WR_DB_GAUGES_H

struct daemon;
struct db_gauges;

/* Declares the gauges, starts the first refresh (it waits for the pool's first connection) and
 * arms the 30 s timer. `d` is borrowed and must outlive the object, with its base, pool and
 * metrics. Returns NULL with errno = ENOMEM. */
struct db_gauges *db_gauges_start(struct daemon *d);

/* Counts again now, unless a count is in flight: then one more follows it. Errors (database
 * down, queue full) leave the gauges as they were and are retried by the timer. NULL-safe. This
 * function can't fail. */
void db_gauges_refresh(struct db_gauges *g);

/* Stops the timer and frees `g`; a count still in flight frees it when the pool calls back
 * (it always does, at the latest with -ECANCELED from db_pool_free). NULL-safe. */
void db_gauges_free(struct db_gauges *g);

#endif
