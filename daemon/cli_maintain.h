/* `wijkradar maintain`: the daily maintenance (partitions, retention) on demand, printing what
 * it did. The same job the daemon runs once a day (daemon/maintenance.c). */
#ifndef WR_CLI_MAINTAIN_H
#define WR_CLI_MAINTAIN_H

#include "config.h"

/* Runs `maintain` with argv[0] = "maintain": now, even when today's run is done, with
 * retention as configured. `c` is borrowed. Returns the exit code: 0 success, 1 failure
 * (printed) or another session running it, 2 usage. */
int cli_maintain(int argc, char **argv, const struct config *c);

#endif
