/* CDC EARS C1, C2 and C3 (see ears.h for the method and its edge cases).
 * The arithmetic follows R's surveillance::earsC step by step, including R's mean() and
 * var() algorithms and pmax()'s NaN propagation, so the golden tests can compare tightly. */
#include "ears.h"

#include <errno.h>
#include <math.h>

#include <gsl/gsl_cdf.h>

/* R's pmax(a, b) without na.rm: NaN if either is NaN. (fmax() would drop the NaN.) */
static double r_pmax(double a, double b)
{
	if (isnan(a) || isnan(b))
		return NAN;
	return a > b ? a : b;
}

/* R's mean(x) and sd(x) of x[0 .. k-1], k >= 2: the mean is a long double sum divided by k
 * and corrected by the mean of the residuals, then rounded to double; the variance sums the
 * squared residuals from that double mean in long double and divides by k - 1, as R's var()
 * does. A NaN in x gives NaN for both. */
static void mean_sd(const double *x, size_t k, double *mean, double *sd)
{
	long double sum = 0.0L;
	for (size_t i = 0; i < k; i++)
		sum += x[i];
	long double m = sum / (long double)k;
	if (isfinite((double)m)) {
		long double resid = 0.0L;
		for (size_t i = 0; i < k; i++)
			resid += x[i] - m;
		m += resid / (long double)k;
	}
	double xm = (double)m;

	long double ss = 0.0L;
	for (size_t i = 0; i < k; i++) {
		long double d = (long double)x[i] - xm;
		ss += d * d;
	}
	*mean = xm;
	*sd = sqrt((double)(ss / (long double)(k - 1)));
}

/* C2's reference R2(s) = y[s-b-2] .. y[s-3]; the caller guarantees s >= b + 2. */
static void c2_reference(const double *y, size_t s, size_t b, double *mean, double *sd)
{
	mean_sd(y + (s - b - 2), b, mean, sd);
}

/* C2 statistic c2(s) = (y[s] - mean(R2(s))) / max(sd(R2(s)), min_sigma), as R computes it
 * inside earsC's C3 branch (0/0 is NaN, x/0 is +-Inf). */
static double c2_stat(const double *y, size_t s, size_t b, double min_sigma)
{
	double mean, sd;
	c2_reference(y, s, b, &mean, &sd);
	return (y[s] - mean) / r_pmax(sd, min_sigma);
}

struct ears_params ears_params_default(enum ears_method method)
{
	struct ears_params p = {
	    .method = method,
	    .baseline = 7,
	    .min_sigma = 0.0,
	    .alpha = method == EARS_C3 ? 0.025 : 0.001,
	};
	return p;
}

int ears_detect(const double *observed, size_t n, size_t t, const struct ears_params *p,
                struct ears_point *out)
{
	if (observed == NULL || p == NULL || out == NULL || t >= n)
		return -EINVAL;
	if (p->baseline < 3 || !(p->alpha > 0.0 && p->alpha < 1.0) || !isfinite(p->min_sigma) ||
	    p->min_sigma < 0.0)
		return -EINVAL;

	/* Weeks before the reference that each method also needs: C2's guard band, C3's lags. */
	size_t extra;
	switch (p->method) {
	case EARS_C1:
		extra = 0;
		break;
	case EARS_C2:
		extra = 2;
		break;
	case EARS_C3:
		extra = 4;
		break;
	default:
		return -EINVAL;
	}
	/* t >= baseline + extra, written so that a huge baseline cannot overflow. */
	size_t b = p->baseline;
	if (b > t || t - b < extra)
		return -EINVAL;
	size_t lag = b + extra; /* the method reads observed[t - lag .. t] */
	for (size_t i = t - lag; i <= t; i++)
		if (isinf(observed[i]))
			return -EINVAL;

	double z = gsl_cdf_ugaussian_Pinv(1.0 - p->alpha); /* R: qnorm(1 - alpha) */
	double y = observed[t];
	double mean, sd, ub;
	if (p->method == EARS_C3) {
		double lag2 = r_pmax(0.0, c2_stat(observed, t - 2, b, p->min_sigma) - 1.0);
		double lag1 = r_pmax(0.0, c2_stat(observed, t - 1, b, p->min_sigma) - 1.0);
		c2_reference(observed, t, b, &mean, &sd);
		ub = y + r_pmax(sd, p->min_sigma) * (z - (lag2 + lag1));
		ub = r_pmax(0.0, ub);
	} else {
		/* C1: y[t-b] .. y[t-1]; C2: y[t-b-2] .. y[t-3]; both start at t - lag */
		mean_sd(observed + (t - lag), b, &mean, &sd);
		ub = mean + z * r_pmax(sd, p->min_sigma);
	}

	out->upperbound = ub;
	out->mean = mean;
	out->sd = sd;
	out->valid = isfinite(ub) && !isnan(y);
	out->alarm = y > ub; /* false when either is NaN */
	return 0;
}
