/* POST /v1/signals (see api_ingest.h). One upload is a small state machine over three
 * asynchronous queries: token lookup, reference check, store. The store is one statement
 * (signals, persons counted, weekly counts), so it commits whole or not at all, and the reply
 * is sent only after PostgreSQL has answered for it. */
#include "api_ingest.h"

#include "api.h"
#include "auth.h"
#include "codec.h"
#include "ingest.h"
#include "log.h"
#include "pgarray.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct api_ingest {
	struct daemon *d;
	int inflight;
};

/* The columns sent as arrays, in parameter order after $1 organisation, $2 source,
 * $3 batch_id. */
enum col {
	C_SIGNAL_ID,
	C_TEAM,
	C_AREA_YEAR,
	C_AREA_CODE,
	C_WEEK,
	C_KIND,
	C_THEME,
	C_AGE_BAND,
	C_SUBJECT,
	C_TRAJECTORY,
	C_MODE,
	C_INSTRUMENT,
	C_DOMAIN,
	C_PHASE,
	C_SCORE,
	C_EVENT,
	N_COLS,
};

/* $4..$19: the columns above; every array has one element per signal. */
static const char sql_store[] =
    "WITH input AS ("
    " SELECT * FROM unnest($4::text[], $5::text[], $6::smallint[], $7::text[], $8::date[],"
    " $9::text[], $10::text[], $11::smallint[], $12::text[], $13::text[], $14::text[],"
    " $15::text[], $16::text[], $17::text[], $18::float8[], $19::text[])"
    " AS t(signal_id, team, area_year, area_code, week, kind, theme, age_band, subject,"
    " trajectory, mode, instrument, domain, phase, score, event)"
    "), keyed AS ("
    " INSERT INTO signal_key (organisation, source, signal_id, week)"
    " SELECT $1, $2, signal_id, week FROM input ORDER BY signal_id"
    " ON CONFLICT DO NOTHING RETURNING signal_id"
    "), ins AS ("
    " INSERT INTO signal (organisation, source, signal_id, batch_id, team, area_year,"
    " area_code, week, kind, theme, age_band, subject, trajectory, mode, instrument, domain,"
    " phase, score, event)"
    " SELECT $1, $2, signal_id, $3, team, area_year, area_code, week, kind, theme, age_band,"
    " decode(subject, 'hex'), decode(trajectory, 'hex'), mode, instrument, domain, phase,"
    " score, event FROM input WHERE signal_id IN (SELECT signal_id FROM keyed)"
    " RETURNING kind, area_year, area_code, theme, week, subject"
    "), persons AS ("
    " INSERT INTO need_person_week (organisation, area_year, area_code, theme, week, subject)"
    " SELECT DISTINCT $1::text, area_year, area_code, theme, week, subject FROM ins"
    " WHERE kind = 'need' ORDER BY 2, 3, 4, 5, 6"
    " ON CONFLICT DO NOTHING"
    " RETURNING area_year, area_code, theme, week"
    "), counted AS ("
    " INSERT INTO need_week_count (organisation, area_year, area_code, theme, week, persons)"
    " SELECT $1::text, area_year, area_code, theme, week, count(*) FROM persons"
    " GROUP BY area_year, area_code, theme, week ORDER BY 2, 3, 4, 5"
    " ON CONFLICT (area_year, area_code, theme, week, organisation)"
    " DO UPDATE SET persons = need_week_count.persons + EXCLUDED.persons"
    " RETURNING 1"
    "), logged AS ("
    " INSERT INTO ingest_log (organisation, source, batch_id, received, stored, rejected)"
    " SELECT $1, $2, $3, cardinality($4::text[]), (SELECT count(*) FROM ins), 0"
    ")"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM counted)";

/* $1 organisation, $2 source, $3 batch id, $4 received, $5 rejected: a rejected upload, for
 * the data-quality indicator of the benchmark. */
static const char sql_log_rejected[] =
    "INSERT INTO ingest_log (organisation, source, batch_id, received, stored, rejected)"
    " VALUES ($1, $2, $3, $4::int, 0, $5::int)";

/* $1 area_year[], $2 area_code[], $3 theme[], $4 instrument[], $5 score[]: the references
 * that must exist (and the score range). Returns index (0-based), field, reason, total. */
static const char sql_refcheck[] =
    "SELECT i, field, reason, count(*) OVER () FROM ("
    " SELECT u.i,"
    " CASE WHEN a.code IS NULL THEN 'area_code'"
    " WHEN th.code IS NULL THEN 'theme'"
    " WHEN u.instrument IS NOT NULL AND ins.code IS NULL THEN 'instrument'"
    " WHEN u.instrument IS NOT NULL AND NOT (u.score BETWEEN ins.score_min AND ins.score_max)"
    " THEN 'score' END AS field,"
    " CASE WHEN a.code IS NULL"
    " THEN format('unrecognized area \"%s\" for year %s', u.area_code, u.area_year)"
    " WHEN th.code IS NULL THEN format('unrecognized theme: \"%s\"', u.theme)"
    " WHEN u.instrument IS NOT NULL AND ins.code IS NULL"
    " THEN format('unrecognized instrument: \"%s\"', u.instrument)"
    " ELSE format('score %s is outside the range of %s (%s to %s)', u.score, ins.code,"
    " ins.score_min, ins.score_max) END AS reason"
    " FROM unnest($1::smallint[], $2::text[], $3::text[], $4::text[], $5::float8[],"
    " $6::int[]) AS u(area_year, area_code, theme, instrument, score, i)"
    " LEFT JOIN area a ON a.year = u.area_year AND a.code = u.area_code"
    " LEFT JOIN theme th ON th.code = u.theme"
    " LEFT JOIN instrument ins ON ins.code = u.instrument"
    ") t WHERE field IS NOT NULL ORDER BY i LIMIT 100";

static const char *const kind_names[] = {NULL, "need", "contact", "outcome", "trajectory"};
static const char *const kind_fields[] = {"kind", "need", "contact", "outcome", "trajectory_event"};
static const char *const mode_values[] = {NULL, "individual", "online", "group"};
static const char *const phase_values[] = {NULL, "intake", "intermediate", "end", "follow_up"};
static const char *const event_values[] = {NULL, "opened", "closed"};

/* One upload in flight. It is answered exactly once (answered()), and freed (release()) once
 * it is answered and no database call of it is pending: a deadline may answer before
 * PostgreSQL does, and the late result must still find it. */
struct upload {
	struct api_ingest *a;
	struct http_req *hr; /* NULL once answered */
	bool in_db;          /* a database call is pending */
	struct event *deadline;
	bool json;
	char *body;
	size_t len;
	struct batch *b;
	struct pgarray cols[N_COLS];
	struct pgarray index; /* original index of each signal in the column arrays */
	bool *bad;            /* [n_signals]: rejected by ingest_validate */
	struct ingest_report rep;
	struct timespec start;
};

static void count(struct api_ingest *a, const char *name, const char *labels, double n)
{
	metrics_counter_add(a->d->metrics, name, labels, n);
}

static void release(struct upload *u)
{
	u->a->inflight--;
	if (u->deadline != NULL)
		event_free(u->deadline);
	batch_free(u->b);
	for (int c = 0; c < N_COLS; c++)
		pgarray_free(&u->cols[c]);
	pgarray_free(&u->index);
	free(u->bad);
	free(u->body);
	free(u);
}

/* After the one reply: free now, or when the pending database call returns. */
static void answered(struct upload *u)
{
	u->hr = NULL;
	if (u->deadline != NULL)
		evtimer_del(u->deadline);
	if (!u->in_db)
		release(u);
}

/* Start of every database callback. Returns false when the upload was answered meanwhile (by
 * the deadline) and has now been freed: the callback must return at once. */
static bool back_from_db(struct upload *u)
{
	u->in_db = false;
	if (u->hr != NULL)
		return true;
	release(u);
	return false;
}

/* Replies with an error and ends the upload; `result` labels the batch metric. */
static void fail(struct upload *u, int status, const char *result, const char *code,
                 const char *msg, const char *detail)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	count(u->a, "wijkradar_ingest_batches_total", labels, 1);
	if (status == 503)
		http_req_add_header(u->hr, "Retry-After", "5");
	if (status == 401)
		http_req_add_header(u->hr, "WWW-Authenticate", "Bearer realm=\"wijkradar\"");
	http_reply_error(u->hr, status, code, msg, detail, NULL);
	answered(u);
}

/* The reply for a database failure: unavailable (retry later) or internal. */
static void fail_db(struct upload *u, int status, const PGresult *res, const char *step)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (status == -EPROTO && state != NULL &&
	    (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	     (strncmp(state, "08", 2) == 0 && strcmp(state, "08P01") != 0) ||
	     strncmp(state, "57", 2) == 0)) {
		/* serialization, deadlock, connection, shutdown: retry. 08P01 (protocol violation)
		 * is a bug of ours, not the database's: it must show as 500 and in the log. */
		status = -EAGAIN;
	}
	if (status == -ENOMEM) {
		fail(u, 500, "error", "internal", "out of memory", "Nothing was stored.");
		return;
	}
	if (status == -EPROTO) {
		log_error("ingest", "request %s: %s failed with SQLSTATE %s", http_req_id(u->hr),
		          step, state != NULL ? state : "?");
		fail(u, 500, "error", "internal", "could not store the batch",
		     "Nothing was stored. The error is in the daemon's log.");
		return;
	}
	fail(u, 503, "unavailable", "database_unavailable",
	     "could not store the batch: the database is not available",
	     "Nothing was acknowledged; send the batch again later (re-sending is harmless).");
}

static json_t *rejections_json(const struct upload *u)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < u->rep.n_items; i++) {
		const struct ingest_rejection *r = &u->rep.items[i];
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s}", "index",
		                                     (json_int_t)r->index, "signal_id",
		                                     u->b->signals[r->index].signal_id, "field",
		                                     r->field, "reason", r->reason));
		char labels[80];
		snprintf(labels, sizeof(labels), "field=\"%s\"", r->field);
		count(u->a, "wijkradar_ingest_rejections_total", labels, 1);
	}
	return arr;
}

static void on_logged(void *arg, int status, const PGresult *res)
{
	if (status != 0)
		log_warn("ingest", "could not log a rejected upload: %s",
		         status == -EPROTO ? PQresultErrorMessage(res) : "database unavailable");
}

static void reply_rejected(struct upload *u)
{
	char msg[128], received[24], rejected[24];
	snprintf(received, sizeof(received), "%zu", u->b->n_signals);
	snprintf(rejected, sizeof(rejected), "%zu", u->rep.n_rejected);
	const char *params[] = {u->b->organisation, u->b->source, u->b->batch_id, received,
	                        rejected};
	/* Counts only, and best effort: the answer to the source does not wait for it. */
	if (db_pool_query(u->a->d->db, sql_log_rejected, 5, params, on_logged, NULL) < 0)
		log_warn("ingest", "could not log a rejected upload: database unavailable");
	snprintf(msg, sizeof(msg), "batch rejected: %zu of %zu signals are invalid",
	         u->rep.n_rejected, u->b->n_signals);
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "error", msg, "detail",
	              "Nothing was stored. Correct the signals listed and send the whole "
	              "batch again.",
	              "code", "invalid_signals", "batch_id", u->b->batch_id, "received",
	              (json_int_t)u->b->n_signals, "stored", (json_int_t)0, "rejected_count",
	              (json_int_t)u->rep.n_rejected, "rejected", rejections_json(u));
	count(u->a, "wijkradar_ingest_batches_total", "result=\"rejected\"", 1);
	count(u->a, "wijkradar_ingest_signals_total", "result=\"rejected\"",
	      (double)u->b->n_signals);
	log_info("ingest", "request %s: batch %s from %s/%s rejected: %zu of %zu signals invalid",
	         http_req_id(u->hr), u->b->batch_id, u->b->organisation, u->b->source,
	         u->rep.n_rejected, u->b->n_signals);
	http_reply_json(u->hr, 422, o);
	answered(u);
}

static void on_stored(void *arg, int status, const PGresult *res)
{
	struct upload *u = arg;
	if (!back_from_db(u))
		return;
	if (status != 0) {
		/* A foreign key failing here means an area vanished since the check. */
		const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (state != NULL && strcmp(state, "23503") == 0) {
			fail(u, 422, "rejected", "invalid_signals",
			     "batch rejected: it refers to an area or theme that no longer exists",
			     "Nothing was stored.");
			return;
		}
		fail_db(u, status, res, "storing the batch");
		return;
	}
	long long stored = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	long long n = (long long)u->b->n_signals;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double ms = (double)(now.tv_sec - u->start.tv_sec) * 1e3 +
	            (double)(now.tv_nsec - u->start.tv_nsec) / 1e6;
	count(u->a, "wijkradar_ingest_batches_total", "result=\"stored\"", 1);
	count(u->a, "wijkradar_ingest_signals_total", "result=\"stored\"", (double)stored);
	count(u->a, "wijkradar_ingest_signals_total", "result=\"duplicate\"", (double)(n - stored));
	metrics_observe(u->a->d->metrics, "wijkradar_ingest_batch_seconds", "", ms / 1e3);
	log_info("ingest",
	         "request %s: batch %s from %s/%s: %lld received, %lld stored, "
	         "%lld duplicates (%.1f ms)",
	         http_req_id(u->hr), u->b->batch_id, u->b->organisation, u->b->source, n, stored,
	         n - stored, ms);
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:[]}", "batch_id", u->b->batch_id, "received",
	                      (json_int_t)n, "stored", (json_int_t)stored, "duplicates",
	                      (json_int_t)(n - stored), "rejected");
	http_reply_json(u->hr, 200, o);
	answered(u);
}

static void store(struct upload *u)
{
	const char *params[3 + N_COLS] = {u->b->organisation, u->b->source, u->b->batch_id};
	for (int c = 0; c < N_COLS; c++) {
		params[3 + c] = pgarray_text(&u->cols[c]);
		if (params[3 + c] == NULL) {
			fail(u, 500, "error", "internal", "out of memory", NULL);
			return;
		}
	}
	int r = db_pool_query(u->a->d->db, sql_store, 3 + N_COLS, params, on_stored, u);
	u->in_db = r == 0;
	if (r < 0)
		fail_db(u, r, NULL, "storing the batch");
}

static void on_refcheck(void *arg, int status, const PGresult *res)
{
	struct upload *u = arg;
	if (!back_from_db(u))
		return;
	if (status != 0) {
		fail_db(u, status, res, "checking references");
		return;
	}
	int rows = PQntuples(res);
	if (rows == 0 && u->rep.n_rejected == 0) {
		store(u);
		return;
	}
	for (int i = 0; i < rows; i++) {
		size_t idx = (size_t)strtoull(PQgetvalue(res, i, 0), NULL, 10);
		const char *field = PQgetvalue(res, i, 1);
		char full[48];
		if (idx >= u->b->n_signals)
			continue;
		/* Name the field as the wire format does: "need.theme", "outcome.score". */
		if (strcmp(field, "area_code") == 0)
			snprintf(full, sizeof(full), "%s", field);
		else
			snprintf(full, sizeof(full), "%s.%s", kind_fields[u->b->signals[idx].kind],
			         field);
		ingest_reject(&u->rep, idx, full, PQgetvalue(res, i, 2));
	}
	/* Kept items were counted one by one; the database counted all of its own. */
	if (rows > 0)
		u->rep.n_rejected +=
		    (size_t)strtoull(PQgetvalue(res, 0, 3), NULL, 10) - (size_t)rows;
	ingest_report_sort(&u->rep);
	reply_rejected(u);
}

/* Fills the column arrays with the signals that passed validation (all of them when the batch
 * will be stored), re-keying pseudonyms. Returns 0, -ENOMEM or -EIO. */
static int build_columns(struct upload *u)
{
	const struct pseudonym_key *key = u->a->d->pseudonym_key;
	for (size_t i = 0; i < u->b->n_signals; i++) {
		const struct signal *s = &u->b->signals[i];
		if (u->bad[i])
			continue;
		pgarray_add_long(&u->index, (long)i);
		struct isoweek w;
		char week[16], subject[65], trajectory[65];
		if (isoweek_parse(s->iso_week, &w) < 0 || isoweek_monday(w, week, sizeof(week)) < 0)
			return -EIO; /* validated before; cannot happen */
		if (pseudonym_rekey_hex(key, s->subject, subject) < 0)
			return -EIO;
		if (s->trajectory[0] != '\0' &&
		    pseudonym_rekey_hex(key, s->trajectory, trajectory) < 0)
			return -EIO;
		bool outcome = s->kind == SIGNAL_KIND_OUTCOME;
		pgarray_add(&u->cols[C_SIGNAL_ID], s->signal_id);
		pgarray_add(&u->cols[C_TEAM], s->team);
		pgarray_add_long(&u->cols[C_AREA_YEAR], s->area_year);
		pgarray_add(&u->cols[C_AREA_CODE], s->area_code);
		pgarray_add(&u->cols[C_WEEK], week);
		pgarray_add(&u->cols[C_KIND], kind_names[s->kind]);
		pgarray_add(&u->cols[C_THEME], s->theme);
		pgarray_add_long(&u->cols[C_AGE_BAND], s->age_band);
		pgarray_add(&u->cols[C_SUBJECT], subject);
		pgarray_add(&u->cols[C_TRAJECTORY], s->trajectory[0] != '\0' ? trajectory : NULL);
		pgarray_add(&u->cols[C_MODE],
		            s->kind == SIGNAL_KIND_CONTACT ? mode_values[s->mode] : NULL);
		pgarray_add(&u->cols[C_INSTRUMENT], outcome ? s->instrument : NULL);
		pgarray_add(&u->cols[C_DOMAIN], outcome ? s->domain : NULL);
		pgarray_add(&u->cols[C_PHASE], outcome ? phase_values[s->phase] : NULL);
		if (outcome)
			pgarray_add_double(&u->cols[C_SCORE], s->score);
		else
			pgarray_add(&u->cols[C_SCORE], NULL);
		pgarray_add(&u->cols[C_EVENT],
		            s->kind == SIGNAL_KIND_TRAJECTORY ? event_values[s->event] : NULL);
	}
	for (int c = 0; c < N_COLS; c++) {
		if (u->cols[c].failed)
			return -ENOMEM;
	}
	return u->index.failed ? -ENOMEM : 0;
}

static void check_references(struct upload *u)
{
	const char *params[6] = {
	    pgarray_text(&u->cols[C_AREA_YEAR]), pgarray_text(&u->cols[C_AREA_CODE]),
	    pgarray_text(&u->cols[C_THEME]),     pgarray_text(&u->cols[C_INSTRUMENT]),
	    pgarray_text(&u->cols[C_SCORE]),     pgarray_text(&u->index)};
	for (int i = 0; i < 6; i++) {
		if (params[i] == NULL) {
			fail(u, 500, "error", "internal", "out of memory", NULL);
			return;
		}
	}
	int r = db_pool_query(u->a->d->db, sql_refcheck, 6, params, on_refcheck, u);
	u->in_db = r == 0;
	if (r < 0)
		fail_db(u, r, NULL, "checking references");
}

static void on_auth(void *arg, int status, const struct auth_principal *p)
{
	struct upload *u = arg;
	if (!back_from_db(u))
		return;
	struct codec_error ce = {"", ""};
	struct err e;
	char msg[256];
	if (status == -EACCES) {
		fail(u, 401, "unauthorized", "unauthorized",
		     "missing, unknown, expired or revoked bearer token",
		     "Send \"Authorization: Bearer wr_...\" with a token made by \"wijkradar token "
		     "create\".");
		return;
	}
	if (status != 0) {
		fail_db(u, status, NULL, "checking the token");
		return;
	}
	if (api_rate_limit(u->a->d, u->hr, p, msg, sizeof(msg)) > 0) {
		fail(u, 429, "rate_limited", "rate_limited", msg,
		     "Nothing was stored. " API_RATE_LIMIT_HINT);
		return;
	}
	if (p->role != AUTH_SOURCE && p->role != AUTH_ADMIN) {
		snprintf(msg, sizeof(msg), "a token with role \"%s\" cannot upload signals",
		         auth_role_name(p->role));
		fail(u, 403, "forbidden", "forbidden", msg, NULL);
		return;
	}
	size_t max = (size_t)u->a->d->config->ingest_max_signals;
	int r = u->json ? codec_decode_json(u->body, u->len, max, &u->b, &ce)
	                : codec_decode_protobuf((const uint8_t *)u->body, u->len, max, &u->b, &ce);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "could not decode upload batch: %s%s%s", ce.field,
		         ce.field[0] != '\0' ? ": " : "", ce.msg);
		if (r == -E2BIG)
			fail(u, 413, "too_large", "too_many_signals", msg,
			     "Split the upload into smaller batches "
			     "(ingest.max_signals_per_batch).");
		else if (r == -ENOMEM)
			fail(u, 500, "error", "internal", "out of memory", NULL);
		else
			fail(u, 400, "bad_request", "malformed_batch", msg, NULL);
		return;
	}
	err_clear(&e);
	if (ingest_check_batch(u->b, &e) < 0) {
		fail(u, e.http_status, "rejected", e.code, e.msg, NULL);
		return;
	}
	if (strcmp(u->b->organisation, p->organisation) != 0 ||
	    (p->source[0] != '\0' && strcmp(u->b->source, p->source) != 0)) {
		snprintf(msg, sizeof(msg),
		         "this token may not write signals for organisation \"%.64s\", source "
		         "\"%.64s\"",
		         u->b->organisation, u->b->source);
		fail(u, 403, "forbidden", "forbidden", msg, NULL);
		return;
	}
	struct ingest_params ip;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	ip.current_week = isoweek_from_date(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	ip.max_age_weeks = u->a->d->config->ingest_max_age_weeks;
	/* Signals that fail here are listed together with those whose areas, themes or
	 * instruments the database does not know: one answer lists every problem. */
	u->bad = calloc(u->b->n_signals + 1, sizeof(*u->bad));
	r = u->bad == NULL ? -ENOMEM : ingest_validate(u->b, &ip, &u->rep, u->bad);
	if (r == 0 || r == -EINVAL)
		r = build_columns(u);
	if (r < 0) {
		fail(u, 500, "error", "internal", "could not prepare the batch", NULL);
		return;
	}
	check_references(u);
}

/* The database did not finish in time: answer 503 now; the pending call frees the upload. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct upload *u = arg;
	log_warn("ingest", "request %s: no answer from the database within %d s",
	         http_req_id(u->hr), u->a->d->config->ingest_timeout_s);
	fail(u, 503, "unavailable", "database_timeout",
	     "could not store the batch: the database did not answer in time",
	     "The batch was not acknowledged; send it again later (re-sending is harmless).");
}

/* "application/x-protobuf; charset=..." -> protobuf. Returns 0 (protobuf), 1 (JSON), -1. */
static int content_kind(const char *ct)
{
	static const char *const protobuf[] = {"application/x-protobuf", "application/protobuf",
	                                       "application/vnd.google.protobuf"};
	if (ct == NULL)
		return -1;
	size_t n = strcspn(ct, "; \t");
	for (size_t i = 0; i < 3; i++) {
		if (strlen(protobuf[i]) == n && strncasecmp(ct, protobuf[i], n) == 0)
			return 0;
	}
	return n == 16 && strncasecmp(ct, "application/json", n) == 0 ? 1 : -1;
}

static void on_post_signals(struct http_req *hr, void *arg)
{
	struct api_ingest *a = arg;
	int kind = content_kind(http_req_header(hr, "Content-Type"));
	if (kind < 0) {
		count(a, "wijkradar_ingest_batches_total", "result=\"bad_request\"", 1);
		http_reply_error(hr, 415, "unsupported_media_type",
		                 "unsupported content type for an upload",
		                 "Send \"application/x-protobuf\" (SignalBatch) or "
		                 "\"application/json\".",
		                 NULL);
		return;
	}
	if (a->inflight >= a->d->config->ingest_max_inflight) {
		count(a, "wijkradar_ingest_batches_total", "result=\"unavailable\"", 1);
		http_req_add_header(hr, "Retry-After", "1");
		http_reply_error(hr, 503, "overloaded", "too many uploads in progress",
		                 "Nothing was stored; send the batch again shortly.", NULL);
		return;
	}
	struct upload *u = calloc(1, sizeof(*u));
	if (u == NULL) {
		http_reply_error(hr, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	a->inflight++;
	u->a = a;
	u->hr = hr;
	u->json = kind == 1;
	clock_gettime(CLOCK_MONOTONIC, &u->start);
	int ms = a->d->config->ingest_timeout_s * 1000;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	u->deadline = evtimer_new(a->d->base, on_deadline, u);
	int r = u->deadline != NULL && evtimer_add(u->deadline, &tv) == 0 ? 0 : -ENOMEM;
	if (r == 0)
		r = http_req_body(hr, &u->body, &u->len);
	if (r == 0)
		r = auth_check(a->d->db, http_req_header(hr, "Authorization"), on_auth, u);
	u->in_db = r == 0;
	if (r < 0)
		fail_db(u, r, NULL, "checking the token");
}

struct api_ingest *api_ingest_start(struct daemon *d)
{
	struct metrics *m = d->metrics;
	struct api_ingest *a = calloc(1, sizeof(*a));
	if (a == NULL)
		goto nomem;
	a->d = d;
	if (metrics_declare(
	        m, "wijkradar_ingest_batches_total", METRICS_COUNTER,
	        "Upload batches answered, by result (stored, rejected, unauthorized, "
	        "forbidden, rate_limited, bad_request, too_large, unavailable, error)") < 0 ||
	    metrics_declare(m, "wijkradar_ingest_signals_total", METRICS_COUNTER,
	                    "Signals received, by result (stored, duplicate, rejected)") < 0 ||
	    metrics_declare(m, "wijkradar_ingest_rejections_total", METRICS_COUNTER,
	                    "Rejected signals, by the field at fault") < 0 ||
	    metrics_declare(m, "wijkradar_ingest_batch_seconds", METRICS_HISTOGRAM,
	                    "Time from upload to commit of a stored batch") < 0)
		goto nomem;
	if (http_route(d->http, "/v1/signals", EVHTTP_REQ_POST, on_post_signals, a) < 0)
		goto nomem;
	return a;
nomem:
	free(a);
	errno = ENOMEM;
	return NULL;
}

void api_ingest_free(struct api_ingest *a)
{
	free(a);
}
