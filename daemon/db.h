/* One asynchronous PostgreSQL connection driven by the libevent loop: connect with
 * PQconnectStart/PQconnectPoll, send with PQsendQueryParams, flush and read without ever
 * blocking, detect loss while idle, reconnect with exponential backoff and jitter.
 * At most one query in flight; db_pool.c queues the rest. */
#ifndef WR_DB_H
#define WR_DB_H

#include <stdbool.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "err.h"

struct db_conn;

/* Result of one query. status 0: `res` is the last result (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK). -EPROTO: the server reported an error, `res` holds it (use
 * PQresultErrorField). -EIO: the connection was lost, `res` is NULL. -ECANCELED: the
 * connection is being freed, `res` is NULL. `res` is borrowed: it is cleared when the
 * callback returns. The callback may send the next query on the same connection. */
typedef void db_result_fn(void *arg, int status, const PGresult *res);

/* Told when the connection comes up (up = true), goes down, or fails to connect (up = false). */
typedef void db_state_fn(void *arg, struct db_conn *c, bool up);

struct db_conn_params {
	const char *conninfo; /* libpq connection string or URI; kept (copied) */
	int connect_timeout_s;
	int reconnect_min_ms;
	int reconnect_max_ms;
};

/* Creates a connection object and starts connecting on `base`. `on_state` (may be NULL) is
 * called on every up/down change. Returns NULL with errno = ENOMEM. `base` and `arg` are
 * borrowed and must outlive the object. */
struct db_conn *db_conn_new(struct event_base *base, const struct db_conn_params *p,
                            db_state_fn *on_state, void *arg);

/* Closes the connection; a query in flight gets its callback with -ECANCELED first.
 * db_conn_free(NULL) does nothing. Must not be called from this connection's callbacks. */
void db_conn_free(struct db_conn *c);

/* Changes timeouts and backoff for the next attempts (reload). Ignores p->conninfo. */
void db_conn_set_params(struct db_conn *c, const struct db_conn_params *p);

/* True when connected and not failed. */
bool db_conn_is_up(const struct db_conn *c);

/* Sends one statement with text parameters ($1..$n). `sql` and `params` are borrowed for the
 * duration of the call only (libpq copies them). `cb` is called exactly once, from the event
 * loop, unless this returns an error: -ENOTCONN (not connected), -EBUSY (a query is in
 * flight), -EIO (the send failed; the connection is being re-established). */
int db_conn_query(struct db_conn *c, const char *sql, int n_params, const char *const *params,
                  db_result_fn *cb, void *arg) __attribute__((warn_unused_result));

/* A libpq notice processor that sends server notices (for example "relation already exists,
 * skipping") to the debug log instead of stderr. For PQsetNoticeProcessor. */
void db_notice_to_log(void *arg, const char *message);

/* A blocking connection for a worker thread (analysis, reports): `application_name` `app`, a
 * 10 s connect timeout, server `options` (e.g. "-c statement_timeout=900s"), notices to the
 * debug log. Returns it, or NULL with `e` set (503 database_unavailable). */
PGconn *db_connect_blocking(const char *conninfo, const char *app, const char *options,
                            struct err *e);

#endif
