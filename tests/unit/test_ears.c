/* Unit tests for analyzers/ears: every row of the golden outputs of R's surveillance::earsC
 * (tests/data/golden/ears.tsv on the series of series.tsv), hand-computed cases, the sd = 0
 * and NaN edges, and the -EINVAL paths. Every hand-computed upper bound and alarm below was
 * also checked against earsC (R 4.2.2, surveillance 1.20.3). */
#include "ears.h"
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

#define SERIES_TSV WR_TEST_DATA "/golden/series.tsv"
#define EARS_TSV   WR_TEST_DATA "/golden/ears.tsv"

/* qnorm(1 - 0.001) and qnorm(1 - 0.025) as R prints them with 17 digits. */
#define Z_999 3.0902323061678132
#define Z_975 1.9599639845400536

#define MAX_SERIES 32
#define MAX_FIELDS 12

/* One input series of series.tsv: observed[t - 1] for t = 1 .. n. */
struct series {
	char name[64];
	double *y;
	size_t n, cap;
};

struct series_set {
	struct series s[MAX_SERIES];
	size_t n;
};

static void series_set_free(struct series_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->s[i].y);
	set->n = 0;
}

static struct series *series_find(struct series_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->s[i].name, name) == 0)
			return &set->s[i];
	return NULL;
}

/* Reads series.tsv (series, t, observed, population); t runs 1, 2, ... per series. */
static void load_series(struct series_set *set)
{
	FILE *f = fopen(SERIES_TSV, "r");
	if (f == NULL)
		fail_msg("cannot open %s", SERIES_TSV);
	char line[512];
	char *field[MAX_FIELDS] = {NULL};
	assert_non_null(fgets(line, sizeof(line), f)); /* header */
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_int_equal(tsv_split(line, field, MAX_FIELDS), 4);
		struct series *s = series_find(set, field[0]);
		if (s == NULL) {
			assert_true(set->n < MAX_SERIES);
			s = &set->s[set->n++];
			assert_true(strlen(field[0]) < sizeof(s->name));
			strcpy(s->name, field[0]);
			s->y = NULL;
			s->n = s->cap = 0;
		}
		assert_true(tsv_number(field[1]) == (double)(s->n + 1));
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 256;
			double *y = realloc(s->y, s->cap * sizeof(*y));
			assert_non_null(y);
			s->y = y;
		}
		s->y[s->n++] = tsv_number(field[2]);
	}
	fclose(f);
	assert_true(set->n > 0);
}

/* Same number up to 1e-9 relative; non-finite values must be the same kind. */
static bool same_number(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	if (isinf(a) || isinf(b))
		return a == b;
	return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

static enum ears_method method_of(const char *s)
{
	if (strcmp(s, "C1") == 0)
		return EARS_C1;
	if (strcmp(s, "C2") == 0)
		return EARS_C2;
	if (strcmp(s, "C3") == 0)
		return EARS_C3;
	fail_msg("unrecognized method: \"%s\"", s);
	return EARS_C1;
}

static void test_golden(void **state)
{
	(void)state;
	struct series_set set = {.n = 0};
	load_series(&set);
	FILE *f = fopen(EARS_TSV, "r");
	if (f == NULL)
		fail_msg("cannot open %s", EARS_TSV);
	char line[512];
	char *field[MAX_FIELDS] = {NULL};
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(tsv_split(line, field, MAX_FIELDS), 9);
	assert_string_equal(field[7], "upperbound");

	size_t rows = 0, non_finite = 0, alarms = 0, undecided = 0;
	double worst = 0.0;
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_int_equal(tsv_split(line, field, MAX_FIELDS), 9);
		struct series *s = series_find(&set, field[0]);
		if (s == NULL)
			fail_msg("series \"%s\" not in series.tsv", field[0]);
		struct ears_params p = ears_params_default(method_of(field[1]));
		p.baseline = (size_t)tsv_number(field[2]);
		p.min_sigma = tsv_number(field[3]);
		p.alpha = tsv_number(field[4]);
		double t1 = tsv_number(field[5]); /* 1-based */
		double obs = tsv_number(field[6]);
		double ub = tsv_number(field[7]);
		double alarm = tsv_number(field[8]);
		assert_true(t1 >= 1 && t1 <= (double)s->n);
		size_t t = (size_t)t1 - 1;
		assert_true(same_number(s->y[t], obs));

		struct ears_point pt;
		int r = ears_detect(s->y, s->n, t, &p, &pt);
		if (r != 0 || !same_number(pt.upperbound, ub))
			fail_msg("%s %s b=%zu ms=%g alpha=%g t=%zu: r=%d upperbound %.17g, R %.17g",
			         field[0], field[1], p.baseline, p.min_sigma, p.alpha, t + 1, r,
			         pt.upperbound, ub);
		if (isnan(alarm)) {
			/* R's alarm is NA: no decision */
			assert_false(pt.alarm);
			assert_false(pt.valid);
			undecided++;
		} else {
			if (pt.alarm != (alarm == 1.0))
				fail_msg("%s %s b=%zu t=%zu: alarm %d, R %g", field[0], field[1],
				         p.baseline, t + 1, pt.alarm, alarm);
			alarms += pt.alarm;
		}
		assert_true(pt.valid == (isfinite(ub) && !isnan(obs)));
		if (isfinite(ub) && ub != 0.0)
			worst = fmax(worst, fabs(pt.upperbound - ub) / fabs(ub));
		non_finite += !isfinite(ub);
		rows++;
	}
	fclose(f);
	series_set_free(&set);
	print_message("# compared %zu golden rows (%zu alarms, %zu non-finite upper bounds, %zu "
	              "undecided); largest relative difference %.3g\n",
	              rows, alarms, non_finite, undecided, worst);
	/* ears.R writes 10 series x 15 control sets x 160 time points */
	assert_int_equal(rows, 24000);
	assert_true(alarms > 0);
	assert_true(non_finite > 0);
}

static void test_defaults(void **state)
{
	(void)state;
	/* R's earsC: baseline 7, minSigma 0, alpha 0.001 (C1, C2) or 0.025 (C3) */
	static const enum ears_method methods[] = {EARS_C1, EARS_C2, EARS_C3};
	for (size_t i = 0; i < 3; i++) {
		struct ears_params p = ears_params_default(methods[i]);
		assert_int_equal(p.method, methods[i]);
		assert_int_equal(p.baseline, 7);
		assert_true(p.min_sigma == 0.0);
		assert_true(p.alpha == (methods[i] == EARS_C3 ? 0.025 : 0.001));
	}
}

static void test_c1_hand(void **state)
{
	(void)state;
	/* baseline 3, y = 1, 2, 3, 10 at t = 3: reference 1, 2, 3, mean 2,
	 * sd = sqrt(((1-2)^2 + 0 + (3-2)^2) / 2) = 1, z = qnorm(0.999) = 3.0902323061678132,
	 * upperbound = 2 + z * 1 = 5.0902323061678132 < 10: alarm. */
	const double y[] = {1, 2, 3, 10};
	struct ears_params p = ears_params_default(EARS_C1);
	p.baseline = 3;
	struct ears_point pt;
	assert_int_equal(ears_detect(y, 4, 3, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (2.0 + Z_999)) < 1e-12);
	assert_true(pt.mean == 2.0);
	assert_true(fabs(pt.sd - 1.0) < 1e-15);
	assert_true(pt.valid);
	assert_true(pt.alarm);

	/* Same reference, y[t] = 5 <= 5.09: no alarm. min_sigma 2 > sd: 2 + 2z = 8.18. */
	const double y2[] = {1, 2, 3, 5};
	assert_int_equal(ears_detect(y2, 4, 3, &p, &pt), 0);
	assert_true(pt.valid);
	assert_false(pt.alarm);
	p.min_sigma = 2.0;
	assert_int_equal(ears_detect(y2, 4, 3, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (2.0 + 2.0 * Z_999)) < 1e-12);
	assert_true(fabs(pt.sd - 1.0) < 1e-15); /* sd is reported before min_sigma */
}

static void test_c2_hand(void **state)
{
	(void)state;
	/* baseline 3 at t = 5: reference y[0..2] = 1, 2, 3 (mean 2, sd 1); the guard band
	 * y[3], y[4] = 100 is not used. upperbound = 2 + 3.0902323061678132 * 1; y[5] = 4
	 * is below it. With y[5] = 6: alarm. */
	double y[] = {1, 2, 3, 100, 100, 4};
	struct ears_params p = ears_params_default(EARS_C2);
	p.baseline = 3;
	struct ears_point pt;
	assert_int_equal(ears_detect(y, 6, 5, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (2.0 + Z_999)) < 1e-12);
	assert_true(pt.mean == 2.0);
	assert_true(pt.valid);
	assert_false(pt.alarm);
	y[5] = 6;
	assert_int_equal(ears_detect(y, 6, 5, &p, &pt), 0);
	assert_true(pt.alarm);
}

static void test_c3_hand(void **state)
{
	(void)state;
	/* baseline 3, alpha 0.025, z = 1.9599639845400536, t = 7, y[0..4] = 1, 2, 3, 4, 5:
	 *   c2(5) = (y[5] - mean(1, 2, 3)) / sd(1, 2, 3) = (y[5] - 2) / 1
	 *   c2(6) = (y[6] - mean(2, 3, 4)) / sd(2, 3, 4) = (y[6] - 3) / 1
	 *   sd(R2(7)) = sd(3, 4, 5) = 1, mean 4
	 *   upperbound = y[7] + 1 * (z - (max(0, c2(5) - 1) + max(0, c2(6) - 1)))
	 * a) y[5] = 3, y[6] = 4: c2 = 1, 1, both parts 0: upperbound = 6 + z = 7.96, no alarm.
	 * b) y[5] = 4, y[6] = 5: c2 = 2, 2, parts 1 + 1 = 2: upperbound = 6 + z - 2
	 *    = 5.9599639845400532 < 6: alarm.
	 * c) y[5] = 10, y[6] = 10: c2 = 8, 7, parts 7 + 6 = 13: 6 + z - 13 < 0, floored: 0. */
	double y[] = {1, 2, 3, 4, 5, 3, 4, 6};
	struct ears_params p = ears_params_default(EARS_C3);
	p.baseline = 3;
	struct ears_point pt;
	assert_int_equal(ears_detect(y, 8, 7, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (6.0 + Z_975)) < 1e-12);
	assert_true(pt.mean == 4.0);
	assert_true(fabs(pt.sd - 1.0) < 1e-15);
	assert_true(pt.valid);
	assert_false(pt.alarm);

	y[5] = 4;
	y[6] = 5;
	assert_int_equal(ears_detect(y, 8, 7, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (6.0 + Z_975 - 2.0)) < 1e-12);
	assert_true(pt.alarm);

	y[5] = 10;
	y[6] = 10;
	assert_int_equal(ears_detect(y, 8, 7, &p, &pt), 0);
	assert_true(pt.upperbound == 0.0);
	assert_true(pt.valid);
	assert_true(pt.alarm);
}

static void test_sd_zero(void **state)
{
	(void)state;
	/* C1, C2 on a flat reference 2, 2, 2: sd 0, upperbound = 2 + z * max(0, 0) = 2 (as R),
	 * so y[t] = 3 alarms. With min_sigma 0.5: 2 + 0.5 * 3.0902323061678132 = 3.545. */
	const double y1[] = {2, 2, 2, 3};
	struct ears_params p = ears_params_default(EARS_C1);
	p.baseline = 3;
	struct ears_point pt;
	assert_int_equal(ears_detect(y1, 4, 3, &p, &pt), 0);
	assert_true(pt.upperbound == 2.0);
	assert_true(pt.sd == 0.0);
	assert_true(pt.valid);
	assert_true(pt.alarm);
	p.min_sigma = 0.5;
	assert_int_equal(ears_detect(y1, 4, 3, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (2.0 + 0.5 * Z_999)) < 1e-12);
	assert_false(pt.alarm);

	const double y2[] = {2, 2, 2, 9, 9, 3};
	p = ears_params_default(EARS_C2);
	p.baseline = 3;
	assert_int_equal(ears_detect(y2, 6, 5, &p, &pt), 0);
	assert_true(pt.upperbound == 2.0);
	assert_true(pt.alarm);
}

static void test_c3_sd_zero(void **state)
{
	(void)state;
	/* baseline 3, t = 7, all values 2: c2(5) = c2(6) = (2 - 2) / 0 = NaN (R: NaN), and R's
	 * pmax keeps it: upperbound NaN, no decision (R's alarm NA). */
	double y[] = {2, 2, 2, 2, 2, 2, 2, 2};
	struct ears_params p = ears_params_default(EARS_C3);
	p.baseline = 3;
	struct ears_point pt;
	assert_int_equal(ears_detect(y, 8, 7, &p, &pt), 0);
	assert_true(isnan(pt.upperbound));
	assert_false(pt.valid);
	assert_false(pt.alarm);

	/* min_sigma 0.5 with y[6] = 3: c2(5) = 0 / 0.5 = 0, c2(6) = 1 / 0.5 = 2, parts 0 + 1;
	 * upperbound = 2 + 0.5 * (1.9599639845400536 - 1) = 2.4799819922700266; 2 is below. */
	y[6] = 3;
	p.min_sigma = 0.5;
	assert_int_equal(ears_detect(y, 8, 7, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (2.0 + 0.5 * (Z_975 - 1.0))) < 1e-12);
	assert_true(pt.valid);
	assert_false(pt.alarm);

	/* y = 1, 1, 1, 5, 6, 9, 2, 4: R2(5) = 1, 1, 1 has sd 0, so c2(5) = (9 - 1) / 0 = +Inf;
	 * sd(R2(7)) = sd(1, 5, 6) > 0, so upperbound = 4 + sd * (z - Inf) = -Inf, floored
	 * to 0 (as R): a finite bound, and 4 > 0 alarms. */
	const double y3[] = {1, 1, 1, 5, 6, 9, 2, 4};
	p.min_sigma = 0.0;
	assert_int_equal(ears_detect(y3, 8, 7, &p, &pt), 0);
	assert_true(pt.upperbound == 0.0);
	assert_true(pt.valid);
	assert_true(pt.alarm);
}

static void test_nan_input(void **state)
{
	(void)state;
	/* A NaN in the reference: mean and sd NaN, upperbound NaN, no decision. */
	const double y[] = {1, NAN, 3, 10};
	struct ears_params p = ears_params_default(EARS_C1);
	p.baseline = 3;
	p.min_sigma = 0.5; /* R's pmax(NA, 0.5) is NA too */
	struct ears_point pt;
	assert_int_equal(ears_detect(y, 4, 3, &p, &pt), 0);
	assert_true(isnan(pt.upperbound));
	assert_true(isnan(pt.mean));
	assert_true(isnan(pt.sd));
	assert_false(pt.valid);
	assert_false(pt.alarm);

	/* A NaN at t: C1's bound is still 2 + z, but there is nothing to decide. */
	const double y2[] = {1, 2, 3, NAN};
	p.min_sigma = 0.0;
	assert_int_equal(ears_detect(y2, 4, 3, &p, &pt), 0);
	assert_true(fabs(pt.upperbound - (2.0 + Z_999)) < 1e-12);
	assert_false(pt.valid);
	assert_false(pt.alarm);

	/* C3 with a NaN in R2(7) = y[2 .. 4] only: sd(R2(7)) is NaN */
	const double y3[] = {1, 2, 3, 4, NAN, 3, 4, 6};
	p = ears_params_default(EARS_C3);
	p.baseline = 3;
	assert_int_equal(ears_detect(y3, 8, 7, &p, &pt), 0);
	assert_true(isnan(pt.upperbound));
	assert_false(pt.valid);
	assert_false(pt.alarm);

	/* A NaN before the window is never read */
	const double y4[] = {NAN, 1, 2, 3, 10};
	p = ears_params_default(EARS_C1);
	p.baseline = 3;
	assert_int_equal(ears_detect(y4, 5, 4, &p, &pt), 0);
	assert_true(pt.valid);
	assert_true(pt.alarm);
}

static void test_einval(void **state)
{
	(void)state;
	double y[20];
	for (size_t i = 0; i < 20; i++)
		y[i] = (double)(i % 4);
	struct ears_point untouched = {.upperbound = -7, .mean = -7, .sd = -7};
	struct ears_point pt;
	struct ears_params p;

	/* the first feasible t is baseline, baseline + 2, baseline + 4 */
	static const struct {
		enum ears_method method;
		size_t first;
	} firsts[] = {{EARS_C1, 7}, {EARS_C2, 9}, {EARS_C3, 11}};
	for (size_t i = 0; i < 3; i++) {
		p = ears_params_default(firsts[i].method);
		for (size_t t = 0; t < firsts[i].first; t++) {
			pt = untouched;
			assert_int_equal(ears_detect(y, 20, t, &p, &pt), -EINVAL);
			assert_true(pt.upperbound == -7 && pt.mean == -7 && pt.sd == -7);
		}
		assert_int_equal(ears_detect(y, 20, firsts[i].first, &p, &pt), 0);
		/* n too short for any t */
		assert_int_equal(ears_detect(y, firsts[i].first, firsts[i].first - 1, &p, &pt),
		                 -EINVAL);
	}

	p = ears_params_default(EARS_C1);
	assert_int_equal(ears_detect(NULL, 20, 10, &p, &pt), -EINVAL);
	assert_int_equal(ears_detect(y, 20, 10, NULL, &pt), -EINVAL);
	assert_int_equal(ears_detect(y, 20, 10, &p, NULL), -EINVAL);
	assert_int_equal(ears_detect(y, 20, 20, &p, &pt), -EINVAL); /* t >= n */
	assert_int_equal(ears_detect(y, 0, 0, &p, &pt), -EINVAL);

	static const struct {
		size_t baseline;
		double min_sigma, alpha;
	} bad[] = {
	    {2, 0.0, 0.001},        /* R: "Minimum baseline to use is 3." */
	    {0, 0.0, 0.001},        /* no reference at all */
	    {SIZE_MAX, 0.0, 0.001}, /* t - baseline must not wrap */
	    {7, -0.5, 0.001},       /* R: minSigma needs to be positive */
	    {7, NAN, 0.001},        /* not a number */
	    {7, INFINITY, 0.001},   /* infinite sigma */
	    {7, 0.0, 0.0},          /* z = Inf */
	    {7, 0.0, 1.0},          /* z = -Inf */
	    {7, 0.0, -0.1},         /* not a level */
	    {7, 0.0, NAN},          /* not a number */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = ears_params_default(EARS_C3);
		p.baseline = bad[i].baseline;
		p.min_sigma = bad[i].min_sigma;
		p.alpha = bad[i].alpha;
		if (ears_detect(y, 20, 15, &p, &pt) != -EINVAL)
			fail_msg("bad params case %zu accepted", i);
	}

	p = ears_params_default((enum ears_method)42);
	assert_int_equal(p.method, 42);
	assert_int_equal(ears_detect(y, 20, 15, &p, &pt), -EINVAL);

	/* +-Inf among the values read (C3 at t = 15 reads y[4 .. 15]) */
	p = ears_params_default(EARS_C3);
	y[4] = INFINITY;
	assert_int_equal(ears_detect(y, 20, 15, &p, &pt), -EINVAL);
	y[4] = 0;
	y[15] = -INFINITY;
	assert_int_equal(ears_detect(y, 20, 15, &p, &pt), -EINVAL);
	y[15] = 0;
	y[3] = INFINITY; /* not read */
	assert_int_equal(ears_detect(y, 20, 15, &p, &pt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),     cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_c1_hand),    cmocka_unit_test(test_c2_hand),
	    cmocka_unit_test(test_c3_hand),    cmocka_unit_test(test_sd_zero),
	    cmocka_unit_test(test_c3_sd_zero), cmocka_unit_test(test_nan_input),
	    cmocka_unit_test(test_einval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
