/* Analysis run endpoints (see api_analysis.h). */
#include "api_analysis.h"

#include "analysis.h"
#include "api.h"
#include "scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* $1 limit */
static const char sql_runs[] =
    "SELECT json_build_object('runs', coalesce(json_agg(json_build_object('id', id,"
    " 'week', to_char(week, 'IYYY-\"W\"IW'), 'trigger', trigger, 'requested_by',"
    " requested_by, 'started_at', started_at, 'finished_at', finished_at, 'status', status,"
    " 'series_total', series_total, 'series_analysed', series_analysed, 'alerts_raised',"
    " alerts_raised, 'alerts_updated', alerts_updated, 'duration_ms', duration_ms, 'error',"
    " error) ORDER BY id DESC), '[]'))::text"
    " FROM (SELECT * FROM analysis_run ORDER BY id DESC LIMIT $1::int) r";

static void runs_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                        void *arg)
{
	const char *params[] = {"100"};
	api_json_query(d, hr, sql_runs, 1, params, 200, 404, "no runs");
}

static void on_runs(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_ADMIN | API_ANALYST, runs_authed, NULL);
}

static void analyze_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                           void *arg)
{
	struct isoweek week = analysis_previous_week(time(NULL));
	char *body = NULL, label[16], who[48];
	size_t len = 0;
	if (http_req_body(hr, &body, &len) == 0 && len > 0) {
		json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
		json_t *w = json_object_get(o, "week");
		bool ok = json_is_object(o) && json_object_size(o) == (w != NULL ? 1u : 0u) &&
		          (w == NULL ||
		           (json_is_string(w) && isoweek_parse(json_string_value(w), &week) == 0));
		json_decref(o);
		if (!ok) {
			free(body);
			http_reply_error(hr, 400, "bad_request",
			                 "expected {} or {\"week\": \"YYYY-Www\"}", NULL, NULL);
			return;
		}
	}
	free(body);
	isoweek_format(week, label, sizeof(label));
	if (!analysis_week_ended(week, time(NULL))) {
		char msg[64];
		snprintf(msg, sizeof(msg), "week %s has not ended yet", label);
		http_reply_error(hr, 400, "week_not_ended", msg,
		                 "A week is analysed once it is complete.", NULL);
		return;
	}
	snprintf(who, sizeof(who), "token %lld", p->token_id);
	if (d->stopping) {
		http_req_add_header(hr, "Retry-After", "30");
		http_reply_error(hr, 503, "shutting_down", "the daemon is shutting down", NULL,
		                 NULL);
		return;
	}
	int r = scheduler_run_analysis(d->scheduler, week, "api", who);
	if (r == -EBUSY) {
		http_reply_error(
		    hr, 409, "analysis_running", "an analysis is already running on this daemon",
		    "See GET /v1/analysis/runs; start again when it has finished.", NULL);
		return;
	}
	if (r < 0) {
		http_reply_error(hr, 500, "internal", "could not start the analysis", NULL, NULL);
		return;
	}
	http_reply_json(hr, 202, json_pack("{s:s, s:s}", "status", "started", "week", label));
}

static void on_analyze(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_ADMIN, analyze_authed, NULL);
}

int api_analysis_start(struct daemon *d)
{
	if (http_route(d->http, "/v1/admin/analyze", EVHTTP_REQ_POST, on_analyze, d) < 0 ||
	    http_route(d->http, "/v1/analysis/runs", EVHTTP_REQ_GET, on_runs, d) < 0)
		return -ENOMEM;
	return 0;
}
