/* Alerts for team leads: GET /v1/alerts (filters, ranked by strength, paginated; with
 * ?since=CURSOR the changes after the cursor, for dashboards that poll),
 * GET /v1/alerts/{id} with the evidence, the life cycle and the existing initiatives in and
 * around the area, PATCH /v1/alerts/{id} to move it along new -> acknowledged ->
 * initiative_started -> closed. Callers see only their organisation's alerts (admins all). */
#ifndef WR_API_ALERTS_H
#define WR_API_ALERTS_H

#include "daemon.h"

/* Registers the routes on d->http. `d` is borrowed. Returns 0 or -ENOMEM. */
int api_alerts_start(struct daemon *d) __attribute__((warn_unused_result));

#endif
