/* The delivery worker (see delivery.h). libcurl's multi interface runs on the daemon's event
 * loop: curl tells which sockets to watch and when to wake it (socket and timer callbacks),
 * libevent tells curl when a socket is ready. Every claimed delivery is one transfer; its
 * outcome is stored with one UPDATE guarded by the lease token, so a daemon whose lease has
 * expired cannot overwrite the work of the one that took over. */
#include "delivery.h"

#include "log.h"
#include "mail.h"
#include "retry.h"
#include "webhook.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <gsl/gsl_rng.h>
#include <openssl/rand.h>

/* The lease outlasts an attempt's timeout by this much. */
#define LEASE_MARGIN_S 10

static const char metric_sent[] = "wijkradar_deliveries_sent_total";
static const char metric_failed[] = "wijkradar_deliveries_failed_total";
static const char metric_retried[] = "wijkradar_deliveries_retried_total";
static const char metric_dead[] = "wijkradar_deliveries_dead_lettered_total";
static const char metric_inflight[] = "wijkradar_deliveries_in_flight";
static const char metric_latency[] = "wijkradar_delivery_latency_seconds";
static const char metric_request[] = "wijkradar_delivery_request_seconds";

/* $1 how many, $2 lease seconds, $3 most in flight per subscription, $4 public base URL,
 * $5 lease token, $6 max attempts. Claims due deliveries, oldest first: one subscription's
 * deliveries for one alert strictly in order, and no subscription over its share of open
 * attempts (counted over every daemon). The lease conditions are repeated on the locked row so
 * that a row another daemon leased meanwhile is rechecked and skipped. On the way it cancels
 * what is left of removed subscriptions (an alert committed while one was being removed) and
 * gives up on deliveries whose attempts ran out without an outcome being stored (a daemon died
 * or the database was away each time). */
static const char sql_claim[] =
    "WITH gone AS (UPDATE delivery x SET state = 'cancelled', lease_until = NULL,"
    " lease_token = NULL FROM subscription s WHERE s.id = x.subscription_id AND NOT s.active"
    " AND x.state = 'pending' AND (x.lease_until IS NULL OR x.lease_until <= now())"
    " RETURNING 1),"
    " spent AS (UPDATE delivery x SET state = 'dead', dead_at = now(), lease_until = NULL,"
    " lease_token = NULL, last_error = coalesce(x.last_error, 'no outcome was stored')"
    " FROM subscription s WHERE s.id = x.subscription_id AND s.active AND x.state = 'pending'"
    " AND x.attempts >= $6::int AND (x.lease_until IS NULL OR x.lease_until <= now())"
    " RETURNING 1),"
    " busy AS (SELECT subscription_id, count(*) AS n FROM delivery"
    " WHERE state = 'pending' AND lease_until > now() GROUP BY subscription_id),"
    " cand AS (SELECT d.id, row_number() OVER (PARTITION BY d.subscription_id"
    " ORDER BY d.next_attempt_at, d.id) + coalesce(b.n, 0) AS rank"
    " FROM delivery d LEFT JOIN busy b ON b.subscription_id = d.subscription_id"
    " WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND d.attempts < $6::int"
    " AND (d.lease_until IS NULL OR d.lease_until <= now())"
    " AND EXISTS (SELECT 1 FROM subscription s WHERE s.id = d.subscription_id AND s.active)"
    " AND NOT EXISTS (SELECT 1 FROM delivery e WHERE e.subscription_id = d.subscription_id"
    " AND e.alert_id = d.alert_id AND e.state = 'pending' AND e.id < d.id)),"
    " pick AS (SELECT d.id FROM delivery d JOIN cand c ON c.id = d.id WHERE c.rank <= $3::int"
    " AND d.state = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= now())"
    " ORDER BY d.next_attempt_at, d.id LIMIT $1::int FOR UPDATE OF d SKIP LOCKED)"
    " UPDATE delivery d SET lease_until = now() + make_interval(secs => $2::int),"
    " lease_token = $5, attempts = d.attempts + 1, last_attempt_at = now()"
    " FROM pick, subscription s WHERE d.id = pick.id AND s.id = d.subscription_id"
    " RETURNING d.id, d.msg_id, s.channel, s.target, coalesce(s.secret, ''), d.attempts,"
    " extract(epoch FROM d.created_at), jsonb_build_object('type', d.type, 'timestamp',"
    " to_char((d.payload #>> '{event,at}')::timestamptz AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'data', d.payload || jsonb_build_object('links',"
    " jsonb_build_object('alert', $4 || '/v1/alerts/' || d.alert_id)))::text";

/* $1 id, $2 lease token, $3 new state, $4 seconds until the next attempt, $5 status or NULL,
 * $6 error or NULL. No row when the lease was lost (expired and taken, or the subscription
 * removed). */
static const char sql_result[] =
    "UPDATE delivery SET state = $3, lease_until = NULL, lease_token = NULL,"
    " next_attempt_at = CASE WHEN $3 = 'pending'"
    " THEN now() + make_interval(secs => $4::float8) ELSE next_attempt_at END,"
    " delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,"
    " dead_at = CASE WHEN $3 = 'dead' THEN now() END, last_status = $5::int,"
    " last_error = $6 WHERE id = $1::bigint AND lease_token = $2 AND state = 'pending'"
    " RETURNING 1";

enum {
	COL_ID,
	COL_MSG_ID,
	COL_CHANNEL,
	COL_TARGET,
	COL_SECRET,
	COL_ATTEMPTS,
	COL_CREATED,
	COL_BODY,
	N_COLS
};

struct transfer {
	struct delivery *dl;
	struct transfer *prev, *next; /* the open transfers */
	CURL *easy;
	struct curl_slist *headers, *rcpt;
	curl_mime *mime;
	char *body;
	struct mail_message mail;
	char id[24], msg_id[48], lease[48], channel[8];
	int attempts;
	double created; /* seconds since 1970, when the outbox row was written */
	struct timespec started;
	char error[CURL_ERROR_SIZE];
	bool refused_address; /* the receiver resolved to a private address (not allowed) */
};

/* A socket curl asked us to watch. */
struct watch {
	struct delivery *dl;
	struct event *ev;
};

struct delivery {
	struct daemon *d;
	CURLM *multi;
	struct event *poll_timer, *curl_timer;
	gsl_rng *rng;
	struct transfer *open; /* transfers with a curl handle in `multi` */
	char instance[17];     /* random, per process: the first part of lease tokens */
	unsigned long long claims;
	int in_flight; /* claimed and not yet stored */
	bool claiming, stopping;
};

static void poll_later(struct delivery *dl, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(dl->poll_timer, &tv);
}

static void set_inflight(struct delivery *dl, int delta)
{
	dl->in_flight += delta;
	metrics_gauge_set(dl->d->metrics, metric_inflight, "", dl->in_flight);
}

static void channel_label(char *buf, size_t size, const char *channel)
{
	snprintf(buf, size, "channel=\"%s\"", channel);
}

/* --- outcomes ------------------------------------------------------------------------------ */

static void free_transfer(struct transfer *t)
{
	if (t->easy != NULL)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	curl_slist_free_all(t->rcpt);
	curl_mime_free(t->mime);
	mail_message_free(&t->mail);
	free(t->body);
	free(t);
}

static void on_stored(void *arg, int status, const PGresult *res)
{
	struct transfer *t = arg;
	struct delivery *dl = t->dl;
	if (status != 0)
		log_warn(
		    "delivery",
		    "could not store the outcome of delivery %s (%s); it is sent again when its "
		    "lease expires",
		    t->id, status == -EPROTO ? PQresultErrorMessage(res) : "database unavailable");
	else if (PQntuples(res) == 0)
		log_info("delivery", "delivery %s was taken over or cancelled meanwhile", t->id);
	set_inflight(dl, -1);
	free_transfer(t);
}

/* Replaces every byte that is not part of a well-formed UTF-8 character with '?' (curl's
 * messages may quote a peer's certificate, cut at any byte), so the error can be stored. */
static void utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p != '\0') {
		int len = *p < 0x80             ? 1
		          : (*p & 0xe0) == 0xc0 ? 2
		          : (*p & 0xf0) == 0xe0 ? 3
		          : (*p & 0xf8) == 0xf0 ? 4
		                                : 0;
		bool ok = len > 0 && !(len == 2 && *p < 0xc2);
		for (int k = 1; ok && k < len; k++)
			ok = (p[k] & 0xc0) == 0x80;
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += len;
	}
}

/* Records the outcome of one attempt: metrics, log, and the UPDATE of the outbox row. */
static void finish(struct transfer *t, struct retry_outcome o, long status, double retry_after)
{
	struct delivery *dl = t->dl;
	const struct config *c = dl->d->config;
	char label[64], both[128], delay[32], code[16], error[300];
	const char *state = "delivered";
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double took = (double)(now.tv_sec - t->started.tv_sec) +
	              (double)(now.tv_nsec - t->started.tv_nsec) / 1e9;
	channel_label(label, sizeof(label), t->channel);
	metrics_observe(dl->d->metrics, metric_request, label, took);
	snprintf(delay, sizeof(delay), "0");
	snprintf(code, sizeof(code), "%ld", status);
	error[0] = '\0';
	if (o.verdict == RETRY_DELIVERED) {
		metrics_counter_add(dl->d->metrics, metric_sent, label, 1);
		metrics_observe(dl->d->metrics, metric_latency, label,
		                (double)time(NULL) - t->created);
	} else {
		snprintf(both, sizeof(both), "%s,reason=\"%s\"", label, o.reason);
		metrics_counter_add(dl->d->metrics, metric_failed, both, 1);
		if (t->error[0] != '\0')
			snprintf(error, sizeof(error), "%s: %s", o.reason, t->error);
		else if (status > 0)
			snprintf(error, sizeof(error), "%s: the receiver answered %ld", o.reason,
			         status);
		else
			snprintf(error, sizeof(error), "%s", o.reason);
		utf8_clean(error);
		bool dead = o.verdict == RETRY_DEAD || t->attempts >= c->delivery_max_attempts;
		if (dead) {
			state = "dead";
			metrics_counter_add(dl->d->metrics, metric_dead, label, 1);
			log_warn("delivery", "delivery %s (%s) is dead after %d attempts: %s",
			         t->id, t->msg_id, t->attempts, error);
		} else {
			state = "pending";
			double s = retry_delay_s(t->attempts, c->delivery_backoff_base_ms,
			                         c->delivery_backoff_max_s, retry_after,
			                         gsl_rng_uniform(dl->rng));
			snprintf(delay, sizeof(delay), "%.3f", s);
			metrics_counter_add(dl->d->metrics, metric_retried, label, 1);
			log_info("delivery", "delivery %s attempt %d failed (%s); next in %s s",
			         t->id, t->attempts, error, delay);
		}
	}
	const char *params[] = {t->id,
	                        t->lease,
	                        state,
	                        delay,
	                        status > 0 ? code : NULL,
	                        error[0] != '\0' ? error : NULL};
	/* The curl handle is done with; the transfer lives on until the outcome is stored. */
	if (t->easy != NULL) {
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	if (db_pool_query(dl->d->db, sql_result, 6, params, on_stored, t) < 0) {
		log_warn("delivery",
		         "could not store the outcome of delivery %s (database unavailable); it is "
		         "sent again when its lease expires",
		         t->id);
		set_inflight(dl, -1);
		free_transfer(t);
	}
}

static void unlink_open(struct transfer *t)
{
	struct delivery *dl = t->dl;
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		dl->open = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

/* Collects finished transfers from curl. */
static void check_done(struct delivery *dl)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(dl->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct transfer *t = NULL;
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		long status = 0;
		curl_off_t retry_after = 0;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
		curl_multi_remove_handle(dl->multi, easy);
		unlink_open(t);
		bool webhook = strcmp(t->channel, "webhook") == 0;
		struct retry_outcome o =
		    webhook ? retry_classify_http(rc, status) : retry_classify_smtp(rc, status);
		if (t->refused_address) {
			o = (struct retry_outcome){RETRY_DEAD, "invalid_target"};
			snprintf(t->error, sizeof(t->error),
			         "the receiver's address is in a loopback or private network "
			         "(delivery.allow_private_networks is off)");
		}
		if (rc == CURLE_OK)
			t->error[0] = '\0';
		else if (t->error[0] == '\0')
			snprintf(t->error, sizeof(t->error), "%s", curl_easy_strerror(rc));
		finish(t, o, status, (double)retry_after);
	}
}

/* --- libcurl on libevent ------------------------------------------------------------------- */

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *dl = arg;
	int running, flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
	                     ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(dl->multi, fd, flags, &running);
	check_done(dl);
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *dl = arg;
	int running;
	curl_multi_socket_action(dl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(dl);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct delivery *dl = userp;
	struct watch *w = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_free(w->ev);
			free(w);
		}
		curl_multi_assign(dl->multi, s, NULL);
		return 0;
	}
	short events = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	               ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return -1;
		w->dl = dl;
		curl_multi_assign(dl->multi, s, w);
	} else {
		event_free(w->ev);
	}
	w->ev = event_new(dl->d->base, s, events, on_socket_ready, dl);
	if (w->ev == NULL || event_add(w->ev, NULL) < 0)
		return -1;
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct delivery *dl = userp;
	if (timeout_ms < 0) {
		evtimer_del(dl->curl_timer);
		return 0;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	return evtimer_add(dl->curl_timer, &tv);
}

/* --- one attempt --------------------------------------------------------------------------- */

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
	return size * n;
}

/* Appends "name: value" (an empty value removes a header curl would add). */
static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
	char line[2100];
	snprintf(line, sizeof(line), "%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(*list, line);
	if (l == NULL)
		return false;
	*list = l;
	return true;
}

/* What a setup that fails for want of memory means: try again later. */
static const struct retry_outcome no_memory = {RETRY_AGAIN, "network"};
static const struct retry_outcome ready = {RETRY_DELIVERED, NULL};

/* Whether an address is loopback, private, link-local, shared, multicast or unspecified: where
 * a webhook must not go unless delivery.allow_private_networks says so (a team lead could
 * otherwise make the daemon probe the network it runs in). */
static bool private_address(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
		return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
		       (a >> 22) == (100u << 2 | 1) || (a >> 16) == (169u << 8 | 254) ||
		       (a >> 20) == (172u << 4 | 1) || (a >> 16) == (192u << 8 | 168) ||
		       (a >> 28) >= 14;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			struct sockaddr_in v4 = {.sin_family = AF_INET};
			memcpy(&v4.sin_addr, a->s6_addr + 12, 4);
			return private_address((const struct sockaddr *)(const void *)&v4);
		}
		return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
		       IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
		       (a->s6_addr[0] & 0xfe) == 0xfc;
	}
	return true;
}

/* libcurl's socket opener for webhooks: refuses private addresses (see above). */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	struct transfer *t = arg;
	if (!t->dl->d->config->delivery_allow_private_networks && private_address(&address->addr)) {
		t->refused_address = true;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype, address->protocol);
}

/* Prepares a webhook POST. Returns `ready`, or why it cannot be sent (t->error says more). */
static struct retry_outcome setup_webhook(struct transfer *t, const char *target,
                                          const char *secret)
{
	const struct config *c = t->dl->d->config;
	char signature[WEBHOOK_SIGNATURE_SIZE], ts[24], agent[64];
	long long now = (long long)time(NULL);
	snprintf(ts, sizeof(ts), "%lld", now);
	snprintf(agent, sizeof(agent), "wijkradar/%s", WR_VERSION);
	if (webhook_sign(secret, t->msg_id, now, t->body, strlen(t->body), signature) < 0) {
		snprintf(t->error, sizeof(t->error), "the subscription's secret is malformed");
		return (struct retry_outcome){RETRY_DEAD, "invalid_target"};
	}
	if (!add_header(&t->headers, "content-type", "application/json") ||
	    !add_header(&t->headers, "webhook-id", t->msg_id) ||
	    !add_header(&t->headers, "webhook-timestamp", ts) ||
	    !add_header(&t->headers, "webhook-signature", signature) ||
	    !add_header(&t->headers, "user-agent", agent) ||
	    /* No "Expect: 100-continue" round trip for larger bodies. */
	    !add_header(&t->headers, "expect", ""))
		return no_memory;
	curl_easy_setopt(t->easy, CURLOPT_URL, target);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR,
	                 c->delivery_allow_http ? "http,https" : "https");
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body));
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(t->easy, CURLOPT_OPENSOCKETDATA, t);
	return ready;
}

/* Prepares an e-mail: multipart/alternative with the text and HTML parts. Returns as
 * setup_webhook. */
static struct retry_outcome setup_email(struct transfer *t, const char *target)
{
	const struct config *c = t->dl->d->config;
	char date[64], buf[300];
	time_t now = time(NULL);
	struct tm tm;
	if (c->smtp_url[0] == '\0') {
		snprintf(t->error, sizeof(t->error), "no SMTP server is configured (smtp.url)");
		return (struct retry_outcome){RETRY_AGAIN, "not_configured"};
	}
	int r = mail_render(t->body, t->msg_id, &t->mail);
	if (r < 0) {
		snprintf(t->error, sizeof(t->error), "could not render the e-mail: %s",
		         strerror(-r));
		return r == -ENOMEM ? no_memory
		                    : (struct retry_outcome){RETRY_DEAD, "invalid_target"};
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	char from[300], to[2010], message_id[80];
	snprintf(from, sizeof(from), "wijkradar <%s>", c->smtp_from);
	snprintf(to, sizeof(to), "<%s>", target);
	snprintf(message_id, sizeof(message_id), "<%s@wijkradar>", t->msg_id);
	snprintf(buf, sizeof(buf), "<%s>", c->smtp_from);
	curl_easy_setopt(t->easy, CURLOPT_MAIL_FROM, buf);
	if ((t->rcpt = curl_slist_append(NULL, to)) == NULL ||
	    !add_header(&t->headers, "Date", date) || !add_header(&t->headers, "From", from) ||
	    !add_header(&t->headers, "To", to) ||
	    !add_header(&t->headers, "Subject", t->mail.subject) ||
	    !add_header(&t->headers, "Message-ID", message_id) ||
	    !add_header(&t->headers, "Auto-Submitted", "auto-generated"))
		return no_memory;
	/* multipart/alternative at the top: libcurl keeps a Content-Type given among the headers
	 * and adds the boundary itself. */
	if (!add_header(&t->headers, "Content-Type", "multipart/alternative"))
		return no_memory;
	t->mime = curl_mime_init(t->easy);
	if (t->mime == NULL)
		return no_memory;
	const char *bodies[] = {t->mail.text, t->mail.html};
	const char *types[] = {"text/plain; charset=utf-8", "text/html; charset=utf-8"};
	for (int i = 0; i < 2; i++) {
		curl_mimepart *part = curl_mime_addpart(t->mime);
		if (part == NULL ||
		    curl_mime_data(part, bodies[i], CURL_ZERO_TERMINATED) != CURLE_OK ||
		    curl_mime_type(part, types[i]) != CURLE_OK ||
		    curl_mime_encoder(part, "quoted-printable") != CURLE_OK)
			return no_memory;
	}
	curl_easy_setopt(t->easy, CURLOPT_URL, c->smtp_url);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(t->easy, CURLOPT_MAIL_RCPT, t->rcpt);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_MIMEPOST, t->mime);
	/* With a password to send, TLS is required whatever smtp.starttls says. */
	bool login = c->smtp_username[0] != '\0';
	curl_easy_setopt(t->easy, CURLOPT_USE_SSL,
	                 strcmp(c->smtp_starttls, "require") == 0 || login ? (long)CURLUSESSL_ALL
	                 : strcmp(c->smtp_starttls, "try") == 0            ? (long)CURLUSESSL_TRY
	                                                                   : (long)CURLUSESSL_NONE);
	if (login) {
		curl_easy_setopt(t->easy, CURLOPT_USERNAME, c->smtp_username);
		curl_easy_setopt(t->easy, CURLOPT_PASSWORD, c->smtp_password);
	}
	return ready;
}

/* Starts one claimed delivery (row `i` of the claim). */
static void start(struct delivery *dl, const PGresult *res, int i)
{
	const struct config *c = dl->d->config;
	struct transfer *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		log_error("delivery", "out of memory starting delivery %s",
		          PQgetvalue(res, i, COL_ID));
		return; /* its lease expires and it is claimed again */
	}
	t->dl = dl;
	snprintf(t->id, sizeof(t->id), "%s", PQgetvalue(res, i, COL_ID));
	snprintf(t->msg_id, sizeof(t->msg_id), "%s", PQgetvalue(res, i, COL_MSG_ID));
	snprintf(t->channel, sizeof(t->channel), "%s", PQgetvalue(res, i, COL_CHANNEL));
	snprintf(t->lease, sizeof(t->lease), "%s-%llu", dl->instance, dl->claims);
	t->attempts = atoi(PQgetvalue(res, i, COL_ATTEMPTS));
	t->created = strtod(PQgetvalue(res, i, COL_CREATED), NULL);
	clock_gettime(CLOCK_MONOTONIC, &t->started);
	set_inflight(dl, 1);
	t->body = strdup(PQgetvalue(res, i, COL_BODY));
	t->easy = curl_easy_init();
	const char *target = PQgetvalue(res, i, COL_TARGET);
	struct retry_outcome o = t->body == NULL || t->easy == NULL ? no_memory
	                         : strcmp(t->channel, "webhook") == 0
	                             ? setup_webhook(t, target, PQgetvalue(res, i, COL_SECRET))
	                             : setup_email(t, target);
	if (o.verdict != RETRY_DELIVERED) {
		if (t->error[0] == '\0')
			snprintf(t->error, sizeof(t->error), "out of memory");
		finish(t, o, 0, 0);
		return;
	}
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long)c->delivery_timeout_s * 1000L);
	if (c->delivery_ca_file[0] != '\0')
		curl_easy_setopt(t->easy, CURLOPT_CAINFO, c->delivery_ca_file);
	t->next = dl->open;
	if (dl->open != NULL)
		dl->open->prev = t;
	dl->open = t;
	if (curl_multi_add_handle(dl->multi, t->easy) != CURLM_OK) {
		unlink_open(t);
		snprintf(t->error, sizeof(t->error), "could not start the transfer");
		finish(t, (struct retry_outcome){RETRY_AGAIN, "network"}, 0, 0);
	}
}

/* --- claiming ------------------------------------------------------------------------------ */

static void on_claimed(void *arg, int status, const PGresult *res)
{
	struct delivery *dl = arg;
	dl->claiming = false;
	if (status == -ECANCELED)
		return;
	if (status != 0) {
		log_warn("delivery", "could not claim deliveries: %s",
		         status == -EPROTO ? PQresultErrorMessage(res) : "database unavailable");
		poll_later(dl, dl->d->config->delivery_poll_interval_ms);
		return;
	}
	int n = PQntuples(res);
	if (n > 0 && PQnfields(res) == N_COLS) {
		dl->claims++;
		for (int i = 0; i < n; i++)
			start(dl, res, i);
	}
	/* A full batch: more may be due at once. */
	int asked = dl->d->config->delivery_max_in_flight;
	poll_later(dl,
	           n > 0 && dl->in_flight < asked ? 0 : dl->d->config->delivery_poll_interval_ms);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct delivery *dl = arg;
	const struct config *c = dl->d->config;
	if (dl->stopping || dl->claiming)
		return;
	int room = c->delivery_max_in_flight - dl->in_flight;
	if (!c->delivery_enabled || room <= 0 || db_pool_n_up(dl->d->db) == 0) {
		poll_later(dl, c->delivery_poll_interval_ms);
		return;
	}
	char n[16], lease_s[16], per_sub[16], token[48], max_attempts[16];
	snprintf(n, sizeof(n), "%d", room);
	snprintf(max_attempts, sizeof(max_attempts), "%d", c->delivery_max_attempts);
	snprintf(lease_s, sizeof(lease_s), "%d", c->delivery_timeout_s + LEASE_MARGIN_S);
	snprintf(per_sub, sizeof(per_sub), "%d", c->delivery_max_per_subscription);
	snprintf(token, sizeof(token), "%s-%llu", dl->instance, dl->claims + 1);
	const char *params[] = {n,     lease_s,     per_sub, c->delivery_public_base_url,
	                        token, max_attempts};
	if (db_pool_query(dl->d->db, sql_claim, 6, params, on_claimed, dl) < 0) {
		poll_later(dl, c->delivery_poll_interval_ms);
		return;
	}
	dl->claiming = true;
}

/* --- life cycle ---------------------------------------------------------------------------- */

static int declare_metrics(struct metrics *m)
{
	static const char *const channels[] = {"channel=\"webhook\"", "channel=\"email\""};
	if (metrics_declare(m, metric_sent, METRICS_COUNTER,
	                    "Delivery attempts that delivered, by channel") < 0 ||
	    metrics_declare(m, metric_failed, METRICS_COUNTER,
	                    "Delivery attempts that failed, by channel and reason") < 0 ||
	    metrics_declare(m, metric_retried, METRICS_COUNTER,
	                    "Failed delivery attempts that will be retried, by channel") < 0 ||
	    metrics_declare(m, metric_dead, METRICS_COUNTER,
	                    "Deliveries given up (dead letters), by channel") < 0 ||
	    metrics_declare(m, metric_inflight, METRICS_GAUGE,
	                    "Delivery attempts open now in this daemon") < 0 ||
	    metrics_declare(m, metric_latency, METRICS_HISTOGRAM,
	                    "Seconds from the alert change to its confirmed delivery") < 0 ||
	    metrics_declare(m, metric_request, METRICS_HISTOGRAM,
	                    "Seconds one delivery attempt took") < 0 ||
	    metrics_gauge_set(m, metric_inflight, "", 0) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < 2; i++) {
		if (metrics_counter_add(m, metric_sent, channels[i], 0) < 0 ||
		    metrics_counter_add(m, metric_retried, channels[i], 0) < 0 ||
		    metrics_counter_add(m, metric_dead, channels[i], 0) < 0)
			return -ENOMEM;
	}
	return 0;
}

struct delivery *delivery_start(struct daemon *d)
{
	unsigned char rnd[8];
	struct delivery *dl = calloc(1, sizeof(*dl));
	if (dl == NULL)
		return NULL;
	dl->d = d;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(dl);
		errno = EIO;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(dl->instance + 2 * i, 3, "%02x", rnd[i]);
	dl->multi = curl_multi_init();
	dl->poll_timer = evtimer_new(d->base, on_poll, dl);
	dl->curl_timer = evtimer_new(d->base, on_curl_timer, dl);
	dl->rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (dl->multi == NULL || dl->poll_timer == NULL || dl->curl_timer == NULL ||
	    dl->rng == NULL || declare_metrics(d->metrics) < 0) {
		delivery_free(dl);
		errno = ENOMEM;
		return NULL;
	}
	gsl_rng_set(dl->rng, (unsigned long)rnd[0] << 24 ^ (unsigned long)time(NULL) ^
	                         (unsigned long)getpid());
	curl_multi_setopt(dl->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(dl->multi, CURLMOPT_SOCKETDATA, dl);
	curl_multi_setopt(dl->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(dl->multi, CURLMOPT_TIMERDATA, dl);
	poll_later(dl, 0);
	return dl;
}

void delivery_stop(struct delivery *dl)
{
	if (dl != NULL) {
		dl->stopping = true;
		evtimer_del(dl->poll_timer);
	}
}

int delivery_n_inflight(const struct delivery *dl)
{
	/* A claim being answered counts: its rows are leased, and are started when it comes. */
	return dl != NULL ? dl->in_flight + (dl->claiming ? 1 : 0) : 0;
}

void delivery_free(struct delivery *dl)
{
	if (dl == NULL)
		return;
	if (dl->open != NULL)
		log_warn("delivery", "abandoning deliveries in flight; they are sent again when "
		                     "their leases expire");
	while (dl->open != NULL) {
		struct transfer *t = dl->open;
		unlink_open(t);
		curl_multi_remove_handle(dl->multi, t->easy);
		free_transfer(t);
	}
	if (dl->multi != NULL)
		curl_multi_cleanup(dl->multi);
	if (dl->poll_timer != NULL)
		event_free(dl->poll_timer);
	if (dl->curl_timer != NULL)
		event_free(dl->curl_timer);
	if (dl->rng != NULL)
		gsl_rng_free(dl->rng);
	free(dl);
}
