/* Analysis runs over the API: POST /v1/admin/analyze starts one on this daemon's worker
 * (admins), GET /v1/analysis/runs lists the recorded runs (admins and analysts). */
#ifndef WR_API_ANALYSIS_H
#define WR_API_ANALYSIS_H

#include "daemon.h"

/* Registers the routes on d->http. `d` is borrowed. Returns 0 or -ENOMEM. */
int api_analysis_start(struct daemon *d) __attribute__((warn_unused_result));

#endif
