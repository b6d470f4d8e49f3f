/* The initiatives registry over the API: GET /v1/initiatives (filters area, theme; every
 * organisation's active initiatives, as an alert lists them) and POST /v1/initiatives to add
 * or update one of the caller's organisation (team leads, admins). */
#ifndef WR_API_INITIATIVES_H
#define WR_API_INITIATIVES_H

#include "daemon.h"

/* Registers the routes on d->http. `d` is borrowed. Returns 0 or -ENOMEM. */
int api_initiatives_start(struct daemon *d) __attribute__((warn_unused_result));

#endif
