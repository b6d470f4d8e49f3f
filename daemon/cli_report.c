/* The report command (see cli_report.h). The figures are loaded once and rendered per
 * organisation; the seed comes from the pseudonym key, as in the daemon. */
#include "cli_report.h"

#include "cli.h"
#include "pseudonym.h"
#include "report.h"
#include "serve.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fputs("usage: wijkradar report benchmark|effects --period YYYY-Qn|YYYY\n"
	      "           [--organisation ORG] [--format json|csv|html] [--instrument CODE]\n"
	      "           [--out FILE]\n"
	      "Without --organisation, one report per organisation of the period, written to\n"
	      "FILE with \"-ORG\" before its extension (--out is then required).\n",
	      stderr);
	return 2;
}

/* FILE.ext -> FILE-ORG.ext */
static void per_org_path(const char *out, const char *org, char *buf, size_t size)
{
	const char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
	if (dot == NULL || (slash != NULL && dot < slash))
		snprintf(buf, size, "%s-%s", out, org);
	else
		snprintf(buf, size, "%.*s-%s%s", (int)(dot - out), out, org, dot);
}

static int write_out(const char *path, const char *text)
{
	if (path == NULL) {
		fputs(text, stdout);
		return 0;
	}
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "error: could not write \"%s\": %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

int cli_report(int argc, char **argv, const struct config *c)
{
	static const struct option opts[] = {{"period", required_argument, NULL, 'p'},
	                                     {"organisation", required_argument, NULL, 'o'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"instrument", required_argument, NULL, 'i'},
	                                     {"out", required_argument, NULL, 'w'},
	                                     {NULL, 0, NULL, 0}};
	struct report_request rq = {.format = REPORT_JSON};
	const char *period = NULL, *org = NULL, *out = NULL, *instrument = c->report_instrument;
	int opt;
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "benchmark") == 0)
		rq.kind = REPORT_BENCHMARK;
	else if (strcmp(argv[1], "effects") == 0)
		rq.kind = REPORT_EFFECTS;
	else
		return usage();
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			period = optarg;
			break;
		case 'o':
			org = optarg;
			break;
		case 'f':
			if (report_format_parse(optarg, &rq.format) < 0)
				return usage();
			break;
		case 'i':
			instrument = optarg;
			break;
		case 'w':
			out = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || period == NULL || report_period_parse(period, &rq.period) < 0 ||
	    (org == NULL && out == NULL) || strlen(instrument) >= sizeof(rq.instrument) ||
	    (org != NULL && strlen(org) >= sizeof(rq.organisation)))
		return usage();
	/* The format follows the file name when not given. */
	if (out != NULL && rq.format == REPORT_JSON) {
		const char *dot = strrchr(out, '.');
		if (dot != NULL && strcmp(dot, ".html") == 0)
			rq.format = REPORT_HTML;
		else if (dot != NULL && strcmp(dot, ".csv") == 0)
			rq.format = REPORT_CSV;
	}
	snprintf(rq.instrument, sizeof(rq.instrument), "%s", instrument);
	struct err e;
	struct pseudonym_key *key = NULL;
	err_clear(&e);
	if (serve_load_pseudonym_key(c, &key, &e) < 0) {
		cli_print_err(&e);
		return 1;
	}
	char label[96];
	report_seed_label(&rq, label, sizeof(label));
	rq.seed = pseudonym_seed(key, label);
	pseudonym_key_free(key);
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	struct report_data d;
	int rc = 0;
	if (report_data_load(conn, &rq.period, rq.instrument, &d, &e) < 0) {
		cli_print_err(&e);
		rc = 1;
	}
	size_t n = org != NULL ? 1 : d.n_orgs;
	for (size_t k = 0; rc == 0 && k < n; k++) {
		char *text = NULL, path[4096];
		snprintf(rq.organisation, sizeof(rq.organisation), "%s",
		         org != NULL ? org : d.orgs[k].organisation);
		if (report_render(&d, &rq, &text, &e) < 0) {
			cli_print_err(&e);
			rc = 1;
			break;
		}
		if (org == NULL)
			per_org_path(out, rq.organisation, path, sizeof(path));
		const char *dest = org == NULL ? path : out;
		if (write_out(dest, text) < 0)
			rc = 1;
		else if (dest != NULL)
			fprintf(stderr, "wrote %s (%s, %s)\n", dest, rq.organisation,
			        rq.period.label);
		free(text);
	}
	if (rc == 0 && n == 0)
		fprintf(stderr, "no organisation has signals in %s: nothing written\n",
		        rq.period.label);
	report_data_free(&d);
	PQfinish(conn);
	return rc;
}
