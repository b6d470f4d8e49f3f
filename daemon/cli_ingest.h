/* `wijkradar ingest FILE`: the scheduled upload of a team system's export (CSV, or a protobuf
 * SignalBatch file) to a running daemon, in batches, with retries and resumable progress.
 * Re-running is always harmless: the daemon stores each (source, signal id) once. */
#ifndef WR_CLI_INGEST_H
#define WR_CLI_INGEST_H

#include "config.h"

/* Runs `ingest [options] FILE` with argv[0] = "ingest". The token comes from the environment
 * variable WIJKRADAR_TOKEN. `c` (borrowed) gives the default URL (http.listen). Returns the
 * process exit code: 0 when every signal was stored or was already there, 1 when something
 * was rejected or could not be sent (printed), 2 for a usage error. */
int cli_ingest(int argc, char **argv, const struct config *c);

#endif
