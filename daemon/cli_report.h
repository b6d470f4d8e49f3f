/* `wijkradar report benchmark|effects --period P [--organisation ORG] [--format F] [--out FILE]`:
 * the published reports from the command line, with the same disclosure control and rounding
 * seed as the API. Without --organisation, one file per organisation of the period. */
#ifndef WR_CLI_REPORT_H
#define WR_CLI_REPORT_H

#include "config.h"

/* Runs `report KIND ...` with argv[0] = "report". `c` is borrowed. Returns the exit code: 0
 * success, 1 failure (printed), 2 usage error. */
int cli_report(int argc, char **argv, const struct config *c);

#endif
