/* Quasi-Poisson IRLS (see qpois.h), following R's glm.fit step by step:
 *   mu = y + 0.1, eta = log(mu), devold = deviance(mu);
 *   repeat: z = eta - offset + (y - mu)/mu, W = prior * mu, solve min |sqrt(W)(X b - z)|
 *           through the normal equations X'WX b = X'Wz, with the columns scaled to unit
 *           diagonal and GSL's Cholesky decomposition; eta = X b + offset;
 *           mu = max(exp(eta), DBL_EPSILON);
 *           dev = sum 2 prior (y log(y/mu) - (y - mu)) (y log(y/mu) = 0 for y = 0);
 *           while dev is not finite: b = (b + b_old)/2;
 *           stop when |dev - devold| / (|dev| + 0.1) < epsilon.
 * The kept factor R (R'R = X'WX, the R of R's QR up to signs) and working weights are those of
 * the last iteration (computed from the mu before its update), exactly what R stores and later
 * uses for hat values, standard errors and the dispersion. The normal equations are four times
 * cheaper than a QR of the n x p matrix and use only the nonzero entries of each row (the
 * seasonal dummies make most of them zero); with the scaling the results agree with R's QR to
 * about 1e-12 on the golden series. Rank-deficient designs are refused rather than aliased. */
#include "qpois.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

static double deviance(const double *y, const double *mu, const double *prior, size_t n)
{
	double dev = 0;
	for (size_t i = 0; i < n; i++) {
		double wt = prior != NULL ? prior[i] : 1.0;
		double ylog = y[i] == 0 ? 0 : y[i] * log(y[i] / mu[i]);
		dev += 2 * wt * (ylog - (y[i] - mu[i]));
	}
	return dev;
}

/* eta = X b + offset; mu = max(exp(eta), DBL_EPSILON). */
/* nz[i * p + k], k < n_nz[i]: the columns of row i that are not zero. */
static void predict(const double *x, const unsigned char *nz, const unsigned char *n_nz,
                    const double *b, const double *offset, size_t n, size_t p, double *eta,
                    double *mu)
{
	for (size_t i = 0; i < n; i++) {
		double e = offset != NULL ? offset[i] : 0;
		for (size_t k = 0; k < n_nz[i]; k++)
			e += x[i * p + nz[i * p + k]] * b[nz[i * p + k]];
		eta[i] = e;
		double m = exp(e);
		mu[i] = m > DBL_EPSILON ? m : DBL_EPSILON;
	}
}

void qpois_fit_free(struct qpois_fit *fit)
{
	if (fit == NULL)
		return;
	free(fit->mu);
	free(fit->w_working);
	free(fit->sqrt_w_x);
	fit->mu = fit->w_working = fit->sqrt_w_x = NULL;
}

int qpois_fit(const double *x, const double *y, const double *offset, const double *prior, size_t n,
              size_t p, int maxit, double epsilon, struct qpois_fit *fit)
{
	memset(fit, 0, sizeof(*fit));
	if (p == 0 || p > QPOIS_MAX_P || n < p || n > SIZE_MAX / (p + 8) / sizeof(double))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!(y[i] >= 0) || !isfinite(y[i]))
			return -EINVAL;
	}
	int r = 0;
	double *eta = malloc(n * sizeof(double));
	unsigned char *nz = malloc(n * p), *n_nz = malloc(n);
	fit->mu = calloc(n, sizeof(double));
	fit->w_working = malloc(n * sizeof(double));
	fit->sqrt_w_x = malloc(n * p * sizeof(double));
	if (eta == NULL || nz == NULL || n_nz == NULL || fit->mu == NULL ||
	    fit->w_working == NULL || fit->sqrt_w_x == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* The nonzero columns of each row; the design does not change between iterations. */
	for (size_t i = 0; i < n; i++) {
		n_nz[i] = 0;
		for (size_t j = 0; j < p; j++) {
			if (x[i * p + j] != 0)
				nz[i * p + n_nz[i]++] = (unsigned char)j;
		}
	}
	fit->n = n;
	fit->p = p;
	double *mu = fit->mu;
	double b[QPOIS_MAX_P] = {0}, b_old[QPOIS_MAX_P] = {0};
	double xtwx[QPOIS_MAX_P * QPOIS_MAX_P], xtwz[QPOIS_MAX_P], d[QPOIS_MAX_P];
	bool have_old = false;
	for (size_t i = 0; i < n; i++) {
		mu[i] = y[i] + 0.1;
		eta[i] = log(mu[i]);
	}
	double devold = deviance(y, mu, prior, n), dev = devold;
	gsl_matrix_view av = gsl_matrix_view_array(xtwx, p, p);
	gsl_vector_view bv = gsl_vector_view_array(xtwz, p);
	gsl_vector_view sv = gsl_vector_view_array(b, p);
	for (int iter = 1; iter <= maxit; iter++) {
		memset(xtwx, 0, sizeof(xtwx));
		memset(xtwz, 0, sizeof(xtwz));
		for (size_t i = 0; i < n; i++) {
			double off = offset != NULL ? offset[i] : 0;
			double wt = (prior != NULL ? prior[i] : 1.0) * mu[i];
			double zi = eta[i] - off + (y[i] - mu[i]) / mu[i];
			fit->w_working[i] = wt;
			for (size_t ka = 0; ka < n_nz[i]; ka++) {
				size_t ja = nz[i * p + ka];
				double wxa = wt * x[i * p + ja];
				xtwz[ja] += wxa * zi;
				for (size_t kb = ka; kb < n_nz[i]; kb++) {
					size_t jb = nz[i * p + kb];
					xtwx[ja * p + jb] += wxa * x[i * p + jb];
				}
			}
		}
		/* Scale to unit diagonal, then Cholesky: A' = D X'WX D = L L'. */
		for (size_t j = 0; j < p; j++) {
			if (!(xtwx[j * p + j] > 0)) {
				r = -EDOM;
				goto out;
			}
			d[j] = 1 / sqrt(xtwx[j * p + j]);
		}
		for (size_t j = 0; j < p; j++) {
			xtwz[j] *= d[j];
			for (size_t k = j; k < p; k++) {
				xtwx[j * p + k] *= d[j] * d[k];
				xtwx[k * p + j] = xtwx[j * p + k];
			}
		}
		if (gsl_linalg_cholesky_decomp1(&av.matrix) != GSL_SUCCESS) {
			r = -EDOM;
			goto out;
		}
		/* Rank check in the spirit of R's dqrdc2 tolerance (1e-7 relative). */
		for (size_t j = 0; j < p; j++) {
			if (!(xtwx[j * p + j] > 1e-7)) {
				r = -EDOM;
				goto out;
			}
		}
		if (gsl_linalg_cholesky_solve(&av.matrix, &bv.vector, &sv.vector) != GSL_SUCCESS) {
			r = -EDOM;
			goto out;
		}
		for (size_t j = 0; j < p; j++) {
			b[j] *= d[j];
			/* R = L' D^-1: row i of R holds L(j, i) / d_j for j >= i. */
			for (size_t k = 0; k < p; k++)
				fit->r[j * p + k] = k >= j ? xtwx[k * p + j] / d[k] : 0;
		}
		predict(x, nz, n_nz, b, offset, n, p, eta, mu);
		dev = deviance(y, mu, prior, n);
		/* Step halving towards the previous coefficients while the deviance is not
		 * finite (R: "step size truncated due to divergence"). */
		for (int half = 0; !isfinite(dev) && have_old && half < maxit; half++) {
			for (size_t j = 0; j < p; j++)
				b[j] = (b[j] + b_old[j]) / 2;
			predict(x, nz, n_nz, b, offset, n, p, eta, mu);
			dev = deviance(y, mu, prior, n);
		}
		if (!isfinite(dev)) {
			r = -EDOM;
			goto out;
		}
		fit->iterations = iter;
		if (fabs(dev - devold) / (fabs(dev) + 0.1) < epsilon) {
			fit->converged = true;
			break;
		}
		devold = dev;
		memcpy(b_old, b, sizeof(b));
		have_old = true;
	}
	memcpy(fit->coef, b, sizeof(b));
	/* sqrt(W) X with the weights of the last iteration, for the hat values. */
	for (size_t i = 0; i < n; i++) {
		double sw = sqrt(fit->w_working[i]);
		for (size_t j = 0; j < p; j++)
			fit->sqrt_w_x[i * p + j] = x[i * p + j] * sw;
	}
	fit->deviance = dev;
	fit->df_residual = (int)(n - p);
	double pearson = 0;
	for (size_t i = 0; i < n; i++) {
		double res = (y[i] - mu[i]) / mu[i];
		pearson += fit->w_working[i] * res * res;
	}
	fit->dispersion = n > p ? pearson / (double)(n - p) : NAN;
out:
	free(eta);
	free(nz);
	free(n_nz);
	if (r < 0)
		qpois_fit_free(fit);
	return r;
}

/* Solves R' v = u (forward substitution) for the fit's p x p upper-triangular R. */
static void solve_rt(const struct qpois_fit *fit, const double *u, double *v)
{
	size_t p = fit->p;
	for (size_t i = 0; i < p; i++) {
		double s = u[i];
		for (size_t k = 0; k < i; k++)
			s -= fit->r[k * p + i] * v[k];
		v[i] = s / fit->r[i * p + i];
	}
}

void qpois_hat(const struct qpois_fit *fit, double *h)
{
	/* h_i = a_i' C a_i with a_i = sqrt(w_i) x_i and C = (X'WX)^-1 = R^-1 R^-T, formed once;
	 * each row then costs only its nonzero entries (R's hatvalues() from the QR). */
	size_t p = fit->p;
	double rinv[QPOIS_MAX_P * QPOIS_MAX_P] = {0}, c[QPOIS_MAX_P * QPOIS_MAX_P];
	for (size_t j = 0; j < p; j++) {
		/* column j of R^-1 by back substitution of R x = e_j */
		for (size_t i = j + 1; i-- > 0;) {
			double sum = i == j ? 1 : 0;
			for (size_t k = i + 1; k <= j; k++)
				sum -= fit->r[i * p + k] * rinv[k * p + j];
			rinv[i * p + j] = sum / fit->r[i * p + i];
		}
	}
	for (size_t a = 0; a < p; a++) {
		for (size_t b = a; b < p; b++) {
			double sum = 0;
			for (size_t k = b; k < p; k++)
				sum += rinv[a * p + k] * rinv[b * p + k];
			c[a * p + b] = c[b * p + a] = sum;
		}
	}
	for (size_t i = 0; i < fit->n; i++) {
		const double *row = fit->sqrt_w_x + i * p;
		size_t idx[QPOIS_MAX_P], m = 0;
		for (size_t j = 0; j < p; j++) {
			if (row[j] != 0)
				idx[m++] = j;
		}
		double sum = 0;
		for (size_t ka = 0; ka < m; ka++) {
			for (size_t kb = 0; kb < m; kb++)
				sum += row[idx[ka]] * row[idx[kb]] * c[idx[ka] * p + idx[kb]];
		}
		h[i] = sum;
	}
}

double qpois_unscaled_var(const struct qpois_fit *fit, const double *x0)
{
	double v[QPOIS_MAX_P];
	solve_rt(fit, x0, v);
	double s = 0;
	for (size_t j = 0; j < fit->p; j++)
		s += v[j] * v[j];
	return s;
}

double qpois_coef_pvalue(const struct qpois_fit *fit, size_t j, double dispersion)
{
	double e[QPOIS_MAX_P] = {0};
	if (fit->df_residual <= 0)
		return NAN;
	e[j] = 1;
	double se = sqrt(qpois_unscaled_var(fit, e) * dispersion);
	double t = fit->coef[j] / se;
	return 2 * gsl_cdf_tdist_P(-fabs(t), fit->df_residual);
}
