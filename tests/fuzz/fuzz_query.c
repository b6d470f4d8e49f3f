/* Fuzz target for the API's query and path parameters. The first byte of the input selects a
 * parser, the rest (up to a NUL) is the value: params_int with each range the handlers use,
 * params_id, params_cursor_parse, the alert and delivery states, params_theme, area_code_kind,
 * report_period_parse, report_format_parse and isoweek_parse, each with the invariants of what
 * it accepts (abort() when broken). The whole value also goes through libevent as the daemon
 * receives it: evhttp_uri_parse (strict and as a request line) and evhttp_parse_query_str,
 * every decoded parameter to the parser of its name and the last path segment to params_id.
 * Built against libFuzzer with -Dfuzz_engine=libfuzzer; otherwise replay.c replays
 * tests/fuzz/corpus/query. */
#include "area_csv.h"
#include "isoweek.h"
#include "params.h"
#include "report.h"
#include "report_data.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const alert_states[] = {"new", "acknowledged", "initiative_started", "closed",
                                           "open"};
static const char *const delivery_states[] = {"pending", "delivered", "dead", "cancelled"};

/* The ranges of the api_int_param calls (limit, offset, subscription, alert). */
static const struct {
	long lo, hi;
} ranges[] = {{1, 1000}, {1, 500}, {0, 10000000}, {0, 999999999999999999L}};

static void check_int(const char *v, long lo, long hi)
{
	long n = lo - 1, again = lo - 1;
	char text[32];
	if (params_int(v, lo, hi, &n) != 0)
		return;
	snprintf(text, sizeof(text), "%ld", n);
	if (n < lo || n > hi || params_int(text, lo, hi, &again) != 0 || again != n)
		abort();
}

static void check_id(const char *v)
{
	if (!params_id(v))
		return;
	char text[32];
	snprintf(text, sizeof(text), "%lld", strtoll(v, NULL, 10));
	if (strcmp(text, v) != 0 || text[0] == '-' || strcmp(v, "0") == 0)
		abort(); /* an id is a positive integer written as bigint::text would be */
}

static void check_cursor(const char *v)
{
	struct params_cursor c;
	if (params_cursor_parse(v, &c) != 0)
		return;
	char text[64];
	snprintf(text, sizeof(text), "%s.%s", c.xid, c.event);
	if (c.xid[0] == '\0' || c.event[0] == '\0' ||
	    strspn(c.xid, "0123456789") != strlen(c.xid) ||
	    strspn(c.event, "0123456789") != strlen(c.event) ||
	    (strcmp(v, "0") != 0 && strcmp(text, v) != 0))
		abort();
}

static void check_theme(const char *v)
{
	if (params_theme(v) &&
	    (strlen(v) > 32 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(v)))
		abort();
}

static void check_area(const char *v)
{
	const char *kind = area_code_kind(v);
	if (kind == NULL)
		return;
	size_t n = strlen(v);
	if (strncmp(v, kind, 2) != 0 || (n != 6 && n != 8 && n != 10))
		abort();
}

static void check_period(const char *v)
{
	struct report_period p, again;
	if (report_period_parse(v, &p) != 0)
		return;
	/* The label is the text asked for; the period is [start, end) of one year or quarter. */
	if (strcmp(p.label, v) != 0 || p.year < 2000 || p.year > 9998 || p.quarter < 0 ||
	    p.quarter > 4 || strcmp(p.start, p.end) >= 0 || strlen(p.start) != 10 ||
	    strlen(p.end) != 10 || report_period_parse(p.label, &again) != 0 ||
	    memcmp(&p, &again, sizeof(p)) != 0)
		abort();
}

static void check_format(const char *v)
{
	enum report_format f;
	if (report_format_parse(v, &f) == 0 && f != REPORT_JSON && f != REPORT_CSV &&
	    f != REPORT_HTML)
		abort();
}

static void check_week(const char *v)
{
	struct isoweek w;
	char text[16];
	if (isoweek_parse(v, &w) != 0)
		return;
	if (w.week < 1 || w.week > isoweek_weeks_in_year(w.year) ||
	    isoweek_format(w, text, sizeof(text)) != 0 || strcmp(text, v) != 0)
		abort();
}

/* Runs the parser `sel` on `v`. */
static void check(unsigned sel, const char *v)
{
	switch (sel) {
	case 0:
	case 1:
	case 2:
	case 3:
		check_int(v, ranges[sel].lo, ranges[sel].hi);
		break;
	case 4:
		check_id(v);
		break;
	case 5:
		check_cursor(v);
		break;
	case 6:
		if (params_one_of(v, alert_states, N(alert_states)) &&
		    params_one_of(v, delivery_states, N(delivery_states)))
			abort(); /* the two sets do not overlap */
		break;
	case 7:
		check_theme(v);
		break;
	case 8:
		check_area(v);
		break;
	case 9:
		check_period(v);
		break;
	case 10:
		check_format(v);
		break;
	default:
		check_week(v);
		break;
	}
}

#define N_SELECTORS 12

/* The parameter names of the API, mapped to their parser. */
static void check_named(const char *name, const char *v)
{
	static const struct {
		const char *name;
		unsigned sel;
	} names[] = {{"limit", 0},  {"offset", 2},  {"subscription", 3}, {"alert", 3},
	             {"since", 5},  {"state", 6},   {"theme", 7},        {"area", 8},
	             {"period", 9}, {"format", 10}, {"week", 11}};
	for (size_t i = 0; i < N(names); i++) {
		if (strcmp(name, names[i].name) == 0) {
			check(names[i].sel, v);
			return;
		}
	}
	/* Unknown names: every parser, as a client may send anything. */
	for (unsigned sel = 0; sel < N_SELECTORS; sel++)
		check(sel, v);
}

static void check_query(const char *q)
{
	struct evkeyvalq kv;
	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(q, &kv) == 0) {
		struct evkeyval *p;
		TAILQ_FOREACH(p, &kv, next)
		{
			if (p->key == NULL || p->value == NULL)
				abort();
			check_named(p->key, p->value);
		}
	}
	evhttp_clear_headers(&kv);
}

static void check_uri(const char *v, unsigned flags)
{
	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(v, flags);
	if (uri == NULL)
		return;
	const char *path = evhttp_uri_get_path(uri), *q = evhttp_uri_get_query(uri);
	if (path != NULL) {
		const char *seg = strrchr(path, '/');
		check_id(seg != NULL ? seg + 1 : path);
	}
	if (q != NULL)
		check_query(q);
	char buf[1024];
	(void)evhttp_uri_join(uri, buf, sizeof(buf));
	evhttp_uri_free(uri);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 4096)
		return 0;
	char *v = malloc(size);
	if (v == NULL)
		return 0;
	memcpy(v, data + 1, size - 1);
	v[size - 1] = '\0';
	check(data[0] % N_SELECTORS, v);
	check_query(v);
	check_uri(v, 0);
	check_uri(v, EVHTTP_URI_NONCONFORMANT);
	free(v);
	return 0;
}
