/* `wijkradar serve`: the daemon. Applies migrations before the loop, starts the database pool
 * and the HTTP API, reloads configuration on SIGHUP, drains and exits on SIGTERM/SIGINT. */
#ifndef WR_SERVE_H
#define WR_SERVE_H

#include "config.h"
#include "err.h"
#include "pseudonym.h"

/* Loads the pseudonym key that `serve` needs (WIJKRADAR_PSEUDONYM_KEY, else
 * privacy.pseudonym_key_file). Returns 0 and the key, or a negative errno with `e` filled. */
int serve_load_pseudonym_key(const struct config *c, struct pseudonym_key **out, struct err *e)
    __attribute__((warn_unused_result));

/* Runs the daemon until SIGTERM/SIGINT. Takes over `config` (freed before returning).
 * `config_path` (for reloads) and `port_file` (NULL: none) are borrowed. Returns the process
 * exit code: 0 after a clean shutdown, 1 when start-up failed (printed). */
int serve_run(struct config *config, const char *config_path, const char *port_file);

#endif
