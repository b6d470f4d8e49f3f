/* Tests of the alert rule (analyzers/detect.c): the choice of detector by history length and
 * each condition of the rule (persons, upper bound, ratio, consecutive weeks). */
#include "detect.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define N 300

/* A seasonal Poisson series of mean about `level`, seeded. */
static void make_series(double *y, double *pop, size_t n, double level, unsigned long seed)
{
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(rng, seed);
	for (size_t i = 0; i < n; i++) {
		double mu = level * (1 + 0.3 * sin(2 * M_PI * (double)i / 52));
		y[i] = gsl_ran_poisson(rng, mu);
		pop[i] = 12410;
	}
	gsl_rng_free(rng);
}

static void test_farrington_rise_alerts(void **state)
{
	double y[N], pop[N];
	struct detect_params p;
	struct detect_result r;
	detect_params_default(&p);
	make_series(y, pop, N, 3, 1);
	/* A loneliness rise: +12 and +14 persons in the last two weeks. */
	y[N - 2] += 12;
	y[N - 1] += 14;
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_int_equal(r.method, DETECT_FARRINGTON);
	assert_true(r.alert);
	assert_int_equal(r.run_length, 2);
	assert_int_equal(r.n_evaluated, 2);
	assert_true(r.weeks[0].exceeds && r.weeks[1].exceeds);
	assert_true(r.weeks[0].observed > r.weeks[0].upperbound);
	assert_true(r.ratio >= 1.5);
	assert_true(r.strength > 2); /* p < 0.01 */
	assert_true(r.recurrence_weeks > 100);
	/* The same series without the rise: nothing. */
	y[N - 2] -= 12;
	y[N - 1] -= 14;
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_false(r.alert);
}

static void test_one_week_is_not_a_pattern(void **state)
{
	double y[N], pop[N];
	struct detect_params p;
	struct detect_result r;
	detect_params_default(&p);
	make_series(y, pop, N, 3, 2);
	y[N - 1] += 15;
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_true(r.weeks[0].exceeds);
	assert_false(r.alert);
	assert_int_equal(r.run_length, 1);
	p.consecutive = 1;
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_true(r.alert);
}

static void test_too_few_persons(void **state)
{
	/* A rise from about 0.3 to 6 and 7 persons is far above the bound, but below the
	 * minimum of 8 distinct persons: no alert, and the current week is not even evaluated. */
	double y[N], pop[N];
	struct detect_params p;
	struct detect_result r;
	detect_params_default(&p);
	make_series(y, pop, N, 0.3, 3);
	y[N - 2] = 6;
	y[N - 1] = 7;
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_false(r.alert);
	assert_int_equal(r.n_evaluated, 0);
	p.min_persons = 5;
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_true(r.alert);
}

static void test_ratio_rule(void **state)
{
	/* A busy series (about 100 a week): the last two weeks are set just above their upper
	 * bounds, which is still less than 1.5 x expected, so the rule holds them back; with
	 * min_ratio 1.05 they alert. (The last 26 weeks are outside the baseline, so raising
	 * week t-1 does not move the bound of week t.) */
	double y[N], pop[N];
	struct detect_params p;
	struct detect_result r;
	detect_params_default(&p);
	make_series(y, pop, N, 100, 4);
	p.min_ratio = 0;
	p.consecutive = 1;
	for (int k = 1; k >= 0; k--) {
		assert_int_equal(detect_series(y, pop, N, N - 1 - k, &p, &r), 0);
		y[N - 1 - k] = floor(r.weeks[0].upperbound) + 1;
		assert_true(y[N - 1 - k] < 1.5 * r.weeks[0].expected);
	}
	detect_params_default(&p);
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_true(r.weeks[0].observed > r.weeks[0].upperbound);
	assert_true(r.ratio < 1.5);
	assert_false(r.weeks[0].exceeds);
	assert_false(r.alert);
	p.min_ratio = 1.05;
	assert_int_equal(detect_series(y, pop, N, N - 1, &p, &r), 0);
	assert_true(r.alert);
}

static void test_short_history_uses_ears(void **state)
{
	/* Twenty weeks of 1-3 persons, then 12 and 14: too short for Farrington (it needs
	 * 52 * 4 + 3 weeks before), so EARS C2 decides. */
	double y[20] = {2, 1, 3, 2, 2, 1, 2, 3, 1, 2, 2, 1, 3, 2, 1, 2, 2, 3, 12, 14};
	double pop[20];
	struct detect_params p;
	struct detect_result r;
	for (int i = 0; i < 20; i++)
		pop[i] = 1000;
	detect_params_default(&p);
	assert_int_equal(detect_series(y, pop, 20, 19, &p, &r), 0);
	assert_int_equal(r.method, DETECT_EARS);
	assert_true(r.alert);
	/* Nine weeks are too few even for EARS C2 (baseline 7 + 2 before the oldest week). */
	assert_int_equal(detect_series(y + 11, pop, 9, 8, &p, &r), 0);
	assert_int_equal(r.method, DETECT_NONE);
	assert_false(r.alert);
}

static void test_bad_parameters(void **state)
{
	double y[10] = {0}, pop[10] = {0};
	struct detect_params p;
	struct detect_result r;
	detect_params_default(&p);
	assert_int_equal(detect_series(y, pop, 10, 10, &p, &r), -EINVAL);
	p.consecutive = 0;
	assert_int_equal(detect_series(y, pop, 10, 9, &p, &r), -EINVAL);
	p.consecutive = DETECT_MAX_CONSECUTIVE + 1;
	assert_int_equal(detect_series(y, pop, 10, 9, &p, &r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_farrington_rise_alerts),
	    cmocka_unit_test(test_one_week_is_not_a_pattern),
	    cmocka_unit_test(test_too_few_persons),
	    cmocka_unit_test(test_ratio_rule),
	    cmocka_unit_test(test_short_history_uses_ears),
	    cmocka_unit_test(test_bad_parameters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
