/* One report from request to text: load the period's figures (report_data), publish them with
 * disclosure control (benchmark), and write them as JSON, CSV or HTML. Blocking; shared by
 * `wijkradar report`, the API's report worker and bench/report. */
#ifndef WR_REPORT_H
#define WR_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "err.h"
#include "report_data.h"

enum report_kind { REPORT_BENCHMARK, REPORT_EFFECTS };
enum report_format { REPORT_JSON, REPORT_CSV, REPORT_HTML };

struct report_request {
	enum report_kind kind; /* HTML always holds both */
	enum report_format format;
	struct report_period period;
	char organisation[65];
	char instrument[33];
	uint64_t seed; /* the publication's secret rounding seed (pseudonym_seed) */
};

/* Parses "json", "csv" or "html". Returns 0 or -EINVAL. */
int report_format_parse(const char *text, enum report_format *out);

/* The label a report's rounding seed is derived from: "publication/PERIOD". One seed for the
 * benchmark, the effects, every instrument and every organisation of a period, so a count is
 * rounded the same way wherever it appears (counts that depend on the instrument name it in
 * their keys). */
void report_seed_label(const struct report_request *rq, char *buf, size_t size);

/* Makes the report. Returns 0 with *out a new NUL-terminated text (caller frees), or a
 * negative errno with `e` filled (-EIO database, -EINVAL bad request, -ENOMEM). */
int report_make(PGconn *conn, const struct report_request *rq, char **out, struct err *e)
    __attribute__((warn_unused_result));

/* Makes the report from figures loaded already (report_data_load with the request's period and
 * instrument): the CLI and the benchmark load once and render per organisation. Returns as
 * report_make. */
int report_render(const struct report_data *d, const struct report_request *rq, char **out,
                  struct err *e) __attribute__((warn_unused_result));

/* The media type of a format. */
const char *report_content_type(enum report_format f);

#endif
