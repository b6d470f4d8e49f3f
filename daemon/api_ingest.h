/* POST /v1/signals: the upload endpoint of the team systems. Authenticates the bearer token,
 * decodes the batch (protobuf or JSON), validates it (daemon/ingest.c, then the area, theme and
 * instrument references in PostgreSQL), re-keys the pseudonyms and stores the batch and the
 * weekly distinct-person counts in one statement. Acknowledged only after the commit. */
#ifndef WR_API_INGEST_H
#define WR_API_INGEST_H

#include "daemon.h"

struct api_ingest;

/* Declares the ingest metrics and registers the route on d->http. `d` is borrowed and must
 * outlive the returned state, which is freed with api_ingest_free after the pool (so that
 * cancelled uploads can still reply). Returns NULL with errno = ENOMEM. */
struct api_ingest *api_ingest_start(struct daemon *d);

/* Frees the module state. NULL-safe. */
void api_ingest_free(struct api_ingest *a);

#endif
