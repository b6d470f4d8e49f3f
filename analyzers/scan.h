/* Prospective space-time scan statistic (Kulldorff 2001), Poisson model with caller-given
 * expected counts: finds the group of neighbouring areas and most recent weeks with the
 * strongest excess of cases, with a Monte Carlo p-value and a recurrence interval.
 *
 * Method (SaTScan is the anchor; Kulldorff, "Prospective time periodic geographical disease
 * surveillance using a scan statistic", JRSS A 164 (2001) 61-72):
 *
 * Data. n_areas areas a, each with a population P_a, a centroid (x_a, y_a) in a plane (the
 * caller projects lat/lon) and optionally a list of neighbours; for the last n_weeks weeks
 * t = 0 .. n_weeks - 1 (t = n_weeks - 1 is the current week) an observed count c[a][t] and
 * an expected count E[a][t] from the caller's own baseline (for example Farrington or a
 * rate times the population), so that seasonality and trend are handled upstream.
 *
 * Study region. Areas with population 0 are not part of the study region: they are never in
 * a window and their counts and expectations are not read (a missing population is passed
 * as 0). Only the included areas below make up C, the rescaling and the replications.
 *
 * Conditioning. The analysis is conditional on the observed total C = sum c[a][t]. The
 * expectations are rescaled so that they add up to C: e[a][t] = E[a][t] * C / sum E, so only
 * their relative sizes matter. Under the null hypothesis the C cases fall into the cells
 * independently with probabilities e[a][t] / C (a multinomial).
 *
 * Windows. A window is a cylinder: a set of areas times the most recent w weeks
 * (t = n_weeks - w .. n_weeks - 1, 1 <= w <= min(max_weeks, n_weeks)); every window holds
 * the current week, which makes the scan prospective (only clusters that are still going on
 * are sought). The area sets grow around each included area (the centre):
 *   - circles (default): the centre, then the other areas by increasing centroid distance
 *     (ties broken by the lower area index), one at a time;
 *   - neighbours (use_neighbours): the centre, then repeatedly the area nearest to the
 *     centre among those listed as a neighbour of an area already in the set (same ties),
 *     so that every set is connected along the neighbour lists. Lists are used as given
 *     (a listing b makes b reachable from a); neighbours outside the study region are skipped
 *     and do not connect anything.
 * A set stops growing before its population would exceed max_pop_share times the total
 * population; the centre alone is always a set, even when it alone exceeds the limit, so
 * that a large area can still be flagged and a region of one area becomes a purely temporal
 * scan. Every set is combined with every w.
 *
 * Statistic. For a window with c observed and e expected cases (after rescaling), Kulldorff's
 * Poisson log likelihood ratio, for excess only:
 *   LLR = c ln(c / e) + (C - c) ln((C - c) / (C - e))   when c > e,   else 0,
 * with 0 ln 0 = 0 (so LLR = c ln(c / e) when every case is inside). The window with the
 * largest LLR is the most likely cluster. Its relative risk is (c / e) / ((C - c) / (C - e))
 * (INFINITY when c = C).
 *
 * Inference. n_replications null data sets are drawn with gsl_ran_multinomial from the
 * caller's gsl_rng: C cases over the cells with probabilities e / C, one draw per data set
 * over the cells of the last min(max_weeks, n_weeks) weeks, area by area in index order with
 * the current week first, plus one cell for all older weeks when they expect any cases (only
 * their total matters). The maximum LLR over all windows is computed for each. A cluster
 * with log likelihood ratio L has
 *   p = (1 + #{replicate maxima >= L}) / (n_replications + 1),
 * its rank among the replicates counting the observed data set. Maxima within a relative
 * 1e-10 of L count as ties (>=), so that rounding in sums of the same cells never makes a
 * p-value smaller. The p-value adjusts for the many windows scanned, not for the analysis
 * being repeated every week; for that the recurrence interval is reported (per SaTScan's
 * prospective analysis): for a weekly analysis, recurrence_weeks = 1 / p is the number of
 * weekly analyses one expects to run before seeing, by chance alone, a cluster this strong.
 * With 0 replications every p-value is 1.
 *
 * Secondary clusters. After the most likely cluster, further windows are reported in order
 * of decreasing LLR when their areas overlap no cluster already reported (SaTScan's "no
 * geographical overlap"), up to max_clusters clusters in all. Each gets a p-value against
 * the same replicate maxima (SaTScan's convention, conservative for secondary clusters).
 * Only windows with LLR > 0 are clusters. Equal LLRs are ordered by centre index, then
 * smaller set, then fewer weeks, so results are deterministic.
 *
 * Edges. C = 0 (or every cell in the study region zero): no clusters, p = 1, and no random
 * numbers are drawn. All expected counts zero with C > 0, or a cell with expected 0 and a
 * positive count, is impossible under the model and rejected with -EINVAL: give such cells a
 * small positive expectation upstream. One area or one week is allowed (the scan then is
 * purely temporal or purely spatial). NaN, infinite or negative numbers, neighbour indices out
 * of range and sizes whose products overflow are rejected before anything is allocated.
 *
 * Not done: covariate adjustment beyond what the caller builds into the expectations,
 * elliptic windows, adjustment for earlier analyses, and the Gumbel approximation of the
 * p-value. */
#ifndef WR_SCAN_H
#define WR_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include <gsl/gsl_rng.h>

/* Largest number of windows (area sets times lengths) one run may scan; each takes 8 to 40
 * bytes and a few nanoseconds per replication. More gives -E2BIG. */
#define SCAN_MAX_WINDOWS ((size_t)1 << 26)

/* Tuning of one scan. Start from scan_params_default() and change what is needed. */
struct scan_params {
	double max_pop_share;  /* largest window population, as a share of the total, (0, 1] */
	size_t max_weeks;      /* longest window in weeks, >= 1; clipped to n_weeks */
	size_t n_replications; /* Monte Carlo null data sets; 0 gives p = 1 everywhere */
	size_t max_clusters;   /* most clusters reported, the most likely one included, >= 1 */
	bool use_neighbours;   /* grow area sets along the neighbour lists instead of circles */
};

/* The data of one scan. Every pointer is borrowed for the duration of scan_run. Arrays over
 * cells hold one row of n_weeks per area: cell (a, t) is at a * n_weeks + t. */
struct scan_input {
	size_t n_areas;           /* >= 1 */
	size_t n_weeks;           /* >= 1; week n_weeks - 1 is the current week */
	const double *population; /* [n_areas], finite, >= 0; 0 leaves the area out */
	/* [n_areas] centroids in any planar unit; finite where the area has a population */
	const double *x;
	const double *y;
	const unsigned int *counts; /* [n_areas * n_weeks] observed cases */
	const double *expected;     /* [n_areas * n_weeks] finite, >= 0, any common scale */
	/* Neighbour lists, read only with use_neighbours (else may be NULL): nb_start has
	 * n_areas + 1 entries, and the neighbours of area a are nb_index[nb_start[a] ..
	 * nb_start[a + 1]), caller's indices. */
	const size_t *nb_start;
	const size_t *nb_index;
};

/* One cluster: a window and its figures. */
struct scan_cluster {
	/* [n_areas] the caller's area indices, centre first, then in the order the set grew;
	 * owned by the result */
	size_t *areas;
	size_t n_areas;
	size_t centre;           /* the caller's index of the area the set grew from */
	size_t first_week;       /* first week of the window; it ends at the current week */
	size_t n_weeks;          /* length of the window in weeks */
	double observed;         /* c */
	double expected;         /* e, after rescaling to the observed total */
	double relative_risk;    /* (c / e) / ((C - c) / (C - e)); INFINITY when c = C */
	double llr;              /* log likelihood ratio, > 0 */
	double p_value;          /* Monte Carlo p-value, in (0, 1] */
	double recurrence_weeks; /* 1 / p_value: weekly analyses per chance cluster this strong */
};

/* The outcome of one scan; everything in it is owned by it. */
struct scan_result {
	double total_observed;   /* C over the study region */
	double expected_scale;   /* C / sum E applied to the caller's expectations (0 if C = 0) */
	size_t n_included_areas; /* areas with a population */
	size_t n_windows;        /* windows scanned per data set (0 when C = 0) */
	double max_llr;          /* LLR of the most likely cluster, 0 when there is none */
	double p_value;          /* its p-value, 1 when there is none */
	size_t n_replications;
	/* [n_replications] largest LLR of each null data set, in the order drawn (all 0 when
	 * C = 0) */
	double *replicate_max;
	size_t n_clusters; /* 0 .. max_clusters, most likely cluster first */
	struct scan_cluster *clusters;
};

/* Fills *p with the defaults: max_pop_share 0.25, max_weeks 4, n_replications 999,
 * max_clusters 10, circles. This function can't fail. */
void scan_params_default(struct scan_params *p);

/* Runs the scan described above on `in` with `params` (NULL for the defaults), drawing the
 * null data sets from `rng` (borrowed; may be NULL only with 0 replications). On success
 * stores a new result in *out, to be freed with scan_result_free, and returns 0. On failure
 * returns, leaving *out untouched:
 *   -EINVAL    a NULL array, zero areas or weeks, a NaN, infinite or negative number, no area
 *              with a population, a neighbour index out of range, use_neighbours without
 *              lists, a parameter out of range, or a positive count in a cell whose
 *              expectation is zero (so also cases when all expectation is zero);
 *   -EOVERFLOW array sizes that overflow, or a total count above UINT_MAX;
 *   -E2BIG     more than SCAN_MAX_WINDOWS windows (lower max_pop_share or max_weeks);
 *   -ENOMEM    out of memory. */
__attribute__((warn_unused_result)) int scan_run(const struct scan_input *in,
                                                 const struct scan_params *params, gsl_rng *rng,
                                                 struct scan_result **out);

/* Frees `r` and everything it owns. scan_result_free(NULL) does nothing. */
void scan_result_free(struct scan_result *r);

#endif
