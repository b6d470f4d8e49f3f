/* Delivery commands (see cli_deliveries.h); retrying uses the API's statement. */
#include "cli_deliveries.h"

#include "cli.h"
#include "subscription.h"

#include <stdio.h>
#include <string.h>

/* $1 state or NULL, $2 organisation or NULL: the newest 200. */
static const char sql_list[] =
    "SELECT d.id, d.state, d.attempts, d.type, d.alert_id, d.subscription_id, d.organisation,"
    " coalesce(to_char(d.next_attempt_at, 'YYYY-MM-DD HH24:MI:SS'), ''),"
    " coalesce(d.last_error, '') FROM delivery d"
    " WHERE ($1::text IS NULL OR d.state = $1) AND ($2::text IS NULL OR d.organisation = $2)"
    " ORDER BY d.id DESC LIMIT 200";

static int usage(void)
{
	fputs("usage: wijkradar deliveries list [--state pending|delivered|dead|cancelled]\n"
	      "           [--organisation ORG]\n"
	      "       wijkradar deliveries retry ID...\n",
	      stderr);
	return 2;
}

static const struct cli_listing listing = {
    .options = {"state", "organisation"},
    .sql = sql_list,
    .header = "id      state      tries  type                 alert  subscr  organisation      "
              "next attempt         last error",
    .widths = {-6, 9, -5, 19, -5, -6, 16, 19, 0},
    .n_columns = 9,
};

static int list(int argc, char **argv, const struct config *c)
{
	return cli_list(argc, argv, c, &listing, usage);
}

static int retry(int argc, char **argv, const struct config *c)
{
	if (argc < 2)
		return usage();
	for (int i = 1; i < argc; i++) {
		if (strspn(argv[i], "0123456789") != strlen(argv[i]) || strlen(argv[i]) > 18 ||
		    argv[i][0] == '\0')
			return usage();
	}
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		const char *params[] = {argv[i], NULL};
		PGresult *res =
		    PQexecParams(conn, subscription_sql_retry, 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			const char *msg = PQresultErrorMessage(res);
			fprintf(stderr, "error: delivery %s: %.*s\n", argv[i],
			        (int)strcspn(msg, "\n"), msg);
			rc = 1;
		} else if (PQntuples(res) == 0) {
			fprintf(stderr, "error: no delivery %s\n", argv[i]);
			rc = 1;
		} else if (PQgetisnull(res, 0, 0)) {
			fprintf(stderr, "error: delivery %s: %s\n", argv[i], PQgetvalue(res, 0, 1));
			rc = 1;
		} else {
			printf("delivery %s will be sent again\n", argv[i]);
		}
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

int cli_deliveries(int argc, char **argv, const struct config *c)
{
	static const struct cli_subcommand cmds[] = {
	    {"list", list}, {"retry", retry}, {NULL, NULL}};
	return cli_dispatch(argc, argv, c, cmds, usage);
}
