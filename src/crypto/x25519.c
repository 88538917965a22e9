/* X25519 (RFC 7748) on OpenSSL's EVP_PKEY raw keys. */
#include "crypto.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

void crypto_x25519_clamp(uint8_t priv[CRYPTO_KEY_LEN])
{
	priv[0] &= 248;
	priv[31] = (uint8_t)((priv[31] & 127) | 64);
}

/* An EVP_PKEY from a private key clamped here (OpenSSL clamps too; doing it ourselves keeps
 * the result independent of the backend). */
static EVP_PKEY *priv_pkey(const uint8_t priv[CRYPTO_KEY_LEN])
{
	uint8_t k[CRYPTO_KEY_LEN];
	EVP_PKEY *p;

	memcpy(k, priv, sizeof(k));
	crypto_x25519_clamp(k);
	p = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, k, sizeof(k));
	crypto_wipe(k, sizeof(k));
	return p;
}

int crypto_x25519_public(uint8_t pub[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN])
{
	EVP_PKEY *p = priv_pkey(priv);
	size_t len = CRYPTO_KEY_LEN;
	int ret = -1;

	if (p == NULL || EVP_PKEY_get_raw_public_key(p, pub, &len) != 1 || len != CRYPTO_KEY_LEN)
		goto out;
	ret = 0;
out:
	EVP_PKEY_free(p);
	if (ret != 0) {
		ERR_clear_error();
		crypto_wipe(pub, CRYPTO_KEY_LEN);
	}
	return ret;
}

int crypto_x25519(uint8_t out[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN],
		  const uint8_t pub[CRYPTO_KEY_LEN])
{
	EVP_PKEY *sk = priv_pkey(priv);
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, CRYPTO_KEY_LEN);
	EVP_PKEY_CTX *c = NULL;
	size_t len = CRYPTO_KEY_LEN;
	int ret = -1;

	if (sk == NULL || pk == NULL)
		goto out;
	c = EVP_PKEY_CTX_new_from_pkey(NULL, sk, NULL);
	/* No peer validation: every 32-byte string is a valid X25519 u-coordinate; low-order
	 * points are caught by the all-zero check (OpenSSL's derive also refuses them). */
	if (c == NULL || EVP_PKEY_derive_init(c) != 1 || EVP_PKEY_derive_set_peer_ex(c, pk, 0) != 1 ||
	    EVP_PKEY_derive(c, out, &len) != 1 || len != CRYPTO_KEY_LEN)
		goto out;
	if (crypto_is_zero(out, CRYPTO_KEY_LEN))
		goto out;
	ret = 0;
out:
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(pk);
	if (ret != 0) {
		ERR_clear_error();
		crypto_wipe(out, CRYPTO_KEY_LEN);
	}
	return ret;
}

int crypto_x25519_generate(uint8_t priv[CRYPTO_KEY_LEN], uint8_t pub[CRYPTO_KEY_LEN])
{
	if (crypto_random(priv, CRYPTO_KEY_LEN) != 0)
		goto fail;
	crypto_x25519_clamp(priv);
	if (crypto_x25519_public(pub, priv) != 0)
		goto fail;
	return 0;
fail:
	crypto_wipe(priv, CRYPTO_KEY_LEN);
	crypto_wipe(pub, CRYPTO_KEY_LEN);
	return -1;
}
