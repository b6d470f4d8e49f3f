/* Shared /v1 endpoint helpers (see api.h). */
#include "api.h"

#include "log.h"
#include "params.h"
#include "ratelimit.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct authing {
	struct daemon *d;
	struct http_req *hr;
	unsigned roles;
	api_authed_fn *fn;
	void *arg;
};

void api_reply_db_error(struct http_req *hr, int status, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (status == -EPROTO && state != NULL &&
	    (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		http_reply_error(hr, 400, "bad_request", msg != NULL ? msg : "invalid value", NULL,
		                 NULL);
		return;
	}
	if (status == -ENOMEM) {
		http_reply_error(hr, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	if (status == -EPROTO) {
		log_error("api", "request %s: query failed with SQLSTATE %s", http_req_id(hr),
		          state != NULL ? state : "?");
		http_reply_error(hr, 500, "internal", "the request could not be completed",
		                 "The error is in the daemon's log.", NULL);
		return;
	}
	http_req_add_header(hr, "Retry-After", "5");
	http_reply_error(hr, 503, "database_unavailable", "the database is not available", NULL,
	                 NULL);
}

static const char metric_limited[] = "wijkradar_http_rate_limited_total";

int api_declare_metrics(struct metrics *m)
{
	if (metrics_declare(m, metric_limited, METRICS_COUNTER,
	                    "Requests refused with 429 because their token was over "
	                    "auth.rate_limit_per_s, by the token's role") < 0)
		return -ENOMEM;
	for (int role = AUTH_SOURCE; role <= AUTH_ADMIN; role++) {
		char labels[48];
		snprintf(labels, sizeof(labels), "role=\"%s\"", auth_role_name(role));
		if (metrics_counter_add(m, metric_limited, labels, 0) < 0)
			return -ENOMEM;
	}
	return 0;
}

int api_rate_limit(struct daemon *d, struct http_req *hr, const struct auth_principal *p, char *msg,
                   size_t size)
{
	const struct config *c = d->config;
	if (c->auth_rate_per_s <= 0)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double wait = ratelimit_take(d->ratelimit, p->token_id, c->auth_rate_per_s,
	                             c->auth_rate_burst, (double)now.tv_sec + now.tv_nsec / 1e9);
	if (wait <= 0)
		return 0;
	int secs = (int)ceil(wait);
	char retry[24], labels[48];
	snprintf(retry, sizeof(retry), "%d", secs);
	snprintf(labels, sizeof(labels), "role=\"%s\"", auth_role_name(p->role));
	metrics_counter_add(d->metrics, metric_limited, labels, 1);
	snprintf(msg, size, "too many requests with this token: at most %d per second, %d at once",
	         c->auth_rate_per_s, c->auth_rate_burst);
	http_req_add_header(hr, "Retry-After", retry);
	return secs;
}

static void on_auth(void *arg, int status, const struct auth_principal *p)
{
	struct authing *a = arg;
	char msg[160];
	if (status == -EACCES) {
		http_req_add_header(a->hr, "WWW-Authenticate", "Bearer realm=\"wijkradar\"");
		http_reply_error(a->hr, 401, "unauthorized",
		                 "missing, unknown, expired or revoked bearer token", NULL, NULL);
	} else if (status != 0) {
		api_reply_db_error(a->hr, status, NULL);
	} else if (api_rate_limit(a->d, a->hr, p, msg, sizeof(msg)) > 0) {
		http_reply_error(a->hr, 429, "rate_limited", msg, NULL, API_RATE_LIMIT_HINT);
	} else if (!(a->roles & (1u << p->role))) {
		snprintf(msg, sizeof(msg), "a token with role \"%s\" cannot do this",
		         auth_role_name(p->role));
		http_reply_error(a->hr, 403, "forbidden", msg, NULL, NULL);
	} else {
		a->fn(a->d, a->hr, p, a->arg);
	}
	free(a);
}

void api_authenticate(struct daemon *d, struct http_req *hr, unsigned roles, api_authed_fn *fn,
                      void *arg)
{
	struct authing *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		http_reply_error(hr, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	*a = (struct authing){d, hr, roles, fn, arg};
	int r = auth_check(d->db, http_req_header(hr, "Authorization"), on_auth, a);
	if (r < 0) {
		free(a);
		api_reply_db_error(hr, r, NULL);
	}
}

struct json_query {
	struct http_req *hr;
	int ok;
	int missing;
	const char *why;
	int refused;
};

static void on_json_result(void *arg, int status, const PGresult *res)
{
	struct json_query *q = arg;
	if (status != 0)
		api_reply_db_error(q->hr, status, res);
	else if (q->refused != 0 && PQntuples(res) >= 1 && PQnfields(res) >= 2 &&
	         PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1))
		http_reply_error(q->hr, q->refused, q->refused == 409 ? "conflict" : "invalid",
		                 PQgetvalue(res, 0, 1), NULL, NULL);
	else if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
		http_reply_error(q->hr, q->missing, q->missing == 404 ? "not_found" : "invalid",
		                 q->why, NULL, NULL);
	else
		http_reply_text(q->hr, q->ok, "application/json", PQgetvalue(res, 0, 0),
		                (size_t)PQgetlength(res, 0, 0));
	free(q);
}

void api_json_query(struct daemon *d, struct http_req *hr, const char *sql, int n_params,
                    const char *const *params, int ok, int missing, const char *why)
{
	api_json_query_or_refuse(d, hr, sql, n_params, params, ok, missing, why, 0);
}

void api_json_query_or_refuse(struct daemon *d, struct http_req *hr, const char *sql, int n_params,
                              const char *const *params, int ok, int missing, const char *why,
                              int refused)
{
	struct json_query *q = calloc(1, sizeof(*q));
	if (q == NULL) {
		http_reply_error(hr, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	*q = (struct json_query){hr, ok, missing, why, refused};
	int r = db_pool_query(d->db, sql, n_params, params, on_json_result, q);
	if (r < 0) {
		free(q);
		api_reply_db_error(hr, r, NULL);
	}
}

const char *api_scope(const struct auth_principal *p)
{
	return p->role == AUTH_ADMIN ? NULL : p->organisation;
}

bool api_scope_for(struct http_req *hr, const struct auth_principal *p, const char **org)
{
	const char *asked = http_req_query(hr, "organisation");
	*org = api_scope(p);
	if (asked == NULL)
		return true;
	if (*org != NULL && strcmp(asked, *org) != 0) {
		http_reply_error(hr, 403, "forbidden",
		                 "this token may only read its own organisation's data", NULL,
		                 NULL);
		return false;
	}
	*org = asked;
	return true;
}

bool api_bad_param(struct http_req *hr, const char *name, const char *why)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "invalid query parameter \"%s\": %s", name, why);
	http_reply_error(hr, 400, "bad_request", msg, NULL, NULL);
	return false;
}

bool api_int_param(struct http_req *hr, const char *name, long lo, long hi, long def, char *out,
                   size_t size)
{
	const char *v = http_req_query(hr, name);
	long n = def;
	if (v != NULL && params_int(v, lo, hi, &n) < 0) {
		char why[64];
		snprintf(why, sizeof(why), "expected an integer from %ld to %ld", lo, hi);
		return api_bad_param(hr, name, why);
	}
	snprintf(out, size, "%ld", n);
	return true;
}

bool api_id_param(struct http_req *hr, const char *what, char *out, size_t size)
{
	const char *id = http_req_param(hr);
	if (!params_id(id)) {
		char msg[64];
		snprintf(msg, sizeof(msg), "no such %s", what);
		http_reply_error(hr, 404, "not_found", msg, NULL, NULL);
		return false;
	}
	snprintf(out, size, "%s", id);
	return true;
}

bool api_read_json(struct http_req *hr, json_t **out)
{
	char *body = NULL;
	size_t len = 0;
	*out = NULL;
	if (http_req_body(hr, &body, &len) < 0) {
		http_reply_error(hr, 400, "bad_request", "could not read the request body", NULL,
		                 NULL);
		return false;
	}
	*out = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	free(body);
	return true;
}

const char *api_write_scope(struct http_req *hr, const struct auth_principal *p, const char *asked,
                            const char *what)
{
	const char *scope = api_scope(p);
	if (scope != NULL && asked != NULL && strcmp(asked, scope) != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "this token may only %s of its own organisation", what);
		http_reply_error(hr, 403, "forbidden", msg, NULL, NULL);
		return NULL;
	}
	if (scope == NULL && asked == NULL) {
		http_reply_error(hr, 400, "bad_request", "an admin must name the \"organisation\"",
		                 NULL, NULL);
		return NULL;
	}
	return scope != NULL ? scope : asked;
}

/* $1 token id, $2 role, $3 organisation, $4 resource, $5 target or NULL, $6 request id */
static const char sql_audit[] =
    "INSERT INTO audit_read (token_id, role, organisation, resource, target, request_id)"
    " VALUES ($1::bigint, $2, $3, $4, left($5, 200), left($6, 64))";

static void on_audited(void *arg, int status, const PGresult *res)
{
	if (status != 0 && status != -ECANCELED)
		log_warn("api", "could not record a read in audit_read: %s",
		         status == -EPROTO ? PQresultErrorMessage(res) : "database unavailable");
}

void api_audit(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
               const char *resource, const char *target)
{
	char token[24];
	snprintf(token, sizeof(token), "%lld", p->token_id);
	const char *params[] = {token,  auth_role_name(p->role), p->organisation, resource,
	                        target, http_req_id(hr)};
	if (db_pool_query(d->db, sql_audit, 6, params, on_audited, NULL) < 0)
		log_warn("api", "could not record a read in audit_read: database unavailable");
}
