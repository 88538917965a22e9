/* X25519 (RFC 7748) on OpenSSL's EVP_PKEY raw keys. */
#include "crypto.h"
#include "crypto_ossl.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

struct crypto_x25519_key {
	EVP_PKEY *pkey; /* immutable after creation */
};

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

	if (!crypto_ossl_ready()) /* else the key would land in another context */
		return NULL;
	memcpy(k, priv, sizeof(k));
	crypto_x25519_clamp(k);
	p = EVP_PKEY_new_raw_private_key_ex(crypto_ossl_libctx(), "X25519", NULL, k, sizeof(k));
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

/* A private key for derive() only. EVP_PKEY_new_raw_private_key computes the public key at
 * once, a full base-point multiplication that derive() never uses (measured: it halves the
 * DH rate). Importing the clamped private key together with a placeholder public key skips
 * it; the object never leaves this file and is used for nothing but derive(), which reads
 * only the private scalar. The known-answer tests pin the result. */
static EVP_PKEY *derive_only_pkey(const uint8_t priv[CRYPTO_KEY_LEN])
{
	uint8_t k[CRYPTO_KEY_LEN];
	uint8_t placeholder[CRYPTO_KEY_LEN] = {9};
	EVP_PKEY_CTX *c = crypto_ossl_ready()
				  ? EVP_PKEY_CTX_new_from_name(crypto_ossl_libctx(), "X25519", NULL)
				  : NULL;
	EVP_PKEY *p = NULL;
	OSSL_PARAM params[3];

	memcpy(k, priv, sizeof(k));
	crypto_x25519_clamp(k);
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, k, sizeof(k));
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, placeholder,
						      sizeof(placeholder));
	params[2] = OSSL_PARAM_construct_end();
	if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &p, EVP_PKEY_KEYPAIR, params) != 1) {
		EVP_PKEY_free(p);
		p = NULL;
	}
	EVP_PKEY_CTX_free(c);
	crypto_wipe(k, sizeof(k));
	return p;
}

/* out = X25519(sk, pub); -1 (out wiped) on failure or all-zero output. */
static int dh_pkey(uint8_t out[CRYPTO_KEY_LEN], EVP_PKEY *sk, const uint8_t pub[CRYPTO_KEY_LEN])
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key_ex(crypto_ossl_libctx(), "X25519", NULL, pub,
						     CRYPTO_KEY_LEN);
	EVP_PKEY_CTX *c = NULL;
	size_t len = CRYPTO_KEY_LEN;
	int ret = -1;

	if (sk == NULL || pk == NULL)
		goto out;
	c = EVP_PKEY_CTX_new_from_pkey(crypto_ossl_libctx(), sk, NULL);
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
	EVP_PKEY_free(pk);
	if (ret != 0) {
		ERR_clear_error();
		crypto_wipe(out, CRYPTO_KEY_LEN);
	}
	/* OpenSSL's X25519 leaves the shared secret in its own dead stack frames (its reduced
	 * field elements are the output bytes), where it outlives the secret
	 * (tests/unit/test_secrets.c found the static-static DH there after the tunnel was
	 * freed); it costs far less than the X25519 itself. */
	crypto_burn_stack();
	return ret;
}

int crypto_x25519(uint8_t out[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN],
		  const uint8_t pub[CRYPTO_KEY_LEN])
{
	EVP_PKEY *sk = derive_only_pkey(priv);
	int ret = dh_pkey(out, sk, pub);

	EVP_PKEY_free(sk);
	return ret;
}

crypto_x25519_key *crypto_x25519_key_new(const uint8_t priv[CRYPTO_KEY_LEN])
{
	crypto_x25519_key *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	k->pkey = derive_only_pkey(priv);
	if (k->pkey == NULL) {
		ERR_clear_error();
		free(k);
		return NULL;
	}
	return k;
}

void crypto_x25519_key_free(crypto_x25519_key *k)
{
	if (k == NULL)
		return;
	/* OpenSSL clears the private key when the EVP_PKEY's last reference goes. */
	EVP_PKEY_free(k->pkey);
	free(k);
}

int crypto_x25519_key_dh(uint8_t out[CRYPTO_KEY_LEN], const crypto_x25519_key *k,
			 const uint8_t pub[CRYPTO_KEY_LEN])
{
	return dh_pkey(out, k->pkey, pub);
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
