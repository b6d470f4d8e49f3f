/* Standard Webhooks secrets and signatures with OpenSSL (see webhook.h). */
#include "webhook.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

static const char prefix[] = "whsec_";

int webhook_secret_new(char out[WEBHOOK_SECRET_SIZE])
{
	unsigned char key[WEBHOOK_SECRET_BYTES];
	if (RAND_bytes(key, sizeof(key)) != 1)
		return -EIO;
	memcpy(out, prefix, sizeof(prefix) - 1);
	EVP_EncodeBlock((unsigned char *)out + sizeof(prefix) - 1, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

/* Decodes the key of a secret into key[96]; returns its length or -EINVAL. */
static int secret_key(const char *secret, unsigned char key[96])
{
	if (strncmp(secret, prefix, sizeof(prefix) - 1) != 0)
		return -EINVAL;
	const char *b64 = secret + sizeof(prefix) - 1;
	size_t n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n > 88)
		return -EINVAL;
	int len = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return -EINVAL;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
	return len >= 1 && len <= 64 ? len : -EINVAL;
}

int webhook_sign(const char *secret, const char *msg_id, long long timestamp, const char *body,
                 size_t len, char out[WEBHOOK_SIGNATURE_SIZE])
{
	unsigned char key[96], mac[EVP_MAX_MD_SIZE];
	char ts[24];
	int key_len = secret_key(secret, key);
	if (key_len < 0)
		return key_len;
	int ts_len = snprintf(ts, sizeof(ts), "%lld", timestamp);
	size_t mac_len = 0;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
	                       OSSL_PARAM_construct_end()};
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
	int ok = ctx != NULL && EVP_MAC_init(ctx, key, (size_t)key_len, params) == 1 &&
	         EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) == 1 &&
	         EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
	         EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)ts_len) == 1 &&
	         EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
	         EVP_MAC_update(ctx, (const unsigned char *)body, len) == 1 &&
	         EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) == 1 && mac_len == 32;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	OPENSSL_cleanse(key, sizeof(key));
	if (!ok)
		return -EINVAL;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
	return 0;
}
