/* Process-wide OpenSSL algorithm handles, private to src/crypto/. */
#ifndef WGTUN_CRYPTO_OSSL_H
#define WGTUN_CRYPTO_OSSL_H

#include <openssl/evp.h>

/* The fetched ChaCha20-Poly1305 cipher, or NULL if the provider lacks it. Fetched once
 * (pthread_once) and read-only afterwards: an immutable handle, not mutable global state,
 * so concurrent use from any thread is safe. */
const EVP_CIPHER *crypto_ossl_chacha20poly1305(void);

#endif
