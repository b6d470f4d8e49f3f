/* Asynchronous libpq connection on libevent (see db.h).
 * States: WAITING (backoff timer armed) -> CONNECTING (PQconnectPoll) -> IDLE <-> BUSY;
 * any failure goes back to WAITING. The socket may change while connecting, so the I/O
 * event is re-assigned with PQsocket() every time it is armed. */
#include "db.h"

#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum db_state {
	DB_WAITING,
	DB_CONNECTING,
	DB_IDLE,
	DB_BUSY,
};

struct db_conn {
	struct event_base *base;
	char *conninfo;
	int connect_timeout_s;
	int reconnect_min_ms, reconnect_max_ms;
	int backoff_ms; /* next delay */
	uint64_t rng;   /* jitter */
	enum db_state state;
	PGconn *conn;
	struct event *io;    /* socket readiness */
	struct event *timer; /* backoff, or connect deadline */
	bool flushing;       /* query data not fully sent yet */
	db_result_fn *cb;
	void *cb_arg;
	PGresult *result; /* result kept while reading the rest */
	int result_status;
	db_state_fn *on_state;
	void *state_arg;
};

static void on_io(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static int jitter_ms(struct db_conn *c, int ms)
{
	/* xorshift64: +-20% so that many daemons do not reconnect in lockstep. */
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	int spread = ms / 5;
	if (spread == 0)
		return ms;
	return ms - spread + (int)(c->rng % (uint64_t)(2 * spread + 1));
}

static void arm_io(struct db_conn *c, short what)
{
	event_del(c->io);
	if (event_assign(c->io, c->base, PQsocket(c->conn), what, on_io, c) < 0 ||
	    event_add(c->io, NULL) < 0)
		log_error("db", "could not arm database socket event");
}

static void arm_timer(struct db_conn *c, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_del(c->timer);
	if (evtimer_add(c->timer, &tv) < 0)
		log_error("db", "could not arm database timer");
}

/* Hands the pending result (or failure) to the caller; the callback may send again. */
static void finish_query(struct db_conn *c, int status)
{
	db_result_fn *cb = c->cb;
	void *arg = c->cb_arg;
	PGresult *res = c->result;
	if (status == 0)
		status = c->result_status;
	c->cb = NULL;
	c->cb_arg = NULL;
	c->result = NULL;
	c->result_status = 0;
	if (cb != NULL)
		cb(arg, status, status == -EIO || status == -ECANCELED ? NULL : res);
	PQclear(res);
}

/* Drops the connection and schedules a new attempt. `why` is logged (no query contents). */
static void lose(struct db_conn *c, const char *why)
{
	bool was_up = c->state == DB_IDLE || c->state == DB_BUSY;
	bool had_query = c->state == DB_BUSY;
	char msg[256];
	snprintf(msg, sizeof(msg), "%s", why);
	/* libpq messages end in a newline; keep the log to one line. */
	msg[strcspn(msg, "\n")] = '\0';
	event_del(c->io);
	PQfinish(c->conn);
	c->conn = NULL;
	c->state = DB_WAITING;
	c->flushing = false;
	int delay = jitter_ms(c, c->backoff_ms);
	c->backoff_ms =
	    c->backoff_ms * 2 > c->reconnect_max_ms ? c->reconnect_max_ms : c->backoff_ms * 2;
	arm_timer(c, delay);
	if (was_up)
		log_warn("db", "lost database connection: %s; reconnecting in %d ms", msg, delay);
	else
		log_warn("db", "could not connect to database: %s; retrying in %d ms", msg, delay);
	if (had_query)
		finish_query(c, -EIO);
	/* Also after a failed attempt, so that the pool stops holding requests at start-up. */
	if (c->on_state != NULL)
		c->on_state(c->state_arg, c, false);
}

static void start_connect(struct db_conn *c)
{
	c->conn = PQconnectStart(c->conninfo);
	if (c->conn == NULL) {
		lose(c, "out of memory");
		return;
	}
	if (PQstatus(c->conn) == CONNECTION_BAD) {
		lose(c, PQerrorMessage(c->conn));
		return;
	}
	c->state = DB_CONNECTING;
	arm_timer(c, c->connect_timeout_s * 1000);
	arm_io(c, EV_WRITE);
}

void db_notice_to_log(void *arg, const char *message)
{
	log_debug("db", "server notice: %.*s", (int)strcspn(message, "\n"), message);
}

static void connected(struct db_conn *c)
{
	PQsetNoticeProcessor(c->conn, db_notice_to_log, NULL);
	evtimer_del(c->timer);
	if (PQsetnonblocking(c->conn, 1) != 0) {
		lose(c, PQerrorMessage(c->conn));
		return;
	}
	c->state = DB_IDLE;
	c->backoff_ms = c->reconnect_min_ms;
	arm_io(c, EV_READ);
	log_info("db", "connected to database (server version %d)", PQserverVersion(c->conn));
	if (c->on_state != NULL)
		c->on_state(c->state_arg, c, true);
}

static void poll_connect(struct db_conn *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		arm_io(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		arm_io(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		connected(c);
		break;
	case PGRES_POLLING_FAILED:
	default:
		lose(c, PQerrorMessage(c->conn));
		break;
	}
}

/* Sends pending output; returns false when the connection was lost. */
static bool flush(struct db_conn *c)
{
	int r = PQflush(c->conn);
	if (r < 0) {
		lose(c, PQerrorMessage(c->conn));
		return false;
	}
	c->flushing = r == 1;
	arm_io(c, c->flushing ? EV_READ | EV_WRITE : EV_READ);
	return true;
}

static void read_results(struct db_conn *c)
{
	while (!PQisBusy(c->conn)) {
		PGresult *res = PQgetResult(c->conn);
		if (res == NULL) {
			c->state = DB_IDLE;
			arm_io(c, EV_READ);
			finish_query(c, 0);
			return;
		}
		ExecStatusType st = PQresultStatus(res);
		bool failed =
		    st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY;
		/* Keep the first error, otherwise the last result. */
		if (c->result_status == 0) {
			PQclear(c->result);
			c->result = res;
			c->result_status = failed ? -EPROTO : 0;
		} else {
			PQclear(res);
		}
	}
	arm_io(c, EV_READ);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	switch (c->state) {
	case DB_CONNECTING:
		poll_connect(c);
		return;
	case DB_IDLE:
		/* Nothing was asked: readable means a notice, a notification or the end. */
		if (!PQconsumeInput(c->conn)) {
			lose(c, PQerrorMessage(c->conn));
			return;
		}
		for (PGnotify *n = PQnotifies(c->conn); n != NULL; n = PQnotifies(c->conn))
			PQfreemem(n);
		if (PQstatus(c->conn) == CONNECTION_BAD) {
			lose(c, "server closed the connection");
			return;
		}
		arm_io(c, EV_READ);
		return;
	case DB_BUSY:
		if ((what & EV_READ) && !PQconsumeInput(c->conn)) {
			lose(c, PQerrorMessage(c->conn));
			return;
		}
		if (c->flushing) {
			if (!flush(c))
				return;
			if (c->flushing)
				return;
		}
		read_results(c);
		return;
	case DB_WAITING:
		return;
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *c = arg;
	if (c->state == DB_WAITING) {
		start_connect(c);
	} else if (c->state == DB_CONNECTING) {
		lose(c, "timeout expired");
	}
}

struct db_conn *db_conn_new(struct event_base *base, const struct db_conn_params *p,
                            db_state_fn *on_state, void *arg)
{
	struct db_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->base = base;
	c->conninfo = strdup(p->conninfo);
	c->io = calloc(1, event_get_struct_event_size());
	c->timer = evtimer_new(base, on_timer, c);
	if (c->conninfo == NULL || c->io == NULL || c->timer == NULL)
		goto fail;
	db_conn_set_params(c, p);
	c->backoff_ms = c->reconnect_min_ms;
	c->rng = (uint64_t)(uintptr_t)c ^ ((uint64_t)time(NULL) << 20) ^ 0x9e3779b97f4a7c15ULL;
	c->on_state = on_state;
	c->state_arg = arg;
	/* event_assign needs a valid fd-less start; use the timer path to connect soon. */
	if (event_assign(c->io, base, -1, 0, on_io, c) < 0)
		goto fail;
	c->state = DB_WAITING;
	arm_timer(c, 0);
	return c;
fail:
	db_conn_free(c);
	errno = ENOMEM;
	return NULL;
}

void db_conn_free(struct db_conn *c)
{
	if (c == NULL)
		return;
	if (c->state == DB_BUSY)
		finish_query(c, -ECANCELED);
	if (c->io != NULL && c->base != NULL) {
		event_del(c->io);
	}
	free(c->io);
	if (c->timer != NULL)
		event_free(c->timer);
	PQfinish(c->conn);
	PQclear(c->result);
	free(c->conninfo);
	free(c);
}

void db_conn_set_params(struct db_conn *c, const struct db_conn_params *p)
{
	c->connect_timeout_s = p->connect_timeout_s;
	c->reconnect_min_ms = p->reconnect_min_ms;
	c->reconnect_max_ms = p->reconnect_max_ms;
	if (c->backoff_ms > c->reconnect_max_ms || c->backoff_ms < c->reconnect_min_ms)
		c->backoff_ms = c->reconnect_min_ms;
}

bool db_conn_is_up(const struct db_conn *c)
{
	return c->state == DB_IDLE || c->state == DB_BUSY;
}

int db_conn_query(struct db_conn *c, const char *sql, int n_params, const char *const *params,
                  db_result_fn *cb, void *arg)
{
	if (c->state == DB_BUSY)
		return -EBUSY;
	if (c->state != DB_IDLE)
		return -ENOTCONN;
	if (!PQsendQueryParams(c->conn, sql, n_params, NULL, params, NULL, NULL, 0)) {
		lose(c, PQerrorMessage(c->conn));
		return -EIO;
	}
	c->state = DB_BUSY;
	c->cb = cb;
	c->cb_arg = arg;
	c->result = NULL;
	c->result_status = 0;
	/* The first flush happens from the loop, so that `cb` never runs inside this call. */
	c->flushing = true;
	arm_io(c, EV_READ | EV_WRITE);
	return 0;
}

PGconn *db_connect_blocking(const char *conninfo, const char *app, const char *options,
                            struct err *e)
{
	const char *const keys[] = {"dbname", "application_name", "connect_timeout", "options",
	                            NULL};
	const char *const values[] = {conninfo, app, "10", options, NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);
		err_set(e, 503, "database_unavailable", "could not connect to database: %.*s",
		        (int)strcspn(msg, "\n"), msg);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, db_notice_to_log, NULL);
	return conn;
}
