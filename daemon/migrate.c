/* Schema migrations (see migrate.h). The advisory lock is session-level, taken before the
 * bookkeeping table is even created, so concurrent starts serialise completely. */
#include "migrate.h"

#include "log.h"
#include "migrations.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Advisory lock key: the ASCII bytes of "wijkradr". */
static const char sql_lock[] = "SELECT pg_advisory_lock(8604525572781073522)";
static const char sql_unlock[] = "SELECT pg_advisory_unlock(8604525572781073522)";
static const char sql_bookkeeping[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                      " version integer PRIMARY KEY,"
                                      " name text NOT NULL,"
                                      " applied_at timestamptz NOT NULL DEFAULT now())";
static const char sql_current[] = "SELECT coalesce(max(version), 0) FROM schema_migrations";
/* $1 version, $2 name */
static const char sql_record[] = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

int migrate_latest_version(void)
{
	return migrations[n_migrations - 1].version;
}

/* Runs one statement; on failure fills e with `what` and the server's message. */
static int exec(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **out,
                const char *what, struct err *e)
{
	/* PQexec for parameterless text: a migration file holds several statements. */
	PGresult *res =
	    n == 0 ? PQexec(conn, sql) : PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
		err_set(e, 0, "migration_failed", "%s", what);
		err_detail(e, "%.*s", (int)strcspn(msg, "\n"), msg);
		PQclear(res);
		return -EIO;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return 0;
}

static int current_version(PGconn *conn, int *version, struct err *e)
{
	PGresult *res = NULL;
	int r = exec(conn, sql_current, 0, NULL, &res, "could not read schema version", e);
	if (r == 0) {
		*version = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	return r;
}

int migrate_apply(PGconn *conn, int *applied, int *version, struct err *e)
{
	int r;
	int cur = 0;
	*applied = 0;
	r = exec(conn, sql_lock, 0, NULL, NULL, "could not take the migration lock", e);
	if (r < 0)
		return r;
	r = exec(conn, sql_bookkeeping, 0, NULL, NULL, "could not create schema_migrations", e);
	if (r < 0)
		goto out;
	r = current_version(conn, &cur, e);
	if (r < 0)
		goto out;
	if (cur > migrate_latest_version()) {
		err_set(e, 0, "schema_too_new",
		        "database schema version %d is newer than this binary's (%d)", cur,
		        migrate_latest_version());
		err_detail(e, "Run a wijkradar release that knows schema version %d.", cur);
		r = -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < n_migrations; i++) {
		const struct migration *m = &migrations[i];
		char version_text[16], what[160];
		if (m->version <= cur)
			continue;
		snprintf(version_text, sizeof(version_text), "%d", m->version);
		snprintf(what, sizeof(what), "could not apply migration \"%s\"", m->name);
		const char *params[] = {version_text, m->name};
		r = exec(conn, "BEGIN", 0, NULL, NULL, what, e);
		if (r == 0)
			r = exec(conn, m->sql, 0, NULL, NULL, what, e);
		if (r == 0)
			r = exec(conn, sql_record, 2, params, NULL, what, e);
		if (r == 0)
			r = exec(conn, "COMMIT", 0, NULL, NULL, what, e);
		if (r < 0) {
			PQclear(PQexec(conn, "ROLLBACK"));
			goto out;
		}
		log_info("migrate", "applied migration %s", m->name);
		(*applied)++;
		cur = m->version;
	}
	*version = cur;
out:
	PQclear(PQexec(conn, sql_unlock));
	return r;
}
