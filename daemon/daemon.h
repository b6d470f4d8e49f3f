/* struct daemon: the handles the modules of a running `wijkradar serve` share. No logic. */
#ifndef WR_DAEMON_H
#define WR_DAEMON_H

#include <stdbool.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "db_pool.h"
#include "http.h"
#include "metrics.h"
#include "pseudonym.h"

struct api_ingest;
struct db_gauges;
struct delivery;
struct report_worker;
struct scheduler;

struct daemon {
	struct event_base *base;
	struct config *config;   /* owned; replaced on a successful reload */
	const char *config_path; /* borrowed from argv; NULL: defaults only */
	const char *port_file;   /* borrowed from argv; NULL: none */
	struct metrics *metrics;
	struct db_pool *db;
	struct http *http;
	struct ratelimit *ratelimit;         /* per-token request budgets (auth.rate_limit_*) */
	struct pseudonym_key *pseudonym_key; /* owned; loaded at start, not reloaded */
	struct api_ingest *ingest;
	struct scheduler *scheduler;
	struct delivery *delivery;
	struct report_worker *reports;
	struct db_gauges *gauges;
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *drain_timer; /* polls in-flight requests while shutting down */
	struct timespec drain_deadline;
	bool stopping;
	time_t started_at;
};

#endif
