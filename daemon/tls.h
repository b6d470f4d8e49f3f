/* Server-side TLS for the HTTP listener: an OpenSSL context built from a PEM certificate chain
 * and private key, TLS 1.2 or newer. The HTTP layer makes one SSL per connection from it; a
 * reload builds a new context and the old one lives on in the connections that still use it
 * (OpenSSL reference counts it). */
#ifndef WR_TLS_H
#define WR_TLS_H

#include "err.h"

#include <openssl/ssl.h>

/* A new server context from `cert_file` (PEM chain, leaf first) and `key_file` (PEM private
 * key matching the leaf), both borrowed. Returns NULL and fills `e` (naming the file and
 * OpenSSL's reason) when a file cannot be read or the key does not match. */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, struct err *e);

#endif
