/* Metrics registry and Prometheus text rendering (see metrics.h).
 * Series are found by a linear scan: a daemon has tens of series, not thousands. */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

struct series {
	char *labels;
	double value;               /* counter or gauge; histogram: sum */
	unsigned long long count;   /* histogram: observations */
	unsigned long long *bucket; /* histogram: non-cumulative counts, one per bound */
};

struct family {
	char *name;
	char *help;
	enum metrics_type type;
	const double *bounds; /* histogram: upper bounds, ascending (borrowed) */
	size_t n_bounds;
	struct series *series;
	size_t n_series, cap_series;
};

struct metrics {
	struct family *families;
	size_t n_families, cap_families;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (m == NULL)
		errno = ENOMEM;
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_families; i++) {
		struct family *f = &m->families[i];
		for (size_t j = 0; j < f->n_series; j++) {
			free(f->series[j].labels);
			free(f->series[j].bucket);
		}
		free(f->series);
		free(f->name);
		free(f->help);
	}
	free(m->families);
	free(m);
}

/* Grows an array of `size`-byte elements so that one more fits. Returns 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap != 0 ? *cap * 2 : 8;
	void *p = realloc(*arr, ncap * size);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static struct family *find_family(const struct metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_families; i++) {
		if (strcmp(m->families[i].name, name) == 0)
			return &m->families[i];
	}
	return NULL;
}

/* Declares a family; `bounds` are used by histograms only. */
static int declare(struct metrics *m, const char *name, enum metrics_type type, const char *help,
                   const double *bounds, size_t n_bounds)
{
	if (find_family(m, name) != NULL)
		return -EEXIST;
	if (grow((void **)&m->families, &m->cap_families, m->n_families, sizeof(struct family)) < 0)
		return -ENOMEM;
	struct family f = {.name = strdup(name),
	                   .help = strdup(help),
	                   .type = type,
	                   .bounds = bounds,
	                   .n_bounds = n_bounds};
	if (f.name == NULL || f.help == NULL) {
		free(f.name);
		free(f.help);
		return -ENOMEM;
	}
	m->families[m->n_families++] = f;
	return 0;
}

int metrics_declare(struct metrics *m, const char *name, enum metrics_type type, const char *help)
{
	return declare(m, name, type, help, latency_buckets,
	               sizeof(latency_buckets) / sizeof(latency_buckets[0]));
}

int metrics_declare_histogram(struct metrics *m, const char *name, const char *help,
                              const double *bounds, size_t n_bounds)
{
	if (n_bounds == 0)
		return -EINVAL;
	for (size_t i = 1; i < n_bounds; i++) {
		if (!(bounds[i - 1] < bounds[i]))
			return -EINVAL;
	}
	return declare(m, name, METRICS_HISTOGRAM, help, bounds, n_bounds);
}

/* Finds or creates the series name{labels} of a family of `type`; NULL with *r set. */
static struct series *get_series(struct metrics *m, const char *name, enum metrics_type type,
                                 const char *labels, int *r)
{
	struct family *f = find_family(m, name);
	if (f == NULL || f->type != type) {
		*r = -ENOENT;
		return NULL;
	}
	for (size_t i = 0; i < f->n_series; i++) {
		if (strcmp(f->series[i].labels, labels) == 0)
			return &f->series[i];
	}
	if (grow((void **)&f->series, &f->cap_series, f->n_series, sizeof(struct series)) < 0) {
		*r = -ENOMEM;
		return NULL;
	}
	struct series *s = &f->series[f->n_series];
	memset(s, 0, sizeof(*s));
	s->labels = strdup(labels);
	if (type == METRICS_HISTOGRAM)
		s->bucket = calloc(f->n_bounds, sizeof(*s->bucket));
	if (s->labels == NULL || (type == METRICS_HISTOGRAM && s->bucket == NULL)) {
		free(s->labels);
		free(s->bucket);
		*r = -ENOMEM;
		return NULL;
	}
	f->n_series++;
	return s;
}

int metrics_counter_add(struct metrics *m, const char *name, const char *labels, double delta)
{
	int r = 0;
	struct series *s = get_series(m, name, METRICS_COUNTER, labels, &r);
	if (s == NULL)
		return r;
	if (delta > 0)
		s->value += delta;
	return 0;
}

int metrics_gauge_set(struct metrics *m, const char *name, const char *labels, double value)
{
	int r = 0;
	struct series *s = get_series(m, name, METRICS_GAUGE, labels, &r);
	if (s == NULL)
		return r;
	s->value = value;
	return 0;
}

int metrics_observe(struct metrics *m, const char *name, const char *labels, double value)
{
	int r = 0;
	struct series *s = get_series(m, name, METRICS_HISTOGRAM, labels, &r);
	if (s == NULL)
		return r;
	const struct family *f = find_family(m, name);
	s->value += value;
	s->count++;
	for (size_t i = 0; i < f->n_bounds; i++) {
		if (value <= f->bounds[i]) {
			s->bucket[i]++;
			break;
		}
	}
	return 0;
}

/* A growing string buffer for rendering. */
struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf != NULL ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = (t->cap != 0 ? t->cap * 2 : 4096) + (size_t)n;
		char *p = realloc(t->buf, ncap);
		if (p == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = p;
		t->cap = ncap;
	}
}

static const char *type_name(enum metrics_type type)
{
	switch (type) {
	case METRICS_COUNTER:
		return "counter";
	case METRICS_GAUGE:
		return "gauge";
	case METRICS_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/* "{labels}" or "" when there are none. */
static void render_name(struct text *t, const char *name, const char *suffix, const char *labels,
                        const char *extra)
{
	int has = labels[0] != '\0';
	int has_extra = extra != NULL && extra[0] != '\0';
	text_printf(t, "%s%s", name, suffix);
	if (has || has_extra)
		text_printf(t, "{%s%s%s}", labels, has && has_extra ? "," : "",
		            has_extra ? extra : "");
}

char *metrics_render(const struct metrics *m)
{
	struct text t = {0};
	text_printf(&t, "%s", "");
	for (size_t i = 0; i < m->n_families; i++) {
		const struct family *f = &m->families[i];
		text_printf(&t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		            type_name(f->type));
		for (size_t j = 0; j < f->n_series; j++) {
			const struct series *s = &f->series[j];
			if (f->type != METRICS_HISTOGRAM) {
				render_name(&t, f->name, "", s->labels, NULL);
				text_printf(&t, " %.10g\n", s->value);
				continue;
			}
			unsigned long long cum = 0;
			for (size_t b = 0; b < f->n_bounds; b++) {
				char le[32];
				cum += s->bucket[b];
				snprintf(le, sizeof(le), "le=\"%g\"", f->bounds[b]);
				render_name(&t, f->name, "_bucket", s->labels, le);
				text_printf(&t, " %llu\n", cum);
			}
			render_name(&t, f->name, "_bucket", s->labels, "le=\"+Inf\"");
			text_printf(&t, " %llu\n", s->count);
			render_name(&t, f->name, "_sum", s->labels, NULL);
			text_printf(&t, " %.10g\n", s->value);
			render_name(&t, f->name, "_count", s->labels, NULL);
			text_printf(&t, " %llu\n", s->count);
		}
	}
	if (t.failed) {
		free(t.buf);
		errno = ENOMEM;
		return NULL;
	}
	return t.buf;
}
