/* Pseudonym re-keying with OpenSSL's HMAC-SHA-256 (see pseudonym.h). */
#include "pseudonym.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct pseudonym_key {
	size_t len;
	unsigned char bytes[];
};

static int make_key(const unsigned char *bytes, size_t len, struct pseudonym_key **out,
                    struct err *e, const char *where)
{
	if (len < PSEUDONYM_KEY_MIN)
		return err_set(e, 0, "invalid_config",
		               "pseudonym key from %s is too short: %zu bytes, at least %d needed",
		               where, len, PSEUDONYM_KEY_MIN);
	struct pseudonym_key *k = malloc(sizeof(*k) + len);
	if (k == NULL)
		return -ENOMEM;
	k->len = len;
	memcpy(k->bytes, bytes, len);
	*out = k;
	return 0;
}

int pseudonym_key_load(const char *path, const char *env_value, struct pseudonym_key **out,
                       struct err *e)
{
	if (env_value != NULL && env_value[0] != '\0')
		return make_key((const unsigned char *)env_value, strlen(env_value), out, e,
		                "WIJKRADAR_PSEUDONYM_KEY");
	if (path == NULL || path[0] == '\0')
		return err_set(e, 0, "invalid_config",
		               "no pseudonym key: set \"privacy.pseudonym_key_file\" or "
		               "WIJKRADAR_PSEUDONYM_KEY");
	unsigned char buf[4096];
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return err_set(e, 0, "invalid_config",
		               "could not open pseudonym key file \"%s\": %s", path,
		               strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf), f);
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return err_set(e, 0, "invalid_config",
		               "could not read pseudonym key file \"%s\" (at most %zu bytes)", path,
		               sizeof(buf) - 1);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	int r = make_key(buf, n, out, e, "the key file");
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

void pseudonym_key_free(struct pseudonym_key *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k->bytes, k->len);
	free(k);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int pseudonym_rekey_hex(const struct pseudonym_key *k, const char *hex, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char in[32], mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (strlen(hex) != 64)
		return -EINVAL;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		in[i] = (unsigned char)(hi << 4 | lo);
	}
	if (HMAC(EVP_sha256(), k->bytes, (int)k->len, in, sizeof(in), mac, &mac_len) == NULL ||
	    mac_len != PSEUDONYM_SIZE)
		return -EIO;
	for (size_t i = 0; i < PSEUDONYM_SIZE; i++) {
		out[2 * i] = digits[mac[i] >> 4];
		out[2 * i + 1] = digits[mac[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

uint64_t pseudonym_seed(const struct pseudonym_key *k, const char *label)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	uint64_t seed = 0;
	/* "seed:" keeps these MACs apart from re-keyed pseudonyms (which take 32-byte inputs). */
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "seed:%s", label);
	if (n > 0 && HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)msg,
	                  (size_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1), mac,
	                  &mac_len) != NULL) {
		for (int i = 0; i < 8; i++)
			seed = seed << 8 | mac[i];
	}
	return seed;
}
