/* Unit tests for daemon/metrics: declaring families, updating series and the exact
 * Prometheus text the registry renders, plus the error returns. */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static int setup(void **state)
{
	struct metrics *m = metrics_new();
	if (m == NULL)
		return -1;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	metrics_free(*state);
	return 0;
}

/* Renders `m` and compares it with `want` as a whole. */
static void assert_render(const struct metrics *m, const char *want)
{
	char *got = metrics_render(m);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		print_error("rendered:\n%s\nwanted:\n%s\n", got, want);
	assert_string_equal(got, want);
	free(got);
}

static void test_empty(void **state)
{
	struct metrics *m = *state;
	assert_render(m, "");
	/* a declared family without series still has its HELP and TYPE lines */
	assert_int_equal(metrics_declare(m, "wr_up", METRICS_GAUGE, "Whether the daemon runs."), 0);
	assert_render(m, "# HELP wr_up Whether the daemon runs.\n"
	                 "# TYPE wr_up gauge\n");
}

static void test_counter(void **state)
{
	struct metrics *m = *state;
	assert_int_equal(metrics_declare(m, "wr_http_requests_total", METRICS_COUNTER,
	                                 "HTTP requests by route and status code."),
	                 0);
	/* 1 + 2 = 3 on one series; a second series starts at its own 0 */
	assert_int_equal(
	    metrics_counter_add(m, "wr_http_requests_total", "route=\"/healthz\",code=\"200\"", 1),
	    0);
	assert_int_equal(
	    metrics_counter_add(m, "wr_http_requests_total", "route=\"/readyz\",code=\"503\"", 0.5),
	    0);
	assert_int_equal(
	    metrics_counter_add(m, "wr_http_requests_total", "route=\"/healthz\",code=\"200\"", 2),
	    0);
	assert_int_equal(metrics_counter_add(m, "wr_http_requests_total", "", 7), 0);
	assert_render(m, "# HELP wr_http_requests_total HTTP requests by route and status code.\n"
	                 "# TYPE wr_http_requests_total counter\n"
	                 "wr_http_requests_total{route=\"/healthz\",code=\"200\"} 3\n"
	                 "wr_http_requests_total{route=\"/readyz\",code=\"503\"} 0.5\n"
	                 "wr_http_requests_total 7\n");
}

static void test_counter_zero_delta(void **state)
{
	struct metrics *m = *state;
	assert_int_equal(metrics_declare(m, "wr_errors_total", METRICS_COUNTER, "Errors."), 0);
	/* adding 0 creates the series, so it is exported as 0 before the first error */
	assert_int_equal(metrics_counter_add(m, "wr_errors_total", "kind=\"db\"", 0), 0);
	assert_render(m, "# HELP wr_errors_total Errors.\n"
	                 "# TYPE wr_errors_total counter\n"
	                 "wr_errors_total{kind=\"db\"} 0\n");
}

static void test_gauge(void **state)
{
	struct metrics *m = *state;
	assert_int_equal(metrics_declare(m, "wr_db_busy", METRICS_GAUGE, "Busy connections."), 0);
	assert_int_equal(metrics_gauge_set(m, "wr_db_busy", "", 2), 0);
	assert_int_equal(metrics_gauge_set(m, "wr_db_busy", "", 3.5), 0); /* replaces 2 */
	assert_int_equal(metrics_gauge_set(m, "wr_db_busy", "pool=\"b\"", -1), 0);
	assert_render(m, "# HELP wr_db_busy Busy connections.\n"
	                 "# TYPE wr_db_busy gauge\n"
	                 "wr_db_busy 3.5\n"
	                 "wr_db_busy{pool=\"b\"} -1\n");
}

static void test_histogram(void **state)
{
	struct metrics *m = *state;
	assert_int_equal(
	    metrics_declare(m, "wr_request_seconds", METRICS_HISTOGRAM, "Request latency."), 0);
	/* 0.0005 falls in le=0.001, both 0.003 in le=0.005, 0.7 in le=1 and 20 only in +Inf.
	 * Cumulative: 0.001:1 0.0025:1 0.005:3 ... 0.5:3 1:4 2.5:4 5:4 10:4 +Inf:5.
	 * Sum 0.0005 + 0.003 + 0.003 + 0.7 + 20 = 20.7065, count 5. */
	static const double obs[] = {0.0005, 0.003, 0.7, 20, 0.003};
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		assert_int_equal(metrics_observe(m, "wr_request_seconds", "route=\"/x\"", obs[i]),
		                 0);
	assert_render(m, "# HELP wr_request_seconds Request latency.\n"
	                 "# TYPE wr_request_seconds histogram\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.001\"} 1\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.0025\"} 1\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.005\"} 3\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.01\"} 3\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.025\"} 3\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.05\"} 3\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.1\"} 3\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.25\"} 3\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"0.5\"} 3\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"1\"} 4\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"2.5\"} 4\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"5\"} 4\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"10\"} 4\n"
	                 "wr_request_seconds_bucket{route=\"/x\",le=\"+Inf\"} 5\n"
	                 "wr_request_seconds_sum{route=\"/x\"} 20.7065\n"
	                 "wr_request_seconds_count{route=\"/x\"} 5\n");
}

static void test_histogram_bounds_no_labels(void **state)
{
	struct metrics *m = *state;
	assert_int_equal(metrics_declare(m, "wr_job_seconds", METRICS_HISTOGRAM, "Job time."), 0);
	/* Upper bounds are inclusive: 0.25 counts in le=0.25 and 10 in le=10.
	 * Sum 0.25 + 10 = 10.25, count 2. */
	assert_int_equal(metrics_observe(m, "wr_job_seconds", "", 0.25), 0);
	assert_int_equal(metrics_observe(m, "wr_job_seconds", "", 10), 0);
	assert_render(m, "# HELP wr_job_seconds Job time.\n"
	                 "# TYPE wr_job_seconds histogram\n"
	                 "wr_job_seconds_bucket{le=\"0.001\"} 0\n"
	                 "wr_job_seconds_bucket{le=\"0.0025\"} 0\n"
	                 "wr_job_seconds_bucket{le=\"0.005\"} 0\n"
	                 "wr_job_seconds_bucket{le=\"0.01\"} 0\n"
	                 "wr_job_seconds_bucket{le=\"0.025\"} 0\n"
	                 "wr_job_seconds_bucket{le=\"0.05\"} 0\n"
	                 "wr_job_seconds_bucket{le=\"0.1\"} 0\n"
	                 "wr_job_seconds_bucket{le=\"0.25\"} 1\n"
	                 "wr_job_seconds_bucket{le=\"0.5\"} 1\n"
	                 "wr_job_seconds_bucket{le=\"1\"} 1\n"
	                 "wr_job_seconds_bucket{le=\"2.5\"} 1\n"
	                 "wr_job_seconds_bucket{le=\"5\"} 1\n"
	                 "wr_job_seconds_bucket{le=\"10\"} 2\n"
	                 "wr_job_seconds_bucket{le=\"+Inf\"} 2\n"
	                 "wr_job_seconds_sum 10.25\n"
	                 "wr_job_seconds_count 2\n");
}

static void test_histogram_own_bounds(void **state)
{
	struct metrics *m = *state;
	static const double bounds[] = {1, 60, 900};
	static const double unordered[] = {1, 1};
	assert_int_equal(metrics_declare_histogram(m, "wr_run_seconds", "Run time.", bounds, 3), 0);
	assert_int_equal(metrics_declare_histogram(m, "wr_run_seconds", "Again.", bounds, 3),
	                 -EEXIST);
	assert_int_equal(metrics_declare_histogram(m, "wr_bad", "Bad.", bounds, 0), -EINVAL);
	assert_int_equal(metrics_declare_histogram(m, "wr_bad", "Bad.", unordered, 2), -EINVAL);
	/* 45 s counts in le=60 (it would be +Inf only with the latency buckets), 1000 s in +Inf.
	 * Sum 45 + 1000 = 1045, count 2. */
	assert_int_equal(metrics_observe(m, "wr_run_seconds", "", 45), 0);
	assert_int_equal(metrics_observe(m, "wr_run_seconds", "", 1000), 0);
	assert_render(m, "# HELP wr_run_seconds Run time.\n"
	                 "# TYPE wr_run_seconds histogram\n"
	                 "wr_run_seconds_bucket{le=\"1\"} 0\n"
	                 "wr_run_seconds_bucket{le=\"60\"} 1\n"
	                 "wr_run_seconds_bucket{le=\"900\"} 1\n"
	                 "wr_run_seconds_bucket{le=\"+Inf\"} 2\n"
	                 "wr_run_seconds_sum 1045\n"
	                 "wr_run_seconds_count 2\n");
}

static void test_declaration_order(void **state)
{
	struct metrics *m = *state;
	/* families render in declaration order, whatever order they are updated in */
	assert_int_equal(metrics_declare(m, "b_total", METRICS_COUNTER, "B."), 0);
	assert_int_equal(metrics_declare(m, "a", METRICS_GAUGE, "A."), 0);
	assert_int_equal(metrics_gauge_set(m, "a", "", 1), 0);
	assert_int_equal(metrics_counter_add(m, "b_total", "", 2), 0);
	assert_render(m, "# HELP b_total B.\n"
	                 "# TYPE b_total counter\n"
	                 "b_total 2\n"
	                 "# HELP a A.\n"
	                 "# TYPE a gauge\n"
	                 "a 1\n");
}

static void test_kept_strings(void **state)
{
	struct metrics *m = *state;
	/* name, help and labels are copied: changing the caller's buffers changes nothing */
	char name[] = "wr_kept_total", help[] = "Kept.", labels[] = "k=\"v\"";
	assert_int_equal(metrics_declare(m, name, METRICS_COUNTER, help), 0);
	assert_int_equal(metrics_counter_add(m, name, labels, 1), 0);
	memset(name, 'x', sizeof(name) - 1);
	memset(help, 'x', sizeof(help) - 1);
	memset(labels, 'x', sizeof(labels) - 1);
	assert_render(m, "# HELP wr_kept_total Kept.\n"
	                 "# TYPE wr_kept_total counter\n"
	                 "wr_kept_total{k=\"v\"} 1\n");
}

static void test_errors(void **state)
{
	struct metrics *m = *state;
	assert_int_equal(metrics_declare(m, "c_total", METRICS_COUNTER, "C."), 0);
	assert_int_equal(metrics_declare(m, "g", METRICS_GAUGE, "G."), 0);
	assert_int_equal(metrics_declare(m, "h", METRICS_HISTOGRAM, "H."), 0);

	/* redeclaring, with the same or another type */
	assert_int_equal(metrics_declare(m, "c_total", METRICS_COUNTER, "C again."), -EEXIST);
	assert_int_equal(metrics_declare(m, "g", METRICS_HISTOGRAM, "G again."), -EEXIST);

	/* undeclared families */
	assert_int_equal(metrics_counter_add(m, "nope_total", "", 1), -ENOENT);
	assert_int_equal(metrics_gauge_set(m, "nope", "", 1), -ENOENT);
	assert_int_equal(metrics_observe(m, "nope", "", 1), -ENOENT);

	/* a family used as another type */
	assert_int_equal(metrics_counter_add(m, "g", "", 1), -ENOENT);
	assert_int_equal(metrics_counter_add(m, "h", "", 1), -ENOENT);
	assert_int_equal(metrics_gauge_set(m, "c_total", "", 1), -ENOENT);
	assert_int_equal(metrics_gauge_set(m, "h", "", 1), -ENOENT);
	assert_int_equal(metrics_observe(m, "c_total", "", 1), -ENOENT);
	assert_int_equal(metrics_observe(m, "g", "", 1), -ENOENT);

	/* nothing of the failed calls shows: no series, original help texts */
	assert_render(m, "# HELP c_total C.\n"
	                 "# TYPE c_total counter\n"
	                 "# HELP g G.\n"
	                 "# TYPE g gauge\n"
	                 "# HELP h H.\n"
	                 "# TYPE h histogram\n");
}

static void test_many_series(void **state)
{
	struct metrics *m = *state;
	/* more series than any initial allocation; each keeps its own value */
	char labels[32];
	assert_int_equal(metrics_declare(m, "n_total", METRICS_COUNTER, "N."), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 100; i++) {
			snprintf(labels, sizeof(labels), "i=\"%d\"", i);
			assert_int_equal(metrics_counter_add(m, "n_total", labels, i), 0);
		}
	}
	char *got = metrics_render(m);
	assert_non_null(got);
	/* each series is i + i = 2i */
	assert_non_null(strstr(got, "\nn_total{i=\"0\"} 0\n"));
	assert_non_null(strstr(got, "\nn_total{i=\"37\"} 74\n"));
	assert_non_null(strstr(got, "\nn_total{i=\"99\"} 198\n"));
	size_t lines = 0;
	for (const char *p = got; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2 + 100);
	free(got);
}

static void test_free_null(void **state)
{
	metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counter_zero_delta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gauge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_histogram_bounds_no_labels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_histogram_own_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_declaration_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kept_strings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_series, setup, teardown),
	    cmocka_unit_test(test_free_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
