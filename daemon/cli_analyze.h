/* `wijkradar analyze [--week YYYY-Www]`: one detection run on demand, printing what it raised.
 * The same run the daemon schedules weekly (daemon/analysis.c). */
#ifndef WR_CLI_ANALYZE_H
#define WR_CLI_ANALYZE_H

#include "config.h"

/* Runs `analyze [--week YYYY-Www]` with argv[0] = "analyze". Without --week, the last complete
 * ISO week. `c` is borrowed. Returns the exit code: 0 success, 1 failure (printed), 2 usage. */
int cli_analyze(int argc, char **argv, const struct config *c);

#endif
