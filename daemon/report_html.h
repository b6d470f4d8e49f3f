/* The benchmark and effect report of one organisation as one self-contained HTML page in Dutch:
 * tables with every published figure and its notes, and inline SVG charts (funnel plots of the
 * indicators against the peer median, the service-mode mix, effect sizes with their confidence
 * intervals). Rendered from the published JSON only, so the page shows nothing JSON does not.
 * No scripts, no external resources. Pure. */
#ifndef WR_REPORT_HTML_H
#define WR_REPORT_HTML_H

#include <jansson.h>

/* The page for `benchmark` (from benchmark_build) and `effects` (from effects_build; may be
 * NULL). Returns a new string, or NULL when out of memory. */
char *report_html(const json_t *benchmark, const json_t *effects);

#endif
