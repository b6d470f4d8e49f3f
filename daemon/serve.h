/* `wijkradar serve`: the daemon. Applies migrations before the loop, starts the database pool
 * and the HTTP API, reloads configuration on SIGHUP, drains and exits on SIGTERM/SIGINT. */
#ifndef WR_SERVE_H
#define WR_SERVE_H

#include "config.h"

/* Runs the daemon until SIGTERM/SIGINT. Takes over `config` (freed before returning).
 * `config_path` (for reloads) and `port_file` (NULL: none) are borrowed. Returns the process
 * exit code: 0 after a clean shutdown, 1 when start-up failed (printed). */
int serve_run(struct config *config, const char *config_path, const char *port_file);

#endif
