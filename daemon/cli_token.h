/* `wijkradar token create|list|revoke`: bearer tokens with a role, scoped to an organisation.
 * A new token is printed once; only its SHA-256 is stored. */
#ifndef WR_CLI_TOKEN_H
#define WR_CLI_TOKEN_H

#include "config.h"

/* Runs `token SUBCOMMAND ...` with argv[0] = "token". `c` is borrowed. Returns the process
 * exit code: 0 success, 1 failure (printed), 2 usage error. */
int cli_token(int argc, char **argv, const struct config *c);

#endif
