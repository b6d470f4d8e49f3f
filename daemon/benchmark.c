/* Benchmark indicators and effect tables with disclosure control (see benchmark.h). Every
 * indicator is computed for every organisation the same way (the own figure and the figures the
 * peer median is taken over), and each count is rounded under a key naming the organisation and
 * the figure, so the same count is rounded the same way wherever it appears. */
#include "benchmark.h"

#include "disclosure.h"
#include "effect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind {
	K_RATE,     /* persons per 1,000 inhabitants */
	K_PERCENT,  /* 100 * part / whole, both counts */
	K_PLAIN,    /* a count of alerts or initiatives: not about persons */
	K_QUANTILE, /* of waiting times or durations, in weeks */
	K_MEAN,     /* mean change on the instrument */
	K_RECORDS,  /* 100 * part / whole of uploaded records: not persons, not rounded */
};

enum ind {
	I_REACH,
	I_COLLECTIVE_REACH,
	I_BLENDED,
	I_COLLECTIVE,
	I_ONLINE,
	I_ALERTS,
	I_INITIATIVES,
	I_WAIT_MEDIAN,
	I_WAIT_P90,
	I_DURATION_MEDIAN,
	I_DURATION_P90,
	I_WITH_PAIR,
	I_OUTCOME_CHANGE,
	I_IMPROVED,
	I_REREGISTERED,
	I_REJECTED,
	I_INCOMPLETE,
	N_IND,
};

struct ind_def {
	const char *id, *label, *unit;
	enum kind kind;
};

static const struct ind_def defs[N_IND] = {
    {"reach_per_1000", "Bereik per 1.000 inwoners", "per 1.000", K_RATE},
    {"collective_reach_per_1000", "Collectief bereik per 1.000 inwoners", "per 1.000", K_RATE},
    {"blended_pct", "Trajecten met blended hulp", "%", K_PERCENT},
    {"collective_pct", "Trajecten met groepsaanbod", "%", K_PERCENT},
    {"online_pct", "Trajecten met online hulp", "%", K_PERCENT},
    {"alerts_raised", "Signalen van terugkerende vragen", "aantal", K_PLAIN},
    {"initiatives_after_alerts", "Initiatieven gestart na een signaal", "aantal", K_PLAIN},
    {"waiting_median_weeks", "Wachttijd tot eerste contact, mediaan", "weken", K_QUANTILE},
    {"waiting_p90_weeks", "Wachttijd tot eerste contact, P90", "weken", K_QUANTILE},
    {"duration_median_weeks", "Duur van afgesloten trajecten, mediaan", "weken", K_QUANTILE},
    {"duration_p90_weeks", "Duur van afgesloten trajecten, P90", "weken", K_QUANTILE},
    {"with_measurement_pct", "Afgesloten trajecten met voor- en nameting", "%", K_PERCENT},
    {"outcome_change", "Gemiddelde verandering (nameting - voormeting)", "punten", K_MEAN},
    {"reliably_improved_pct", "Betrouwbaar verbeterd", "%", K_PERCENT},
    {"reregistered_pct", "Opnieuw aangemeld binnen 12 maanden", "%", K_PERCENT},
    {"rejected_pct", "Afgewezen records bij aanlevering", "%", K_RECORDS},
    {"incomplete_pct", "Contacten en metingen zonder traject", "%", K_RECORDS},
};

/* One computed figure, after disclosure control. */
struct figure {
	double value;
	enum dc_reason reason;
	bool indicative;
	double denominator; /* what the figure is a share of (funnel plots, peer dominance) */
};

static struct effect_params params_of(const struct report_data *d)
{
	struct effect_params p;
	effect_params_default(&p);
	p.reliability = d->reliability;
	p.higher_is_better = d->higher_is_better;
	return p;
}

/* The key of the count of all before/after pairs of an organisation. */
#define PAIRS_KEY "pairs"

/* A published count under key "org/name". */
static enum dc_reason count(const char *org, const char *name, long n, uint64_t seed, long *out)
{
	char key[320];
	snprintf(key, sizeof(key), "%s/%s", org, name);
	return dc_count(n, seed, key, out);
}

/* 100 * part / whole from the published counts named `part_key` and `whole_key`: keys name
 * what is counted, not the indicator, so a count that several figures share (trajectories
 * with contacts, pairs) is rounded once, the same way in each. */
static struct figure percent(const char *org, const char *part_key, long part,
                             const char *whole_key, long whole, uint64_t seed)
{
	struct figure f = {NAN, DC_SHOWN, false, 0};
	long p, w;
	enum dc_reason rp = count(org, part_key, part, seed, &p);
	enum dc_reason rw = count(org, whole_key, whole, seed, &w);
	f.reason = dc_percent(p, rp, w, rw, &f.value);
	f.denominator = rw == DC_SHOWN ? (double)w : 0;
	return f;
}

/* A share of records (not persons): only the minimum denominator applies. */
static struct figure records(long part, long whole)
{
	struct figure f = {NAN, DC_SHOWN, false, (double)whole};
	f.reason = dc_percent(part, DC_SHOWN, whole, DC_SHOWN, &f.value);
	return f;
}

static struct figure rate(const char *org, const char *key, long persons, double population,
                          uint64_t seed)
{
	struct figure f = {NAN, DC_SHOWN, false, population};
	long p;
	enum dc_reason r = count(org, key, persons, seed, &p);
	f.reason = dc_rate(p, r, population, 1000, &f.value);
	return f;
}

/* A quantile needs as many values as a mean; a high one more: with R's type 7 the 90th
 * percentile of fewer than 12 values is drawn from the largest, and the brief allows no
 * maximum. P90 therefore needs 20. */
#define QUANTILE_P90_MIN_N 20

static struct figure quantile(const double *v, size_t n, double q)
{
	struct figure f = {NAN, DC_SHOWN, false, (double)n};
	f.reason = dc_mean((long)n, &f.indicative);
	if (f.reason == DC_SHOWN && q > 0.5 && n < QUANTILE_P90_MIN_N)
		f.reason = DC_SMALL_N;
	if (f.reason == DC_SHOWN) {
		double *scratch = malloc(n * sizeof(*scratch));
		f.value = scratch != NULL ? effect_quantile(v, n, q, scratch) : NAN;
		free(scratch);
	}
	return f;
}

static struct figure compute(const struct report_data *d, const struct report_org *o, enum ind i,
                             uint64_t seed)
{
	const char *org = o->organisation;
	struct figure f = {NAN, DC_SHOWN, false, 0};
	struct effect_params ep = params_of(d);
	struct effect_result er;
	switch (i) {
	case I_REACH:
		return rate(org, "persons", o->persons, o->population, seed);
	case I_COLLECTIVE_REACH:
		return rate(org, "collective_persons", o->collective_persons, o->population, seed);
	case I_BLENDED:
		return percent(org, "blended", o->blended, "with_contacts", o->with_contacts, seed);
	case I_COLLECTIVE:
		return percent(org, "collective", o->collective, "with_contacts", o->with_contacts,
		               seed);
	case I_ONLINE:
		return percent(org, "online", o->online, "with_contacts", o->with_contacts, seed);
	case I_ALERTS:
		f.value = (double)o->alerts;
		return f;
	case I_INITIATIVES:
		f.value = (double)o->initiatives;
		return f;
	case I_WAIT_MEDIAN:
		return quantile(o->waits, o->n_waits, 0.5);
	case I_WAIT_P90:
		return quantile(o->waits, o->n_waits, 0.9);
	case I_DURATION_MEDIAN:
		return quantile(o->durations, o->n_durations, 0.5);
	case I_DURATION_P90:
		return quantile(o->durations, o->n_durations, 0.9);
	case I_WITH_PAIR:
		return percent(org, "closed_with_pair", o->closed_with_pair, "closed", o->closed,
		               seed);
	case I_OUTCOME_CHANGE:
		f.denominator = (double)o->pairs.n;
		f.reason = dc_mean((long)o->pairs.n, &f.indicative);
		f.value = 0;
		for (size_t k = 0; k < o->pairs.n; k++)
			f.value += (o->pairs.after[k] - o->pairs.before[k]) / (double)o->pairs.n;
		return f;
	case I_IMPROVED:
		if (o->pairs.n < 2 ||
		    effect_paired(o->pairs.before, o->pairs.after, o->pairs.n, &ep, &er) < 0)
			er.n_improved = 0;
		{
			char whole[64], part[80];
			snprintf(whole, sizeof(whole), PAIRS_KEY "/%s", d->instrument);
			snprintf(part, sizeof(part), "%s/improved", whole);
			return percent(org, part, (long)er.n_improved, whole, (long)o->pairs.n,
			               seed);
		}
	case I_REREGISTERED:
		return percent(org, "reregistered", o->reregistered, "closed_year_before",
		               o->closed_year_before, seed);
	case I_REJECTED:
		return records(o->rejected, o->received);
	case I_INCOMPLETE:
		return records(o->incomplete, o->care_signals);
	default:
		return f;
	}
}

/* A number rounded to `decimals`, or null when it is not finite (NaN: not defined). */
static json_t *jnum(double v, int decimals)
{
	double scale = pow(10, decimals);
	return isfinite(v) ? json_real(round(v * scale) / scale) : json_null();
}

/* {"value", "lo", "hi"} */
static json_t *interval(double v, double lo, double hi)
{
	json_t *o = json_object();
	json_object_set_new(o, "value", jnum(v, 2));
	json_object_set_new(o, "lo", jnum(lo, 2));
	json_object_set_new(o, "hi", jnum(hi, 2));
	return o;
}

/* {"value", "status", "note"?, "indicative"?} */
static json_t *figure_json(double value, enum dc_reason r, bool indicative, int decimals)
{
	json_t *o = json_object();
	if (r == DC_SHOWN && isfinite(value)) {
		json_object_set_new(o, "value", jnum(value, decimals));
		if (indicative)
			json_object_set_new(o, "indicative", json_true());
	} else {
		json_object_set_new(o, "value", json_null());
		if (r == DC_SHOWN)
			r = DC_SMALL_N;
	}
	json_object_set_new(o, "status", json_string(dc_reason_code(r)));
	if (r != DC_SHOWN)
		json_object_set_new(o, "note", json_string(dc_reason_nl(r)));
	return o;
}

/* Median of the other organisations' shown figures, if enough contribute and none
 * dominates. */
static json_t *peer_json(const struct report_data *d, size_t own, enum ind i, uint64_t seed,
                         int decimals)
{
	double *values = malloc((d->n_orgs + 1) * sizeof(*values));
	double *base = malloc((d->n_orgs + 1) * sizeof(*base));
	double *scratch = malloc((d->n_orgs + 1) * sizeof(*scratch));
	size_t n = 0;
	json_t *o = NULL;
	if (values != NULL && base != NULL && scratch != NULL) {
		for (size_t k = 0; k < d->n_orgs; k++) {
			if (k == own)
				continue;
			struct figure f = compute(d, &d->orgs[k], i, seed);
			if (f.reason == DC_SHOWN && isfinite(f.value)) {
				values[n] = f.value;
				base[n] = defs[i].kind == K_PLAIN ? 1 : f.denominator;
				n++;
			}
		}
		enum dc_reason r = dc_peer(base, n);
		double median = r == DC_SHOWN ? effect_quantile(values, n, 0.5, scratch) : NAN;
		o = figure_json(median, r, false, decimals);
		if (r == DC_SHOWN)
			json_object_set_new(o, "organisations", json_integer((json_int_t)n));
	}
	free(values);
	free(base);
	free(scratch);
	return o;
}

static json_t *notes_json(void)
{
	json_t *notes = json_object();
	for (int r = DC_SECRET; r <= DC_DEPENDS; r++)
		json_object_set_new(notes, dc_reason_code(r), json_string(dc_reason_nl(r)));
	json_object_set_new(notes, "rounding",
	                    json_string("Aantallen personen zijn willekeurig afgerond op een "
	                                "veelvoud van 5; percentages en cijfers per 1.000 "
	                                "inwoners zijn berekend uit afgeronde aantallen."));
	json_object_set_new(notes, "indicative",
	                    json_string("Indicatief: gebaseerd op minder dan 30 personen."));
	return notes;
}

/* The organisation `org` in d and its index (d->n_orgs when it has no data: then `empty`,
 * filled with its name and no figures). */
static const struct report_org *own_org(const struct report_data *d, const char *org,
                                        struct report_org *empty, size_t *own)
{
	const struct report_org *o = report_data_org(d, org);
	*own = o != NULL ? (size_t)(o - d->orgs) : d->n_orgs;
	if (o != NULL)
		return o;
	memset(empty, 0, sizeof(*empty));
	snprintf(empty->organisation, sizeof(empty->organisation), "%s", org);
	return empty;
}

json_t *benchmark_build(const struct report_data *d, const char *org, uint64_t seed)
{
	struct report_org empty;
	size_t own;
	const struct report_org *o = own_org(d, org, &empty, &own);
	json_t *list = json_array();
	for (int i = 0; i < N_IND; i++) {
		int decimals = defs[i].kind == K_PLAIN ? 0 : 1;
		struct figure f = compute(d, o, (enum ind)i, seed);
		json_t *own_json = figure_json(f.value, f.reason, f.indicative, decimals);
		json_t *item = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", defs[i].id, "label",
		                         defs[i].label, "unit", defs[i].unit, "own", own_json,
		                         "peer", peer_json(d, own, (enum ind)i, seed, decimals));
		if (item == NULL)
			continue;
		if ((defs[i].kind == K_RATE || defs[i].kind == K_PERCENT ||
		     defs[i].kind == K_RECORDS) &&
		    f.reason == DC_SHOWN)
			json_object_set_new(item, "funnel",
			                    json_pack("{s:f, s:i}", "denominator", f.denominator,
			                              "scale",
			                              defs[i].kind == K_RATE ? 1000 : 100));
		json_array_append_new(list, item);
	}
	return json_pack("{s:s, s:s, s:s, s:i, s:o, s:o}", "report", "benchmark", "period",
	                 d->period.label, "organisation", org, "organisations", (int)d->n_orgs,
	                 "indicators", list, "notes", notes_json());
}

/* --- effects ------------------------------------------------------------------------------- */

#define ALL_MODES N_MODES /* the column of all modes */

/* The pairs of one cell (theme t or all when t < 0, mode m or all) from one organisation. */
static size_t select_pairs(const struct report_org *o, int t, int m, double *b, double *a,
                           int *mode)
{
	size_t n = 0;
	const struct report_pairs *p = &o->pairs;
	for (size_t i = 0; i < p->n; i++) {
		if ((t >= 0 && p->theme[i] != t) || (m != ALL_MODES && p->mode[i] != m))
			continue;
		b[n] = p->before[i];
		a[n] = p->after[i];
		if (mode != NULL)
			mode[n] = p->mode[i];
		n++;
	}
	return n;
}

/* The paired statistics of a cell that may be shown. */
static json_t *effect_json(const double *b, const double *a, size_t n,
                           const struct effect_params *ep, const char *org, const char *key,
                           uint64_t seed)
{
	struct effect_result r;
	if (effect_paired(b, a, n, ep, &r) < 0)
		return json_pack("{s:s}", "status", dc_reason_code(DC_SMALL_N));
	char name[160];
	long imp, worse, whole;
	enum dc_reason rw = count(org, key, (long)n, seed, &whole);
	snprintf(name, sizeof(name), "%s/improved", key);
	enum dc_reason ri = count(org, name, (long)r.n_improved, seed, &imp);
	snprintf(name, sizeof(name), "%s/worse", key);
	enum dc_reason rs = count(org, name, (long)r.n_worse, seed, &worse);
	double pi = NAN, ps = NAN;
	enum dc_reason rpi = dc_percent(imp, ri, whole, rw, &pi);
	enum dc_reason rps = dc_percent(worse, rs, whole, rw, &ps);
	json_t *o = json_object();
	json_object_set_new(o, "status", json_string("shown"));
	json_object_set_new(o, "n", rw == DC_SHOWN ? json_integer(whole) : json_null());
	/* Indicative by the published n: the true one must not show through. */
	if (rw == DC_SHOWN && whole < DC_INDICATIVE_N)
		json_object_set_new(o, "indicative", json_true());
	json_object_set_new(o, "mean_before", figure_json(r.mean_before, DC_SHOWN, false, 2));
	json_object_set_new(o, "mean_after", figure_json(r.mean_after, DC_SHOWN, false, 2));
	json_object_set_new(o, "mean_change", interval(r.mean_change, r.change_lo, r.change_hi));
	json_object_set_new(o, "d_av", interval(r.d_av, r.d_av_lo, r.d_av_hi));
	json_object_set_new(o, "d_z", interval(r.d_z, r.d_z_lo, r.d_z_hi));
	json_object_set_new(o, "reliably_improved_pct", figure_json(pi, rpi, false, 1));
	json_object_set_new(o, "reliably_worse_pct", figure_json(ps, rps, false, 1));
	return o;
}

/* The pooled pairs of the other organisations for one cell, if enough contribute. */
static json_t *peer_effect_json(const struct report_data *d, size_t own, int t, int m,
                                const struct effect_params *ep, double *b, double *a)
{
	size_t n = 0, k_n = 0;
	double *contrib = malloc((d->n_orgs + 1) * sizeof(*contrib));
	if (contrib == NULL)
		return NULL;
	for (size_t k = 0; k < d->n_orgs; k++) {
		if (k == own)
			continue;
		size_t got = select_pairs(&d->orgs[k], t, m, b + n, a + n, NULL);
		if (got > 0)
			contrib[k_n++] = (double)got;
		n += got;
	}
	enum dc_reason r = dc_peer(contrib, k_n);
	free(contrib);
	bool indicative = false;
	if (r == DC_SHOWN)
		r = dc_mean((long)n, &indicative);
	struct effect_result er;
	if (r == DC_SHOWN && effect_paired(b, a, n, ep, &er) < 0)
		r = DC_SMALL_N;
	json_t *o = figure_json(r == DC_SHOWN ? er.mean_change : NAN, r, indicative, 2);
	if (r == DC_SHOWN)
		json_object_set_new(o, "d_av", jnum(er.d_av, 2));
	/* How many others have pairs here is itself a small count when not shown. */
	if (r == DC_SHOWN)
		json_object_set_new(o, "organisations", json_integer((json_int_t)k_n));
	return o;
}

/* The baseline-adjusted comparison of the modes shown for theme t. */
static json_t *comparison_json(const struct report_org *o, int t, const enum dc_reason *reason,
                               size_t n_cols, double *b, double *a, int *mode, double level)
{
	int use[N_MODES], n_use = 0, group_of[N_MODES];
	/* The reference is individual help when it is shown. */
	for (int m = 0; m < MODE_NONE; m++) {
		group_of[m] = -1;
		if (reason[m] == DC_SHOWN)
			use[n_use++] = m;
	}
	(void)n_cols;
	if (n_use < 2)
		return NULL;
	for (int g = 0; g < n_use; g++)
		group_of[use[g]] = g;
	size_t n = 0, all = select_pairs(o, t, ALL_MODES, b, a, mode);
	int *group = malloc((all + 1) * sizeof(*group));
	struct effect_mode res[N_MODES];
	if (group == NULL)
		return NULL;
	for (size_t i = 0; i < all; i++) {
		if (mode[i] >= MODE_NONE || group_of[mode[i]] < 0)
			continue;
		b[n] = b[i];
		a[n] = a[i];
		group[n] = group_of[mode[i]];
		n++;
	}
	int r = effect_compare_modes(b, a, group, n, n_use, level, res, NULL);
	free(group);
	if (r < 0)
		return NULL;
	json_t *modes = json_array();
	for (int g = 0; g < n_use; g++) {
		json_t *m = json_object();
		json_object_set_new(m, "mode",
		                    json_string(report_mode_name((enum report_mode)use[g])));
		json_object_set_new(m, "reference", json_boolean(g == 0));
		json_object_set_new(m, "adjusted_change", jnum(res[g].adjusted, 2));
		json_object_set_new(m, "lo", jnum(res[g].adjusted_lo, 2));
		json_object_set_new(m, "hi", jnum(res[g].adjusted_hi, 2));
		json_object_set_new(m, "difference", jnum(res[g].diff, 2));
		json_object_set_new(m, "difference_lo", jnum(res[g].diff_lo, 2));
		json_object_set_new(m, "difference_hi", jnum(res[g].diff_hi, 2));
		json_object_set_new(m, "p", g == 0 ? json_null() : jnum(res[g].diff_p, 3));
		json_array_append_new(modes, m);
	}
	return json_pack("{s:s, s:o}", "label",
	                 "Vergelijking, geen bewijs van effect: bewoners kiezen of krijgen een "
	                 "vorm van hulp niet door loting. Gecorrigeerd voor de voormeting.",
	                 "modes", modes);
}

json_t *effects_build(const struct report_data *d, const char *org, uint64_t seed)
{
	struct report_org empty;
	size_t own;
	const struct report_org *o = own_org(d, org, &empty, &own);
	size_t total_pairs = 0;
	for (size_t k = 0; k < d->n_orgs; k++)
		total_pairs += d->orgs[k].pairs.n;
	/* The table: rows the themes and "all" (last), columns the modes and "all" (last). */
	size_t rows = d->n_themes + 1, cols = N_MODES + 1, cells = rows * cols;
	enum dc_reason *reason = calloc(cells, sizeof(*reason));
	long *value = calloc(cells, sizeof(*value));
	size_t *members = calloc(cells * 2, sizeof(*members));
	struct dc_group *groups = calloc(rows + cols, sizeof(*groups));
	double *b = malloc((total_pairs + 1) * sizeof(*b)),
	       *a = malloc((total_pairs + 1) * sizeof(*a));
	int *mode = malloc((total_pairs + 1) * sizeof(*mode));
	json_t *effects = json_array(), *comparisons = json_array(), *out = NULL;
	if (reason == NULL || value == NULL || members == NULL || groups == NULL || b == NULL ||
	    a == NULL || mode == NULL || effects == NULL || comparisons == NULL)
		goto done;
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			int t = r + 1 == rows ? -1 : (int)r, m = (int)c;
			size_t n = select_pairs(o, t, m, b, a, NULL);
			bool indicative;
			value[r * cols + c] = (long)n;
			reason[r * cols + c] =
			    n <= DC_SECRET_MAX ? DC_SECRET : dc_mean((long)n, &indicative);
		}
	}
	/* Additive groups: each row's modes add up to its "all"; each column's themes too. */
	size_t used = 0;
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c + 1 < cols; c++)
			members[used + c] = r * cols + c;
		groups[r] = (struct dc_group){members + used, cols - 1, r * cols + cols - 1};
		used += cols - 1;
	}
	for (size_t c = 0; c < cols; c++) {
		for (size_t r = 0; r + 1 < rows; r++)
			members[used + r] = r * cols + c;
		groups[rows + c] =
		    (struct dc_group){members + used, rows - 1, (rows - 1) * cols + c};
		used += rows - 1;
	}
	/* Counts, then the figures of the hidden cells taken together, until both hold. */
	while (dc_secondary(reason, value, cells, groups, rows + cols) +
	           dc_secondary_sums(reason, value, cells, groups, rows + cols, DC_MIN_N) >
	       0) {
	}
	struct effect_params ep = params_of(d);
	for (size_t r = 0; r < rows; r++) {
		int t = r + 1 == rows ? -1 : (int)r;
		const char *theme = t < 0 ? "ALL" : d->themes[t];
		for (size_t c = 0; c < cols; c++) {
			int m = (int)c;
			const char *mname =
			    m == ALL_MODES ? "all" : report_mode_name((enum report_mode)m);
			/* The count of all pairs is the benchmark's too: one key, one rounding. */
			char key[96];
			snprintf(key, sizeof(key), PAIRS_KEY "/%s", d->instrument);
			if (t >= 0 || m != ALL_MODES)
				snprintf(key, sizeof(key), PAIRS_KEY "/%s/%s/%s", d->instrument,
				         theme, mname);
			size_t n = select_pairs(o, t, m, b, a, NULL);
			json_t *cell;
			if (reason[r * cols + c] == DC_SHOWN) {
				cell = effect_json(b, a, n, &ep, org, key, seed);
			} else {
				cell = json_pack("{s:s, s:s, s:n}", "status",
				                 dc_reason_code(reason[r * cols + c]), "note",
				                 dc_reason_nl(reason[r * cols + c]), "n");
			}
			json_object_set_new(cell, "theme", json_string(theme));
			json_object_set_new(cell, "mode", json_string(mname));
			json_object_set_new(cell, "peer",
			                    peer_effect_json(d, own, t, m, &ep, b, a));
			json_array_append_new(effects, cell);
		}
		json_t *cmp = comparison_json(o, t, reason + r * cols, cols, b, a, mode, ep.level);
		if (cmp != NULL) {
			json_object_set_new(cmp, "theme", json_string(theme));
			json_array_append_new(comparisons, cmp);
		}
	}
	out = json_pack("{s:s, s:s, s:s, s:s, s:f, s:O, s:O, s:o}", "report", "effects", "period",
	                d->period.label, "organisation", org, "instrument", d->instrument,
	                "reliability", d->reliability, "effects", effects, "comparisons",
	                comparisons, "notes", notes_json());
done:
	json_decref(effects);
	json_decref(comparisons);
	free(reason);
	free(value);
	free(members);
	free(groups);
	free(b);
	free(a);
	free(mode);
	return out;
}
