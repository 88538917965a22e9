/* Process-wide OpenSSL algorithm handles, private to src/crypto/. */
#ifndef WGTUN_CRYPTO_OSSL_H
#define WGTUN_CRYPTO_OSSL_H

#include <openssl/core.h>
#include <openssl/evp.h>

#include <stdbool.h>

/* Sets the handles below up on first use (retried on later calls until it succeeds: a failed
 * allocation there is not final); true once they are. Then they are immutable, not mutable
 * global state, so concurrent use from any thread is safe. Every EVP call of src/crypto/ goes
 * through this (or the two getters) first. */
bool crypto_ossl_ready(void);

/* The fetched ChaCha20-Poly1305 cipher, or NULL if not set up (yet). */
const EVP_CIPHER *crypto_ossl_chacha20poly1305(void);

/* The library context every EVP call of src/crypto/ passes: wgtun's own, whose one provider
 * offers only ChaCha20-Poly1305 and X25519 (key management and key exchange), or NULL (the
 * process-wide context) if it could not be set up (then also if crypto_ossl_ready() is false:
 * callers that create keys check that first). */
OSSL_LIB_CTX *crypto_ossl_libctx(void);

/* The default provider's ChaCha20-Poly1305 dispatch table (the public provider ABI of
 * <openssl/core_dispatch.h>) with the provider context its newctx takes in *provctx, for
 * calling the implementation without the EVP layer; NULL (and *provctx NULL) when wgtun's
 * context could not be set up (yet). Same rules as above; the table is the provider's
 * static data and the provider stays loaded for the process's lifetime. */
const OSSL_DISPATCH *crypto_ossl_chacha20poly1305_dispatch(void **provctx);

#endif
