/* Helpers for one-shot subcommands (see cli.h). Blocking libpq is fine here: there is no
 * event loop to stall. */
#include "cli.h"

#include "db.h"
#include "log.h"
#include "migrate.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_print_err(const struct err *e)
{
	fprintf(stderr, "error: %s\n", e->msg);
	if (e->detail[0] != '\0')
		fprintf(stderr, "DETAIL: %s\n", e->detail);
}

struct config *cli_load_config(const char *path)
{
	struct config *c = NULL;
	struct err e;
	enum log_level level;
	err_clear(&e);
	int r = config_load(path, &c, &e);
	if (r < 0) {
		if (r == -ENOMEM)
			err_set(&e, 0, "internal", "out of memory loading the configuration");
		cli_print_err(&e);
		return NULL;
	}
	if (log_level_parse(c->log_level, &level) == 0)
		log_set_level(level);
	return c;
}

PGconn *cli_connect(const struct config *c)
{
	char timeout[16];
	snprintf(timeout, sizeof(timeout), "%d", c->db_connect_timeout_s);
	/* expand_dbname: the first "dbname" value is a full conninfo string or URI. */
	const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *const values[] = {c->db_conninfo, timeout, "wijkradar", NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		const char *msg = conn != NULL ? PQerrorMessage(conn) : "out of memory";
		fprintf(stderr, "error: could not connect to database: %.*s\n",
		        (int)strcspn(msg, "\n"), msg);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, db_notice_to_log, NULL);
	return conn;
}

int cli_require_schema(PGconn *conn)
{
	PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	int have = 0;
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		have = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (have == migrate_latest_version())
		return 0;
	fprintf(stderr,
	        "error: database schema version %d does not match this binary's (%d)\n"
	        "HINT: Run \"wijkradar migrate\".\n",
	        have, migrate_latest_version());
	return -EPROTO;
}

PGconn *cli_open(const struct config *c)
{
	PGconn *conn = cli_connect(c);
	if (conn != NULL && cli_require_schema(conn) < 0) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

int cli_migrate(const struct config *c)
{
	struct err e;
	int applied = 0, version = 0;
	PGconn *conn = cli_connect(c);
	if (conn == NULL)
		return -EIO;
	err_clear(&e);
	int r = migrate_apply(conn, &applied, &version, &e);
	PQfinish(conn);
	if (r < 0) {
		cli_print_err(&e);
		return r;
	}
	printf("schema version %d (applied %d migrations)\n", version, applied);
	return 0;
}

int cli_list(int argc, char **argv, const struct config *c, const struct cli_listing *l,
             int (*usage)(void))
{
	struct option opts[3] = {{NULL, 0, NULL, 0}};
	const char *params[2] = {NULL, NULL};
	for (int i = 0; i < 2 && l->options[i] != NULL; i++)
		opts[i] = (struct option){l->options[i], required_argument, NULL, '0' + i};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != '0' && opt != '1')
			return usage();
		params[opt - '0'] = optarg;
	}
	if (optind != argc)
		return usage();
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	PGresult *res = PQexecParams(conn, l->sql, 2, NULL, params, NULL, NULL, 0);
	int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : 1;
	if (rc != 0) {
		const char *msg = PQresultErrorMessage(res);
		fprintf(stderr, "error: could not list: %.*s\n", (int)strcspn(msg, "\n"), msg);
	} else {
		if (l->header != NULL)
			printf("%s\n", l->header);
		for (int i = 0; i < PQntuples(res); i++) {
			for (int k = 0; k < l->n_columns; k++) {
				int w = l->widths[k];
				printf(w >= 0 ? "%-*s" : "%*s", w >= 0 ? w : -w,
				       PQgetvalue(res, i, k));
				fputs(k + 1 < l->n_columns ? "  " : "\n", stdout);
			}
		}
		if (l->count_noun != NULL)
			printf("(%d %s)\n", PQntuples(res), l->count_noun);
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int cli_dispatch(int argc, char **argv, const struct config *c, const struct cli_subcommand *cmds,
                 int (*usage)(void))
{
	if (argc < 2)
		return usage();
	for (const struct cli_subcommand *k = cmds; k->name != NULL; k++) {
		if (strcmp(argv[1], k->name) == 0)
			return k->run(argc - 1, argv + 1, c);
	}
	fprintf(stderr, "error: unrecognized %s command: \"%s\"\n", argv[0], argv[1]);
	return usage();
}
