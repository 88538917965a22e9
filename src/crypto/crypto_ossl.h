/* Process-wide OpenSSL algorithm handles, private to src/crypto/. */
#ifndef WGTUN_CRYPTO_OSSL_H
#define WGTUN_CRYPTO_OSSL_H

#include <openssl/evp.h>

/* The fetched ChaCha20-Poly1305 cipher, or NULL if the provider lacks it. Fetched once
 * (pthread_once) and read-only afterwards: an immutable handle, not mutable global state,
 * so concurrent use from any thread is safe. */
const EVP_CIPHER *crypto_ossl_chacha20poly1305(void);

/* The library context every EVP call of src/crypto/ passes: wgtun's own, whose one provider
 * offers only ChaCha20-Poly1305 and X25519 (key management and key exchange), or NULL (the
 * process-wide context) if it could not be set up. Same once-only rules as above. */
OSSL_LIB_CTX *crypto_ossl_libctx(void);

#endif
