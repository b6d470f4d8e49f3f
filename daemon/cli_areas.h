/* `wijkradar areas import|list`: loads the area registry from a CSV file in one transaction
 * (all rows or none) and lists it. */
#ifndef WR_CLI_AREAS_H
#define WR_CLI_AREAS_H

#include "config.h"

/* Runs `areas SUBCOMMAND ...` with argv[0] = "areas". `c` is borrowed. Returns the process
 * exit code: 0 success, 1 failure (printed), 2 usage error. */
int cli_areas(int argc, char **argv, const struct config *c);

#endif
