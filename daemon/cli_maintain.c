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
	printf("maintenance: %d partitions made", r.partitions_made);
	if (r.horizon[0] != '\0')
		printf("; retention to %s: %d partitions dropped, %lld signals, %lld person-weeks "
		       "and %lld idempotency keys removed, %d signals of open trajectories kept",
		       r.horizon, r.partitions_dropped, r.signals_removed, r.persons_removed,
		       r.keys_removed, r.signals_carried);
	else
		printf("; retention is off (retention.enabled)");
	printf("; %.0f ms\n", r.duration_ms);
	return 0;
}
