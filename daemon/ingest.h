/* Validation of one upload batch of case signals before anything is stored: required fields,
 * code formats, ISO weeks (not in the future), enum values, repeated ids, and anything that
 * looks identifying (a number passing the BSN eleven-test, an e-mail address, a phone number,
 * a date, free text). Pure: the caller passes the current week; area, theme and instrument
 * existence is checked against the database by api_ingest.c. */
#ifndef WR_INGEST_H
#define WR_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "codec.h"
#include "err.h"
#include "isoweek.h"

/* One rejected signal: its index in the batch, the field and the reason. */
struct ingest_rejection {
	size_t index;
	char field[48];
	char reason[160];
};

/* Rejections of one batch; at most INGEST_MAX_REPORTED are kept, all are counted. */
#define INGEST_MAX_REPORTED 100

struct ingest_report {
	struct ingest_rejection items[INGEST_MAX_REPORTED];
	size_t n_items;    /* kept */
	size_t n_rejected; /* counted */
};

struct ingest_params {
	struct isoweek current_week; /* weeks after this one are rejected */
	int max_age_weeks;           /* weeks older than this are rejected */
};

/* Checks batch-level fields (source, organisation, batch_id, at least one signal). Returns 0,
 * or -EINVAL with `e` filled (status 400 or 422, stable code). `b` is borrowed. */
int ingest_check_batch(const struct batch *b, struct err *e) __attribute__((warn_unused_result));

/* Checks every signal and adds one rejection per bad signal (its first problem) to `rep`
 * (which the caller zeroes), and sets bad[i] for each rejected signal (bad has n_signals
 * entries, caller-owned). Returns 0 when all are valid, -EINVAL when any was rejected, or
 * -ENOMEM. `b` and `p` are borrowed. */
int ingest_validate(const struct batch *b, const struct ingest_params *p, struct ingest_report *rep,
                    bool *bad) __attribute__((warn_unused_result));

/* Orders the kept rejections by signal index (after adding some with ingest_reject). */
void ingest_report_sort(struct ingest_report *rep);

/* Adds a rejection to `rep` (used for the database's reference checks too). */
void ingest_reject(struct ingest_report *rep, size_t index, const char *field, const char *reason);

/* Returns why `s` looks like contact or identity data (a number passing the BSN eleven-test, an
 * e-mail address, a Dutch phone number, also at the end of a text) or NULL. For texts that may
 * hold words, such as the name of an initiative. `s` is borrowed. */
const char *ingest_personal_data(const char *s);

/* Returns why `s` looks like personal data ("looks like a BSN", ...) or NULL when it does not.
 * `s` is borrowed. */
const char *ingest_identifying(const char *s);

/* True when `s` passes the Dutch BSN eleven-test (8 or 9 digits, not all zero). */
bool ingest_is_bsn(const char *s);

#endif
