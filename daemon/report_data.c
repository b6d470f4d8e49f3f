/* Loading the figures of a report period (see report_data.h). Every query takes $1 the first
 * day and $2 the day after the last of the period; a week is in the period when its Thursday
 * is, i.e. its Monday lies in [$1 - 3, $2 - 3). Each returns one row per organisation, merged
 * here by name. */
#include "report_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Persons reached, and of them with a group contact. */
static const char sql_reach[] =
    "SELECT organisation, count(DISTINCT subject), count(DISTINCT subject) FILTER (WHERE"
    " kind = 'contact' AND mode = 'group') FROM signal WHERE kind IN ('need', 'contact') AND week "
    ">= $1::date - 3 AND week < $2::date - 3 GROUP BY 1";

/* Inhabitants of the areas each organisation reported in the period. */
static const char sql_population[] =
    "SELECT o.organisation, coalesce(sum(a.population), 0) FROM (SELECT DISTINCT organisation,"
    " area_year, area_code FROM signal WHERE week >= $1::date - 3 AND week < $2::date - 3) o JOIN "
    "area a"
    " ON a.year = o.area_year AND a.code = o.area_code GROUP BY 1";

/* Trajectories (persons without one) with contacts in the period, by the modes they used. */
static const char sql_modes[] =
    "SELECT organisation, count(*), count(*) FILTER (WHERE n > 1), count(*) FILTER (WHERE g),"
    " count(*) FILTER (WHERE o) FROM (SELECT organisation, coalesce(trajectory, subject),"
    " count(DISTINCT mode) AS n, bool_or(mode = 'group') AS g, bool_or(mode = 'online') AS o"
    " FROM signal WHERE kind = 'contact' AND week >= $1::date - 3 AND week < $2::date - 3 GROUP BY "
    "1, 2) x GROUP BY 1";

/* Alerts raised in the period, and alerts moved to initiative_started in it. */
static const char sql_alerts[] =
    "SELECT organisation, sum(raised), sum(started) FROM (SELECT organisation, 1 AS raised,"
    " 0 AS started FROM alert WHERE created_at >= $1::date AND created_at < $2::date"
    " UNION ALL SELECT a.organisation, 0, 1 FROM alert_event e JOIN alert a"
    " ON a.id = e.alert_id WHERE e.to_state = 'initiative_started' AND e.at >= $1::date"
    " AND e.at < $2::date) x GROUP BY 1";

/* Per organisation with trajectories in the period (or a year before it): waiting times (weeks)
 * of trajectories opened in the period, durations of those closed in it, how many closed, how
 * many closed 52 weeks earlier and of those how many persons opened a new trajectory within 52
 * weeks after closing (whatever else they had open). */
static const char sql_trajectories[] =
    "WITH t AS (SELECT organisation, trajectory, (array_agg(subject))[1] AS subject,"
    " min(week) FILTER (WHERE kind = 'trajectory' AND event = 'opened') AS opened,"
    " max(week) FILTER (WHERE kind = 'trajectory' AND event = 'closed') AS closed,"
    " min(week) FILTER (WHERE kind = 'contact') AS first_contact"
    " FROM signal WHERE trajectory IS NOT NULL GROUP BY 1, 2)"
    " SELECT organisation,"
    " array_to_string(array_agg((first_contact - opened) / 7) FILTER (WHERE"
    " opened >= $1::date - 3 AND opened < $2::date - 3 AND first_contact >= opened), ','),"
    " array_to_string(array_agg((closed - opened) / 7) FILTER (WHERE"
    " closed >= $1::date - 3 AND closed < $2::date - 3 AND closed >= opened), ','),"
    " count(*) FILTER (WHERE closed >= $1::date - 3 AND closed < $2::date - 3),"
    " count(*) FILTER (WHERE closed >= $1::date - 367 AND closed < $2::date - 367),"
    " count(*) FILTER (WHERE closed >= $1::date - 367 AND closed < $2::date - 367"
    " AND EXISTS (SELECT 1 FROM signal s WHERE s.organisation = t.organisation"
    " AND s.subject = t.subject AND s.kind = 'trajectory' AND s.event = 'opened'"
    " AND s.week > t.closed AND s.week <= t.closed + 364))"
    " FROM t GROUP BY 1"
    " HAVING count(*) FILTER (WHERE (opened >= $1::date - 3 AND opened < $2::date - 3)"
    " OR (closed >= $1::date - 3 AND closed < $2::date - 3)"
    " OR (closed >= $1::date - 367 AND closed < $2::date - 367)) > 0";

/* $3 instrument. Before/after pairs of trajectories closed in the period: the mean score over
 * the domains measured at intake and at the end; one per person (the latest); with the count
 * of trajectories that had a pair. */
static const char sql_pairs[] =
    "WITH c AS (SELECT DISTINCT organisation, trajectory FROM signal WHERE kind = 'trajectory'"
    " AND event = 'closed' AND week >= $1::date - 3 AND week < $2::date - 3),"
    " m AS (SELECT s.organisation, s.trajectory, s.domain,"
    " (array_agg(s.score ORDER BY s.week, s.signal_id) FILTER (WHERE s.phase = 'intake'))[1]"
    " AS b, (array_agg(s.score ORDER BY s.week DESC, s.signal_id DESC)"
    " FILTER (WHERE s.phase = 'end'))[1] AS a FROM c JOIN signal s USING (organisation,"
    " trajectory) WHERE s.kind = 'outcome' AND s.instrument = $3 GROUP BY 1, 2, 3),"
    " p AS MATERIALIZED (SELECT organisation, trajectory, avg(b) AS b, avg(a) AS a FROM m"
    " WHERE a IS NOT NULL AND b IS NOT NULL GROUP BY 1, 2),"
    " t AS MATERIALIZED (SELECT s.organisation, s.trajectory, (array_agg(s.subject))[1] AS subject,"
    " min(s.theme) AS theme, max(s.week) FILTER (WHERE s.kind = 'trajectory'"
    " AND s.event = 'closed') AS closed, count(DISTINCT s.mode) AS n_modes,"
    " min(s.mode) AS mode FROM c JOIN signal s USING (organisation, trajectory)"
    " WHERE s.kind IN ('trajectory', 'contact', 'outcome') GROUP BY 1, 2)"
    " SELECT DISTINCT ON (p.organisation, t.subject) p.organisation, t.theme,"
    " CASE WHEN t.n_modes > 1 THEN 'blended' ELSE coalesce(t.mode, 'none') END, p.b, p.a,"
    " count(*) OVER (PARTITION BY p.organisation) FROM p JOIN t USING (organisation,"
    " trajectory) WHERE t.closed >= $1::date - 3 AND t.closed < $2::date - 3"
    " ORDER BY p.organisation, t.subject, t.closed DESC, t.trajectory";

/* Records uploaded in the period and rejected. */
static const char sql_uploads[] =
    "SELECT organisation, sum(received), sum(rejected) FROM ingest_log"
    " WHERE received_at >= $1::date AND received_at < $2::date GROUP BY 1";

/* Contacts and outcomes of the period, and of them without a trajectory. */
static const char sql_incomplete[] =
    "SELECT organisation, count(*), count(*) FILTER (WHERE trajectory IS NULL) FROM signal"
    " WHERE kind IN ('contact', 'outcome') AND week >= $1::date - 3 AND week < $2::date - 3 GROUP "
    "BY 1";

static const char sql_instrument[] =
    "SELECT coalesce(reliability, 0.8), higher_is_better FROM instrument WHERE code = $1";

static const char *const mode_names[N_MODES] = {"individual", "online", "group", "blended", "none"};

const char *report_mode_name(enum report_mode m)
{
	return m >= 0 && m < N_MODES ? mode_names[m] : "none";
}

int report_period_parse(const char *text, struct report_period *out)
{
	int year = 0, quarter = 0, used = 0;
	memset(out, 0, sizeof(*out));
	if (strlen(text) == 4 && sscanf(text, "%4d%n", &year, &used) == 1 && used == 4) {
		quarter = 0;
	} else if (strlen(text) == 7 && sscanf(text, "%4d-Q%1d%n", &year, &quarter, &used) == 2 &&
	           used == 7 && quarter >= 1 && quarter <= 4) {
	} else {
		return -EINVAL;
	}
	if (year < 2000 || year > 9998)
		return -EINVAL;
	out->year = year;
	out->quarter = quarter;
	snprintf(out->label, sizeof(out->label), quarter == 0 ? "%d" : "%d-Q%d", year, quarter);
	int first_month = quarter == 0 ? 1 : 3 * quarter - 2;
	snprintf(out->start, sizeof(out->start), "%04d-%02d-01", year, first_month);
	if (quarter == 0 || quarter == 4)
		snprintf(out->end, sizeof(out->end), "%04d-01-01", year + 1);
	else
		snprintf(out->end, sizeof(out->end), "%04d-%02d-01", year, first_month + 3);
	return 0;
}

static int cmp_org(const void *a, const void *b)
{
	return strcmp(((const struct report_org *)a)->organisation,
	              ((const struct report_org *)b)->organisation);
}

const struct report_org *report_data_org(const struct report_data *d, const char *name)
{
	struct report_org key;
	snprintf(key.organisation, sizeof(key.organisation), "%s", name);
	return bsearch(&key, d->orgs, d->n_orgs, sizeof(*d->orgs), cmp_org);
}

/* The organisation named in row i, column 0, added when new. NULL when out of memory. */
static struct report_org *org_of(struct report_data *d, const PGresult *res, int i, size_t *cap)
{
	const char *name = PQgetvalue(res, i, 0);
	for (size_t k = 0; k < d->n_orgs; k++) {
		if (strcmp(d->orgs[k].organisation, name) == 0)
			return &d->orgs[k];
	}
	if (d->n_orgs == *cap) {
		size_t c = *cap != 0 ? *cap * 2 : 16;
		struct report_org *p = realloc(d->orgs, c * sizeof(*p));
		if (p == NULL)
			return NULL;
		d->orgs = p;
		*cap = c;
	}
	struct report_org *o = &d->orgs[d->n_orgs++];
	memset(o, 0, sizeof(*o));
	snprintf(o->organisation, sizeof(o->organisation), "%s", name);
	return o;
}

static long col_long(const PGresult *res, int i, int c)
{
	return PQgetisnull(res, i, c) ? 0 : strtol(PQgetvalue(res, i, c), NULL, 10);
}

/* Parses "1,2,3" into a new array of doubles. Returns 0 or -ENOMEM. */
static int parse_list(const char *text, double **out, size_t *n)
{
	size_t count = text[0] != '\0' ? 1 : 0;
	for (const char *p = text; *p != '\0'; p++)
		count += *p == ',';
	*out = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	double *v = malloc(count * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	const char *p = text;
	for (size_t k = 0; k < count; k++) {
		char *end;
		v[k] = strtod(p, &end);
		p = *end == ',' ? end + 1 : end;
	}
	*out = v;
	*n = count;
	return 0;
}

static int theme_index(struct report_data *d, const char *theme, size_t *cap)
{
	for (size_t k = 0; k < d->n_themes; k++) {
		if (strcmp(d->themes[k], theme) == 0)
			return (int)k;
	}
	if (d->n_themes == *cap) {
		size_t c = *cap != 0 ? *cap * 2 : 16;
		char(*p)[33] = realloc(d->themes, c * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		d->themes = p;
		*cap = c;
	}
	snprintf(d->themes[d->n_themes], sizeof(d->themes[0]), "%s", theme);
	return (int)d->n_themes++;
}

static int add_pair(struct report_pairs *p, double before, double after, int mode, int theme)
{
	if (p->n == p->cap) {
		size_t c = p->cap != 0 ? p->cap * 2 : 64;
		double *b = realloc(p->before, c * sizeof(*b));
		if (b != NULL)
			p->before = b;
		double *a = realloc(p->after, c * sizeof(*a));
		if (a != NULL)
			p->after = a;
		int *m = realloc(p->mode, c * sizeof(*m));
		if (m != NULL)
			p->mode = m;
		int *t = realloc(p->theme, c * sizeof(*t));
		if (t != NULL)
			p->theme = t;
		if (b == NULL || a == NULL || m == NULL || t == NULL)
			return -ENOMEM;
		p->cap = c;
	}
	p->before[p->n] = before;
	p->after[p->n] = after;
	p->mode[p->n] = mode;
	p->theme[p->n] = theme;
	p->n++;
	return 0;
}

enum query {
	Q_REACH,
	Q_POPULATION,
	Q_MODES,
	Q_ALERTS,
	Q_TRAJECTORIES,
	Q_PAIRS,
	Q_UPLOADS,
	Q_INCOMPLETE,
	N_QUERIES
};

/* Stores row i of query q into its organisation. */
static int take_row(struct report_data *d, enum query q, const PGresult *res, int i,
                    size_t *org_cap, size_t *theme_cap)
{
	struct report_org *o = org_of(d, res, i, org_cap);
	if (o == NULL)
		return -ENOMEM;
	switch (q) {
	case Q_REACH:
		o->persons = col_long(res, i, 1);
		o->collective_persons = col_long(res, i, 2);
		return 0;
	case Q_POPULATION:
		o->population = strtod(PQgetvalue(res, i, 1), NULL);
		return 0;
	case Q_MODES:
		o->with_contacts = col_long(res, i, 1);
		o->blended = col_long(res, i, 2);
		o->collective = col_long(res, i, 3);
		o->online = col_long(res, i, 4);
		return 0;
	case Q_ALERTS:
		o->alerts = col_long(res, i, 1);
		o->initiatives = col_long(res, i, 2);
		return 0;
	case Q_TRAJECTORIES:
		o->closed = col_long(res, i, 3);
		o->closed_year_before = col_long(res, i, 4);
		o->reregistered = col_long(res, i, 5);
		if (parse_list(PQgetvalue(res, i, 1), &o->waits, &o->n_waits) < 0 ||
		    parse_list(PQgetvalue(res, i, 2), &o->durations, &o->n_durations) < 0)
			return -ENOMEM;
		return 0;
	case Q_PAIRS: {
		int theme = theme_index(d, PQgetvalue(res, i, 1), theme_cap);
		const char *mode = PQgetvalue(res, i, 2);
		int m = MODE_NONE;
		for (int k = 0; k < N_MODES; k++) {
			if (strcmp(mode, mode_names[k]) == 0)
				m = k;
		}
		o->closed_with_pair = col_long(res, i, 5);
		return theme < 0 ? theme
		                 : add_pair(&o->pairs, strtod(PQgetvalue(res, i, 3), NULL),
		                            strtod(PQgetvalue(res, i, 4), NULL), m, theme);
	}
	case Q_UPLOADS:
		o->received = col_long(res, i, 1);
		o->rejected = col_long(res, i, 2);
		return 0;
	case Q_INCOMPLETE:
		o->care_signals = col_long(res, i, 1);
		o->incomplete = col_long(res, i, 2);
		return 0;
	default:
		return 0;
	}
}

/* Themes sorted, with the pairs' indices remapped. */
static void sort_themes(struct report_data *d)
{
	size_t n = d->n_themes;
	int map[256];
	if (n == 0 || n > 256)
		return;
	for (size_t i = 0; i < n; i++)
		map[i] = (int)i;
	/* Insertion sort of indices by name; n is the number of themes (a dozen). */
	int order[256];
	for (size_t i = 0; i < n; i++)
		order[i] = (int)i;
	for (size_t i = 1; i < n; i++) {
		int v = order[i];
		size_t j = i;
		while (j > 0 && strcmp(d->themes[order[j - 1]], d->themes[v]) > 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	char(*sorted)[33] = malloc((n != 0 ? n : 1) * sizeof(*sorted));
	if (sorted == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		memcpy(sorted[i], d->themes[order[i]], sizeof(sorted[i]));
		map[order[i]] = (int)i;
	}
	memcpy(d->themes, sorted, n * sizeof(*sorted));
	free(sorted);
	for (size_t k = 0; k < d->n_orgs; k++) {
		struct report_pairs *p = &d->orgs[k].pairs;
		for (size_t i = 0; i < p->n; i++)
			p->theme[i] = map[p->theme[i]];
	}
}

int report_data_load(PGconn *conn, const struct report_period *period, const char *instrument,
                     struct report_data *out, struct err *e)
{
	static const char *const sql[N_QUERIES] = {sql_reach,   sql_population,   sql_modes,
	                                           sql_alerts,  sql_trajectories, sql_pairs,
	                                           sql_uploads, sql_incomplete};
	memset(out, 0, sizeof(*out));
	out->period = *period;
	snprintf(out->instrument, sizeof(out->instrument), "%s", instrument);
	const char *iparams[] = {instrument};
	PGresult *res = PQexecParams(conn, sql_instrument, 1, NULL, iparams, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		err_set(e, 503, "database_unavailable", "could not read the report: %s",
		        PQresultErrorMessage(res));
		PQclear(res);
		return -EIO;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		return err_set(e, 422, "invalid", "unknown instrument \"%s\"", instrument);
	}
	out->reliability = strtod(PQgetvalue(res, 0, 0), NULL);
	out->higher_is_better = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	size_t org_cap = 0, theme_cap = 0;
	const char *params[] = {period->start, period->end, instrument};
	for (int q = 0; q < N_QUERIES; q++) {
		/* Without statistics the planner nested-loops the two aggregates of the pairs
		 * (quadratic over a year); hash joins suit every report query. */
		if (q == Q_PAIRS)
			PQclear(PQexec(conn, "SET enable_nestloop = off"));
		res = PQexecParams(conn, sql[q], q == Q_PAIRS ? 3 : 2, NULL, params, NULL, NULL, 0);
		if (q == Q_PAIRS)
			PQclear(PQexec(conn, "RESET enable_nestloop"));
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			err_set(e, 503, "database_unavailable", "could not read the report: %s",
			        PQresultErrorMessage(res));
			PQclear(res);
			report_data_free(out);
			return -EIO;
		}
		for (int i = 0; i < PQntuples(res); i++) {
			if (take_row(out, q, res, i, &org_cap, &theme_cap) < 0) {
				PQclear(res);
				report_data_free(out);
				err_set(e, 500, "internal", "out of memory reading the report");
				return -ENOMEM;
			}
		}
		PQclear(res);
	}
	qsort(out->orgs, out->n_orgs, sizeof(*out->orgs), cmp_org);
	sort_themes(out);
	return 0;
}

void report_data_free(struct report_data *d)
{
	for (size_t k = 0; k < d->n_orgs; k++) {
		struct report_org *o = &d->orgs[k];
		free(o->waits);
		free(o->durations);
		free(o->pairs.before);
		free(o->pairs.after);
		free(o->pairs.mode);
		free(o->pairs.theme);
	}
	free(d->orgs);
	free(d->themes);
	memset(d, 0, sizeof(*d));
}
