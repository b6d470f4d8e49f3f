/* Reports for the API without blocking the event loop: each request runs report_make on a
 * thread of its own with its own database connection (bounded by report.max_concurrent and a
 * statement timeout), and its outcome comes back to the loop through an event. */
#ifndef WR_REPORT_WORKER_H
#define WR_REPORT_WORKER_H

#include "daemon.h"
#include "report.h"

struct report_worker;

/* Called on the loop with the outcome: status 0 and the text (the callee takes it and frees
 * it), or a negative errno and `e` (-ECANCELED: the daemon is stopping). */
typedef void report_done_fn(void *arg, int status, char *text, const struct err *e);

/* Creates the worker. `d` is borrowed. NULL with errno = ENOMEM. */
struct report_worker *report_worker_new(struct daemon *d);

/* Cancels the report queries in progress, waits for their threads (their callbacks run, with
 * -ECANCELED) and frees the worker. NULL-safe. */
void report_worker_free(struct report_worker *w);

/* Starts making `rq` (copied). Returns 0 (`cb` is called once, later), -EAGAIN when
 * report.max_concurrent reports are being made, or -ENOMEM. */
int report_worker_submit(struct report_worker *w, const struct report_request *rq,
                         report_done_fn *cb, void *arg) __attribute__((warn_unused_result));

#endif
