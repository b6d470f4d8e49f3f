/* Operator endpoints: /healthz (process alive), /readyz (database reachable and schema
 * current) and /metrics (Prometheus text format). */
#ifndef WR_API_HEALTH_H
#define WR_API_HEALTH_H

#include "daemon.h"

/* Declares the operator metrics and registers the three routes on d->http. `d` is borrowed
 * and must outlive the server. Returns 0 or -ENOMEM. */
int api_health_start(struct daemon *d) __attribute__((warn_unused_result));

#endif
