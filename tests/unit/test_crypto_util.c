/* Crypto layer: constant-time compare, zero test, wipe, the random source and the OpenSSL
 * library context. */
#include "crypto/crypto.h"
#include "crypto/crypto_ossl.h"
#include "test.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <stdlib.h>
#include <string.h>

static void test_util(void)
{
	uint8_t a[64], b[64];

	memset(a, 0, sizeof(a));
	CHECK(crypto_is_zero(a, 64));
	CHECK(crypto_is_zero(a, 0));
	a[63] = 1;
	CHECK(!crypto_is_zero(a, 64));
	CHECK(crypto_is_zero(a, 63));
	memcpy(b, a, 64);
	CHECK(crypto_equal(a, b, 64));
	CHECK(crypto_equal(a, b, 0));
	b[0] ^= 0x80;
	CHECK(!crypto_equal(a, b, 64));
	CHECK(crypto_equal(a + 1, b + 1, 63));
	/* Word-at-a-time compare: one flipped bit anywhere, at any length and alignment. */
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 1; n + off <= 64; n++)
			for (size_t k = 0; k < n; k++) {
				uint8_t bit = (uint8_t)(1u << ((k + n) % 8));
				memset(a, 0x5a, 64);
				memset(b, 0x5a, 64);
				CHECK(crypto_equal(a + off, b + off, n));
				b[off + k] ^= bit;
				CHECK(!crypto_equal(a + off, b + off, n));
				CHECK(!crypto_equal(b + off, a + off, n));
				/* outside the compared range it does not count */
				CHECK(crypto_equal(a + off, b + off, k));
			}
	memset(a, 0xff, 64);
	crypto_wipe(a, 64);
	CHECK(crypto_is_zero(a, 64));
	crypto_wipe(NULL, 0);
	memset(a, 0, 64);
	memset(b, 0, 64);
	CHECK_EQ_INT(crypto_random(a, 64), 0);
	CHECK_EQ_INT(crypto_random(b, 64), 0);
	CHECK(!crypto_is_zero(a, 64));
	CHECK(memcmp(a, b, 64) != 0);
	CHECK_EQ_INT(crypto_random(a, 0), 0);
}

/* The random source in one call larger than getrandom's uninterruptible 256 bytes. */
static void test_random_large(void)
{
	static uint8_t a[70000], b[70000];

	CHECK_EQ_INT(crypto_random(a, sizeof(a)), 0);
	CHECK_EQ_INT(crypto_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(!crypto_is_zero(a + sizeof(a) - 32, 32));
}

/* The crypto layer's own OpenSSL context is really in use (no silent fallback to the
 * process-wide one) and offers nothing but the three algorithms: a fetch of any other
 * algorithm, which would build that operation's whole method table, fails. */
static void test_lean_ctx(void)
{
	OSSL_LIB_CTX *ctx = crypto_ossl_libctx();
	const EVP_CIPHER *c = crypto_ossl_chacha20poly1305();
	EVP_CIPHER *aes;
	EVP_MD *sha;
	EVP_KEYMGMT *ed, *x;

	CHECK(ctx != NULL);
	CHECK(c != NULL);
	if (ctx == NULL || c == NULL)
		return;
	CHECK(strcmp(OSSL_PROVIDER_get0_name(EVP_CIPHER_get0_provider(c)), "wgtun-lean") == 0);
	aes = EVP_CIPHER_fetch(ctx, "AES-128-GCM", NULL);
	sha = EVP_MD_fetch(ctx, "SHA256", NULL);
	ed = EVP_KEYMGMT_fetch(ctx, "ED25519", NULL);
	x = EVP_KEYMGMT_fetch(ctx, "X25519", NULL);
	CHECK(aes == NULL && sha == NULL && ed == NULL);
	CHECK(x != NULL);
	EVP_CIPHER_free(aes);
	EVP_MD_free(sha);
	EVP_KEYMGMT_free(ed);
	EVP_KEYMGMT_free(x);
	ERR_clear_error();
}

int main(void)
{
	test_util();
	test_random_large();
	test_lean_ctx();
	return test_finish("crypto_util");
}
