/* Batch validation (see ingest.h). Each signal reports its first problem only, so that a
 * source with one systematic error gets one clear line per signal, not a wall of them.
 * The identifying-data checks run on every code field: codes are never free text, and a value
 * that could be a BSN, an e-mail address, a phone number or a date is refused. */
#include "ingest.h"

#include "area_csv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_MAX 64

void ingest_reject(struct ingest_report *rep, size_t index, const char *field, const char *reason)
{
	if (rep->n_items < INGEST_MAX_REPORTED) {
		struct ingest_rejection *r = &rep->items[rep->n_items++];
		r->index = index;
		snprintf(r->field, sizeof(r->field), "%s", field);
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
	}
	rep->n_rejected++;
}

bool ingest_is_bsn(const char *s)
{
	size_t n = strlen(s);
	if ((n != 8 && n != 9) || strspn(s, "0123456789") != n)
		return false;
	/* Eleven-test on the 9-digit form (8-digit numbers get a leading zero):
	 * 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 must be a multiple of 11. */
	int d[9], sum = 0, any = 0;
	for (size_t i = 0; i < 9; i++)
		d[i] = i < 9 - n ? 0 : s[i - (9 - n)] - '0';
	for (int i = 0; i < 8; i++)
		sum += (9 - i) * d[i];
	sum -= d[8];
	for (int i = 0; i < 9; i++)
		any |= d[i];
	return any != 0 && sum % 11 == 0;
}

/* A Dutch phone number once spaces, dashes, dots and brackets are removed:
 * 0 or +31 or 0031, then 9 digits starting with 1..9. */
static bool is_phone(const char *s)
{
	char digits[32];
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (strchr(" -.()", *p) != NULL)
			continue;
		if (n + 1 >= sizeof(digits))
			return false;
		digits[n++] = *p;
	}
	digits[n] = '\0';
	const char *rest = NULL;
	if (strncmp(digits, "+31", 3) == 0)
		rest = digits + 3;
	else if (strncmp(digits, "0031", 4) == 0)
		rest = digits + 4;
	else if (digits[0] == '0')
		rest = digits + 1;
	return rest != NULL && strlen(rest) == 9 && strspn(rest, "0123456789") == 9 &&
	       rest[0] != '0';
}

/* dd-mm-yyyy, yyyy-mm-dd, dd/mm/yyyy and the like: digits in groups of 2/2/4 or 4/2/2. */
static bool is_date(const char *s)
{
	int a, b, c;
	char s1, s2, tail;
	if (sscanf(s, "%d%c%d%c%d%c", &a, &s1, &b, &s2, &c, &tail) != 5)
		return false;
	if (s1 != s2 || strchr("-/.", s1) == NULL)
		return false;
	if (a >= 1 && a <= 31 && b >= 1 && b <= 12 && c >= 1900 && c <= 2100)
		return true;
	return a >= 1900 && a <= 2100 && b >= 1 && b <= 12 && c >= 1 && c <= 31;
}

/* BSN, e-mail address or phone number as the whole value. */
static const char *contact_or_identity(const char *s)
{
	if (ingest_is_bsn(s))
		return "looks like a BSN (passes the eleven-test)";
	if (strchr(s, '@') != NULL)
		return "looks like an e-mail address";
	if (is_phone(s))
		return "looks like a phone number";
	return NULL;
}

const char *ingest_personal_data(const char *s)
{
	const char *why = contact_or_identity(s);
	if (why != NULL)
		return why;
	/* A number ending a text: "bel 06 12345678", "bel +31 6 12345678", "BSN 111222333". */
	for (const char *p = s; *p; p++) {
		bool starts =
		    isdigit((unsigned char)*p) || (*p == '+' && isdigit((unsigned char)p[1]));
		if ((p == s || !isdigit((unsigned char)p[-1])) && starts &&
		    (is_phone(p) || ingest_is_bsn(p)))
			return "contains what looks like a phone number or BSN";
	}
	return NULL;
}

const char *ingest_identifying(const char *s)
{
	const char *why = contact_or_identity(s);
	if (why != NULL)
		return why;
	if (is_date(s))
		return "looks like a date; send ISO weeks, never dates";
	for (const char *p = s; *p; p++) {
		if (isspace((unsigned char)*p))
			return "looks like free text; only codes are accepted";
	}
	return NULL;
}

/* A code: 1..64 of [A-Za-z0-9_.:-], starting with a letter or digit, nothing identifying.
 * Returns NULL when fine, else the reason. `required`: empty is an error. */
static const char *check_code(const char *s, bool required)
{
	size_t n = strlen(s);
	if (n == 0)
		return required ? "is required" : NULL;
	const char *why = ingest_identifying(s);
	if (why != NULL)
		return why;
	if (n > CODE_MAX)
		return "is longer than 64 characters";
	if (!isalnum((unsigned char)s[0]) ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") != n)
		return "must be a code of letters, digits and _ . : -";
	return NULL;
}

/* A source pseudonym: exactly 64 lower-case hexadecimal characters (HMAC-SHA-256). */
static const char *check_pseudonym(const char *s, bool required)
{
	size_t n = strlen(s);
	if (n == 0)
		return required ? "is required" : NULL;
	if (n != 64 || strspn(s, "0123456789abcdef") != 64)
		return "must be 64 lower-case hex characters (HMAC-SHA-256 of the source's client "
		       "id with the source's key)";
	return NULL;
}

int ingest_check_batch(const struct batch *b, struct err *e)
{
	const struct {
		const char *name;
		const char *value;
	} fields[] = {
	    {"source", b->source},
	    {"organisation", b->organisation},
	    {"batch_id", b->batch_id},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *why = check_code(fields[i].value, true);
		if (why != NULL)
			return err_set(e, 422, "invalid_batch", "field \"%s\" %s", fields[i].name,
			               why);
	}
	if (b->n_signals == 0)
		return err_set(e, 422, "empty_batch", "batch has no signals");
	return 0;
}

/* The first problem of one signal, as (field, reason), or false when it is valid. */
static bool signal_problem(const struct signal *s, const struct ingest_params *p,
                           const char **field, const char **reason, char *buf, size_t size)
{
	struct isoweek w;
#define PROBLEM(f, r)                                                                              \
	do {                                                                                       \
		*field = (f);                                                                      \
		*reason = (r);                                                                     \
		return true;                                                                       \
	} while (0)
#define CHECK(f, expr)                                                                             \
	do {                                                                                       \
		const char *why_ = (expr);                                                         \
		if (why_ != NULL)                                                                  \
			PROBLEM(f, why_);                                                          \
	} while (0)
	CHECK("signal_id", check_code(s->signal_id, true));
	CHECK("team", check_code(s->team, true));
	CHECK("area_code", s->area_code[0] == '\0' ? "is required" : NULL);
	CHECK("area_code", ingest_identifying(s->area_code));
	const char *kind = area_code_kind(s->area_code);
	if (kind == NULL || strcmp(kind, "GM") == 0)
		PROBLEM("area_code", "must be a CBS wijk (WK + 6) or buurt (BU + 8) code");
	if (s->area_year < 1990 || s->area_year > 2100)
		PROBLEM("area_year", "must be a year from 1990 to 2100");
	CHECK("iso_week", s->iso_week[0] == '\0' ? "is required" : NULL);
	if (isoweek_parse(s->iso_week, &w) < 0)
		PROBLEM("iso_week", "must be an ISO week \"YYYY-Www\", e.g. \"2026-W14\"");
	long idx = isoweek_to_index(w), now = isoweek_to_index(p->current_week);
	if (idx > now)
		PROBLEM("iso_week", "is in the future");
	if (now - idx > p->max_age_weeks) {
		snprintf(buf, size, "is more than %d weeks old", p->max_age_weeks);
		PROBLEM("iso_week", buf);
	}
	CHECK("subject", check_pseudonym(s->subject, true));
	CHECK("trajectory", check_pseudonym(s->trajectory, false));
	if (s->age_band == 0)
		PROBLEM("age_band", "is required");
	switch (s->kind) {
	case SIGNAL_KIND_NONE:
		PROBLEM("kind", "one of need, contact, outcome, trajectory_event is required");
	case SIGNAL_KIND_NEED:
		CHECK("need.theme", check_code(s->theme, true));
		break;
	case SIGNAL_KIND_CONTACT:
		CHECK("contact.theme", check_code(s->theme, true));
		if (s->mode == 0)
			PROBLEM("contact.mode", "is required");
		break;
	case SIGNAL_KIND_OUTCOME:
		CHECK("outcome.theme", check_code(s->theme, true));
		CHECK("outcome.instrument", check_code(s->instrument, true));
		CHECK("outcome.domain", check_code(s->domain, true));
		if (s->phase == 0)
			PROBLEM("outcome.phase", "is required");
		if (!isfinite(s->score))
			PROBLEM("outcome.score", "must be a finite number");
		break;
	case SIGNAL_KIND_TRAJECTORY:
		CHECK("trajectory_event.theme", check_code(s->theme, true));
		if (s->event == 0)
			PROBLEM("trajectory_event.type", "is required");
		if (s->trajectory[0] == '\0')
			PROBLEM("trajectory", "is required for a trajectory event");
		break;
	}
	return false;
#undef CHECK
#undef PROBLEM
}

static int cmp_by_id(const void *a, const void *b)
{
	const struct signal *const *x = a, *const *y = b;
	int c = strcmp((*x)->signal_id, (*y)->signal_id);
	return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

static int cmp_rejection(const void *a, const void *b)
{
	const struct ingest_rejection *x = a, *y = b;
	return (x->index > y->index) - (x->index < y->index);
}

void ingest_report_sort(struct ingest_report *rep)
{
	qsort(rep->items, rep->n_items, sizeof(rep->items[0]), cmp_rejection);
}

int ingest_validate(const struct batch *b, const struct ingest_params *p, struct ingest_report *rep,
                    bool *bad)
{
	const char *field, *reason;
	char buf[160];
	const struct signal **order = calloc(b->n_signals + 1, sizeof(*order));
	if (order == NULL)
		return -ENOMEM;
	memset(bad, 0, b->n_signals * sizeof(*bad));
	for (size_t i = 0; i < b->n_signals; i++) {
		if (signal_problem(&b->signals[i], p, &field, &reason, buf, sizeof(buf))) {
			ingest_reject(rep, i, field, reason);
			bad[i] = true;
		}
		order[i] = &b->signals[i];
	}
	/* A signal id used twice in one batch: the second (and later) uses are rejected. */
	qsort(order, b->n_signals, sizeof(*order), cmp_by_id);
	size_t first = 0;
	for (size_t k = 1; k < b->n_signals; k++) {
		size_t i = (size_t)(order[k] - b->signals);
		if (strcmp(order[k]->signal_id, order[k - 1]->signal_id) != 0)
			first = k;
		if (first == k || bad[i] || order[k]->signal_id[0] == '\0')
			continue;
		char msg[96];
		snprintf(msg, sizeof(msg), "is repeated in this batch (first at index %zu)",
		         (size_t)(order[first] - b->signals));
		ingest_reject(rep, i, "signal_id", msg);
		bad[i] = true;
	}
	free(order);
	ingest_report_sort(rep);
	return rep->n_rejected > 0 ? -EINVAL : 0;
}
