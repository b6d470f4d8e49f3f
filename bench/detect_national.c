/* Detection benchmark (BRIEF.md section 9): a national-size weekly run in memory.
 *
 * Generates, from a seed, 3,300 wijken x 15 themes of weekly distinct-person counts (five
 * years, 261 weeks, ISO weeks ending at --week) with populations, seasonality, holiday dips,
 * trends, overdispersion and a few hundred planted rises in the last weeks, then times
 *   (a) farrington_detect on the current week of EVERY series (the pure cost of the detector,
 *       also for series that could never alert), and
 *   (b) detect_series, the full alert rule the daemon runs (a series whose current week is
 *       below min_persons exits early; an evaluated one costs one or two Farrington fits),
 * each single-threaded and with more threads that take series from a shared counter.
 * Optionally writes a sample of series with the C results for the comparison with R
 * (bench/detect_r.R, bench/detect_compare.py) and times the C detector on exactly that sample,
 * and writes the data set as COPY files for the PostgreSQL mode of bench/detect.
 *
 *   detect_national [--wijken N] [--themes T] [--weeks W] [--week YYYY-Www] [--rises R]
 *                   [--seed S] [--rate-scale X] [--threads 1,2] [--repeat R]
 *                   [--only farrington|detect|none] [--sample N --out DIR [--sample-reps R]]
 *                   [--dump-db DIR]
 *
 * Detector settings are detect_params_default() (the daemon's defaults): Noufaily Farrington
 * with b 4, w 3, 10 periods, 26 weeks left out, nbPlugin, alpha 0.01, population offset; rule
 * 8 persons, ratio 1.5, 2 consecutive weeks. Prints figures; exits non-zero only on errors. */
#include "detect.h"
#include "farrington.h"
#include "isoweek.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#define MAX_THREADS 64

/* A need theme: base rate per 1,000 inhabitants per week, seasonal amplitude (log scale) and
 * peak ISO week, holiday dip (summer and Christmas), negative binomial size (smaller: more
 * overdispersed), trend per year (log scale). */
struct theme {
	const char *code;
	double rate;
	double amplitude;
	int peak_week;
	bool holiday_dip;
	double nb_size;
	double trend;
};

/* The 14 themes of the default taxonomy plus one extension (the theme table can grow). */
static const struct theme themes[] = {
    {"GELD", 0.90, 0.10, 5, true, 8, 0.03},        {"WERK", 0.50, 0.15, 36, true, 10, 0.00},
    {"WONEN", 0.60, 0.05, 2, true, 6, 0.05},       {"RELATIES", 0.70, 0.10, 3, true, 10, 0.00},
    {"OPGROEIEN", 0.80, 0.25, 40, true, 10, 0.02}, {"MANTELZORG", 0.30, 0.10, 50, false, 12, 0.04},
    {"EENZAAM", 0.50, 0.35, 51, false, 8, 0.00},   {"MEEDOEN", 0.25, 0.30, 22, false, 6, -0.02},
    {"PSYCHE", 1.00, 0.15, 6, true, 8, 0.06},      {"LICHAAM", 0.40, 0.20, 3, false, 10, 0.00},
    {"MIDDELEN", 0.15, 0.10, 30, false, 4, 0.00},  {"ZELFZORG", 0.35, 0.05, 1, false, 10, 0.01},
    {"VEILIG", 0.10, 0.05, 30, false, 3, 0.00},    {"OVERIG", 0.60, 0.10, 10, true, 5, 0.00},
    {"DIGITAAL", 0.20, 0.10, 45, false, 6, 0.10},
};
#define N_THEMES_MAX (sizeof(themes) / sizeof(themes[0]))

struct dataset {
	size_t n_wijken, n_themes, n_weeks, n_series;
	long first_index;  /* ISO week index of week 0 */
	double *y;         /* [series][week], series = wijk * n_themes + theme */
	double *pop;       /* [wijk][week] */
	double *mu_now;    /* expected count of the current week without a planted rise */
	double *mean_year; /* mean count of the last 52 weeks */
	bool *planted;
	size_t n_planted;
};

static double now_s(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL) {
		fprintf(stderr, "detect_national: out of memory\n");
		exit(1);
	}
	return p;
}

static void wijk_code(size_t w, char *buf, size_t size)
{
	snprintf(buf, size, "WK%06zu", 100 + w);
}

static void generate(struct dataset *d, unsigned long seed, double rate_scale, size_t n_rises)
{
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(r, seed);
	size_t W = d->n_weeks, T = d->n_themes;
	d->n_series = d->n_wijken * T;
	d->y = xcalloc(d->n_series * W, sizeof(double));
	d->pop = xcalloc(d->n_wijken * W, sizeof(double));
	d->mu_now = xcalloc(d->n_series, sizeof(double));
	d->mean_year = xcalloc(d->n_series, sizeof(double));
	d->planted = xcalloc(d->n_series, sizeof(bool));
	int first_year = isoweek_from_index(d->first_index).year;
	double *mu = xcalloc(W, sizeof(double));
	for (size_t w = 0; w < d->n_wijken; w++) {
		/* Log-normal population, median 3,800 (mean about 5,400: 3,300 wijken hold the
		 * country's 18 million), clamped to 100..40,000; a yearly growth rate; CBS-style
		 * figures per year, so the offset steps at the turn of the ISO year as in the
		 * daemon, which takes the area's figure of the week's year. */
		double p0 = 3800 * exp(gsl_ran_gaussian(r, 0.85));
		p0 = fmin(40000, fmax(100, p0));
		double growth = 0.005 + gsl_ran_gaussian(r, 0.01);
		/* Social deprivation: one factor for all themes of a wijk. */
		double wijk_factor = exp(gsl_ran_gaussian(r, 0.45) - 0.45 * 0.45 / 2);
		for (size_t i = 0; i < W; i++) {
			int year = isoweek_from_index(d->first_index + (long)i).year;
			d->pop[w * W + i] =
			    fmax(50, round(p0 * pow(1 + growth, year - first_year)));
		}
		for (size_t th = 0; th < T; th++) {
			const struct theme *tm = &themes[th];
			size_t s = w * T + th;
			double local = exp(gsl_ran_gaussian(r, 0.25) - 0.25 * 0.25 / 2);
			for (size_t i = 0; i < W; i++) {
				int week = isoweek_from_index(d->first_index + (long)i).week;
				double season = exp(tm->amplitude *
				                    cos(2 * M_PI * (week - tm->peak_week) / 52.18));
				double dip = 1;
				if (tm->holiday_dip && week >= 29 && week <= 33)
					dip = 0.75;
				if (tm->holiday_dip && (week >= 52 || week == 1))
					dip = 0.6;
				double trend = exp(tm->trend * ((double)i - (double)W) / 52);
				mu[i] = d->pop[w * W + i] / 1000 * tm->rate * rate_scale *
				        wijk_factor * local * season * dip * trend;
				double lambda = gsl_ran_gamma(r, tm->nb_size, mu[i] / tm->nb_size);
				d->y[s * W + i] = gsl_ran_poisson(r, lambda);
			}
			d->mu_now[s] = mu[W - 1];
		}
	}
	free(mu);
	/* Planted rises: in series that can reach the rule's 8 persons (current expected >= 1.5),
	 * the last 2..4 weeks get an excess of (f - 1) x expected, f uniform in 2..4, and at least
	 * enough for a mean of 10 persons. */
	size_t eligible = 0;
	for (size_t s = 0; s < d->n_series; s++)
		eligible += d->mu_now[s] >= 1.5;
	if (n_rises > eligible / 2)
		n_rises = eligible / 2;
	d->n_planted = 0;
	while (d->n_planted < n_rises) {
		size_t s = gsl_rng_uniform_int(r, d->n_series);
		if (d->planted[s] || d->mu_now[s] < 1.5)
			continue;
		d->planted[s] = true;
		d->n_planted++;
		size_t len = 2 + gsl_rng_uniform_int(r, 3);
		double f = 2 + 2 * gsl_rng_uniform(r);
		for (size_t k = 0; k < len; k++) {
			size_t i = W - 1 - k;
			double base = d->mu_now[s]; /* close enough for the last few weeks */
			double extra = fmax((f - 1) * base, 10 - base);
			d->y[s * W + i] += gsl_ran_poisson(r, extra);
		}
	}
	for (size_t s = 0; s < d->n_series; s++) {
		double sum = 0;
		for (size_t i = W - 52; i < W; i++)
			sum += d->y[s * W + i];
		d->mean_year[s] = sum / 52;
	}
	gsl_rng_free(r);
}

/* ---- optional counting of GLM fits (diagnostic build: -DDETECT_COUNT_FITS and
 * -Wl,--wrap=qpois_fit, which wraps farrington.c's calls into qpois.c; not for timing) ---- */

#ifdef DETECT_COUNT_FITS
#include "qpois.h"
static atomic_ulong fit_calls, fit_iterations, fit_rows, fit_cols;
int __real_qpois_fit(const double *x, const double *y, const double *offset, const double *prior,
                     size_t n, size_t p, int maxit, double epsilon, struct qpois_fit *fit);
int __wrap_qpois_fit(const double *x, const double *y, const double *offset, const double *prior,
                     size_t n, size_t p, int maxit, double epsilon, struct qpois_fit *fit);
int __wrap_qpois_fit(const double *x, const double *y, const double *offset, const double *prior,
                     size_t n, size_t p, int maxit, double epsilon, struct qpois_fit *fit)
{
	int r = __real_qpois_fit(x, y, offset, prior, n, p, maxit, epsilon, fit);
	atomic_fetch_add(&fit_calls, 1);
	atomic_fetch_add(&fit_iterations, (unsigned long)fit->iterations);
	atomic_fetch_add(&fit_rows, n);
	atomic_fetch_add(&fit_cols, p);
	return r;
}
static void print_fit_counts(const char *what, size_t series)
{
	unsigned long calls = atomic_exchange(&fit_calls, 0),
	              its = atomic_exchange(&fit_iterations, 0);
	unsigned long rows = atomic_exchange(&fit_rows, 0), cols = atomic_exchange(&fit_cols, 0);
	printf("fits       %s: %lu GLM fits for %zu series (%.2f per series), %.2f IRLS iterations "
	       "(QR decompositions) per fit, mean design %.1f x %.2f\n",
	       what, calls, series, (double)calls / (double)series,
	       calls ? (double)its / (double)calls : 0, calls ? (double)rows / (double)calls : 0,
	       calls ? (double)cols / (double)calls : 0);
}
#else
static void print_fit_counts(const char *what, size_t series)
{
	(void)what;
	(void)series;
}
#endif

/* ---- timed passes ---- */

enum pass { PASS_FARRINGTON, PASS_DETECT };

struct result {
	bool fitted, alarm, alert;
	int n_evaluated;
	int err;
};

struct job {
	const struct dataset *d;
	const struct detect_params *p;
	enum pass pass;
	const size_t *index; /* series to run (NULL: all) */
	size_t count;
	atomic_size_t next;
	struct result *res;
};

#define CHUNK 32

static void *worker(void *arg)
{
	struct job *j = arg;
	size_t W = j->d->n_weeks, T = j->d->n_themes;
	for (;;) {
		size_t from = atomic_fetch_add(&j->next, CHUNK);
		if (from >= j->count)
			break;
		size_t to = from + CHUNK < j->count ? from + CHUNK : j->count;
		for (size_t k = from; k < to; k++) {
			size_t s = j->index != NULL ? j->index[k] : k;
			const double *y = j->d->y + s * W, *pop = j->d->pop + (s / T) * W;
			struct result *out = &j->res[k];
			if (j->pass == PASS_FARRINGTON) {
				struct farrington_point fp;
				out->err =
				    farrington_detect(y, pop, W, W - 1, &j->p->farrington, &fp);
				out->fitted = fp.fitted;
				out->alarm = fp.alarm;
			} else {
				struct detect_result dr;
				out->err = detect_series(y, pop, W, W - 1, j->p, &dr);
				out->alert = dr.alert;
				out->n_evaluated = dr.n_evaluated;
			}
		}
	}
	return NULL;
}

struct timing {
	double wall, cpu;
};

static int run_pass(struct job *j, int threads, struct timing *tm)
{
	pthread_t tid[MAX_THREADS];
	atomic_store(&j->next, 0);
	double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	if (threads == 1) {
		worker(j);
	} else {
		for (int i = 0; i < threads; i++) {
			if (pthread_create(&tid[i], NULL, worker, j) != 0) {
				fprintf(stderr, "detect_national: pthread_create failed\n");
				return -1;
			}
		}
		for (int i = 0; i < threads; i++)
			pthread_join(tid[i], NULL);
	}
	tm->wall = now_s(CLOCK_MONOTONIC) - w0;
	tm->cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	for (size_t k = 0; k < j->count; k++) {
		if (j->res[k].err < 0) {
			fprintf(stderr, "detect_national: detector error %d on series %zu\n",
			        j->res[k].err, j->index != NULL ? j->index[k] : k);
			return -1;
		}
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int time_national(const struct dataset *d, const struct detect_params *p, enum pass pass,
                         const int *thread_list, int n_thread_list, int repeat)
{
	struct job j = {.d = d, .p = p, .pass = pass, .count = d->n_series};
	j.res = xcalloc(d->n_series, sizeof(struct result));
	double *walls = xcalloc((size_t)repeat, sizeof(double));
	const char *name = pass == PASS_FARRINGTON ? "farrington" : "detect";
	for (int ti = 0; ti < n_thread_list; ti++) {
		int threads = thread_list[ti];
		struct timing tm = {0}, best = {INFINITY, 0};
		for (int rep = 0; rep < repeat; rep++) {
			if (run_pass(&j, threads, &tm) < 0) {
				free(walls);
				free(j.res);
				return -1;
			}
			walls[rep] = tm.wall;
			if (tm.wall < best.wall)
				best = tm;
		}
		print_fit_counts(name, d->n_series * (size_t)repeat);
		qsort(walls, (size_t)repeat, sizeof(double), cmp_double);
		double median = walls[repeat / 2];
		size_t flagged = 0, recovered = 0, evaluated = 0, fits = 0, unfitted = 0;
		for (size_t s = 0; s < d->n_series; s++) {
			bool hit = pass == PASS_FARRINGTON ? j.res[s].alarm : j.res[s].alert;
			flagged += hit;
			recovered += hit && d->planted[s];
			evaluated += j.res[s].n_evaluated > 0;
			fits += (size_t)j.res[s].n_evaluated;
			unfitted += pass == PASS_FARRINGTON && !j.res[s].fitted;
		}
		printf(
		    "%-10s threads=%d series=%zu seconds=%.3f (best of %d; median %.3f; cpu %.3f "
		    "s, cpu/wall %.2f) series/s=%.0f us/series=%.1f",
		    name, threads, d->n_series, best.wall, repeat, median, best.cpu,
		    best.cpu / best.wall, (double)d->n_series / best.wall,
		    best.wall * 1e6 / (double)d->n_series);
		if (pass == PASS_FARRINGTON)
			printf(" alarms=%zu not_fitted=%zu planted_with_alarm=%zu/%zu\n", flagged,
			       unfitted, recovered, d->n_planted);
		else
			printf(" evaluated=%zu farrington_calls=%zu alerts=%zu "
			       "planted_recovered=%zu/%zu "
			       "alerts_unplanted=%zu\n",
			       evaluated, fits, flagged, recovered, d->n_planted,
			       flagged - recovered);
		fflush(stdout);
	}
	free(walls);
	free(j.res);
	return 0;
}

/* ---- the sample for R ---- */

static const struct dataset *sort_data;
static int cmp_mean(const void *a, const void *b)
{
	double x = sort_data->mean_year[*(const size_t *)a],
	       y = sort_data->mean_year[*(const size_t *)b];
	return x < y ? -1 : x > y;
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		fprintf(stderr, "detect_national: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

static void fmt(char *buf, size_t size, double x)
{
	if (isnan(x))
		snprintf(buf, size, "nan");
	else
		snprintf(buf, size, "%.17g", x);
}

/* Chooses n series: four fifths spread evenly over the ranks of the last year's mean (small
 * to large), one fifth among the planted rises (so that alarms are compared too). */
static size_t choose_sample(const struct dataset *d, size_t n, size_t *out)
{
	size_t *order = xcalloc(d->n_series, sizeof(size_t));
	bool *taken = xcalloc(d->n_series, sizeof(bool));
	for (size_t s = 0; s < d->n_series; s++)
		order[s] = s;
	sort_data = d;
	qsort(order, d->n_series, sizeof(size_t), cmp_mean);
	if (n > d->n_series)
		n = d->n_series;
	size_t n_planted = d->n_planted < n / 5 ? d->n_planted : n / 5, k = 0;
	for (size_t i = 0, seen = 0; i < d->n_series && k < n_planted; i++) {
		size_t s = order[i];
		if (!d->planted[s])
			continue;
		/* every (n_planted_total / n_planted)-th planted series, by size */
		if (seen++ * n_planted / d->n_planted == k) {
			out[k++] = s;
			taken[s] = true;
		}
	}
	size_t rest = n - k;
	for (size_t i = 0; i < rest; i++) {
		size_t pos = rest > 1 ? i * (d->n_series - 1) / (rest - 1) : 0;
		while (taken[order[pos]])
			pos = (pos + 1) % d->n_series;
		out[k++] = order[pos];
		taken[order[pos]] = true;
	}
	free(order);
	free(taken);
	return k;
}

static int write_sample(const struct dataset *d, const struct detect_params *p, size_t n,
                        const char *dir, int reps)
{
	size_t W = d->n_weeks, T = d->n_themes;
	size_t *idx = xcalloc(n, sizeof(size_t));
	n = choose_sample(d, n, idx);
	FILE *fs = open_out(dir, "series.tsv"), *fm = open_out(dir, "sample_meta.tsv"),
	     *fr = open_out(dir, "c_results.tsv");
	if (fs == NULL || fm == NULL || fr == NULL)
		return -1;
	fprintf(fs, "series\tt\tobserved\tpopulation\n");
	fprintf(fm, "series\twijk\ttheme\tpopulation\tmean_last_year\texpected_now\tplanted\n");
	fprintf(fr, "series\tt\tobserved\tupperbound\texpected\talarm\ttrend\tpvalue\tscore\tmu0\t"
	            "phi\tfitted\n");
	char code[16], name[64];
	for (size_t k = 0; k < n; k++) {
		size_t s = idx[k], w = s / T, th = s % T;
		wijk_code(w, code, sizeof(code));
		snprintf(name, sizeof(name), "s%05zu_%s_%s", s, code, themes[th].code);
		for (size_t i = 0; i < W; i++)
			fprintf(fs, "%s\t%zu\t%.0f\t%.0f\n", name, i + 1, d->y[s * W + i],
			        d->pop[w * W + i]);
		fprintf(fm, "%s\t%s\t%s\t%.0f\t%.4f\t%.4f\t%d\n", name, code, themes[th].code,
		        d->pop[w * W + W - 1], d->mean_year[s], d->mu_now[s], d->planted[s]);
		struct farrington_point fp;
		int r =
		    farrington_detect(d->y + s * W, d->pop + w * W, W, W - 1, &p->farrington, &fp);
		if (r < 0) {
			fprintf(stderr, "detect_national: farrington_detect: %d\n", r);
			return -1;
		}
		char ub[32], ex[32], pv[32], sc[32], mu0[32], phi[32];
		fmt(ub, sizeof(ub), fp.upperbound);
		fmt(ex, sizeof(ex), fp.expected);
		fmt(pv, sizeof(pv), fp.pvalue);
		fmt(sc, sizeof(sc), fp.score);
		fmt(mu0, sizeof(mu0), fp.mu0);
		fmt(phi, sizeof(phi), fp.phi);
		fprintf(fr, "%s\t%zu\t%.0f\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\n", name, W,
		        d->y[s * W + W - 1], ub, ex, fp.alarm, fp.trend, pv, sc, mu0, phi,
		        fp.fitted);
	}
	fclose(fs);
	fclose(fm);
	fclose(fr);
	print_fit_counts("sample", n);
	/* The C detector on exactly these series, single-threaded, many repetitions. */
	struct job j = {.d = d, .p = p, .pass = PASS_FARRINGTON, .index = idx, .count = n};
	j.res = xcalloc(n, sizeof(struct result));
	struct timing tm, best = {INFINITY, 0};
	double total = 0, cpu = 0;
	for (int rep = 0; rep < reps; rep++) {
		if (run_pass(&j, 1, &tm) < 0)
			return -1;
		total += tm.wall;
		cpu += tm.cpu;
		if (tm.wall < best.wall)
			best = tm;
	}
	print_fit_counts("sample reps", n * (size_t)reps);
	double us_best = best.wall * 1e6 / (double)n, us_mean = total * 1e6 / (double)n / reps;
	double cpu_mean = cpu * 1e6 / (double)n / reps;
	printf("sample     threads=1 series=%zu reps=%d seconds=%.4f (all reps; cpu %.4f) "
	       "us/series=%.1f (mean; cpu %.1f) %.1f (best rep)\n",
	       n, reps, total, cpu, us_mean, cpu_mean, us_best);
	FILE *ft = open_out(dir, "c_time.tsv");
	if (ft == NULL)
		return -1;
	fprintf(ft, "series\treps\tseconds\tus_per_series_mean\tus_per_series_best\t"
	            "cpu_us_per_series_mean\n");
	fprintf(ft, "%zu\t%d\t%.6f\t%.3f\t%.3f\t%.3f\n", n, reps, total, us_mean, us_best,
	        cpu_mean);
	fclose(ft);
	free(j.res);
	free(idx);
	return 0;
}

/* ---- COPY files for the PostgreSQL mode ---- */

/* Wijken are grouped ten to a municipality (330 for 3,300 wijken, the country has 342), and
 * each municipality's wijkteam is one organisation, as in the field: series are per
 * (organisation, wijk, theme) and the space-time scan runs per organisation and theme over
 * that municipality's wijken. Centroids: municipalities spread over the Netherlands' box,
 * wijken within about 3 km of their municipality's centre. */
static int dump_db(const struct dataset *d, const char *dir, unsigned long seed)
{
	size_t W = d->n_weeks, T = d->n_themes;
	FILE *fa = open_out(dir, "area.tsv"), *fc = open_out(dir, "need_week_count.tsv");
	if (fa == NULL || fc == NULL)
		return -1;
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(r, seed + 1);
	char code[16], monday[16];
	int area_year = isoweek_from_index(d->first_index + (long)W - 1).year;
	double lat0 = 0, lon0 = 0;
	/* area (year, code, kind, name, municipality, population, centroid_lat, centroid_lon):
	 * one row per ISO year with that year's population. */
	for (size_t w = 0; w < d->n_wijken; w++) {
		if (w % 10 == 0) {
			lat0 = 50.8 + 2.6 * gsl_rng_uniform(r);
			lon0 = 3.6 + 3.5 * gsl_rng_uniform(r);
		}
		double lat = lat0 + 0.03 * gsl_ran_gaussian(r, 1);
		double lon = lon0 + 0.045 * gsl_ran_gaussian(r, 1);
		wijk_code(w, code, sizeof(code));
		int year = 0;
		for (size_t i = 0; i < W; i++) {
			int y = isoweek_from_index(d->first_index + (long)i).year;
			if (y == year)
				continue;
			year = y;
			fprintf(fa, "%d\t%s\tWK\tWijk %zu\tGM%04zu\t%.0f\t%.5f\t%.5f\n", y, code, w,
			        w / 10, d->pop[w * W + i], lat, lon);
		}
	}
	gsl_rng_free(r);
	/* need_week_count (organisation, area_year, area_code, theme, week, persons > 0). */
	for (size_t i = 0; i < W; i++) {
		isoweek_monday(isoweek_from_index(d->first_index + (long)i), monday,
		               sizeof(monday));
		for (size_t s = 0; s < d->n_series; s++) {
			double y = d->y[s * W + i];
			if (y <= 0)
				continue;
			wijk_code(s / T, code, sizeof(code));
			fprintf(fc, "wijkteam-GM%04zu\t%d\t%s\t%s\t%s\t%.0f\n", s / T / 10,
			        area_year, code, themes[s % T].code, monday, y);
		}
	}
	if (fclose(fa) != 0 || fclose(fc) != 0)
		return -1;
	return 0;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: detect_national [--wijken N] [--themes T] [--weeks W] [--week YYYY-Www]\n"
	    "         [--rises R] [--seed S] [--rate-scale X] [--threads 1,2] [--repeat R]\n"
	    "         [--only farrington|detect|none] [--sample N --out DIR [--sample-reps R]]\n"
	    "         [--dump-db DIR]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"wijken", required_argument, NULL, 'n'},
	                                     {"themes", required_argument, NULL, 'T'},
	                                     {"weeks", required_argument, NULL, 'W'},
	                                     {"week", required_argument, NULL, 'k'},
	                                     {"rises", required_argument, NULL, 'r'},
	                                     {"seed", required_argument, NULL, 's'},
	                                     {"rate-scale", required_argument, NULL, 'x'},
	                                     {"threads", required_argument, NULL, 't'},
	                                     {"repeat", required_argument, NULL, 'R'},
	                                     {"only", required_argument, NULL, 'o'},
	                                     {"sample", required_argument, NULL, 'S'},
	                                     {"out", required_argument, NULL, 'O'},
	                                     {"sample-reps", required_argument, NULL, 'P'},
	                                     {"dump-db", required_argument, NULL, 'D'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	size_t n_wijken = 3300, n_themes = 15, n_weeks = 261, n_rises = 300, sample = 0;
	unsigned long seed = 20251125;
	double rate_scale = 1;
	int thread_list[MAX_THREADS] = {1, 2}, n_thread_list = 2, repeat = 1, sample_reps = 20;
	const char *only = "both", *out_dir = NULL, *dump_dir = NULL;
	struct isoweek week = {2025, 47};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n_wijken = strtoul(optarg, NULL, 10);
			break;
		case 'T':
			n_themes = strtoul(optarg, NULL, 10);
			break;
		case 'W':
			n_weeks = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			if (isoweek_parse(optarg, &week) < 0) {
				usage();
				return 2;
			}
			break;
		case 'r':
			n_rises = strtoul(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 10);
			break;
		case 'x':
			rate_scale = strtod(optarg, NULL);
			break;
		case 't': {
			n_thread_list = 0;
			char *save = NULL, *list = strdup(optarg);
			for (char *tok = strtok_r(list, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save)) {
				int n = atoi(tok);
				if (n < 1 || n > MAX_THREADS || n_thread_list == MAX_THREADS) {
					usage();
					return 2;
				}
				thread_list[n_thread_list++] = n;
			}
			free(list);
			break;
		}
		case 'R':
			repeat = atoi(optarg);
			break;
		case 'o':
			only = optarg;
			break;
		case 'S':
			sample = strtoul(optarg, NULL, 10);
			break;
		case 'O':
			out_dir = optarg;
			break;
		case 'P':
			sample_reps = atoi(optarg);
			break;
		case 'D':
			dump_dir = optarg;
			break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	struct detect_params p;
	detect_params_default(&p);
	size_t need = farrington_first_index(&p.farrington) + (size_t)p.consecutive;
	if (optind != argc || n_wijken < 1 || n_themes < 1 || n_themes > N_THEMES_MAX ||
	    n_weeks < need || n_weeks < 60 || repeat < 1 || sample_reps < 1 || !(rate_scale > 0) ||
	    n_thread_list < 1 || (sample > 0 && out_dir == NULL) ||
	    (strcmp(only, "both") && strcmp(only, "farrington") && strcmp(only, "detect") &&
	     strcmp(only, "none"))) {
		usage();
		return 2;
	}
	struct dataset d = {.n_wijken = n_wijken, .n_themes = n_themes, .n_weeks = n_weeks};
	d.first_index = isoweek_to_index(week) - (long)n_weeks + 1;
	char first_label[16], last_label[16];
	isoweek_format(isoweek_from_index(d.first_index), first_label, sizeof(first_label));
	isoweek_format(week, last_label, sizeof(last_label));
	double g0 = now_s(CLOCK_MONOTONIC);
	generate(&d, seed, rate_scale, n_rises);
	double gen = now_s(CLOCK_MONOTONIC) - g0;
	size_t reach = 0;
	double total = 0, pop_total = 0;
	for (size_t s = 0; s < d.n_series; s++) {
		reach += d.y[s * n_weeks + n_weeks - 1] >= p.min_persons;
		total += d.mean_year[s] * 52;
	}
	for (size_t w = 0; w < n_wijken; w++)
		pop_total += d.pop[w * n_weeks + n_weeks - 1];
	printf("data       wijken=%zu themes=%zu series=%zu weeks=%zu (%s..%s) seed=%lu "
	       "rate_scale=%g population=%.0f person_weeks_last_year=%.0f planted_rises=%zu "
	       "current_week_reaching_%d=%zu generated_in=%.2fs\n",
	       n_wijken, n_themes, d.n_series, n_weeks, first_label, last_label, seed, rate_scale,
	       pop_total, total, d.n_planted, p.min_persons, reach, gen);
	printf("params     farrington b=%d w=%d no_periods=%d past_weeks_not_included=%d "
	       "threshold=nbPlugin alpha=%g population_offset=%d; rule min_persons=%d "
	       "min_ratio=%g consecutive=%d\n",
	       p.farrington.b, p.farrington.w, p.farrington.no_periods,
	       p.farrington.past_weeks_not_included, p.farrington.alpha,
	       p.farrington.population_offset, p.min_persons, p.min_ratio, p.consecutive);
	fflush(stdout);
	if (dump_dir != NULL) {
		mkdir(dump_dir, 0755);
		if (dump_db(&d, dump_dir, seed) < 0)
			return 1;
		printf("dump       wrote %s/area.tsv and %s/need_week_count.tsv\n", dump_dir,
		       dump_dir);
	}
	if (sample > 0) {
		mkdir(out_dir, 0755);
		if (write_sample(&d, &p, sample, out_dir, sample_reps) < 0)
			return 1;
	}
	if ((!strcmp(only, "both") || !strcmp(only, "farrington")) &&
	    time_national(&d, &p, PASS_FARRINGTON, thread_list, n_thread_list, repeat) < 0)
		return 1;
	if ((!strcmp(only, "both") || !strcmp(only, "detect")) &&
	    time_national(&d, &p, PASS_DETECT, thread_list, n_thread_list, repeat) < 0)
		return 1;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("process    max_rss=%ld KiB\n", ru.ru_maxrss);
	free(d.y);
	free(d.pop);
	free(d.mu_now);
	free(d.mean_year);
	free(d.planted);
	return 0;
}
