/* `wijkradar deliveries list|retry`: the alert outbox for operators: what is pending, what was
 * delivered, what is dead and why, and sending dead ones again. */
#ifndef WR_CLI_DELIVERIES_H
#define WR_CLI_DELIVERIES_H

#include "config.h"

/* Runs `deliveries SUBCOMMAND ...` with argv[0] = "deliveries". `c` is borrowed. Returns the
 * exit code: 0 success, 1 failure (printed), 2 usage error. */
int cli_deliveries(int argc, char **argv, const struct config *c);

#endif
