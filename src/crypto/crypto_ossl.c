/* Fetch-once OpenSSL algorithm handles (see crypto_ossl.h). */
#include "crypto_ossl.h"

#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <pthread.h>

int crypto_init_lean(void)
{
	/* wgtun never prints OpenSSL's error strings and needs nothing from openssl.cnf: its
	 * algorithms are fixed by the protocol. Loading both costs ~0.5 MB of touched pages. */
	return OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS,
				   NULL) == 1
		       ? 0
		       : -1;
}

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
/* Written once inside pthread_once, read-only after: every reader goes through
 * pthread_once first, which orders the write before the reads. */
static EVP_CIPHER *ossl_chacha20poly1305;

static void ossl_fetch(void)
{
	/* An explicit fetch avoids OpenSSL's implicit per-init lookup on every packet. The
	 * handle lives for the whole process (OpenSSL's own exit handler tears down the
	 * providers). */
	ossl_chacha20poly1305 = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	if (ossl_chacha20poly1305 == NULL)
		ERR_clear_error();
}

const EVP_CIPHER *crypto_ossl_chacha20poly1305(void)
{
	if (pthread_once(&ossl_once, ossl_fetch) != 0)
		return NULL;
	return ossl_chacha20poly1305;
}
