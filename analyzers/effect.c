/* Effect measurement on paired scores and the baseline-adjusted comparison of service modes (see
 * effect.h for the contract and docs/effects.md for the formulas and their sources). No I/O, no
 * logging; GSL for the means, the quantiles of t and z, the regression and sorting. */
#include "effect.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_machine.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_vector.h>

void effect_params_default(struct effect_params *p)
{
	p->level = 0.95;
	p->reliability = 0.80;
	p->higher_is_better = true;
}

static bool all_finite(const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return false;
	return true;
}

/* Mean and sample SD (divisor n - 1, n >= 2) of after[i] - before[i], in two passes so that no
 * array of differences has to be allocated. Equal changes give exactly that change and SD 0,
 * whatever the rounding of their sum would say. */
static void change_mean_sd(const double *before, const double *after, size_t n, double *mean,
                           double *sd)
{
	double first = after[0] - before[0];
	double sum = 0.0;
	bool equal = true;
	for (size_t i = 0; i < n; i++) {
		double d = after[i] - before[i];
		sum += d;
		equal = equal && d == first;
	}
	if (equal) {
		*mean = first;
		*sd = 0.0;
		return;
	}
	double m = sum / (double)n;
	double ss = 0.0;
	for (size_t i = 0; i < n; i++) {
		double d = after[i] - before[i] - m;
		ss += d * d;
	}
	*mean = m;
	*sd = sqrt(ss / (double)(n - 1));
}

/* Counts the reliable changes: the change in the better direction is > threshold (improved) or
 * < -threshold (worse). Strict: a change of exactly the threshold is not reliable. */
static void count_reliable(const double *before, const double *after, size_t n, double threshold,
                           bool higher_is_better, size_t *improved, size_t *worse)
{
	*improved = 0;
	*worse = 0;
	for (size_t i = 0; i < n; i++) {
		double gain = higher_is_better ? after[i] - before[i] : before[i] - after[i];
		if (gain > threshold)
			(*improved)++;
		else if (gain < -threshold)
			(*worse)++;
	}
}

int effect_paired(const double *before, const double *after, size_t n,
                  const struct effect_params *p, struct effect_result *out)
{
	if (before == NULL || after == NULL || p == NULL || out == NULL || n < 2)
		return -EINVAL;
	if (!(p->level > 0.0 && p->level < 1.0) || !(p->reliability > 0.0 && p->reliability < 1.0))
		return -EINVAL;
	if (!all_finite(before, n) || !all_finite(after, n))
		return -EINVAL;

	struct effect_result r = {.n = n};
	double df = (double)(n - 1);
	r.mean_before = gsl_stats_mean(before, 1, n);
	r.mean_after = gsl_stats_mean(after, 1, n);
	r.sd_before = gsl_stats_sd_m(before, 1, n, r.mean_before);
	r.sd_after = gsl_stats_sd_m(after, 1, n, r.mean_after);
	change_mean_sd(before, after, n, &r.mean_change, &r.sd_change);
	r.correlation = NAN;
	if (r.sd_before > 0.0 && r.sd_after > 0.0 && r.sd_change == 0.0) {
		/* after is before shifted: r is 1 exactly, which rounding would miss by an ulp
		 * and turn d_av's zero-width CI into one of width ~1e-8 */
		r.correlation = 1.0;
	} else if (r.sd_before > 0.0 && r.sd_after > 0.0) {
		double c = gsl_stats_correlation(before, 1, after, 1, n);
		/* rounding can push |r| of a perfect linear relation just past 1 */
		r.correlation = c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
	}

	double t = gsl_cdf_tdist_Pinv(0.5 + p->level / 2.0, df);
	double se_change = r.sd_change / sqrt((double)n);
	r.change_lo = r.mean_change - t * se_change;
	r.change_hi = r.mean_change + t * se_change;

	/* Hedges' J is 0 at one degree of freedom (n = 2): d then has no finite mean to correct
	 * towards, so the corrected figures stay NaN rather than a spurious 0 with a zero-width
	 * interval. */
	double z = gsl_cdf_ugaussian_Pinv(0.5 + p->level / 2.0);
	double j = 1.0 - 3.0 / (4.0 * df - 1.0);
	bool correctable = n > 2;
	double sd_av = sqrt((r.sd_before * r.sd_before + r.sd_after * r.sd_after) / 2.0);

	r.d_av_uncorrected = r.d_av = r.d_av_lo = r.d_av_hi = NAN;
	if (sd_av > 0.0) {
		double d = r.mean_change / sd_av;
		/* No correlation when one SD is 0; then sd_change^2 / sd_av^2 = 2 exactly, which is
		 * 2 (1 - r) at r = 0. */
		double rr = isnan(r.correlation) ? 0.0 : r.correlation;
		double v = (1.0 / (double)n + d * d / (2.0 * (double)n)) * 2.0 * (1.0 - rr);
		r.d_av_uncorrected = d;
		if (correctable) {
			r.d_av = j * d;
			r.d_av_lo = r.d_av - z * j * sqrt(v);
			r.d_av_hi = r.d_av + z * j * sqrt(v);
		}
	}

	r.d_z_uncorrected = r.d_z = r.d_z_lo = r.d_z_hi = NAN;
	if (r.sd_change > 0.0) {
		double d = r.mean_change / r.sd_change;
		double v = 1.0 / (double)n + d * d / (2.0 * (double)n);
		r.d_z_uncorrected = d;
		if (correctable) {
			r.d_z = j * d;
			r.d_z_lo = r.d_z - z * j * sqrt(v);
			r.d_z_hi = r.d_z + z * j * sqrt(v);
		}
	}

	/* Without spread at baseline the index has no unit: nobody is classified. */
	r.rci_threshold = r.share_improved = r.share_worse = NAN;
	if (r.sd_before > 0.0) {
		/* Jacobson and Truax's fixed 1.96, whatever the confidence level asked for */
		double z_rci = gsl_cdf_ugaussian_Pinv(0.975);
		r.rci_threshold = z_rci * r.sd_before * sqrt(2.0 * (1.0 - p->reliability));
		count_reliable(before, after, n, r.rci_threshold, p->higher_is_better,
		               &r.n_improved, &r.n_worse);
		r.share_improved = (double)r.n_improved / (double)n;
		r.share_worse = (double)r.n_worse / (double)n;
	}

	*out = r;
	/* sd_av is 0 only when both SDs are, and then every change is equal: nothing to
	 * standardise with. */
	return sd_av > 0.0 ? 0 : -EINVAL;
}

/* True when the baseline is constant within every group, so that its column is a sum of the
 * intercept and group columns and the design is singular. Exact comparisons: scores are
 * compared as given. */
static bool baseline_in_group_span(const double *before, const int *group, size_t n, int n_groups,
                                   double *first, bool *seen)
{
	for (int g = 0; g < n_groups; g++)
		seen[g] = false;
	for (size_t i = 0; i < n; i++) {
		int g = group[i];
		if (!seen[g]) {
			seen[g] = true;
			first[g] = before[i];
		} else if (before[i] != first[g]) {
			return false;
		}
	}
	return true;
}

/* x' C x for the row x = (1, xbar, e_g) with e_g the indicator of group g (none for g = 0). */
static double prediction_variance(const gsl_matrix *cov, double xbar, int g)
{
	size_t k = g > 0 ? 2 + (size_t)(g - 1) : 0;
	double x[3] = {1.0, xbar, 1.0};
	size_t idx[3] = {0, 1, k};
	size_t m = g > 0 ? 3 : 2;
	double v = 0.0;
	for (size_t a = 0; a < m; a++)
		for (size_t b = 0; b < m; b++)
			v += x[a] * x[b] * gsl_matrix_get(cov, idx[a], idx[b]);
	/* a perfect fit has cov 0; rounding must not turn that into the root of a negative */
	return v > 0.0 ? v : 0.0;
}

int effect_compare_modes(const double *before, const double *after, const int *group, size_t n,
                         int n_groups, double level, struct effect_mode *out,
                         double *baseline_slope)
{
	if (before == NULL || after == NULL || group == NULL || out == NULL || n_groups < 1)
		return -EINVAL;
	if (!(level > 0.0 && level < 1.0) || n <= (size_t)n_groups + 1)
		return -EINVAL;
	if (!all_finite(before, n) || !all_finite(after, n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (group[i] < 0 || group[i] >= n_groups)
			return -EINVAL;

	int ret = 0;
	size_t p = (size_t)n_groups + 1;
	size_t *count = NULL;
	double *sum_change = NULL, *first = NULL;
	bool *seen = NULL;
	gsl_matrix *x = NULL, *cov = NULL;
	gsl_vector *y = NULL, *c = NULL;
	gsl_multifit_linear_workspace *work = NULL;

	count = calloc((size_t)n_groups, sizeof(*count));
	sum_change = calloc((size_t)n_groups, sizeof(*sum_change));
	first = calloc((size_t)n_groups, sizeof(*first));
	seen = calloc((size_t)n_groups, sizeof(*seen));
	if (count == NULL || sum_change == NULL || first == NULL || seen == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		count[group[i]]++;
		sum_change[group[i]] += after[i] - before[i];
	}
	for (int g = 0; g < n_groups; g++) {
		if (count[g] < 2) {
			ret = -EINVAL;
			goto out;
		}
	}
	if (baseline_in_group_span(before, group, n, n_groups, first, seen)) {
		ret = -EINVAL;
		goto out;
	}

	x = gsl_matrix_calloc(n, p);
	y = gsl_vector_alloc(n);
	c = gsl_vector_alloc(p);
	cov = gsl_matrix_alloc(p, p);
	work = gsl_multifit_linear_alloc(n, p);
	if (x == NULL || y == NULL || c == NULL || cov == NULL || work == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		gsl_matrix_set(x, i, 0, 1.0);
		gsl_matrix_set(x, i, 1, before[i]);
		if (group[i] > 0)
			gsl_matrix_set(x, i, 1 + (size_t)group[i], 1.0);
		gsl_vector_set(y, i, after[i] - before[i]);
	}
	/* cov = s^2 (X'X)^-1 with s^2 = RSS / (n - p): the covariance R's vcov() gives */
	double chisq;
	int status = gsl_multifit_linear(x, y, c, cov, &chisq, work);
	if (status != GSL_SUCCESS) {
		ret = status == GSL_ENOMEM ? -ENOMEM : -EINVAL;
		goto out;
	}
	/* gsl_multifit_linear drops singular values below GSL_DBL_EPSILON times the largest; a
	 * dropped one means a (numerically) singular design and a minimum-norm, not a unique,
	 * solution. */
	if (gsl_multifit_linear_rank(GSL_DBL_EPSILON, work) < p) {
		ret = -EINVAL;
		goto out;
	}

	double df = (double)(n - p);
	double t = gsl_cdf_tdist_Pinv(0.5 + level / 2.0, df);
	double xbar = gsl_stats_mean(before, 1, n);
	for (int g = 0; g < n_groups; g++) {
		struct effect_mode *m = &out[g];
		m->n = count[g];
		m->mean_change = sum_change[g] / (double)count[g];
		double pred = gsl_vector_get(c, 0) + xbar * gsl_vector_get(c, 1);
		if (g > 0)
			pred += gsl_vector_get(c, 1 + (size_t)g);
		double se = sqrt(prediction_variance(cov, xbar, g));
		m->adjusted = pred;
		m->adjusted_lo = pred - t * se;
		m->adjusted_hi = pred + t * se;
		if (g == 0) {
			m->diff = m->diff_lo = m->diff_hi = 0.0;
			m->diff_p = NAN;
			continue;
		}
		double b = gsl_vector_get(c, 1 + (size_t)g);
		double se_b = sqrt(gsl_matrix_get(cov, 1 + (size_t)g, 1 + (size_t)g));
		m->diff = b;
		m->diff_lo = b - t * se_b;
		m->diff_hi = b + t * se_b;
		/* a perfect fit (se 0) has no test statistic */
		m->diff_p = se_b > 0.0 ? 2.0 * gsl_cdf_tdist_Q(fabs(b) / se_b, df) : NAN;
	}
	if (baseline_slope != NULL)
		*baseline_slope = gsl_vector_get(c, 1);

out:
	gsl_multifit_linear_free(work);
	gsl_matrix_free(cov);
	gsl_vector_free(c);
	gsl_vector_free(y);
	gsl_matrix_free(x);
	free(seen);
	free(first);
	free(sum_change);
	free(count);
	return ret;
}

double effect_quantile(const double *values, size_t n, double q, double *scratch)
{
	if (values == NULL || scratch == NULL || n == 0 || !(q >= 0.0 && q <= 1.0))
		return NAN;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(values[i]))
			return NAN;
		scratch[i] = values[i];
	}
	gsl_sort(scratch, 1, n);
	/* GSL: (1 - h) x[lo] + h x[lo + 1] at (n - 1) q = lo + h, R's type 7 */
	return gsl_stats_quantile_from_sorted_data(scratch, 1, n, q);
}
