/* Bearer tokens with a role, scoped to an organisation (and, for sources, optionally to one
 * source system). Tokens are 32 random bytes shown once at creation; only their SHA-256 is
 * stored. A request's token is looked up by its hash, so no stored secret is ever compared
 * byte by byte. */
#ifndef WR_AUTH_H
#define WR_AUTH_H

#include <stdbool.h>

#include "db_pool.h"

enum auth_role {
	AUTH_SOURCE,
	AUTH_TEAMLEAD,
	AUTH_ANALYST,
	AUTH_ADMIN,
};

/* Who is calling, once the token is found valid. */
struct auth_principal {
	long long token_id;
	enum auth_role role;
	char organisation[65];
	char source[65]; /* "" when the token is not tied to one source */
};

#define AUTH_TOKEN_LEN 67 /* "wr_" + 64 hex characters */

/* Writes a new random token ("wr_" + 64 hex) into out (AUTH_TOKEN_LEN + 1 bytes). Returns 0
 * or -EIO when the system's random generator failed. */
int auth_token_generate(char out[AUTH_TOKEN_LEN + 1]) __attribute__((warn_unused_result));

/* Writes the SHA-256 of `token` as 64 hex characters plus NUL into out. Returns 0 or -EIO. */
int auth_token_hash_hex(const char *token, char out[65]) __attribute__((warn_unused_result));

/* Parses "source", "teamlead", "analyst", "admin". Returns 0 or -EINVAL. */
int auth_role_parse(const char *s, enum auth_role *out);

/* The role's name. This function can't fail. */
const char *auth_role_name(enum auth_role role);

/* Outcome of auth_check: status 0 and the principal (borrowed for the call), or -EACCES
 * (missing, malformed, unknown, revoked or expired token; `p` NULL), or a database failure
 * (-EIO, -ENOTCONN, -EAGAIN, -ECANCELED, -EPROTO) with `p` NULL. */
typedef void auth_fn(void *arg, int status, const struct auth_principal *p);

/* Checks the value of an Authorization header ("Bearer TOKEN"; may be NULL) against the
 * token table. `cb` is called once from the event loop, unless this returns an error as
 * db_pool_query does. A missing or malformed header is reported through `cb` as -EACCES too.
 * `authorization` is borrowed. */
int auth_check(struct db_pool *pool, const char *authorization, auth_fn *cb, void *arg)
    __attribute__((warn_unused_result));

#endif
