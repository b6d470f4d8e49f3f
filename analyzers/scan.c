/* Prospective space-time scan statistic (see scan.h for the method and its edges).
 * The windows are built once, as nested area sets per centre (each set is the one before plus
 * one area), so the count of every window is a running sum along the centre's list of per-area
 * sums over the last w weeks: one data set costs O(windows), observed and replicates alike.
 * Building costs O(n_areas^2) distances plus a selection per centre. Measured (-O2, one core
 * of the 2-core CI machine, idle): 100 areas x 8 weeks, 999 replications, 0.07 s (max_weeks 4)
 * to 0.13 s (8); 3,300 areas x 4 weeks at max_pop_share 0.05 (2.2 million windows, 58 MB):
 * 0.18 s to build and scan, then about 7 ms per replication. */
#include "scan.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

/* Replicate maxima within this relative distance of an observed LLR count as ties. */
#define LLR_TIE_REL 1e-10

/* An area seen from a centre: squared centroid distance, then local index, as the sort key. */
struct nearby {
	double d2;
	size_t idx;
};

/* The windows of one run, in local (included-area) indices. The sets of centre i are the
 * prefixes order[start[i] .. j] for j = start[i] .. start[i + 1] - 1; set j combined with the
 * last u + 1 weeks has expected count e[j * n_weeks + u]. */
struct windows {
	size_t n_inc;
	size_t n_weeks;
	size_t *start;
	size_t *order;
	size_t n_sets;
	size_t cap;
	double *e;
};

/* Best window of one area set: its LLR and length. */
struct set_best {
	double llr;
	size_t weeks;
};

/* A candidate cluster: area set j of `centre`, combined with the last `weeks` weeks. */
struct candidate {
	double llr;
	size_t centre;
	size_t set;
	size_t weeks;
};

void scan_params_default(struct scan_params *p)
{
	p->max_pop_share = 0.25;
	p->max_weeks = 4;
	p->n_replications = 999;
	p->max_clusters = 10;
	p->use_neighbours = false;
}

/* Stores a * b in *out; false when it overflows size_t. */
static bool mul_size(size_t a, size_t b, size_t *out)
{
	if (b != 0 && a > SIZE_MAX / b)
		return false;
	*out = a * b;
	return true;
}

/* Allocates n elements of `size` bytes, or NULL when that overflows or memory runs out. */
static void *alloc_array(size_t n, size_t size)
{
	size_t bytes;
	if (!mul_size(n, size, &bytes))
		return NULL;
	return malloc(bytes == 0 ? 1 : bytes);
}

/* Kulldorff's Poisson log likelihood ratio for excess: c observed and e expected inside the
 * window, `total` cases in all. 0 when c <= e. */
static double llr(double c, double e, double total)
{
	if (!(c > e))
		return 0.0;
	double out = c * log(c / e);
	double rest = total - c;
	if (rest > 0.0)
		out += rest * log(rest / (total - e));
	return out;
}

static bool nearby_less(const struct nearby *a, const struct nearby *b)
{
	return a->d2 < b->d2 || (a->d2 == b->d2 && a->idx < b->idx);
}

static int nearby_cmp(const void *pa, const void *pb)
{
	const struct nearby *a = pa, *b = pb;
	if (nearby_less(a, b))
		return -1;
	return nearby_less(b, a) ? 1 : 0;
}

static void nearby_swap(struct nearby *a, struct nearby *b)
{
	struct nearby t = *a;
	*a = *b;
	*b = t;
}

/* Reorders v[0..n) so that v[0..m) are the m nearest entries (in no order) whose populations
 * add up to at most `need`, where entry m, the next nearest, would exceed it; returns m.
 * Weighted quickselect: expected O(n), against O(n log n) for sorting every centre's list. */
static size_t select_nearest(struct nearby *v, size_t n, const double *pop, double need)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		/* median of three as pivot, moved to hi - 1 */
		size_t mid = lo + (hi - lo) / 2;
		if (nearby_less(&v[mid], &v[lo]))
			nearby_swap(&v[mid], &v[lo]);
		if (nearby_less(&v[hi - 1], &v[lo]))
			nearby_swap(&v[hi - 1], &v[lo]);
		if (nearby_less(&v[mid], &v[hi - 1]))
			nearby_swap(&v[mid], &v[hi - 1]);
		struct nearby pivot = v[hi - 1];
		size_t s = lo;
		double left = 0.0;
		for (size_t i = lo; i < hi - 1; i++) {
			if (nearby_less(&v[i], &pivot)) {
				left += pop[v[i].idx];
				nearby_swap(&v[i], &v[s]);
				s++;
			}
		}
		if (left > need) {
			/* the boundary lies among the entries nearer than the pivot */
			hi = s;
			continue;
		}
		need -= left;
		nearby_swap(&v[s], &v[hi - 1]);
		if (pop[v[s].idx] > need)
			return s;
		need -= pop[v[s].idx];
		lo = s + 1;
	}
	return lo;
}

/* Appends local area `idx` to the window sets. Returns 0, -E2BIG or -ENOMEM. */
static int push_set(struct windows *w, size_t idx)
{
	if (w->n_sets >= SCAN_MAX_WINDOWS / w->n_weeks)
		return -E2BIG;
	if (w->n_sets == w->cap) {
		size_t cap = w->cap < 64 ? 64 : w->cap * 2;
		size_t bytes;
		if (!mul_size(cap, sizeof(size_t), &bytes))
			return -ENOMEM;
		size_t *o = realloc(w->order, bytes);
		if (o == NULL)
			return -ENOMEM;
		w->order = o;
		w->cap = cap;
	}
	w->order[w->n_sets++] = idx;
	return 0;
}

/* Circular sets: for each centre, the centre and then the nearest areas while the population
 * stays within `limit`. `near` has room for n_inc entries. */
static int build_circles(struct windows *w, const double *x, const double *y, const double *pop,
                         double limit, struct nearby *near)
{
	for (size_t c = 0; c < w->n_inc; c++) {
		w->start[c] = w->n_sets;
		int r = push_set(w, c);
		if (r < 0)
			return r;
		size_t n = 0;
		for (size_t i = 0; i < w->n_inc; i++) {
			if (i == c)
				continue;
			double dx = x[i] - x[c], dy = y[i] - y[c];
			near[n].d2 = dx * dx + dy * dy;
			near[n].idx = i;
			n++;
		}
		/* The selection sums populations in another order than the walk below, so it
		 * gets a little slack and the walk decides exactly, in distance order. */
		double need = limit - pop[c];
		if (need < 0.0)
			continue;
		size_t m = select_nearest(near, n, pop, need * (1.0 + 1e-9) + 1e-9);
		qsort(near, m, sizeof(near[0]), nearby_cmp);
		double inside = pop[c];
		for (size_t i = 0; i < m; i++) {
			inside += pop[near[i].idx];
			if (inside > limit)
				break;
			r = push_set(w, near[i].idx);
			if (r < 0)
				return r;
		}
	}
	w->start[w->n_inc] = w->n_sets;
	return 0;
}

/* Binary min-heap of struct nearby, for the frontier of a growing connected set. */
static void heap_push(struct nearby *h, size_t *n, struct nearby v)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!nearby_less(&v, &h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = v;
}

static struct nearby heap_pop(struct nearby *h, size_t *n)
{
	struct nearby top = h[0];
	struct nearby last = h[--(*n)];
	size_t i = 0;
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= *n)
			break;
		if (child + 1 < *n && nearby_less(&h[child + 1], &h[child]))
			child++;
		if (!nearby_less(&h[child], &last))
			break;
		h[i] = h[child];
		i = child;
	}
	if (*n > 0)
		h[i] = last;
	return top;
}

/* Connected sets: for each centre, the centre and then repeatedly the frontier area nearest
 * to the centre while the population stays within `limit`. `inc` maps local to caller
 * indices, `loc` caller to local (SIZE_MAX outside the study region). `heap` has room for
 * n_inc entries; `mark` is n_inc zeros and is left so (1 = queued or in the set). */
static int build_connected(struct windows *w, const struct scan_input *in, const size_t *inc,
                           const size_t *loc, const double *x, const double *y, const double *pop,
                           double limit, struct nearby *heap, unsigned char *mark)
{
	for (size_t c = 0; c < w->n_inc; c++) {
		w->start[c] = w->n_sets;
		size_t first = w->n_sets;
		size_t n_heap = 0;
		double inside = 0.0;
		int r = 0;
		mark[c] = 1;
		heap_push(heap, &n_heap, (struct nearby){0.0, c});
		while (n_heap > 0) {
			struct nearby v = heap_pop(heap, &n_heap);
			if (w->n_sets > first && inside + pop[v.idx] > limit) {
				mark[v.idx] = 0;
				break;
			}
			inside += pop[v.idx];
			r = push_set(w, v.idx);
			if (r < 0)
				break;
			size_t a = inc[v.idx];
			for (size_t k = in->nb_start[a]; k < in->nb_start[a + 1]; k++) {
				size_t b = loc[in->nb_index[k]];
				if (b == SIZE_MAX || mark[b])
					continue;
				double dx = x[b] - x[c], dy = y[b] - y[c];
				mark[b] = 1;
				heap_push(heap, &n_heap, (struct nearby){dx * dx + dy * dy, b});
			}
		}
		/* clear the marks of this centre: the set and what is still queued */
		for (size_t j = first; j < w->n_sets; j++)
			mark[w->order[j]] = 0;
		for (size_t j = 0; j < n_heap; j++)
			mark[heap[j].idx] = 0;
		mark[c] = 0;
		if (r < 0)
			return r;
	}
	w->start[w->n_inc] = w->n_sets;
	return 0;
}

/* Fills w->e from `se`, the per-area expected sums over the last u + 1 weeks. */
static int window_expected(struct windows *w, const double *se)
{
	size_t W = w->n_weeks;
	w->e = alloc_array(w->n_sets * W, sizeof(double));
	if (w->e == NULL)
		return -ENOMEM;
	for (size_t c = 0; c < w->n_inc; c++) {
		for (size_t j = w->start[c]; j < w->start[c + 1]; j++) {
			const double *s = se + w->order[j] * W;
			double *e = w->e + j * W;
			for (size_t u = 0; u < W; u++)
				e[u] = (j == w->start[c] ? 0.0 : e[u - W]) + s[u];
		}
	}
	return 0;
}

/* Scans every window of the observed data set: `sc` holds the per-area counts over the last
 * u + 1 weeks ([n_inc][n_weeks]), `cum` is scratch of n_weeks. Stores in best[j] the largest
 * LLR of area set j and its length (the shortest among equals). */
static void scan_sets(const struct windows *w, const double *sc, double total, double *cum,
                      struct set_best *best)
{
	size_t W = w->n_weeks;
	for (size_t c = 0; c < w->n_inc; c++) {
		for (size_t u = 0; u < W; u++)
			cum[u] = 0.0;
		for (size_t j = w->start[c]; j < w->start[c + 1]; j++) {
			const double *s = sc + w->order[j] * W;
			const double *e = w->e + j * W;
			best[j].llr = 0.0;
			best[j].weeks = 1;
			for (size_t u = 0; u < W; u++) {
				cum[u] += s[u];
				double l = llr(cum[u], e[u], total);
				if (l > best[j].llr) {
					best[j].llr = l;
					best[j].weeks = u + 1;
				}
			}
		}
	}
}

/* The largest LLR over all windows of one replicate, arguments as for scan_sets. Since
 * ln x <= x - 1, LLR <= (c - e) (c / e - (C - c) / (C - e)); a window whose bound cannot beat
 * the running maximum is skipped without taking logarithms, as most windows of a null data
 * set are. The maximum is the same value llr() gives the observed data, so ties compare. */
static double scan_max(const struct windows *w, const double *sc, double total, double *cum)
{
	size_t W = w->n_weeks;
	double max = 0.0;
	for (size_t c = 0; c < w->n_inc; c++) {
		for (size_t u = 0; u < W; u++)
			cum[u] = 0.0;
		for (size_t j = w->start[c]; j < w->start[c + 1]; j++) {
			const double *s = sc + w->order[j] * W;
			const double *e = w->e + j * W;
			for (size_t u = 0; u < W; u++) {
				double obs = cum[u] += s[u];
				if (!(obs > e[u]))
					continue;
				double bound =
				    (obs - e[u]) * (obs / e[u] - (total - obs) / (total - e[u]));
				if (bound * (1.0 + 1e-9) < max)
					continue;
				double l = llr(obs, e[u], total);
				if (l > max)
					max = l;
			}
		}
	}
	return max;
}

/* Orders candidates by decreasing LLR, then centre, smaller set, fewer weeks. */
static int candidate_cmp(const void *pa, const void *pb)
{
	const struct candidate *a = pa, *b = pb;
	if (a->llr != b->llr)
		return a->llr > b->llr ? -1 : 1;
	if (a->centre != b->centre)
		return a->centre < b->centre ? -1 : 1;
	if (a->set != b->set)
		return a->set < b->set ? -1 : 1;
	if (a->weeks != b->weeks)
		return a->weeks < b->weeks ? -1 : 1;
	return 0;
}

/* Validates parameters and input; sums the total count, expectation and population over the
 * study region. Returns 0, -EINVAL or -EOVERFLOW. */
static int validate(const struct scan_input *in, const struct scan_params *p, gsl_rng *rng,
                    uint64_t *total, double *sum_e, double *total_pop, size_t *n_inc)
{
	if (!(p->max_pop_share > 0.0 && p->max_pop_share <= 1.0) || p->max_weeks < 1 ||
	    p->max_clusters < 1 || (p->n_replications > 0 && rng == NULL))
		return -EINVAL;
	if (in->n_areas < 1 || in->n_weeks < 1 || in->population == NULL || in->x == NULL ||
	    in->y == NULL || in->counts == NULL || in->expected == NULL)
		return -EINVAL;
	size_t n_cells, bytes;
	if (!mul_size(in->n_areas, in->n_weeks, &n_cells) ||
	    !mul_size(n_cells, sizeof(double), &bytes) || in->n_areas == SIZE_MAX ||
	    !mul_size(p->n_replications, sizeof(double), &bytes))
		return -EOVERFLOW;
	if (p->use_neighbours) {
		if (in->nb_start == NULL || in->nb_index == NULL)
			return -EINVAL;
		for (size_t a = 0; a < in->n_areas; a++) {
			if (in->nb_start[a] > in->nb_start[a + 1])
				return -EINVAL;
		}
		for (size_t k = in->nb_start[0]; k < in->nb_start[in->n_areas]; k++) {
			if (in->nb_index[k] >= in->n_areas)
				return -EINVAL;
		}
	}
	*total = 0;
	*sum_e = 0.0;
	*total_pop = 0.0;
	*n_inc = 0;
	for (size_t a = 0; a < in->n_areas; a++) {
		double pop = in->population[a];
		if (!isfinite(pop) || pop < 0.0)
			return -EINVAL;
		if (pop == 0.0)
			continue;
		if (!isfinite(in->x[a]) || !isfinite(in->y[a]))
			return -EINVAL;
		for (size_t t = 0; t < in->n_weeks; t++) {
			double e = in->expected[a * in->n_weeks + t];
			unsigned int c = in->counts[a * in->n_weeks + t];
			if (!isfinite(e) || e < 0.0 || (e == 0.0 && c > 0))
				return -EINVAL;
			*total += c;
			*sum_e += e;
		}
		*total_pop += pop;
		(*n_inc)++;
	}
	if (*n_inc == 0 || !isfinite(*total_pop) || !isfinite(*sum_e))
		return -EINVAL;
	if (*total > UINT_MAX)
		return -EOVERFLOW;
	return 0;
}

/* Per-area sums over the last u + 1 weeks of `cells` ([n][W], u = 0 the current week). */
static void suffix_sums(const unsigned int *cells, size_t n, size_t W, double *out)
{
	for (size_t l = 0; l < n; l++) {
		double s = 0.0;
		for (size_t u = 0; u < W; u++) {
			s += cells[l * W + u];
			out[l * W + u] = s;
		}
	}
}

/* Fills result->clusters from the observed best window per area set: greedily by decreasing
 * LLR, skipping windows that share an area with a cluster already taken. n_weeks is the
 * length of the study period. */
static int pick_clusters(const struct windows *w, const struct set_best *best, const double *sc,
                         const size_t *inc, size_t n_weeks, size_t max_clusters, double total,
                         struct scan_result *res)
{
	struct candidate *cand = NULL;
	unsigned char *taken = NULL;
	int r = -ENOMEM;
	size_t n_cand = 0;

	cand = alloc_array(w->n_sets, sizeof(*cand));
	taken = calloc(w->n_inc == 0 ? 1 : w->n_inc, 1);
	res->clusters = calloc(max_clusters, sizeof(*res->clusters));
	if (cand == NULL || taken == NULL || res->clusters == NULL)
		goto out;
	for (size_t c = 0; c < w->n_inc; c++) {
		for (size_t j = w->start[c]; j < w->start[c + 1]; j++) {
			if (best[j].llr > 0.0)
				cand[n_cand++] =
				    (struct candidate){best[j].llr, c, j, best[j].weeks};
		}
	}
	qsort(cand, n_cand, sizeof(*cand), candidate_cmp);
	size_t W = w->n_weeks;
	for (size_t k = 0; k < n_cand && res->n_clusters < max_clusters; k++) {
		size_t first = w->start[cand[k].centre], last = cand[k].set;
		bool overlap = false;
		for (size_t j = first; j <= last && !overlap; j++)
			overlap = taken[w->order[j]];
		if (overlap)
			continue;
		struct scan_cluster *cl = &res->clusters[res->n_clusters];
		cl->n_areas = last - first + 1;
		cl->areas = alloc_array(cl->n_areas, sizeof(size_t));
		if (cl->areas == NULL)
			goto out;
		res->n_clusters++;
		size_t u = cand[k].weeks - 1;
		double c = 0.0;
		for (size_t j = first; j <= last; j++) {
			taken[w->order[j]] = 1;
			cl->areas[j - first] = inc[w->order[j]];
			c += sc[w->order[j] * W + u];
		}
		double e = w->e[last * W + u];
		cl->centre = inc[cand[k].centre];
		cl->n_weeks = cand[k].weeks;
		cl->first_week = n_weeks - cand[k].weeks;
		cl->observed = c;
		cl->expected = e;
		cl->relative_risk = c < total ? (c / e) / ((total - c) / (total - e)) : INFINITY;
		cl->llr = cand[k].llr;
	}
	r = 0;
out:
	free(cand);
	free(taken);
	return r;
}

/* Sets the p-value and recurrence interval of every cluster from the replicate maxima. */
static void set_p_values(struct scan_result *res)
{
	double denom = (double)res->n_replications + 1.0;
	for (size_t k = 0; k < res->n_clusters; k++) {
		struct scan_cluster *cl = &res->clusters[k];
		double tie_floor = cl->llr * (1.0 - LLR_TIE_REL);
		size_t rank = 1;
		for (size_t i = 0; i < res->n_replications; i++) {
			if (res->replicate_max[i] >= tie_floor)
				rank++;
		}
		cl->p_value = (double)rank / denom;
		cl->recurrence_weeks = 1.0 / cl->p_value;
	}
	res->max_llr = res->n_clusters > 0 ? res->clusters[0].llr : 0.0;
	res->p_value = res->n_clusters > 0 ? res->clusters[0].p_value : 1.0;
}

int scan_run(const struct scan_input *in, const struct scan_params *params, gsl_rng *rng,
             struct scan_result **out)
{
	struct scan_params defaults;
	struct scan_result *res = NULL;
	struct windows w = {0};
	size_t *inc = NULL, *loc = NULL;
	double *px = NULL, *py = NULL, *pop = NULL;
	double *prob = NULL, *se = NULL, *sc = NULL, *cum = NULL;
	unsigned int *cells = NULL;
	struct nearby *near = NULL;
	unsigned char *mark = NULL;
	struct set_best *best = NULL;
	uint64_t total_count;
	double sum_e, total_pop;
	size_t n_inc;
	int r;

	if (in == NULL || out == NULL)
		return -EINVAL;
	if (params == NULL) {
		scan_params_default(&defaults);
		params = &defaults;
	}
	r = validate(in, params, rng, &total_count, &sum_e, &total_pop, &n_inc);
	if (r < 0)
		return r;

	r = -ENOMEM;
	res = calloc(1, sizeof(*res));
	if (res == NULL)
		goto out;
	res->n_replications = params->n_replications;
	res->replicate_max =
	    calloc(params->n_replications == 0 ? 1 : params->n_replications, sizeof(double));
	if (res->replicate_max == NULL)
		goto out;
	res->total_observed = (double)total_count;
	res->n_included_areas = n_inc;
	res->p_value = 1.0;
	if (total_count == 0) {
		r = 0;
		goto out;
	}
	double total = (double)total_count;
	res->expected_scale = total / sum_e;

	/* local (study region) copies; cells are [area][u], u = 0 the current week */
	size_t T = in->n_weeks;
	size_t W = params->max_weeks < T ? params->max_weeks : T;
	size_t n_cells = n_inc * W; /* <= n_areas * n_weeks, checked in validate() */
	inc = alloc_array(n_inc, sizeof(size_t));
	loc = alloc_array(in->n_areas, sizeof(size_t));
	px = alloc_array(n_inc, sizeof(double));
	py = alloc_array(n_inc, sizeof(double));
	pop = alloc_array(n_inc, sizeof(double));
	prob = alloc_array(n_cells + 1, sizeof(double));
	se = alloc_array(n_cells, sizeof(double));
	sc = alloc_array(n_cells, sizeof(double));
	cum = alloc_array(W, sizeof(double));
	cells = alloc_array(n_cells + 1, sizeof(unsigned int));
	near = alloc_array(n_inc, sizeof(struct nearby));
	mark = calloc(n_inc, 1);
	w.start = alloc_array(n_inc + 1, sizeof(size_t));
	if (inc == NULL || loc == NULL || px == NULL || py == NULL || pop == NULL || prob == NULL ||
	    se == NULL || sc == NULL || cum == NULL || cells == NULL || near == NULL ||
	    mark == NULL || w.start == NULL)
		goto out;
	double rest = 0.0; /* rescaled expectation of the weeks older than any window */
	size_t l = 0;
	for (size_t a = 0; a < in->n_areas; a++) {
		loc[a] = SIZE_MAX;
		if (in->population[a] == 0.0)
			continue;
		loc[a] = l;
		inc[l] = a;
		px[l] = in->x[a];
		py[l] = in->y[a];
		pop[l] = in->population[a];
		const unsigned int *ca = in->counts + a * T;
		const double *ea = in->expected + a * T;
		for (size_t u = 0; u < W; u++) {
			prob[l * W + u] = ea[T - 1 - u] * res->expected_scale;
			cells[l * W + u] = ca[T - 1 - u];
		}
		for (size_t t = 0; t + W < T; t++)
			rest += ea[t] * res->expected_scale;
		l++;
	}
	for (size_t i = 0; i < n_inc; i++) {
		double s = 0.0;
		for (size_t u = 0; u < W; u++) {
			s += prob[i * W + u];
			se[i * W + u] = s;
		}
	}
	suffix_sums(cells, n_inc, W, sc);

	w.n_inc = n_inc;
	w.n_weeks = W;
	double limit = params->max_pop_share * total_pop;
	if (params->use_neighbours)
		r = build_connected(&w, in, inc, loc, px, py, pop, limit, near, mark);
	else
		r = build_circles(&w, px, py, pop, limit, near);
	if (r < 0)
		goto out;
	r = window_expected(&w, se);
	if (r < 0)
		goto out;
	res->n_windows = w.n_sets * W;

	r = -ENOMEM;
	best = alloc_array(w.n_sets, sizeof(*best));
	if (best == NULL)
		goto out;
	scan_sets(&w, sc, total, cum, best);
	r = pick_clusters(&w, best, sc, inc, T, params->max_clusters, total, res);
	if (r < 0)
		goto out;

	/* Null data sets: the old weeks form one extra cell, since only their total matters. */
	size_t k_cells = rest > 0.0 ? n_cells + 1 : n_cells;
	prob[n_cells] = rest;
	for (size_t i = 0; i < params->n_replications; i++) {
		gsl_ran_multinomial(rng, k_cells, (unsigned int)total_count, prob, cells);
		suffix_sums(cells, n_inc, W, sc);
		res->replicate_max[i] = scan_max(&w, sc, total, cum);
	}
	set_p_values(res);
	r = 0;
out:
	free(w.start);
	free(w.order);
	free(w.e);
	free(inc);
	free(loc);
	free(px);
	free(py);
	free(pop);
	free(prob);
	free(se);
	free(sc);
	free(cum);
	free(cells);
	free(near);
	free(mark);
	free(best);
	if (r < 0) {
		scan_result_free(res);
		return r;
	}
	*out = res;
	return 0;
}

void scan_result_free(struct scan_result *r)
{
	if (r == NULL)
		return;
	for (size_t k = 0; k < r->n_clusters; k++)
		free(r->clusters[k].areas);
	free(r->clusters);
	free(r->replicate_max);
	free(r);
}
