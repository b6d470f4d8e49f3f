/* Per-key token buckets for the API's per-token rate limit. Pure: the caller passes the time,
 * so the unit tests drive it with their own clock. One table per daemon process (each replica
 * counts on its own); buckets that have filled up again are dropped as the table grows, so it
 * holds about as many entries as there are tokens in use. */
#ifndef WR_RATELIMIT_H
#define WR_RATELIMIT_H

struct ratelimit;

/* A new, empty table, or NULL when out of memory. */
struct ratelimit *ratelimit_new(void);

/* Frees the table. ratelimit_free(NULL) does nothing. */
void ratelimit_free(struct ratelimit *rl);

/* Takes one request from the bucket of `key` at time `now` (seconds, monotonic), refilled at
 * `rate` per second up to `burst`. Returns 0 when the request may go ahead, or the seconds
 * until the bucket holds one request again (> 0) when it may not. A key seen for the first
 * time starts with a full bucket. When the table cannot grow (out of memory) the request is
 * let through. */
double ratelimit_take(struct ratelimit *rl, long long key, double rate, double burst, double now);

#endif
