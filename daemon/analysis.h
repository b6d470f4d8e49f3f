/* One detection run: the one place where the analyzers meet I/O. Loads the weekly
 * distinct-person series from need_week_count, runs the alert rule (analyzers/detect.c) on
 * every series that could alert, and raises or updates alerts (one open alert per
 * organisation, area and theme; a cooldown after closing) in one transaction, recording the
 * run in analysis_run. Blocking libpq on a connection of its own: it runs in the `analyze`
 * command or on the daemon's worker thread, never on the event loop. */
#ifndef WR_ANALYSIS_H
#define WR_ANALYSIS_H

#include <time.h>

#include <libpq-fe.h>

#include "config.h"
#include "detect.h"
#include "err.h"
#include "isoweek.h"
#include "scan.h"

struct analysis_options {
	struct isoweek week;      /* the week to analyse */
	const char *trigger;      /* "schedule", "cli" or "api" (borrowed) */
	const char *requested_by; /* token id or user, for the record; may be NULL (borrowed) */
	bool skip_if_done;        /* do nothing when a succeeded run of this week exists */
	int cooldown_weeks;       /* no new alert for a series within this after closing */
	struct detect_params detect;
	bool scan; /* also run the space-time scan per organisation and theme */
	struct scan_params scan_params;
	double scan_alpha;       /* a cluster alerts when its p-value is at most this */
	int scan_baseline_weeks; /* weeks before the scan window that give the expectation */
};

struct analysis_summary {
	long long run_id;    /* 0 when skipped */
	bool skipped;        /* skip_if_done and the week was done already */
	int series_total;    /* series with data in the history window */
	int series_analysed; /* series whose current week could alert, evaluated */
	int alerts_raised;
	int alerts_updated;
	int scans;         /* (organisation, theme) maps scanned */
	int scan_clusters; /* significant clusters of two or more areas found */
	double duration_ms;
};

/* Fills `o` with defaults: detect_params_default, cooldown 8 weeks, trigger "cli". */
void analysis_options_default(struct analysis_options *o);

/* The last complete ISO week before the moment `now` (UTC). This function can't fail. */
struct isoweek analysis_previous_week(time_t now);

/* True when `week` has ended at the moment `now`: only such weeks can be analysed. */
bool analysis_week_ended(struct isoweek week, time_t now);

/* Fills `o` from the [detect] keys of `c` (borrowed) over analysis_options_default. */
void analysis_options_from_config(const struct config *c, struct analysis_options *o);

/* Runs one analysis on `conn` (borrowed, connected, not in a transaction). Only one runs at a
 * time across all processes on the database (advisory lock): -EBUSY when another holds it.
 * Returns 0 and fills *out, or -EINVAL (the week has not ended), -EIO (database error, the
 * run recorded as failed when possible), -ENOMEM, with `e` filled. */
int analysis_run(PGconn *conn, const struct analysis_options *o, struct analysis_summary *out,
                 struct err *e) __attribute__((warn_unused_result));

#endif
