/* Subscriptions and their deliveries as people manage them (see subscription.h). */
#include "subscription.h"

#include "area_csv.h"
#include "ingest.h"
#include "pgarray.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

const char subscription_sql_insert[] =
    "WITH bad AS (SELECT (SELECT string_agg(x, ', ') FROM unnest($5::text[]) x"
    " WHERE NOT EXISTS (SELECT 1 FROM area WHERE code = x)) AS areas,"
    " (SELECT string_agg(x, ', ') FROM unnest($6::text[]) x"
    " WHERE NOT EXISTS (SELECT 1 FROM theme WHERE code = x)) AS themes),"
    " ins AS (INSERT INTO subscription (organisation, channel, target, secret, areas, themes,"
    " events, description, token_id, created_by)"
    " SELECT $1, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8, $9::bigint, $10 FROM bad"
    " WHERE bad.areas IS NULL AND bad.themes IS NULL RETURNING *)"
    " SELECT (SELECT (subscription_public(ins) || jsonb_strip_nulls(jsonb_build_object("
    "'secret', ins.secret)))::text FROM ins),"
    " (SELECT CASE WHEN areas IS NOT NULL THEN 'unknown area codes in \"areas\": ' || areas"
    " ELSE 'unknown theme codes in \"themes\": ' || themes END FROM bad"
    " WHERE areas IS NOT NULL OR themes IS NOT NULL)";

const char subscription_sql_list[] =
    "SELECT json_build_object('subscriptions', coalesce(json_agg(subscription_public(s)"
    " ORDER BY s.id), '[]'))::text FROM subscription s"
    " WHERE s.active AND ($1::text IS NULL OR s.organisation = $1)";

const char subscription_sql_get[] =
    "SELECT subscription_public(s)::text FROM subscription s"
    " WHERE s.id = $1::bigint AND ($2::text IS NULL OR s.organisation = $2)";

const char subscription_sql_remove[] =
    "WITH s AS (UPDATE subscription SET active = false, removed_at = now()"
    " WHERE id = $1::bigint AND ($2::text IS NULL OR organisation = $2) AND active"
    " RETURNING *),"
    " c AS (UPDATE delivery d SET state = 'cancelled', lease_until = NULL, lease_token = NULL"
    " WHERE d.subscription_id IN (SELECT id FROM s) AND d.state IN ('pending', 'dead')"
    " RETURNING 1)"
    " SELECT (subscription_public(s) || jsonb_build_object('cancelled_deliveries',"
    " (SELECT count(*) FROM c)))::text FROM s";

const char subscription_sql_deliveries[] =
    "WITH f AS (SELECT d, d.id FROM delivery d WHERE ($1::text IS NULL OR d.organisation = $1)"
    " AND ($2::text IS NULL OR d.state = $2) AND ($3::bigint IS NULL OR d.subscription_id = $3)"
    " AND ($4::bigint IS NULL OR d.alert_id = $4))"
    " SELECT json_build_object('deliveries', coalesce((SELECT json_agg(delivery_public(p.d)"
    " || CASE WHEN $7::bool THEN '{}' ELSE jsonb_build_object('last_error',"
    " nullif(split_part((p.d).last_error, ':', 1), '')) END ORDER BY p.id DESC)"
    " FROM (SELECT d, id FROM f ORDER BY id DESC LIMIT $5::int OFFSET $6::int) p), '[]'),"
    " 'total', (SELECT count(*) FROM f))::text";

const char subscription_sql_retry[] =
    "WITH cur AS (SELECT id, state FROM delivery WHERE id = $1::bigint"
    " AND ($2::text IS NULL OR organisation = $2) FOR UPDATE),"
    " up AS (UPDATE delivery d SET state = 'pending', attempts = 0, next_attempt_at = now(),"
    " dead_at = NULL, lease_until = NULL, lease_token = NULL FROM cur, subscription s"
    " WHERE d.id = cur.id AND cur.state = 'dead' AND s.id = d.subscription_id AND s.active"
    " RETURNING d)"
    " SELECT (SELECT delivery_public(up.d)::text FROM up), CASE WHEN cur.state <> 'dead'"
    " THEN 'only a dead delivery can be retried; this one is ' || cur.state"
    " WHEN NOT EXISTS (SELECT 1 FROM up) THEN 'its subscription was removed' END FROM cur";

static const char *const event_names[] = {"alert.raised", "alert.escalated", "alert.state_changed"};

/* An http(s) URL that libcurl parses, with a host and without user name or password. */
static int check_url(const char *url, bool allow_http, struct err *e)
{
	if (strlen(url) > 2000)
		return err_set(e, 422, "invalid", "\"url\" is longer than %s characters", "2000");
	for (const char *c = url; *c != '\0'; c++) {
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return err_set(e, 422, "invalid",
			               "\"url\" holds a space or control character");
	}
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
	int r = 0;
	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
		r = err_set(e, 422, "invalid", "\"url\" is not a valid URL");
	else if (strcmp(scheme, "https") != 0 && (strcmp(scheme, "http") != 0 || !allow_http))
		r = err_set(e, 422, "invalid", "\"url\" must start with https://%s",
		            allow_http ? " or http://" : " (plain http is not allowed here)");
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	         curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
		r = err_set(e, 422, "invalid", "\"url\" must not hold a user name or password");
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(u);
	return r;
}

/* A plain address: local@domain in printable ASCII, no quoting, no display name. */
static int check_email(const char *a, struct err *e)
{
	const char *at = strchr(a, '@');
	size_t n = strlen(a);
	bool ok = at != NULL && at != a && at - a <= 64 && n <= 254 && at[1] != '\0' &&
	          strchr(at + 1, '@') == NULL && at[1] != '.' && a[n - 1] != '.';
	for (const char *c = a; ok && *c != '\0'; c++) {
		ok = *c > 0x20 && *c < 0x7f && strchr("\"(),:;<>[\\]", *c) == NULL;
		if (ok && c > at)
			ok = strchr(
			         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
			         *c) != NULL;
	}
	return ok ? 0
	          : err_set(e, 422, "invalid", "\"email\" is not an e-mail address (name@domain)");
}

/* Reads an optional array of codes into an array literal; `check` says whether one is
 * well-formed. */
static int code_list(const json_t *v, const char *field, bool (*check)(const char *), char *out,
                     size_t size, struct err *e)
{
	struct pgarray a = {0};
	size_t i;
	json_t *item;
	int r = 0;
	if (v != NULL && (!json_is_array(v) || json_array_size(v) > SUBSCRIPTION_MAX_LIST)) {
		err_set(e, 400, "bad_request", "\"%s\" must be an array of at most %d codes", field,
		        SUBSCRIPTION_MAX_LIST);
		return -EINVAL;
	}
	json_array_foreach(v, i, item)
	{
		const char *code = json_string_value(item);
		if (code == NULL || !check(code)) {
			err_set(e, 422, "invalid", "\"%s\" holds a malformed code: %s", field,
			        code != NULL ? code : "(not a string)");
			r = -EINVAL;
			break;
		}
		pgarray_add(&a, code);
	}
	const char *text = r == 0 ? pgarray_text(&a) : NULL;
	if (r == 0 && text == NULL)
		r = -ENOMEM;
	else if (r == 0 && strlen(text) >= size)
		r = err_set(e, 422, "invalid", "\"%s\" is too long", field);
	if (r == 0)
		snprintf(out, size, "%s", text);
	pgarray_free(&a);
	return r;
}

static bool area_ok(const char *code)
{
	return area_code_kind(code) != NULL;
}

static bool theme_ok(const char *code)
{
	size_t n = strlen(code);
	return n >= 2 && n <= 32 && strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static bool event_ok(const char *name)
{
	for (size_t i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++) {
		if (strcmp(name, event_names[i]) == 0)
			return true;
	}
	return false;
}

int subscription_parse(const json_t *o, const struct subscription_rules *rules,
                       struct subscription_req *out, struct err *e)
{
	static const char *const known[] = {"organisation", "channel", "url",    "email",
	                                    "areas",        "themes",  "events", "description"};
	memset(out, 0, sizeof(*out));
	if (!json_is_object(o)) {
		err_set(e, 400, "bad_request", "expected a JSON object");
		return -EINVAL;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v)
	{
		bool found = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			found = found || strcmp(key, known[i]) == 0;
		if (!found) {
			err_set(e, 400, "bad_request", "unrecognized field \"%s\"", key);
			return -EINVAL;
		}
	}
	static const char *const strings[] = {"organisation", "channel", "url", "email",
	                                      "description"};
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		v = json_object_get(o, strings[i]);
		if (v != NULL && !json_is_string(v)) {
			err_set(e, 400, "bad_request", "\"%s\" must be a string", strings[i]);
			return -EINVAL;
		}
	}
	const char *channel = json_string_value(json_object_get(o, "channel"));
	const char *url = json_string_value(json_object_get(o, "url"));
	const char *email = json_string_value(json_object_get(o, "email"));
	const char *description = json_string_value(json_object_get(o, "description"));
	int r;
	if (channel == NULL || (strcmp(channel, "webhook") != 0 && strcmp(channel, "email") != 0))
		return err_set(e, 422, "invalid", "\"channel\" must be webhook or email");
	snprintf(out->channel, sizeof(out->channel), "%s", channel);
	if (strcmp(channel, "webhook") == 0) {
		if (url == NULL || email != NULL)
			return err_set(e, 422, "invalid",
			               "a webhook subscription has a \"url\" and no \"email\"");
		if ((r = check_url(url, rules->allow_http, e)) < 0)
			return r;
		snprintf(out->target, sizeof(out->target), "%s", url);
		if (webhook_secret_new(out->secret) < 0) {
			err_set(e, 500, "internal", "could not make a random secret");
			return -EIO;
		}
	} else {
		if (email == NULL || url != NULL)
			return err_set(e, 422, "invalid",
			               "an e-mail subscription has an \"email\" and no \"url\"");
		if (!rules->email)
			return err_set(e, 422, "invalid",
			               "e-mail delivery is not configured on this server%s",
			               " (smtp.url)");
		if ((r = check_email(email, e)) < 0)
			return r;
		snprintf(out->target, sizeof(out->target), "%s", email);
	}
	if (description != NULL) {
		const char *why = ingest_personal_data(description);
		if (strlen(description) > 200)
			return err_set(e, 422, "invalid",
			               "\"description\" is longer than %s characters", "200");
		if (why != NULL)
			return err_set(e, 422, "invalid",
			               "\"description\" %s; describe the purpose, not a person",
			               why);
		snprintf(out->description, sizeof(out->description), "%s", description);
		out->has_description = true;
	}
	json_t *events = json_object_get(o, "events");
	if ((r = code_list(json_object_get(o, "areas"), "areas", area_ok, out->areas,
	                   sizeof(out->areas), e)) < 0 ||
	    (r = code_list(json_object_get(o, "themes"), "themes", theme_ok, out->themes,
	                   sizeof(out->themes), e)) < 0)
		return r;
	if (events == NULL) {
		snprintf(out->events, sizeof(out->events), "{%s,%s,%s}", event_names[0],
		         event_names[1], event_names[2]);
	} else {
		if (json_is_array(events) && json_array_size(events) == 0)
			return err_set(e, 422, "invalid",
			               "\"events\" must name at least one event");
		if ((r = code_list(events, "events", event_ok, out->events, sizeof(out->events),
		                   e)) < 0) {
			if (e->http_status == 422)
				err_set(e, 422, "invalid",
				        "\"events\" may hold alert.raised, alert.escalated and "
				        "alert.state_changed");
			return r;
		}
	}
	return 0;
}
