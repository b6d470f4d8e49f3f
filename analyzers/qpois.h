/* Quasi-Poisson regression with log link, fitted exactly as R's glm.fit does it (iteratively
 * reweighted least squares from mustart = y + 0.1, convergence when the relative change of
 * the deviance is below epsilon, step halving on a non-finite deviance), so that detectors
 * built on it can agree with R's surveillance package to many digits. Pure: arrays in,
 * results out. */
#ifndef WR_QPOIS_H
#define WR_QPOIS_H

#include <stdbool.h>
#include <stddef.h>

#define QPOIS_MAX_P 16 /* most columns of a design matrix */

/* A fitted model. Arrays of length n are owned by the fit (qpois_fit_free). */
struct qpois_fit {
	size_t n, p;
	double coef[QPOIS_MAX_P];
	/* Upper-triangular R (p x p, row-major) of the QR decomposition of sqrt(W) X with the
	 * working weights W of the last iteration, as R keeps it in model$qr. */
	double r[QPOIS_MAX_P * QPOIS_MAX_P];
	double *mu;        /* fitted means at convergence */
	double *w_working; /* working weights of the last iteration (prior x mu before it) */
	double *sqrt_w_x;  /* sqrt(W) X, n x p row-major, for hat values */
	double dispersion; /* Pearson estimate: sum(W ((y-mu)/mu)^2) / (n - p); NaN if n == p */
	double deviance;
	int df_residual;
	int iterations;
	bool converged;
};

/* Fits log(mu) = X coef + offset with prior weights. X is n x p row-major (borrowed), y are
 * non-negative counts, offset and prior may be NULL (0 and 1). maxit and epsilon as R's
 * glm.control (25, 1e-8). On success returns 0 and fills *fit (free its arrays with
 * qpois_fit_free; a fit that did not converge is returned with converged = false, as R does).
 * Returns -EINVAL for n < p, p > QPOIS_MAX_P, negative or non-finite y; -ENOMEM; -EDOM when
 * the design is rank deficient (R would alias a column). */
int qpois_fit(const double *x, const double *y, const double *offset, const double *prior, size_t n,
              size_t p, int maxit, double epsilon, struct qpois_fit *fit)
    __attribute__((warn_unused_result));

/* Frees the arrays of `fit` (not the struct). NULL-safe. */
void qpois_fit_free(struct qpois_fit *fit);

/* Hat values (diagonal of the weighted hat matrix, R's hatvalues()) into h[0..n). */
void qpois_hat(const struct qpois_fit *fit, double *h);

/* x0' (R'R)^-1 x0 for a new row x0 of length p: the unscaled variance of the linear
 * predictor; multiply by a dispersion for the variance. */
double qpois_unscaled_var(const struct qpois_fit *fit, const double *x0);

/* Two-sided p-value of coefficient j with the t distribution on df_residual degrees of
 * freedom and the given dispersion (summary.glm uses fit->dispersion for quasi families). */
double qpois_coef_pvalue(const struct qpois_fit *fit, size_t j, double dispersion);

#endif
