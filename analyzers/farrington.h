/* The Farrington Flexible outbreak detector (Farrington et al. 1996; Noufaily et al. 2013) as
 * R's surveillance::farringtonFlexible computes it, for one time point of one weekly series. */
#ifndef WR_FARRINGTON_H
#define WR_FARRINGTON_H

#include <stdbool.h>
#include <stddef.h>

enum farrington_threshold {
	FARRINGTON_DELTA,     /* Farrington 1996: power-transformed normal approximation */
	FARRINGTON_NB_PLUGIN, /* Noufaily 2013: negative binomial quantile at mu0 */
	FARRINGTON_MUAN,      /* negative binomial quantile at the upper normal quantile of mu0 */
};

enum farrington_power {
	FARRINGTON_POWER_NONE,       /* exponent 1 */
	FARRINGTON_POWER_HALF,       /* exponent 1/2 */
	FARRINGTON_POWER_TWO_THIRDS, /* exponent 2/3 (the default) */
};

/* The package's control list, with the same names and defaults. */
struct farrington_params {
	int b;                       /* years back (5) */
	int w;                       /* half window in weeks (3) */
	int freq;                    /* periods per year (52) */
	int no_periods;              /* seasonal factor levels (1; Noufaily: 10) */
	int past_weeks_not_included; /* recent weeks left out of the fit (-1: w; Noufaily 26) */
	bool reweight;               /* down-weight outbreaks in the baseline (true) */
	double weights_threshold;    /* Anscombe residual beyond which to down-weight (2.58) */
	double alpha;                /* one-sided level of the upper bound (0.05) */
	bool trend;                  /* try a linear time trend (true) */
	double p_threshold_trend;    /* keep the trend when its p-value is below this (0.05) */
	int limit54_cases;           /* no alarm unless this many cases ... (5) */
	int limit54_period;          /* ... in this many most recent weeks (4) */
	enum farrington_power power; /* for FARRINGTON_DELTA (2/3) */
	enum farrington_threshold threshold;
	bool population_offset; /* log(population) as offset (false) */
	/* The package's trend test and the standard error of its prediction use a dispersion
	 * that is not phi: the raw Pearson estimate (which may be below 1) when not reweighting,
	 * and, after reweighting, sum(omega ((y - mu)/mu)^2) / df, because it overwrites the
	 * model's working weights with the prior weights omega. false (default) does as the
	 * package does, so results equal R's; true uses phi = max(1, Pearson dispersion) for
	 * both, which is the consistent choice. */
	bool se_uses_phi;
	int glm_maxit;      /* IRLS iterations (25, as glm.control) */
	double glm_epsilon; /* IRLS convergence (1e-8, as glm.control) */
};

/* Result for one time point. Doubles are NaN where the package reports NA. */
struct farrington_point {
	bool fitted;       /* false: no model converged (the package returns NA everywhere) */
	bool enough_cases; /* the limit54 rule holds */
	bool alarm;
	bool trend;        /* the final model has a time trend */
	double upperbound; /* NaN when !enough_cases */
	double expected;   /* the model's prediction (counts); NaN when !enough_cases */
	double mu0;        /* the package's mu0Vector */
	double phi;        /* dispersion used, >= 1 */
	double pvalue;     /* of the observed count under the model */
	double score;      /* (y - fit) / (upper - fit), alarm when > 1 */
	double trend_coef; /* slope per week when trend, else NaN */
};

/* Fills `p` with the package's defaults (Farrington 1996 settings as in farringtonFlexible's
 * formals: b 5, w 3, one period, delta threshold, 2/3 power). */
void farrington_params_default(struct farrington_params *p);

/* Fills `p` with the settings of Noufaily et al. (2013): 10 periods, 26 recent weeks left out,
 * weights threshold 2.58, negative binomial plug-in threshold. */
void farrington_params_noufaily(struct farrington_params *p);

/* The first 0-based time index the detector can evaluate: freq*b + w. */
size_t farrington_first_index(const struct farrington_params *p);

/* Evaluates time index t (0-based) of `observed[0..n)` (counts >= 0; NaN = missing, left out
 * of the fit). `population` (may be NULL unless population_offset) holds positive sizes.
 * Returns 0 and fills *out; -EINVAL for bad parameters, t < farrington_first_index or
 * t >= n; -ENOMEM. A model that does not converge is not an error: out->fitted is false.
 * Arrays are borrowed. */
int farrington_detect(const double *observed, const double *population, size_t n, size_t t,
                      const struct farrington_params *p, struct farrington_point *out)
    __attribute__((warn_unused_result));

#endif
