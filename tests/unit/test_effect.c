/* Unit tests for analyzers/effect: every row of the golden outputs of tests/golden/effect.R
 * (t.test, lm/predict/confint/summary, quantile type 7 and effectsize, on the data sets of
 * tests/data/golden/effect_data.tsv and effect_durations.tsv), compared to 1e-10 relative, plus
 * hand-worked cases, the zero-variance and n = 2 edges, the strict RCI threshold and the -EINVAL
 * paths. */
#include "effect.h"
#include "tsv.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gsl/gsl_errno.h>

#define DATA_TSV      WR_TEST_DATA "/golden/effect_data.tsv"
#define PAIRED_TSV    WR_TEST_DATA "/golden/effect_paired.tsv"
#define MODES_TSV     WR_TEST_DATA "/golden/effect_modes.tsv"
#define DURATIONS_TSV WR_TEST_DATA "/golden/effect_durations.tsv"
#define QUANTILE_TSV  WR_TEST_DATA "/golden/effect_quantile.tsv"

/* Golden tolerance: 1e-10 relative, or 1e-13 absolute for values that are 0 in exact
 * arithmetic (an intercept of -1.8e-16 in R, say). */
#define REL_TOL 1e-10
#define ABS_TOL 1e-13

/* R's qt(0.975, 2), qt(0.975, 3), qt(0.975, 1) and qnorm(0.975), 17 digits. */
#define T975_2 4.3026527297494619
#define T975_3 3.1824463052837078
#define T975_1 12.706204736174694
#define Z975   1.959963984540054

#define MAX_SETS   32
#define MAX_FIELDS 40
#define LINE_MAX_  4096

/* One data set of effect_data.tsv (or effect_durations.tsv, in `before`). */
struct dataset {
	char name[64];
	double *before, *after;
	int *group;
	size_t n, cap;
};

struct dataset_list {
	struct dataset s[MAX_SETS];
	size_t n;
};

/* A TSV file with a header row; cells are looked up by column name. */
struct table {
	FILE *f;
	const char *path;
	char head[LINE_MAX_];
	char *col[MAX_FIELDS];
	size_t n_cols;
	char line[LINE_MAX_];
	char *field[MAX_FIELDS];
};

/* Largest differences seen against the golden values. */
struct diff {
	double worst_rel; /* over values of magnitude >= 1e-6 */
	double worst_abs; /* over smaller values */
	size_t compared, both_nan;
};

static void table_open(struct table *t, const char *path)
{
	t->path = path;
	t->f = fopen(path, "r");
	if (t->f == NULL)
		fail_msg("cannot open %s", path);
	if (fgets(t->head, sizeof(t->head), t->f) == NULL)
		fail_msg("%s is empty", path);
	t->n_cols = tsv_split(t->head, t->col, MAX_FIELDS);
}

/* Reads the next row; false at the end of the file. */
static bool table_next(struct table *t)
{
	if (fgets(t->line, sizeof(t->line), t->f) == NULL)
		return false;
	if (tsv_split(t->line, t->field, MAX_FIELDS) != t->n_cols)
		fail_msg("%s: row with a wrong number of fields", t->path);
	return true;
}

static void table_close(struct table *t)
{
	fclose(t->f);
	t->f = NULL;
}

static const char *cell(const struct table *t, const char *name)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (strcmp(t->col[i], name) == 0)
			return t->field[i];
	fail_msg("%s: no column \"%s\"", t->path, name);
	return NULL;
}

static double num(const struct table *t, const char *name)
{
	return tsv_number(cell(t, name));
}

static struct dataset *dataset_find(struct dataset_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->s[i].name, name) == 0)
			return &l->s[i];
	return NULL;
}

/* Reads effect_data.tsv (set, i, before, after, group) or, when `values_only`,
 * effect_durations.tsv (set, i, value); i runs 1, 2, ... per set. */
static void datasets_load(struct dataset_list *l, const char *path, bool values_only)
{
	struct table t;
	l->n = 0;
	table_open(&t, path);
	while (table_next(&t)) {
		const char *name = cell(&t, "set");
		struct dataset *s = dataset_find(l, name);
		if (s == NULL) {
			assert_true(l->n < MAX_SETS);
			s = &l->s[l->n++];
			memset(s, 0, sizeof(*s));
			assert_true(strlen(name) < sizeof(s->name));
			strcpy(s->name, name);
		}
		assert_true(num(&t, "i") == (double)(s->n + 1));
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			s->before = realloc(s->before, s->cap * sizeof(*s->before));
			s->after = realloc(s->after, s->cap * sizeof(*s->after));
			s->group = realloc(s->group, s->cap * sizeof(*s->group));
			assert_non_null(s->before);
			assert_non_null(s->after);
			assert_non_null(s->group);
		}
		if (values_only) {
			s->before[s->n] = num(&t, "value");
			s->after[s->n] = 0.0;
			s->group[s->n] = 0;
		} else {
			s->before[s->n] = num(&t, "before");
			s->after[s->n] = num(&t, "after");
			s->group[s->n] = (int)num(&t, "group");
		}
		s->n++;
	}
	table_close(&t);
	assert_true(l->n > 0);
}

static void datasets_free(struct dataset_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->s[i].before);
		free(l->s[i].after);
		free(l->s[i].group);
	}
	l->n = 0;
}

/* Compares one figure with R's; NaN must meet NaN. */
static void check(struct diff *d, const char *set, const char *what, double got, double want)
{
	if (isnan(got) || isnan(want)) {
		if (!(isnan(got) && isnan(want)))
			fail_msg("%s %s: %.17g, R %.17g", set, what, got, want);
		d->both_nan++;
		return;
	}
	double err = fabs(got - want);
	double scale = fmax(fabs(got), fabs(want));
	if (err > REL_TOL * scale && err > ABS_TOL)
		fail_msg("%s %s: %.17g, R %.17g (difference %.3g)", set, what, got, want, err);
	if (scale >= 1e-6)
		d->worst_rel = fmax(d->worst_rel, err / scale);
	else
		d->worst_abs = fmax(d->worst_abs, err);
	d->compared++;
}

/* Within 1e-12 relative (1e-14 absolute near 0), for the hand-worked values. */
static bool near(double got, double want)
{
	if (isnan(got) || isnan(want))
		return isnan(got) && isnan(want);
	return fabs(got - want) <= fmax(1e-12 * fabs(want), 1e-14);
}

#define assert_near(got, want)                                                                     \
	do {                                                                                       \
		double got_ = (got), want_ = (want);                                               \
		if (!near(got_, want_))                                                            \
			fail_msg("%s = %.17g, expected %.17g", #got, got_, want_);                 \
	} while (0)

static void test_golden_paired(void **state)
{
	(void)state;
	struct dataset_list sets;
	datasets_load(&sets, DATA_TSV, false);
	struct table t;
	table_open(&t, PAIRED_TSV);
	struct diff d = {0};
	size_t rows = 0, einval = 0, effectsize_d = 0, effectsize_g = 0;
	while (table_next(&t)) {
		const char *name = cell(&t, "set");
		struct dataset *s = dataset_find(&sets, name);
		if (s == NULL)
			fail_msg("set \"%s\" not in effect_data.tsv", name);
		struct effect_params p = {
		    .level = num(&t, "level"),
		    .reliability = num(&t, "reliability"),
		    .higher_is_better = num(&t, "higher_is_better") == 1.0,
		};
		struct effect_result r;
		memset(&r, 0, sizeof(r));
		int ret = effect_paired(s->before, s->after, s->n, &p, &r);
		bool ok = strcmp(cell(&t, "status"), "ok") == 0;
		if (ret != (ok ? 0 : -EINVAL))
			fail_msg("%s level %g: returned %d, expected %s", name, p.level, ret,
			         cell(&t, "status"));
		einval += !ok;
		assert_int_equal(r.n, (size_t)num(&t, "n"));
		assert_int_equal(r.n, s->n);

		const struct {
			const char *col;
			double got;
		} figures[] = {
		    {"mean_before", r.mean_before},
		    {"mean_after", r.mean_after},
		    {"sd_before", r.sd_before},
		    {"sd_after", r.sd_after},
		    {"correlation", r.correlation},
		    {"mean_change", r.mean_change},
		    {"sd_change", r.sd_change},
		    {"change_lo", r.change_lo},
		    {"change_hi", r.change_hi},
		    {"d_av", r.d_av},
		    {"d_av_lo", r.d_av_lo},
		    {"d_av_hi", r.d_av_hi},
		    {"d_z", r.d_z},
		    {"d_z_lo", r.d_z_lo},
		    {"d_z_hi", r.d_z_hi},
		    {"d_av_uncorrected", r.d_av_uncorrected},
		    {"d_z_uncorrected", r.d_z_uncorrected},
		    {"rci_threshold", r.rci_threshold},
		    {"share_improved", r.share_improved},
		    {"share_worse", r.share_worse},
		};
		for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
			check(&d, name, figures[i].col, figures[i].got, num(&t, figures[i].col));
		assert_int_equal(r.n_improved, (size_t)num(&t, "n_improved"));
		assert_int_equal(r.n_worse, (size_t)num(&t, "n_worse"));

		/* effectsize's paired d is our d_z; its g uses the exact J(n - 1), ours Hedges'
		 * approximation 1 - 3 / (4 (n - 1) - 1): rescale to compare the rest. */
		double es_d = num(&t, "es_cohens_d");
		if (!isnan(es_d)) {
			check(&d, name, "effectsize cohens_d", r.d_z_uncorrected, es_d);
			effectsize_d++;
		}
		double es_g = num(&t, "es_hedges_g"), es_j = num(&t, "es_exact_j");
		if (!isnan(es_g) && s->n > 2) {
			double j = 1.0 - 3.0 / (4.0 * (double)(s->n - 1) - 1.0);
			check(&d, name, "effectsize hedges_g", r.d_z, es_g * j / es_j);
			effectsize_g++;
		}
		rows++;
	}
	table_close(&t);
	datasets_free(&sets);
	print_message(
	    "# paired: %zu golden rows (%zu -EINVAL), %zu figures compared, %zu NaN as in "
	    "R, %zu + %zu effectsize cross-checks; largest relative difference %.3g, "
	    "largest absolute near 0 %.3g\n",
	    rows, einval, d.compared, d.both_nan, effectsize_d, effectsize_g, d.worst_rel,
	    d.worst_abs);
	/* effect.R writes 10 sets x 3 parameter combinations */
	assert_int_equal(rows, 30);
	assert_int_equal(einval, 3);
	assert_true(effectsize_d >= 18);
	assert_true(effectsize_g >= 15);
}

static void test_golden_modes(void **state)
{
	(void)state;
	struct dataset_list sets;
	datasets_load(&sets, DATA_TSV, false);
	struct table t;
	table_open(&t, MODES_TSV);
	struct diff d = {0};
	size_t rows = 0;
	while (table_next(&t)) {
		const char *name = cell(&t, "set");
		struct dataset *s = dataset_find(&sets, name);
		if (s == NULL)
			fail_msg("set \"%s\" not in effect_data.tsv", name);
		int n_groups = (int)num(&t, "n_groups");
		int g = (int)num(&t, "group");
		double level = num(&t, "level");
		assert_true(n_groups >= 1 && n_groups <= 8 && g >= 0 && g < n_groups);
		struct effect_mode out[8];
		double slope = NAN;
		int ret = effect_compare_modes(s->before, s->after, s->group, s->n, n_groups, level,
		                               out, &slope);
		if (ret != 0)
			fail_msg("%s: returned %d", name, ret);
		struct effect_mode *m = &out[g];
		assert_int_equal(m->n, (size_t)num(&t, "n"));
		const struct {
			const char *col;
			double got;
		} figures[] = {
		    {"mean_change", m->mean_change},
		    {"adjusted", m->adjusted},
		    {"adjusted_lo", m->adjusted_lo},
		    {"adjusted_hi", m->adjusted_hi},
		    {"diff", m->diff},
		    {"diff_lo", m->diff_lo},
		    {"diff_hi", m->diff_hi},
		    {"diff_p", m->diff_p},
		    {"slope", slope},
		};
		for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
			check(&d, name, figures[i].col, figures[i].got, num(&t, figures[i].col));
		rows++;
	}
	table_close(&t);
	datasets_free(&sets);
	print_message("# modes: %zu golden rows, %zu figures compared; largest relative difference "
	              "%.3g, largest absolute near 0 %.3g\n",
	              rows, d.compared, d.worst_rel, d.worst_abs);
	/* 5 sets with 1 + 2 + 3 + 3 + 4 modes, at 2 levels */
	assert_int_equal(rows, 26);
}

static void test_golden_quantile(void **state)
{
	(void)state;
	struct dataset_list sets;
	datasets_load(&sets, DURATIONS_TSV, true);
	struct table t;
	table_open(&t, QUANTILE_TSV);
	struct diff d = {0};
	size_t rows = 0;
	while (table_next(&t)) {
		const char *name = cell(&t, "set");
		struct dataset *s = dataset_find(&sets, name);
		if (s == NULL)
			fail_msg("set \"%s\" not in effect_durations.tsv", name);
		double *scratch = malloc(s->n * sizeof(*scratch));
		assert_non_null(scratch);
		double got = effect_quantile(s->before, s->n, num(&t, "q"), scratch);
		free(scratch);
		check(&d, name, cell(&t, "q"), got, num(&t, "value"));
		rows++;
	}
	table_close(&t);
	datasets_free(&sets);
	print_message("# quantiles: %zu golden rows; largest relative difference %.3g\n", rows,
	              d.worst_rel);
	assert_int_equal(rows, 60);
}

static void test_defaults(void **state)
{
	(void)state;
	struct effect_params p;
	memset(&p, 0xff, sizeof(p));
	effect_params_default(&p);
	assert_true(p.level == 0.95);
	assert_true(p.reliability == 0.80);
	assert_true(p.higher_is_better);
}

static void test_paired_hand(void **state)
{
	(void)state;
	/* before 1, 2, 3; after 2, 4, 4; n = 3, df = 2.
	 *   means 2 and 10/3; sd_before = 1; after - 10/3 = -4/3, 2/3, 2/3, sd_after^2 =
	 *   (16 + 4 + 4) / 9 / 2 = 4/3, sd_after = 1.1547005383792515.
	 *   cov = ((-1)(-4/3) + 0 + (1)(2/3)) / 2 = 1, r = 1 / sqrt(4/3) = sqrt(3)/2.
	 *   changes 1, 2, 1: mean 4/3, deviations -1/3, 2/3, -1/3, sd_change^2 = (6/9) / 2 = 1/3
	 *   (check: 4/3 + 1 - 2 * 1 = 1/3). se = sqrt(1/3) / sqrt(3) = 1/3.
	 *   CI 4/3 -+ qt(0.975, 2) / 3 = 4/3 -+ 4.3026527297494619 / 3 = [-0.1009, 2.7676]
	 *   (t.test: -0.10088424324982062, 2.767550909916487).
	 *   J = 1 - 3 / (4 * 2 - 1) = 4/7.
	 *   sd_av = sqrt((1 + 4/3) / 2) = sqrt(7/6); d_av = (4/3) / sqrt(7/6) = 1.2344267996967351,
	 *   g = 4/7 d = 0.70538674268384863. d^2 = (16/9) (6/7) = 32/21, so
	 *   V = (1/3 + 32/126) 2 (1 - r) = (37/63)(2 - sqrt(3)), se_g = (4/7) sqrt(V)
	 *   = 0.22668290252206758; CI g -+ 1.959963984540054 se_g = [0.2611, 1.1497].
	 *   d_z = (4/3) / sqrt(1/3) = 4 / sqrt(3) = 2.3094010767585034, g = 16 / (7 sqrt(3))
	 *   = 1.3196577581477162; V = 1/3 + (16/3) / 6 = 11/9, se_g = (4/7) sqrt(11/9)
	 *   = 0.63173805530579053; CI [0.0815, 2.5578].
	 *   RCI (r_xx 0.8): S_diff = 1 sqrt(2 * 0.2) = sqrt(0.4), threshold = 1.959963984540054
	 *   sqrt(0.4) = 1.2395900646091229: of the changes 1, 2, 1 only 2 exceeds it. */
	const double before[] = {1, 2, 3};
	const double after[] = {2, 4, 4};
	struct effect_params p;
	effect_params_default(&p);
	struct effect_result r;
	assert_int_equal(effect_paired(before, after, 3, &p, &r), 0);
	assert_int_equal(r.n, 3);
	assert_near(r.mean_before, 2.0);
	assert_near(r.mean_after, 10.0 / 3.0);
	assert_near(r.sd_before, 1.0);
	assert_near(r.sd_after, sqrt(4.0 / 3.0));
	assert_near(r.correlation, sqrt(3.0) / 2.0);
	assert_near(r.mean_change, 4.0 / 3.0);
	assert_near(r.sd_change, sqrt(1.0 / 3.0));
	assert_near(r.change_lo, 4.0 / 3.0 - T975_2 / 3.0);
	assert_near(r.change_hi, 4.0 / 3.0 + T975_2 / 3.0);
	assert_near(r.change_lo, -0.10088424324982062);
	assert_near(r.change_hi, 2.767550909916487);

	double j = 4.0 / 7.0;
	double d_av = (4.0 / 3.0) / sqrt(7.0 / 6.0);
	double se_av = j * sqrt(37.0 / 63.0 * (2.0 - sqrt(3.0)));
	assert_near(r.d_av_uncorrected, d_av);
	assert_near(r.d_av, j * d_av);
	assert_near(r.d_av, 0.70538674268384863);
	assert_near(r.d_av_lo, j * d_av - Z975 * se_av);
	assert_near(r.d_av_hi, j * d_av + Z975 * se_av);
	assert_near(se_av, 0.22668290252206758);

	double d_z = 4.0 / sqrt(3.0);
	double se_z = j * sqrt(11.0 / 9.0);
	assert_near(r.d_z_uncorrected, d_z);
	assert_near(r.d_z, 16.0 / (7.0 * sqrt(3.0)));
	assert_near(r.d_z_lo, j * d_z - Z975 * se_z);
	assert_near(r.d_z_hi, j * d_z + Z975 * se_z);
	assert_near(r.d_z_lo, 0.081473922084994266);
	assert_near(r.d_z_hi, 2.557841594210438);

	assert_near(r.rci_threshold, Z975 * sqrt(0.4));
	assert_near(r.rci_threshold, 1.2395900646091229);
	assert_int_equal(r.n_improved, 1);
	assert_int_equal(r.n_worse, 0);
	assert_near(r.share_improved, 1.0 / 3.0);
	assert_near(r.share_worse, 0.0);

	/* The same scores on an instrument where lower is better: the +2 is reliably worse.
	 * Level 0.90 changes the intervals (z = 1.6448536269514722, t = qt(0.95, 2)
	 * = 2.9199855803537247) but not the RCI, which stays at 1.96. */
	p.higher_is_better = false;
	p.level = 0.90;
	assert_int_equal(effect_paired(before, after, 3, &p, &r), 0);
	assert_int_equal(r.n_improved, 0);
	assert_int_equal(r.n_worse, 1);
	assert_near(r.share_worse, 1.0 / 3.0);
	assert_near(r.rci_threshold, 1.2395900646091229);
	assert_near(r.change_hi, 4.0 / 3.0 + 2.9199855803537247 / 3.0);
	assert_near(r.d_z_hi, j * d_z + 1.6448536269514722 * se_z);
	assert_near(r.d_av, 0.70538674268384863); /* point estimates do not depend on level */

	/* Reliability 0.9: S_diff = sqrt(0.2), threshold 0.87652...; now 1, 2, 1 all exceed it
	 * in the worse direction. */
	p.reliability = 0.9;
	assert_int_equal(effect_paired(before, after, 3, &p, &r), 0);
	assert_near(r.rci_threshold, Z975 * sqrt(0.2));
	assert_int_equal(r.n_worse, 3);
	assert_int_equal(r.n_improved, 0);
	assert_near(r.share_worse, 1.0);
}

static void test_paired_n2(void **state)
{
	(void)state;
	/* before 1, 3; after 2, 5: changes 1, 2, mean 1.5, sd_change = sqrt(0.5); sd_before =
	 * sqrt(2), sd_after = sqrt(4.5), r = 1 (two points). CI 1.5 -+ qt(0.975, 1) * 0.5.
	 * d_z = 1.5 / sqrt(0.5) = 2.1213203435596424, d_av = 1.5 / sqrt(3.25) = 0.83205029433784.
	 * J = 1 - 3 / (4 - 1) = 0: the corrected d's and their CIs are NaN, return 0. */
	const double before[] = {1, 3};
	const double after[] = {2, 5};
	struct effect_params p;
	effect_params_default(&p);
	struct effect_result r;
	assert_int_equal(effect_paired(before, after, 2, &p, &r), 0);
	assert_near(r.mean_change, 1.5);
	assert_near(r.sd_change, sqrt(0.5));
	assert_near(r.correlation, 1.0);
	assert_near(r.change_lo, 1.5 - T975_1 * 0.5);
	assert_near(r.change_hi, 1.5 + T975_1 * 0.5);
	assert_near(r.d_z_uncorrected, 1.5 / sqrt(0.5));
	assert_near(r.d_av_uncorrected, 1.5 / sqrt(3.25));
	assert_true(isnan(r.d_av) && isnan(r.d_av_lo) && isnan(r.d_av_hi));
	assert_true(isnan(r.d_z) && isnan(r.d_z_lo) && isnan(r.d_z_hi));
	/* RCI still works: threshold 1.96 * sqrt(2) * sqrt(0.4) = 1.7530...; the change 2
	 * exceeds it, 1 does not */
	assert_near(r.rci_threshold, Z975 * sqrt(2.0) * sqrt(0.4));
	assert_int_equal(r.n_improved, 1);
	assert_int_equal(r.n_worse, 0);
}

static void test_paired_zero_variance(void **state)
{
	(void)state;
	struct effect_params p;
	effect_params_default(&p);
	struct effect_result r;

	/* Everybody starts at 2: sd_before = 0, r undefined (NaN). after 1, 2, 3, 4: sd_after =
	 * sd_change = sqrt(5/3), mean change 0.5. sd_av = sqrt(5/6), d_av = 0.5 / sqrt(5/6),
	 * d^2 = 0.3; its CI uses r = 0: V = (1/4 + 0.3/8) 2 = 0.575. J = 1 - 3/11 = 8/11.
	 * No RCI without baseline spread: threshold and shares NaN, counts 0. Return 0. */
	const double flat[] = {2, 2, 2, 2};
	const double rising[] = {1, 2, 3, 4};
	double j = 8.0 / 11.0;
	assert_int_equal(effect_paired(flat, rising, 4, &p, &r), 0);
	assert_true(r.sd_before == 0.0);
	assert_true(isnan(r.correlation));
	assert_near(r.d_av_uncorrected, 0.5 / sqrt(5.0 / 6.0));
	assert_near(r.d_av, j * 0.5 / sqrt(5.0 / 6.0));
	assert_near(r.d_av_hi - r.d_av, Z975 * j * sqrt(0.575));
	assert_near(r.d_av - r.d_av_lo, Z975 * j * sqrt(0.575));
	assert_near(r.d_z_uncorrected, 0.5 / sqrt(5.0 / 3.0));
	assert_near(r.d_z_hi - r.d_z, Z975 * j * sqrt(0.25 + 0.15 / 8.0));
	assert_true(isnan(r.rci_threshold));
	assert_true(isnan(r.share_improved) && isnan(r.share_worse));
	assert_int_equal(r.n_improved, 0);
	assert_int_equal(r.n_worse, 0);

	/* Everybody ends at 5 (a ceiling): sd_after = 0, r NaN, the RCI is defined.
	 * before 1, 2, 3, 4: changes 4, 3, 2, 1; threshold 1.96 sqrt(5/3) sqrt(0.4) = 1.6003:
	 * 3 improved. */
	const double ceiling[] = {5, 5, 5, 5};
	assert_int_equal(effect_paired(rising, ceiling, 4, &p, &r), 0);
	assert_true(r.sd_after == 0.0);
	assert_true(isnan(r.correlation));
	assert_near(r.d_av_uncorrected, 2.5 / sqrt(5.0 / 6.0));
	assert_near(r.d_av_hi - r.d_av, Z975 * j * sqrt((0.25 + 7.5 / 8.0) * 2.0));
	assert_near(r.rci_threshold, Z975 * sqrt(5.0 / 3.0) * sqrt(0.4));
	assert_int_equal(r.n_improved, 3);
	assert_near(r.share_improved, 0.75);

	/* Every change +1: sd_change = 0 so d_z is NaN; d_av = 1 / sqrt(5/3) is fine and r = 1,
	 * so the approximation gives a zero-width CI. The change CI is [1, 1]. Return 0. */
	const double shifted[] = {2, 3, 4, 5};
	assert_int_equal(effect_paired(rising, shifted, 4, &p, &r), 0);
	assert_true(r.sd_change == 0.0);
	assert_near(r.correlation, 1.0);
	assert_true(r.change_lo == 1.0 && r.change_hi == 1.0);
	assert_true(isnan(r.d_z) && isnan(r.d_z_lo) && isnan(r.d_z_hi));
	assert_true(isnan(r.d_z_uncorrected));
	assert_near(r.d_av, j / sqrt(5.0 / 3.0));
	assert_true(r.d_av_lo == r.d_av && r.d_av_hi == r.d_av);

	/* The same with a shift of 0.1: three equal changes whose sum, 0.30000000000000004,
	 * divided by 3 is not 0.1. They still count as equal: sd_change exactly 0, d_z NaN
	 * (not 0.1 / 1e-17). */
	const double eighths[] = {0, 0.03125, 0.0625};
	double tenth[3];
	for (size_t i = 0; i < 3; i++) {
		tenth[i] = eighths[i] + 0.1;
		assert_true(tenth[i] - eighths[i] == 0.1);
	}
	assert_true((0.1 + 0.1 + 0.1) / 3.0 != 0.1);
	assert_int_equal(effect_paired(eighths, tenth, 3, &p, &r), 0);
	assert_true(r.mean_change == 0.1 && r.sd_change == 0.0);
	assert_true(r.correlation == 1.0);
	assert_true(isnan(r.d_z));
	assert_true(r.d_av_lo == r.d_av && r.d_av_hi == r.d_av);

	/* Nothing varies: -EINVAL, but the raw figures are filled. */
	const double threes[] = {3, 3, 3, 3};
	const double fours[] = {4, 4, 4, 4};
	memset(&r, 0, sizeof(r));
	assert_int_equal(effect_paired(threes, fours, 4, &p, &r), -EINVAL);
	assert_int_equal(r.n, 4);
	assert_true(r.mean_before == 3.0 && r.mean_after == 4.0 && r.mean_change == 1.0);
	assert_true(r.sd_before == 0.0 && r.sd_after == 0.0 && r.sd_change == 0.0);
	assert_true(r.change_lo == 1.0 && r.change_hi == 1.0);
	assert_true(isnan(r.correlation));
	assert_true(isnan(r.d_av) && isnan(r.d_av_uncorrected) && isnan(r.d_av_lo));
	assert_true(isnan(r.d_z) && isnan(r.d_z_uncorrected) && isnan(r.d_z_hi));
	assert_true(isnan(r.rci_threshold) && isnan(r.share_improved));
	assert_int_equal(r.n_improved, 0);
	assert_int_equal(r.n_worse, 0);
}

static void test_rci_strict(void **state)
{
	(void)state;
	/* The threshold depends on before only. A change of exactly the threshold (after =
	 * threshold where before = 0) is not reliable; the next double above it is. */
	const double before[] = {0, 1, 2, 3};
	double after[] = {0, 1, 2, 3};
	struct effect_params p;
	effect_params_default(&p);
	struct effect_result r;
	assert_int_equal(effect_paired(before, after, 4, &p, &r), 0);
	double thr = r.rci_threshold;
	assert_near(thr, Z975 * sqrt(5.0 / 3.0) * sqrt(0.4));

	static const struct {
		bool higher_is_better;
		double sign; /* after[0] = sign * threshold */
		bool beyond; /* one ulp further away from 0 */
		size_t improved, worse;
	} cases[] = {
	    {true, 1.0, false, 0, 0},  {true, 1.0, true, 1, 0},    {true, -1.0, false, 0, 0},
	    {true, -1.0, true, 0, 1},  {false, -1.0, false, 0, 0}, {false, -1.0, true, 1, 0},
	    {false, 1.0, false, 0, 0}, {false, 1.0, true, 0, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double a = cases[i].sign * thr;
		if (cases[i].beyond)
			a = nextafter(a, cases[i].sign * INFINITY);
		after[0] = a;
		p.higher_is_better = cases[i].higher_is_better;
		assert_int_equal(effect_paired(before, after, 4, &p, &r), 0);
		assert_true(r.rci_threshold == thr);
		if (r.n_improved != cases[i].improved || r.n_worse != cases[i].worse)
			fail_msg("case %zu: improved %zu worse %zu", i, r.n_improved, r.n_worse);
	}
}

static void test_paired_einval(void **state)
{
	(void)state;
	double before[] = {1, 2, 3, 4};
	double after[] = {2, 2, 4, 5};
	struct effect_params p;
	effect_params_default(&p);
	struct effect_result r, untouched;
	memset(&untouched, 0x5a, sizeof(untouched));

	r = untouched;
	assert_int_equal(effect_paired(NULL, after, 4, &p, &r), -EINVAL);
	assert_int_equal(effect_paired(before, NULL, 4, &p, &r), -EINVAL);
	assert_int_equal(effect_paired(before, after, 4, NULL, &r), -EINVAL);
	assert_int_equal(effect_paired(before, after, 4, &p, NULL), -EINVAL);
	assert_int_equal(effect_paired(before, after, 1, &p, &r), -EINVAL);
	assert_int_equal(effect_paired(before, after, 0, &p, &r), -EINVAL);
	assert_memory_equal(&r, &untouched, sizeof(r));

	static const struct {
		double level, reliability;
	} bad[] = {
	    {0.0, 0.8},  {1.0, 0.8},  {-0.5, 0.8}, {NAN, 0.8},  {INFINITY, 0.8},
	    {0.95, 0.0}, {0.95, 1.0}, {0.95, 1.5}, {0.95, NAN}, {0.95, -INFINITY},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct effect_params q = p;
		q.level = bad[i].level;
		q.reliability = bad[i].reliability;
		if (effect_paired(before, after, 4, &q, &r) != -EINVAL)
			fail_msg("bad params case %zu accepted", i);
		assert_memory_equal(&r, &untouched, sizeof(r));
	}

	static const double non_finite[] = {NAN, INFINITY, -INFINITY};
	for (size_t i = 0; i < 3; i++) {
		before[3] = non_finite[i];
		assert_int_equal(effect_paired(before, after, 4, &p, &r), -EINVAL);
		before[3] = 4;
		after[0] = non_finite[i];
		assert_int_equal(effect_paired(before, after, 4, &p, &r), -EINVAL);
		after[0] = 2;
		assert_memory_equal(&r, &untouched, sizeof(r));
	}
	/* only the first n are read */
	before[3] = NAN;
	assert_int_equal(effect_paired(before, after, 3, &p, &r), 0);
}

static void test_modes_hand(void **state)
{
	(void)state;
	/* Mode 0: before 1, 2, 3, change 0, 2, 1; mode 1: before 1, 2, 3, change 2, 2, 3.
	 * Both modes have mean baseline 2, the overall mean, so the baseline is orthogonal to
	 * the mode and:
	 *   b1 = pooled within-mode slope = (Sxy0 + Sxy1) / (Sxx0 + Sxx1) = (1 + 1) / (2 + 2) = 0.5
	 *   (Sxy0 = (-1)(0 - 1) + 0 + (1)(1 - 1) = 1; Sxy1 = (-1)(2 - 7/3) + 0 + (1)(3 - 7/3) = 1).
	 *   adjusted = raw mean change: 1 and 7/3; diff = 4/3; b0 = 1 - 0.5 * 2 = 0.
	 *   residuals: mode 0 fitted 0.5, 1, 1.5: -0.5, 1, -0.5; mode 1 fitted 11/6, 7/3, 17/6:
	 *   1/6, -1/3, 1/6; RSS = 1.5 + 1/6 = 5/3; df = 6 - 3 = 3; s^2 = 5/9.
	 *   var(adjusted) = s^2 / 3 = 5/27; var(diff) = s^2 (1/3 + 1/3) = 10/27.
	 *   CIs with qt(0.975, 3) = 3.1824463052837078: adjusted 1 -+ 1.3695068378403477
	 *   (R's predict: -0.36950683784034832, 2.3695068378403477); diff 4/3 -+ 1.9367751...
	 *   (confint: -0.60344181050317758, 3.2701084771698441); t = (4/3) / sqrt(10/27)
	 *   = 2.1908902300206634, p = 2 pt(-t, 3) = 0.11615752834753838 (summary). */
	const double before[] = {1, 2, 3, 1, 2, 3};
	const double after[] = {1, 4, 4, 3, 4, 6};
	const int group[] = {0, 0, 0, 1, 1, 1};
	struct effect_mode m[2];
	double slope = NAN;
	assert_int_equal(effect_compare_modes(before, after, group, 6, 2, 0.95, m, &slope), 0);
	assert_near(slope, 0.5);
	assert_int_equal(m[0].n, 3);
	assert_int_equal(m[1].n, 3);
	assert_near(m[0].mean_change, 1.0);
	assert_near(m[1].mean_change, 7.0 / 3.0);
	assert_near(m[0].adjusted, 1.0);
	assert_near(m[1].adjusted, 7.0 / 3.0);
	double se = sqrt(5.0 / 27.0);
	assert_near(m[0].adjusted_lo, 1.0 - T975_3 * se);
	assert_near(m[0].adjusted_hi, 1.0 + T975_3 * se);
	assert_near(m[0].adjusted_lo, -0.36950683784034832);
	assert_near(m[1].adjusted_hi, 7.0 / 3.0 + T975_3 * se);
	assert_true(m[0].diff == 0.0 && m[0].diff_lo == 0.0 && m[0].diff_hi == 0.0);
	assert_true(isnan(m[0].diff_p));
	assert_near(m[1].diff, 4.0 / 3.0);
	assert_near(m[1].diff_lo, 4.0 / 3.0 - T975_3 * sqrt(10.0 / 27.0));
	assert_near(m[1].diff_lo, -0.60344181050317758);
	assert_near(m[1].diff_hi, 3.2701084771698441);
	assert_near(m[1].diff_p, 0.11615752834753838);

	/* the slope is optional */
	assert_int_equal(effect_compare_modes(before, after, group, 6, 2, 0.95, m, NULL), 0);
	assert_near(m[1].diff, 4.0 / 3.0);

	/* A perfect fit (change = 1 + 0 * before + [mode 1]): residual variance 0, CIs of zero
	 * width, no p-value. */
	const double perfect[] = {2, 3, 4, 3, 4, 5};
	assert_int_equal(effect_compare_modes(before, perfect, group, 6, 2, 0.95, m, &slope), 0);
	assert_near(m[1].diff, 1.0);
	assert_true(fabs(m[1].diff_hi - m[1].diff_lo) < 1e-12);
	assert_true(fabs(m[0].adjusted_hi - m[0].adjusted_lo) < 1e-12);
	assert_true(isnan(m[1].diff_p) || m[1].diff_p < 1e-12);
}

static void test_modes_einval(void **state)
{
	(void)state;
	double before[] = {1, 2, 3, 1, 2, 3, 4};
	double after[] = {1, 4, 4, 3, 4, 6, 4};
	int group[] = {0, 0, 0, 1, 1, 1, 1};
	struct effect_mode m[3], untouched[3];
	memset(untouched, 0x5a, sizeof(untouched));
	memcpy(m, untouched, sizeof(m));
	double slope = -7.0;

	assert_int_equal(effect_compare_modes(NULL, after, group, 7, 2, 0.95, m, &slope), -EINVAL);
	assert_int_equal(effect_compare_modes(before, NULL, group, 7, 2, 0.95, m, &slope), -EINVAL);
	assert_int_equal(effect_compare_modes(before, after, NULL, 7, 2, 0.95, m, &slope), -EINVAL);
	assert_int_equal(effect_compare_modes(before, after, group, 7, 2, 0.95, NULL, &slope),
	                 -EINVAL);
	assert_int_equal(effect_compare_modes(before, after, group, 7, 0, 0.95, m, &slope),
	                 -EINVAL);
	assert_int_equal(effect_compare_modes(before, after, group, 7, -1, 0.95, m, &slope),
	                 -EINVAL);
	static const double bad_levels[] = {0.0, 1.0, -0.1, 1.1, NAN};
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(
		    effect_compare_modes(before, after, group, 7, 2, bad_levels[i], m, &slope),
		    -EINVAL);
	/* a mode out of range, or a declared mode without pairs or with one pair */
	group[6] = 2;
	assert_int_equal(effect_compare_modes(before, after, group, 7, 2, 0.95, m, &slope),
	                 -EINVAL);
	assert_int_equal(effect_compare_modes(before, after, group, 7, 3, 0.95, m, &slope),
	                 -EINVAL); /* mode 2 has 1 pair */
	group[6] = -1;
	assert_int_equal(effect_compare_modes(before, after, group, 7, 2, 0.95, m, &slope),
	                 -EINVAL);
	group[6] = 1;
	assert_int_equal(effect_compare_modes(before, after, group, 6, 3, 0.95, m, &slope),
	                 -EINVAL); /* mode 2 empty */
	int lonely[] = {0, 0, 0, 0, 0, 0, 1};
	assert_int_equal(effect_compare_modes(before, after, lonely, 7, 2, 0.95, m, &slope),
	                 -EINVAL);
	/* n <= n_groups + 1: one mode needs 3 pairs for one residual degree of freedom */
	assert_int_equal(effect_compare_modes(before, after, group, 2, 1, 0.95, m, &slope),
	                 -EINVAL);
	/* non-finite values */
	before[2] = NAN;
	assert_int_equal(effect_compare_modes(before, after, group, 7, 2, 0.95, m, &slope),
	                 -EINVAL);
	before[2] = 3;
	after[5] = INFINITY;
	assert_int_equal(effect_compare_modes(before, after, group, 7, 2, 0.95, m, &slope),
	                 -EINVAL);
	after[5] = 6;
	/* singular designs: every baseline equal; baseline constant within each mode */
	const double flat[] = {2, 2, 2, 2, 2, 2, 2};
	assert_int_equal(effect_compare_modes(flat, after, group, 7, 2, 0.95, m, &slope), -EINVAL);
	const double per_mode[] = {1, 1, 1, 3, 3, 3, 3};
	assert_int_equal(effect_compare_modes(per_mode, after, group, 7, 2, 0.95, m, &slope),
	                 -EINVAL);
	/* numerically singular: the baseline varies within mode 0 by one part in 2^52 */
	const double almost[] = {1, 1, 1 + 0x1p-52, 3, 3, 3, 3};
	assert_int_equal(effect_compare_modes(almost, after, group, 7, 2, 0.95, m, &slope),
	                 -EINVAL);
	assert_memory_equal(m, untouched, sizeof(m));
	assert_true(slope == -7.0);

	/* and the same data are fine once valid */
	assert_int_equal(effect_compare_modes(before, after, group, 7, 2, 0.95, m, &slope), 0);
	assert_int_equal(m[0].n, 3);
	assert_int_equal(m[1].n, 4);
}

static void test_quantile(void **state)
{
	(void)state;
	/* type 7: h = (n - 1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]) on the
	 * sorted 1, 2, 3, 4: q 0.25 -> h 0.75 -> 1.75; q 0.5 -> 2.5; q 0.1 -> h 0.3 -> 1.3;
	 * q 0 -> 1; q 1 -> 4 (R: 1.75, 2.5, 1.3, 1, 4). */
	const double v[] = {4, 1, 3, 2};
	double scratch[4];
	assert_near(effect_quantile(v, 4, 0.25, scratch), 1.75);
	assert_near(effect_quantile(v, 4, 0.5, scratch), 2.5);
	assert_near(effect_quantile(v, 4, 0.1, scratch), 1.3);
	assert_true(effect_quantile(v, 4, 0.0, scratch) == 1.0);
	assert_true(effect_quantile(v, 4, 1.0, scratch) == 4.0);
	assert_true(scratch[0] == 1 && scratch[1] == 2 && scratch[2] == 3 && scratch[3] == 4);
	assert_true(v[0] == 4 && v[1] == 1); /* the input is not reordered */

	/* ties and one value */
	const double tied[] = {7, 7, 7, 3};
	assert_true(effect_quantile(tied, 4, 0.5, scratch) == 7.0);
	assert_true(effect_quantile(tied, 1, 0.9, scratch) == 7.0);

	/* NaN: no values, q outside [0, 1], a non-finite value, NULL */
	assert_true(isnan(effect_quantile(v, 0, 0.5, scratch)));
	assert_true(isnan(effect_quantile(v, 4, -0.01, scratch)));
	assert_true(isnan(effect_quantile(v, 4, 1.01, scratch)));
	assert_true(isnan(effect_quantile(v, 4, NAN, scratch)));
	assert_true(isnan(effect_quantile(NULL, 4, 0.5, scratch)));
	assert_true(isnan(effect_quantile(v, 4, 0.5, NULL)));
	const double holes[] = {1, NAN, 3};
	const double huge[] = {1, INFINITY, 3};
	assert_true(isnan(effect_quantile(holes, 3, 0.5, scratch)));
	assert_true(isnan(effect_quantile(huge, 3, 0.5, scratch)));
}

int main(void)
{
	/* as daemon/main.c does: GSL reports errors by return value instead of aborting */
	gsl_set_error_handler_off();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden_paired),        cmocka_unit_test(test_golden_modes),
	    cmocka_unit_test(test_golden_quantile),      cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_paired_hand),          cmocka_unit_test(test_paired_n2),
	    cmocka_unit_test(test_paired_zero_variance), cmocka_unit_test(test_rci_strict),
	    cmocka_unit_test(test_paired_einval),        cmocka_unit_test(test_modes_hand),
	    cmocka_unit_test(test_modes_einval),         cmocka_unit_test(test_quantile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
