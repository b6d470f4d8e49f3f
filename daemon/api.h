/* Pieces shared by the JSON endpoints under /v1 for people and dashboards: bearer-token
 * authentication with allowed roles, and running one SQL statement that returns the JSON
 * answer itself (PostgreSQL builds the JSON; C passes it through). Database trouble becomes
 * 503 with Retry-After, and every path replies exactly once. */
#ifndef WR_API_H
#define WR_API_H

#include "auth.h"
#include "daemon.h"

/* Role bits for api_authenticate. */
#define API_SOURCE   (1u << AUTH_SOURCE)
#define API_TEAMLEAD (1u << AUTH_TEAMLEAD)
#define API_ANALYST  (1u << AUTH_ANALYST)
#define API_ADMIN    (1u << AUTH_ADMIN)
#define API_PEOPLE   (API_TEAMLEAD | API_ANALYST | API_ADMIN)

/* Called with the authenticated caller (borrowed for the call) when the token is valid and
 * its role is one of the allowed ones. The handler owns `hr` and must reply. */
typedef void api_authed_fn(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
                           void *arg);

/* Declares the metrics of this module (the rate-limit counter). Returns 0 or -ENOMEM. */
int api_declare_metrics(struct metrics *m) __attribute__((warn_unused_result));

/* Takes one request from the budget of p's token (auth.rate_limit_per_s, counted in this
 * process). Returns 0 when the request may go ahead; when the budget is spent, adds
 * Retry-After to hr, counts it, writes the message for the 429 into msg and returns the
 * seconds to wait (> 0). The caller replies 429 with code "rate_limited". */
int api_rate_limit(struct daemon *d, struct http_req *hr, const struct auth_principal *p, char *msg,
                   size_t size);

#define API_RATE_LIMIT_HINT "Wait for the number of seconds in Retry-After before sending again."

/* Checks the request's bearer token and its rate limit (auth.rate_limit_per_s per token, in
 * this process); replies 401, 429, 403 or 503 itself, or calls `fn`. `arg` is passed through
 * (borrowed; it must live until `fn` runs or the request is answered). */
void api_authenticate(struct daemon *d, struct http_req *hr, unsigned roles, api_authed_fn *fn,
                      void *arg);

/* Runs `sql` (static text) with text parameters (copied) and replies with status `ok` and the
 * first column of the first row as the JSON body. No row, or SQL NULL, gives `missing`
 * (404 "not_found", or 400/422 "invalid") with `why` as the message. A server error with
 * SQLSTATE 22xxx/23xxx (bad input) gives 400 with its message; anything else 500 or 503. */
void api_json_query(struct daemon *d, struct http_req *hr, const char *sql, int n_params,
                    const char *const *params, int ok, int missing, const char *why);

/* As api_json_query, for statements whose second column says why a request was refused:
 * when the first column is NULL and the second is not, the reply is status `refused` (409
 * "conflict" or 422 "invalid") with the second column as the message. */
void api_json_query_or_refuse(struct daemon *d, struct http_req *hr, const char *sql, int n_params,
                              const char *const *params, int ok, int missing, const char *why,
                              int refused);

/* The organisation filter for a caller: NULL (all) for admins, else the caller's own. */
const char *api_scope(const struct auth_principal *p);

/* The organisation filter of a listing: the caller's own, or for an admin the one named by
 * ?organisation= (NULL: all). False after replying 403 when a caller names another one. */
bool api_scope_for(struct http_req *hr, const struct auth_principal *p, const char **org);

/* Replies 400 "invalid query parameter NAME: WHY" and returns false. */
bool api_bad_param(struct http_req *hr, const char *name, const char *why);

/* Reads integer query parameter `name` within [lo, hi] (`def` when absent) as text into out.
 * False after replying 400. */
bool api_int_param(struct http_req *hr, const char *name, long lo, long hi, long def, char *out,
                   size_t size);

/* Reads the {id} segment of the route as a positive integer into out. False after replying
 * 404 "no such WHAT". */
bool api_id_param(struct http_req *hr, const char *what, char *out, size_t size);

/* Reads the request body as JSON into *out (NULL when it is not JSON; json_decref it). False
 * after replying 400 when the body could not be read. */
bool api_read_json(struct http_req *hr, json_t **out);

/* The organisation a write goes to: the caller's own (a non-admin naming another gets 403),
 * or for an admin the one `asked` (400 when none is named). NULL after replying. `what` says
 * what the caller may do, e.g. "register initiatives". */
const char *api_write_scope(struct http_req *hr, const struct auth_principal *p, const char *asked,
                            const char *what);

/* Records that caller `p` read `resource` ("alerts", "alert", "alert_changes", "benchmark",
 * "effects", "deliveries", "subscriptions"), with what it asked for in `target` (an id, a
 * period; NULL allowed), in table audit_read: who, what, when, never the answer. Sent without
 * waiting; a failure is logged. */
void api_audit(struct daemon *d, struct http_req *hr, const struct auth_principal *p,
               const char *resource, const char *target);

/* Replies 503 for a failed database call (status from db_pool_* or a callback). */
void api_reply_db_error(struct http_req *hr, int status, const PGresult *res);

#endif
