/* evhttp server, routing, replies and request metrics (see http.h).
 * evhttp owns requests and connections; a request whose client hangs up before the reply is
 * detached through the connection's close callback, and the later reply just frees our state
 * (libevent issue 997). */
#include "http.h"

#include "log.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

struct route {
	char *path;
	int methods;
	/* one handler per method bit, indexed by bit position */
	http_handler_fn *fn[16];
	void *arg[16];
};

/* One client connection, from accept until we notice evhttp has freed it. evhttp owns the
 * connection; libevent 2.1 tells nobody when it frees one. So we hold a reference on the
 * bufferevent we made for it: after evhttp's bufferevent_free its callbacks are cleared but the
 * memory (and socket) stay until a sweep sees that and drops our reference. */
struct conn {
	struct http *h;
	struct bufferevent *bev; /* the socket (or TLS) bufferevent evhttp reads and writes */
	struct event *deadline;  /* the client must send a whole request before it fires */
	struct http_req *hr;     /* the request being handled, if any */
	TAILQ_ENTRY(conn) link;
};
TAILQ_HEAD(conn_list, conn);

struct http {
	struct evhttp *evh;
	struct event_base *base;
	struct evhttp_bound_socket *bound;
	struct metrics *metrics;
	SSL_CTX *tls; /* NULL: plain HTTP */
	int port;
	int n_inflight;
	unsigned long long next_id;
	struct route *routes;
	size_t n_routes;
	struct conn_list conns;
	int n_conns;
	int max_conns;
	int timeout_s;
	bool accept_paused;   /* at max_conns, or resting after an accept error */
	struct event *resume; /* ends the rest after an accept error */
	struct event *sweep;  /* looks for connections evhttp has freed */
};

struct http_req {
	struct http *h;
	struct conn *conn;          /* NULL once the connection is gone */
	struct evhttp_request *req; /* NULL once the client has gone */
	const char *route;          /* route path for metrics, or "unmatched" */
	struct timespec start;
	char id[65];
	char param[128];        /* the segment matched by the route's final star */
	struct evkeyvalq query; /* parsed on first use */
	bool query_parsed;
};

static const char metric_requests[] = "wijkradar_http_requests_total";
static const char metric_duration[] = "wijkradar_http_request_duration_seconds";
static const char metric_conns[] = "wijkradar_http_connections";
static const char metric_closed[] = "wijkradar_http_connections_closed_total";

static int method_bit(enum evhttp_cmd_type m)
{
	for (int i = 0; i < 16; i++) {
		if ((int)m == (1 << i))
			return i;
	}
	return -1;
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "OTHER";
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* --- connections: count, cap, request deadline ------------------------------------------- */

/* Accepts new connections unless at the cap or resting after an accept error. While paused,
 * new connections wait in the kernel's listen backlog. */
static void update_accepting(struct http *h)
{
	bool full = h->n_conns >= h->max_conns;
	bool pause = full || (h->resume != NULL && evtimer_pending(h->resume, NULL));
	if (pause == h->accept_paused || h->bound == NULL)
		return;
	struct evconnlistener *l = evhttp_bound_socket_get_listener(h->bound);
	if (pause)
		evconnlistener_disable(l);
	else
		evconnlistener_enable(l);
	h->accept_paused = pause;
	if (full)
		log_warn("http",
		         "%d client connections open (http.max_connections): new connections "
		         "wait until some close",
		         h->n_conns);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	update_accepting(arg);
}

/* accept() failed, typically EMFILE: without a pause the listener would spin on the pending
 * connection. Rest for a second; the connections already open carry on. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct http *h = arg;
	int err = EVUTIL_SOCKET_ERROR();
	log_error("http", "could not accept a connection: %s; not accepting for 1 s",
	          evutil_socket_error_to_string(err));
	struct timeval tv = {1, 0};
	if (h->resume != NULL)
		evtimer_add(h->resume, &tv);
	update_accepting(h);
}

static void arm_deadline(struct conn *c)
{
	struct timeval tv = {c->h->timeout_s, 0};
	evtimer_add(c->deadline, &tv);
}

/* True once evhttp has called bufferevent_free: that clears the callbacks, which evhttp keeps
 * set for as long as it uses the connection. */
static bool conn_released(const struct conn *c)
{
	bufferevent_data_cb r, w;
	bufferevent_event_cb ev;
	void *arg;
	bufferevent_getcb(c->bev, &r, &w, &ev, &arg);
	return r == NULL && w == NULL && ev == NULL;
}

/* Drops our reference: the bufferevent is destroyed and its socket closed. */
static void conn_free(struct conn *c)
{
	if (c->hr != NULL)
		c->hr->conn = NULL;
	event_free(c->deadline);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_decref(c->bev);
	free(c);
}

/* The sweep runs every 100 ms while connections are open. */
static void arm_sweep(struct http *h)
{
	struct timeval tv = {0, 100000};
	if (!evtimer_pending(h->sweep, NULL))
		evtimer_add(h->sweep, &tv);
}

/* Forgets the connections evhttp has finished with. */
static void on_sweep(evutil_socket_t unused, short what, void *arg)
{
	struct http *h = arg;
	struct conn *c, *next;
	for (c = TAILQ_FIRST(&h->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (!conn_released(c))
			continue;
		TAILQ_REMOVE(&h->conns, c, link);
		h->n_conns--;
		conn_free(c);
	}
	metrics_gauge_set(h->metrics, metric_conns, "", h->n_conns);
	update_accepting(h);
	if (h->n_conns > 0)
		arm_sweep(h);
}

/* The client has not sent a whole request in time (slow-loris, or idle): shutting the socket
 * down makes evhttp see the end of the stream and free the connection as usual. */
static void on_conn_deadline(evutil_socket_t unused, short what, void *arg)
{
	struct conn *c = arg;
	if (conn_released(c))
		return;
	log_debug("http", "closing a connection that sent no whole request within %d s",
	          c->h->timeout_s);
	metrics_counter_add(c->h->metrics, metric_closed, "reason=\"request_timeout\"", 1);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* evhttp's bufferevent callback, once per accepted connection (the socket is set afterwards):
 * TLS or plain, with our reference on it. */
static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
	struct http *h = arg;
	struct bufferevent *bev = NULL;
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto fail;
	c->deadline = evtimer_new(base, on_conn_deadline, c);
	if (c->deadline == NULL)
		goto fail;
	if (h->tls != NULL) {
		SSL *ssl = SSL_new(h->tls);
		if (ssl != NULL) {
			bev = bufferevent_openssl_socket_new(
			    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
			if (bev == NULL)
				SSL_free(ssl);
		}
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL)
		goto fail;
	bufferevent_incref(bev);
	c->h = h;
	c->bev = bev;
	TAILQ_INSERT_TAIL(&h->conns, c, link);
	h->n_conns++;
	metrics_gauge_set(h->metrics, metric_conns, "", h->n_conns);
	arm_deadline(c);
	arm_sweep(h);
	update_accepting(h);
	return bev;
fail:
	/* Out of memory. evhttp then makes a plain bufferevent of its own for this connection;
	 * under TLS its first request fails, as the client speaks TLS. */
	log_error("http", "out of memory setting up a connection");
	if (c != NULL && c->deadline != NULL)
		event_free(c->deadline);
	free(c);
	return NULL;
}

/* evhttp has written a reply: a kept-alive connection has the same time again for its next
 * request. evhttp calls this before it frees a connection, never after, so c is alive. */
static void on_reply_written(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;
	if (!conn_released(c))
		arm_deadline(c);
}

/* Our record of the connection a request came on, or NULL. A linear search: there are at most
 * http.max_connections, and it runs once per request. */
static struct conn *conn_of(struct http *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
	struct conn *c;
	TAILQ_FOREACH(c, &h->conns, link)
	{
		if (c->bev == bev)
			return c;
	}
	return NULL;
}

/* --- requests -------------------------------------------------------------------------- */

static void on_client_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_req *hr = arg;
	hr->req = NULL;
	log_debug("http", "request %s: client closed the connection before the reply", hr->id);
}

/* Sends (if the client is still there), records metrics, frees hr. Takes `buf`. */
static void finish(struct http_req *hr, int status, struct evbuffer *buf)
{
	char labels[256];
	double secs = seconds_since(&hr->start);
	const char *method = "OTHER";
	if (hr->req != NULL) {
		struct evhttp_connection *evcon = evhttp_request_get_connection(hr->req);
		method = method_name(evhttp_request_get_command(hr->req));
		if (evcon != NULL)
			evhttp_connection_set_closecb(evcon, NULL, NULL);
		/* The next request's time starts once this reply is written: a slow reader of a
		 * large reply is not cut off (evhttp's write timeout covers a stalled one). */
		if (hr->conn != NULL)
			evhttp_request_set_on_complete_cb(hr->req, on_reply_written, hr->conn);
		evhttp_send_reply(hr->req, status, NULL, buf);
	}
	snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",code=\"%d\"", hr->route,
	         method, hr->req != NULL ? status : 499);
	metrics_counter_add(hr->h->metrics, metric_requests, labels, 1);
	snprintf(labels, sizeof(labels), "route=\"%s\"", hr->route);
	metrics_observe(hr->h->metrics, metric_duration, labels, secs);
	log_debug("http", "request %s: %s %s -> %d (%.1f ms)", hr->id, method, hr->route, status,
	          secs * 1e3);
	if (buf != NULL)
		evbuffer_free(buf);
	if (hr->query_parsed)
		evhttp_clear_headers(&hr->query);
	if (hr->conn != NULL)
		hr->conn->hr = NULL;
	hr->h->n_inflight--;
	free(hr);
}

const char *http_req_param(const struct http_req *hr)
{
	return hr->param;
}

const char *http_req_query(struct http_req *hr, const char *name)
{
	if (!hr->query_parsed) {
		TAILQ_INIT(&hr->query);
		hr->query_parsed = true;
		const struct evhttp_uri *uri =
		    hr->req != NULL ? evhttp_request_get_evhttp_uri(hr->req) : NULL;
		const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
		if (q != NULL && evhttp_parse_query_str(q, &hr->query) < 0)
			evhttp_clear_headers(&hr->query);
	}
	return evhttp_find_header(&hr->query, name);
}

/* Matches `path` against a route: exactly, or, for a route ending in a slash and a star, the prefix
 * and one non-empty segment without '/', which is copied into param. */
static bool route_matches(const char *route, const char *path, char *param, size_t size)
{
	size_t n = strlen(route);
	if (n < 2 || strcmp(route + n - 2, "/*") != 0)
		return strcmp(route, path) == 0;
	if (strncmp(route, path, n - 1) != 0)
		return false;
	const char *seg = path + n - 1;
	size_t len = strlen(seg);
	if (len == 0 || len >= size || strchr(seg, '/') != NULL)
		return false;
	memcpy(param, seg, len + 1);
	return true;
}

const char *http_req_header(const struct http_req *hr, const char *name)
{
	if (hr->req == NULL)
		return NULL;
	return evhttp_find_header(evhttp_request_get_input_headers(hr->req), name);
}

int http_req_body(struct http_req *hr, char **out, size_t *len)
{
	if (hr->req == NULL)
		return -ENOTCONN;
	struct evbuffer *in = evhttp_request_get_input_buffer(hr->req);
	size_t n = evbuffer_get_length(in);
	char *buf = malloc(n + 1);
	if (buf == NULL)
		return -ENOMEM;
	if (evbuffer_copyout(in, buf, n) != (ev_ssize_t)n) {
		free(buf);
		return -ENOMEM;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

void http_req_add_header(struct http_req *hr, const char *name, const char *value)
{
	if (hr->req != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(hr->req), name, value);
}

void http_reply_text(struct http_req *hr, int status, const char *content_type, const char *body,
                     size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	if (buf != NULL && evbuffer_add(buf, body, len) < 0) {
		evbuffer_free(buf);
		buf = NULL;
	}
	if (buf == NULL) {
		log_error("http", "request %s: out of memory building the reply", hr->id);
		status = 500;
	}
	http_req_add_header(hr, "Content-Type", content_type);
	finish(hr, status, buf);
}

void http_reply_json(struct http_req *hr, int status, json_t *body)
{
	if (body == NULL)
		body = json_object();
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL) {
		http_reply_text(hr, 500, "application/json",
		                "{\"error\":\"out of memory\",\"code\":\"internal\"}", 43);
		return;
	}
	size_t len = strlen(text);
	text[len] = '\0';
	/* A trailing newline keeps curl output readable. */
	char *nl = realloc(text, len + 2);
	if (nl != NULL) {
		text = nl;
		text[len++] = '\n';
		text[len] = '\0';
	}
	http_reply_text(hr, status, "application/json", text, len);
	free(text);
}

void http_reply_error(struct http_req *hr, int status, const char *code, const char *error,
                      const char *detail, const char *hint)
{
	json_t *o = json_object();
	if (o != NULL) {
		/* A message cut inside a UTF-8 sequence is not a JSON string: say so instead. */
		json_t *msg = json_string(error);
		json_object_set_new(o, "error",
		                    msg != NULL ? msg
		                                : json_string("invalid characters in the request"));
		if (detail != NULL && detail[0] != '\0')
			json_object_set_new(o, "detail", json_string(detail));
		if (hint != NULL && hint[0] != '\0')
			json_object_set_new(o, "hint", json_string(hint));
		json_object_set_new(o, "code", json_string(code));
	}
	http_reply_json(hr, status, o);
}

void http_reply_err(struct http_req *hr, const struct err *e)
{
	http_reply_error(hr, e->http_status != 0 ? e->http_status : 400,
	                 e->code[0] != '\0' ? e->code : "bad_request", e->msg, e->detail, NULL);
}

enum evhttp_cmd_type http_req_method(const struct http_req *hr)
{
	return hr->req != NULL ? evhttp_request_get_command(hr->req) : EVHTTP_REQ_GET;
}

const char *http_req_id(const struct http_req *hr)
{
	return hr->id;
}

int http_n_inflight(const struct http *h)
{
	return h->n_inflight;
}

int http_n_unsent(const struct http *h)
{
	int n = 0;
	const struct conn *c;
	TAILQ_FOREACH(c, &h->conns, link)
	{
		if (!conn_released(c) && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
			n++;
	}
	return n;
}

int http_port(const struct http *h)
{
	return h->port;
}

/* Accepts a client's request id when it is 1..64 characters of [A-Za-z0-9._-]. */
static bool sane_request_id(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	if (n == 0 || n > 64)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	struct http_req *hr = calloc(1, sizeof(*hr));
	if (hr == NULL) {
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	hr->h = h;
	hr->req = req;
	hr->route = "unmatched";
	clock_gettime(CLOCK_MONOTONIC, &hr->start);
	h->n_inflight++;
	const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
	if (sane_request_id(rid))
		snprintf(hr->id, sizeof(hr->id), "%s", rid);
	else
		snprintf(hr->id, sizeof(hr->id), "%08lx%08llx",
		         (unsigned long)(hr->start.tv_nsec ^ hr->start.tv_sec), ++h->next_id);
	http_req_add_header(hr, "X-Request-Id", hr->id);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (evcon != NULL)
		evhttp_connection_set_closecb(evcon, on_client_close, hr);
	hr->conn = conn_of(h, req);
	if (hr->conn != NULL) {
		evtimer_del(hr->conn->deadline);
		hr->conn->hr = hr;
	}

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL || path[0] == '\0')
		path = "/";
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	for (size_t i = 0; i < h->n_routes; i++) {
		struct route *r = &h->routes[i];
		if (!route_matches(r->path, path, hr->param, sizeof(hr->param)))
			continue;
		hr->route = r->path;
		int bit = method_bit(method);
		if (bit < 0 || !(r->methods & (int)method)) {
			char allow[128] = "";
			for (int b = 0; b < 16; b++) {
				if (!(r->methods & (1 << b)))
					continue;
				if (allow[0] != '\0')
					strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
				strncat(allow, method_name((enum evhttp_cmd_type)(1 << b)),
				        sizeof(allow) - strlen(allow) - 1);
			}
			http_req_add_header(hr, "Allow", allow);
			char msg[160];
			snprintf(msg, sizeof(msg), "method %s is not allowed on \"%s\"",
			         method_name(method), r->path);
			http_reply_error(hr, 405, "method_not_allowed", msg, NULL, NULL);
			return;
		}
		r->fn[bit](hr, r->arg[bit]);
		return;
	}
	char msg[160];
	snprintf(msg, sizeof(msg), "no such resource: \"%.100s\"", path);
	http_reply_error(hr, 404, "not_found", msg, NULL, "See the API section of README.md.");
}

int http_route(struct http *h, const char *path, int methods, http_handler_fn *fn, void *arg)
{
	struct route *r = NULL;
	for (size_t i = 0; i < h->n_routes; i++) {
		if (strcmp(h->routes[i].path, path) == 0)
			r = &h->routes[i];
	}
	if (r == NULL) {
		struct route *nr = realloc(h->routes, (h->n_routes + 1) * sizeof(*nr));
		if (nr == NULL)
			return -ENOMEM;
		h->routes = nr;
		r = &h->routes[h->n_routes];
		memset(r, 0, sizeof(*r));
		r->path = strdup(path);
		if (r->path == NULL)
			return -ENOMEM;
		h->n_routes++;
	}
	r->methods |= methods;
	for (int b = 0; b < 16; b++) {
		if (methods & (1 << b)) {
			r->fn[b] = fn;
			r->arg[b] = arg;
		}
	}
	return 0;
}

int http_apply_config(struct http *h, const struct config *config, struct err *e)
{
	struct timeval tv = {config->http_timeout_s, 0};
	evhttp_set_max_body_size(h->evh, config->http_max_body_bytes);
	evhttp_set_max_headers_size(h->evh, config->http_max_header_bytes);
	evhttp_set_timeout_tv(h->evh, &tv);
	h->timeout_s = config->http_timeout_s;
	h->max_conns = config->http_max_connections;
	update_accepting(h);
	/* Connections already open keep the context they started with (SSL holds a reference). */
	SSL_CTX *tls = NULL;
	if (config->http_tls_cert_file[0] != '\0') {
		tls = tls_server_ctx_new(config->http_tls_cert_file, config->http_tls_key_file, e);
		if (tls == NULL)
			return -EINVAL;
	}
	SSL_CTX_free(h->tls);
	h->tls = tls;
	return 0;
}

bool http_is_tls(const struct http *h)
{
	return h->tls != NULL;
}

struct http *http_new(struct event_base *base, const struct config *config, struct metrics *m,
                      struct err *e)
{
	char host[256];
	int port;
	struct http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		goto nomem;
	h->metrics = m;
	h->base = base;
	TAILQ_INIT(&h->conns);
	h->evh = evhttp_new(base);
	h->resume = evtimer_new(base, on_resume, h);
	h->sweep = evtimer_new(base, on_sweep, h);
	if (h->evh == NULL || h->resume == NULL || h->sweep == NULL)
		goto nomem;
	if (metrics_declare(m, metric_requests, METRICS_COUNTER,
	                    "HTTP requests answered, by route, method and status code "
	                    "(499: client closed before the reply)") < 0 ||
	    metrics_declare(m, metric_duration, METRICS_HISTOGRAM,
	                    "Time from request to reply, by route") < 0 ||
	    metrics_declare(m, metric_conns, METRICS_GAUGE, "Open client connections") < 0 ||
	    metrics_gauge_set(m, metric_conns, "", 0) < 0 ||
	    metrics_declare(m, metric_closed, METRICS_COUNTER,
	                    "Client connections closed by the daemon, by reason (request_timeout: "
	                    "no whole request within http.timeout_s)") < 0 ||
	    metrics_counter_add(m, metric_closed, "reason=\"request_timeout\"", 0) < 0)
		goto nomem;
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                       EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
	                                       EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_default_content_type(h->evh, "application/json");
	evhttp_set_gencb(h->evh, on_request, h);
	evhttp_set_bevcb(h->evh, on_new_connection, h);
	if (http_apply_config(h, config, e) < 0) {
		errno = EINVAL;
		goto fail;
	}
	if (config_parse_listen(config->http_listen, host, sizeof(host), &port) < 0) {
		err_set(e, 0, "invalid_config", "invalid listen address \"%s\"",
		        config->http_listen);
		errno = EINVAL;
		goto fail;
	}
	h->bound = evhttp_bind_socket_with_handle(h->evh, host, (ev_uint16_t)port);
	if (h->bound == NULL) {
		int saved = errno;
		err_set(e, 0, "listen_failed", "could not listen on \"%s\": %s",
		        config->http_listen, strerror(saved));
		errno = saved != 0 ? saved : EADDRINUSE;
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(h->bound), on_accept_error);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(h->bound);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6)
			h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return h;
nomem:
	err_set(e, 0, "internal", "out of memory");
	errno = ENOMEM;
fail:
	http_free(h);
	return NULL;
}

void http_stop_listening(struct http *h)
{
	if (h->bound != NULL) {
		evhttp_del_accept_socket(h->evh, h->bound);
		h->bound = NULL;
	}
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	if (h->evh != NULL)
		evhttp_free(h->evh); /* bufferevent_free on every connection */
	struct conn *c;
	while ((c = TAILQ_FIRST(&h->conns)) != NULL) {
		TAILQ_REMOVE(&h->conns, c, link);
		conn_free(c);
	}
	if (h->resume != NULL)
		event_free(h->resume);
	if (h->sweep != NULL)
		event_free(h->sweep);
	SSL_CTX_free(h->tls);
	for (size_t i = 0; i < h->n_routes; i++)
		free(h->routes[i].path);
	free(h->routes);
	free(h);
}
