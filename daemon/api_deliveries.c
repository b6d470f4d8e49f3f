/* Delivery endpoints (see api_deliveries.h); the SQL is subscription.c's, shared with
 * `wijkradar deliveries`. */
#include "api_deliveries.h"

#include "api.h"
#include "params.h"
#include "subscription.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const states[] = {"pending", "delivered", "dead", "cancelled"};

static void list_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                        void *arg)
{
	const char *org, *state = http_req_query(hr, "state");
	char sub[24], alert[24], limit[16], offset[16];
	if (!api_scope_for(hr, p, &org))
		return;
	api_audit(d, hr, p, "deliveries", org);
	if (state != NULL && !params_one_of(state, states, sizeof(states) / sizeof(states[0]))) {
		api_bad_param(hr, "state", "expected pending, delivered, dead or cancelled");
		return;
	}
	if (!api_int_param(hr, "subscription", 0, 999999999999999999L, 0, sub, sizeof(sub)) ||
	    !api_int_param(hr, "alert", 0, 999999999999999999L, 0, alert, sizeof(alert)) ||
	    !api_int_param(hr, "limit", 1, 500, 50, limit, sizeof(limit)) ||
	    !api_int_param(hr, "offset", 0, 10000000, 0, offset, sizeof(offset)))
		return;
	const char *params[] = {org,
	                        state,
	                        http_req_query(hr, "subscription") != NULL ? sub : NULL,
	                        http_req_query(hr, "alert") != NULL ? alert : NULL,
	                        limit,
	                        offset,
	                        p->role == AUTH_ADMIN ? "true" : "false"};
	api_json_query(d, hr, subscription_sql_deliveries, 7, params, 200, 500, "no deliveries");
}

static void retry_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                         void *arg)
{
	char id[24];
	json_t *o;
	if (!api_id_param(hr, "delivery", id, sizeof(id)) || !api_read_json(hr, &o))
		return;
	const char *state = json_string_value(json_object_get(o, "state"));
	bool ok = json_is_object(o) && json_object_size(o) == 1 && state != NULL &&
	          strcmp(state, "pending") == 0;
	json_decref(o);
	if (!ok) {
		http_reply_error(hr, 400, "bad_request",
		                 "expected {\"state\": \"pending\"}: a dead delivery can only be "
		                 "retried",
		                 NULL, NULL);
		return;
	}
	const char *params[] = {id, api_scope(p)};
	api_json_query_or_refuse(d, hr, subscription_sql_retry, 2, params, 200, 404,
	                         "no such delivery", 409);
}

static void on_list(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_TEAMLEAD | API_ADMIN, list_authed, NULL);
}

static void on_one(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_ADMIN, retry_authed, NULL);
}

int api_deliveries_start(struct daemon *d)
{
	if (http_route(d->http, "/v1/deliveries", EVHTTP_REQ_GET, on_list, d) < 0 ||
	    http_route(d->http, "/v1/deliveries/*", EVHTTP_REQ_PATCH, on_one, d) < 0)
		return -ENOMEM;
	return 0;
}
