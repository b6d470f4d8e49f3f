/* Initiative endpoints (see api_initiatives.h). */
#include "api_initiatives.h"

#include "api.h"
#include "area_csv.h"
#include "initiative.h"
#include "params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INITIATIVE_JSON                                                                            \
	"json_build_object('code', i.code, 'organisation', i.organisation, 'name', i.name,"        \
	" 'themes', i.themes, 'areas', i.areas, 'contact_role', i.contact_role, 'url', i.url,"     \
	" 'active', i.active, 'started_after_alert', i.started_after_alert, 'updated_at',"         \
	" i.updated_at)"

/* $1 area or NULL, $2 theme or NULL */
static const char sql_list[] =
    "SELECT json_build_object('initiatives', coalesce(json_agg(" INITIATIVE_JSON
    " ORDER BY i.name, i.id), '[]'))::text FROM initiative i WHERE i.active"
    " AND ($1::text IS NULL OR $1 = ANY(i.areas)) AND ($2::text IS NULL OR $2 = ANY(i.themes))";

/* Shared with the CSV import (declared in initiative.h). */
const char initiative_sql_upsert[] =
    "INSERT INTO initiative AS i (organisation, code, name, themes, areas, contact_role, url,"
    " active) SELECT $1, $2, $3, $4::text[], $5::text[], nullif($6, ''), nullif($7, ''),"
    " $8::boolean WHERE NOT EXISTS (SELECT 1 FROM unnest($4::text[]) t"
    " WHERE t NOT IN (SELECT code FROM theme))"
    " ON CONFLICT (organisation, code) DO UPDATE SET name = EXCLUDED.name,"
    " themes = EXCLUDED.themes, areas = EXCLUDED.areas, contact_role = EXCLUDED.contact_role,"
    " url = EXCLUDED.url, active = EXCLUDED.active, updated_at = now()"
    " RETURNING " INITIATIVE_JSON "::text";

static void list_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                        void *arg)
{
	const char *area = http_req_query(hr, "area"), *theme = http_req_query(hr, "theme");
	if ((area != NULL && area_code_kind(area) == NULL) ||
	    (theme != NULL && !params_theme(theme))) {
		http_reply_error(
		    hr, 400, "bad_request",
		    "invalid query parameter: \"area\" must be a CBS code, \"theme\" a "
		    "theme code",
		    NULL, NULL);
		return;
	}
	const char *params[] = {area, theme};
	api_json_query(d, hr, sql_list, 2, params, 200, 404, "no initiatives");
}

/* A JSON string field or NULL; `bad` set when present but not a string. */
static const char *str(json_t *o, const char *key, bool *bad)
{
	json_t *v = json_object_get(o, key);
	if (v != NULL && !json_is_string(v))
		*bad = true;
	return json_string_value(v);
}

/* A JSON array of strings joined with ';' into buf; NULL when absent. */
static const char *list(json_t *o, const char *key, char *buf, size_t size, bool *bad)
{
	json_t *v = json_object_get(o, key), *item;
	size_t i, len = 0;
	if (v == NULL)
		return NULL;
	if (!json_is_array(v)) {
		*bad = true;
		return NULL;
	}
	buf[0] = '\0';
	json_array_foreach(v, i, item)
	{
		const char *s = json_string_value(item);
		int w =
		    s != NULL ? snprintf(buf + len, size - len, "%s%s", i > 0 ? ";" : "", s) : -1;
		if (w < 0 || (size_t)w >= size - len) {
			*bad = true;
			return NULL;
		}
		len += (size_t)w;
	}
	return buf;
}

static void post_authed(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                        void *arg)
{
	static const char *const known[] = {"organisation", "code",         "name", "themes",
	                                    "areas",        "contact_role", "url",  "active"};
	char themes[2400], areas[1000];
	bool bad = false;
	struct initiative in;
	struct err e;
	json_t *o;
	if (!api_read_json(hr, &o))
		return;
	const char *key;
	json_t *v;
	bad = !json_is_object(o);
	json_object_foreach(o, key, v)
	{
		bool found = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			found = found || strcmp(key, known[i]) == 0;
		bad = bad || !found;
	}
	json_t *active = json_object_get(o, "active");
	bad = bad || (active != NULL && !json_is_boolean(active));
	const char *org = str(o, "organisation", &bad);
	const char *code = str(o, "code", &bad), *name = str(o, "name", &bad);
	const char *role = str(o, "contact_role", &bad), *url = str(o, "url", &bad);
	const char *th = list(o, "themes", themes, sizeof(themes), &bad);
	const char *ar = list(o, "areas", areas, sizeof(areas), &bad);
	if (bad) {
		json_decref(o);
		http_reply_error(
		    hr, 400, "bad_request",
		    "expected {\"code\", \"name\", \"themes\": [...], \"areas\": [...], "
		    "\"contact_role\"?, \"url\"?, \"active\"?}",
		    NULL, NULL);
		return;
	}
	err_clear(&e);
	if (initiative_parse(code, name, th, ar, role, url,
	                     active == NULL || json_is_true(active) ? "true" : "false", &in,
	                     &e) < 0) {
		json_decref(o);
		http_reply_err(hr, &e);
		return;
	}
	org = api_write_scope(hr, p, org, "register initiatives");
	if (org == NULL) {
		json_decref(o);
		return;
	}
	char theme_arr[2400], area_arr[1000];
	initiative_array(&in, false, theme_arr, sizeof(theme_arr));
	initiative_array(&in, true, area_arr, sizeof(area_arr));
	const char *params[] = {org,      in.code,         in.name, theme_arr,
	                        area_arr, in.contact_role, in.url,  in.active ? "true" : "false"};
	api_json_query(d, hr, initiative_sql_upsert, 8, params, 200, 422,
	               "unrecognized theme in \"themes\"");
	json_decref(o);
}

static void on_initiatives(struct http_req *hr, void *arg)
{
	if (http_req_method(hr) == EVHTTP_REQ_POST)
		api_authenticate(arg, hr, API_TEAMLEAD | API_ADMIN, post_authed, NULL);
	else
		api_authenticate(arg, hr, API_PEOPLE, list_authed, NULL);
}

int api_initiatives_start(struct daemon *d)
{
	if (http_route(d->http, "/v1/initiatives", EVHTTP_REQ_GET | EVHTTP_REQ_POST, on_initiatives,
	               d) < 0)
		return -ENOMEM;
	return 0;
}
