/* Server-side TLS context for the HTTP listener (see tls.h). */
#include "tls.h"

#include <openssl/err.h>

/* Fills e with `what`, the file and OpenSSL's oldest queued reason, and clears the queue. */
static void tls_err(struct err *e, const char *what, const char *file)
{
	char reason[256] = "unknown error";
	unsigned long code = ERR_get_error();
	if (code != 0)
		ERR_error_string_n(code, reason, sizeof(reason));
	ERR_clear_error();
	err_set(e, 0, "tls", "could not %s \"%s\": %s", what, file, reason);
}

SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, struct err *e)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_err(e, "create a TLS context for", cert_file);
		return NULL;
	}
	/* TLS 1.0 and 1.1 are deprecated (RFC 8996); renegotiation only serves attacks here. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_err(e, "set the TLS version for", cert_file);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_err(e, "load the TLS certificate chain", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_err(e, "load the TLS private key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(e, "match the private key to the certificate in", cert_file);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
