/* The alert e-mail: subject, plain text and HTML, in Dutch, rendered from the JSON body that a
 * webhook would carry (docs/delivery.md), so both channels tell the same. Pure; the message is
 * sent by daemon/delivery.c with libcurl. */
#ifndef WR_MAIL_H
#define WR_MAIL_H

#include "err.h"

struct mail_message {
	char *subject; /* header value: plain ASCII, or RFC 2047 encoded words for UTF-8 */
	char *text;    /* text/plain; charset=utf-8 */
	char *html;    /* text/html; charset=utf-8, a whole document */
};

/* Renders the message for `body` (a delivery's JSON text) with message id `msg_id`. Returns 0
 * and fills `out` (free with mail_message_free), -EINVAL when the body is not a delivery, or
 * -ENOMEM. */
int mail_render(const char *body, const char *msg_id, struct mail_message *out)
    __attribute__((warn_unused_result));

/* Frees the strings of `m` and zeroes it. */
void mail_message_free(struct mail_message *m);

/* Encodes a UTF-8 header value for a mail header (RFC 2047 "B" words of at most 75
 * characters, split between characters) unless it is printable ASCII already. Returns a new
 * string or NULL (ENOMEM). */
char *mail_encode_header(const char *value);

#endif
