/* Published reports for analysts: GET /v1/benchmark and GET /v1/effects, with ?period=YYYY-Qn
 * (or YYYY), ?format=json|csv|html and, for an admin, ?organisation=. An analyst gets its own
 * organisation's figures and the peer medians only. Made on report threads (report_worker). */
#ifndef WR_API_REPORTS_H
#define WR_API_REPORTS_H

#include "daemon.h"

/* Registers the routes on d->http. `d` is borrowed. Returns 0 or -ENOMEM. */
int api_reports_start(struct daemon *d) __attribute__((warn_unused_result));

#endif
