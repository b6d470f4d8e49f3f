/* Farrington Flexible (see farrington.h), step by step as surveillance 1.20 does it for a
 * series without dates (week index as time):
 *
 * 1. Reference data. Weeks t-w..t and, for each of the b previous years, the weeks around
 *    t - j*freq (+-w) form the "current" seasonal level no_periods; with no_periods > 1 the
 *    weeks between two such windows are cut into no_periods - 1 equal blocks (levels 1..).
 *    The most recent past_weeks_not_included weeks and t itself are then left out.
 * 2. Model. Quasi-Poisson GLM, log link: intercept, optional linear time (week index), a
 *    factor for the seasonal levels (treatment contrasts, lowest level as reference), optional
 *    log(population) offset. A fit that does not converge with the trend is tried without.
 * 3. Reweighting. phi = max(1, Pearson dispersion). Anscombe residuals
 *    s = 3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 - h)); weights gamma s^-2 where
 *    s > weights_threshold and gamma elsewhere, gamma making them average 1; refit.
 * 4. Trend rule. The trend stays only if b >= 3, its t-test p-value is below
 *    p_threshold_trend, and the prediction at t does not exceed the largest reference count;
 *    otherwise steps 2-3 are redone without it.
 * 5. Threshold at t from the prediction (mu0, its standard error) and phi: the delta method on
 *    the 2/3 (1/2, 1) power scale, or a negative binomial quantile (mean mu0, variance
 *    phi mu0; Poisson when phi = 1) at mu0 (plug-in) or at exp of the upper normal quantile
 *    of the linear predictor (muan).
 * 6. Alarm when at least limit54_cases occurred in the last limit54_period weeks, the
 *    observed count is not 0, and score = (y - fit)/(upper - fit) > 1.
 *
 * Package quirks kept for equality, each marked below: the standard error of the prediction
 * uses the raw dispersion (option se_uses_phi to use phi), the score of the NB thresholds
 * subtracts the linear predictor from counts, and mu0 for the delta method is the exponent of
 * a response-scale quantile. Edge cases: missing counts are left out; a design without
 * reference data or with fewer rows than parameters gives fitted = false. */
#include "farrington.h"

#include "qpois.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

void farrington_params_default(struct farrington_params *p)
{
	memset(p, 0, sizeof(*p));
	p->b = 5;
	p->w = 3;
	p->freq = 52;
	p->no_periods = 1;
	p->past_weeks_not_included = -1;
	p->reweight = true;
	p->weights_threshold = 2.58;
	p->alpha = 0.05;
	p->trend = true;
	p->p_threshold_trend = 0.05;
	p->limit54_cases = 5;
	p->limit54_period = 4;
	p->power = FARRINGTON_POWER_TWO_THIRDS;
	p->threshold = FARRINGTON_DELTA;
	p->population_offset = false;
	p->se_uses_phi = false;
	p->glm_maxit = 25;
	p->glm_epsilon = 1e-8;
}

void farrington_params_noufaily(struct farrington_params *p)
{
	farrington_params_default(p);
	p->no_periods = 10;
	p->past_weeks_not_included = 26;
	p->weights_threshold = 2.58;
	p->threshold = FARRINGTON_NB_PLUGIN;
}

size_t farrington_first_index(const struct farrington_params *p)
{
	return (size_t)p->freq * (size_t)p->b + (size_t)p->w;
}

/* The reference rows of one evaluation. */
struct design {
	size_t n;       /* rows */
	double *y;      /* counts */
	double *wtime;  /* week index, 1-based as in the package */
	double *offset; /* log(population) or NULL */
	int *level;     /* seasonal level per row */
	int levels[64]; /* distinct levels present, ascending */
	size_t n_levels;
	double *x; /* model matrix, built per formula */
};

static void design_free(struct design *d)
{
	free(d->y);
	free(d->wtime);
	free(d->offset);
	free(d->level);
	free(d->x);
}

static int check_params(const struct farrington_params *p)
{
	int period = p->freq - 2 * p->w - 1;
	if (p->b < 1 || p->w < 0 || p->freq < 2 || p->no_periods < 1 || p->no_periods > 60 ||
	    period < 0 || (p->no_periods > 1 && period < p->no_periods - 1) ||
	    p->past_weeks_not_included < -1 || !(p->alpha > 0 && p->alpha < 1) ||
	    p->limit54_cases < 0 || p->limit54_period < 1 || p->glm_maxit < 1 ||
	    !(p->glm_epsilon > 0))
		return -EINVAL;
	return 0;
}

/* Step 1: seasonal levels of every week (0: not used), then the rows. */
static int build_design(const double *observed, const double *population, size_t n, size_t t,
                        const struct farrington_params *p, struct design *d)
{
	int P = p->no_periods, w = p->w;
	size_t pwni =
	    p->past_weeks_not_included < 0 ? (size_t)w : (size_t)p->past_weeks_not_included;
	int *blocks = calloc(n, sizeof(int));
	if (blocks == NULL)
		return -ENOMEM;
	for (size_t i = t - (size_t)w; i <= t; i++)
		blocks[i] = P;
	for (int j = 1; j <= p->b; j++) {
		size_t ref = t - (size_t)p->freq * (size_t)j;
		size_t prev = t - (size_t)p->freq * (size_t)(j - 1);
		for (size_t i = ref - (size_t)w; i <= ref + (size_t)w; i++)
			blocks[i] = P;
		if (P == 1)
			continue;
		size_t period = prev - 2 * (size_t)w - 1 - ref;
		size_t len = period / (size_t)(P - 1), rest = period % (size_t)(P - 1);
		size_t pos = ref + (size_t)w + 1;
		for (int level = 1; level < P; level++) {
			size_t l = len + ((size_t)(level - 1) < rest ? 1 : 0);
			for (size_t k = 0; k < l; k++)
				blocks[pos++] = level;
		}
	}
	for (size_t i = t >= pwni ? t - pwni : 0; i <= t; i++)
		blocks[i] = 0;
	size_t rows = 0;
	for (size_t i = 0; i < n; i++)
		rows += blocks[i] != 0 && !isnan(observed[i]);
	d->y = malloc((rows + 1) * sizeof(double));
	d->wtime = malloc((rows + 1) * sizeof(double));
	d->level = malloc((rows + 1) * sizeof(int));
	d->offset = p->population_offset ? malloc((rows + 1) * sizeof(double)) : NULL;
	if (d->y == NULL || d->wtime == NULL || d->level == NULL ||
	    (p->population_offset && d->offset == NULL)) {
		free(blocks);
		return -ENOMEM;
	}
	bool present[64] = {false};
	for (size_t i = 0; i < n; i++) {
		if (blocks[i] == 0 || isnan(observed[i]))
			continue;
		d->y[d->n] = observed[i];
		d->wtime[d->n] = (double)(i + 1);
		d->level[d->n] = blocks[i];
		if (d->offset != NULL)
			d->offset[d->n] = log(population[i]);
		present[blocks[i]] = true;
		d->n++;
	}
	free(blocks);
	for (int level = 1; level <= P; level++) {
		if (present[level])
			d->levels[d->n_levels++] = level;
	}
	return 0;
}

/* The row of the model matrix for (wtime, level). Returns the number of columns. */
static size_t model_row(const struct design *d, bool trend, bool factors, double wtime, int level,
                        double *row)
{
	size_t c = 0;
	row[c++] = 1;
	if (trend)
		row[c++] = wtime;
	if (factors) {
		for (size_t k = 1; k < d->n_levels; k++)
			row[c++] = level == d->levels[k] ? 1 : 0;
	}
	return c;
}

/* A fitted model with the dispersion phi, and the dispersion the package's inference (the
 * trend's t-test, the standard error of the prediction) ends up using. */
struct model {
	struct qpois_fit fit;
	bool has_trend;
	double phi;
	double inference_dispersion;
};

/* Steps 2 and 3 for one formula (algo.farrington.fitGLM.flexible). Returns 0 with *m filled,
 * 1 when no model converged, or a negative errno. */
static int fit_flexible(struct design *d, const struct farrington_params *p, bool trend,
                        struct model *m)
{
	bool factors = p->no_periods != 1;
	size_t cols = 1 + (trend ? 1 : 0) + (factors && d->n_levels > 0 ? d->n_levels - 1 : 0);
	int r;
	memset(m, 0, sizeof(*m));
	if (d->n == 0 || cols > QPOIS_MAX_P || d->n < cols)
		return 1;
	free(d->x);
	d->x = malloc(d->n * cols * sizeof(double));
	if (d->x == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++)
		model_row(d, trend, factors, d->wtime[i], d->level[i], d->x + i * cols);
	r = qpois_fit(d->x, d->y, d->offset, NULL, d->n, cols, p->glm_maxit, p->glm_epsilon,
	              &m->fit);
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !m->fit.converged) {
		qpois_fit_free(&m->fit);
		if (!trend)
			return 1;
		/* No convergence with the trend: the package tries without it. */
		return fit_flexible(d, p, false, m);
	}
	m->has_trend = trend;
	m->phi = fmax(m->fit.dispersion, 1);
	m->inference_dispersion = p->se_uses_phi ? m->phi : m->fit.dispersion;
	if (!p->reweight)
		return 0;
	double *h = malloc(d->n * sizeof(double));
	double *omega = malloc(d->n * sizeof(double));
	if (h == NULL || omega == NULL) {
		free(h);
		free(omega);
		qpois_fit_free(&m->fit);
		return -ENOMEM;
	}
	qpois_hat(&m->fit, h);
	double sum = 0;
	for (size_t i = 0; i < d->n; i++) {
		double mu = m->fit.mu[i];
		double s = 1.5 * (pow(d->y[i], 2.0 / 3) * pow(mu, -1.0 / 6) - sqrt(mu)) /
		           sqrt(m->phi * (1 - h[i]));
		omega[i] = s > p->weights_threshold ? 1 / (s * s) : -1;
		sum += omega[i] > 0 ? omega[i] : 1;
	}
	double gamma = (double)d->n / sum;
	for (size_t i = 0; i < d->n; i++)
		omega[i] = omega[i] > 0 ? gamma * omega[i] : gamma;
	free(h);
	qpois_fit_free(&m->fit);
	/* The package does not check the convergence of the reweighted fit. */
	r = qpois_fit(d->x, d->y, d->offset, omega, d->n, cols, p->glm_maxit, p->glm_epsilon,
	              &m->fit);
	if (r == -ENOMEM || r < 0) {
		free(omega);
		return r == -ENOMEM ? r : 1;
	}
	m->phi = fmax(m->fit.dispersion, 1);
	/* Quirk: the package then replaces the model's working weights by the prior weights
	 * omega, so summary.glm and predict.glm see sum(omega ((y - mu)/mu)^2) / df as the
	 * dispersion of the trend test and of the prediction's standard error. */
	double quirk = 0;
	for (size_t i = 0; i < d->n; i++) {
		double res = (d->y[i] - m->fit.mu[i]) / m->fit.mu[i];
		quirk += omega[i] * res * res;
	}
	free(omega);
	quirk = m->fit.df_residual > 0 ? quirk / m->fit.df_residual : NAN;
	m->inference_dispersion = p->se_uses_phi ? m->phi : quirk;
	return 0;
}

/* Linear predictor at t and its standard error (link scale). */
static void predict_link(const struct design *d, const struct model *m,
                         const struct farrington_params *p, size_t t, const double *population,
                         double *eta, double *se)
{
	double row[QPOIS_MAX_P];
	size_t cols =
	    model_row(d, m->has_trend, p->no_periods != 1, (double)(t + 1), p->no_periods, row);
	double e = p->population_offset ? log(population[t]) : 0;
	for (size_t j = 0; j < cols; j++)
		e += row[j] * m->fit.coef[j];
	*eta = e;
	*se = sqrt(qpois_unscaled_var(&m->fit, row) * m->inference_dispersion);
}

static double linkinv(double eta)
{
	double mu = exp(eta);
	return mu > DBL_EPSILON ? mu : DBL_EPSILON;
}

/* Smallest k >= 0 with cdf(k) >= target, searching from a normal approximation; cdf is the
 * negative binomial (size, prob) when size > 0, else the Poisson with mean `mean`. */
static double discrete_quantile(double target, double mean, double var, double size, double prob)
{
	if (!isfinite(mean))
		return NAN;
	/* R's fuzz for left continuity. */
	target *= 1 - 64 * DBL_EPSILON;
	double z = gsl_cdf_ugaussian_Pinv(target > 0 ? target : DBL_MIN);
	double k = floor(mean + sqrt(var) * z + 0.5);
	if (!(k >= 0))
		k = 0;
	if (k > 4294967295.0)
		return INFINITY;
#define CDF(kk)                                                                                    \
	(size > 0 ? gsl_cdf_negative_binomial_P((unsigned)(kk), prob, size)                        \
	          : gsl_cdf_poisson_P((unsigned)(kk), mean))
	while (k > 0 && CDF(k - 1) >= target)
		k--;
	while (CDF(k) < target && k < 4294967295.0)
		k++;
#undef CDF
	return k;
}

/* Upper tail P(Y >= y) of the same distribution. */
static double upper_tail(double y, double mean, double size, double prob)
{
	if (y <= 0)
		return 1;
	unsigned k = (unsigned)(y - 1);
	return size > 0 ? gsl_cdf_negative_binomial_Q(k, prob, size) : gsl_cdf_poisson_Q(k, mean);
}

int farrington_detect(const double *observed, const double *population, size_t n, size_t t,
                      const struct farrington_params *p, struct farrington_point *out)
{
	struct design d;
	struct model m;
	int r;
	memset(&d, 0, sizeof(d));
	memset(out, 0, sizeof(*out));
	out->upperbound = out->expected = out->mu0 = out->phi = NAN;
	out->pvalue = out->score = out->trend_coef = NAN;
	if (check_params(p) < 0 || t >= n || t < farrington_first_index(p) ||
	    (p->population_offset && population == NULL))
		return -EINVAL;
	r = build_design(observed, population, n, t, p, &d);
	if (r < 0)
		goto out;
	/* Step 4: the trend rule (algo.farrington.glm). */
	r = fit_flexible(&d, p, p->trend, &m);
	if (r != 0)
		goto out;
	bool do_trend = false;
	if (m.has_trend) {
		double eta, se;
		predict_link(&d, &m, p, t, population, &eta, &se);
		double ymax = 0;
		for (size_t i = 0; i < d.n; i++)
			ymax = fmax(ymax, d.y[i]);
		bool significant =
		    qpois_coef_pvalue(&m.fit, 1, m.inference_dispersion) < p->p_threshold_trend;
		do_trend = p->b >= 3 && significant && linkinv(eta) <= ymax;
		if (!do_trend) {
			qpois_fit_free(&m.fit);
			r = fit_flexible(&d, p, false, &m);
			if (r != 0)
				goto out;
		}
	}
	out->fitted = true;
	out->trend = do_trend;
	out->trend_coef = do_trend ? m.fit.coef[1] : NAN;
	out->phi = m.phi;
	double eta0, se_eta;
	predict_link(&d, &m, p, t, population, &eta0, &se_eta);
	qpois_fit_free(&m.fit);
	double y = observed[t];
	double z = gsl_cdf_ugaussian_Pinv(1 - p->alpha);
	double fit, upper = NAN;
	if (p->threshold == FARRINGTON_DELTA) {
		double mu0 = linkinv(eta0);
		double se_mu = se_eta * mu0; /* delta method onto the response scale */
		fit = mu0;
		double tau = out->phi + se_mu * se_mu / mu0, e, se;
		switch (p->power) {
		case FARRINGTON_POWER_NONE:
			e = 1;
			se = sqrt(mu0 * tau);
			break;
		case FARRINGTON_POWER_HALF:
			e = 0.5;
			se = sqrt(0.25 * tau);
			break;
		default:
			e = 2.0 / 3;
			se = sqrt(4.0 / 9 * pow(mu0, 1.0 / 3) * tau);
			break;
		}
		double a = pow(pow(mu0, e) - z * se, 1 / e), b = pow(pow(mu0, e) + z * se, 1 / e);
		upper = isnan(a) ? b : isnan(b) ? a : fmax(a, b);
		out->pvalue = gsl_cdf_gaussian_Q(pow(y, e) - pow(mu0, e), se);
		out->expected = mu0;
		/* Quirk: mu0 is exp of a quantile of the response-scale prediction. */
		out->mu0 = exp(mu0 + z * se_mu);
	} else {
		fit = eta0; /* quirk: the score below subtracts the linear predictor */
		double mu0q =
		    p->threshold == FARRINGTON_NB_PLUGIN ? exp(eta0) : exp(eta0 + z * se_eta);
		double phi = out->phi;
		if (isfinite(mu0q)) {
			double size = phi > 1 ? mu0q / (phi - 1) : 0, prob = 1 / phi;
			upper = discrete_quantile(1 - p->alpha, mu0q, mu0q * phi, size, prob);
			out->pvalue = upper_tail(y, mu0q, size, prob);
		}
		out->expected = exp(eta0);
		out->mu0 =
		    p->threshold == FARRINGTON_NB_PLUGIN ? exp(eta0) : exp(eta0 + z * se_eta);
	}
	out->score = isnan(upper) ? NAN : (y - fit) / (upper - fit);
	double recent = 0;
	for (size_t i = t + 1 - (size_t)p->limit54_period; i <= t; i++)
		recent += observed[i];
	out->enough_cases = recent >= p->limit54_cases;
	if (!out->enough_cases || isnan(upper)) {
		out->expected = NAN;
		if (!out->enough_cases)
			upper = NAN;
	}
	out->upperbound = upper;
	out->alarm = out->enough_cases && out->score > 1 && y != 0;
out:
	design_free(&d);
	if (r > 0)
		r = 0; /* no model: not an error, out->fitted stays false */
	return r;
}
