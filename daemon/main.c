/* wijkradar: process entry. Parses the command line, loads the configuration and hands over
 * to the subcommand; only this file decides the exit code. */
#include "cli.h"
#include "cli_analyze.h"
#include "cli_areas.h"
#include "cli_deliveries.h"
#include "cli_ingest.h"
#include "cli_initiatives.h"
#include "cli_maintain.h"
#include "cli_report.h"
#include "cli_subscriptions.h"
#include "cli_token.h"
#include "config.h"
#include "migrate.h"
#include "serve.h"
#include "tls.h"

#include <getopt.h>
#include <gsl/gsl_errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: wijkradar [--config PATH] COMMAND [OPTIONS]\n"
    "\n"
    "Finds needs that recur in one neighbourhood from anonymised case signals of\n"
    "neighbourhood teams, and tells team leads when a collective answer may help.\n"
    "\n"
    "Commands:\n"
    "  serve [--port-file PATH]         run the daemon (HTTP API, scheduled jobs)\n"
    "  migrate                          apply pending database schema migrations\n"
    "  areas import [--year YYYY] FILE  load areas (gemeenten, wijken, buurten) from CSV\n"
    "  areas list [--year YYYY] [--municipality GMxxxx]\n"
    "                                   print the area registry\n"
    "  ingest [--url URL] [--batch-size N] [--source S --organisation O]\n"
    "         [--format csv|protobuf] [--state FILE] FILE\n"
    "                                   upload an export (token in $WIJKRADAR_TOKEN)\n"
    "  analyze [--week YYYY-Www]        run the weekly detection now (default: last week)\n"
    "  maintain                         run the daily maintenance now (partitions, retention)\n"
    "  initiatives import --organisation ORG FILE\n"
    "                                   load existing collective initiatives from CSV\n"
    "  initiatives list [--organisation ORG] [--area CODE]\n"
    "  token create --role ROLE --organisation ORG [--source SRC] [--name NAME]\n"
    "               [--expires-days N]  make a bearer token (printed once)\n"
    "  token list [--organisation ORG]  list tokens (never their values)\n"
    "  token revoke ID                  revoke a token at once\n"
    "  subscriptions add --organisation ORG (--webhook URL | --email ADDRESS)\n"
    "               [--areas A,B] [--themes T,U] [--events E,F] [--description TEXT]\n"
    "                                   send alerts to a webhook or e-mail address\n"
    "  subscriptions list [--organisation ORG] [--channel webhook|email]\n"
    "  subscriptions remove ID          stop a subscription, cancel its deliveries\n"
    "  deliveries list [--state S] [--organisation ORG]\n"
    "                                   the alert outbox (pending, delivered, dead)\n"
    "  deliveries retry ID...           send dead deliveries again\n"
    "  report benchmark|effects --period YYYY-Qn [--organisation ORG]\n"
    "         [--format json|csv|html] [--out FILE]\n"
    "                                   the published benchmark or effect report\n"
    "  check-config                     validate the configuration and the pseudonym key\n"
    "\n"
    "Options:\n"
    "  -c, --config PATH         configuration file (default: $WIJKRADAR_CONFIG, else\n"
    "                            built-in defaults); may also follow the command\n"
    "      --print-default-config  print every configuration key with its default\n"
    "  -V, --version             print version and schema version\n"
    "  -h, --help                print this help\n"
    "\n"
    "Environment: WIJKRADAR_DATABASE overrides database.conninfo; libpq's PG* variables\n"
    "apply. Exit status: 0 success, 1 failure, 2 usage error.\n";

static int usage_error(const char *what)
{
	fprintf(stderr, "error: %s\n\n%s", what, usage_text);
	return 2;
}

/* Removes "--config PATH", "-c PATH" and "--config=PATH" wherever they stand after the
 * command, so subcommands see only their own options. */
static void take_config_option(int *argc, char **argv, const char **config_path)
{
	int out = 0;
	for (int i = 0; i < *argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) &&
		    i + 1 < *argc) {
			*config_path = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--config=", 9) == 0) {
			*config_path = argv[i] + 9;
			continue;
		}
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
}

static int run_serve(int argc, char **argv, struct config *c, const char *config_path)
{
	static const struct option opts[] = {{"port-file", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	const char *port_file = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
		if (opt != 'p') {
			config_free(c);
			return usage_error("unrecognized option for \"serve\"");
		}
		port_file = optarg;
	}
	if (optind != argc) {
		config_free(c);
		return usage_error("\"serve\" takes no arguments");
	}
	return serve_run(c, config_path, port_file);
}

/* check-config: the file parses and validates, and the pseudonym key `serve` needs loads. */
static int check_config(const struct config *c, const char *config_path)
{
	struct pseudonym_key *key = NULL;
	struct err e;
	err_clear(&e);
	if (serve_load_pseudonym_key(c, &key, &e) < 0) {
		cli_print_err(&e);
		return 1;
	}
	pseudonym_key_free(key);
	/* The certificate and key as serve would load them (systemd's ExecStartPre). */
	if (c->http_tls_cert_file[0] != '\0') {
		SSL_CTX *tls = tls_server_ctx_new(c->http_tls_cert_file, c->http_tls_key_file, &e);
		if (tls == NULL) {
			cli_print_err(&e);
			return 1;
		}
		SSL_CTX_free(tls);
	}
	printf("configuration %s is valid\n", config_path != NULL ? config_path : "(defaults)");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"print-default-config", no_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = getenv("WIJKRADAR_CONFIG");
	int opt;
	/* GSL's default handler aborts the process; the analyzers check status codes instead. */
	gsl_set_error_handler_off();
	/* "+": stop at the command; its options are parsed by the command. */
	while ((opt = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("wijkradar %s (schema %d)\n", WR_VERSION, migrate_latest_version());
			return 0;
		case 'P':
			config_print_defaults(stdout);
			return 0;
		default:
			return usage_error("unrecognized option");
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	int cargc = argc - optind;
	char **cargv = argv + optind;
	take_config_option(&cargc, cargv, &config_path);
	const char *cmd = cargv[0];
	if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "migrate") != 0 && strcmp(cmd, "areas") != 0 &&
	    strcmp(cmd, "token") != 0 && strcmp(cmd, "ingest") != 0 &&
	    strcmp(cmd, "analyze") != 0 && strcmp(cmd, "maintain") != 0 &&
	    strcmp(cmd, "initiatives") != 0 && strcmp(cmd, "subscriptions") != 0 &&
	    strcmp(cmd, "deliveries") != 0 && strcmp(cmd, "report") != 0 &&
	    strcmp(cmd, "check-config") != 0) {
		fprintf(stderr, "error: unrecognized command: \"%s\"\n\n%s", cmd, usage_text);
		return 2;
	}
	struct config *c = cli_load_config(config_path);
	if (c == NULL)
		return 1;
	int rc;
	if (strcmp(cmd, "serve") == 0)
		return run_serve(cargc, cargv, c, config_path);
	if (strcmp(cmd, "migrate") == 0) {
		rc = cargc == 1 ? (cli_migrate(c) == 0 ? 0 : 1)
		                : usage_error("\"migrate\" takes no arguments");
	} else if (strcmp(cmd, "areas") == 0) {
		rc = cli_areas(cargc, cargv, c);
	} else if (strcmp(cmd, "token") == 0) {
		rc = cli_token(cargc, cargv, c);
	} else if (strcmp(cmd, "ingest") == 0) {
		rc = cli_ingest(cargc, cargv, c);
	} else if (strcmp(cmd, "analyze") == 0) {
		rc = cli_analyze(cargc, cargv, c);
	} else if (strcmp(cmd, "maintain") == 0) {
		rc = cli_maintain(cargc, cargv, c);
	} else if (strcmp(cmd, "initiatives") == 0) {
		rc = cli_initiatives(cargc, cargv, c);
	} else if (strcmp(cmd, "subscriptions") == 0) {
		rc = cli_subscriptions(cargc, cargv, c);
	} else if (strcmp(cmd, "deliveries") == 0) {
		rc = cli_deliveries(cargc, cargv, c);
	} else if (strcmp(cmd, "report") == 0) {
		rc = cli_report(cargc, cargv, c);
	} else {
		rc = check_config(c, config_path);
	}
	config_free(c);
	return rc;
}
