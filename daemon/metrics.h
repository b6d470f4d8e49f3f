/* In-process metrics registry rendered in the Prometheus text exposition format (0.0.4).
 * Families are declared once with help text; series are created on first use, keyed by
 * their label string. Pure: no I/O, no clock. Single-threaded like the event loop. */
#ifndef WR_METRICS_H
#define WR_METRICS_H

#include <stddef.h>

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics;

/* Returns a new, empty registry, or NULL with errno = ENOMEM. Free with metrics_free. */
struct metrics *metrics_new(void);

/* Frees `m` and all its series. metrics_free(NULL) does nothing. */
void metrics_free(struct metrics *m);

/* Declares a family. `name` and `help` are kept (copied). Histograms use the fixed latency
 * buckets 1 ms .. 10 s. Returns 0, -EEXIST if declared already, or -ENOMEM. */
int metrics_declare(struct metrics *m, const char *name, enum metrics_type type, const char *help);

/* Declares a histogram family with its own bucket upper bounds (strictly ascending; +Inf is
 * implied). `bounds` is borrowed and must outlive `m` (use a static array). Returns 0, -EINVAL
 * for no bounds or bounds out of order, -EEXIST or -ENOMEM. */
int metrics_declare_histogram(struct metrics *m, const char *name, const char *help,
                              const double *bounds, size_t n_bounds);

/* Adds `delta` (>= 0) to the counter series name{labels}. `labels` is the inside of the
 * braces, already escaped, e.g. `route="/healthz",code="200"`, or "" for none (kept).
 * Returns 0, -ENOENT for an undeclared family or one of another type, or -ENOMEM. */
int metrics_counter_add(struct metrics *m, const char *name, const char *labels, double delta);

/* Sets the gauge series name{labels}. Errors as metrics_counter_add. */
int metrics_gauge_set(struct metrics *m, const char *name, const char *labels, double value);

/* Records one observation in the histogram series name{labels}. Errors as above. */
int metrics_observe(struct metrics *m, const char *name, const char *labels, double value);

/* Renders every family, in declaration order, as Prometheus text. Returns a string the caller
 * frees, or NULL with errno = ENOMEM. */
char *metrics_render(const struct metrics *m);

#endif
