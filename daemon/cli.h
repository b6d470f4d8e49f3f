/* Shared pieces of the one-shot subcommands (migrate, areas, ...): loading the configuration,
 * a blocking database connection, printing person-readable errors. Never used by `serve`
 * once its event loop runs. */
#ifndef WR_CLI_H
#define WR_CLI_H

#include <libpq-fe.h>

#include "config.h"
#include "err.h"

/* Prints "error: MESSAGE" and, when present, "DETAIL: ..." to stderr. */
void cli_print_err(const struct err *e);

/* Loads the configuration from `path` (NULL: defaults and environment) and sets the log level.
 * Returns the config (caller frees) or NULL after printing why. */
struct config *cli_load_config(const char *path);

/* Connects (blocking, with the configured timeout). Returns the connection (PQfinish it) or
 * NULL after printing "could not connect to database: ...". */
PGconn *cli_connect(const struct config *c);

/* Checks that the database has exactly the schema this binary needs. Returns 0, or -EPROTO
 * after printing the versions and the hint to run `wijkradar migrate`. */
int cli_require_schema(PGconn *conn);

/* Connects and checks the schema (cli_connect + cli_require_schema): the start of every
 * command that reads or writes the registry. Returns the connection or NULL after printing
 * why. */
PGconn *cli_open(const struct config *c);

/* A listing command: up to two filter options whose values become $1 and $2 of `sql` (NULL
 * when not given), and the rows printed in columns. */
struct cli_listing {
	const char *options[2]; /* long option names, or NULL */
	const char *sql;        /* static text with $1 and $2 */
	const char *header;     /* first line, or NULL */
	int widths[10];         /* per column: > 0 left-aligned, < 0 right-aligned, 0 as is */
	int n_columns;
	const char *count_noun; /* prints "(N areas)" after the rows, or NULL */
};

/* Runs a listing with argv[0] = the subcommand ("list"). Returns the exit code: 0, 1 (printed),
 * or `usage()` for a bad option. `c` and `l` are borrowed. */
int cli_list(int argc, char **argv, const struct config *c, const struct cli_listing *l,
             int (*usage)(void));

/* One subcommand of a command group ("areas import"). */
struct cli_subcommand {
	const char *name;
	int (*run)(int argc, char **argv, const struct config *c); /* argv[0] = name */
};

/* Runs the subcommand named by argv[1] of `group` (argv[0]), or prints why not and returns
 * usage(). A NULL-named entry ends `cmds`. Returns the subcommand's exit code. */
int cli_dispatch(int argc, char **argv, const struct config *c, const struct cli_subcommand *cmds,
                 int (*usage)(void));

/* Connects, applies pending migrations, prints "schema version N (applied K migrations)"
 * and disconnects. Returns 0 or a negative errno after printing why. */
int cli_migrate(const struct config *c);

#endif
