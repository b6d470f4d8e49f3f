/* Unit tests for analyzers/disclosure: random rounding (known answers from Python's hashlib,
 * range, determinism, unbiasedness over 20,000 keys), the thresholds at their boundaries, peer
 * rules, and secondary suppression on 1-D and 2-D tables, attacked by a solver that knows every
 * published cell exactly and tries to derive the suppressed ones. */
#include "disclosure.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
/* cmocka 1.1's assert_float_equal works in float. */
#define assert_near(got, want, tol) assert_true(fabs((got) - (want)) <= (tol))

static const enum dc_reason all_reasons[] = {
    DC_SHOWN,     DC_SECRET,   DC_SMALL_N,       DC_SMALL_DENOMINATOR, DC_SMALL_POPULATION,
    DC_SECONDARY, DC_PEER_FEW, DC_PEER_DOMINANT, DC_DEPENDS,
};

static void test_reason_strings(void **state)
{
	static const char *const codes[] = {
	    "shown",     "secret",   "small_n",       "small_denominator", "small_population",
	    "secondary", "peer_few", "peer_dominant", "depends",
	};
	assert_int_equal(N_ELEMS(codes), N_ELEMS(all_reasons));
	for (size_t i = 0; i < N_ELEMS(all_reasons); i++) {
		assert_string_equal(dc_reason_code(all_reasons[i]), codes[i]);
		const char *nl = dc_reason_nl(all_reasons[i]);
		assert_non_null(nl);
		assert_true(strlen(nl) > 0);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(nl, dc_reason_nl(all_reasons[j]));
	}
	assert_string_equal(dc_reason_nl(DC_SECRET), "geheim: 0 tot 7 personen");
	assert_string_equal(dc_reason_nl(DC_PEER_DOMINANT), "één organisatie levert meer dan 85%");
	assert_string_equal(dc_reason_code((enum dc_reason)99), "unknown");
	assert_non_null(dc_reason_nl((enum dc_reason)99));

	/* The sentences name the thresholds of the #defines. */
	char buf[32];
	snprintf(buf, sizeof(buf), "0 tot %d", DC_SECRET_MAX);
	assert_non_null(strstr(dc_reason_nl(DC_SECRET), buf));
	snprintf(buf, sizeof(buf), "minder dan %d)", DC_MIN_N);
	assert_non_null(strstr(dc_reason_nl(DC_SMALL_N), buf));
	snprintf(buf, sizeof(buf), "kleiner dan %d", DC_MIN_DENOMINATOR);
	assert_non_null(strstr(dc_reason_nl(DC_SMALL_DENOMINATOR), buf));
	snprintf(buf, sizeof(buf), "minder dan %d inwoners", DC_MIN_POPULATION);
	assert_non_null(strstr(dc_reason_nl(DC_SMALL_POPULATION), buf));
	snprintf(buf, sizeof(buf), "minder dan %d andere", DC_MIN_PEERS);
	assert_non_null(strstr(dc_reason_nl(DC_PEER_FEW), buf));
	snprintf(buf, sizeof(buf), "meer dan %.0f%%", 100 * DC_MAX_SHARE);
	assert_non_null(strstr(dc_reason_nl(DC_PEER_DOMINANT), buf));
}

/* Computed independently with Python:
 *   d = hashlib.sha256(seed.to_bytes(8, 'little') + key.encode()).digest()
 *   u = int.from_bytes(d[:8], 'little') / 2**64;  up when u < (c % 5) / 5 */
static void test_round_known_answers(void **state)
{
	static const struct {
		uint64_t seed;
		const char *key;
		double u; /* for the comments: which way each count must go */
		long c8, c9, c11, c12, c14;
	} cases[] = {
	    {0, "", 0.4767380733878224, 10, 10, 10, 10, 15},
	    {1, "a", 0.9622443643821774, 5, 5, 10, 10, 10},
	    {0x0123456789abcdefULL, "benchmark/2024-W05/WK036301/persons", 0.40412761347838067, 10,
	     10, 10, 10, 15},
	    {42, "cell/1", 0.7710457087125094, 5, 10, 10, 10, 15},
	    {42, "cell/2", 0.2717929327558651, 10, 10, 10, 15, 15},
	    {42, "cell/3", 0.5244233879093811, 10, 10, 10, 10, 15},
	    {7, "x", 0.7481130226637993, 5, 10, 10, 10, 15},
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		uint64_t s = cases[i].seed;
		const char *k = cases[i].key;
		assert_int_equal(dc_round(8, s, k), cases[i].c8);
		assert_int_equal(dc_round(9, s, k), cases[i].c9);
		assert_int_equal(dc_round(11, s, k), cases[i].c11);
		assert_int_equal(dc_round(12, s, k), cases[i].c12);
		assert_int_equal(dc_round(14, s, k), cases[i].c14);
	}
	/* A NULL key is the empty key. */
	assert_int_equal(dc_round(12, 0, NULL), 10);
	assert_int_equal(dc_round(14, 0, NULL), 15);
}

static void test_round_range(void **state)
{
	char key[32];
	for (long c = 0; c <= 300; c++) {
		for (int k = 0; k < 50; k++) {
			snprintf(key, sizeof(key), "r/%d", k);
			long r = dc_round(c, 99, key);
			if (r % 5 != 0 || r <= c - 5 || r >= c + 5)
				fail_msg("dc_round(%ld, key %s) = %ld", c, key, r);
			if (c % 5 == 0 && r != c)
				fail_msg("multiple of 5 changed: %ld -> %ld", c, r);
			assert_int_equal(dc_round(c, 99, key), r); /* deterministic */
		}
	}
	/* Negative counts (not counts, but the arithmetic holds): floor, not truncation. */
	long r = dc_round(-3, 5, "neg");
	assert_true(r == -5 || r == 0);
	/* No overflow at the top: rounds down. */
	assert_int_equal(dc_round(LONG_MAX, 1, "max"), LONG_MAX - LONG_MAX % 5);
	assert_int_equal(dc_round(LONG_MIN, 1, "min") % 5, 0);
	assert_true(dc_round(LONG_MIN, 1, "min") - LONG_MIN < 5);
}

/* Over 20,000 keys the mean of the rounded count is the count (the standard error is at most
 * 5 * 0.5 / sqrt(20000) = 0.018, so 0.1 is more than 5 of them; rounding to the nearest
 * multiple would miss by 2), and each direction occurs about (c mod 5) / 5 of the time. */
static void test_round_unbiased(void **state)
{
	enum { KEYS = 20000 };
	char key[32];
	for (long c = 8; c <= 12; c++) {
		double sum = 0;
		long up = 0, down = 0;
		for (int k = 0; k < KEYS; k++) {
			snprintf(key, sizeof(key), "unbiased/%d", k);
			long r = dc_round(c, 20240205, key);
			sum += (double)r;
			up += r > c;
			down += r < c;
		}
		double mean = sum / KEYS;
		if (fabs(mean - (double)c) > 0.1)
			fail_msg("mean of dc_round(%ld) = %f", c, mean);
		long rem = c % 5;
		if (rem != 0) {
			assert_true(up > 0 && down > 0);
			double share = (double)up / KEYS;
			if (fabs(share - (double)rem / 5) > 0.02)
				fail_msg("count %ld rounded up %f of the time", c, share);
		} else {
			assert_int_equal(up + down, 0);
		}
	}
}

static void test_round_seed_and_key(void **state)
{
	char key[32];
	int differ_seed = 0, differ_key = 0;
	for (int k = 0; k < 100; k++) {
		snprintf(key, sizeof(key), "cell/%d", k);
		long a = dc_round(12, 1, key);
		differ_seed += a != dc_round(12, 2, key);
		differ_key += a != dc_round(12, 1, "cell/0");
	}
	/* Each pair differs with probability 2 * 0.4 * 0.6 = 0.48. */
	assert_true(differ_seed > 20 && differ_seed < 80);
	assert_true(differ_key > 20 && differ_key < 80);
	/* The seed's bytes all matter: seeds differing only in the top byte. */
	int differ_top = 0;
	for (int k = 0; k < 100; k++) {
		snprintf(key, sizeof(key), "cell/%d", k);
		differ_top += dc_round(12, 1, key) != dc_round(12, 1 | (1ULL << 63), key);
	}
	assert_true(differ_top > 20);
}

static void test_count(void **state)
{
	long out = -1;
	for (long c = 0; c <= DC_SECRET_MAX; c++) {
		out = -1;
		assert_int_equal(dc_count(c, 1, "k", &out), DC_SECRET);
		assert_int_equal(out, 0);
	}
	out = -1;
	assert_int_equal(dc_count(-1, 1, "k", &out), DC_SECRET);
	assert_int_equal(out, 0);

	/* 8 is shown: rounded to 5 or 10, and a 5 is published as 10 (never a number under 8);
	 * across keys dc_round gives both, dc_count always 10. */
	char key[32];
	bool five = false, ten = false;
	for (int k = 0; k < 200; k++) {
		snprintf(key, sizeof(key), "count/%d", k);
		assert_int_equal(dc_count(8, 3, key, &out), DC_SHOWN);
		assert_int_equal(out, 10);
		five |= dc_round(8, 3, key) == 5;
		ten |= dc_round(8, 3, key) == 10;
	}
	assert_true(five && ten);
	assert_int_equal(dc_count(8, 1, "a", &out), DC_SHOWN);
	assert_int_equal(dc_round(8, 1, "a"), 5); /* known answer above */
	assert_int_equal(out, 10);
	for (long c = 10; c <= 14; c++) {
		assert_int_equal(dc_count(c, 1, "a", &out), DC_SHOWN);
		assert_int_equal(out, dc_round(c, 1, "a"));
	}
	assert_int_equal(dc_count(40, 1, "a", &out), DC_SHOWN);
	assert_int_equal(out, 40);
	assert_int_equal(dc_count(3, 1, "a", NULL), DC_SECRET);
	assert_int_equal(dc_count(30, 1, "a", NULL), DC_SHOWN);
}

static void test_percent(void **state)
{
	double p = -1;
	assert_int_equal(dc_percent(5, DC_SHOWN, 20, DC_SHOWN, &p), DC_SHOWN);
	assert_near(p, 25.0, 1e-12);
	p = -1;
	assert_int_equal(dc_percent(5, DC_SHOWN, 19, DC_SHOWN, &p), DC_SMALL_DENOMINATOR);
	assert_near(p, 0.0, 0);
	assert_int_equal(dc_percent(0, DC_SHOWN, 0, DC_SHOWN, &p), DC_SMALL_DENOMINATOR);
	assert_int_equal(dc_percent(15, DC_SHOWN, 15, DC_SHOWN, &p), DC_SMALL_DENOMINATOR);
	assert_int_equal(dc_percent(45, DC_SHOWN, 60, DC_SHOWN, &p), DC_SHOWN);
	assert_near(p, 75.0, 1e-12);

	/* A figure not shown makes the percentage depend on it, whatever the denominator. */
	for (size_t i = 1; i < N_ELEMS(all_reasons); i++) {
		p = -1;
		assert_int_equal(dc_percent(0, all_reasons[i], 100, DC_SHOWN, &p), DC_DEPENDS);
		assert_near(p, 0.0, 0);
		assert_int_equal(dc_percent(10, DC_SHOWN, 0, all_reasons[i], &p), DC_DEPENDS);
		assert_int_equal(dc_percent(10, DC_SHOWN, 5, all_reasons[i], &p), DC_DEPENDS);
	}
	assert_int_equal(dc_percent(10, DC_SHOWN, 100, DC_SHOWN, NULL), DC_SHOWN);

	/* Chained: a published count, its percentage, a percentage of a secret count. */
	long num, den;
	enum dc_reason rn = dc_count(5, 9, "num", &num);
	enum dc_reason rd = dc_count(200, 9, "den", &den);
	assert_int_equal(dc_percent(num, rn, den, rd, &p), DC_DEPENDS);
	rn = dc_count(50, 9, "num", &num);
	assert_int_equal(dc_percent(num, rn, den, rd, &p), DC_SHOWN);
	assert_near(p, 25.0, 1e-12);
}

static void test_rate(void **state)
{
	double r = -1;
	assert_int_equal(dc_rate(10, DC_SHOWN, 100, 1000, &r), DC_SHOWN);
	assert_near(r, 100.0, 1e-12);
	r = -1;
	assert_int_equal(dc_rate(10, DC_SHOWN, 99, 1000, &r), DC_SMALL_POPULATION);
	assert_near(r, 0.0, 0);
	assert_int_equal(dc_rate(10, DC_SHOWN, 99.9, 1000, &r), DC_SMALL_POPULATION);
	assert_int_equal(dc_rate(10, DC_SHOWN, 0, 1000, &r), DC_SMALL_POPULATION);
	assert_int_equal(dc_rate(10, DC_SHOWN, NAN, 1000, &r), DC_SMALL_POPULATION);
	assert_int_equal(dc_rate(15, DC_SHOWN, 2500, 1000, &r), DC_SHOWN);
	assert_near(r, 6.0, 1e-12);
	for (size_t i = 1; i < N_ELEMS(all_reasons); i++) {
		r = -1;
		assert_int_equal(dc_rate(0, all_reasons[i], 5000, 1000, &r), DC_DEPENDS);
		assert_near(r, 0.0, 0);
	}
	assert_int_equal(dc_rate(10, DC_SHOWN, 100, 1000, NULL), DC_SHOWN);
}

static void test_mean(void **state)
{
	bool ind = false;
	assert_int_equal(dc_mean(7, &ind), DC_SMALL_N);
	assert_int_equal(dc_mean(0, &ind), DC_SMALL_N);
	assert_int_equal(dc_mean(-1, &ind), DC_SMALL_N);
	ind = false;
	assert_int_equal(dc_mean(8, &ind), DC_SHOWN);
	assert_true(ind);
	ind = false;
	assert_int_equal(dc_mean(29, &ind), DC_SHOWN);
	assert_true(ind);
	ind = true;
	assert_int_equal(dc_mean(30, &ind), DC_SHOWN);
	assert_false(ind);
	assert_int_equal(dc_mean(1000, NULL), DC_SHOWN);
}

static void test_peer(void **state)
{
	assert_int_equal(dc_peer(NULL, 0), DC_PEER_FEW);
	const double two[] = {40, 60};
	assert_int_equal(dc_peer(two, 2), DC_PEER_FEW);
	const double three[] = {40, 60, 30};
	assert_int_equal(dc_peer(three, 3), DC_SHOWN);

	const double dominant[] = {86, 7, 7};
	assert_int_equal(dc_peer(dominant, 3), DC_PEER_DOMINANT);
	const double dominant_last[] = {7, 7, 86};
	assert_int_equal(dc_peer(dominant_last, 3), DC_PEER_DOMINANT);
	const double at_limit[] = {85, 10, 5};
	assert_int_equal(dc_peer(at_limit, 3), DC_SHOWN);
	const double at_limit_17[] = {17, 2, 1}; /* 17/20 = 85% */
	assert_int_equal(dc_peer(at_limit_17, 3), DC_SHOWN);
	const double just_over[] = {85.01, 9.99, 5};
	assert_int_equal(dc_peer(just_over, 3), DC_PEER_DOMINANT);

	/* Organisations with nothing in the aggregate do not count as contributors. */
	const double zeros[] = {50, 50, 0, 0};
	assert_int_equal(dc_peer(zeros, 4), DC_PEER_FEW);
	const double all_zero[] = {0, 0, 0};
	assert_int_equal(dc_peer(all_zero, 3), DC_PEER_FEW);
	const double with_nan[] = {40, NAN, 30};
	assert_int_equal(dc_peer(with_nan, 3), DC_PEER_FEW);
	const double with_inf[] = {40, INFINITY, 30, 20};
	assert_int_equal(dc_peer(with_inf, 4), DC_PEER_FEW);
	const double many[] = {10, 20, 30, 40, 50};
	assert_int_equal(dc_peer(many, 5), DC_SHOWN);
}

static size_t count_reason(const enum dc_reason *reason, size_t n, enum dc_reason r)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += reason[i] == r;
	return k;
}

static void test_secondary_1d(void **state)
{
	/* cells 0..3 add up to cell 4 */
	const size_t members[] = {0, 1, 2, 3};
	const struct dc_group g = {members, 4, 4};
	const long value[] = {3, 20, 15, 40, 78};
	enum dc_reason reason[5] = {DC_SECRET, DC_SHOWN, DC_SHOWN, DC_SHOWN, DC_SHOWN};
	assert_int_equal(dc_secondary(reason, value, 5, &g, 1), 1);
	assert_int_equal(reason[0], DC_SECRET);
	assert_int_equal(reason[2], DC_SECONDARY); /* 15, the smallest shown member */
	assert_int_equal(count_reason(reason, 5, DC_SHOWN), 3);
	/* a fixed point: again changes nothing */
	assert_int_equal(dc_secondary(reason, value, 5, &g, 1), 0);

	/* The total suppressed (say, a secret total): a member goes too. */
	enum dc_reason r2[5] = {DC_SHOWN, DC_SHOWN, DC_SHOWN, DC_SHOWN, DC_SECRET};
	assert_int_equal(dc_secondary(r2, value, 5, &g, 1), 1);
	assert_int_equal(r2[0], DC_SECONDARY);

	/* Ties: the lowest index. */
	const long tied[] = {30, 15, 20, 15, 80};
	enum dc_reason r3[5] = {DC_SHOWN, DC_SHOWN, DC_SECRET, DC_SHOWN, DC_SHOWN};
	assert_int_equal(dc_secondary(r3, tied, 5, &g, 1), 1);
	assert_int_equal(r3[1], DC_SECONDARY);
	assert_int_equal(r3[3], DC_SHOWN);

	/* Nothing or two suppressed: nothing to do. */
	enum dc_reason r4[5] = {DC_SHOWN, DC_SHOWN, DC_SHOWN, DC_SHOWN, DC_SHOWN};
	assert_int_equal(dc_secondary(r4, value, 5, &g, 1), 0);
	enum dc_reason r5[5] = {DC_SECRET, DC_SHOWN, DC_DEPENDS, DC_SHOWN, DC_SHOWN};
	assert_int_equal(dc_secondary(r5, value, 5, &g, 1), 0);
	assert_int_equal(count_reason(r5, 5, DC_SECONDARY), 0);

	/* One member: the member is the total, so the total goes. */
	const size_t one[] = {0};
	const struct dc_group g1 = {one, 1, 1};
	const long v1[] = {5, 5};
	enum dc_reason r6[2] = {DC_SECRET, DC_SHOWN};
	assert_int_equal(dc_secondary(r6, v1, 2, &g1, 1), 1);
	assert_int_equal(r6[1], DC_SECONDARY);

	/* No members and a suppressed total (the total is 0 anyway): left alone, no loop. */
	const struct dc_group g0 = {NULL, 0, 0};
	enum dc_reason r7[1] = {DC_SECRET};
	assert_int_equal(dc_secondary(r7, v1, 1, &g0, 1), 0);

	/* Hierarchical: cells 0,1 -> 2 and cells 2,3 -> 4; secret 0 drags 1 (group A), which
	 * leaves group B alone; a secret 2 then needs 3 (group B), which is a fixed point. */
	const size_t ma[] = {0, 1}, mb[] = {2, 3};
	const struct dc_group h[] = {{ma, 2, 2}, {mb, 2, 4}};
	const long vh[] = {4, 30, 34, 50, 84};
	enum dc_reason r8[5] = {DC_SECRET, DC_SHOWN, DC_SHOWN, DC_SHOWN, DC_SHOWN};
	assert_int_equal(dc_secondary(r8, vh, 5, h, 2), 1);
	assert_int_equal(r8[1], DC_SECONDARY);
	assert_int_equal(count_reason(r8, 5, DC_SHOWN), 3);
	/* the subtotal secret: one complement in each group */
	enum dc_reason r9[5] = {DC_SHOWN, DC_SHOWN, DC_SECRET, DC_SHOWN, DC_SHOWN};
	assert_int_equal(dc_secondary(r9, vh, 5, h, 2), 2);
	assert_int_equal(r9[0], DC_SECONDARY);
	assert_int_equal(r9[3], DC_SECONDARY);
}

/* A table of R x C inner cells with row totals, column totals and a grand total:
 * inner (r, c) is cell r * C + c, row total r is R * C + r, column total c is R * C + R + c,
 * and the grand total is the last cell. Groups: each row, each column, the row totals and the
 * column totals. */
#define MAX_DIM   5
#define MAX_CELLS ((MAX_DIM + 1) * (MAX_DIM + 1))

struct table {
	size_t rows, cols, n_cells, n_groups;
	long value[MAX_CELLS];
	size_t members[2 * MAX_DIM + 2][MAX_DIM];
	struct dc_group groups[2 * MAX_DIM + 2];
};

static void table_init(struct table *t, size_t rows, size_t cols, const long *inner)
{
	assert_true(rows <= MAX_DIM && cols <= MAX_DIM);
	memset(t, 0, sizeof(*t));
	t->rows = rows;
	t->cols = cols;
	size_t row0 = rows * cols, col0 = row0 + rows, grand = col0 + cols;
	t->n_cells = grand + 1;
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			long v = inner[r * cols + c];
			t->value[r * cols + c] = v;
			t->value[row0 + r] += v;
			t->value[col0 + c] += v;
			t->value[grand] += v;
		}
	}
	size_t g = 0;
	for (size_t r = 0; r < rows; r++, g++) {
		for (size_t c = 0; c < cols; c++)
			t->members[g][c] = r * cols + c;
		t->groups[g] = (struct dc_group){t->members[g], cols, row0 + r};
	}
	for (size_t c = 0; c < cols; c++, g++) {
		for (size_t r = 0; r < rows; r++)
			t->members[g][r] = r * cols + c;
		t->groups[g] = (struct dc_group){t->members[g], rows, col0 + c};
	}
	for (size_t r = 0; r < rows; r++)
		t->members[g][r] = row0 + r;
	t->groups[g] = (struct dc_group){t->members[g], rows, grand};
	g++;
	for (size_t c = 0; c < cols; c++)
		t->members[g][c] = col0 + c;
	t->groups[g] = (struct dc_group){t->members[g], cols, grand};
	t->n_groups = g + 1;
}

/* Every group has 0 or at least 2 suppressed cells. */
static void assert_no_lone_suppression(const struct table *t, const enum dc_reason *reason)
{
	for (size_t g = 0; g < t->n_groups; g++) {
		const struct dc_group *grp = &t->groups[g];
		size_t k = reason[grp->total] != DC_SHOWN;
		for (size_t j = 0; j < grp->n; j++)
			k += reason[grp->members[j]] != DC_SHOWN;
		if (k == 1)
			fail_msg("group %zu has one suppressed cell", g);
	}
}

/* The attacker: knows the table's layout and every published cell exactly (stronger than a
 * real one, who sees rounded figures), and that counts are whole and non-negative. */
struct attack {
	const struct table *t;
	long bound; /* largest value tried for a cell (the enumeration must end) */
	size_t n_solutions;
	long first[MAX_CELLS];
	bool varies[MAX_CELLS];
};

/* Solves every group equation with exactly one unknown cell, until none is left. Returns false
 * when the assignment contradicts an equation or the bounds. */
static bool propagate(const struct table *t, long bound, long *val, bool *known)
{
	bool changed = true;
	while (changed) {
		changed = false;
		for (size_t g = 0; g < t->n_groups; g++) {
			const struct dc_group *grp = &t->groups[g];
			size_t unknowns = 0, last = 0;
			long members = 0;
			for (size_t j = 0; j < grp->n; j++) {
				size_t c = grp->members[j];
				if (known[c]) {
					members += val[c];
				} else {
					unknowns++;
					last = c;
				}
			}
			if (!known[grp->total]) {
				unknowns++;
				last = grp->total;
			}
			if (unknowns == 0 && members != val[grp->total])
				return false;
			if (unknowns != 1)
				continue;
			long v = last == grp->total ? members : val[grp->total] - members;
			if (v < 0 || v > bound)
				return false;
			val[last] = v;
			known[last] = true;
			changed = true;
		}
	}
	return true;
}

/* Enumerates every whole non-negative assignment of the unknown cells (up to the bound) that
 * satisfies all equations, recording for each cell whether it takes more than one value. */
static void search(struct attack *a, const long *val_in, const bool *known_in)
{
	long val[MAX_CELLS];
	bool known[MAX_CELLS];
	memcpy(val, val_in, sizeof(val));
	memcpy(known, known_in, sizeof(known));
	if (!propagate(a->t, a->bound, val, known))
		return;
	size_t free_cell = a->t->n_cells;
	for (size_t c = 0; c < a->t->n_cells && free_cell == a->t->n_cells; c++)
		if (!known[c])
			free_cell = c;
	if (free_cell == a->t->n_cells) {
		for (size_t c = 0; c < a->t->n_cells; c++) {
			if (a->n_solutions == 0)
				a->first[c] = val[c];
			else if (val[c] != a->first[c])
				a->varies[c] = true;
		}
		a->n_solutions++;
		return;
	}
	for (long v = 0; v <= a->bound; v++) {
		val[free_cell] = v;
		known[free_cell] = true;
		search(a, val, known);
	}
}

/* The published view: shown cells known, suppressed ones not. */
static void published(const struct table *t, const enum dc_reason *reason, long *val, bool *known)
{
	for (size_t c = 0; c < MAX_CELLS; c++) {
		known[c] = c < t->n_cells && reason[c] == DC_SHOWN;
		val[c] = known[c] ? t->value[c] : 0;
	}
}

/* How many suppressed cells the one-unknown rule recovers, checking that it recovers them
 * right. */
static size_t attack_equations(const struct table *t, const enum dc_reason *reason)
{
	long val[MAX_CELLS];
	bool known[MAX_CELLS];
	published(t, reason, val, known);
	assert_true(propagate(t, LONG_MAX, val, known));
	size_t recovered = 0;
	for (size_t c = 0; c < t->n_cells; c++) {
		if (reason[c] != DC_SHOWN && known[c]) {
			assert_int_equal(val[c], t->value[c]);
			recovered++;
		}
	}
	return recovered;
}

/* How many suppressed cells take a single value over all solutions (pinned). */
static size_t attack_enumerate(const struct table *t, const enum dc_reason *reason)
{
	struct attack a = {.t = t, .bound = t->value[t->n_cells - 1]};
	long val[MAX_CELLS];
	bool known[MAX_CELLS];
	published(t, reason, val, known);
	search(&a, val, known);
	assert_true(a.n_solutions > 0); /* the true table is one */
	size_t pinned = 0;
	for (size_t c = 0; c < t->n_cells; c++)
		pinned += reason[c] != DC_SHOWN && !a.varies[c];
	return pinned;
}

static void test_secondary_2d(void **state)
{
	/*   3 40 25 | 68
	 *  30 12 50 | 92
	 *  22 35 18 | 75
	 *  55 87 93 | 235
	 * The secret 3 needs a complement in its row (25) and its column (22); 25's column then
	 * needs 18, which completes the rectangle 3, 25, 22, 18. */
	static const long inner[] = {3, 40, 25, 30, 12, 50, 22, 35, 18};
	struct table t;
	table_init(&t, 3, 3, inner);
	assert_int_equal(t.value[15], 235);

	enum dc_reason reason[MAX_CELLS];
	for (size_t c = 0; c < t.n_cells; c++)
		reason[c] = DC_SHOWN;
	reason[0] = DC_SECRET;

	/* Without secondary suppression the row total gives the secret away. */
	assert_int_equal(attack_equations(&t, reason), 1);
	assert_int_equal(attack_enumerate(&t, reason), 1);

	assert_int_equal(dc_secondary(reason, t.value, t.n_cells, t.groups, t.n_groups), 3);
	assert_int_equal(reason[0], DC_SECRET);
	assert_int_equal(reason[2], DC_SECONDARY);
	assert_int_equal(reason[6], DC_SECONDARY);
	assert_int_equal(reason[8], DC_SECONDARY);
	assert_no_lone_suppression(&t, reason);
	assert_int_equal(attack_equations(&t, reason), 0);
	assert_int_equal(attack_enumerate(&t, reason), 0);
}

/* A table's cell as an edge of the bipartite graph of its R + 1 row nodes (the last one for
 * the totals row) and C + 1 column nodes: a two-way table with margins is the (R+1) x (C+1)
 * array whose every row and column adds up (with the margins negated), so its equations are
 * the incidence matrix of that graph, and a suppressed cell is determined by the published
 * ones exactly when it is a bridge of the graph of suppressed cells. This is the test's own,
 * graph-based check; dc_secondary uses linear algebra. */
static void cell_edge(const struct table *t, size_t cell, size_t *u, size_t *v)
{
	size_t rows = t->rows, cols = t->cols, row0 = rows * cols, col0 = row0 + rows;
	size_t r, c;
	if (cell < row0) {
		r = cell / cols;
		c = cell % cols;
	} else if (cell < col0) {
		r = cell - row0;
		c = cols;
	} else if (cell < col0 + cols) {
		r = rows;
		c = cell - col0;
	} else {
		r = rows;
		c = cols;
	}
	*u = r;
	*v = rows + 1 + c;
}

/* How many suppressed cells are bridges (determined by a combination of rows and columns). */
static size_t bridges(const struct table *t, const enum dc_reason *reason)
{
	size_t n_nodes = t->rows + t->cols + 2, found = 0;
	for (size_t e = 0; e < t->n_cells; e++) {
		if (reason[e] == DC_SHOWN)
			continue;
		size_t eu, ev;
		cell_edge(t, e, &eu, &ev);
		bool reached[2 * MAX_DIM + 2] = {false};
		reached[eu] = true;
		bool grew = true;
		while (grew) {
			grew = false;
			for (size_t c = 0; c < t->n_cells; c++) {
				if (c == e || reason[c] == DC_SHOWN)
					continue;
				size_t u, v;
				cell_edge(t, c, &u, &v);
				if (reached[u] != reached[v]) {
					reached[u] = reached[v] = true;
					grew = true;
				}
			}
		}
		assert_true(n_nodes <= 2 * MAX_DIM + 2);
		found += !reached[ev];
	}
	return found;
}

static void test_secondary_2d_bridge(void **state)
{
	/* Two secrets, 4 x 4, and more than one pass over the groups. Pass 1: rows 0 and 1
	 * take 31 and 28, columns 1 and 3 take 38 and 12, which leaves rows 2 and 3 with one
	 * suppressed cell each; pass 2: rows 2 and 3 take 21 and 19, column 2 then takes 44. */
	static const long inner[] = {
	    5,  60, 44, 31, /* */
	    28, 6,  52, 40, /* */
	    33, 47, 21, 12, /* */
	    19, 38, 70, 26,
	};
	static const size_t lone_rule[] = {2, 3, 4, 10, 11, 12, 13};
	struct table t;
	table_init(&t, 4, 4, inner);
	enum dc_reason reason[MAX_CELLS];

	/* The lone-cell rule alone leaves every group with 0 or >= 2 suppressed cells, yet the
	 * blocks {5, 4, 12, 13} and {2, 3, 10, 11} hang together by the secret 5 alone: rows 0
	 * and 2 minus columns 2 and 3 give it. */
	for (size_t c = 0; c < t.n_cells; c++)
		reason[c] = DC_SHOWN;
	reason[0] = reason[5] = DC_SECRET;
	for (size_t i = 0; i < N_ELEMS(lone_rule); i++)
		reason[lone_rule[i]] = DC_SECONDARY;
	assert_no_lone_suppression(&t, reason);
	assert_int_equal(attack_equations(&t, reason), 0);
	assert_int_equal(bridges(&t, reason), 1);
	assert_int_equal(attack_enumerate(&t, reason), 1);

	/* dc_secondary does that and then the linear check, which adds 33 (column 0's
	 * complement, smaller than row 0's 60) and closes the cycle. */
	for (size_t c = 0; c < t.n_cells; c++)
		reason[c] = DC_SHOWN;
	reason[0] = reason[5] = DC_SECRET;
	assert_true(attack_equations(&t, reason) > 0);
	assert_int_equal(dc_secondary(reason, t.value, t.n_cells, t.groups, t.n_groups), 8);
	for (size_t i = 0; i < N_ELEMS(lone_rule); i++)
		assert_int_equal(reason[lone_rule[i]], DC_SECONDARY);
	assert_int_equal(reason[8], DC_SECONDARY);
	assert_int_equal(count_reason(reason, t.n_cells, DC_SECONDARY), 8);
	assert_int_equal(count_reason(reason, t.n_cells, DC_SECRET), 2);
	assert_no_lone_suppression(&t, reason);
	assert_int_equal(attack_equations(&t, reason), 0);
	assert_int_equal(bridges(&t, reason), 0);
	assert_int_equal(attack_enumerate(&t, reason), 0);
	assert_int_equal(dc_secondary(reason, t.value, t.n_cells, t.groups, t.n_groups), 0);

	/* A suppressed row total: the row and the column of row totals need complements. */
	for (size_t c = 0; c < t.n_cells; c++)
		reason[c] = DC_SHOWN;
	reason[16 + 2] = DC_SECRET; /* the total of row 2: not small, but the rule does not care */
	assert_int_equal(attack_equations(&t, reason), 1);
	assert_true(dc_secondary(reason, t.value, t.n_cells, t.groups, t.n_groups) >= 3);
	assert_no_lone_suppression(&t, reason);
	assert_int_equal(attack_equations(&t, reason), 0);
	assert_int_equal(bridges(&t, reason), 0);
	assert_int_equal(attack_enumerate(&t, reason), 0);
}

static void test_secondary_zero_complement(void **state)
{
	/*   0  0 25 | 25
	 *   0 12 50 | 62
	 *  22 35 18 | 75
	 * A secret 0 (cell 0). Taking the smallest cells as complements (0, 0 and then 12) would
	 * give the rectangle 0 0 / 0 12: its one free direction lowers a 0, so non-negativity pins
	 * all four. A positive value is taken before a zero: 25, 22 and 18. */
	static const long inner[] = {0, 0, 25, 0, 12, 50, 22, 35, 18};
	struct table t;
	table_init(&t, 3, 3, inner);
	enum dc_reason reason[MAX_CELLS];
	for (size_t c = 0; c < t.n_cells; c++)
		reason[c] = DC_SHOWN;
	reason[0] = DC_SECRET;
	reason[1] = reason[3] = reason[4] = DC_SECONDARY;
	assert_no_lone_suppression(&t, reason);
	assert_int_equal(bridges(&t, reason), 0);
	assert_int_equal(attack_enumerate(&t, reason), 4);

	for (size_t c = 0; c < t.n_cells; c++)
		reason[c] = DC_SHOWN;
	reason[0] = DC_SECRET;
	assert_int_equal(dc_secondary(reason, t.value, t.n_cells, t.groups, t.n_groups), 3);
	assert_int_equal(reason[2], DC_SECONDARY);
	assert_int_equal(reason[6], DC_SECONDARY);
	assert_int_equal(reason[8], DC_SECONDARY);
	assert_int_equal(attack_enumerate(&t, reason), 0);

	/* Only zeros left to take: a zero it is. */
	const size_t members[] = {0, 1, 2};
	const struct dc_group g = {members, 3, 3};
	const long v[] = {4, 0, 0, 4};
	enum dc_reason r[4] = {DC_SECRET, DC_SHOWN, DC_SHOWN, DC_SHOWN};
	assert_int_equal(dc_secondary(r, v, 4, &g, 1), 1);
	assert_int_equal(r[1], DC_SECONDARY);
}

/* A fixed linear congruential generator, so the tables are the same on every platform. */
static uint32_t lcg(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*state >> 33);
}

/* Many random two-way tables with a share of small counts, every count of 0..7 (totals too)
 * secret: afterwards no group has a lone suppressed cell and no suppressed cell is a bridge,
 * i.e. none is determined by the published cells. With every count positive the bounds
 * cannot pin one either, which the enumerating attacker checks on the smaller tables. */
static void test_secondary_random(void **state)
{
	uint64_t rng = 20240205;
	size_t suppressed_total = 0, checked_by_enumeration = 0;
	for (int round = 0; round < 400; round++) {
		size_t rows = 2 + lcg(&rng) % 4, cols = 2 + lcg(&rng) % 4;
		bool positive = round % 2 == 0;
		long inner[MAX_DIM * MAX_DIM];
		for (size_t i = 0; i < rows * cols; i++) {
			bool small = lcg(&rng) % 4 == 0;
			long v = small ? (long)(lcg(&rng) % 8) : 8 + (long)(lcg(&rng) % 60);
			inner[i] = positive && v == 0 ? 1 : v;
		}
		struct table t;
		table_init(&t, rows, cols, inner);
		enum dc_reason reason[MAX_CELLS];
		for (size_t c = 0; c < t.n_cells; c++)
			reason[c] = dc_count(t.value[c], 1, "k", NULL);
		size_t primary = t.n_cells - count_reason(reason, t.n_cells, DC_SHOWN);
		size_t added = dc_secondary(reason, t.value, t.n_cells, t.groups, t.n_groups);
		assert_int_equal(count_reason(reason, t.n_cells, DC_SECONDARY), added);
		assert_int_equal(t.n_cells - count_reason(reason, t.n_cells, DC_SHOWN),
		                 primary + added);
		assert_no_lone_suppression(&t, reason);
		if (bridges(&t, reason) != 0)
			fail_msg("round %d: a suppressed cell is determined", round);
		suppressed_total += primary + added;
		if (positive && rows * cols <= 6) {
			if (attack_enumerate(&t, reason) != 0)
				fail_msg("round %d: the enumeration pins a cell", round);
			checked_by_enumeration++;
		}
	}
	assert_true(suppressed_total > 400);
	assert_true(checked_by_enumeration > 20);
}

/* The combined figures of hidden cells: the total minus the shown members must not describe
 * fewer than 8 persons. Zero cells do not protect. */
static void test_secondary_sums(void **state)
{
	/* Members 5 (secret), 0 (secret), 20, 30; total 55. Hidden together: 5 persons. */
	long value[] = {5, 0, 20, 30, 55};
	enum dc_reason reason[] = {DC_SECRET, DC_SECRET, DC_SHOWN, DC_SHOWN, DC_SHOWN};
	size_t members[] = {0, 1, 2, 3};
	struct dc_group g = {members, 4, 4};
	assert_int_equal(dc_secondary_sums(reason, value, 5, &g, 1, DC_MIN_N), 1);
	assert_int_equal(reason[2], DC_SECONDARY); /* the smallest member holding persons */
	assert_int_equal(reason[3], DC_SHOWN);
	assert_int_equal(reason[4], DC_SHOWN);
	/* Only zeros hidden: nothing to protect. */
	long zeros[] = {0, 0, 40, 40};
	enum dc_reason r2[] = {DC_SECRET, DC_SECRET, DC_SHOWN, DC_SHOWN};
	size_t m2[] = {0, 1, 2};
	struct dc_group g2 = {m2, 3, 3};
	assert_int_equal(dc_secondary_sums(r2, zeros, 4, &g2, 1, DC_MIN_N), 0);
	/* No shown member holds persons: the total goes. */
	long v3[] = {3, 0, 3};
	enum dc_reason r3[] = {DC_SECRET, DC_SHOWN, DC_SHOWN};
	size_t m3[] = {0, 1};
	struct dc_group g3 = {m3, 2, 2};
	assert_int_equal(dc_secondary_sums(r3, v3, 3, &g3, 1, DC_MIN_N), 1);
	assert_int_equal(r3[2], DC_SECONDARY);
	/* Without the function the union is recoverable: total - shown = 5 persons. */
	assert_int_equal(value[4] - value[2] - value[3], 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reason_strings),
	    cmocka_unit_test(test_round_known_answers),
	    cmocka_unit_test(test_round_range),
	    cmocka_unit_test(test_round_unbiased),
	    cmocka_unit_test(test_round_seed_and_key),
	    cmocka_unit_test(test_count),
	    cmocka_unit_test(test_percent),
	    cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_mean),
	    cmocka_unit_test(test_peer),
	    cmocka_unit_test(test_secondary_1d),
	    cmocka_unit_test(test_secondary_2d),
	    cmocka_unit_test(test_secondary_2d_bridge),
	    cmocka_unit_test(test_secondary_zero_complement),
	    cmocka_unit_test(test_secondary_random),
	    cmocka_unit_test(test_secondary_sums),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
