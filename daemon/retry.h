/* The retry policy of alert deliveries: what the outcome of one attempt means (delivered, try
 * again, or give up) and how long to wait before the next one. Pure: the caller passes libcurl's
 * result code and the server's reply code, and the random number for the jitter. */
#ifndef WR_RETRY_H
#define WR_RETRY_H

#include <stdbool.h>

#include <curl/curl.h>

enum retry_verdict {
	RETRY_DELIVERED,
	RETRY_AGAIN, /* transient: try again after a delay */
	RETRY_DEAD,  /* permanent: repeating will not help */
};

struct retry_outcome {
	enum retry_verdict verdict;
	/* Why it failed, a metric label (see docs/delivery.md); NULL when delivered. */
	const char *reason;
};

/* Judges one webhook attempt: libcurl's result `rc` and the HTTP status (0 when none came). */
struct retry_outcome retry_classify_http(CURLcode rc, long status);

/* Judges one e-mail attempt: libcurl's result and the last SMTP reply code (0 when none). */
struct retry_outcome retry_classify_smtp(CURLcode rc, long reply);

/* Seconds to wait after failed attempt number `attempt` (1 for the first):
 * d = min(max_s, base_ms * 2^(attempt - 1) / 1000), of which d/2 + u * d/2 is used ("equal
 * jitter", u uniform in [0, 1)). A server's Retry-After (`retry_after_s`, 0 when absent) wins
 * when it is longer, up to one day. */
double retry_delay_s(int attempt, int base_ms, int max_s, double retry_after_s, double u);

#endif
