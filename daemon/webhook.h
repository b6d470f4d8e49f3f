/* Standard Webhooks signing (https://www.standardwebhooks.com/): secrets of the form
 * "whsec_" + base64 of random bytes, and the signature header "v1," + base64 of
 * HMAC-SHA256(key, id "." timestamp "." body), key being the secret's decoded bytes. Pure
 * apart from the random bytes of a new secret (OpenSSL). */
#ifndef WR_WEBHOOK_H
#define WR_WEBHOOK_H

#include <stddef.h>

/* Random bytes in a new secret: the specification asks for 24 to 64. */
#define WEBHOOK_SECRET_BYTES 32
/* "whsec_" + base64 of 32 bytes (44 characters) + NUL. */
#define WEBHOOK_SECRET_SIZE 51
/* "v1," + base64 of a 32-byte MAC (44 characters) + NUL. */
#define WEBHOOK_SIGNATURE_SIZE 48

/* Writes a new random secret into out (WEBHOOK_SECRET_SIZE bytes). Returns 0, or -EIO when the
 * system has no randomness to give. */
int webhook_secret_new(char out[WEBHOOK_SECRET_SIZE]) __attribute__((warn_unused_result));

/* Signs `len` bytes of `body` sent as message `msg_id` at `timestamp` (seconds since 1970) and
 * writes the webhook-signature value into out (WEBHOOK_SIGNATURE_SIZE bytes). Returns 0, or
 * -EINVAL when `secret` is not "whsec_" + base64 of 1 to 64 bytes. */
int webhook_sign(const char *secret, const char *msg_id, long long timestamp, const char *body,
                 size_t len, char out[WEBHOOK_SIGNATURE_SIZE]) __attribute__((warn_unused_result));

#endif
