/* The outbox as people see it: GET /v1/deliveries (filters: state, subscription, alert;
 * newest first, paginated) for team leads and admins, and PATCH /v1/deliveries/{id}
 * {"state": "pending"} with which an admin retries a dead delivery. */
#ifndef WR_API_DELIVERIES_H
#define WR_API_DELIVERIES_H

#include "daemon.h"

/* Registers the routes on d->http. `d` is borrowed. Returns 0 or -ENOMEM. */
int api_deliveries_start(struct daemon *d) __attribute__((warn_unused_result));

#endif
