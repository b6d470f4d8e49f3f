/* The daemon's scheduled work: the weekly analysis run, on a worker thread so that the event
 * loop never blocks. A timer checks every minute whether the previous ISO week is due
 * (detect.weekday and detect.hour, UTC); the run itself takes an advisory lock and skips a
 * week that already has a succeeded run, so with several replicas it runs once. Runs can also
 * be started on demand (admin API). */
#ifndef WR_SCHEDULER_H
#define WR_SCHEDULER_H

#include <stdbool.h>

#include "isoweek.h"

struct daemon;
struct scheduler;

/* Declares the analysis metrics and arms the timer. `d` is borrowed and must outlive the
 * scheduler. Returns NULL with errno = ENOMEM. */
struct scheduler *scheduler_start(struct daemon *d);

/* Waits for a running analysis to finish (it is not interrupted), then frees everything.
 * NULL-safe. */
void scheduler_free(struct scheduler *s);

/* Starts an analysis of `week` now. `trigger` ("api", "schedule") and `requested_by` (may be
 * NULL) are copied. Returns 0, -EBUSY when this daemon is already running one, or -ENOMEM /
 * -EAGAIN (no thread). The run's outcome goes to the log and the metrics. */
int scheduler_run_analysis(struct scheduler *s, struct isoweek week, const char *trigger,
                           const char *requested_by) __attribute__((warn_unused_result));

#endif
