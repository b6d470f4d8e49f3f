/* Report endpoints (see api_reports.h). The rounding seed is derived from the server's secret
 * key and the publication (period and instrument), so every request shows the same figures. */
#include "api_reports.h"

#include "api.h"
#include "pseudonym.h"
#include "report_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A report being made for a request. */
struct pending {
	struct http_req *hr;
	enum report_format format;
};

static void on_made(void *arg, int status, char *text, const struct err *e)
{
	struct pending *pe = arg;
	if (status == 0) {
		http_reply_text(pe->hr, 200, report_content_type(pe->format), text, strlen(text));
	} else {
		if (e->http_status == 503)
			http_req_add_header(pe->hr, "Retry-After", "5");
		http_reply_err(pe->hr, e);
	}
	free(text);
	free(pe);
}

static void authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p, void *arg)
{
	const enum report_kind *kind = arg;
	struct report_request rq = {.kind = *kind, .format = REPORT_JSON};
	const char *period = http_req_query(hr, "period"), *format = http_req_query(hr, "format");
	const char *instrument = http_req_query(hr, "instrument");
	if (period == NULL || report_period_parse(period, &rq.period) < 0) {
		api_bad_param(hr, "period", "expected a quarter such as 2026-Q3, or a year");
		return;
	}
	if (format != NULL && report_format_parse(format, &rq.format) < 0) {
		api_bad_param(hr, "format", "expected json, csv or html");
		return;
	}
	if (instrument == NULL)
		instrument = d->config->report_instrument;
	if (strlen(instrument) >= sizeof(rq.instrument)) {
		api_bad_param(hr, "instrument", "expected an instrument code such as ZRM");
		return;
	}
	const char *org =
	    api_write_scope(hr, p, http_req_query(hr, "organisation"), "read the reports");
	if (org == NULL)
		return;
	if (strlen(org) >= sizeof(rq.organisation)) {
		api_bad_param(hr, "organisation", "too long");
		return;
	}
	snprintf(rq.organisation, sizeof(rq.organisation), "%s", org);
	snprintf(rq.instrument, sizeof(rq.instrument), "%s", instrument);
	char target[160];
	snprintf(target, sizeof(target), "organisation=%s period=%s instrument=%s format=%s", org,
	         rq.period.label, rq.instrument, format != NULL ? format : "json");
	api_audit(d, hr, p, rq.kind == REPORT_BENCHMARK ? "benchmark" : "effects", target);
	char label[96];
	report_seed_label(&rq, label, sizeof(label));
	rq.seed = pseudonym_seed(d->pseudonym_key, label);
	struct pending *pe = malloc(sizeof(*pe));
	int r = pe == NULL ? -ENOMEM : 0;
	if (pe != NULL) {
		*pe = (struct pending){hr, rq.format};
		r = report_worker_submit(d->reports, &rq, on_made, pe);
		if (r < 0)
			free(pe);
	}
	if (r == -EAGAIN) {
		http_req_add_header(hr, "Retry-After", "5");
		http_reply_error(hr, 503, "overloaded", "too many reports are being made",
		                 "Try again in a few seconds.", NULL);
	} else if (r < 0) {
		http_reply_error(hr, 500, "internal", "could not start the report", NULL, NULL);
	}
}

static const enum report_kind benchmark_kind = REPORT_BENCHMARK, effects_kind = REPORT_EFFECTS;

static void on_benchmark(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_ANALYST | API_ADMIN, authed, (void *)&benchmark_kind);
}

static void on_effects(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_ANALYST | API_ADMIN, authed, (void *)&effects_kind);
}

int api_reports_start(struct daemon *d)
{
	if (http_route(d->http, "/v1/benchmark", EVHTTP_REQ_GET, on_benchmark, d) < 0 ||
	    http_route(d->http, "/v1/effects", EVHTTP_REQ_GET, on_effects, d) < 0)
		return -ENOMEM;
	return 0;
}
