/* `wijkradar subscriptions add|list|remove`: where an organisation's alerts go, managed from
 * the command line with the same validation as the API. The webhook secret is printed once. */
#ifndef WR_CLI_SUBSCRIPTIONS_H
#define WR_CLI_SUBSCRIPTIONS_H

#include "config.h"

/* Runs `subscriptions SUBCOMMAND ...` with argv[0] = "subscriptions". `c` is borrowed. Returns
 * the exit code: 0 success, 1 failure (printed), 2 usage error. */
int cli_subscriptions(int argc, char **argv, const struct config *c);

#endif
