/* Connection pool with a FIFO of waiters (see db_pool.h). Grants happen from a zero-delay
 * event, never inside the caller's stack, so callbacks are never re-entrant. */
#include "db_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct waiter {
	db_acquire_fn *cb;
	void *arg;
	struct timespec queued_at; /* CLOCK_MONOTONIC */
	struct waiter *next;
};

struct db_pool {
	struct event_base *base;
	struct db_conn **conns;
	bool *busy; /* acquired by a caller */
	int size;
	int queue_max;
	int n_waiting;
	struct waiter *head, *tail;
	struct event *dispatch; /* zero-delay: hands idle connections to waiters */
	bool freeing;
	bool ever_up;      /* a connection has been up */
	bool start_failed; /* a connection attempt failed before any was up */
	db_pool_observer_fn *observer;
	void *observer_arg;
};

static void observe(struct db_pool *pool, enum db_pool_outcome outcome, double wait_s)
{
	if (pool->observer != NULL)
		pool->observer(pool->observer_arg, outcome, wait_s);
}

/* Seconds since `w` was queued. */
static double waited(const struct waiter *w)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - w->queued_at.tv_sec) +
	       (double)(now.tv_nsec - w->queued_at.tv_nsec) / 1e9;
}

static void schedule_dispatch(struct db_pool *pool)
{
	if (!pool->freeing)
		event_active(pool->dispatch, EV_TIMEOUT, 0);
}

static struct waiter *pop_waiter(struct db_pool *pool)
{
	struct waiter *w = pool->head;
	if (w != NULL) {
		pool->head = w->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pool->n_waiting--;
	}
	return w;
}

static void fail_waiters(struct db_pool *pool, int status)
{
	struct waiter *w;
	while ((w = pop_waiter(pool)) != NULL) {
		if (status == -EIO)
			observe(pool, DB_POOL_LOST, waited(w));
		w->cb(w->arg, status, NULL);
		free(w);
	}
}

static void on_dispatch(evutil_socket_t fd, short what, void *arg)
{
	struct db_pool *pool = arg;
	for (int i = 0; i < pool->size && pool->head != NULL; i++) {
		if (pool->busy[i] || !db_conn_is_up(pool->conns[i]))
			continue;
		struct waiter *w = pop_waiter(pool);
		pool->busy[i] = true;
		observe(pool, DB_POOL_GRANTED, waited(w));
		w->cb(w->arg, 0, pool->conns[i]);
		free(w);
	}
}

static void on_conn_state(void *arg, struct db_conn *c, bool up)
{
	struct db_pool *pool = arg;
	if (up) {
		pool->ever_up = true;
		schedule_dispatch(pool);
		return;
	}
	if (!pool->ever_up)
		pool->start_failed = true;
	if (db_pool_n_up(pool) == 0)
		fail_waiters(pool, -EIO);
}

struct db_pool *db_pool_new(struct event_base *base, const struct db_pool_params *p)
{
	struct db_pool *pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		goto fail;
	pool->base = base;
	pool->size = p->size;
	pool->queue_max = p->queue_max;
	pool->conns = calloc((size_t)p->size, sizeof(*pool->conns));
	pool->busy = calloc((size_t)p->size, sizeof(*pool->busy));
	pool->dispatch = event_new(base, -1, 0, on_dispatch, pool);
	if (pool->conns == NULL || pool->busy == NULL || pool->dispatch == NULL)
		goto fail;
	for (int i = 0; i < p->size; i++) {
		pool->conns[i] = db_conn_new(base, &p->conn, on_conn_state, pool);
		if (pool->conns[i] == NULL)
			goto fail;
	}
	return pool;
fail:
	db_pool_free(pool);
	errno = ENOMEM;
	return NULL;
}

void db_pool_free(struct db_pool *pool)
{
	if (pool == NULL)
		return;
	pool->freeing = true;
	fail_waiters(pool, -ECANCELED);
	for (int i = 0; pool->conns != NULL && i < pool->size; i++) {
		struct db_conn *c = pool->conns[i];
		pool->conns[i] = NULL; /* callbacks run while freeing may count the others */
		db_conn_free(c);
	}
	if (pool->dispatch != NULL)
		event_free(pool->dispatch);
	free(pool->conns);
	free(pool->busy);
	free(pool);
}

void db_pool_set_params(struct db_pool *pool, const struct db_pool_params *p)
{
	pool->queue_max = p->queue_max;
	for (int i = 0; i < pool->size; i++)
		db_conn_set_params(pool->conns[i], &p->conn);
}

void db_pool_set_observer(struct db_pool *pool, db_pool_observer_fn *fn, void *arg)
{
	pool->observer = fn;
	pool->observer_arg = arg;
}

struct event_base *db_pool_base(const struct db_pool *pool)
{
	return pool->base;
}

int db_pool_n_up(const struct db_pool *pool)
{
	int n = 0;
	for (int i = 0; i < pool->size; i++)
		n += pool->conns[i] != NULL && db_conn_is_up(pool->conns[i]);
	return n;
}

int db_pool_n_waiting(const struct db_pool *pool)
{
	return pool->n_waiting;
}

int db_pool_acquire(struct db_pool *pool, db_acquire_fn *cb, void *arg)
{
	if (pool->freeing)
		return -ECANCELED;
	/* Fail fast when the database is down; only while the first connections are still being
	 * made (start-up) does a request wait for them. */
	if (db_pool_n_up(pool) == 0 && (pool->ever_up || pool->start_failed)) {
		observe(pool, DB_POOL_NO_CONNECTION, 0);
		return -ENOTCONN;
	}
	if (pool->n_waiting >= pool->queue_max) {
		observe(pool, DB_POOL_QUEUE_FULL, 0);
		return -EAGAIN;
	}
	struct waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->cb = cb;
	w->arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &w->queued_at);
	if (pool->tail != NULL)
		pool->tail->next = w;
	else
		pool->head = w;
	pool->tail = w;
	pool->n_waiting++;
	schedule_dispatch(pool);
	return 0;
}

void db_pool_release(struct db_pool *pool, struct db_conn *conn)
{
	for (int i = 0; i < pool->size; i++) {
		if (pool->conns[i] == conn) {
			pool->busy[i] = false;
			break;
		}
	}
	if (pool->head != NULL)
		schedule_dispatch(pool);
}

/* One statement through the pool: the copied parameters and the caller's callback. */
struct pool_query {
	struct db_pool *pool;
	struct db_conn *conn;
	const char *sql;
	int n_params;
	char **params;
	db_result_fn *cb;
	void *arg;
};

static void pool_query_free(struct pool_query *q)
{
	for (int i = 0; i < q->n_params; i++)
		free(q->params[i]);
	free(q->params);
	free(q);
}

static void on_pool_query_result(void *arg, int status, const PGresult *res)
{
	struct pool_query *q = arg;
	db_pool_release(q->pool, q->conn);
	q->cb(q->arg, status, res);
	pool_query_free(q);
}

static void on_pool_query_conn(void *arg, int status, struct db_conn *conn)
{
	struct pool_query *q = arg;
	if (status == 0) {
		q->conn = conn;
		status = db_conn_query(conn, q->sql, q->n_params, (const char *const *)q->params,
		                       on_pool_query_result, q);
		if (status == 0)
			return;
		db_pool_release(q->pool, conn);
	}
	q->cb(q->arg, status, NULL);
	pool_query_free(q);
}

int db_pool_query(struct db_pool *pool, const char *sql, int n_params, const char *const *params,
                  db_result_fn *cb, void *arg)
{
	struct pool_query *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->pool = pool;
	q->sql = sql;
	q->cb = cb;
	q->arg = arg;
	if (n_params > 0) {
		q->params = calloc((size_t)n_params, sizeof(char *));
		if (q->params == NULL) {
			free(q);
			return -ENOMEM;
		}
	}
	q->n_params = n_params;
	for (int i = 0; i < n_params; i++) {
		if (params[i] != NULL && (q->params[i] = strdup(params[i])) == NULL) {
			pool_query_free(q);
			return -ENOMEM;
		}
	}
	int r = db_pool_acquire(pool, on_pool_query_conn, q);
	if (r < 0)
		pool_query_free(q);
	return r;
}
