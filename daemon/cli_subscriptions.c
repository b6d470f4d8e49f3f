/* Subscription commands (see cli_subscriptions.h). The options become the JSON object the API
 * takes, so subscription_parse checks both the same way. */
#include "cli_subscriptions.h"

#include "cli.h"
#include "subscription.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* $1 organisation or NULL, $2 channel or NULL */
static const char sql_list[] =
    "SELECT id, organisation, channel, target, CASE WHEN areas = '{}' THEN 'all areas' ELSE"
    " array_to_string(areas, ',') END, CASE WHEN themes = '{}' THEN 'all themes' ELSE"
    " array_to_string(themes, ',') END, array_to_string(events, ',') FROM subscription"
    " WHERE active AND ($1::text IS NULL OR organisation = $1)"
    " AND ($2::text IS NULL OR channel = $2) ORDER BY organisation, id";

static int usage(void)
{
	fputs("usage: wijkradar subscriptions add --organisation ORG (--webhook URL | --email "
	      "ADDRESS)\n"
	      "           [--areas CODE,...] [--themes CODE,...] [--events EVENT,...]\n"
	      "           [--description TEXT]\n"
	      "       wijkradar subscriptions list [--organisation ORG] [--channel webhook|email]\n"
	      "       wijkradar subscriptions remove ID\n",
	      stderr);
	return 2;
}

/* Splits "a,b,c" into a JSON array of strings (empty items dropped). */
static json_t *split(const char *list)
{
	json_t *a = json_array();
	const char *p = list;
	while (a != NULL && *p != '\0') {
		size_t n = strcspn(p, ",");
		if (n > 0)
			json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	return a;
}

/* Runs a statement with text parameters; NULL after printing the error. */
static PGresult *exec(PGconn *conn, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	const char *msg = PQresultErrorMessage(res);
	fprintf(stderr, "error: %.*s\n", (int)strcspn(msg, "\n"), msg);
	PQclear(res);
	return NULL;
}

static int add(int argc, char **argv, const struct config *c)
{
	static const struct option opts[] = {{"organisation", required_argument, NULL, 'o'},
	                                     {"webhook", required_argument, NULL, 'w'},
	                                     {"email", required_argument, NULL, 'e'},
	                                     {"areas", required_argument, NULL, 'a'},
	                                     {"themes", required_argument, NULL, 't'},
	                                     {"events", required_argument, NULL, 'v'},
	                                     {"description", required_argument, NULL, 'd'},
	                                     {NULL, 0, NULL, 0}};
	const char *org = NULL;
	json_t *o = json_object();
	int opt, rc = 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			org = optarg;
			break;
		case 'w':
			json_object_set_new(o, "channel", json_string("webhook"));
			json_object_set_new(o, "url", json_string(optarg));
			break;
		case 'e':
			json_object_set_new(o, "channel", json_string("email"));
			json_object_set_new(o, "email", json_string(optarg));
			break;
		case 'a':
			json_object_set_new(o, "areas", split(optarg));
			break;
		case 't':
			json_object_set_new(o, "themes", split(optarg));
			break;
		case 'v':
			json_object_set_new(o, "events", split(optarg));
			break;
		case 'd':
			json_object_set_new(o, "description", json_string(optarg));
			break;
		default:
			json_decref(o);
			return usage();
		}
	}
	if (optind != argc || org == NULL || json_object_get(o, "channel") == NULL ||
	    (json_object_get(o, "url") != NULL && json_object_get(o, "email") != NULL)) {
		json_decref(o);
		return usage();
	}
	struct subscription_req req;
	struct err e;
	const struct subscription_rules rules = {c->delivery_allow_http, c->smtp_url[0] != '\0'};
	err_clear(&e);
	if (subscription_parse(o, &rules, &req, &e) < 0) {
		json_decref(o);
		cli_print_err(&e);
		return 1;
	}
	json_decref(o);
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	const char *params[] = {
	    org,       req.channel,   req.target, req.secret[0] != '\0' ? req.secret : NULL,
	    req.areas, req.themes,    req.events, req.has_description ? req.description : NULL,
	    NULL,      "command line"};
	PGresult *res = exec(conn, subscription_sql_insert, 10, params);
	if (res != NULL && PQgetisnull(res, 0, 0)) {
		fprintf(stderr, "error: %s\n", PQgetvalue(res, 0, 1));
	} else if (res != NULL) {
		json_t *s = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		printf("created subscription %lld (%s to %s, organisation %s)\n",
		       (long long)json_integer_value(json_object_get(s, "id")), req.channel,
		       req.target, org);
		if (req.secret[0] != '\0')
			printf("secret: %s\nThe secret is shown only this once: give it to the "
			       "receiver now to check the webhook-signature header with.\n",
			       req.secret);
		json_decref(s);
		rc = 0;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static const struct cli_listing listing = {
    .options = {"organisation", "channel"},
    .sql = sql_list,
    .widths = {-6, 16, 8, 40, 20, 20, 0},
    .n_columns = 7,
    .count_noun = "active subscriptions",
};

static int list(int argc, char **argv, const struct config *c)
{
	return cli_list(argc, argv, c, &listing, usage);
}

static int remove_one(int argc, char **argv, const struct config *c)
{
	if (argc != 2 || strspn(argv[1], "0123456789") != strlen(argv[1]) || strlen(argv[1]) > 18)
		return usage();
	PGconn *conn = cli_open(c);
	if (conn == NULL)
		return 1;
	const char *params[] = {argv[1], NULL};
	PGresult *res = exec(conn, subscription_sql_remove, 2, params);
	int rc = 1;
	if (res != NULL && PQntuples(res) == 0) {
		fprintf(stderr, "error: no active subscription %s\n", argv[1]);
	} else if (res != NULL) {
		json_t *s = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		printf("removed subscription %s; %lld pending or dead deliveries cancelled\n",
		       argv[1],
		       (long long)json_integer_value(json_object_get(s, "cancelled_deliveries")));
		json_decref(s);
		rc = 0;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int cli_subscriptions(int argc, char **argv, const struct config *c)
{
	static const struct cli_subcommand cmds[] = {
	    {"add", add}, {"list", list}, {"remove", remove_one}, {NULL, NULL}};
	return cli_dispatch(argc, argv, c, cmds, usage);
}
