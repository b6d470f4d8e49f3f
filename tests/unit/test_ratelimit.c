/* Unit tests for daemon/ratelimit: the burst, the refill rate, the wait it reports, keys kept
 * apart, and a table that forgets idle keys without forgetting busy ones. */
#include "ratelimit.h"

#include <math.h>
#include <stdbool.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_burst_then_refill(void **state)
{
	struct ratelimit *rl = ratelimit_new();
	assert_non_null(rl);
	/* 5 per second, burst 10: ten at once, the eleventh waits 1/5 s. */
	for (int i = 0; i < 10; i++)
		assert_true(ratelimit_take(rl, 7, 5, 10, 100.0) == 0);
	double wait = ratelimit_take(rl, 7, 5, 10, 100.0);
	assert_true(fabs(wait - 0.2) < 1e-9);
	/* Half the wait later: still refused, with the rest of the wait. */
	wait = ratelimit_take(rl, 7, 5, 10, 100.1);
	assert_true(fabs(wait - 0.1) < 1e-9);
	/* After the wait: one request, not more. */
	assert_true(ratelimit_take(rl, 7, 5, 10, 100.2) == 0);
	assert_true(ratelimit_take(rl, 7, 5, 10, 100.2) > 0);
	/* A long pause refills to the burst, never beyond it. */
	int n = 0;
	while (ratelimit_take(rl, 7, 5, 10, 1000.0) == 0)
		n++;
	assert_int_equal(n, 10);
	ratelimit_free(rl);
}

static void test_sustained_rate(void **state)
{
	struct ratelimit *rl = ratelimit_new();
	assert_non_null(rl);
	/* A client sending 100 per second against a limit of 20 (burst 5) for 10 s gets about
	 * 5 + 20 * 10 through. */
	int ok = 0;
	for (int i = 0; i < 1000; i++)
		ok += ratelimit_take(rl, 1, 20, 5, 50.0 + i * 0.01) == 0;
	assert_in_range(ok, 200, 206);
	ratelimit_free(rl);
}

static void test_keys_are_separate(void **state)
{
	struct ratelimit *rl = ratelimit_new();
	assert_non_null(rl);
	assert_true(ratelimit_take(rl, 1, 1, 1, 10.0) == 0);
	assert_true(ratelimit_take(rl, 1, 1, 1, 10.0) > 0);
	assert_true(ratelimit_take(rl, 2, 1, 1, 10.0) == 0);
	ratelimit_free(rl);
}

static void test_many_keys_and_forgetting(void **state)
{
	struct ratelimit *rl = ratelimit_new();
	assert_non_null(rl);
	/* Key 0 is kept empty throughout; thousands of other keys come and go. Growing and
	 * pruning the table must never hand key 0 a fresh bucket. */
	for (int i = 0; i < 3; i++)
		ratelimit_take(rl, 0, 0.001, 3, 0.0);
	for (long long k = 1; k <= 5000; k++) {
		assert_true(ratelimit_take(rl, k, 1, 2, (double)k * 0.01) == 0);
		assert_true(ratelimit_take(rl, 0, 0.001, 3, (double)k * 0.01) > 0);
	}
	/* Long after, every key is full again: it is as good as new. */
	for (long long k = 1; k <= 5000; k++)
		assert_true(ratelimit_take(rl, k, 1, 2, 1e6) == 0);
	ratelimit_free(rl);
}

static void test_no_rate_never_refills(void **state)
{
	struct ratelimit *rl = ratelimit_new();
	assert_non_null(rl);
	assert_true(ratelimit_take(rl, 3, 0, 1, 0.0) == 0);
	assert_true(ratelimit_take(rl, 3, 0, 1, 1e9) > 0);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refill),
	    cmocka_unit_test(test_sustained_rate),
	    cmocka_unit_test(test_keys_are_separate),
	    cmocka_unit_test(test_many_keys_and_forgetting),
	    cmocka_unit_test(test_no_rate_never_refills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
