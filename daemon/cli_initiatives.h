/* `wijkradar initiatives import|list`: the registry of existing collective initiatives from a
 * CSV file (all rows or none) and a listing. */
#ifndef WR_CLI_INITIATIVES_H
#define WR_CLI_INITIATIVES_H

#include "config.h"

/* Runs `initiatives SUBCOMMAND ...` with argv[0] = "initiatives". `c` is borrowed. Returns the
 * exit code: 0 success, 1 failure (printed), 2 usage error. */
int cli_initiatives(int argc, char **argv, const struct config *c);

#endif
