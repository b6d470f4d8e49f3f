/* Retry policy of alert deliveries (see retry.h). */
#include "retry.h"

#include <math.h>

#define RETRY_AFTER_MAX_S 86400.0

/* Transport failures (no usable answer from the server). */
static struct retry_outcome transport(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return (struct retry_outcome){RETRY_AGAIN, "timeout"};
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		return (struct retry_outcome){RETRY_AGAIN, "tls"};
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		/* The target was accepted once but is refused now (allow_http turned off). */
		return (struct retry_outcome){RETRY_DEAD, "invalid_target"};
	default:
		return (struct retry_outcome){RETRY_AGAIN, "network"};
	}
}

struct retry_outcome retry_classify_http(CURLcode rc, long status)
{
	if (rc != CURLE_OK || status < 200)
		return transport(rc != CURLE_OK ? rc : CURLE_RECV_ERROR);
	if (status < 300)
		return (struct retry_outcome){RETRY_DELIVERED, NULL};
	if (status < 400)
		return (struct retry_outcome){RETRY_DEAD, "http_3xx"};
	if (status == 429)
		return (struct retry_outcome){RETRY_AGAIN, "http_429"};
	if (status < 500)
		return (struct retry_outcome){RETRY_DEAD, "http_4xx"};
	return (struct retry_outcome){RETRY_AGAIN, "http_5xx"};
}

struct retry_outcome retry_classify_smtp(CURLcode rc, long reply)
{
	if (rc == CURLE_OK)
		return (struct retry_outcome){RETRY_DELIVERED, NULL};
	/* A refusal by the server: 5xx is permanent (no such mailbox, not allowed), 4xx is not. */
	if (reply >= 500 && reply < 600)
		return (struct retry_outcome){RETRY_DEAD, "smtp_5xx"};
	if (reply >= 400 && reply < 500)
		return (struct retry_outcome){RETRY_AGAIN, "smtp_4xx"};
	return transport(rc);
}

double retry_delay_s(int attempt, int base_ms, int max_s, double retry_after_s, double u)
{
	int exponent = attempt < 1 ? 0 : attempt > 40 ? 39 : attempt - 1;
	double d = fmin((double)max_s, ldexp((double)base_ms / 1000.0, exponent));
	double delay = d / 2 + u * d / 2;
	if (retry_after_s > delay)
		delay = fmin(retry_after_s, RETRY_AFTER_MAX_S);
	return delay;
}
