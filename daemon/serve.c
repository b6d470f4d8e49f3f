/* The daemon's life cycle (see serve.h): start modules in order, run the loop, stop them in
 * reverse. Blocking work (migrations) happens only before the loop starts. */
#include "serve.h"

#include "api.h"
#include "api_alerts.h"
#include "api_analysis.h"
#include "api_deliveries.h"
#include "api_health.h"
#include "api_ingest.h"
#include "api_initiatives.h"
#include "api_reports.h"
#include "api_subscriptions.h"
#include "cli.h"
#include "daemon.h"
#include "db_gauges.h"
#include "delivery.h"
#include "log.h"
#include "migrate.h"
#include "ratelimit.h"
#include "report_worker.h"
#include "scheduler.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>

static const char metric_reloads[] = "wijkradar_config_reloads_total";

static struct db_pool_params pool_params(const struct config *c)
{
	struct db_pool_params p = {
	    .conn = {.conninfo = c->db_conninfo,
	             .connect_timeout_s = c->db_connect_timeout_s,
	             .reconnect_min_ms = c->db_reconnect_min_ms,
	             .reconnect_max_ms = c->db_reconnect_max_ms},
	    .size = c->db_pool_size,
	    .queue_max = c->db_queue_max,
	};
	return p;
}

static void apply_log_level(const struct config *c)
{
	enum log_level level;
	if (log_level_parse(c->log_level, &level) == 0)
		log_set_level(level);
	log_set_json(strcmp(c->log_format, "json") == 0);
}

static void on_restart_key(const char *key, void *arg)
{
	log_warn("config", "changed key \"%s\" takes effect only after a restart", key);
}

static void reload(struct daemon *d)
{
	struct config *fresh = NULL;
	struct err e;
	err_clear(&e);
	int r = config_load(d->config_path, &fresh, &e);
	if (r == 0)
		r = config_merge_reload(d->config, fresh, on_restart_key, NULL);
	if (r < 0) {
		config_free(fresh);
		log_error("config", "could not reload configuration: %s; keeping the old one",
		          r == -ENOMEM ? "out of memory" : e.msg);
		metrics_counter_add(d->metrics, metric_reloads, "result=\"failure\"", 1);
		return;
	}
	apply_log_level(fresh);
	err_clear(&e);
	if (http_apply_config(d->http, fresh, &e) < 0)
		log_error("http", "%s; keeping the TLS certificate loaded before", e.msg);
	struct db_pool_params pp = pool_params(fresh);
	db_pool_set_params(d->db, &pp);
	config_free(d->config);
	d->config = fresh;
	metrics_counter_add(d->metrics, metric_reloads, "result=\"success\"", 1);
	log_info("config", "configuration reloaded");
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int n = http_n_inflight(d->http) + delivery_n_inflight(d->delivery);
	/* Replies still being written: not counted as abandoned requests when time is up. */
	int unsent = http_n_unsent(d->http);
	bool late =
	    now.tv_sec > d->drain_deadline.tv_sec ||
	    (now.tv_sec == d->drain_deadline.tv_sec && now.tv_nsec >= d->drain_deadline.tv_nsec);
	if ((n == 0 && unsent == 0) || late) {
		if (n > 0)
			log_warn(
			    "daemon",
			    "shutdown grace period over; abandoning %d requests and deliveries", n);
		event_base_loopbreak(d->base);
		return;
	}
	struct timeval tv = {0, 20000};
	evtimer_add(d->drain_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		log_info("config", "SIGHUP received, reloading \"%s\"",
		         d->config_path != NULL ? d->config_path : "(defaults)");
		reload(d);
		return;
	}
	if (d->stopping) {
		log_warn("daemon", "second stop signal: exiting without waiting");
		event_base_loopbreak(d->base);
		return;
	}
	d->stopping = true;
	log_info("daemon", "%s received: stopping, %d requests and %d deliveries in flight",
	         sig == SIGTERM ? "SIGTERM" : "SIGINT", http_n_inflight(d->http),
	         delivery_n_inflight(d->delivery));
	http_stop_listening(d->http);
	delivery_stop(d->delivery);
	clock_gettime(CLOCK_MONOTONIC, &d->drain_deadline);
	d->drain_deadline.tv_sec += d->config->shutdown_grace_s;
	on_drain_tick(-1, 0, d);
}

/* Writes the bound port to `path` through a rename, so readers never see half a file. */
static int write_port_file(const char *path, int port)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		int r = -errno;
		unlink(tmp);
		return r;
	}
	return 0;
}

static int migrate_at_start(const struct config *c)
{
	struct err e;
	int applied = 0, version = 0;
	PGconn *conn = cli_connect(c);
	if (conn == NULL)
		return -EIO;
	err_clear(&e);
	int r = migrate_apply(conn, &applied, &version, &e);
	PQfinish(conn);
	if (r < 0) {
		cli_print_err(&e);
		return r;
	}
	log_info("migrate", "schema version %d (applied %d migrations)", version, applied);
	return 0;
}

static int start(struct daemon *d)
{
	struct err e;
	err_clear(&e);
	d->base = event_base_new();
	d->metrics = metrics_new();
	if (d->base == NULL || d->metrics == NULL)
		return -ENOMEM;
	if (metrics_declare(d->metrics, metric_reloads, METRICS_COUNTER,
	                    "Configuration reloads on SIGHUP, by result") < 0 ||
	    metrics_counter_add(d->metrics, metric_reloads, "result=\"success\"", 0) < 0 ||
	    metrics_counter_add(d->metrics, metric_reloads, "result=\"failure\"", 0) < 0)
		return -ENOMEM;
	struct db_pool_params pp = pool_params(d->config);
	d->db = db_pool_new(d->base, &pp);
	d->ratelimit = ratelimit_new();
	if (d->db == NULL || d->ratelimit == NULL || api_declare_metrics(d->metrics) < 0)
		return -ENOMEM;
	d->http = http_new(d->base, d->config, d->metrics, &e);
	if (d->http == NULL) {
		cli_print_err(&e);
		return -EIO;
	}
	if (api_health_start(d) < 0 || api_alerts_start(d) < 0 || api_initiatives_start(d) < 0 ||
	    api_subscriptions_start(d) < 0 || api_deliveries_start(d) < 0)
		return -ENOMEM;
	d->ingest = api_ingest_start(d);
	d->scheduler = scheduler_start(d);
	if (d->ingest == NULL || d->scheduler == NULL || api_analysis_start(d) < 0)
		return -ENOMEM;
	d->delivery = delivery_start(d);
	d->reports = report_worker_new(d);
	if (d->delivery == NULL || d->reports == NULL || api_reports_start(d) < 0)
		return -ENOMEM;
	d->gauges = db_gauges_start(d);
	if (d->gauges == NULL)
		return -ENOMEM;
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->drain_timer = evtimer_new(d->base, on_drain_tick, d);
	if (d->sig_term == NULL || d->sig_int == NULL || d->sig_hup == NULL ||
	    d->drain_timer == NULL || evsignal_add(d->sig_term, NULL) < 0 ||
	    evsignal_add(d->sig_int, NULL) < 0 || evsignal_add(d->sig_hup, NULL) < 0)
		return -ENOMEM;
	if (d->port_file != NULL) {
		int r = write_port_file(d->port_file, http_port(d->http));
		if (r < 0) {
			fprintf(stderr, "error: could not write port file \"%s\": %s\n",
			        d->port_file, strerror(-r));
			return r;
		}
	}
	char host[256];
	int port;
	if (config_parse_listen(d->config->http_listen, host, sizeof(host), &port) == 0)
		log_info("http",
		         strchr(host, ':') != NULL ? "listening on [%s]:%d (%s)"
		                                   : "listening on %s:%d (%s)",
		         host, http_port(d->http), http_is_tls(d->http) ? "HTTPS" : "plain HTTP");
	return 0;
}

static void stop(struct daemon *d)
{
	/* Reverse start order. The pool goes before the server: cancelled queries still reply
	 * to their requests, which needs the server alive. */
	if (d->drain_timer != NULL)
		event_free(d->drain_timer);
	if (d->sig_hup != NULL)
		event_free(d->sig_hup);
	if (d->sig_int != NULL)
		event_free(d->sig_int);
	if (d->sig_term != NULL)
		event_free(d->sig_term);
	scheduler_free(d->scheduler);
	db_gauges_free(d->gauges);
	report_worker_free(d->reports);
	/* The pool first: outcomes of deliveries still being stored are cancelled while the
	 * delivery worker is there to hear it. */
	db_pool_free(d->db);
	delivery_free(d->delivery);
	api_ingest_free(d->ingest);
	http_free(d->http);
	ratelimit_free(d->ratelimit);
	pseudonym_key_free(d->pseudonym_key);
	metrics_free(d->metrics);
	if (d->base != NULL)
		event_base_free(d->base);
	config_free(d->config);
}

int serve_load_pseudonym_key(const struct config *c, struct pseudonym_key **out, struct err *e)
{
	int r =
	    pseudonym_key_load(c->pseudonym_key_file, getenv("WIJKRADAR_PSEUDONYM_KEY"), out, e);
	if (r == -ENOMEM)
		err_set(e, 0, "internal", "out of memory loading the pseudonym key");
	return r;
}

int serve_run(struct config *config, const char *config_path, const char *port_file)
{
	struct daemon d = {.config = config,
	                   .config_path = config_path,
	                   .port_file = port_file,
	                   .started_at = time(NULL)};
	int rc = 0;
	apply_log_level(config);
	/* A client that hangs up must not kill the daemon with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	struct err e;
	err_clear(&e);
	/* The analysis worker thread signals the loop: libevent must know about threads. */
	/* libcurl (webhook and e-mail delivery) is set up once, before any thread starts. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fputs("error: could not initialise libcurl\n", stderr);
		return 1;
	}
	if (evthread_use_pthreads() < 0) {
		fputs("error: could not set up libevent for threads\n", stderr);
		return 1;
	}
	if (serve_load_pseudonym_key(config, &d.pseudonym_key, &e) < 0) {
		cli_print_err(&e);
		rc = 1;
		goto out;
	}
	if (config->db_migrate_on_start && migrate_at_start(config) < 0) {
		rc = 1;
		goto out;
	}
	int r = start(&d);
	if (r < 0) {
		if (r == -ENOMEM)
			fputs("error: out of memory starting the daemon\n", stderr);
		rc = 1;
		goto out;
	}
	log_info("daemon", "wijkradar %s started (schema %d, pid %ld)", WR_VERSION,
	         migrate_latest_version(), (long)getpid());
	if (event_base_dispatch(d.base) < 0) {
		log_error("daemon", "event loop failed");
		rc = 1;
	}
	log_info("daemon", "stopped");
out:
	stop(&d);
	curl_global_cleanup();
	return rc;
}
