/* A few database connections plus a bounded FIFO of requests waiting for one. A caller
 * acquires a connection, runs one or more queries on it (a transaction stays on one
 * connection from BEGIN to COMMIT), and releases it. Fails fast instead of queueing when no
 * connection is up or the queue is full, so the API can answer 503 at once. */
#ifndef WR_DB_POOL_H
#define WR_DB_POOL_H

#include <stdbool.h>

#include "db.h"

struct db_pool;

struct db_pool_params {
	struct db_conn_params conn; /* for every connection */
	int size;                   /* connections, >= 1 (fixed at creation) */
	int queue_max;              /* waiting requests, >= 1 */
};

/* Granted connection (status 0, `conn` usable until db_pool_release) or failure: -EIO (every
 * connection went down while waiting), -ECANCELED (pool being freed); `conn` is NULL then. */
typedef void db_acquire_fn(void *arg, int status, struct db_conn *conn);

/* What became of one request for a connection, told to the observer (for metrics). */
enum db_pool_outcome {
	DB_POOL_GRANTED,       /* got a connection after waiting `wait_s` seconds */
	DB_POOL_QUEUE_FULL,    /* refused at once (-EAGAIN); `wait_s` is 0 */
	DB_POOL_NO_CONNECTION, /* refused at once (-ENOTCONN); `wait_s` is 0 */
	DB_POOL_LOST,          /* waited `wait_s` seconds, then every connection went down (-EIO) */
};

/* Called synchronously for every outcome but cancellation at shutdown. Must not call back into
 * the pool. */
typedef void db_pool_observer_fn(void *arg, enum db_pool_outcome outcome, double wait_s);

/* Creates the pool and starts connecting. Returns NULL with errno set. `base` is borrowed. */
struct db_pool *db_pool_new(struct event_base *base, const struct db_pool_params *p);

/* Fails every waiter and query in flight with -ECANCELED, then closes all connections.
 * db_pool_free(NULL) does nothing. */
void db_pool_free(struct db_pool *pool);

/* Applies reloadable settings (queue_max, timeouts, backoff); size and conninfo stay. */
void db_pool_set_params(struct db_pool *pool, const struct db_pool_params *p);

/* Sets (or with fn NULL, clears) the one observer of request outcomes. `arg` is borrowed and
 * must outlive the pool or the next call. This function can't fail. */
void db_pool_set_observer(struct db_pool *pool, db_pool_observer_fn *fn, void *arg);

/* The event base the pool runs on (borrowed). */
struct event_base *db_pool_base(const struct db_pool *pool);

/* Number of connections that are up. */
int db_pool_n_up(const struct db_pool *pool);

/* Number of requests waiting for a connection. */
int db_pool_n_waiting(const struct db_pool *pool);

/* Queues a request for a connection; `cb` is called once, from the event loop, unless this
 * returns an error: -ENOTCONN (no connection is up; at start-up only once an attempt has
 * failed, before that requests wait for the first connection), -EAGAIN (queue full),
 * -ENOMEM. */
int db_pool_acquire(struct db_pool *pool, db_acquire_fn *cb, void *arg)
    __attribute__((warn_unused_result));

/* Gives a connection back. The caller must have ended any transaction it began (a connection
 * that is lost meanwhile reconnects by itself). */
void db_pool_release(struct db_pool *pool, struct db_conn *conn);

/* Acquire, one statement, release. `sql` must stay valid until `cb` runs (use static text);
 * `params` are copied. `cb` is called once from the event loop with the statement's outcome
 * (see db_result_fn) unless this returns an error as db_pool_acquire does. */
int db_pool_query(struct db_pool *pool, const char *sql, int n_params, const char *const *params,
                  db_result_fn *cb, void *arg) __attribute__((warn_unused_result));

#endif
