/* Token administration (see cli_token.h). Blocking libpq: a one-shot command. */
#include "cli_token.h"

#include "auth.h"
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $1 name, $2 role, $3 organisation, $4 source or NULL, $5 hash hex, $6 days valid or NULL */
static const char sql_create[] =
    "INSERT INTO api_token (name, role, organisation, source, token_hash, expires_at)"
    " VALUES ($1, $2, $3, $4, decode($5, 'hex'),"
    " now() + make_interval(days => $6::int)) RETURNING id";

/* $1 organisation or NULL ($2 unused) */
static const char sql_list[] =
    "SELECT id, role, organisation, coalesce(source, '-'), to_char(created_at, 'YYYY-MM-DD'),"
    " coalesce(to_char(expires_at, 'YYYY-MM-DD'), '-'),"
    " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
    " WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' ELSE 'active' END,"
    " name FROM api_token WHERE ($1::text IS NULL OR organisation = $1) AND $2::text IS NULL"
    " ORDER BY id";

/* $1 id */
static const char sql_revoke[] =
    "UPDATE api_token SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1::bigint"
    " RETURNING id";

static int usage(void)
{
	fputs("usage: wijkradar token create --role ROLE --organisation ORG [--source SOURCE]\n"
	      "                              [--name NAME] [--expires-days N]\n"
	      "       wijkradar token list [--organisation ORG]\n"
	      "       wijkradar token revoke ID\n"
	      "ROLE is source, teamlead, analyst or admin.\n",
	      stderr);
	return 2;
}

/* Runs one statement; prints the server's message on failure. NULL on failure. */
static PGresult *run(PGconn *conn, const char *sql, int n, const char *const *params,
                     const char *what)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
	fprintf(stderr, "error: %s: %.*s\n", what, (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return NULL;
}

static int create(int argc, char **argv, const struct config *c)
{
	static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
	                                     {"organisation", required_argument, NULL, 'o'},
	                                     {"source", required_argument, NULL, 's'},
	                                     {"name", required_argument, NULL, 'n'},
	                                     {"expires-days", required_argument, NULL, 'e'},
	                                     {NULL, 0, NULL, 0}};
	const char *role = NULL, *org = NULL, *source = NULL, *name = NULL, *days = NULL;
	enum auth_role r;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "r:o:s:n:e:", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			role = optarg;
			break;
		case 'o':
			org = optarg;
			break;
		case 's':
			source = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'e':
			days = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || role == NULL || org == NULL)
		return usage();
	if (auth_role_parse(role, &r) < 0) {
		fprintf(stderr, "error: unrecognized role: \"%s\"\n", role);
		return usage();
	}
	if (days != NULL && (atoi(days) < 1 || strspn(days, "0123456789") != strlen(days))) {
		fprintf(stderr, "error: invalid value for --expires-days: \"%s\"\n", days);
		return 2;
	}
	char token[AUTH_TOKEN_LEN + 1], hash[65];
	if (auth_token_generate(token) < 0 || auth_token_hash_hex(token, hash) < 0) {
		fputs("error: could not generate a token: no randomness\n", stderr);
		return 1;
	}
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	char default_name[160];
	snprintf(default_name, sizeof(default_name), "%s %s%s%s", role, org,
	         source != NULL ? " " : "", source != NULL ? source : "");
	const char *params[] = {name != NULL ? name : default_name, role, org, source, hash, days};
	PGresult *res = run(conn, sql_create, 6, params, "could not create token");
	int rc = 1;
	if (res != NULL) {
		fprintf(stderr,
		        "created token %s (role %s, organisation %s%s%s); it is shown only "
		        "once:\n",
		        PQgetvalue(res, 0, 0), role, org, source != NULL ? ", source " : "",
		        source != NULL ? source : "");
		printf("%s\n", token);
		rc = 0;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static const struct cli_listing listing = {
    .options = {"organisation", NULL},
    .sql = sql_list,
    .header = "id     role      organisation      source            created     expires     "
              "state    name",
    .widths = {5, 8, 16, 16, 10, 10, 7, 0},
    .n_columns = 8,
};

static int revoke(int argc, char **argv, const struct config *c)
{
	if (argc != 2 || strspn(argv[1], "0123456789") != strlen(argv[1]) || argv[1][0] == '\0')
		return usage();
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	const char *params[] = {argv[1]};
	PGresult *res = run(conn, sql_revoke, 1, params, "could not revoke token");
	int rc = 1;
	if (res != NULL && PQntuples(res) == 1) {
		printf("revoked token %s\n", argv[1]);
		rc = 0;
	} else if (res != NULL) {
		fprintf(stderr, "error: no token with id %s\n", argv[1]);
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* `list` through the shared listing helper. */
static int list(int argc, char **argv, const struct config *c)
{
	return cli_list(argc, argv, c, &listing, usage);
}

int cli_token(int argc, char **argv, const struct config *c)
{
	static const struct cli_subcommand cmds[] = {
	    {"create", create}, {"list", list}, {"revoke", revoke}, {NULL, NULL}};
	return cli_dispatch(argc, argv, c, cmds, usage);
}
