/* The delivery worker of `wijkradar serve`: claims due rows of the outbox (table delivery)
 * with a lease, sends them as signed webhooks or e-mails through libcurl's multi interface on
 * the event loop, and records each outcome (delivered, retry later, dead). Several daemons may
 * share one outbox; see docs/delivery.md. */
#ifndef WR_DELIVERY_H
#define WR_DELIVERY_H

#include "daemon.h"

struct delivery;

/* Declares the delivery metrics and starts polling the outbox (when delivery.enabled; the key
 * is re-read on every poll). Returns NULL with errno set. `d` is borrowed and must outlive
 * the worker. */
struct delivery *delivery_start(struct daemon *d);

/* Stops claiming new deliveries (on SIGTERM); attempts in flight go on. Idempotent. */
void delivery_stop(struct delivery *dl);

/* Attempts in flight, including those whose outcome is still being stored. */
int delivery_n_inflight(const struct delivery *dl);

/* Abandons attempts in flight (their leases expire and another attempt follows) and frees
 * everything. Call after the database pool is freed. delivery_free(NULL) does nothing. */
void delivery_free(struct delivery *dl);

#endif
