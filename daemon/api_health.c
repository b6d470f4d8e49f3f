/* /healthz, /readyz and /metrics (see api_health.h). /readyz asks PostgreSQL for the schema
 * version through the pool, with a deadline, so it reports what a real query would meet. */
#include "api_health.h"

#include "log.h"
#include "migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char metric_pool_wait[] = "wijkradar_db_pool_wait_seconds";
static const char metric_pool_refused[] = "wijkradar_db_pool_refused_total";

static const char sql_schema_version[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";

static void on_healthz(struct http_req *hr, void *arg)
{
	json_t *o = json_pack("{s:s, s:s}", "status", "ok", "version", WR_VERSION);
	http_reply_json(hr, 200, o);
}

static void reply_unavailable(struct http_req *hr, const char *detail)
{
	http_req_add_header(hr, "Retry-After", "5");
	http_reply_error(hr, 503, "database_unavailable", "database is not reachable", detail,
	                 NULL);
}

/* A readiness probe waiting for PostgreSQL; freed by the query callback, which the pool
 * always calls (result, connection lost, or cancelled at shutdown). */
struct ready_probe {
	struct http_req *hr; /* NULL once answered by the deadline */
	struct event *deadline;
};

static void on_ready_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct ready_probe *p = arg;
	reply_unavailable(p->hr, "The database did not answer in time.");
	p->hr = NULL;
}

static void on_ready_result(void *arg, int status, const PGresult *res)
{
	struct ready_probe *p = arg;
	event_free(p->deadline);
	if (p->hr != NULL) {
		/* A database without schema_migrations (42P01) is reachable but not migrated. */
		const char *state =
		    status == -EPROTO ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		bool no_table = state != NULL && strcmp(state, "42P01") == 0;
		if (status != 0 && !no_table) {
			reply_unavailable(p->hr, status == -EPROTO
			                             ? "The schema version could not be read."
			                             : "The connection was lost.");
		} else {
			int have = no_table ? 0 : atoi(PQgetvalue(res, 0, 0));
			int want = migrate_latest_version();
			if (have == want) {
				json_t *o = json_pack("{s:s, s:i}", "status", "ready",
				                      "schema_version", have);
				http_reply_json(p->hr, 200, o);
			} else {
				char detail[160];
				snprintf(detail, sizeof(detail),
				         "The database has schema version %d, this binary needs "
				         "%d.",
				         have, want);
				http_reply_error(p->hr, 503, "schema_outdated",
				                 "database schema is not current", detail,
				                 "Run \"wijkradar migrate\".");
			}
		}
	}
	free(p);
}

static void on_readyz(struct http_req *hr, void *arg)
{
	struct daemon *d = arg;
	struct ready_probe *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		http_reply_error(hr, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	p->hr = hr;
	p->deadline = evtimer_new(d->base, on_ready_deadline, p);
	int ms = d->config->readiness_timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	if (p->deadline == NULL || evtimer_add(p->deadline, &tv) < 0) {
		if (p->deadline != NULL)
			event_free(p->deadline);
		free(p);
		http_reply_error(hr, 500, "internal", "could not arm readiness timer", NULL, NULL);
		return;
	}
	int r = db_pool_query(d->db, sql_schema_version, 0, NULL, on_ready_result, p);
	if (r < 0) {
		event_free(p->deadline);
		free(p);
		reply_unavailable(hr, r == -EAGAIN ? "The database queue is full."
		                                   : "No database connection is up.");
	}
}

static void on_metrics(struct http_req *hr, void *arg)
{
	struct daemon *d = arg;
	metrics_gauge_set(d->metrics, "wijkradar_db_connections_up", "", db_pool_n_up(d->db));
	metrics_gauge_set(d->metrics, "wijkradar_db_queue_waiting", "", db_pool_n_waiting(d->db));
	metrics_gauge_set(d->metrics, "wijkradar_http_requests_in_flight", "",
	                  http_n_inflight(d->http));
	char *text = metrics_render(d->metrics);
	if (text == NULL) {
		http_reply_error(hr, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	http_reply_text(hr, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
	free(text);
}

static const char *const refused_labels[] = {
    [DB_POOL_QUEUE_FULL] = "reason=\"queue_full\"",
    [DB_POOL_NO_CONNECTION] = "reason=\"no_connection\"",
    [DB_POOL_LOST] = "reason=\"connection_lost\"",
};

/* The pool's observer: a wait ends in a connection or in a refusal. */
static void on_pool_outcome(void *arg, enum db_pool_outcome outcome, double wait_s)
{
	struct metrics *m = arg;
	if (outcome == DB_POOL_GRANTED)
		metrics_observe(m, metric_pool_wait, "", wait_s);
	else
		metrics_counter_add(m, metric_pool_refused, refused_labels[outcome], 1);
}

/* Declares the pool's families, with every refusal reason at 0, and observes the pool. */
static int pool_metrics_start(struct daemon *d)
{
	struct metrics *m = d->metrics;
	if (metrics_declare(m, metric_pool_wait, METRICS_HISTOGRAM,
	                    "Time a request waited for a free database connection, observed when "
	                    "it got one") < 0 ||
	    metrics_declare(m, metric_pool_refused, METRICS_COUNTER,
	                    "Requests for a database connection that got none, by reason: "
	                    "queue_full and no_connection are refused at once (the API answers "
	                    "503), connection_lost waited until every connection went down") < 0)
		return -ENOMEM;
	for (int i = DB_POOL_QUEUE_FULL; i <= DB_POOL_LOST; i++) {
		if (metrics_counter_add(m, metric_pool_refused, refused_labels[i], 0) < 0)
			return -ENOMEM;
	}
	db_pool_set_observer(d->db, on_pool_outcome, m);
	return 0;
}

int api_health_start(struct daemon *d)
{
	char labels[96];
	struct metrics *m = d->metrics;
	snprintf(labels, sizeof(labels), "version=\"%s\",schema=\"%d\"", WR_VERSION,
	         migrate_latest_version());
	if (metrics_declare(m, "wijkradar_build_info", METRICS_GAUGE,
	                    "Always 1; labels name the version and the schema version it needs") <
	        0 ||
	    metrics_gauge_set(m, "wijkradar_build_info", labels, 1) < 0 ||
	    metrics_declare(m, "wijkradar_start_time_seconds", METRICS_GAUGE,
	                    "Start time of the daemon, seconds since the Unix epoch") < 0 ||
	    metrics_gauge_set(m, "wijkradar_start_time_seconds", "", (double)d->started_at) < 0 ||
	    metrics_declare(m, "wijkradar_db_connections_up", METRICS_GAUGE,
	                    "Database connections that are up") < 0 ||
	    metrics_declare(m, "wijkradar_db_queue_waiting", METRICS_GAUGE,
	                    "Requests waiting for a database connection") < 0 ||
	    metrics_declare(m, "wijkradar_http_requests_in_flight", METRICS_GAUGE,
	                    "HTTP requests accepted and not yet answered") < 0 ||
	    pool_metrics_start(d) < 0)
		return -ENOMEM;
	if (http_route(d->http, "/healthz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, on_healthz, d) < 0 ||
	    http_route(d->http, "/readyz", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, on_readyz, d) < 0 ||
	    http_route(d->http, "/metrics", EVHTTP_REQ_GET, on_metrics, d) < 0)
		return -ENOMEM;
	return 0;
}
