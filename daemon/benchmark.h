/* The published figures of one organisation for one period: the benchmark indicators (its own
 * and the peer median of the other organisations) and the effect measurement (per theme and
 * service mode, with a baseline-adjusted comparison of modes). Every figure goes through
 * analyzers/disclosure before it is put in the JSON, so what this returns may leave the
 * daemon. Definitions in docs/benchmark.md and docs/effects.md. Pure: data in, JSON out. */
#ifndef WR_BENCHMARK_H
#define WR_BENCHMARK_H

#include <stdint.h>

#include <jansson.h>

#include "report_data.h"

/* The benchmark of `org` (borrowed) in `d`: {"period", "organisation", "indicators": [...],
 * "notes"}. `seed` is the publication's secret rounding seed. NULL when out of memory. */
json_t *benchmark_build(const struct report_data *d, const char *org, uint64_t seed);

/* The effect measurement of `org`: {"period", "organisation", "instrument", "effects": [...],
 * "comparisons": [...], "notes"}. NULL when out of memory. */
json_t *effects_build(const struct report_data *d, const char *org, uint64_t seed);

#endif
