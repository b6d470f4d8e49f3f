/* The HTTP API server on libevent's evhttp: binding (port 0 allowed), limits and timeouts, a
 * route table (404/405), per-request ids, JSON replies and errors, request metrics, and
 * deferred replies that survive a client hanging up. Handlers live in api_*.c. */
#ifndef WR_HTTP_H
#define WR_HTTP_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "config.h"
#include "err.h"
#include "metrics.h"

struct http;

/* One request being handled. It stays valid until exactly one http_reply_* call, which frees
 * it; a handler that cannot answer at once keeps it and replies later (even if the client has
 * gone, in which case the reply only frees it). */
struct http_req;

typedef void http_handler_fn(struct http_req *hr, void *arg);

/* Creates the server on `base` and binds config->http_listen. `m` (borrowed) receives the
 * request counters and latency histograms. Returns NULL with errno set and a message in `e`
 * (for example when the address is in use). */
struct http *http_new(struct event_base *base, const struct config *config, struct metrics *m,
                      struct err *e);

/* Frees the server, closing every connection. Replies still owed must have been sent.
 * http_free(NULL) does nothing. */
void http_free(struct http *h);

/* Applies reloadable settings from `config` (borrowed): body and header size, timeouts, the
 * connection cap, and TLS (the certificate and key files are read again). When TLS cannot be
 * set up, returns -EINVAL and fills `e`; the old TLS context (or none) stays and everything
 * else is applied. */
int http_apply_config(struct http *h, const struct config *config, struct err *e)
    __attribute__((warn_unused_result));

/* True when the listener speaks TLS. */
bool http_is_tls(const struct http *h);

/* Connections whose reply is not yet all handed to the kernel: a reply is sent after its
 * request stops counting in http_n_inflight, so a drain waits for these too. */
int http_n_unsent(const struct http *h);

/* The TCP port actually bound (useful with port 0). */
int http_port(const struct http *h);

/* Adds a route: `path` (kept) for the methods in `methods` (EVHTTP_REQ_* bits). A path ending
 * in "/" + "*" matches one more non-empty segment (read it with http_req_param). A second route on
 * the same path adds methods. Returns 0 or -ENOMEM. */
int http_route(struct http *h, const char *path, int methods, http_handler_fn *fn, void *arg)
    __attribute__((warn_unused_result));

/* Stops accepting connections (for draining on SIGTERM). Idempotent. */
void http_stop_listening(struct http *h);

/* Requests accepted but not yet replied to. */
int http_n_inflight(const struct http *h);

/* The request's method, as an EVHTTP_REQ_* value. */
enum evhttp_cmd_type http_req_method(const struct http_req *hr);

/* The request id (from a sane X-Request-Id header, or generated). Valid until the reply. */
const char *http_req_id(const struct http_req *hr);

/* The segment matched by the final "*" of the route ("" for exact routes). Valid until the reply.
 */
const char *http_req_param(const struct http_req *hr);

/* The decoded value of query parameter `name` (first occurrence), or NULL. Valid until the
 * reply. */
const char *http_req_query(struct http_req *hr, const char *name);

/* The value of request header `name` (case-insensitive), or NULL when absent or the client has
 * gone. Valid until the reply. */
const char *http_req_header(const struct http_req *hr, const char *name);

/* Copies the request body into a new NUL-terminated buffer (caller frees) and its length.
 * Returns 0, -ENOTCONN when the client has gone, or -ENOMEM. */
int http_req_body(struct http_req *hr, char **out, size_t *len) __attribute__((warn_unused_result));

/* Adds a response header (name and value copied), for example Retry-After. */
void http_req_add_header(struct http_req *hr, const char *name, const char *value);

/* Replies with `body` serialised as JSON and frees hr. Takes over the reference to `body`
 * (json_decref'd here, NULL allowed for an empty object). */
void http_reply_json(struct http_req *hr, int status, json_t *body);

/* Replies {"error", "detail"?, "hint"?, "code"} and frees hr. Strings are borrowed; detail and
 * hint may be NULL. */
void http_reply_error(struct http_req *hr, int status, const char *code, const char *error,
                      const char *detail, const char *hint);

/* Replies with e's status (400 when unset), code, message and detail; frees hr. */
void http_reply_err(struct http_req *hr, const struct err *e);

/* Replies with `len` bytes of `body` (copied) as `content_type` and frees hr. */
void http_reply_text(struct http_req *hr, int status, const char *content_type, const char *body,
                     size_t len);

#endif
