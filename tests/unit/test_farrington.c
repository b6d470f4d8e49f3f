/* Golden tests of analyzers/farrington.c against R's surveillance::farringtonFlexible:
 * tests/data/golden/farrington.tsv (written by tests/golden/farrington.R from the series in
 * series.tsv) holds, per series, control set and week, what the package computed. Upper bound,
 * expected value, p-value, score and phi must agree within 1e-6 relative; alarm and trend
 * decisions must be identical. Plus hand-checked properties of the method. */
#include "farrington.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define MAX_SERIES 32
#define MAX_LEN    1024

struct series {
	char name[64];
	size_t n;
	double y[MAX_LEN];
	double pop[MAX_LEN];
};

static struct series all_series[MAX_SERIES];
static size_t n_series;

static void load_series(void)
{
	char line[512], name[64];
	size_t t;
	double y, pop;
	FILE *f = fopen(WR_TEST_DATA "/golden/series.tsv", "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f)); /* header */
	n_series = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_int_equal(sscanf(line, "%63s %zu %lf %lf", name, &t, &y, &pop), 4);
		struct series *s = n_series > 0 ? &all_series[n_series - 1] : NULL;
		if (s == NULL || strcmp(s->name, name) != 0) {
			assert_true(n_series < MAX_SERIES);
			s = &all_series[n_series++];
			snprintf(s->name, sizeof(s->name), "%s", name);
			s->n = 0;
		}
		assert_int_equal(t, s->n + 1);
		assert_true(s->n < MAX_LEN);
		s->y[s->n] = y;
		s->pop[s->n] = pop;
		s->n++;
	}
	fclose(f);
}

static const struct series *find_series(const char *name)
{
	for (size_t i = 0; i < n_series; i++) {
		if (strcmp(all_series[i].name, name) == 0)
			return &all_series[i];
	}
	return NULL;
}

/* The control sets of tests/golden/farrington.R. */
static int control_params(const char *name, struct farrington_params *p)
{
	farrington_params_default(p);
	if (strcmp(name, "farrington") == 0) {
		p->weights_threshold = 1;
	} else if (strcmp(name, "noufaily") == 0) {
		farrington_params_noufaily(p);
	} else if (strcmp(name, "noufaily_muan") == 0) {
		farrington_params_noufaily(p);
		p->threshold = FARRINGTON_MUAN;
	} else if (strcmp(name, "noufaily_b4_pop") == 0) {
		farrington_params_noufaily(p);
		p->b = 4;
		p->population_offset = true;
	} else if (strcmp(name, "delta_none_notrend") == 0) {
		p->b = 3;
		p->w = 2;
		p->reweight = false;
		p->power = FARRINGTON_POWER_NONE;
		p->trend = false;
		p->alpha = 0.01;
	} else if (strcmp(name, "delta_half_w1") == 0) {
		p->b = 4;
		p->w = 1;
		p->power = FARRINGTON_POWER_HALF;
		p->alpha = 0.025;
		p->limit54_cases = 3;
		p->limit54_period = 3;
	} else {
		return -1;
	}
	return 0;
}

/* Equal within `rel` relative (absolute near zero), or both NaN. */
static int close_enough(double want, double got, double rel)
{
	if (isnan(want) || isnan(got))
		return isnan(want) && isnan(got);
	if (isinf(want) || isinf(got))
		return want == got;
	return fabs(want - got) <= rel * fmax(fabs(want), 1e-12) + 1e-12;
}

static void test_golden(void **state)
{
	char line[1024];
	size_t rows = 0, alarms = 0, failures = 0;
	double worst = 0;
	load_series();
	assert_true(n_series >= 8);
	FILE *f = fopen(WR_TEST_DATA "/golden/farrington.tsv", "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	while (fgets(line, sizeof(line), f) != NULL) {
		char series[64], control[64];
		size_t t;
		double y, upper, expected, pvalue, score, mu0, phi;
		int alarm, trend;
		int k =
		    sscanf(line, "%63s %63s %zu %lf %lf %lf %d %d %lf %lf %lf %lf", series, control,
		           &t, &y, &upper, &expected, &alarm, &trend, &pvalue, &score, &mu0, &phi);
		assert_int_equal(k, 12);
		const struct series *s = find_series(series);
		assert_non_null(s);
		struct farrington_params p;
		assert_int_equal(control_params(control, &p), 0);
		struct farrington_point got;
		assert_int_equal(farrington_detect(s->y, s->pop, s->n, t - 1, &p, &got), 0);
		rows++;
		alarms += alarm;
		int ok = close_enough(upper, got.upperbound, 1e-6) &&
		         close_enough(expected, got.expected, 1e-6) &&
		         close_enough(pvalue, got.pvalue, 1e-6) &&
		         close_enough(phi, got.phi, 1e-6) && close_enough(score, got.score, 1e-6) &&
		         close_enough(mu0, got.mu0, 1e-6) && alarm == (int)got.alarm &&
		         trend == (int)got.trend;
		if (!isnan(upper) && !isnan(got.upperbound))
			worst =
			    fmax(worst, fabs(upper - got.upperbound) / fmax(fabs(upper), 1e-12));
		if (!ok && failures++ < 20)
			print_error("%s %s t=%zu y=%g: R upper %.12g exp %.12g alarm %d trend %d p "
			            "%.6g score %.6g mu0 %.6g phi %.12g | C upper %.12g exp %.12g "
			            "alarm %d trend %d p %.6g score %.6g mu0 %.6g phi %.12g\n",
			            series, control, t, y, upper, expected, alarm, trend, pvalue,
			            score, mu0, phi, got.upperbound, got.expected, got.alarm,
			            got.trend, got.pvalue, got.score, got.mu0, got.phi);
	}
	fclose(f);
	print_message("# %zu golden rows, %zu alarms, worst relative upper-bound difference %.3g\n",
	              rows, alarms, worst);
	assert_true(rows > 5000);
	assert_true(alarms > 50);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
