/* Effect measurement on paired scores (the same person before and after help): mean change with
 * its t-based confidence interval, standardised change d_av (headline) and d_z, both with the
 * Hedges small-sample correction and confidence intervals, the share reliably improved and
 * reliably worse (Jacobson-Truax reliable change index), and a comparison of service modes
 * adjusted for the baseline score (ANCOVA by least squares). Pure: arrays in, numbers out; GSL
 * for the distributions and the regression. Formulas in docs/effects.md. */
#ifndef WR_EFFECT_H
#define WR_EFFECT_H

#include <stdbool.h>
#include <stddef.h>

struct effect_params {
	double level;          /* confidence level in (0, 1), e.g. 0.95 */
	double reliability;    /* r_xx of the instrument in (0, 1), for the RCI */
	bool higher_is_better; /* direction of improvement on the instrument */
};

/* Fills the defaults: level 0.95, reliability 0.80, higher is better. */
void effect_params_default(struct effect_params *p);

struct effect_result {
	size_t n;                       /* pairs */
	double mean_before, mean_after; /* sample means */
	double sd_before, sd_after;     /* sample standard deviations (n - 1) */
	double correlation;             /* Pearson r of before and after (NaN when an SD is 0) */
	double mean_change;             /* mean of after - before */
	double sd_change;               /* SD of the differences */
	double change_lo, change_hi;    /* CI of the mean change: t with n - 1 df */
	/* d_av = mean_change / sqrt((sd_before^2 + sd_after^2) / 2), times the Hedges factor
	 * J = 1 - 3 / (4 (n - 1) - 1); CI g +- z * sqrt(J^2 (1/n + d^2 / (2n)) 2 (1 - r))
	 * with d uncorrected and z = qnorm((1 + level) / 2) (Borenstein et al. 2009, eq. 4.28,
	 * 4.24-4.25). NaN when sd_before = sd_after = 0. When exactly one SD is 0, r is undefined
	 * and the CI uses r = 0, which is exact then: sd_change^2 / sd_av^2 = 2 = 2 (1 - 0). */
	double d_av, d_av_lo, d_av_hi;
	/* d_z = mean_change / sd_change, times J; CI g +- z * sqrt(J^2 (1/n + d_z^2 / (2n))).
	 * NaN when sd_change = 0 (every change equal). */
	double d_z, d_z_lo, d_z_hi;
	/* At n = 2, J = 0 (d has no finite mean at one degree of freedom): d_av, d_z and their
	 * CIs are NaN there, and only these uncorrected values are filled. */
	double d_av_uncorrected, d_z_uncorrected;
	/* Jacobson-Truax: S_diff = sd_before * sqrt(2 (1 - r_xx)); reliably improved when the
	 * change in the better direction exceeds z_{0.975} * S_diff (1.96 S_diff), worse when it
	 * does in the other direction. Strictly: a change of exactly the threshold is not reliable.
	 * z is qnorm(0.975) = 1.959964 whatever p->level is. When sd_before = 0 the index has no
	 * unit: threshold and shares are NaN and both counts 0. */
	double rci_threshold; /* 1.96 * S_diff, in score units */
	size_t n_improved, n_worse;
	double share_improved, share_worse; /* of n */
};

/* Computes the paired statistics of n pairs (before[i], after[i]); all pointers are borrowed.
 * Returns 0 when at least d_av is computable (a d that is not is NaN: check with isnan).
 * -EINVAL, leaving *out untouched, when a pointer is NULL, n < 2, a value is not finite, or
 * level or reliability is not in (0, 1). -EINVAL with *out filled when there is no variation
 * to standardise with (sd_before = sd_after = 0, so every change is equal): the raw figures
 * are set, correlation, both d's and the RCI figures are NaN. Allocates nothing. */
int effect_paired(const double *before, const double *after, size_t n,
                  const struct effect_params *p, struct effect_result *out);

/* One service mode in a baseline-adjusted comparison. */
struct effect_mode {
	size_t n;
	double mean_change; /* raw mean change in this mode */
	double adjusted;    /* change predicted at the overall mean baseline */
	double adjusted_lo, adjusted_hi;
	/* Difference in adjusted change from the reference mode (group 0), its CI and two-sided
	 * p-value (t test of the group's coefficient). The reference has diff 0 with CI [0, 0] and
	 * p NaN; p is NaN too when its standard error is 0 (a perfect fit). */
	double diff, diff_lo, diff_hi, diff_p;
};

/* Compares n_groups service modes: change = b0 + b1 * before + sum_k g_k [group = k] + e by
 * ordinary least squares (group 0 the reference), CIs with t on n - n_groups - 1 df. group[i]
 * is in [0, n_groups). "A comparison, not proof of effect": people are not assigned to modes at
 * random. adjusted is the prediction for the mode at the mean baseline of all n pairs, its CI
 * from x' C x (C the coefficient covariance s^2 (X'X)^-1). Returns 0; -EINVAL when a pointer
 * is NULL, n_groups < 1, level is not in (0, 1), a value is not finite, a group is out of
 * range, a group has fewer than 2 pairs, n <= n_groups + 1, or the design is singular (the
 * baseline constant within every group, for example every baseline equal, or numerically
 * rank-deficient); -ENOMEM. On error `out` is untouched. `out` has n_groups entries;
 * *baseline_slope (may be NULL) receives b1. Inputs are borrowed. */
int effect_compare_modes(const double *before, const double *after, const int *group, size_t n,
                         int n_groups, double level, struct effect_mode *out,
                         double *baseline_slope);

/* The q-th quantile (0..1) of n values by R's default (type 7), for waiting times and
 * durations; `scratch` of n doubles receives the sorted values. NaN when n is 0, a pointer
 * is NULL, q is not in [0, 1], or a value is not finite. This function can't fail otherwise. */
double effect_quantile(const double *values, size_t n, double q, double *scratch);

#endif
