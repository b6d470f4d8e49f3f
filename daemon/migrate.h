/* Applies the SQL migrations embedded from sql/ (numbered, one transaction each), recorded in
 * table schema_migrations, under a PostgreSQL advisory lock so that several processes starting
 * at once apply each migration exactly once. Blocking: runs before the event loop starts, or
 * from the `migrate` command. */
#ifndef WR_MIGRATE_H
#define WR_MIGRATE_H

#include <libpq-fe.h>

#include "err.h"

/* The schema version this binary needs: the number of the newest embedded migration. */
int migrate_latest_version(void);

/* Applies every pending migration on `conn` (borrowed, connected, not in a transaction).
 * On success returns 0 and sets *applied to the number applied and *version to the schema
 * version now in place. Fails with -EIO (database error; `e` says which migration and why)
 * or -EPROTO when the database is newer than this binary. */
int migrate_apply(PGconn *conn, int *applied, int *version, struct err *e)
    __attribute__((warn_unused_result));

#endif
