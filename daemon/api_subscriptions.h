/* Subscriptions of team leads to their organisation's alerts: POST /v1/subscriptions (the
 * webhook secret is in this reply only), GET /v1/subscriptions, GET and DELETE
 * /v1/subscriptions/{id}. Team leads manage their own organisation's, admins any. */
#ifndef WR_API_SUBSCRIPTIONS_H
#define WR_API_SUBSCRIPTIONS_H

#include "daemon.h"

/* Registers the routes on d->http. `d` is borrowed. Returns 0 or -ENOMEM. */
int api_subscriptions_start(struct daemon *d) __attribute__((warn_unused_result));

#endif
