/* Database-wide gauges (see db_gauges.h). One statement per refresh; the states and channels
 * are the fixed sets of the CHECK constraints in sql/003 and sql/004, each reported even at 0,
 * so a count that falls to zero shows 0 instead of its last value. */
#include "db_gauges.h"

#include "daemon.h"
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char metric_alerts[] = "wijkradar_alerts";
static const char metric_pending[] = "wijkradar_deliveries_pending";
static const char metric_refreshed[] = "wijkradar_db_gauges_refresh_time_seconds";

#define REFRESH_S 30

/* Both counts in one round trip: (family, label value, count). Due deliveries use the
 * delivery_due partial index; alerts are few (ranked, not flooded). */
static const char sql_counts[] =
    "SELECT 'alert', state, count(*) FROM alert GROUP BY state"
    " UNION ALL"
    " SELECT 'delivery', s.channel, count(*) FROM delivery d"
    " JOIN subscription s ON s.id = d.subscription_id"
    " WHERE d.state = 'pending' AND d.next_attempt_at <= now() GROUP BY s.channel";

static const char *const alert_states[] = {"new", "acknowledged", "initiative_started", "closed"};
#define N_STATES (sizeof(alert_states) / sizeof(alert_states[0]))
static const char *const channels[] = {"webhook", "email"};
#define N_CHANNELS (sizeof(channels) / sizeof(channels[0]))

struct db_gauges {
	struct daemon *d;
	struct event *timer;
	bool in_flight; /* a count is queued or running in the pool */
	bool again;     /* refresh asked for while in flight */
	bool orphaned;  /* freed while in flight: the callback frees */
};

/* Index of `value` in `names`, or -1. */
static int find(const char *const *names, size_t n, const char *value)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], value) == 0)
			return (int)i;
	}
	return -1;
}

static void publish(struct metrics *m, const PGresult *res)
{
	double states[N_STATES] = {0}, pending[N_CHANNELS] = {0};
	char labels[64];
	for (int row = 0; row < PQntuples(res); row++) {
		const char *family = PQgetvalue(res, row, 0);
		const char *value = PQgetvalue(res, row, 1);
		double n = strtod(PQgetvalue(res, row, 2), NULL);
		/* Unknown values (a later migration's) are left out rather than exposed as free
		 * label text. */
		int i = strcmp(family, "alert") == 0 ? find(alert_states, N_STATES, value) : -1;
		int j = strcmp(family, "delivery") == 0 ? find(channels, N_CHANNELS, value) : -1;
		if (i >= 0)
			states[i] = n;
		if (j >= 0)
			pending[j] = n;
	}
	for (size_t i = 0; i < N_STATES; i++) {
		snprintf(labels, sizeof(labels), "state=\"%s\"", alert_states[i]);
		metrics_gauge_set(m, metric_alerts, labels, states[i]);
	}
	for (size_t j = 0; j < N_CHANNELS; j++) {
		snprintf(labels, sizeof(labels), "channel=\"%s\"", channels[j]);
		metrics_gauge_set(m, metric_pending, labels, pending[j]);
	}
	metrics_gauge_set(m, metric_refreshed, "", (double)time(NULL));
}

static void on_counts(void *arg, int status, const PGresult *res)
{
	struct db_gauges *g = arg;
	g->in_flight = false;
	if (g->orphaned) {
		free(g);
		return;
	}
	if (status == 0) {
		publish(g->d->metrics, res);
	} else if (status == -EPROTO) {
		log_warn("metrics", "could not count alerts and deliveries: %s",
		         PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	}
	if (g->again && status != -ECANCELED) {
		g->again = false;
		db_gauges_refresh(g);
	}
}

void db_gauges_refresh(struct db_gauges *g)
{
	if (g == NULL || g->d->stopping)
		return;
	if (g->in_flight) {
		g->again = true;
		return;
	}
	int r = db_pool_query(g->d->db, sql_counts, 0, NULL, on_counts, g);
	if (r == 0)
		g->in_flight = true;
	else /* database down or busy: that has metrics of its own; the timer tries again */
		log_debug("metrics", "database gauges not refreshed: %s", strerror(-r));
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	db_gauges_refresh(arg);
}

struct db_gauges *db_gauges_start(struct daemon *d)
{
	struct metrics *m = d->metrics;
	struct db_gauges *g = calloc(1, sizeof(*g));
	if (g == NULL)
		goto nomem;
	g->d = d;
	g->timer = event_new(d->base, -1, EV_PERSIST, on_timer, g);
	struct timeval period = {REFRESH_S, 0};
	if (g->timer == NULL || evtimer_add(g->timer, &period) < 0)
		goto nomem;
	if (metrics_declare(m, metric_alerts, METRICS_GAUGE,
	                    "Alerts in the database by state, counted every 30 s and after each "
	                    "analysis run; database-wide, so every replica reports the same "
	                    "numbers") < 0 ||
	    metrics_declare(m, metric_pending, METRICS_GAUGE,
	                    "Deliveries in the outbox that are due and not yet delivered, by "
	                    "channel; database-wide like wijkradar_alerts") < 0 ||
	    metrics_declare(m, metric_refreshed, METRICS_GAUGE,
	                    "When wijkradar_alerts and wijkradar_deliveries_pending were last "
	                    "counted, seconds since the Unix epoch") < 0)
		goto nomem;
	db_gauges_refresh(g);
	return g;
nomem:
	db_gauges_free(g);
	errno = ENOMEM;
	return NULL;
}

void db_gauges_free(struct db_gauges *g)
{
	if (g == NULL)
		return;
	if (g->timer != NULL)
		event_free(g->timer);
	g->timer = NULL;
	if (g->in_flight)
		g->orphaned = true;
	else
		free(g);
}
