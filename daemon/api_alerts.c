/* Alert endpoints (see api_alerts.h). PostgreSQL builds the JSON; the state machine of the
 * life cycle is one statement, so a transition and its event land together. */
#include "api_alerts.h"

#include "api.h"
#include "area_csv.h"
#include "ingest.h"
#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The public form of an alert and its context are SQL functions (sql/004_delivery.sql), shared
 * with the deliveries, so an alert reads the same in the API and in a webhook or e-mail. */

/* $1 organisation or NULL, $2 state or 'open' or NULL, $3 area or NULL, $4 theme or NULL,
 * $5 limit, $6 offset */
static const char sql_list[] =
    "WITH f AS (SELECT a.id, a.strength, alert_public(a) AS j FROM alert a"
    " WHERE ($1::text IS NULL OR a.organisation = $1)"
    " AND ($2::text IS NULL OR a.state = $2 OR ($2 = 'open' AND a.state <> 'closed'))"
    " AND ($3::text IS NULL OR a.area_code = $3) AND ($4::text IS NULL OR a.theme = $4))"
    " SELECT json_build_object('alerts', coalesce((SELECT json_agg(j ORDER BY strength DESC,"
    " id) FROM (SELECT j, strength, id FROM f ORDER BY strength DESC, id LIMIT $5::int"
    " OFFSET $6::int) p), '[]'), 'total', (SELECT count(*) FROM f), 'limit', $5::int,"
    " 'offset', $6::int)::text";

/* $1 id, $2 organisation or NULL */
static const char sql_detail[] =
    "SELECT (alert_public(a) || alert_context(a) || jsonb_build_object('events',"
    " (SELECT coalesce(jsonb_agg(alert_event_public(e) ORDER BY e.at, e.id), '[]')"
    " FROM alert_event e WHERE e.alert_id = a.id)))::text"
    " FROM alert a WHERE a.id = $1::bigint AND ($2::text IS NULL OR a.organisation = $2)";

/* The change feed. $1 organisation or NULL, $2 and $3 the cursor (transaction id, event id),
 * $4 limit. Only events of transactions older than every running one are shown: a later poll
 * can then never find an event before the cursor. */
static const char sql_feed[] =
    "WITH ev AS (SELECT e, a, e.xid, e.id FROM alert_event e JOIN alert a ON a.id = e.alert_id"
    " WHERE (e.xid, e.id) > ($2::xid8, $3::bigint)"
    " AND e.xid < pg_snapshot_xmin(pg_current_snapshot())"
    " AND ($1::text IS NULL OR a.organisation = $1)"
    " ORDER BY e.xid, e.id LIMIT $4::int + 1),"
    " page AS (SELECT * FROM ev ORDER BY xid, id LIMIT $4::int)"
    " SELECT json_build_object('changes', coalesce((SELECT json_agg(json_build_object("
    "'cursor', xid || '.' || id, 'event', alert_event_public(e), 'alert', alert_public(a))"
    " ORDER BY xid, id) FROM page), '[]'), 'next', coalesce((SELECT xid || '.' || id FROM page"
    " ORDER BY xid DESC, id DESC LIMIT 1), $2 || '.' || $3), 'more',"
    " (SELECT count(*) FROM ev) > $4::int)::text";

/* $1 id, $2 organisation or NULL, $3 new state, $4 token id, $5 actor, $6 note, $7 initiative
 * code or NULL. Answers the previous state (NULL: no such alert), whether it changed, and
 * whether the initiative was linked. */
static const char sql_patch[] =
    "WITH cur AS (SELECT id, state, organisation FROM alert WHERE id = $1::bigint"
    " AND ($2::text IS NULL OR organisation = $2) FOR UPDATE),"
    " ini AS (SELECT i.code FROM initiative i, cur WHERE i.code = $7"
    " AND i.organisation = cur.organisation),"
    " ok AS (SELECT id, state FROM cur WHERE (state, $3::text) IN (('new', 'acknowledged'),"
    " ('new', 'initiative_started'), ('new', 'closed'), ('acknowledged', 'initiative_started'),"
    " ('acknowledged', 'closed'), ('initiative_started', 'closed'))"
    " AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM ini))),"
    " up AS (UPDATE alert a SET state = $3, updated_at = now(),"
    " closed_at = CASE WHEN $3 = 'closed' THEN now() END FROM ok WHERE a.id = ok.id"
    " RETURNING a.id, ok.state AS from_state),"
    " ev AS (INSERT INTO alert_event (alert_id, kind, from_state, to_state, token_id, actor,"
    " note) SELECT id, 'state', from_state, $3, $4::bigint, $5, $6 FROM up),"
    " lnk AS (UPDATE initiative i SET started_after_alert = cur.id, updated_at = now()"
    " FROM cur WHERE i.code = $7 AND i.organisation = cur.organisation"
    " AND EXISTS (SELECT 1 FROM up) RETURNING 1)"
    " SELECT (SELECT state FROM cur), (SELECT count(*) FROM up), (SELECT count(*) FROM lnk),"
    " $7::text IS NULL OR EXISTS (SELECT 1 FROM ini)";

static const char *const states[] = {"new", "acknowledged", "initiative_started", "closed", "open"};

/* GET /v1/alerts?since=CURSOR: the changes after the cursor, oldest first. */
static void feed(struct daemon *d, struct http_req *hr, const char *org, const char *since)
{
	struct params_cursor cur;
	char limit[16];
	static const char *const exclusive[] = {"state", "area", "theme", "offset"};
	for (size_t i = 0; i < sizeof(exclusive) / sizeof(exclusive[0]); i++) {
		if (http_req_query(hr, exclusive[i]) != NULL) {
			api_bad_param(hr, exclusive[i], "cannot be combined with \"since\"");
			return;
		}
	}
	if (params_cursor_parse(since, &cur) < 0) {
		api_bad_param(hr, "since", "expected 0 or the \"next\" cursor of an earlier reply");
		return;
	}
	if (!api_int_param(hr, "limit", 1, 1000, 100, limit, sizeof(limit)))
		return;
	const char *params[] = {org, cur.xid, cur.event, limit};
	api_json_query(d, hr, sql_feed, 4, params, 200, 404, "no changes");
}

static void list_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                        void *arg)
{
	const char *org, *state = http_req_query(hr, "state"), *area = http_req_query(hr, "area");
	const char *theme = http_req_query(hr, "theme"), *since = http_req_query(hr, "since");
	char limit[16], offset[16];
	if (!api_scope_for(hr, p, &org))
		return;
	char target[200];
	snprintf(target, sizeof(target), "organisation=%s state=%s area=%s theme=%s since=%s",
	         org != NULL ? org : "*", state != NULL ? state : "*", area != NULL ? area : "*",
	         theme != NULL ? theme : "*", since != NULL ? since : "-");
	api_audit(d, hr, p, since != NULL ? "alert_changes" : "alerts", target);
	if (since != NULL) {
		feed(d, hr, org, since);
		return;
	}
	if (state != NULL && !params_one_of(state, states, sizeof(states) / sizeof(states[0]))) {
		api_bad_param(hr, "state",
		              "expected new, acknowledged, initiative_started, closed or open");
		return;
	}
	if (area != NULL && area_code_kind(area) == NULL) {
		api_bad_param(hr, "area", "expected a CBS area code");
		return;
	}
	if (theme != NULL && !params_theme(theme)) {
		api_bad_param(hr, "theme", "expected a theme code such as EENZAAM");
		return;
	}
	if (!api_int_param(hr, "limit", 1, 500, 50, limit, sizeof(limit)) ||
	    !api_int_param(hr, "offset", 0, 10000000, 0, offset, sizeof(offset)))
		return;
	const char *params[] = {org, state, area, theme, limit, offset};
	api_json_query(d, hr, sql_list, 6, params, 200, 404, "no alerts");
}

static void on_list(struct http_req *hr, void *arg)
{
	api_authenticate(arg, hr, API_PEOPLE, list_authed, NULL);
}

static void detail_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                          void *arg)
{
	char id[24];
	if (!api_id_param(hr, "alert", id, sizeof(id)))
		return;
	api_audit(d, hr, p, "alert", id);
	const char *params[] = {id, api_scope(p)};
	api_json_query(d, hr, sql_detail, 2, params, 200, 404, "no such alert");
}

/* A state change waiting for PostgreSQL. */
struct patch {
	struct daemon *d;
	struct http_req *hr;
	char id[24];
	char state[24];
	char *scope;
};

static void on_patched(void *arg, int status, const PGresult *res)
{
	struct patch *pa = arg;
	if (status != 0) {
		api_reply_db_error(pa->hr, status, res);
	} else if (PQgetisnull(res, 0, 0)) {
		http_reply_error(pa->hr, 404, "not_found", "no such alert", NULL, NULL);
	} else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
		http_reply_error(pa->hr, 422, "unrecognized_initiative",
		                 "\"initiative\" names no initiative of this organisation", NULL,
		                 "Register it first (POST /v1/initiatives), then link it.");
	} else if (strcmp(PQgetvalue(res, 0, 1), "0") == 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "cannot change an alert from \"%s\" to \"%s\"",
		         PQgetvalue(res, 0, 0), pa->state);
		http_reply_error(pa->hr, 409, "invalid_transition", msg,
		                 "States go new, acknowledged, initiative_started, closed; an "
		                 "alert can be closed from any open state.",
		                 NULL);
	} else {
		/* Answer with the alert as it is now. */
		const char *params[] = {pa->id, pa->scope};
		api_json_query(pa->d, pa->hr, sql_detail, 2, params, 200, 404, "no such alert");
	}
	free(pa->scope);
	free(pa);
}

static void patch_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                         void *arg)
{
	char id[24], token[24], actor[96];
	json_t *o;
	if (!api_id_param(hr, "alert", id, sizeof(id)) || !api_read_json(hr, &o))
		return;
	const char *state = NULL, *note = NULL, *initiative = NULL, *key;
	json_t *v;
	const char *bad = o == NULL || !json_is_object(o) ? "expected a JSON object" : NULL;
	json_object_foreach(o, key, v)
	{
		const char **slot = strcmp(key, "state") == 0        ? &state
		                    : strcmp(key, "note") == 0       ? &note
		                    : strcmp(key, "initiative") == 0 ? &initiative
		                                                     : NULL;
		if (slot == NULL || !json_is_string(v)) {
			bad = slot == NULL ? "unrecognized field" : "fields must be strings";
			break;
		}
		*slot = json_string_value(v);
	}
	if (bad == NULL && (state == NULL || !params_one_of(state, states, 4)))
		bad = "\"state\" must be acknowledged, initiative_started or closed";
	if (bad == NULL && note != NULL && strlen(note) > 500)
		bad = "\"note\" is longer than 500 characters";
	if (bad == NULL && note != NULL && ingest_personal_data(note) != NULL)
		bad = "\"note\" holds what looks like an e-mail address, phone number or BSN; "
		      "notes are about the pattern, never about a person";
	if (bad == NULL && initiative != NULL && strcmp(state, "initiative_started") != 0)
		bad = "\"initiative\" goes with \"state\": \"initiative_started\"";
	if (bad != NULL) {
		http_reply_error(hr, 400, "bad_request", bad, NULL, NULL);
		json_decref(o);
		return;
	}
	struct patch *pa = calloc(1, sizeof(*pa));
	const char *scope = api_scope(p);
	if (pa == NULL || (scope != NULL && (pa->scope = strdup(scope)) == NULL)) {
		free(pa);
		json_decref(o);
		http_reply_error(hr, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	pa->d = d;
	pa->hr = hr;
	snprintf(pa->id, sizeof(pa->id), "%s", id);
	snprintf(pa->state, sizeof(pa->state), "%s", state);
	snprintf(token, sizeof(token), "%lld", p->token_id);
	snprintf(actor, sizeof(actor), "token %lld (%s)", p->token_id, auth_role_name(p->role));
	const char *params[] = {id, scope, state, token, actor, note, initiative};
	int r = db_pool_query(d->db, sql_patch, 7, params, on_patched, pa);
	json_decref(o);
	if (r < 0) {
		free(pa->scope);
		free(pa);
		api_reply_db_error(hr, r, NULL);
	}
}

static void on_one(struct http_req *hr, void *arg)
{
	if (http_req_method(hr) == EVHTTP_REQ_PATCH)
		api_authenticate(arg, hr, API_TEAMLEAD | API_ADMIN, patch_authed, NULL);
	else
		api_authenticate(arg, hr, API_PEOPLE, detail_authed, NULL);
}

int api_alerts_start(struct daemon *d)
{
	if (http_route(d->http, "/v1/alerts", EVHTTP_REQ_GET, on_list, d) < 0 ||
	    http_route(d->http, "/v1/alerts/*", EVHTTP_REQ_GET | EVHTTP_REQ_PATCH, on_one, d) < 0)
		return -ENOMEM;
	return 0;
}
