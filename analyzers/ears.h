/* CDC EARS aberration detectors C1, C2 and C3 on one weekly count series, evaluated at one
 * time index. Pure: arrays in, one result out; no I/O, no allocation, no time-of-day.
 * Agrees with R's surveillance::earsC (golden tests in tests/data/golden/ears.tsv).
 *
 * Method (y = observed, t = 0-based index evaluated, b = baseline, z = qnorm(1 - alpha),
 * sd with divisor n - 1, max() as R's pmax, which keeps NaN):
 *
 *   C1  reference R1(t) = y[t-b] .. y[t-1]                       (b values)
 *       upperbound = mean(R1) + z * max(sd(R1), min_sigma)
 *   C2  reference R2(t) = y[t-b-2] .. y[t-3]                     (b values, 2-week guard band)
 *       upperbound = mean(R2) + z * max(sd(R2), min_sigma)
 *   C3  C2 statistic  c2(s) = (y[s] - mean(R2(s))) / max(sd(R2(s)), min_sigma)
 *       upperbound = y[t] + max(sd(R2(t)), min_sigma)
 *                           * (z - (max(0, c2(t-2) - 1) + max(0, c2(t-1) - 1)))
 *       floored at 0.
 *   alarm when y[t] > upperbound.
 *
 * When max(sd(R2(t)), min_sigma) > 0 and no value is NaN, C3 alarms exactly when y[t] > 0 and
 * max(0, c2(t-2) - 1) + max(0, c2(t-1) - 1) > z; its upper bound is reported as R reports it. Each
 * call evaluates one t; calling it for every t of a range gives earsC's results for that range
 * (earsC itself needs a contiguous range of two or more points for C3).
 *
 * Edge cases, all as R computes them unless stated:
 *   - t too early (t < b for C1, b + 2 for C2, b + 4 for C3), t >= n, b < 3 (R stops):
 *     -EINVAL.
 *   - sd 0 (a flat reference) with min_sigma 0: C1 and C2 give upperbound = mean, so any
 *     y[t] above a flat baseline alarms. C3 divides by 0: c2 is +-Inf or NaN (0/0), which
 *     gives a NaN upper bound, or 0 where an infinite c2 meets a positive sd(R2(t)).
 *     Callers may set min_sigma > 0 (for example 0.5 for weekly counts) to avoid both; the
 *     default stays 0 to agree with R.
 *   - NaN in y is a missing value (R's NA): a NaN among the values a method reads makes the
 *     upper bound NaN; a NaN y[t] leaves the C1/C2 bound finite but the decision undefined.
 *     Then valid is false and alarm is false (R's alarm is NA).
 *   - +-Inf in y[t - lag .. t] (lag = b, b + 2, b + 4 for C1, C2, C3): -EINVAL (a count
 *     cannot be infinite).
 *   - alpha outside (0, 1) or NaN, min_sigma negative or not finite: -EINVAL (R would give
 *     Inf/NaN bounds or stop). An alpha so small that 1 - alpha rounds to 1 gives z = Inf and
 *     infinite or NaN bounds, as in R.
 * z comes from gsl_cdf_ugaussian_Pinv(1 - alpha), as R computes qnorm(1 - alpha). Means and
 * variances follow R's algorithms (long double sums, a correction pass for the mean), so the
 * upper bounds equal R's to the last bit on x86-64, where the golden rows agree exactly. */
#ifndef WR_EARS_H
#define WR_EARS_H

#include <stdbool.h>
#include <stddef.h>

/* The three EARS detectors. */
enum ears_method {
	EARS_C1,
	EARS_C2,
	EARS_C3,
};

/* Parameters; start from ears_params_default() and change what you need. */
struct ears_params {
	enum ears_method method;
	size_t baseline;  /* number of reference weeks, >= 3 (R's default 7) */
	double min_sigma; /* lower bound on the sd used, >= 0 (R's default 0) */
	double alpha;     /* one-sided level in (0, 1): z = qnorm(1 - alpha) */
};

/* Result at one time index. */
struct ears_point {
	double upperbound; /* as R: NaN where R has NA or NaN, may be +Inf (only when z is) */
	double mean;       /* mean of the reference R1(t) (C1) or R2(t) (C2, C3); NaN if missing */
	double sd;         /* sd of that reference before min_sigma; NaN if missing */
	bool valid;        /* upperbound is finite and y[t] is not NaN: alarm is a decision */
	bool alarm;        /* y[t] > upperbound; false when either is NaN (R's alarm is NA) */
};

/* R's defaults for `method`: baseline 7, min_sigma 0, alpha 0.001 for C1 and C2 and 0.025
 * for C3. For a value outside enum ears_method the result keeps that method, and
 * ears_detect() rejects it. This function can't fail. */
struct ears_params ears_params_default(enum ears_method method);

/* Runs the detector p->method at 0-based index t of observed[0 .. n-1] and writes the result
 * to *out. Only observed[t - lag .. t] is inspected (lag = b, b + 2, b + 4 for C1, C2, C3).
 * `observed`, `p` and `out` are borrowed.
 * Returns 0, or -EINVAL (and leaves *out untouched) when a pointer is NULL, t >= n, t is too
 * early for the method, p is out of range, or a value in observed[t - lag .. t] is +-Inf. */
__attribute__((warn_unused_result)) int ears_detect(const double *observed, size_t n, size_t t,
                                                    const struct ears_params *p,
                                                    struct ears_point *out);

#endif
