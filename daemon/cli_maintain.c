/* The maintain command (see cli_maintain.h). */
#include "cli_maintain.h"

#include "cli.h"
#include "maintenance.h"

#include <stdio.h>
#include <time.h>

int cli_maintain(int argc, char **argv, const struct config *c)
{
	if (argc != 1) {
		fprintf(stderr, "usage: wijkradar maintain\n");
		return 2;
	}
	struct maintenance_options o;
	struct maintenance_summary r;
	struct err e;
	err_clear(&e);
	maintenance_options_from_config(c, time(NULL), &o);
	o.force = true;
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	int rc = maintenance_run(conn, &o, &r, &e);
	PQfinish(conn);
	if (rc < 0) {
		cli_print_err(&e);
		return 1;
	}
	if (r.busy) {
		fprintf(stderr,
		        "error: another process is running the maintenance; try again later\n");
		return 1;
	}
	char line[512];
	maintenance_describe(&r, line, sizeof(line));
	printf("maintenance: %s\n", line);
	return 0;
}
