/* A detection run (see analysis.h).
 *
 * Series: distinct persons per week for (organisation, area code, theme), summed over area
 * years of the same code. A series starts at its organisation's first week with data: weeks
 * before a source began uploading are missing, not zero, so a new source does not look like
 * a sudden rise. The area's population (the area table's figure of the latest year not after
 * the week's year, else the earliest) is the offset; a series without a known population is
 * analysed without the offset. Only series whose current week reaches min_persons can alert
 * (the rule requires it), so only they are loaded in full and evaluated. */
#include "analysis.h"

#include "log.h"
#include "pgarray.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_rng.h>
#include <jansson.h>

/* Advisory lock of the analysis: the ASCII bytes of "wr-analy". */
static const char sql_try_lock[] = "SELECT pg_try_advisory_lock(8606991734345395321)";
/* Under the lock no other run is in progress: rows still 'running' are of a daemon that
 * died during its run. */
static const char sql_abandoned[] =
    "UPDATE analysis_run SET status = 'failed', finished_at = now(),"
    " error = 'abandoned: the daemon running it stopped before it finished'"
    " WHERE status = 'running'";
static const char sql_unlock[] = "SELECT pg_advisory_unlock(8606991734345395321)";
/* $1 week */
static const char sql_done[] =
    "SELECT 1 FROM analysis_run WHERE week = $1 AND status = 'succeeded' LIMIT 1";
/* $1 week, $2 trigger, $3 requested_by */
static const char sql_start[] =
    "INSERT INTO analysis_run (week, trigger, requested_by) VALUES ($1, $2, $3) RETURNING id";
/* $1 id, $2 status, $3 total, $4 analysed, $5 raised, $6 updated, $7 ms, $8 error */
static const char sql_finish[] =
    "UPDATE analysis_run SET finished_at = now(), status = $2, series_total = $3,"
    " series_analysed = $4, alerts_raised = $5, alerts_updated = $6, duration_ms = $7,"
    " error = $8 WHERE id = $1";
/* $1 from, $2 week */
static const char sql_total[] =
    "SELECT count(*) FROM (SELECT DISTINCT organisation, area_code, theme"
    " FROM need_week_count WHERE week BETWEEN $1 AND $2) s";
static const char sql_org_start[] =
    "SELECT organisation, to_char(min(week), 'YYYY-MM-DD') FROM need_week_count"
    " GROUP BY organisation";
/* $1 from, $2 week, $3 min persons. LATERAL: the few candidate series are read by index
 * (organisation, area_code, theme, week), never by scanning the whole history window. */
static const char sql_series[] =
    "WITH cand AS (SELECT organisation, area_code, theme FROM need_week_count"
    " WHERE week = $2 GROUP BY 1, 2, 3 HAVING sum(persons) >= $3)"
    " SELECT c.organisation, c.area_code, c.theme, to_char(h.week, 'YYYY-MM-DD'), h.persons"
    " FROM cand c CROSS JOIN LATERAL (SELECT n.week, sum(n.persons)::int AS persons"
    " FROM need_week_count n WHERE n.organisation = c.organisation"
    " AND n.area_code = c.area_code AND n.theme = c.theme AND n.week BETWEEN $1 AND $2"
    " GROUP BY n.week) h ORDER BY 1, 2, 3, 4";
/* $1 organisation, $2 from, $3 week: its series of the scan window and baseline, by theme. */
static const char sql_scan_data[] =
    "SELECT theme, area_code, to_char(week, 'YYYY-MM-DD'), sum(persons)::int"
    " FROM need_week_count WHERE organisation = $1 AND week BETWEEN $2 AND $3"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
/* Same parameters: the latest classification of each of its areas, with its geometry,
 * ordered by code (looked up by binary search). */
static const char sql_geometry[] =
    "SELECT * FROM (SELECT DISTINCT ON (code) code, year, coalesce(population, 0),"
    " centroid_lat, centroid_lon, array_to_string(neighbours, ';') FROM area WHERE code IN"
    " (SELECT area_code FROM need_week_count WHERE organisation = $1 AND week BETWEEN $2 AND"
    " $3) ORDER BY code, year DESC) g ORDER BY code COLLATE \"C\"";
/* $1 codes */
static const char sql_population[] =
    "SELECT code, year, coalesce(population, -1) FROM area WHERE code = ANY($1::text[])"
    " ORDER BY code, year";
/* $1 organisation, $2 area_code, $3 theme, $4 cooldown weeks, $5 area_year, $6 method,
 * $7 first_week, $8 last_week, $9 observed, $10 expected, $11 upperbound, $12 ratio,
 * $13 pvalue, $14 recurrence, $15 strength, $16 trend, $17 evidence, $18 run id */
static const char sql_alert[] =
    "WITH cooling AS (SELECT 1 FROM alert WHERE organisation = $1 AND area_code = $2"
    " AND theme = $3 AND state = 'closed'"
    " AND closed_at > now() - make_interval(weeks => $4::int)),"
    " prev AS (SELECT observed FROM alert WHERE organisation = $1 AND area_code = $2"
    " AND theme = $3 AND state <> 'closed'),"
    " up AS (INSERT INTO alert (organisation, area_year, area_code, theme, method,"
    " first_week, last_week, observed, expected, upperbound, ratio, pvalue,"
    " recurrence_weeks, strength, trend, evidence, run_id)"
    " SELECT $1, $5, $2, $3, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb,"
    " $18 WHERE NOT EXISTS (SELECT 1 FROM cooling)"
    " ON CONFLICT (organisation, area_code, theme) WHERE state <> 'closed'"
    " DO UPDATE SET method = EXCLUDED.method, last_week = EXCLUDED.last_week,"
    " observed = EXCLUDED.observed, expected = EXCLUDED.expected,"
    " upperbound = EXCLUDED.upperbound, ratio = EXCLUDED.ratio, pvalue = EXCLUDED.pvalue,"
    " recurrence_weeks = EXCLUDED.recurrence_weeks, strength = EXCLUDED.strength,"
    " trend = EXCLUDED.trend, evidence = EXCLUDED.evidence, run_id = EXCLUDED.run_id,"
    " updated_at = now() WHERE alert.last_week <= EXCLUDED.last_week"
    " RETURNING id, (xmax = 0) AS inserted, observed),"
    " ev AS (INSERT INTO alert_event (alert_id, kind, actor)"
    " SELECT id, CASE WHEN inserted THEN 'raised' WHEN observed > (SELECT observed FROM prev)"
    " THEN 'escalated' ELSE 'updated' END,"
    " 'analysis run ' || $18 FROM up)"
    " SELECT inserted FROM up";

void analysis_options_default(struct analysis_options *o)
{
	memset(o, 0, sizeof(*o));
	o->trigger = "cli";
	o->cooldown_weeks = 8;
	detect_params_default(&o->detect);
	o->scan = true;
	scan_params_default(&o->scan_params);
	o->scan_alpha = 0.001;
	o->scan_baseline_weeks = 52;
}

struct isoweek analysis_previous_week(time_t now)
{
	struct tm tm;
	gmtime_r(&now, &tm);
	struct isoweek w = isoweek_from_date(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return isoweek_from_index(isoweek_to_index(w) - 1);
}

bool analysis_week_ended(struct isoweek week, time_t now)
{
	return isoweek_to_index(week) <= isoweek_to_index(analysis_previous_week(now));
}

void analysis_options_from_config(const struct config *c, struct analysis_options *o)
{
	analysis_options_default(o);
	struct farrington_params *f = &o->detect.farrington;
	f->b = c->detect_b;
	f->w = c->detect_w;
	f->no_periods = c->detect_no_periods;
	f->past_weeks_not_included = c->detect_past_weeks;
	f->alpha = strtod(c->detect_alpha, NULL);
	o->detect.min_persons = c->detect_min_persons;
	o->detect.min_ratio = strtod(c->detect_min_ratio, NULL);
	o->detect.consecutive = c->detect_consecutive;
	o->cooldown_weeks = c->detect_cooldown;
	o->scan = c->detect_scan;
	o->scan_alpha = strtod(c->detect_scan_alpha, NULL);
	o->scan_params.n_replications = (size_t)c->detect_scan_replications;
	o->scan_params.max_weeks = (size_t)c->detect_scan_max_weeks;
	o->scan_params.max_pop_share = strtod(c->detect_scan_max_pop_share, NULL);
}

/* Runs a statement; on failure fills e and returns NULL. */
static PGresult *run(PGconn *conn, const char *sql, int n, const char *const *params,
                     const char *what, struct err *e)
{
	PGresult *res =
	    n == 0 ? PQexec(conn, sql) : PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
	err_set(e, 500, "analysis_failed", "%s", what);
	err_detail(e, "%.*s", (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return NULL;
}

static long week_index_of_date(const char *date)
{
	int y, m, d;
	if (sscanf(date, "%d-%d-%d", &y, &m, &d) != 3)
		return -1;
	return isoweek_to_index(isoweek_from_date(y, m, d));
}

static void week_label(long index, char *buf, size_t size)
{
	if (isoweek_format(isoweek_from_index(index), buf, size) < 0)
		snprintf(buf, size, "?");
}

/* Populations of one area code by year. */
struct area_pop {
	char code[11];
	int years[32];
	long pop[32];
	int n;
};

static long population_in(const struct area_pop *a, int year)
{
	long best = -1;
	int best_year = 0;
	for (int i = 0; i < a->n; i++) {
		if (a->pop[i] < 0)
			continue;
		if (best < 0 || (a->years[i] <= year && a->years[i] >= best_year) ||
		    (best_year > year && a->years[i] < best_year)) {
			best = a->pop[i];
			best_year = a->years[i];
		}
	}
	return best;
}

/* The series being evaluated and what detection said. */
struct series {
	char organisation[65];
	char area_code[11];
	char theme[33];
	long start; /* week index of y[0] */
	size_t n;
	double *y;
	double *pop;
	struct detect_result res;
	bool with_offset;
	long population; /* of the current week's year, -1 unknown */
	int area_year;   /* latest classification year of the code */
};

static json_t *evidence(const struct series *s, const struct analysis_options *o, long t)
{
	char label[16];
	const struct detect_params *p = &o->detect;
	json_t *weeks = json_array(), *series = json_array();
	for (int k = 0; k < s->res.n_evaluated; k++) {
		const struct detect_week *w = &s->res.weeks[k];
		week_label(t - k, label, sizeof(label));
		json_array_append_new(
		    weeks,
		    json_pack(
		        "{s:s, s:f, s:o, s:o, s:o, s:b}", "week", label, "observed", w->observed,
		        "expected", isnan(w->expected) ? json_null() : json_real(w->expected),
		        "upperbound", isnan(w->upperbound) ? json_null() : json_real(w->upperbound),
		        "pvalue", isnan(w->pvalue) ? json_null() : json_real(w->pvalue), "exceeds",
		        w->exceeds));
	}
	size_t from = s->n > 104 ? s->n - 104 : 0;
	for (size_t i = from; i < s->n; i++) {
		week_label(s->start + (long)i, label, sizeof(label));
		json_array_append_new(series,
		                      json_pack("{s:s, s:f}", "week", label, "persons", s->y[i]));
	}
	const char *threshold = p->farrington.threshold == FARRINGTON_NB_PLUGIN ? "nbPlugin"
	                        : p->farrington.threshold == FARRINGTON_MUAN    ? "muan"
	                                                                        : "delta";
	json_t *params =
	    s->res.method == DETECT_FARRINGTON
	        ? json_pack("{s:i, s:i, s:i, s:i, s:f, s:s, s:b, s:b}", "b", p->farrington.b, "w",
	                    p->farrington.w, "no_periods", p->farrington.no_periods,
	                    "past_weeks_not_included", p->farrington.past_weeks_not_included,
	                    "alpha", p->farrington.alpha, "threshold", threshold,
	                    "population_offset", s->with_offset, "reweight", p->farrington.reweight)
	        : json_pack("{s:s, s:i, s:f}", "ears_method",
	                    p->ears_method == EARS_C1   ? "C1"
	                    : p->ears_method == EARS_C2 ? "C2"
	                                                : "C3",
	                    "baseline", p->ears_baseline, "alpha", p->ears_alpha);
	json_t *rule = json_pack("{s:i, s:f, s:i}", "min_persons", p->min_persons, "min_ratio",
	                         p->min_ratio, "consecutive_weeks", p->consecutive);
	week_label(t, label, sizeof(label));
	return json_pack(
	    "{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "week", label, "method",
	    s->res.method == DETECT_FARRINGTON ? "farrington_flexible" : "ears", "description",
	    s->res.method == DETECT_FARRINGTON
	        ? "Farrington Flexible (Noufaily et al. 2013): quasi-Poisson GLM "
	          "with trend and seasonal periods, reweighted, negative binomial "
	          "upper bound"
	        : "EARS (short history): mean and sd of the weeks before",
	    "population", s->population >= 0 ? json_integer(s->population) : json_null(), "weeks",
	    weeks, "series", series, "params", params, "rule", rule, "trend",
	    s->res.trend != 0
	        ? json_pack("{s:s, s:f}", "direction", s->res.trend > 0 ? "rising" : "falling",
	                    "per_week", s->res.trend_per_week)
	        : json_null());
}

/* What an alert says, from either detector. */
struct alert_record {
	char organisation[65], area_code[11], theme[33], method[24];
	int area_year;
	long first_week, last_week; /* week indices */
	double observed, expected, upperbound, ratio, pvalue, recurrence_weeks, strength;
	int trend;
	json_t *evidence; /* taken */
};

/* Raises or updates one alert. Returns 1 raised, 2 updated, 0 neither (cooldown, or an alert
 * of a later week exists), or a negative errno. */
static int store_alert(PGconn *conn, struct alert_record *a, const struct analysis_options *o,
                       long long run_id, struct err *e)
{
	char cooldown[16], area_year[8], first[16], last[16], observed[24], expected[32], upper[32],
	    ratio[32], pvalue[32], recur[32], strength[32], run_text[24];
	isoweek_monday(isoweek_from_index(a->first_week), first, sizeof(first));
	isoweek_monday(isoweek_from_index(a->last_week), last, sizeof(last));
	snprintf(cooldown, sizeof(cooldown), "%d", o->cooldown_weeks);
	snprintf(area_year, sizeof(area_year), "%d", a->area_year);
	snprintf(observed, sizeof(observed), "%.0f", a->observed);
	snprintf(expected, sizeof(expected), "%.17g", a->expected);
	snprintf(upper, sizeof(upper), "%.17g", a->upperbound);
	snprintf(ratio, sizeof(ratio), "%.17g", isfinite(a->ratio) ? a->ratio : 1e9);
	snprintf(pvalue, sizeof(pvalue), "%.17g", a->pvalue);
	snprintf(recur, sizeof(recur), "%.17g",
	         isfinite(a->recurrence_weeks) ? a->recurrence_weeks : 1e30);
	snprintf(strength, sizeof(strength), "%.17g", a->strength);
	snprintf(run_text, sizeof(run_text), "%lld", run_id);
	char *evtext = a->evidence != NULL ? json_dumps(a->evidence, JSON_COMPACT) : NULL;
	json_decref(a->evidence);
	a->evidence = NULL;
	if (evtext == NULL)
		return -ENOMEM;
	const char *params[18] = {a->organisation,
	                          a->area_code,
	                          a->theme,
	                          cooldown,
	                          area_year,
	                          a->method,
	                          first,
	                          last,
	                          observed,
	                          expected,
	                          isnan(a->upperbound) ? NULL : upper,
	                          ratio,
	                          isnan(a->pvalue) ? NULL : pvalue,
	                          isnan(a->recurrence_weeks) ? NULL : recur,
	                          strength,
	                          a->trend > 0   ? "rising"
	                          : a->trend < 0 ? "falling"
	                                         : "none",
	                          evtext,
	                          run_text};
	PGresult *res = run(conn, sql_alert, 18, params, "could not store an alert", e);
	free(evtext);
	if (res == NULL)
		return -EIO;
	int outcome = 0;
	if (PQntuples(res) == 1)
		outcome = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? 1 : 2;
	PQclear(res);
	return outcome;
}

/* Alerts found by a run, stored together at its end in one short transaction, so that no
 * alert row stays locked while the run computes. */
struct alert_list {
	struct alert_record *items;
	size_t n, cap;
};

/* Appends `a` (its evidence taken). Returns 0 or -ENOMEM (the evidence is freed then). */
static int alert_list_push(struct alert_list *l, struct alert_record *a)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap != 0 ? l->cap * 2 : 16;
		struct alert_record *p = realloc(l->items, ncap * sizeof(*p));
		if (p == NULL) {
			json_decref(a->evidence);
			return -ENOMEM;
		}
		l->items = p;
		l->cap = ncap;
	}
	l->items[l->n++] = *a;
	return 0;
}

static void alert_list_free(struct alert_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->items[i].evidence);
	free(l->items);
}

/* The temporal detector's alert of series `s` at week t, added to `l`. */
static int collect_series_alert(struct alert_list *l, const struct series *s,
                                const struct analysis_options *o, long t)
{
	const struct detect_result *r = &s->res;
	struct alert_record a = {
	    .area_year = s->area_year,
	    .first_week = t - r->run_length + 1,
	    .last_week = t,
	    .observed = r->weeks[0].observed,
	    .expected = r->weeks[0].expected,
	    .upperbound = r->weeks[0].upperbound,
	    .ratio = r->ratio,
	    .pvalue = r->weeks[0].pvalue,
	    .recurrence_weeks = r->recurrence_weeks,
	    .strength = r->strength,
	    .trend = r->trend,
	    .evidence = evidence(s, o, t),
	};
	snprintf(a.organisation, sizeof(a.organisation), "%s", s->organisation);
	snprintf(a.area_code, sizeof(a.area_code), "%s", s->area_code);
	snprintf(a.theme, sizeof(a.theme), "%s", s->theme);
	snprintf(a.method, sizeof(a.method), "%s",
	         r->method == DETECT_FARRINGTON ? "farrington_flexible" : "ears");
	return alert_list_push(l, &a);
}

/* Evaluates one loaded series. Returns 0 or -errno. */
static int evaluate(struct series *s, const struct analysis_options *o, const struct area_pop *pops,
                    size_t n_pops, long t)
{
	const struct area_pop *ap = NULL;
	for (size_t i = 0; i < n_pops && ap == NULL; i++) {
		if (strcmp(pops[i].code, s->area_code) == 0)
			ap = &pops[i];
	}
	s->with_offset = ap != NULL;
	s->area_year = 0;
	for (int i = 0; ap != NULL && i < ap->n; i++)
		s->area_year = ap->years[i] > s->area_year ? ap->years[i] : s->area_year;
	for (size_t i = 0; i < s->n; i++) {
		long pop = ap != NULL
		               ? population_in(ap, isoweek_from_index(s->start + (long)i).year)
		               : -1;
		s->pop[i] = pop > 0 ? (double)pop : NAN;
		s->with_offset = s->with_offset && pop > 0;
	}
	s->population = ap != NULL ? population_in(ap, isoweek_from_index(t).year) : -1;
	struct detect_params p = o->detect;
	p.farrington.population_offset = p.farrington.population_offset && s->with_offset;
	s->with_offset = p.farrington.population_offset;
	return detect_series(s->y, s->pop, s->n, s->n - 1, &p, &s->res);
}

/* ---- the space-time scan: clusters spanning adjacent areas ---- */

/* One area of a scanned map. */
struct scan_area {
	char code[11];
	int year;
	double population, x, y;
	bool has_centroid;
	char neighbours[512]; /* codes separated by ';' */
	double *counts;       /* [n_weeks]: baseline weeks, then the window */
};

/* Marks of what the temporal detector already alerted this run, so a cluster centred there
 * does not overwrite that alert. */
struct alerted {
	char (*keys)[112];
	size_t n, cap;
};

static void alerted_key(char *key, size_t size, const char *org, const char *area,
                        const char *theme)
{
	snprintf(key, size, "%s|%s|%s", org, area, theme);
}

static bool alerted_has(const struct alerted *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->keys[i], key) == 0)
			return true;
	}
	return false;
}

static int alerted_add(struct alerted *a, const char *org, const char *area, const char *theme)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap != 0 ? a->cap * 2 : 32;
		void *p = realloc(a->keys, ncap * sizeof(*a->keys));
		if (p == NULL)
			return -ENOMEM;
		a->keys = p;
		a->cap = ncap;
	}
	alerted_key(a->keys[a->n++], sizeof(a->keys[0]), org, area, theme);
	return 0;
}

/* Scans one (organisation, theme) map of `n` areas. Returns 0 or -errno. */
static int scan_map(const struct analysis_options *o, const char *org, const char *theme,
                    struct scan_area *areas, size_t n, size_t n_weeks, long t,
                    const struct alerted *alerted, struct alert_list *found,
                    struct analysis_summary *out)
{
	size_t win = o->scan_params.max_weeks, base = n_weeks - win;
	bool circles = true, any_nb = false;
	for (size_t a = 0; a < n; a++) {
		circles = circles && areas[a].has_centroid;
		any_nb = any_nb || areas[a].neighbours[0] != '\0';
	}
	if (n < 2 || (!circles && !any_nb))
		return 0; /* no geometry: nothing spatial to say */
	int r = -ENOMEM;
	double *pop = calloc(n, sizeof(double)), *x = calloc(n, sizeof(double));
	double *y = calloc(n, sizeof(double)), *expected = calloc(n * win, sizeof(double));
	unsigned int *counts = calloc(n * win, sizeof(unsigned int));
	size_t *nb_start = calloc(n + 1, sizeof(size_t)), *nb_index = NULL, n_nb = 0;
	struct scan_result *res = NULL;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (pop == NULL || x == NULL || y == NULL || expected == NULL || counts == NULL ||
	    nb_start == NULL || rng == NULL)
		goto out;
	double lat0 = 0;
	for (size_t a = 0; circles && a < n; a++)
		lat0 += areas[a].y / (double)n;
	for (size_t a = 0; a < n; a++) {
		double mean = 0;
		for (size_t w = 0; w < base; w++)
			mean += areas[a].counts[w] / (double)base;
		pop[a] = areas[a].population;
		/* km on a local plane: longitude shrinks with the cosine of the latitude */
		x[a] = circles ? areas[a].x * 111.32 * cos(lat0 * M_PI / 180) : 0;
		y[a] = circles ? areas[a].y * 110.57 : 0;
		for (size_t w = 0; w < win; w++) {
			counts[a * win + w] = (unsigned int)areas[a].counts[base + w];
			/* the area's own weekly mean; a floor keeps a first case scannable */
			expected[a * win + w] = mean > 0.01 ? mean : 0.01;
		}
	}
	if (!circles) {
		nb_index = calloc(n * 64 + 1, sizeof(size_t));
		if (nb_index == NULL)
			goto out;
		for (size_t a = 0; a < n; a++) {
			nb_start[a] = n_nb;
			char list[512];
			snprintf(list, sizeof(list), "%s", areas[a].neighbours);
			for (char *save = NULL, *tok = strtok_r(list, ";", &save); tok != NULL;
			     tok = strtok_r(NULL, ";", &save)) {
				for (size_t b = 0; b < n && n_nb < n * 64; b++) {
					if (strcmp(areas[b].code, tok) == 0)
						nb_index[n_nb++] = b;
				}
			}
		}
		nb_start[n] = n_nb;
	}
	/* Seeded per week, organisation and theme, so a run can be repeated exactly. */
	unsigned long seed = (unsigned long)t * 2654435761u;
	for (const char *c = org; *c; c++)
		seed = seed * 31 + (unsigned char)*c;
	for (const char *c = theme; *c; c++)
		seed = seed * 31 + (unsigned char)*c;
	gsl_rng_set(rng, seed);
	struct scan_params sp = o->scan_params;
	sp.use_neighbours = !circles;
	struct scan_input in = {n,
	                        win,
	                        pop,
	                        x,
	                        y,
	                        counts,
	                        expected,
	                        circles ? NULL : nb_start,
	                        circles ? NULL : nb_index};
	r = scan_run(&in, &sp, rng, &res);
	if (r == -EINVAL || r == -E2BIG) {
		r = 0; /* data the scan cannot use (no population, too many windows): skip */
		goto out;
	}
	if (r < 0)
		goto out;
	out->scans++;
	for (size_t k = 0; k < res->n_clusters && r == 0; k++) {
		const struct scan_cluster *cl = &res->clusters[k];
		char key[112];
		if (cl->p_value > o->scan_alpha || cl->n_areas < 2 ||
		    cl->observed < o->detect.min_persons)
			continue;
		out->scan_clusters++;
		const struct scan_area *centre = &areas[cl->centre];
		alerted_key(key, sizeof(key), org, centre->code, theme);
		if (alerted_has(alerted, key))
			continue;
		json_t *codes = json_array(), *weeks = json_array();
		for (size_t i = 0; i < cl->n_areas; i++)
			json_array_append_new(codes, json_string(areas[cl->areas[i]].code));
		for (size_t w = cl->first_week; w < win; w++) {
			char label[16];
			week_label(t - (long)(win - 1 - w), label, sizeof(label));
			json_array_append_new(weeks, json_string(label));
		}
		char label[16];
		week_label(t, label, sizeof(label));
		struct alert_record a = {
		    .area_year = centre->year,
		    .first_week = t - (long)cl->n_weeks + 1,
		    .last_week = t,
		    .observed = cl->observed,
		    .expected = cl->expected,
		    .upperbound = NAN,
		    .ratio = cl->relative_risk,
		    .pvalue = cl->p_value,
		    .recurrence_weeks = cl->recurrence_weeks,
		    .strength = -log10(cl->p_value),
		    .trend = 0,
		    .evidence = json_pack(
		        "{s:s, s:s, s:s, s:o, s:o, s:f, s:f, s:f, s:f, s:i, s:{s:i, s:f, s:i, "
		        "s:s, s:i}}",
		        "week", label, "method", "space_time_scan", "description",
		        "Prospective space-time scan statistic (Kulldorff 2001), Poisson model "
		        "conditioned on the total, expectation from each area's own weekly mean "
		        "over the baseline weeks, Monte Carlo p-value",
		        "cluster_areas", codes, "cluster_weeks", weeks, "observed", cl->observed,
		        "expected", cl->expected, "relative_risk", cl->relative_risk, "llr",
		        cl->llr, "areas_scanned", (int)n, "params", "max_weeks", (int)win,
		        "max_pop_share", sp.max_pop_share, "replications", (int)sp.n_replications,
		        "geometry", circles ? "centroids" : "neighbours", "baseline_weeks",
		        (int)base),
		};
		snprintf(a.organisation, sizeof(a.organisation), "%s", org);
		snprintf(a.area_code, sizeof(a.area_code), "%s", centre->code);
		snprintf(a.theme, sizeof(a.theme), "%s", theme);
		snprintf(a.method, sizeof(a.method), "%s", "space_time_scan");
		r = alert_list_push(found, &a);
	}
out:
	scan_result_free(res);
	gsl_rng_free(rng);
	free(pop);
	free(x);
	free(y);
	free(expected);
	free(counts);
	free(nb_start);
	free(nb_index);
	return r;
}

/* Row of `geo` (sorted by code) for `code`, or -1. */
static int geo_row(const PGresult *geo, const char *code)
{
	int lo = 0, hi = PQntuples(geo) - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(PQgetvalue(geo, mid, 0), code);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Runs the scan on every (organisation, theme) map with data in the window, one organisation
 * at a time so that only its rows are in memory. Organisations whose uploads do not cover the
 * baseline are left out. Adds clusters to `found`. Returns 0 or -errno. */
static int scan_all(PGconn *conn, const struct analysis_options *o, long t, PGresult *orgs,
                    const struct alerted *alerted, struct alert_list *found,
                    struct analysis_summary *out, struct err *e)
{
	size_t win = o->scan_params.max_weeks, n_weeks = win + (size_t)o->scan_baseline_weeks;
	long from = t - (long)n_weeks + 1;
	char from_text[16], week[16];
	isoweek_monday(isoweek_from_index(from), from_text, sizeof(from_text));
	isoweek_monday(isoweek_from_index(t), week, sizeof(week));
	struct scan_area *areas = NULL;
	double *cells = NULL;
	size_t cap = 0;
	int r = 0;
	for (int k = 0; k < PQntuples(orgs) && r == 0; k++) {
		const char *org = PQgetvalue(orgs, k, 0);
		if (week_index_of_date(PQgetvalue(orgs, k, 1)) > from)
			continue; /* no full baseline yet */
		const char *params[] = {org, from_text, week};
		PGresult *data =
		    run(conn, sql_scan_data, 3, params, "could not load the scan data", e);
		PGresult *geo = data != NULL
		                    ? run(conn, sql_geometry, 3, params, "could not read areas", e)
		                    : NULL;
		if (geo == NULL) {
			PQclear(data);
			r = -EIO;
			break;
		}
		int rows = PQntuples(data);
		for (int i = 0; i < rows && r == 0;) {
			const char *theme = PQgetvalue(data, i, 0);
			size_t n = 0;
			int j = i;
			while (j < rows && strcmp(PQgetvalue(data, j, 0), theme) == 0) {
				const char *code = PQgetvalue(data, j, 1);
				if (n == 0 || strcmp(areas[n - 1].code, code) != 0) {
					if (n == cap) {
						size_t ncap = cap != 0 ? cap * 2 : 64;
						struct scan_area *na =
						    realloc(areas, ncap * sizeof(*na));
						if (na != NULL)
							areas = na;
						double *nc =
						    realloc(cells, ncap * n_weeks * sizeof(double));
						if (nc != NULL)
							cells = nc;
						if (na == NULL || nc == NULL) {
							r = -ENOMEM;
							break;
						}
						cap = ncap;
					}
					struct scan_area *a = &areas[n];
					memset(a, 0, sizeof(*a));
					memset(cells + n * n_weeks, 0, n_weeks * sizeof(double));
					snprintf(a->code, sizeof(a->code), "%s", code);
					int g = geo_row(geo, code);
					if (g >= 0) {
						a->year = atoi(PQgetvalue(geo, g, 1));
						a->population = atof(PQgetvalue(geo, g, 2));
						a->has_centroid = !PQgetisnull(geo, g, 3);
						a->y = atof(PQgetvalue(geo, g, 3));
						a->x = atof(PQgetvalue(geo, g, 4));
						snprintf(a->neighbours, sizeof(a->neighbours), "%s",
						         PQgetvalue(geo, g, 5));
					}
					n++;
				}
				long wk = week_index_of_date(PQgetvalue(data, j, 2));
				if (wk >= from && wk <= t)
					cells[(n - 1) * n_weeks + (size_t)(wk - from)] =
					    atof(PQgetvalue(data, j, 3));
				j++;
			}
			for (size_t a = 0; r == 0 && a < n; a++)
				areas[a].counts = cells + a * n_weeks;
			if (r == 0)
				r = scan_map(o, org, theme, areas, n, n_weeks, t, alerted, found,
				             out);
			i = j;
		}
		PQclear(data);
		PQclear(geo);
	}
	free(areas);
	free(cells);
	return r;
}

int analysis_run(PGconn *conn, const struct analysis_options *o, struct analysis_summary *out,
                 struct err *e)
{
	struct timespec t0, t1;
	char week[16], from[16], min_persons[16], run_id[24] = "";
	int r = 0;
	bool locked = false, in_tx = false;
	PGresult *res = NULL, *series_res = NULL;
	struct area_pop *pops = NULL;
	size_t n_pops = 0;
	struct series s;
	struct alerted alerted = {NULL, 0, 0};
	struct alert_list found = {NULL, 0, 0};
	memset(&s, 0, sizeof(s));
	memset(out, 0, sizeof(*out));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!analysis_week_ended(o->week, time(NULL))) {
		char label[16];
		isoweek_format(o->week, label, sizeof(label));
		err_set(e, 400, "week_not_ended", "week %s has not ended yet", label);
		err_detail(e,
		           "A week is analysed once it is complete: its counts are still growing.");
		return -EINVAL;
	}
	long t = isoweek_to_index(o->week);
	long history = (long)farrington_first_index(&o->detect.farrington) + o->detect.consecutive;
	isoweek_monday(o->week, week, sizeof(week));
	isoweek_monday(isoweek_from_index(t - history + 1), from, sizeof(from));
	snprintf(min_persons, sizeof(min_persons), "%d", o->detect.min_persons);

	res = run(conn, sql_try_lock, 0, NULL, "could not take the analysis lock", e);
	if (res == NULL)
		return -EIO;
	locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!locked) {
		err_set(e, 409, "analysis_running", "another analysis is running");
		return -EBUSY;
	}
	res = run(conn, sql_abandoned, 0, NULL, "could not close abandoned runs", e);
	if (res == NULL) {
		r = -EIO;
		goto out;
	}
	PQclear(res);
	const char *wp[] = {week};
	if (o->skip_if_done) {
		res = run(conn, sql_done, 1, wp, "could not read earlier runs", e);
		if (res == NULL) {
			r = -EIO;
			goto out;
		}
		out->skipped = PQntuples(res) > 0;
		PQclear(res);
		if (out->skipped)
			goto out;
	}
	const char *sp[] = {week, o->trigger, o->requested_by};
	res = run(conn, sql_start, 3, sp, "could not record the run", e);
	if (res == NULL) {
		r = -EIO;
		goto out;
	}
	out->run_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(run_id, sizeof(run_id), "%lld", out->run_id);
	PQclear(res);

	const char *tp[] = {from, week};
	res = run(conn, sql_total, 2, tp, "could not count series", e);
	if (res == NULL) {
		r = -EIO;
		goto out;
	}
	out->series_total = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	PGresult *orgs = run(conn, sql_org_start, 0, NULL, "could not read first weeks", e);
	if (orgs == NULL) {
		r = -EIO;
		goto out;
	}
	const char *cp[] = {from, week, min_persons};
	series_res = run(conn, sql_series, 3, cp, "could not load series", e);
	if (series_res == NULL) {
		PQclear(orgs);
		r = -EIO;
		goto out;
	}
	int rows = PQntuples(series_res);
	/* Populations of the candidate areas. */
	struct pgarray codes = {0};
	for (int i = 0; i < rows; i++) {
		if (i == 0 ||
		    strcmp(PQgetvalue(series_res, i, 1), PQgetvalue(series_res, i - 1, 1)))
			pgarray_add(&codes, PQgetvalue(series_res, i, 1));
	}
	const char *pp[] = {pgarray_text(&codes)};
	res = pp[0] != NULL ? run(conn, sql_population, 1, pp, "could not read populations", e)
	                    : NULL;
	pgarray_free(&codes);
	if (res == NULL) {
		PQclear(orgs);
		r = pp[0] == NULL ? -ENOMEM : -EIO;
		goto out;
	}
	pops = calloc((size_t)PQntuples(res) + 1, sizeof(*pops));
	for (int i = 0; pops != NULL && i < PQntuples(res); i++) {
		const char *code = PQgetvalue(res, i, 0);
		if (n_pops == 0 || strcmp(pops[n_pops - 1].code, code) != 0)
			snprintf(pops[n_pops++].code, sizeof(pops[0].code), "%s", code);
		struct area_pop *ap = &pops[n_pops - 1];
		if (ap->n < 32) {
			ap->years[ap->n] = atoi(PQgetvalue(res, i, 1));
			ap->pop[ap->n] = atol(PQgetvalue(res, i, 2));
			ap->n++;
		}
	}
	PQclear(res);
	if (pops == NULL) {
		PQclear(orgs);
		r = -ENOMEM;
		goto out;
	}
	s.y = calloc((size_t)history, sizeof(double));
	s.pop = calloc((size_t)history, sizeof(double));
	if (s.y == NULL || s.pop == NULL) {
		PQclear(orgs);
		r = -ENOMEM;
		goto out;
	}
	long from_idx = t - history + 1;
	for (int i = 0; i < rows && r == 0;) {
		/* One series: rows i..j-1. */
		int j = i;
		snprintf(s.organisation, sizeof(s.organisation), "%s",
		         PQgetvalue(series_res, i, 0));
		snprintf(s.area_code, sizeof(s.area_code), "%s", PQgetvalue(series_res, i, 1));
		snprintf(s.theme, sizeof(s.theme), "%s", PQgetvalue(series_res, i, 2));
		long start = from_idx;
		for (int k = 0; k < PQntuples(orgs); k++) {
			if (strcmp(PQgetvalue(orgs, k, 0), s.organisation) == 0) {
				long first = week_index_of_date(PQgetvalue(orgs, k, 1));
				start = first > start ? first : start;
			}
		}
		s.start = start;
		s.n = (size_t)(t - start + 1);
		memset(s.y, 0, (size_t)history * sizeof(double));
		while (j < rows && strcmp(PQgetvalue(series_res, j, 0), s.organisation) == 0 &&
		       strcmp(PQgetvalue(series_res, j, 1), s.area_code) == 0 &&
		       strcmp(PQgetvalue(series_res, j, 2), s.theme) == 0) {
			long wk = week_index_of_date(PQgetvalue(series_res, j, 3));
			if (wk >= start && wk <= t)
				s.y[wk - start] = atof(PQgetvalue(series_res, j, 4));
			j++;
		}
		i = j;
		r = evaluate(&s, o, pops, n_pops, t);
		if (r < 0)
			break;
		out->series_analysed += s.res.n_evaluated > 0;
		if (!s.res.alert)
			continue;
		r = collect_series_alert(&found, &s, o, t);
		if (r == 0 && alerted_add(&alerted, s.organisation, s.area_code, s.theme) < 0)
			r = -ENOMEM;
	}
	if (r == 0 && o->scan)
		r = scan_all(conn, o, t, orgs, &alerted, &found, out, e);
	PQclear(orgs);
	/* Everything is computed: store the alerts in one short transaction. */
	if (r == 0) {
		res = run(conn, "BEGIN", 0, NULL, "could not begin", e);
		r = res == NULL ? -EIO : 0;
		PQclear(res);
		in_tx = r == 0;
	}
	for (size_t k = 0; r == 0 && k < found.n; k++) {
		int stored = store_alert(conn, &found.items[k], o, out->run_id, e);
		if (stored < 0)
			r = stored;
		out->alerts_raised += stored == 1;
		out->alerts_updated += stored == 2;
	}
	if (r == 0) {
		res = run(conn, "COMMIT", 0, NULL, "could not commit alerts", e);
		r = res == NULL ? -EIO : 0;
		PQclear(res);
		in_tx = false;
	} else if (r == -ENOMEM) {
		err_set(e, 500, "analysis_failed", "out of memory during the analysis");
	} else if (r == -EINVAL) {
		err_set(e, 500, "analysis_failed", "detector refused its input");
		r = -EIO;
	}
out:
	if (in_tx)
		PQclear(PQexec(conn, "ROLLBACK"));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	out->duration_ms =
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (out->run_id > 0) {
		char total[16], analysed[16], raised[16], updated[16], ms[32];
		snprintf(total, sizeof(total), "%d", out->series_total);
		snprintf(analysed, sizeof(analysed), "%d", out->series_analysed);
		snprintf(raised, sizeof(raised), "%d", out->alerts_raised);
		snprintf(updated, sizeof(updated), "%d", out->alerts_updated);
		snprintf(ms, sizeof(ms), "%.3f", out->duration_ms);
		const char *fp[] = {
		    run_id, r == 0 ? "succeeded" : "failed", total, analysed, raised, updated,
		    ms,     r == 0 ? NULL : e->msg};
		struct err e2;
		err_clear(&e2);
		PQclear(run(conn, sql_finish, 8, fp, "could not record the run's end", &e2));
	}
	PQclear(series_res);
	free(pops);
	free(alerted.keys);
	alert_list_free(&found);
	free(s.y);
	free(s.pop);
	if (locked)
		PQclear(PQexec(conn, sql_unlock));
	return r;
}
