/* The alert rule over one weekly series (BRIEF.md §6): run the temporal detector for the
 * current week and the weeks before it (Farrington Flexible when the history is long enough,
 * EARS when it is not) and decide whether this is a pattern worth a team lead's time: at
 * least min_persons distinct persons, above the upper bound, at least min_ratio times the
 * expected value, in `consecutive` weeks in a row up to the current one. Pure. */
#ifndef WR_DETECT_H
#define WR_DETECT_H

#include <stdbool.h>
#include <stddef.h>

#include "ears.h"
#include "farrington.h"

#define DETECT_MAX_CONSECUTIVE 8

enum detect_method {
	DETECT_NONE,       /* history too short for any detector */
	DETECT_FARRINGTON, /* Farrington Flexible */
	DETECT_EARS,       /* EARS C1, C2 or C3 (short history) */
};

struct detect_params {
	struct farrington_params farrington;
	enum ears_method ears_method; /* for short histories (C2: see detect.c) */
	int ears_baseline;            /* EARS baseline weeks (7) */
	double ears_alpha;            /* EARS level (0.025) */
	int min_persons;              /* at least this many distinct persons per week (8) */
	double min_ratio;             /* observed >= min_ratio x expected (1.5) */
	int consecutive;              /* weeks in a row, 1..DETECT_MAX_CONSECUTIVE (2) */
};

/* One evaluated week; index 0 of detect_result.weeks is the current week. */
struct detect_week {
	double observed;
	double expected;   /* NaN when the detector gives none */
	double upperbound; /* NaN when the detector gives none */
	double pvalue;     /* of the observed count under the baseline; NaN if none */
	bool exceeds;      /* all conditions of the rule hold this week */
};

struct detect_result {
	enum detect_method method;
	bool alert;      /* `consecutive` weeks in a row exceed, up to the current one */
	int n_evaluated; /* weeks evaluated (0 when the current week cannot alert at all) */
	int run_length;  /* weeks in a row that exceed, ending at the current one */
	struct detect_week weeks[DETECT_MAX_CONSECUTIVE];
	double ratio;            /* observed / expected of the current week */
	double strength;         /* ranking: -log10 of the current week's p-value (<= 30) */
	double recurrence_weeks; /* 1 / p-value: weeks between such exceedances by chance */
	int trend;               /* +1 rising, -1 falling, 0 none (Farrington's trend rule) */
	double trend_per_week;   /* relative change per week, exp(slope) - 1, when trend */
};

/* Defaults: Noufaily Farrington (b 4 for five years of history, population offset,
 * alpha 0.01), EARS C2 with baseline 7 and alpha 0.025, 8 persons, ratio 1.5, 2 weeks. */
void detect_params_default(struct detect_params *p);

/* Evaluates the series observed[0..n) (counts; population[0..n) the area's population per
 * week, required when p->farrington.population_offset) at week index t. A current week below
 * min_persons cannot alert and is not evaluated further (method set, n_evaluated 0).
 * Returns 0, -EINVAL for bad parameters or t >= n, -ENOMEM. Arrays are borrowed. */
int detect_series(const double *observed, const double *population, size_t n, size_t t,
                  const struct detect_params *p, struct detect_result *out)
    __attribute__((warn_unused_result));

#endif
