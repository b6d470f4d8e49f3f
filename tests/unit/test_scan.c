/* Unit tests for analyzers/scan: hand-computed cases (tests/data/scan/hand.tsv), agreement
 * with a brute-force scan, a planted cluster, the rate of false alarms under the null, the
 * p-value and recurrence interval, secondary clusters, determinism, edges and bad input. */
#include "scan.h"
#include "tsv.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#ifndef WR_TEST_DATA
#error "WR_TEST_DATA must name the tests/data directory"
#endif

/* ---- data sets ---- */

/* One scan input and the arrays it points into, all owned. */
struct dataset {
	size_t n_areas;
	size_t n_weeks;
	double *pop;
	double *x;
	double *y;
	unsigned int *counts;
	double *expected;
	size_t *nb_start;
	size_t *nb_index;
};

static void dataset_free(struct dataset *d)
{
	if (d == NULL)
		return;
	free(d->pop);
	free(d->x);
	free(d->y);
	free(d->counts);
	free(d->expected);
	free(d->nb_start);
	free(d->nb_index);
	free(d);
}

/* A zeroed data set with room for `nb_cap` neighbour entries. Fails the test on ENOMEM. */
static struct dataset *dataset_new(size_t n_areas, size_t n_weeks, size_t nb_cap)
{
	struct dataset *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->n_areas = n_areas;
	d->n_weeks = n_weeks;
	d->pop = calloc(n_areas, sizeof(double));
	d->x = calloc(n_areas, sizeof(double));
	d->y = calloc(n_areas, sizeof(double));
	d->counts = calloc(n_areas * n_weeks, sizeof(unsigned int));
	d->expected = calloc(n_areas * n_weeks, sizeof(double));
	d->nb_start = calloc(n_areas + 1, sizeof(size_t));
	d->nb_index = calloc(nb_cap + 1, sizeof(size_t));
	assert_non_null(d->pop);
	assert_non_null(d->x);
	assert_non_null(d->y);
	assert_non_null(d->counts);
	assert_non_null(d->expected);
	assert_non_null(d->nb_start);
	assert_non_null(d->nb_index);
	return d;
}

static struct scan_input dataset_input(const struct dataset *d)
{
	return (struct scan_input){
	    .n_areas = d->n_areas,
	    .n_weeks = d->n_weeks,
	    .population = d->pop,
	    .x = d->x,
	    .y = d->y,
	    .counts = d->counts,
	    .expected = d->expected,
	    .nb_start = d->nb_start,
	    .nb_index = d->nb_index,
	};
}

/* A rows x cols grid of areas one unit apart with rook neighbours, populations 1000..4999 and
 * expected count population * 0.002 per week (2 to 10). Counts are left zero. */
static struct dataset *grid_new(size_t rows, size_t cols, size_t n_weeks, gsl_rng *rng)
{
	struct dataset *d = dataset_new(rows * cols, n_weeks, 4 * rows * cols);
	size_t k = 0;
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			size_t a = r * cols + c;
			d->x[a] = (double)c;
			d->y[a] = (double)r;
			d->pop[a] = 1000.0 + (double)gsl_rng_uniform_int(rng, 4000);
			for (size_t t = 0; t < n_weeks; t++)
				d->expected[a * n_weeks + t] = d->pop[a] * 0.002;
			d->nb_start[a] = k;
			if (r > 0)
				d->nb_index[k++] = a - cols;
			if (c > 0)
				d->nb_index[k++] = a - 1;
			if (c + 1 < cols)
				d->nb_index[k++] = a + 1;
			if (r + 1 < rows)
				d->nb_index[k++] = a + cols;
		}
	}
	d->nb_start[rows * cols] = k;
	return d;
}

/* Draws every count as Poisson(expected), times `rr` in the planted areas (a list ending in
 * SIZE_MAX, or NULL) during the last `rr_weeks` weeks. */
static void draw_counts(struct dataset *d, gsl_rng *rng, const size_t *planted, double rr,
                        size_t rr_weeks)
{
	for (size_t a = 0; a < d->n_areas; a++) {
		bool hot = false;
		for (size_t i = 0; planted != NULL && planted[i] != SIZE_MAX; i++)
			hot = hot || planted[i] == a;
		for (size_t t = 0; t < d->n_weeks; t++) {
			double mu = d->expected[a * d->n_weeks + t];
			if (hot && t + rr_weeks >= d->n_weeks)
				mu *= rr;
			d->counts[a * d->n_weeks + t] = mu > 0.0 ? gsl_ran_poisson(rng, mu) : 0;
		}
	}
}

static gsl_rng *rng_new(unsigned long seed)
{
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	assert_non_null(rng);
	gsl_rng_set(rng, seed);
	return rng;
}

static bool in_list(const size_t *list, size_t n, size_t v)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == v)
			return true;
	}
	return false;
}

static void assert_close(double got, double want, double tol, const char *what)
{
	bool ok = isinf(want) ? got == want : fabs(got - want) <= tol * fmax(1.0, fabs(want));
	if (!ok)
		print_error("%s: got %.17g, want %.17g\n", what, got, want);
	assert_true(ok);
}

/* ---- hand-computed cases from tests/data/scan/hand.tsv ---- */

#define MAX_FIELDS 16

/* Parses a comma-separated list of numbers into v (at most max); returns how many. */
static size_t parse_list(const char *s, double *v, size_t max)
{
	size_t n = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	while (*s != '\0' && n < max) {
		char *end;
		v[n++] = strtod(s, &end);
		assert_true(end != s);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

struct hand_cluster {
	double areas[16];
	size_t n_areas;
	size_t n_weeks;
	double observed, expected, rr, llr;
};

struct hand_case {
	char name[64];
	struct dataset *d;
	struct scan_params params;
	double nb[16][16];
	size_t n_nb[16];
	struct hand_cluster want[8];
	size_t n_want;
};

static void run_hand_case(struct hand_case *hc)
{
	struct dataset *d = hc->d;
	size_t k = 0;
	for (size_t a = 0; a < d->n_areas; a++) {
		d->nb_start[a] = k;
		for (size_t i = 0; i < hc->n_nb[a]; i++)
			d->nb_index[k++] = (size_t)hc->nb[a][i];
	}
	d->nb_start[d->n_areas] = k;

	struct scan_input in = dataset_input(d);
	struct scan_result *res = NULL;
	int r = scan_run(&in, &hc->params, NULL, &res);
	if (r != 0)
		print_error("case %s: scan_run returned %d\n", hc->name, r);
	assert_int_equal(r, 0);
	if (res->n_clusters != hc->n_want)
		print_error("case %s: %zu clusters, want %zu\n", hc->name, res->n_clusters,
		            hc->n_want);
	assert_int_equal(res->n_clusters, hc->n_want);
	for (size_t i = 0; i < hc->n_want; i++) {
		const struct scan_cluster *got = &res->clusters[i];
		const struct hand_cluster *want = &hc->want[i];
		print_message("# %s cluster %zu: llr %.17g\n", hc->name, i, got->llr);
		assert_int_equal(got->n_areas, want->n_areas);
		for (size_t j = 0; j < want->n_areas; j++)
			assert_int_equal(got->areas[j], (size_t)want->areas[j]);
		assert_int_equal(got->centre, got->areas[0]);
		assert_int_equal(got->n_weeks, want->n_weeks);
		assert_int_equal(got->first_week, d->n_weeks - want->n_weeks);
		assert_close(got->observed, want->observed, 1e-9, "observed");
		assert_close(got->expected, want->expected, 1e-9, "expected");
		assert_close(got->relative_risk, want->rr, 1e-9, "relative risk");
		assert_close(got->llr, want->llr, 1e-9, "llr");
		/* 0 replications: rank 1 of 1 */
		assert_close(got->p_value, 1.0, 0.0, "p");
		assert_close(got->recurrence_weeks, 1.0, 0.0, "recurrence");
	}
	if (hc->n_want == 0) {
		assert_close(res->max_llr, 0.0, 0.0, "max llr");
		assert_close(res->p_value, 1.0, 0.0, "p");
	} else {
		assert_close(res->max_llr, hc->want[0].llr, 1e-9, "max llr");
	}
	scan_result_free(res);
}

static void test_hand_cases(void **state)
{
	const char *path = WR_TEST_DATA "/scan/hand.tsv";
	FILE *f = fopen(path, "r");
	if (f == NULL)
		print_error("cannot open %s\n", path);
	assert_non_null(f);

	char line[1024];
	char *field[MAX_FIELDS];
	struct hand_case hc;
	bool open = false;
	size_t n_cases = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		size_t n = tsv_split(line, field, MAX_FIELDS);
		if (strcmp(field[0], "case") == 0) {
			assert_int_equal(n, 4);
			assert_false(open);
			memset(&hc, 0, sizeof(hc));
			snprintf(hc.name, sizeof(hc.name), "%s", field[1]);
			hc.d = dataset_new(strtoul(field[2], NULL, 10), strtoul(field[3], NULL, 10),
			                   16 * 16);
			assert_true(hc.d->n_areas <= 16);
			scan_params_default(&hc.params);
			hc.params.n_replications = 0;
			open = true;
		} else if (strcmp(field[0], "param") == 0) {
			assert_int_equal(n, 3);
			assert_true(open);
			double v = strtod(field[2], NULL);
			if (strcmp(field[1], "max_pop_share") == 0)
				hc.params.max_pop_share = v;
			else if (strcmp(field[1], "max_weeks") == 0)
				hc.params.max_weeks = (size_t)v;
			else if (strcmp(field[1], "max_clusters") == 0)
				hc.params.max_clusters = (size_t)v;
			else if (strcmp(field[1], "use_neighbours") == 0)
				hc.params.use_neighbours = v != 0.0;
			else
				fail_msg("unrecognized parameter: %s", field[1]);
		} else if (strcmp(field[0], "area") == 0) {
			assert_int_equal(n, 8);
			assert_true(open);
			struct dataset *d = hc.d;
			size_t a = strtoul(field[1], NULL, 10);
			assert_true(a < d->n_areas);
			d->x[a] = strtod(field[2], NULL);
			d->y[a] = strtod(field[3], NULL);
			d->pop[a] = strtod(field[4], NULL);
			double v[64];
			assert_int_equal(parse_list(field[5], v, 64), d->n_weeks);
			for (size_t t = 0; t < d->n_weeks; t++)
				d->counts[a * d->n_weeks + t] = (unsigned int)v[t];
			assert_int_equal(parse_list(field[6], v, 64), d->n_weeks);
			for (size_t t = 0; t < d->n_weeks; t++)
				d->expected[a * d->n_weeks + t] = v[t];
			hc.n_nb[a] = parse_list(field[7], hc.nb[a], 16);
		} else if (strcmp(field[0], "cluster") == 0) {
			assert_int_equal(n, 7);
			assert_true(open);
			assert_true(hc.n_want < 8);
			struct hand_cluster *c = &hc.want[hc.n_want++];
			c->n_areas = parse_list(field[1], c->areas, 16);
			c->n_weeks = strtoul(field[2], NULL, 10);
			c->observed = strtod(field[3], NULL);
			c->expected = strtod(field[4], NULL);
			c->rr = strtod(field[5], NULL);
			c->llr = strtod(field[6], NULL);
		} else if (strcmp(field[0], "end") == 0) {
			assert_true(open);
			run_hand_case(&hc);
			dataset_free(hc.d);
			open = false;
			n_cases++;
		} else {
			fail_msg("unrecognized line type: %s", field[0]);
		}
	}
	fclose(f);
	assert_false(open);
	assert_int_equal(n_cases, 11);
}

/* ---- brute force reference ---- */

/* Kulldorff's LLR written out independently of scan.c. */
static double ref_llr(double c, double e, double total)
{
	if (c <= e)
		return 0.0;
	double inside = c * log(c / e);
	double outside = 0.0;
	if (total - c > 0.0)
		outside = (total - c) * log((total - c) / (total - e));
	return inside + outside;
}

/* A window of the reference scan. */
struct ref_window {
	double llr;
	size_t centre;
	size_t n;
	size_t weeks;
	double c, e;
};

static int ref_window_cmp(const void *pa, const void *pb)
{
	const struct ref_window *a = pa, *b = pb;
	if (a->llr != b->llr)
		return a->llr > b->llr ? -1 : 1;
	if (a->centre != b->centre)
		return a->centre < b->centre ? -1 : 1;
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	return a->weeks < b->weeks ? -1 : (a->weeks > b->weeks);
}

static bool ref_nearer(const struct dataset *d, size_t centre, size_t a, size_t b)
{
	double da = (d->x[a] - d->x[centre]) * (d->x[a] - d->x[centre]) +
	            (d->y[a] - d->y[centre]) * (d->y[a] - d->y[centre]);
	double db = (d->x[b] - d->x[centre]) * (d->x[b] - d->x[centre]) +
	            (d->y[b] - d->y[centre]) * (d->y[b] - d->y[centre]);
	return da < db || (da == db && a < b);
}

/* Whether area b may join the set in[] next: any area for circles, or one listed as a
 * neighbour of a member. */
static bool ref_reachable(const struct dataset *d, const bool *member, size_t b, bool nbrs)
{
	if (!nbrs)
		return true;
	for (size_t a = 0; a < d->n_areas; a++) {
		if (!member[a])
			continue;
		for (size_t k = d->nb_start[a]; k < d->nb_start[a + 1]; k++) {
			if (d->nb_index[k] == b)
				return true;
		}
	}
	return false;
}

/* Brute-force scan: grows every set by picking the next area with a linear search and sums
 * every window's cells directly. Fills order[centre * n_areas + i] with the growth order and
 * win[] with every window with LLR > 0 sorted like scan.c's candidates; returns how many,
 * and the number of windows scanned in *n_windows. */
static size_t ref_scan(const struct dataset *d, const struct scan_params *p, size_t *order,
                       struct ref_window *win, size_t *n_windows)
{
	size_t N = d->n_areas, T = d->n_weeks;
	size_t W = p->max_weeks < T ? p->max_weeks : T;
	double total = 0.0, sum_e = 0.0, total_pop = 0.0;
	for (size_t a = 0; a < N; a++) {
		if (d->pop[a] == 0.0)
			continue;
		total_pop += d->pop[a];
		for (size_t t = 0; t < T; t++) {
			total += d->counts[a * T + t];
			sum_e += d->expected[a * T + t];
		}
	}
	double scale = total / sum_e, limit = p->max_pop_share * total_pop;
	bool *member = calloc(N, sizeof(bool));
	assert_non_null(member);
	size_t n_win = 0;
	*n_windows = 0;
	for (size_t centre = 0; centre < N; centre++) {
		if (d->pop[centre] == 0.0)
			continue;
		memset(member, 0, N * sizeof(bool));
		size_t n = 0;
		double inside = 0.0;
		for (;;) {
			size_t next = SIZE_MAX;
			if (n == 0) {
				next = centre;
			} else {
				for (size_t b = 0; b < N; b++) {
					if (d->pop[b] == 0.0 || member[b] ||
					    !ref_reachable(d, member, b, p->use_neighbours))
						continue;
					if (next == SIZE_MAX || ref_nearer(d, centre, b, next))
						next = b;
				}
				if (next == SIZE_MAX || inside + d->pop[next] > limit)
					break;
			}
			member[next] = true;
			inside += d->pop[next];
			order[centre * N + n++] = next;
			for (size_t w = 1; w <= W; w++) {
				double c = 0.0, e = 0.0;
				for (size_t i = 0; i < n; i++) {
					size_t a = order[centre * N + i];
					for (size_t t = T - w; t < T; t++) {
						c += d->counts[a * T + t];
						e += d->expected[a * T + t] * scale;
					}
				}
				double l = ref_llr(c, e, total);
				(*n_windows)++;
				if (l > 0.0)
					win[n_win++] = (struct ref_window){l, centre, n, w, c, e};
			}
		}
	}
	free(member);
	qsort(win, n_win, sizeof(*win), ref_window_cmp);
	return n_win;
}

/* Compares scan_run with the brute force on many small random data sets, with random
 * coordinates on a small integer lattice (many distance ties), zero populations, random
 * (asymmetric) neighbour lists and all parameters varied. */
static void test_brute_force(void **state)
{
	static const double shares[] = {0.1, 0.25, 0.5, 1.0};
	gsl_rng *rng = rng_new(20260414);
	size_t n_compared = 0, n_secondary = 0;
	for (int iter = 0; iter < 300; iter++) {
		size_t N = 1 + gsl_rng_uniform_int(rng, 20);
		size_t T = 1 + gsl_rng_uniform_int(rng, 6);
		struct dataset *d = dataset_new(N, T, 3 * N);
		size_t k = 0;
		for (size_t a = 0; a < N; a++) {
			d->x[a] = (double)gsl_rng_uniform_int(rng, 5);
			d->y[a] = (double)gsl_rng_uniform_int(rng, 5);
			d->pop[a] = gsl_rng_uniform(rng) < 0.1 && a > 0
			                ? 0.0
			                : 50.0 + (double)gsl_rng_uniform_int(rng, 200);
			for (size_t t = 0; t < T; t++) {
				double e = gsl_rng_uniform(rng) < 0.05
				               ? 0.0
				               : 0.5 + 4 * gsl_rng_uniform(rng);
				d->expected[a * T + t] = e;
				double rr = gsl_rng_uniform(rng) < 0.2 ? 3.0 : 1.0;
				d->counts[a * T + t] = e > 0.0 ? gsl_ran_poisson(rng, e * rr) : 0;
			}
			d->nb_start[a] = k;
			size_t n_nb = gsl_rng_uniform_int(rng, 4);
			for (size_t i = 0; i < n_nb; i++)
				d->nb_index[k++] = gsl_rng_uniform_int(rng, N);
		}
		d->nb_start[N] = k;
		struct scan_params p;
		scan_params_default(&p);
		p.n_replications = 0;
		p.max_pop_share = shares[gsl_rng_uniform_int(rng, 4)];
		p.max_weeks = 1 + gsl_rng_uniform_int(rng, 6);
		p.max_clusters = 1 + gsl_rng_uniform_int(rng, 5);
		p.use_neighbours = gsl_rng_uniform(rng) < 0.5;

		struct scan_input in = dataset_input(d);
		struct scan_result *res = NULL;
		assert_int_equal(scan_run(&in, &p, NULL, &res), 0);

		size_t *order = calloc(N * N, sizeof(size_t));
		struct ref_window *win = calloc(N * N * T, sizeof(*win));
		assert_non_null(order);
		assert_non_null(win);
		size_t n_windows = 0;
		size_t n_win =
		    res->total_observed > 0 ? ref_scan(d, &p, order, win, &n_windows) : 0;
		if (res->n_windows != n_windows)
			print_error("iteration %d: N %zu T %zu share %g weeks %zu nbrs %d\n", iter,
			            N, T, p.max_pop_share, p.max_weeks, p.use_neighbours);
		assert_int_equal(res->n_windows, n_windows);

		/* greedy non-overlapping selection over the reference windows */
		bool taken[32] = {false};
		size_t n_ref = 0;
		for (size_t i = 0; i < n_win && n_ref < p.max_clusters; i++) {
			const size_t *areas = order + win[i].centre * N;
			bool overlap = false;
			for (size_t j = 0; j < win[i].n; j++)
				overlap = overlap || taken[areas[j]];
			if (overlap)
				continue;
			for (size_t j = 0; j < win[i].n; j++)
				taken[areas[j]] = true;
			if (n_ref >= res->n_clusters)
				fail_msg("iteration %d: missing cluster %zu", iter, n_ref);
			const struct scan_cluster *got = &res->clusters[n_ref];
			assert_close(got->llr, win[i].llr, 1e-9, "llr");
			assert_close(got->observed, win[i].c, 1e-9, "observed");
			assert_close(got->expected, win[i].e, 1e-9, "expected");
			assert_int_equal(got->n_weeks, win[i].weeks);
			/* same area set (a tie between identical sets may pick another centre) */
			assert_int_equal(got->n_areas, win[i].n);
			for (size_t j = 0; j < win[i].n; j++)
				assert_true(in_list(got->areas, got->n_areas, areas[j]));
			n_ref++;
		}
		assert_int_equal(res->n_clusters, n_ref);
		n_compared++;
		n_secondary += n_ref > 1 ? n_ref - 1 : 0;
		free(order);
		free(win);
		scan_result_free(res);
		dataset_free(d);
	}
	print_message("# brute force: %zu data sets, %zu secondary clusters compared\n", n_compared,
	              n_secondary);
	assert_true(n_secondary > 50);
	gsl_rng_free(rng);
}

/* ---- planted cluster, null rate, p-values ---- */

/* True when the areas of `cl` form one connected piece on the grid's neighbour lists. */
static bool connected(const struct dataset *d, const struct scan_cluster *cl)
{
	bool seen[64] = {false};
	size_t queue[64], head = 0, tail = 0;
	queue[tail++] = cl->areas[0];
	seen[0] = true;
	while (head < tail) {
		size_t a = queue[head++];
		for (size_t k = d->nb_start[a]; k < d->nb_start[a + 1]; k++) {
			for (size_t j = 0; j < cl->n_areas; j++) {
				if (cl->areas[j] == d->nb_index[k] && !seen[j]) {
					seen[j] = true;
					queue[tail++] = cl->areas[j];
				}
			}
		}
	}
	return tail == cl->n_areas;
}

/* 60 areas (10 x 6 grid), 8 weeks, relative risk 3 in three adjacent areas during the last
 * two weeks: the most likely cluster must overlap them, be recent and significant. */
static void test_planted_cluster(void **state)
{
	/* row 2, columns 3 and 4, and row 3, column 3 (an L of three adjacent areas) */
	static const size_t planted[] = {2 * 10 + 3, 2 * 10 + 4, 3 * 10 + 3, SIZE_MAX};
	for (int nbrs = 0; nbrs <= 1; nbrs++) {
		gsl_rng *rng = rng_new(7);
		struct dataset *d = grid_new(6, 10, 8, rng);
		draw_counts(d, rng, planted, 3.0, 2);
		struct scan_params p;
		scan_params_default(&p);
		p.use_neighbours = nbrs;
		struct scan_input in = dataset_input(d);
		struct scan_result *res = NULL;
		assert_int_equal(scan_run(&in, &p, rng, &res), 0);
		assert_true(res->n_clusters >= 1);
		const struct scan_cluster *cl = &res->clusters[0];
		size_t hits = 0;
		for (size_t i = 0; i < 3; i++)
			hits += in_list(cl->areas, cl->n_areas, planted[i]);
		print_message("# planted (%s): %zu areas, %zu planted, %zu weeks, obs %.0f exp "
		              "%.1f, llr %.2f, p %.4f, ri %.0f weeks\n",
		              nbrs ? "neighbours" : "circles", cl->n_areas, hits, cl->n_weeks,
		              cl->observed, cl->expected, cl->llr, cl->p_value,
		              cl->recurrence_weeks);
		/* A circle on a grid cannot be an L: it may take in a ring of neighbours, but
		 * not sprawl to the population limit (a quarter of the map, about 15 areas).
		 * Over seeds 1..40: 2 to 12 areas, always 2 or 3 planted ones, p = 0.001. */
		assert_true(hits >= 2);
		assert_true(cl->n_areas <= 12);
		assert_true(cl->n_weeks >= 1 && cl->n_weeks <= p.max_weeks);
		assert_int_equal(cl->first_week + cl->n_weeks, 8);
		assert_true(cl->relative_risk > 1.5);
		assert_true(cl->p_value < 0.01);
		assert_close(res->p_value, cl->p_value, 0.0, "result p");
		assert_close(res->max_llr, cl->llr, 0.0, "result llr");
		if (nbrs) {
			for (size_t k = 0; k < res->n_clusters; k++)
				assert_true(connected(d, &res->clusters[k]));
		}
		/* a significant secondary cluster can only be the planted area left out */
		for (size_t k = 1; k < res->n_clusters; k++) {
			const struct scan_cluster *sec = &res->clusters[k];
			bool has_planted = false;
			for (size_t i = 0; i < 3; i++)
				has_planted =
				    has_planted || in_list(sec->areas, sec->n_areas, planted[i]);
			assert_true(sec->p_value > 0.01 || has_planted);
		}
		scan_result_free(res);
		dataset_free(d);
		gsl_rng_free(rng);
	}
}

/* Under the null the test must alarm at about its nominal rate: 200 data sets drawn from the
 * expectation, 99 replications each, p <= 0.05 in 1% .. 11% of them. */
static void test_null_rate(void **state)
{
	gsl_rng *rng = rng_new(12345);
	struct dataset *d = grid_new(5, 6, 6, rng);
	struct scan_params p;
	scan_params_default(&p);
	p.n_replications = 99;
	size_t n_sets = 200, n_alarm = 0, n_alarm_10 = 0;
	for (size_t i = 0; i < n_sets; i++) {
		draw_counts(d, rng, NULL, 1.0, 0);
		p.use_neighbours = i % 2;
		struct scan_input in = dataset_input(d);
		struct scan_result *res = NULL;
		assert_int_equal(scan_run(&in, &p, rng, &res), 0);
		n_alarm += res->p_value <= 0.05;
		n_alarm_10 += res->p_value <= 0.10;
		scan_result_free(res);
	}
	double rate = (double)n_alarm / (double)n_sets;
	double rate_10 = (double)n_alarm_10 / (double)n_sets;
	print_message("# null: p <= 0.05 in %.3f, p <= 0.10 in %.3f of %zu data sets\n", rate,
	              rate_10, n_sets);
	assert_true(rate >= 0.01 && rate <= 0.11);
	assert_true(rate_10 >= 0.04 && rate_10 <= 0.17);
	dataset_free(d);
	gsl_rng_free(rng);
}

/* p = (1 + #{replicate max >= llr}) / (R + 1) and recurrence = 1 / p for every cluster, on
 * null data (p in the middle) and on planted data (p = 1 / (R + 1) exactly). */
static void test_p_value_formula(void **state)
{
	static const size_t planted[] = {7, 8, 13, SIZE_MAX};
	gsl_rng *rng = rng_new(99);
	struct dataset *d = grid_new(5, 6, 6, rng);
	struct scan_params p;
	scan_params_default(&p);
	p.n_replications = 99;
	for (int round = 0; round < 6; round++) {
		bool hot = round == 0;
		draw_counts(d, rng, hot ? planted : NULL, 4.0, 2);
		struct scan_input in = dataset_input(d);
		struct scan_result *res = NULL;
		assert_int_equal(scan_run(&in, &p, rng, &res), 0);
		assert_int_equal(res->n_replications, 99);
		for (size_t k = 0; k < res->n_clusters; k++) {
			const struct scan_cluster *cl = &res->clusters[k];
			size_t ge = 0;
			for (size_t i = 0; i < 99; i++)
				ge += res->replicate_max[i] >= cl->llr;
			assert_close(cl->p_value, (1.0 + (double)ge) / 100.0, 1e-15, "p");
			assert_close(cl->recurrence_weeks, 100.0 / (1.0 + (double)ge), 1e-12,
			             "recurrence");
		}
		for (size_t i = 0; i < 99; i++)
			assert_true(res->replicate_max[i] >= 0.0);
		if (hot) {
			assert_true(res->n_clusters >= 1);
			assert_close(res->p_value, 0.01, 1e-15, "planted p");
			assert_close(res->clusters[0].recurrence_weeks, 100.0, 1e-12, "planted ri");
		}
		scan_result_free(res);
	}
	dataset_free(d);
	gsl_rng_free(rng);
}

/* Replicates as extreme as the observed data count in its rank. Two areas of equal size, one
 * week, single-area windows, C = 2: the observed {2, 0} has LLR 2 ln 2; a null data set is
 * {2, 0} or {0, 2} (max LLR exactly 2 ln 2) with probability 1/2 and {1, 1} (LLR 0) with
 * probability 1/2, so about half the replicates tie and p is about 0.5, not 1 / (R + 1). */
static void test_p_value_ties(void **state)
{
	struct dataset *d = dataset_new(2, 1, 0);
	d->pop[0] = d->pop[1] = 100.0;
	d->x[1] = 1.0;
	d->expected[0] = d->expected[1] = 1.0;
	d->counts[0] = 2;
	struct scan_params p;
	scan_params_default(&p);
	p.max_pop_share = 0.5;
	p.n_replications = 99;
	gsl_rng *rng = rng_new(31);
	struct scan_input in = dataset_input(d);
	struct scan_result *res = NULL;
	assert_int_equal(scan_run(&in, &p, rng, &res), 0);
	assert_int_equal(res->n_clusters, 1);
	assert_close(res->max_llr, 2 * log(2.0), 1e-12, "llr");
	size_t ties = 0, zeros = 0;
	for (size_t i = 0; i < 99; i++) {
		ties += res->replicate_max[i] == res->max_llr;
		zeros += res->replicate_max[i] == 0.0;
	}
	assert_int_equal(ties + zeros, 99);
	assert_true(ties > 30 && ties < 70);
	assert_close(res->p_value, (1.0 + (double)ties) / 100.0, 1e-15, "p");
	scan_result_free(res);
	gsl_rng_free(rng);
	dataset_free(d);
}

/* Two clusters planted far apart are both reported; no reported clusters share an area and
 * their LLRs do not increase. */
static void test_secondary_clusters(void **state)
{
	static const size_t planted[] = {0, 1, 10, 58, 59, 49, SIZE_MAX};
	gsl_rng *rng = rng_new(2024);
	struct dataset *d = grid_new(6, 10, 8, rng);
	draw_counts(d, rng, planted, 3.5, 2);
	struct scan_params p;
	scan_params_default(&p);
	p.n_replications = 199;
	struct scan_input in = dataset_input(d);
	struct scan_result *res = NULL;
	assert_int_equal(scan_run(&in, &p, rng, &res), 0);
	assert_true(res->n_clusters >= 2);
	assert_true(res->n_clusters <= p.max_clusters);
	bool corner[2] = {false, false};
	for (size_t k = 0; k < 2; k++) {
		const struct scan_cluster *cl = &res->clusters[k];
		for (size_t i = 0; i < 3; i++)
			corner[0] = corner[0] || in_list(cl->areas, cl->n_areas, planted[i]);
		for (size_t i = 3; i < 6; i++)
			corner[1] = corner[1] || in_list(cl->areas, cl->n_areas, planted[i]);
		assert_true(cl->p_value <= 0.01);
	}
	assert_true(corner[0] && corner[1]);
	for (size_t k = 0; k < res->n_clusters; k++) {
		const struct scan_cluster *cl = &res->clusters[k];
		assert_true(cl->llr > 0.0);
		if (k > 0) {
			assert_true(cl->llr <= res->clusters[k - 1].llr);
			assert_true(cl->p_value >= res->clusters[k - 1].p_value);
		}
		for (size_t j = 0; j < k; j++) {
			const struct scan_cluster *other = &res->clusters[j];
			for (size_t i = 0; i < cl->n_areas; i++)
				assert_false(in_list(other->areas, other->n_areas, cl->areas[i]));
		}
	}
	scan_result_free(res);
	dataset_free(d);
	gsl_rng_free(rng);
}

/* Each replicate maximum is the most likely cluster's LLR of the null data set it stands for.
 * The test redraws those data sets with a twin generator, in the documented order (one
 * multinomial over the cells of the last max_weeks weeks, area by area, current week first),
 * and scans each as observed data. The expectations are whole numbers adding up to C, so the
 * rescaling is exact and both draws see the same probabilities. This checks the pruned
 * replicate scan against the full one, bit for bit. */
static void test_replicates_match_full_scan(void **state)
{
	enum { ROWS = 3, COLS = 4, N = ROWS * COLS, T = 3, R = 40 };
	gsl_rng *rng = rng_new(77);
	struct dataset *d = grid_new(ROWS, COLS, T, rng);
	double prob[N * T];
	unsigned int draw[N * T];
	double total = 0.0;
	for (size_t i = 0; i < N * T; i++) {
		d->expected[i] = (double)(1 + gsl_rng_uniform_int(rng, 5));
		total += d->expected[i];
	}
	for (size_t a = 0; a < N; a++) {
		for (size_t u = 0; u < T; u++)
			prob[a * T + u] = d->expected[a * T + (T - 1 - u)];
	}
	gsl_ran_multinomial(rng, N * T, (unsigned int)total, prob, draw);
	for (size_t a = 0; a < N; a++) {
		for (size_t u = 0; u < T; u++)
			d->counts[a * T + (T - 1 - u)] = draw[a * T + u];
	}
	struct scan_params p;
	scan_params_default(&p);
	p.max_weeks = T;
	p.n_replications = R;
	p.use_neighbours = true;
	struct scan_input in = dataset_input(d);
	struct scan_result *res = NULL;
	gsl_rng_set(rng, 78);
	assert_int_equal(scan_run(&in, &p, rng, &res), 0);
	assert_close(res->expected_scale, 1.0, 0.0, "scale");

	struct dataset *null = grid_new(ROWS, COLS, T, rng);
	memcpy(null->expected, d->expected, sizeof(prob));
	memcpy(null->pop, d->pop, N * sizeof(double));
	struct scan_params p0 = p;
	p0.n_replications = 0;
	gsl_rng *twin = rng_new(78);
	size_t n_positive = 0;
	for (size_t i = 0; i < R; i++) {
		gsl_ran_multinomial(twin, N * T, (unsigned int)total, prob, draw);
		for (size_t a = 0; a < N; a++) {
			for (size_t u = 0; u < T; u++)
				null->counts[a * T + (T - 1 - u)] = draw[a * T + u];
		}
		struct scan_input in0 = dataset_input(null);
		struct scan_result *res0 = NULL;
		assert_int_equal(scan_run(&in0, &p0, NULL, &res0), 0);
		if (res->replicate_max[i] != res0->max_llr)
			print_error("replicate %zu: %.17g, full scan %.17g\n", i,
			            res->replicate_max[i], res0->max_llr);
		assert_true(res->replicate_max[i] == res0->max_llr);
		n_positive += res0->max_llr > 0.0;
		scan_result_free(res0);
	}
	assert_int_equal(n_positive, R);
	scan_result_free(res);
	dataset_free(null);
	dataset_free(d);
	gsl_rng_free(twin);
	gsl_rng_free(rng);
}

/* The same seed gives the same result; another seed other replicates. */
static void test_determinism(void **state)
{
	gsl_rng *rng = rng_new(5);
	struct dataset *d = grid_new(4, 5, 6, rng);
	draw_counts(d, rng, NULL, 1.0, 0);
	gsl_rng_free(rng);
	struct scan_input in = dataset_input(d);
	struct scan_params p;
	scan_params_default(&p);
	p.n_replications = 49;
	struct scan_result *res[3] = {NULL, NULL, NULL};
	static const unsigned long seeds[] = {1, 1, 2};
	for (size_t i = 0; i < 3; i++) {
		rng = rng_new(seeds[i]);
		assert_int_equal(scan_run(&in, &p, rng, &res[i]), 0);
		gsl_rng_free(rng);
	}
	assert_int_equal(res[0]->n_clusters, res[1]->n_clusters);
	assert_memory_equal(res[0]->replicate_max, res[1]->replicate_max, 49 * sizeof(double));
	for (size_t k = 0; k < res[0]->n_clusters; k++) {
		const struct scan_cluster *a = &res[0]->clusters[k], *b = &res[1]->clusters[k];
		assert_int_equal(a->n_areas, b->n_areas);
		assert_memory_equal(a->areas, b->areas, a->n_areas * sizeof(size_t));
		assert_true(a->llr == b->llr && a->p_value == b->p_value);
	}
	assert_memory_not_equal(res[0]->replicate_max, res[2]->replicate_max, 49 * sizeof(double));
	/* the observed clusters do not depend on the random numbers */
	assert_int_equal(res[0]->n_clusters, res[2]->n_clusters);
	assert_true(res[0]->max_llr == res[2]->max_llr);
	for (size_t i = 0; i < 3; i++)
		scan_result_free(res[i]);
	dataset_free(d);
}

/* NULL parameters mean the defaults; the defaults are as documented. */
static void test_defaults(void **state)
{
	struct scan_params p;
	memset(&p, 0xff, sizeof(p));
	scan_params_default(&p);
	assert_close(p.max_pop_share, 0.25, 0.0, "share");
	assert_int_equal(p.max_weeks, 4);
	assert_int_equal(p.n_replications, 999);
	assert_int_equal(p.max_clusters, 10);
	assert_false(p.use_neighbours);

	gsl_rng *rng = rng_new(3);
	struct dataset *d = grid_new(3, 4, 5, rng);
	draw_counts(d, rng, NULL, 1.0, 0);
	struct scan_input in = dataset_input(d);
	struct scan_result *a = NULL, *b = NULL;
	gsl_rng_set(rng, 11);
	assert_int_equal(scan_run(&in, NULL, rng, &a), 0);
	gsl_rng_set(rng, 11);
	assert_int_equal(scan_run(&in, &p, rng, &b), 0);
	assert_int_equal(a->n_replications, 999);
	assert_int_equal(a->n_windows, b->n_windows);
	assert_memory_equal(a->replicate_max, b->replicate_max, 999 * sizeof(double));
	scan_result_free(a);
	scan_result_free(b);
	dataset_free(d);
	gsl_rng_free(rng);
}

/* C = 0: no cluster, p = 1, all replicate maxima 0 and no random number used. */
static void test_zero_total(void **state)
{
	struct dataset *d = dataset_new(3, 4, 0);
	for (size_t a = 0; a < 3; a++) {
		d->pop[a] = 100.0;
		d->x[a] = (double)a;
		for (size_t t = 0; t < 4; t++)
			d->expected[a * 4 + t] = a == 1 ? 0.0 : 2.0;
	}
	gsl_rng *rng = rng_new(42), *fresh = rng_new(42);
	struct scan_input in = dataset_input(d);
	struct scan_result *res = NULL;
	assert_int_equal(scan_run(&in, NULL, rng, &res), 0);
	assert_int_equal(res->n_clusters, 0);
	assert_close(res->p_value, 1.0, 0.0, "p");
	assert_close(res->max_llr, 0.0, 0.0, "llr");
	assert_close(res->total_observed, 0.0, 0.0, "total");
	assert_int_equal(res->n_included_areas, 3);
	for (size_t i = 0; i < res->n_replications; i++)
		assert_close(res->replicate_max[i], 0.0, 0.0, "replicate");
	assert_int_equal(gsl_rng_get(rng), gsl_rng_get(fresh));
	scan_result_free(res);
	dataset_free(d);
	gsl_rng_free(rng);
	gsl_rng_free(fresh);
}

/* One area, and one week, with replications: the scan is purely temporal or spatial. */
static void test_single_area_and_week(void **state)
{
	gsl_rng *rng = rng_new(8);
	struct dataset *d = dataset_new(1, 8, 0);
	d->pop[0] = 1000.0;
	for (size_t t = 0; t < 8; t++) {
		d->expected[t] = 5.0;
		d->counts[t] = t == 7 ? 25 : 5;
	}
	struct scan_input in = dataset_input(d);
	struct scan_result *res = NULL;
	assert_int_equal(scan_run(&in, NULL, rng, &res), 0);
	assert_int_equal(res->n_windows, 4);
	assert_int_equal(res->n_clusters, 1);
	assert_int_equal(res->clusters[0].n_weeks, 1);
	assert_int_equal(res->clusters[0].first_week, 7);
	/* C = 60, e = 7.5 per week: 25 ln(25/7.5) + 35 ln(35/52.5) */
	assert_close(res->max_llr, 25 * log(25 / 7.5) + 35 * log(35 / 52.5), 1e-9, "llr");
	assert_true(res->p_value <= 0.002);
	scan_result_free(res);
	dataset_free(d);

	d = grid_new(4, 4, 1, rng);
	static const size_t planted[] = {5, 6, SIZE_MAX};
	draw_counts(d, rng, planted, 4.0, 1);
	in = dataset_input(d);
	assert_int_equal(scan_run(&in, NULL, rng, &res), 0);
	assert_true(res->n_clusters >= 1);
	assert_int_equal(res->clusters[0].n_weeks, 1);
	assert_int_equal(res->clusters[0].first_week, 0);
	assert_true(res->n_windows > 16);
	scan_result_free(res);
	dataset_free(d);
	gsl_rng_free(rng);
}

/* ---- bad input ---- */

enum mutation {
	M_NONE,
	M_IN_NULL,
	M_OUT_NULL,
	M_NO_AREAS,
	M_NO_WEEKS,
	M_POP_NULL,
	M_X_NULL,
	M_Y_NULL,
	M_COUNTS_NULL,
	M_EXPECTED_NULL,
	M_POP_NAN,
	M_POP_NEG,
	M_POP_INF,
	M_ALL_POP_ZERO,
	M_X_NAN,
	M_Y_INF,
	M_EXPECTED_NAN,
	M_EXPECTED_NEG,
	M_EXPECTED_INF,
	M_EXPECTED_ZERO_WITH_CASES,
	M_ALL_EXPECTED_ZERO,
	M_SHARE_ZERO,
	M_SHARE_ABOVE_ONE,
	M_SHARE_NAN,
	M_MAX_WEEKS_ZERO,
	M_MAX_CLUSTERS_ZERO,
	M_RNG_NULL,
	M_NB_NULL,
	M_NB_OUT_OF_RANGE,
	M_NB_DECREASING,
	M_CELLS_OVERFLOW,
	M_TOTAL_OVERFLOW,
	M_REPLICATIONS_OVERFLOW,
};

static void test_bad_input(void **state)
{
	static const struct {
		enum mutation m;
		int want;
	} cases[] = {
	    {M_NONE, 0},
	    {M_IN_NULL, -EINVAL},
	    {M_OUT_NULL, -EINVAL},
	    {M_NO_AREAS, -EINVAL},
	    {M_NO_WEEKS, -EINVAL},
	    {M_POP_NULL, -EINVAL},
	    {M_X_NULL, -EINVAL},
	    {M_Y_NULL, -EINVAL},
	    {M_COUNTS_NULL, -EINVAL},
	    {M_EXPECTED_NULL, -EINVAL},
	    {M_POP_NAN, -EINVAL},
	    {M_POP_NEG, -EINVAL},
	    {M_POP_INF, -EINVAL},
	    {M_ALL_POP_ZERO, -EINVAL},
	    {M_X_NAN, -EINVAL},
	    {M_Y_INF, -EINVAL},
	    {M_EXPECTED_NAN, -EINVAL},
	    {M_EXPECTED_NEG, -EINVAL},
	    {M_EXPECTED_INF, -EINVAL},
	    {M_EXPECTED_ZERO_WITH_CASES, -EINVAL},
	    {M_ALL_EXPECTED_ZERO, -EINVAL},
	    {M_SHARE_ZERO, -EINVAL},
	    {M_SHARE_ABOVE_ONE, -EINVAL},
	    {M_SHARE_NAN, -EINVAL},
	    {M_MAX_WEEKS_ZERO, -EINVAL},
	    {M_MAX_CLUSTERS_ZERO, -EINVAL},
	    {M_RNG_NULL, -EINVAL},
	    {M_NB_NULL, -EINVAL},
	    {M_NB_OUT_OF_RANGE, -EINVAL},
	    {M_NB_DECREASING, -EINVAL},
	    {M_CELLS_OVERFLOW, -EOVERFLOW},
	    {M_TOTAL_OVERFLOW, -EOVERFLOW},
	    {M_REPLICATIONS_OVERFLOW, -EOVERFLOW},
	};
	gsl_rng *rng = rng_new(1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dataset *d = grid_new(3, 3, 3, rng);
		draw_counts(d, rng, NULL, 1.0, 0);
		d->counts[4 * 3 + 2] += 1; /* at least one case in area 4 */
		struct scan_params p;
		scan_params_default(&p);
		p.n_replications = 9;
		p.use_neighbours = true;
		struct scan_input in = dataset_input(d);
		const struct scan_input *inp = &in;
		gsl_rng *r = rng;
		struct scan_result sentinel, *res = &sentinel;
		struct scan_result **outp = &res;
		switch (cases[i].m) {
		case M_NONE:
			break;
		case M_IN_NULL:
			inp = NULL;
			break;
		case M_OUT_NULL:
			outp = NULL;
			break;
		case M_NO_AREAS:
			in.n_areas = 0;
			break;
		case M_NO_WEEKS:
			in.n_weeks = 0;
			break;
		case M_POP_NULL:
			in.population = NULL;
			break;
		case M_X_NULL:
			in.x = NULL;
			break;
		case M_Y_NULL:
			in.y = NULL;
			break;
		case M_COUNTS_NULL:
			in.counts = NULL;
			break;
		case M_EXPECTED_NULL:
			in.expected = NULL;
			break;
		case M_POP_NAN:
			d->pop[2] = NAN;
			break;
		case M_POP_NEG:
			d->pop[2] = -1.0;
			break;
		case M_POP_INF:
			d->pop[2] = INFINITY;
			break;
		case M_ALL_POP_ZERO:
			memset(d->pop, 0, 9 * sizeof(double));
			break;
		case M_X_NAN:
			d->x[3] = NAN;
			break;
		case M_Y_INF:
			d->y[3] = -INFINITY;
			break;
		case M_EXPECTED_NAN:
			d->expected[5] = NAN;
			break;
		case M_EXPECTED_NEG:
			d->expected[5] = -0.5;
			break;
		case M_EXPECTED_INF:
			d->expected[5] = INFINITY;
			break;
		case M_EXPECTED_ZERO_WITH_CASES:
			d->expected[4 * 3 + 2] = 0.0;
			break;
		case M_ALL_EXPECTED_ZERO:
			memset(d->expected, 0, 27 * sizeof(double));
			break;
		case M_SHARE_ZERO:
			p.max_pop_share = 0.0;
			break;
		case M_SHARE_ABOVE_ONE:
			p.max_pop_share = 1.5;
			break;
		case M_SHARE_NAN:
			p.max_pop_share = NAN;
			break;
		case M_MAX_WEEKS_ZERO:
			p.max_weeks = 0;
			break;
		case M_MAX_CLUSTERS_ZERO:
			p.max_clusters = 0;
			break;
		case M_RNG_NULL:
			r = NULL;
			break;
		case M_NB_NULL:
			in.nb_index = NULL;
			break;
		case M_NB_OUT_OF_RANGE:
			d->nb_index[3] = 9;
			break;
		case M_NB_DECREASING:
			d->nb_start[4] = d->nb_start[5] + 1;
			break;
		case M_CELLS_OVERFLOW:
			in.n_areas = SIZE_MAX / 2;
			break;
		case M_TOTAL_OVERFLOW:
			d->counts[0] = UINT_MAX;
			d->counts[1] = 1;
			break;
		case M_REPLICATIONS_OVERFLOW:
			p.n_replications = SIZE_MAX / 4;
			break;
		}
		int got = scan_run(inp, &p, r, outp);
		if (got != cases[i].want)
			print_error("case %zu: got %d, want %d\n", i, got, cases[i].want);
		assert_int_equal(got, cases[i].want);
		if (got == 0)
			scan_result_free(res);
		else
			assert_ptr_equal(res, &sentinel); /* *out untouched on failure */
		dataset_free(d);
	}
	/* a missing rng is fine without replications */
	struct dataset *d = grid_new(2, 2, 2, rng);
	draw_counts(d, rng, NULL, 1.0, 0);
	struct scan_input in = dataset_input(d);
	struct scan_params p;
	scan_params_default(&p);
	p.n_replications = 0;
	struct scan_result *res = NULL;
	assert_int_equal(scan_run(&in, &p, NULL, &res), 0);
	scan_result_free(res);
	scan_result_free(NULL);
	dataset_free(d);
	gsl_rng_free(rng);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hand_cases),
	    cmocka_unit_test(test_brute_force),
	    cmocka_unit_test(test_planted_cluster),
	    cmocka_unit_test(test_null_rate),
	    cmocka_unit_test(test_p_value_formula),
	    cmocka_unit_test(test_p_value_ties),
	    cmocka_unit_test(test_secondary_clusters),
	    cmocka_unit_test(test_replicates_match_full_scan),
	    cmocka_unit_test(test_determinism),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_zero_total),
	    cmocka_unit_test(test_single_area_and_week),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
