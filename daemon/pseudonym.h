/* Re-keying of source pseudonyms with the server's secret before storage: a source sends
 * HMAC-SHA-256(source key, client id); the daemon stores HMAC-SHA-256(server key, that), so a
 * database dump cannot be joined back to a source system. The key lives outside the database:
 * in a file or in the environment. */
#ifndef WR_PSEUDONYM_H
#define WR_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PSEUDONYM_KEY_MIN 32 /* bytes */
#define PSEUDONYM_SIZE    32 /* bytes of a stored pseudonym */

struct pseudonym_key;

/* Loads the key from `env_value` when not NULL (its bytes), else from the file at `path` (its
 * bytes, without a final newline). At least PSEUDONYM_KEY_MIN bytes. Returns 0 and a new key
 * (free with pseudonym_key_free), or -EINVAL with `e` filled (never containing key bytes).
 * Strings are borrowed. */
int pseudonym_key_load(const char *path, const char *env_value, struct pseudonym_key **out,
                       struct err *e) __attribute__((warn_unused_result));

/* Wipes and frees the key. NULL-safe. */
void pseudonym_key_free(struct pseudonym_key *k);

/* Re-keys a source pseudonym given as 64 lower-case hex characters and writes the result as
 * 64 lower-case hex characters plus NUL into out (65 bytes). Returns 0, or -EINVAL when `hex`
 * is not 64 hex characters, -EIO when the HMAC failed. */
int pseudonym_rekey_hex(const struct pseudonym_key *k, const char *hex, char out[65])
    __attribute__((warn_unused_result));

/* A secret 64-bit seed for publication `label` (e.g. "benchmark/2026-Q3"): the first 8 bytes
 * of HMAC-SHA-256(key, "seed:" label). Published figures are randomly rounded with it, so they
 * are the same on every request, and nobody without the key can tell how a count was rounded. */
uint64_t pseudonym_seed(const struct pseudonym_key *k, const char *label);

#endif
