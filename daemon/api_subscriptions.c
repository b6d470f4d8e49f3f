/* Subscription endpoints (see api_subscriptions.h). Validation is subscription.c's, shared
 * with `wijkradar subscriptions add`; PostgreSQL builds the JSON. */
#include "api_subscriptions.h"

#include "api.h"
#include "subscription.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void create_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                          void *arg)
{
	char token[24], actor[96];
	struct subscription_req req;
	struct err e;
	json_t *o;
	if (!api_read_json(hr, &o))
		return;
	const struct subscription_rules rules = {d->config->delivery_allow_http,
	                                         d->config->smtp_url[0] != '\0'};
	err_clear(&e);
	if (subscription_parse(o, &rules, &req, &e) < 0) {
		json_decref(o);
		http_reply_err(hr, &e);
		return;
	}
	const char *org =
	    api_write_scope(hr, p, json_string_value(json_object_get(o, "organisation")),
	                    "subscribe to the alerts");
	if (org == NULL) {
		json_decref(o);
		return;
	}
	snprintf(token, sizeof(token), "%lld", p->token_id);
	snprintf(actor, sizeof(actor), "token %lld (%s)", p->token_id, auth_role_name(p->role));
	const char *params[] = {
	    org,       req.channel, req.target, req.secret[0] != '\0' ? req.secret : NULL,
	    req.areas, req.themes,  req.events, req.has_description ? req.description : NULL,
	    token,     actor};
	api_json_query_or_refuse(d, hr, subscription_sql_insert, 10, params, 201, 500,
	                         "the subscription was not stored", 422);
	json_decref(o);
}

static void list_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                        void *arg)
{
	const char *org;
	if (!api_scope_for(hr, p, &org))
		return;
	api_audit(d, hr, p, "subscriptions", org);
	const char *params[] = {org};
	api_json_query(d, hr, subscription_sql_list, 1, params, 200, 500, "no subscriptions");
}

static void one_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                       void *arg)
{
	char id[24];
	if (!api_id_param(hr, "subscription", id, sizeof(id)))
		return;
	if (http_req_method(hr) == EVHTTP_REQ_GET)
		api_audit(d, hr, p, "subscriptions", id);
	const char *params[] = {id, api_scope(p)};
	if (http_req_method(hr) == EVHTTP_REQ_DELETE)
		api_json_query(d, hr, subscription_sql_remove, 2, params, 200, 404,
		               "no such active subscription");
	else
		api_json_query(d, hr, subscription_sql_get, 2, params, 200, 404,
		               "no such subscription");
}

static void on_collection(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_TEAMLEAD | API_ADMIN,
	                 http_req_method(hr) == EVHTTP_REQ_POST ? create_authed : list_authed,
	                 NULL);
}

static void on_one(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_TEAMLEAD | API_ADMIN, one_authed, NULL);
}

int api_subscriptions_start(struct daemon *d)
{
	if (http_route(d->http, "/v1/subscriptions", EVHTTP_REQ_GET | EVHTTP_REQ_POST,
	               on_collection, d) < 0 ||
	    http_route(d->http, "/v1/subscriptions/*", EVHTTP_REQ_GET | EVHTTP_REQ_DELETE, on_one,
	               d) < 0)
		return -ENOMEM;
	return 0;
}
