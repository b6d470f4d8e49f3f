/* What the effect and benchmark reports are computed from: per organisation, the counts,
 * waiting times, durations and before/after pairs of one period, read from PostgreSQL with a
 * few aggregate queries (blocking; run by the CLI, the report worker thread and the benchmark).
 * No disclosure control here: these are true figures and never leave the daemon as they are. */
#ifndef WR_REPORT_DATA_H
#define WR_REPORT_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "err.h"

/* A quarter ("2026-Q3") or a whole year ("2026"). Weeks belong to the period that holds their
 * Thursday (as ISO weeks belong to years). */
struct report_period {
	char label[16];
	int year, quarter; /* quarter 0: the whole year */
	char start[32];    /* first day, YYYY-MM-DD */
	char end[32];      /* the day after the last */
};

/* Parses "YYYY-Qn" or "YYYY". Returns 0 or -EINVAL. */
int report_period_parse(const char *text, struct report_period *out);

/* How the help of a trajectory was given: one mode, or blended (two or more). */
enum report_mode { MODE_INDIVIDUAL, MODE_ONLINE, MODE_GROUP, MODE_BLENDED, MODE_NONE, N_MODES };

/* "individual", "online", "group", "blended", "none". */
const char *report_mode_name(enum report_mode m);

/* Before/after pairs: one per person (the latest trajectory closed in the period with an intake
 * and an end measurement), the mean over the instrument's domains measured at both. */
struct report_pairs {
	double *before, *after;
	int *mode;  /* enum report_mode */
	int *theme; /* index into report_data.themes */
	size_t n, cap;
};

struct report_org {
	char organisation[65];
	long persons;            /* distinct persons with a need or contact */
	long collective_persons; /* ... with a group contact */
	double population;       /* inhabitants of the areas it reported */
	long with_contacts;      /* trajectories (or persons without one) with contacts */
	long blended, collective, online;
	long alerts, initiatives; /* alerts raised; alerts moved to initiative_started */
	double *waits;            /* weeks from opening to first contact, trajectories opened */
	size_t n_waits;
	double *durations; /* weeks from opening to closing, trajectories closed */
	size_t n_durations;
	long closed, closed_with_pair;
	long closed_year_before, reregistered; /* closed 52 weeks earlier; came back within 52 */
	long received, rejected;               /* records uploaded in the period */
	long care_signals, incomplete;         /* contacts and outcomes; without a trajectory */
	struct report_pairs pairs;
};

struct report_data {
	struct report_period period;
	char instrument[33];
	double reliability;
	bool higher_is_better;
	struct report_org *orgs; /* sorted by organisation */
	size_t n_orgs;
	char (*themes)[33]; /* themes of the pairs, sorted */
	size_t n_themes;
};

/* Loads the figures of `period` for every organisation with signals in it, with outcome pairs
 * on `instrument`. Returns 0, or -EIO / -EINVAL (unknown instrument) / -ENOMEM with `e` filled.
 * `out` is empty on failure; free it with report_data_free either way. */
int report_data_load(PGconn *conn, const struct report_period *period, const char *instrument,
                     struct report_data *out, struct err *e) __attribute__((warn_unused_result));

/* Frees what report_data_load allocated. */
void report_data_free(struct report_data *d);

/* The organisation `name` in `d`, or NULL. */
const struct report_org *report_data_org(const struct report_data *d, const char *name);

#endif
