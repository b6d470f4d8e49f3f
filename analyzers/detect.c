/* The alert rule (see detect.h).
 *
 * For each of the last `consecutive` weeks (current first) the detector gives an expected
 * value, an upper bound and a p-value; a week exceeds when
 *     observed >= min_persons  and  observed > upper bound  and  observed >= min_ratio x expected.
 * The series alerts when the current week and the consecutive - 1 weeks before it all exceed.
 * Farrington Flexible is used when the history reaches farrington_first_index(); otherwise
 * EARS (baseline ears_baseline, min_sigma 1 so that a flat history still gives a bound),
 * whose expected value is the mean of its reference weeks and whose p-value is the normal
 * upper tail of (observed - mean) / max(sd, 1), an approximation stated as such. The default
 * is C2, which judges each week on its own: C3 already sums the excess of the two weeks
 * before, so with the rule's consecutive weeks on top it would demand a longer rise.
 * Ranking: strength = -log10(p) of the current week, capped at 30 (a p-value of 0 would be
 * infinite); recurrence interval 1/p weeks. Trend: Farrington's trend rule on the current
 * week, as the relative change per week exp(slope) - 1. */
#include "detect.h"

#include "ears.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

void detect_params_default(struct detect_params *p)
{
	memset(p, 0, sizeof(*p));
	farrington_params_noufaily(&p->farrington);
	p->farrington.b = 4;
	p->farrington.population_offset = true;
	p->farrington.alpha = 0.01;
	p->ears_method = EARS_C2;
	p->ears_baseline = 7;
	p->ears_alpha = 0.025;
	p->min_persons = 8;
	p->min_ratio = 1.5;
	p->consecutive = 2;
}

/* One week by EARS. Returns 0 or -errno. */
static int ears_week(const double *observed, size_t n, size_t t, const struct detect_params *p,
                     struct detect_week *wk)
{
	struct ears_params ep = ears_params_default(p->ears_method);
	struct ears_point pt;
	ep.baseline = (size_t)p->ears_baseline;
	ep.alpha = p->ears_alpha;
	ep.min_sigma = 1;
	int r = ears_detect(observed, n, t, &ep, &pt);
	if (r < 0)
		return r;
	wk->expected = pt.mean;
	wk->upperbound = pt.valid ? pt.upperbound : NAN;
	double sd = isnan(pt.sd) ? NAN : fmax(pt.sd, 1);
	wk->pvalue = gsl_cdf_gaussian_Q(observed[t] - pt.mean, sd);
	return 0;
}

int detect_series(const double *observed, const double *population, size_t n, size_t t,
                  const struct detect_params *p, struct detect_result *out)
{
	memset(out, 0, sizeof(*out));
	out->ratio = out->strength = out->recurrence_weeks = out->trend_per_week = NAN;
	if (t >= n || p->consecutive < 1 || p->consecutive > DETECT_MAX_CONSECUTIVE ||
	    p->min_persons < 0 || !(p->min_ratio >= 0) || p->ears_baseline < 3)
		return -EINVAL;
	size_t oldest = t + 1 >= (size_t)p->consecutive ? t + 1 - (size_t)p->consecutive : 0;
	if (oldest >= farrington_first_index(&p->farrington))
		out->method = DETECT_FARRINGTON;
	else if (oldest >= (size_t)p->ears_baseline + (p->ears_method == EARS_C1   ? 0
	                                               : p->ears_method == EARS_C2 ? 2
	                                                                           : 4))
		out->method = DETECT_EARS;
	else
		return 0;
	if (!(observed[t] >= p->min_persons))
		return 0; /* cannot alert this week: nothing to evaluate */
	bool run = true;
	for (int k = 0; k < p->consecutive; k++) {
		size_t tk = t - (size_t)k;
		struct detect_week *wk = &out->weeks[k];
		wk->observed = observed[tk];
		int r;
		if (out->method == DETECT_FARRINGTON) {
			struct farrington_point fp;
			r = farrington_detect(observed, population, n, tk, &p->farrington, &fp);
			if (r < 0)
				return r;
			wk->expected = fp.expected;
			wk->upperbound = fp.upperbound;
			wk->pvalue = fp.pvalue;
			if (k == 0 && fp.trend) {
				out->trend = fp.trend_coef > 0 ? 1 : -1;
				out->trend_per_week = expm1(fp.trend_coef);
			}
		} else {
			r = ears_week(observed, n, tk, p, wk);
			if (r < 0)
				return r;
		}
		out->n_evaluated++;
		wk->exceeds = wk->observed >= p->min_persons && !isnan(wk->upperbound) &&
		              wk->observed > wk->upperbound && !isnan(wk->expected) &&
		              wk->observed >= p->min_ratio * wk->expected;
		run = run && wk->exceeds;
		if (run)
			out->run_length++;
		if (!run)
			break; /* the rule needs every week; the rest cannot change the outcome */
	}
	out->alert = out->run_length >= p->consecutive;
	const struct detect_week *now = &out->weeks[0];
	out->ratio = now->expected > 0 ? now->observed / now->expected : INFINITY;
	double pv = now->pvalue;
	out->strength = isnan(pv) ? 0 : pv <= 1e-30 ? 30 : -log10(pv);
	out->recurrence_weeks = isnan(pv) ? NAN : pv <= 0 ? INFINITY : 1 / pv;
	return 0;
}
