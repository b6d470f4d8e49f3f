/* Scheduled analysis and daily maintenance on a worker thread (see scheduler.h). The thread
 * gets a copy of everything it needs (connection string, options), opens its own blocking
 * connection, runs daemon/analysis.c or daemon/maintenance.c and signals the loop with
 * event_active (libevent is set up for threads in serve.c); the loop joins it and reports.
 * Only the loop touches the scheduler's state. */
#include "scheduler.h"

#include "analysis.h"
#include "daemon.h"
#include "db_gauges.h"
#include "log.h"
#include "maintenance.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

struct job {
	char *conninfo;
	bool maintenance; /* the daily maintenance, not an analysis */
	struct maintenance_options maint;
	struct maintenance_summary maint_sum;
	char trigger[16];
	char requested_by[64];
	struct analysis_options options;
	struct analysis_summary summary;
	struct err e;
	int rc;
};

struct scheduler {
	struct daemon *d;
	pthread_mutex_t cancel_lock; /* guards cancel, shared with the worker */
	PGcancel *cancel;            /* of the worker's connection while it runs */
	struct event *tick;
	struct event *done;
	pthread_t thread;
	bool busy;
	struct job job;
	long done_week;          /* week index handled (succeeded or skipped) by the schedule */
	time_t retry_at;         /* after a failed scheduled run, not before this */
	char maint_done_day[11]; /* UTC day whose maintenance is done (here or elsewhere) */
	time_t maint_retry_at;   /* after a failed or busy maintenance, not before this */
};

static const char metric_maint_runs[] = "wijkradar_maintenance_runs_total";
static const char metric_removed[] = "wijkradar_retention_removed_total";

static void *worker(void *arg)
{
	struct scheduler *s = arg;
	struct job *j = &s->job;
	/* Bounded waits: a run must not hang on a lock or a dead server, and shutdown cancels
	 * the statement in progress (scheduler_free). */
	PGconn *conn = db_connect_blocking(
	    j->conninfo, j->maintenance ? "wijkradar-maintenance" : "wijkradar-analysis",
	    "-c lock_timeout=60s -c statement_timeout=900s"
	    " -c client_connection_check_interval=10s",
	    &j->e);
	if (conn == NULL) {
		j->rc = -EIO;
	} else {
		pthread_mutex_lock(&s->cancel_lock);
		s->cancel = PQgetCancel(conn);
		pthread_mutex_unlock(&s->cancel_lock);
		if (j->maintenance)
			j->rc = maintenance_run(conn, &j->maint, &j->maint_sum, &j->e);
		else
			j->rc = analysis_run(conn, &j->options, &j->summary, &j->e);
		pthread_mutex_lock(&s->cancel_lock);
		PQfreeCancel(s->cancel);
		s->cancel = NULL;
		pthread_mutex_unlock(&s->cancel_lock);
	}
	PQfinish(conn);
	event_active(s->done, EV_READ, 0);
	return NULL;
}

static void maintenance_done(struct scheduler *s, struct job *j)
{
	struct metrics *m = s->d->metrics;
	const struct maintenance_summary *r = &j->maint_sum;
	if (j->rc < 0) {
		log_error("maintenance", "%s", j->e.msg);
		metrics_counter_add(m, metric_maint_runs, "result=\"failed\"", 1);
		s->maint_retry_at = time(NULL) + 600;
	} else if (r->busy) {
		log_info("maintenance", "another process is running the maintenance; skipped");
		metrics_counter_add(m, metric_maint_runs, "result=\"busy\"", 1);
		s->maint_retry_at = time(NULL) + 60;
	} else {
		snprintf(s->maint_done_day, sizeof(s->maint_done_day), "%s", j->maint.today);
		if (r->done) {
			metrics_counter_add(m, metric_maint_runs, "result=\"skipped\"", 1);
			return;
		}
		metrics_counter_add(m, metric_maint_runs, "result=\"succeeded\"", 1);
		metrics_counter_add(m, metric_removed, "what=\"signals\"",
		                    (double)r->signals_removed);
		metrics_counter_add(m, metric_removed, "what=\"person_weeks\"",
		                    (double)r->persons_removed);
		metrics_counter_add(m, metric_removed, "what=\"idempotency_keys\"",
		                    (double)r->keys_removed);
		char line[512];
		maintenance_describe(r, line, sizeof(line));
		log_info("maintenance", "%s", line);
	}
}

static void analysis_done(struct scheduler *s, struct job *j)
{
	char week[16];
	isoweek_format(j->options.week, week, sizeof(week));
	struct metrics *m = s->d->metrics;
	if (j->rc == 0 && j->summary.skipped) {
		log_info("analysis", "week %s was analysed already; skipped", week);
		metrics_counter_add(m, "wijkradar_analysis_runs_total", "result=\"skipped\"", 1);
	} else if (j->rc == 0) {
		log_info("analysis",
		         "run %lld of week %s (%s): %d series, %d evaluated, %d alerts raised, %d "
		         "updated, %.0f ms",
		         j->summary.run_id, week, j->trigger, j->summary.series_total,
		         j->summary.series_analysed, j->summary.alerts_raised,
		         j->summary.alerts_updated, j->summary.duration_ms);
		metrics_counter_add(m, "wijkradar_analysis_runs_total", "result=\"succeeded\"", 1);
		metrics_observe(m, "wijkradar_analysis_duration_seconds", "",
		                j->summary.duration_ms / 1e3);
		metrics_gauge_set(m, "wijkradar_analysis_series", "", j->summary.series_total);
		metrics_counter_add(m, "wijkradar_alerts_raised_total", "",
		                    j->summary.alerts_raised);
		metrics_counter_add(m, "wijkradar_alerts_updated_total", "",
		                    j->summary.alerts_updated);
		db_gauges_refresh(s->d->gauges);
	} else if (j->rc == -EBUSY) {
		log_info("analysis", "week %s: another process is analysing; skipped", week);
		metrics_counter_add(m, "wijkradar_analysis_runs_total", "result=\"busy\"", 1);
	} else {
		log_error("analysis", "run of week %s failed: %s%s%s", week, j->e.msg,
		          j->e.detail[0] != '\0' ? ": " : "", j->e.detail);
		metrics_counter_add(m, "wijkradar_analysis_runs_total", "result=\"failed\"", 1);
	}
	if (strcmp(j->trigger, "schedule") == 0) {
		/* Another replica analysing: look again soon, in case it dies; after a failure
		 * wait longer. */
		if (j->rc == 0)
			s->done_week = isoweek_to_index(j->options.week);
		else
			s->retry_at = time(NULL) + (j->rc == -EBUSY ? 60 : 600);
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct scheduler *s = arg;
	struct job *j = &s->job;
	pthread_join(s->thread, NULL);
	s->busy = false;
	if (j->maintenance)
		maintenance_done(s, j);
	else
		analysis_done(s, j);
	free(j->conninfo);
	j->conninfo = NULL;
}

/* Starts the worker on s->job, filled in by the caller. Returns 0, -ENOMEM or -EAGAIN. */
static int start_job(struct scheduler *s)
{
	struct job *j = &s->job;
	j->conninfo = strdup(s->d->config->db_conninfo);
	if (j->conninfo == NULL)
		return -ENOMEM;
	if (pthread_create(&s->thread, NULL, worker, s) != 0) {
		free(j->conninfo);
		j->conninfo = NULL;
		return -EAGAIN;
	}
	s->busy = true;
	return 0;
}

int scheduler_run_analysis(struct scheduler *s, struct isoweek week, const char *trigger,
                           const char *requested_by)
{
	if (s->busy)
		return -EBUSY;
	struct job *j = &s->job;
	memset(j, 0, sizeof(*j));
	snprintf(j->trigger, sizeof(j->trigger), "%s", trigger);
	snprintf(j->requested_by, sizeof(j->requested_by), "%s",
	         requested_by != NULL ? requested_by : trigger);
	analysis_options_from_config(s->d->config, &j->options);
	j->options.week = week;
	j->options.trigger = j->trigger;
	j->options.requested_by = j->requested_by;
	j->options.skip_if_done = strcmp(trigger, "schedule") == 0;
	return start_job(s);
}

/* The analysis is due when the configured weekday and hour of the current ISO week have
 * passed and the previous week is not done. Returns true when a run started. */
static bool start_analysis_if_due(struct scheduler *s, time_t now)
{
	const struct config *c = s->d->config;
	if (!c->detect_schedule || now < s->retry_at)
		return false;
	struct tm tm;
	gmtime_r(&now, &tm);
	int weekday = tm.tm_wday == 0 ? 7 : tm.tm_wday;
	if (weekday < c->detect_weekday ||
	    (weekday == c->detect_weekday && tm.tm_hour < c->detect_hour))
		return false;
	struct isoweek week = analysis_previous_week(now);
	if (isoweek_to_index(week) == s->done_week)
		return false;
	int r = scheduler_run_analysis(s, week, "schedule", NULL);
	if (r < 0 && r != -EBUSY)
		log_error("analysis", "could not start the scheduled analysis: %s", strerror(-r));
	return r == 0;
}

/* The maintenance is due once a day from retention.hour (UTC). */
static void start_maintenance_if_due(struct scheduler *s, time_t now)
{
	const struct config *c = s->d->config;
	struct job *j = &s->job;
	struct tm tm;
	gmtime_r(&now, &tm);
	if (tm.tm_hour < c->retention_hour || now < s->maint_retry_at)
		return;
	struct maintenance_options o;
	maintenance_options_from_config(c, now, &o);
	if (strcmp(o.today, s->maint_done_day) == 0)
		return;
	memset(j, 0, sizeof(*j));
	j->maintenance = true;
	j->maint = o;
	int r = start_job(s);
	if (r < 0) {
		log_error("maintenance", "could not start the maintenance: %s", strerror(-r));
		s->maint_retry_at = now + 60;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct scheduler *s = arg;
	struct timeval minute = {60, 0};
	evtimer_add(s->tick, &minute);
	time_t now = time(NULL);
	if (s->busy || s->d->stopping)
		return;
	if (!start_analysis_if_due(s, now))
		start_maintenance_if_due(s, now);
}

/* A run takes seconds to minutes (the statement timeout is 900 s): the latency buckets of
 * metrics_declare would put most runs in +Inf. */
static const double run_buckets[] = {1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900};

struct scheduler *scheduler_start(struct daemon *d)
{
	struct metrics *m = d->metrics;
	struct scheduler *s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto nomem;
	s->d = d;
	s->done_week = -1;
	pthread_mutex_init(&s->cancel_lock, NULL);
	s->tick = evtimer_new(d->base, on_tick, s);
	s->done = event_new(d->base, -1, 0, on_done, s);
	struct timeval soon = {1, 0};
	if (s->tick == NULL || s->done == NULL || evtimer_add(s->tick, &soon) < 0)
		goto nomem;
	if (metrics_declare(m, metric_maint_runs, METRICS_COUNTER,
	                    "Daily maintenance runs (partitions and retention), by result "
	                    "(succeeded, skipped: another replica did it, busy, failed)") < 0 ||
	    metrics_counter_add(m, metric_maint_runs, "result=\"succeeded\"", 0) < 0 ||
	    metrics_counter_add(m, metric_maint_runs, "result=\"failed\"", 0) < 0 ||
	    metrics_declare(m, metric_removed, METRICS_COUNTER,
	                    "Rows removed by retention, by what they were (signals, person_weeks, "
	                    "idempotency_keys)") < 0 ||
	    metrics_counter_add(m, metric_removed, "what=\"signals\"", 0) < 0 ||
	    metrics_declare(m, "wijkradar_analysis_runs_total", METRICS_COUNTER,
	                    "Analysis runs, by result (succeeded, skipped, busy, failed)") < 0 ||
	    metrics_declare_histogram(m, "wijkradar_analysis_duration_seconds",
	                              "Duration of succeeded analysis runs", run_buckets,
	                              sizeof(run_buckets) / sizeof(run_buckets[0])) < 0 ||
	    metrics_declare(m, "wijkradar_analysis_series", METRICS_GAUGE,
	                    "Series in the last succeeded run") < 0 ||
	    metrics_declare(m, "wijkradar_alerts_raised_total", METRICS_COUNTER,
	                    "Alerts raised by analysis runs") < 0 ||
	    metrics_declare(m, "wijkradar_alerts_updated_total", METRICS_COUNTER,
	                    "Open alerts updated by analysis runs") < 0)
		goto nomem;
	return s;
nomem:
	scheduler_free(s);
	errno = ENOMEM;
	return NULL;
}

void scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	if (s->busy) {
		/* Cancel the statement in progress; the run then records itself as failed. */
		char msg[256];
		log_info("analysis", "cancelling the running analysis or maintenance");
		pthread_mutex_lock(&s->cancel_lock);
		if (s->cancel != NULL && !PQcancel(s->cancel, msg, sizeof(msg)))
			log_warn("analysis", "could not cancel the analysis: %s", msg);
		pthread_mutex_unlock(&s->cancel_lock);
		pthread_join(s->thread, NULL);
		free(s->job.conninfo);
	}
	pthread_mutex_destroy(&s->cancel_lock);
	if (s->tick != NULL)
		event_free(s->tick);
	if (s->done != NULL)
		event_free(s->done);
	free(s);
}
