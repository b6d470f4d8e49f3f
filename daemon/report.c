/* One report from request to text (see report.h). */
#include "report.h"

#include "benchmark.h"
#include "report_csv.h"
#include "report_html.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int report_format_parse(const char *text, enum report_format *out)
{
	static const char *const names[] = {"json", "csv", "html"};
	for (int i = 0; i < 3; i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = (enum report_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *report_content_type(enum report_format f)
{
	return f == REPORT_CSV    ? "text/csv; charset=utf-8"
	       : f == REPORT_HTML ? "text/html; charset=utf-8"
	                          : "application/json";
}

void report_seed_label(const struct report_request *rq, char *buf, size_t size)
{
	snprintf(buf, size, "publication/%s", rq->period.label);
}

int report_render(const struct report_data *d, const struct report_request *rq, char **out,
                  struct err *e)
{
	json_t *bench = NULL, *effects = NULL;
	*out = NULL;
	if (rq->format == REPORT_HTML || rq->kind == REPORT_BENCHMARK)
		bench = benchmark_build(d, rq->organisation, rq->seed);
	if (rq->format == REPORT_HTML || rq->kind == REPORT_EFFECTS)
		effects = effects_build(d, rq->organisation, rq->seed);
	const json_t *one = rq->kind == REPORT_BENCHMARK ? bench : effects;
	if (one != NULL) {
		*out = rq->format == REPORT_HTML ? report_html(bench, effects)
		       : rq->format == REPORT_CSV
		           ? report_csv(one)
		           : json_dumps(one, JSON_INDENT(1) | JSON_PRESERVE_ORDER |
		                                 JSON_REAL_PRECISION(12));
	}
	json_decref(bench);
	json_decref(effects);
	if (*out == NULL) {
		err_set(e, 500, "internal", "out of memory making the report");
		return -ENOMEM;
	}
	return 0;
}

int report_make(PGconn *conn, const struct report_request *rq, char **out, struct err *e)
{
	struct report_data d;
	*out = NULL;
	int r = report_data_load(conn, &rq->period, rq->instrument, &d, e);
	if (r == 0)
		r = report_render(&d, rq, out, e);
	report_data_free(&d);
	return r;
}
