/* Crypto layer: ChaCha20-Poly1305 and XChaCha20-Poly1305: vectors, in place, contexts and
 * workers vs one-shot, tampering. */
#include "crypto/crypto.h"
#include "test.h"
#include "tjson.h"
#include "tvec.h"

#include <stdlib.h>

static void test_aead_vectors(crypto_aead_impl impl)
{
	tjson *j = tjson_load_vector("crypto/chacha20poly1305.json");
	tjson *arr = tjson_get(j, "vectors");
	int fails_expected = 0;

	CHECK_EQ_INT(arr->n, 3);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t klen, nlen, alen, plen, clen, tlen;
		uint8_t *key = tvec_hex(v, "key", &klen), *nonce = tvec_hex(v, "nonce", &nlen);
		uint8_t *aad = tvec_hex(v, "aad", &alen);
		uint8_t *ct = tvec_hex(v, "ciphertext", &clen), *tag = tvec_hex(v, "tag", &tlen);
		bool must_fail = tjson_get(v, "expect_failure") && tjson_bool(v, "expect_failure");
		/* The must-fail vector has no plaintext. */
		uint8_t *pt = must_fail ? calloc(1, clen + 1) : tvec_hex(v, "plaintext", &plen);
		uint8_t *buf = malloc(clen + 16), *buf2 = malloc(clen + 16);
		uint8_t t[16];

		if (must_fail)
			plen = clen;
		CHECK(klen == 32 && nlen == 12 && tlen == 16 && clen == plen);
		if (must_fail) {
			fails_expected++;
			memset(buf, 0x55, plen);
			CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf, ct, clen, tag, aad, alen, nonce, key),
				     -1);
			CHECK(crypto_is_zero(buf, plen)); /* no unauthenticated plaintext */
		} else {
			CHECK_EQ_INT(crypto_aead_seal_detached_impl(impl, buf, t, pt, plen, aad, alen, nonce, key),
				     0);
			CHECK_MEM(buf, ct, clen);
			CHECK_MEM(t, tag, 16);
			CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf2, ct, clen, tag, aad, alen, nonce,
							       key),
				     0);
			CHECK_MEM(buf2, pt, plen);
			/* In place, both directions. */
			memcpy(buf, pt, plen);
			CHECK_EQ_INT(crypto_aead_seal_detached_impl(impl, buf, t, buf, plen, aad, alen, nonce, key),
				     0);
			CHECK_MEM(buf, ct, clen);
			CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf, buf, clen, t, aad, alen, nonce, key),
				     0);
			CHECK_MEM(buf, pt, plen);
			/* Tamper: every bit position class (ct, tag, aad) must be refused. */
			memcpy(buf, ct, clen);
			buf[clen / 2] ^= 0x80;
			CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf2, buf, clen, tag, aad, alen, nonce,
							       key),
				     -1);
			memcpy(t, tag, 16);
			t[15] ^= 1;
			CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf2, ct, clen, t, aad, alen, nonce, key),
				     -1);
			if (alen > 0) {
				aad[0] ^= 1;
				CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf2, ct, clen, tag, aad, alen,
								       nonce, key),
					     -1);
				aad[0] ^= 1;
			}
			nonce[11] ^= 1;
			CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf2, ct, clen, tag, aad, alen, nonce,
							       key),
				     -1);
			nonce[11] ^= 1;
			key[0] ^= 1;
			CHECK_EQ_INT(crypto_aead_open_detached_impl(impl, buf2, ct, clen, tag, aad, alen, nonce,
							       key),
				     -1);
			key[0] ^= 1;
		}
		free(key);
		free(nonce);
		free(aad);
		free(pt);
		free(ct);
		free(tag);
		free(buf);
		free(buf2);
	}
	CHECK_EQ_INT(fails_expected, 1);
	tjson_free(j);
}

/* WireGuard-nonce one-shot vs the keyed context, for lengths around block edges, and the
 * nonce layout itself (4 zero bytes || LE64 counter) against the explicit-nonce call. */
static void test_aead_wg(crypto_aead_impl impl)
{
	static const size_t lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 255, 1420, 4096};
	static const uint64_t ctrs[] = {0, 1, 0x0102030405060708ULL, UINT64_MAX - 1};
	uint8_t key[32], nonce[12];
	uint8_t *a = malloc(4096 + 16), *b = malloc(4096 + 16), *p = malloc(4096 + 16);
	test_rng rng;
	crypto_aead_ctx *ctx;

	test_rng_seed(&rng, 7);
	test_rng_bytes(&rng, key, 32);
	ctx = crypto_aead_ctx_new_impl(key, impl);
	CHECK(ctx != NULL);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (size_t ci = 0; ci < sizeof(ctrs) / sizeof(ctrs[0]); ci++) {
			size_t len = lens[li];
			uint64_t ctr = ctrs[ci];

			test_rng_bytes(&rng, p, len);
			crypto_aead_seal(a, p, len, NULL, 0, ctr, key);
			/* Explicit nonce layout. */
			memset(nonce, 0, 4);
			for (int k = 0; k < 8; k++)
				nonce[4 + k] = (uint8_t)(ctr >> (8 * k));
			CHECK_EQ_INT(crypto_aead_seal_detached(b, b + len, p, len, NULL, 0, nonce, key),
				     0);
			CHECK_MEM(a, b, len + 16);
			/* Context seal in place equals one-shot. */
			memcpy(b, p, len);
			CHECK_EQ_INT(crypto_aead_ctx_seal(ctx, b, len, ctr), 0);
			CHECK_MEM(a, b, len + 16);
			/* Context open in place, and one-shot open in place. */
			CHECK_EQ_INT(crypto_aead_ctx_open(ctx, b, len + 16, ctr), 0);
			CHECK_MEM(b, p, len);
			memcpy(b, a, len + 16);
			CHECK_EQ_INT(crypto_aead_open(b, b, len + 16, NULL, 0, ctr, key), 0);
			CHECK_MEM(b, p, len);
			/* Wrong counter and flipped bits are refused, and the buffer wiped. */
			memcpy(b, a, len + 16);
			CHECK_EQ_INT(crypto_aead_ctx_open(ctx, b, len + 16, ctr ^ 1), -1);
			CHECK(crypto_is_zero(b, len));
			memcpy(b, a, len + 16);
			b[(len + 16) - 1 - (ctr % (len + 16))] ^= 0x04;
			CHECK_EQ_INT(crypto_aead_ctx_open(ctx, b, len + 16, ctr), -1);
			memcpy(b, a, len + 16);
			b[0] ^= 0x01;
			CHECK_EQ_INT(crypto_aead_open(p, b, len + 16, NULL, 0, ctr, key), -1);
		}
	}
	/* With AD (the handshake path). */
	test_rng_bytes(&rng, p, 48);
	crypto_aead_seal(a, p, 48, "hash-as-ad", 10, 0, key);
	CHECK_EQ_INT(crypto_aead_open(b, a, 64, "hash-as-ad", 10, 0, key), 0);
	CHECK_MEM(b, p, 48);
	CHECK_EQ_INT(crypto_aead_open(b, a, 64, "hash-as-ae", 10, 0, key), -1);
	CHECK_EQ_INT(crypto_aead_open(b, a, 64, NULL, 0, 0, key), -1);
	/* Too short for a tag. */
	CHECK_EQ_INT(crypto_aead_open(b, a, 15, NULL, 0, 0, key), -1);
	CHECK_EQ_INT(crypto_aead_ctx_open(ctx, a, 15, 0), -1);
	/* A context under another key refuses. */
	{
		crypto_aead_ctx *other;

		key[5] ^= 1;
		other = crypto_aead_ctx_new_impl(key, impl);
		CHECK(other != NULL);
		memcpy(b, p, 100);
		CHECK_EQ_INT(crypto_aead_ctx_seal(ctx, b, 100, 9), 0);
		CHECK_EQ_INT(crypto_aead_ctx_open(other, b, 116, 9), -1);
		crypto_aead_ctx_free(other);
	}
	crypto_aead_ctx_free(ctx);
	crypto_aead_ctx_free(NULL);
	free(a);
	free(b);
	free(p);
}

/* A worker context: same bytes as a keyed context, the key switches per call (the cache must
 * never seal under a stale key), forgeries and wrong keys refused and wiped. */
static void test_aead_worker(crypto_aead_impl impl)
{
	uint8_t k1[32], k2[32], a[1500], b[1500], c[1500];
	crypto_aead_ctx *c1, *c2;
	crypto_aead_worker *w = crypto_aead_worker_new_impl(impl);

	for (int i = 0; i < 32; i++) {
		k1[i] = (uint8_t)i;
		k2[i] = (uint8_t)(i == 31 ? 0x80 : i); /* differs only in the last byte */
	}
	c1 = crypto_aead_ctx_new_impl(k1, impl);
	c2 = crypto_aead_ctx_new_impl(k2, impl);
	CHECK(w && c1 && c2);
	for (int round = 0; round < 40; round++) {
		const uint8_t *key = (round % 3) ? k1 : k2;
		crypto_aead_ctx *ref = (round % 3) ? c1 : c2;
		size_t len = (size_t)round * 37;
		for (size_t i = 0; i < len; i++)
			a[i] = b[i] = (uint8_t)(i * 7 + (size_t)round);
		CHECK_EQ_INT(crypto_aead_ctx_seal(ref, a, len, (uint64_t)round), 0);
		CHECK_EQ_INT(crypto_aead_worker_seal(w, key, b, len, (uint64_t)round), 0);
		CHECK(memcmp(a, b, len + 16) == 0);
		memcpy(c, b, len + 16);
		CHECK_EQ_INT(crypto_aead_worker_open(w, key, b, len + 16, (uint64_t)round), 0);
		for (size_t i = 0; i < len; i++)
			CHECK(b[i] == (uint8_t)(i * 7 + (size_t)round));
		/* The other key must fail, also right after a success with the right one. */
		CHECK_EQ_INT(crypto_aead_worker_open(w, key == k1 ? k2 : k1, c, len + 16,
						     (uint64_t)round),
			     -1);
	}
	CHECK_EQ_INT(crypto_aead_worker_open(w, k1, a, 15, 0), -1);
	crypto_aead_ctx_free(c1);
	crypto_aead_ctx_free(c2);
	crypto_aead_worker_free(w);
	crypto_aead_worker_free(NULL);
}

static void test_xchacha(crypto_aead_impl impl)
{
	tjson *j = tjson_load_vector("crypto/xchacha20poly1305.json");
	tjson *arr = tjson_get(j, "hchacha20");
	uint8_t out[32];
	crypto_aead_worker *xw;

	CHECK_EQ_INT(arr->n, 1);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		uint8_t key[32], nonce[16], want[32];

		tvec_hex32(key, v, "key");
		CHECK_EQ_INT(test_unhex(nonce, 16, tjson_str(v, "nonce")), 16);
		tvec_hex32(want, v, "output");
		crypto_hchacha20(out, key, nonce);
		CHECK_MEM(out, want, 32);
	}
	arr = tjson_get(j, "xchacha20poly1305");
	CHECK_EQ_INT(arr->n, 2);
	xw = crypto_aead_worker_new_impl(impl);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t nlen, alen, plen, clen, tlen;
		uint8_t key[32];
		uint8_t *nonce = tvec_hex(v, "nonce", &nlen), *aad = tvec_hex(v, "aad", &alen);
		uint8_t *pt = tvec_hex(v, "plaintext", &plen), *ct = tvec_hex(v, "ciphertext", &clen);
		uint8_t *tag = tvec_hex(v, "tag", &tlen);
		uint8_t *buf = malloc(plen + 16), *buf2 = malloc(plen + 16);

		tvec_hex32(key, v, "key");
		CHECK(nlen == 24 && tlen == 16 && clen == plen);
		if (tjson_get(v, "subkey") != NULL) {
			uint8_t sub[32];

			tvec_hex32(sub, v, "subkey");
			crypto_hchacha20(out, key, nonce);
			CHECK_MEM(out, sub, 32);
		}
		crypto_xaead_seal(buf, pt, plen, aad, alen, nonce, key);
		CHECK_MEM(buf, ct, clen);
		CHECK_MEM(buf + plen, tag, 16);
		/* Through a reused worker context (cookie replies): the same bytes, twice. */
		for (int k = 0; k < 2; k++) {
			CHECK(xw != NULL);
			memset(buf2, 0xa5, plen + 16);
			CHECK_EQ_INT(crypto_xaead_worker_seal(xw, buf2, pt, plen, aad, alen, nonce,
							      key),
				     0);
			CHECK_MEM(buf2, buf, plen + 16);
		}
		CHECK_EQ_INT(crypto_xaead_open(buf2, buf, plen + 16, aad, alen, nonce, key), 0);
		CHECK_MEM(buf2, pt, plen);
		/* In place. */
		memcpy(buf2, pt, plen);
		crypto_xaead_seal(buf2, buf2, plen, aad, alen, nonce, key);
		CHECK_MEM(buf2, buf, plen + 16);
		CHECK_EQ_INT(crypto_xaead_open(buf2, buf2, plen + 16, aad, alen, nonce, key), 0);
		CHECK_MEM(buf2, pt, plen);
		/* Tamper: tag, first nonce half (goes into HChaCha20), second half, aad. */
		buf[plen + 3] ^= 1;
		CHECK_EQ_INT(crypto_xaead_open(buf2, buf, plen + 16, aad, alen, nonce, key), -1);
		buf[plen + 3] ^= 1;
		nonce[2] ^= 1;
		CHECK_EQ_INT(crypto_xaead_open(buf2, buf, plen + 16, aad, alen, nonce, key), -1);
		nonce[2] ^= 1;
		nonce[20] ^= 1;
		CHECK_EQ_INT(crypto_xaead_open(buf2, buf, plen + 16, aad, alen, nonce, key), -1);
		nonce[20] ^= 1;
		aad[alen - 1] ^= 1;
		CHECK_EQ_INT(crypto_xaead_open(buf2, buf, plen + 16, aad, alen, nonce, key), -1);
		CHECK_EQ_INT(crypto_xaead_open(buf2, buf, 15, aad, alen, nonce, key), -1);
		free(nonce);
		free(aad);
		free(pt);
		free(ct);
		free(tag);
		free(buf);
		free(buf2);
	}
	crypto_aead_worker_free(xw);
	tjson_free(j);
}

/* The two implementations against each other: random keys, counters and contents at every
 * length 0..1500, one seals and the other opens (in place, context and worker, both ways),
 * the bytes equal; a flipped ciphertext or tag bit is refused by both and the buffer wiped. */
static void test_aead_cross(void)
{
	enum { MAXLEN = 1500 };
	uint8_t key[32], nonce[12], ad[40];
	uint8_t *p = malloc(MAXLEN + 16), *x = malloc(MAXLEN + 16), *y = malloc(MAXLEN + 16);
	uint8_t tx[16], ty[16];
	crypto_aead_worker *we = crypto_aead_worker_new_impl(CRYPTO_AEAD_IMPL_EVP);
	crypto_aead_worker *wp = crypto_aead_worker_new_impl(CRYPTO_AEAD_IMPL_PROVIDER);
	test_rng rng;
	unsigned refused = 0;

	CHECK(p && x && y && we && wp);
	test_rng_seed(&rng, 20261201);
	for (size_t len = 0; len <= MAXLEN; len++) {
		uint64_t ctr;
		crypto_aead_ctx *ce, *cp;
		size_t adlen = len % (sizeof(ad) + 1), bit;

		test_rng_bytes(&rng, key, 32);
		test_rng_bytes(&rng, (uint8_t *)&ctr, sizeof(ctr));
		test_rng_bytes(&rng, p, len);
		test_rng_bytes(&rng, ad, sizeof(ad));
		test_rng_bytes(&rng, nonce, sizeof(nonce));
		/* Detached with AD (the handshake's shape), separate buffers. */
		CHECK_EQ_INT(crypto_aead_seal_detached_impl(CRYPTO_AEAD_IMPL_EVP, x, tx, p, len, ad,
							    adlen, nonce, key),
			     0);
		CHECK_EQ_INT(crypto_aead_seal_detached_impl(CRYPTO_AEAD_IMPL_PROVIDER, y, ty, p, len,
							    ad, adlen, nonce, key),
			     0);
		CHECK_MEM(x, y, len);
		CHECK_MEM(tx, ty, 16);
		CHECK_EQ_INT(crypto_aead_open_detached_impl(CRYPTO_AEAD_IMPL_PROVIDER, y, x, len, tx,
							    ad, adlen, nonce, key),
			     0);
		CHECK_MEM(y, p, len);
		/* In place, keyed contexts: EVP seals, the provider opens, and the reverse. */
		ce = crypto_aead_ctx_new_impl(key, CRYPTO_AEAD_IMPL_EVP);
		cp = crypto_aead_ctx_new_impl(key, CRYPTO_AEAD_IMPL_PROVIDER);
		CHECK(ce && cp);
		memcpy(x, p, len);
		memcpy(y, p, len);
		CHECK_EQ_INT(crypto_aead_ctx_seal(ce, x, len, ctr), 0);
		CHECK_EQ_INT(crypto_aead_ctx_seal(cp, y, len, ctr), 0);
		CHECK_MEM(x, y, len + 16);
		CHECK_EQ_INT(crypto_aead_ctx_open(cp, x, len + 16, ctr), 0);
		CHECK_MEM(x, p, len);
		CHECK_EQ_INT(crypto_aead_ctx_open(ce, y, len + 16, ctr), 0);
		CHECK_MEM(y, p, len);
		/* Workers (the data path), same again, then one flipped bit anywhere in
		 * ciphertext or tag: both refuse, both wipe. */
		memcpy(x, p, len);
		CHECK_EQ_INT(crypto_aead_worker_seal(wp, key, x, len, ctr), 0);
		memcpy(y, x, len + 16);
		CHECK_EQ_INT(crypto_aead_worker_open(we, key, y, len + 16, ctr), 0);
		CHECK_MEM(y, p, len);
		test_rng_bytes(&rng, (uint8_t *)&bit, sizeof(bit));
		bit %= (len + 16) * 8;
		x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memcpy(y, x, len + 16);
		if (crypto_aead_worker_open(wp, key, x, len + 16, ctr) == -1 &&
		    crypto_aead_worker_open(we, key, y, len + 16, ctr) == -1 &&
		    crypto_is_zero(x, len) && crypto_is_zero(y, len))
			refused++;
		crypto_aead_ctx_free(ce);
		crypto_aead_ctx_free(cp);
	}
	CHECK_EQ_INT(refused, MAXLEN + 1);
	crypto_aead_worker_free(we);
	crypto_aead_worker_free(wp);
	free(p);
	free(x);
	free(y);
}

static const struct {
	crypto_aead_impl impl;
	const char *name;
} impls[] = {
	{CRYPTO_AEAD_IMPL_EVP, "evp"},
	{CRYPTO_AEAD_IMPL_PROVIDER, "provider"},
	{CRYPTO_AEAD_IMPL_DEFAULT, "default"},
};

int main(void)
{
	/* The direct provider path must be what runs here (OpenSSL 3 with wgtun's private
	 * context, static or shared): a silent fallback to EVP would cost ~1,700 instructions
	 * per packet unnoticed. */
	CHECK_EQ_INT(crypto_aead_impl_default(), CRYPTO_AEAD_IMPL_PROVIDER);
	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		unsigned long before = test_failures;

		test_aead_vectors(impls[i].impl);
		test_aead_wg(impls[i].impl);
		test_aead_worker(impls[i].impl);
		test_xchacha(impls[i].impl);
		if (test_failures != before)
			fprintf(stderr, "  (failures above: the %s implementation)\n", impls[i].name);
	}
	test_aead_cross();
	return test_finish("crypto_aead");
}
