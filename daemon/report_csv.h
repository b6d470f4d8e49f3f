/* The benchmark and effect reports as CSV (one header line, one line per indicator or per
 * theme and mode), written from their published JSON, so CSV shows exactly what JSON does. */
#ifndef WR_REPORT_CSV_H
#define WR_REPORT_CSV_H

#include <jansson.h>

/* The CSV of a report made by benchmark_build or effects_build. Returns a new string, or NULL
 * when out of memory or `report` is neither. */
char *report_csv(const json_t *report);

#endif
