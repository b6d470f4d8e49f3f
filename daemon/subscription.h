/* Subscriptions (where an organisation's alerts go) and their deliveries as people manage them:
 * validation of a new subscription, and the SQL shared by the API (api_subscriptions.c,
 * api_deliveries.c) and the CLI (cli_subscriptions.c). */
#ifndef WR_SUBSCRIPTION_H
#define WR_SUBSCRIPTION_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"
#include "webhook.h"

#define SUBSCRIPTION_MAX_LIST 64

/* A validated new subscription, ready for subscription_sql_insert. */
struct subscription_req {
	char channel[8];
	char target[2001];
	char secret[WEBHOOK_SECRET_SIZE];           /* webhook: a new secret; e-mail: "" */
	char areas[SUBSCRIPTION_MAX_LIST * 40 + 8]; /* array literals */
	char themes[SUBSCRIPTION_MAX_LIST * 40 + 8];
	char events[96];
	char description[201];
	bool has_description;
};

/* What the daemon's configuration allows. */
struct subscription_rules {
	bool allow_http; /* webhook URLs may be http:// */
	bool email;      /* an SMTP server is configured */
};

/* Validates the JSON object of a new subscription (channel, url or email, areas, themes,
 * events, description; "organisation" is the caller's to check) and makes the webhook secret.
 * Returns 0, or -EINVAL with `e` saying why (status 400 for a malformed body, 422 for a bad
 * value), or -EIO when no random secret could be made. */
int subscription_parse(const json_t *o, const struct subscription_rules *rules,
                       struct subscription_req *out, struct err *e)
    __attribute__((warn_unused_result));

/* $1 organisation, $2 channel, $3 target, $4 secret or NULL, $5 areas, $6 themes, $7 events
 * (array literals), $8 description or NULL, $9 token id or NULL, $10 created by. One row: the
 * subscription as JSON with its secret, or NULL and why it was refused (unknown area or theme
 * codes). */
extern const char subscription_sql_insert[];

/* $1 organisation or NULL. One row: {"subscriptions": [...]} of the active ones. */
extern const char subscription_sql_list[];

/* $1 id, $2 organisation or NULL. The subscription as JSON; no row when there is none. */
extern const char subscription_sql_get[];

/* $1 id, $2 organisation or NULL. Deactivates an active subscription and cancels its pending
 * and dead deliveries; the subscription as JSON with "cancelled_deliveries", no row when there
 * is no such active subscription. */
extern const char subscription_sql_remove[];

/* $1 organisation or NULL, $2 state or NULL, $3 subscription id or NULL, $4 alert id or NULL,
 * $5 limit, $6 offset, $7 whether the caller may read the receivers' error messages (admins;
 * others get the reason class only, since those messages describe the network the daemon runs
 * in). One row: {"deliveries": [...newest first], "total": n}. */
extern const char subscription_sql_deliveries[];

/* $1 delivery id, $2 organisation or NULL. Puts a dead delivery back to pending with its
 * attempts from zero. No row when there is no such delivery; else the delivery as JSON when it
 * was retried, or NULL and why not (it was not dead). */
extern const char subscription_sql_retry[];

#endif
