/* Bearer token generation, hashing and lookup (see auth.h). */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static const char *const role_names[] = {"source", "teamlead", "analyst", "admin"};

/* $1 SHA-256 of the token, hex */
static const char sql_lookup[] =
    "SELECT id, role, organisation, coalesce(source, '') FROM api_token"
    " WHERE token_hash = decode($1, 'hex') AND revoked_at IS NULL"
    " AND (expires_at IS NULL OR expires_at > now())";

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int auth_token_generate(char out[AUTH_TOKEN_LEN + 1])
{
	unsigned char raw[32];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	memcpy(out, "wr_", 3);
	to_hex(raw, sizeof(raw), out + 3);
	return 0;
}

int auth_token_hash_hex(const char *token, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -EIO;
	to_hex(md, len, out);
	return 0;
}

int auth_role_parse(const char *s, enum auth_role *out)
{
	for (int i = 0; i <= AUTH_ADMIN; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum auth_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *auth_role_name(enum auth_role role)
{
	return role_names[role];
}

struct auth_query {
	auth_fn *cb;
	void *arg;
	struct event *deferred; /* for reporting a malformed header from the loop */
};

static void on_lookup(void *arg, int status, const PGresult *res)
{
	struct auth_query *q = arg;
	struct auth_principal p;
	memset(&p, 0, sizeof(p));
	if (status == 0 && PQntuples(res) == 1 &&
	    auth_role_parse(PQgetvalue(res, 0, 1), &p.role) == 0) {
		p.token_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(p.organisation, sizeof(p.organisation), "%s", PQgetvalue(res, 0, 2));
		snprintf(p.source, sizeof(p.source), "%s", PQgetvalue(res, 0, 3));
		q->cb(q->arg, 0, &p);
	} else {
		q->cb(q->arg, status != 0 ? status : -EACCES, NULL);
	}
	free(q);
}

static void on_malformed(evutil_socket_t fd, short what, void *arg)
{
	struct auth_query *q = arg;
	event_free(q->deferred);
	q->cb(q->arg, -EACCES, NULL);
	free(q);
}

int auth_check(struct db_pool *pool, const char *authorization, auth_fn *cb, void *arg)
{
	char hash[65];
	struct auth_query *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	q->cb = cb;
	q->arg = arg;
	const char *token = NULL;
	if (authorization != NULL && strncasecmp(authorization, "Bearer ", 7) == 0)
		token = authorization + 7;
	if (token == NULL || strlen(token) != AUTH_TOKEN_LEN || strncmp(token, "wr_", 3) != 0 ||
	    strspn(token + 3, "0123456789abcdef") != AUTH_TOKEN_LEN - 3) {
		/* Answer from the loop, like every other outcome. */
		q->deferred = event_new(db_pool_base(pool), -1, 0, on_malformed, q);
		if (q->deferred == NULL) {
			free(q);
			return -ENOMEM;
		}
		event_active(q->deferred, EV_TIMEOUT, 0);
		return 0;
	}
	if (auth_token_hash_hex(token, hash) < 0) {
		free(q);
		return -EIO;
	}
	const char *params[] = {hash};
	int r = db_pool_query(pool, sql_lookup, 1, params, on_lookup, q);
	if (r < 0)
		free(q);
	return r;
}
