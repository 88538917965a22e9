/* Crypto layer: known answers for every vector in tests/vectors/crypto/, plus behaviour
 * (in place, context vs one-shot, tampering, encodings and their rejection tables). */
#include "crypto/crypto.h"
#include "test.h"
#include "tjson.h"
#include "wgtun.h"

#include <stdlib.h>

/* Decodes member `key` of obj; *len gets its length. Caller frees. */
static uint8_t *hexm(const tjson *obj, const char *key, size_t *len)
{
	return test_unhex_alloc(tjson_str(obj, key), len);
}

static void hex32(uint8_t out[32], const tjson *obj, const char *key)
{
	CHECK_EQ_INT(test_unhex(out, 32, tjson_str(obj, key)), 32);
}

/* ---- BLAKE2s ---- */

static void check_blake2s_vec(const tjson *v)
{
	size_t klen, inlen, hlen;
	uint8_t *key = hexm(v, "key", &klen), *in = hexm(v, "input", &inlen);
	uint8_t *want = hexm(v, "hash", &hlen);
	size_t outlen = (size_t)tjson_u64(v, "out_len");
	uint8_t out[32];

	CHECK_EQ_INT(hlen, outlen);
	CHECK_EQ_INT(crypto_blake2s(out, outlen, key, klen, in, inlen), 0);
	CHECK_MEM(out, want, outlen);
	if (klen == 0 && outlen == 32) {
		crypto_hash(out, in, inlen);
		CHECK_MEM(out, want, 32);
		/* The two-part form must equal the hash of the concatenation at every split. */
		for (size_t split = 0; split <= inlen; split += 1 + inlen / 7) {
			crypto_hash2(out, in, split, in + split, inlen - split);
			CHECK_MEM(out, want, 32);
		}
	}
	if (klen > 0 && outlen == 16) {
		crypto_mac(out, key, klen, in, inlen);
		CHECK_MEM(out, want, 16);
	}
	if (tjson_get(v, "not_equal_to_truncated_32") != NULL) {
		size_t tlen;
		uint8_t *trunc = hexm(v, "not_equal_to_truncated_32", &tlen);
		uint8_t full[32];

		/* out_len is a parameter, not a truncation. */
		CHECK_EQ_INT(crypto_blake2s(full, 32, key, klen, in, inlen), 0);
		CHECK_MEM(full, trunc, tlen);
		CHECK(memcmp(out, trunc, outlen) != 0);
		free(trunc);
	}
	free(key);
	free(in);
	free(want);
}

static void test_blake2s(void)
{
	tjson *j = tjson_load_vector("crypto/blake2s.json");
	const char *groups[] = {"rfc7693", "keyed_kat", "unkeyed", "computed_16"};
	size_t total = 0;
	uint8_t out[32];

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		tjson *arr = tjson_get(j, groups[g]);

		CHECK(arr != NULL && arr->n > 0);
		for (size_t i = 0; arr != NULL && i < arr->n; i++, total++)
			check_blake2s_vec(tjson_at(arr, i));
	}
	CHECK_EQ_INT(total, 1 + 256 + 256 + 11);
	tjson_free(j);

	/* Argument checks. */
	CHECK_EQ_INT(crypto_blake2s(out, 0, "k", 1, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(out, 33, "k", 1, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(out, 32, out, 33, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(NULL, 32, "k", 1, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(out, 1, "k", 1, "x", 1), 0);
}

static void test_hmac_kdf(void)
{
	tjson *j = tjson_load_vector("crypto/hmac_blake2s.json");
	tjson *arr = tjson_get(j, "vectors");
	uint8_t out[32];

	CHECK_EQ_INT(arr->n, 7);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t klen, inlen;
		uint8_t *key = hexm(v, "key", &klen), *in = hexm(v, "input", &inlen);
		uint8_t want[32];

		hex32(want, v, "hmac");
		crypto_hmac(out, key, klen, in, inlen);
		CHECK_MEM(out, want, 32);
		free(key);
		free(in);
	}
	tjson_free(j);

	j = tjson_load_vector("crypto/kdf.json");
	arr = tjson_get(j, "vectors");
	CHECK_EQ_INT(arr->n, 6);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t klen, inlen;
		uint8_t *key = hexm(v, "key", &klen), *in = hexm(v, "input", &inlen);
		uint8_t ck[32], t1[32], t2[32], t3[32], w1[32], w2[32], w3[32];

		hex32(w1, v, "t1");
		hex32(w2, v, "t2");
		hex32(w3, v, "t3");
		/* The vectors' key is the HMAC key; crypto_kdf takes a 32-byte chaining key, so
		 * only 32-byte keys go through it directly; the others are checked with the
		 * definition (PRK = HMAC(key, input)), which is what crypto_kdf composes. */
		if (klen == 32) {
			memcpy(ck, key, 32);
			crypto_kdf(t1, t2, t3, ck, in, inlen);
			CHECK_MEM(t1, w1, 32);
			CHECK_MEM(t2, w2, 32);
			CHECK_MEM(t3, w3, 32);
			/* Subsets and aliasing of the output with the chaining key. */
			memset(t2, 0xaa, 32);
			crypto_kdf(NULL, t2, NULL, ck, in, inlen);
			CHECK_MEM(t2, w2, 32);
			crypto_kdf(NULL, NULL, t3, ck, in, inlen);
			CHECK_MEM(t3, w3, 32);
			crypto_kdf(ck, t2, NULL, ck, in, inlen);
			CHECK_MEM(ck, w1, 32);
			CHECK_MEM(t2, w2, 32);
		} else {
			uint8_t prk[32], buf[33];

			/* HMAC zero-pads its key to the block size, so a shorter key is the
			 * same key padded to 32 bytes: crypto_kdf itself can run these too. */
			CHECK(klen < 32);
			memset(ck, 0, 32);
			if (klen)
				memcpy(ck, key, klen);
			crypto_kdf(t1, t2, t3, ck, in, inlen);
			CHECK_MEM(t1, w1, 32);
			CHECK_MEM(t2, w2, 32);
			CHECK_MEM(t3, w3, 32);

			crypto_hmac(prk, key, klen, in, inlen);
			buf[0] = 1;
			crypto_hmac(t1, prk, 32, buf, 1);
			CHECK_MEM(t1, w1, 32);
			memcpy(buf, t1, 32);
			buf[32] = 2;
			crypto_hmac(t2, prk, 32, buf, 33);
			CHECK_MEM(t2, w2, 32);
			memcpy(buf, t2, 32);
			buf[32] = 3;
			crypto_hmac(t3, prk, 32, buf, 33);
			CHECK_MEM(t3, w3, 32);
		}
		free(key);
		free(in);
	}
	tjson_free(j);
}

/* ---- ChaCha20-Poly1305 ---- */

static void test_aead_vectors(void)
{
	tjson *j = tjson_load_vector("crypto/chacha20poly1305.json");
	tjson *arr = tjson_get(j, "vectors");
	int fails_expected = 0;

	CHECK_EQ_INT(arr->n, 3);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t klen, nlen, alen, plen, clen, tlen;
		uint8_t *key = hexm(v, "key", &klen), *nonce = hexm(v, "nonce", &nlen);
		uint8_t *aad = hexm(v, "aad", &alen);
		uint8_t *ct = hexm(v, "ciphertext", &clen), *tag = hexm(v, "tag", &tlen);
		bool must_fail = tjson_get(v, "expect_failure") && tjson_bool(v, "expect_failure");
		/* The must-fail vector has no plaintext. */
		uint8_t *pt = must_fail ? calloc(1, clen + 1) : hexm(v, "plaintext", &plen);
		uint8_t *buf = malloc(clen + 16), *buf2 = malloc(clen + 16);
		uint8_t t[16];

		if (must_fail)
			plen = clen;
		CHECK(klen == 32 && nlen == 12 && tlen == 16 && clen == plen);
		if (must_fail) {
			fails_expected++;
			memset(buf, 0x55, plen);
			CHECK_EQ_INT(crypto_aead_open_detached(buf, ct, clen, tag, aad, alen, nonce, key),
				     -1);
			CHECK(crypto_is_zero(buf, plen)); /* no unauthenticated plaintext */
		} else {
			CHECK_EQ_INT(crypto_aead_seal_detached(buf, t, pt, plen, aad, alen, nonce, key),
				     0);
			CHECK_MEM(buf, ct, clen);
			CHECK_MEM(t, tag, 16);
			CHECK_EQ_INT(crypto_aead_open_detached(buf2, ct, clen, tag, aad, alen, nonce,
							       key),
				     0);
			CHECK_MEM(buf2, pt, plen);
			/* In place, both directions. */
			memcpy(buf, pt, plen);
			CHECK_EQ_INT(crypto_aead_seal_detached(buf, t, buf, plen, aad, alen, nonce, key),
				     0);
			CHECK_MEM(buf, ct, clen);
			CHECK_EQ_INT(crypto_aead_open_detached(buf, buf, clen, t, aad, alen, nonce, key),
				     0);
			CHECK_MEM(buf, pt, plen);
			/* Tamper: every bit position class (ct, tag, aad) must be refused. */
			memcpy(buf, ct, clen);
			buf[clen / 2] ^= 0x80;
			CHECK_EQ_INT(crypto_aead_open_detached(buf2, buf, clen, tag, aad, alen, nonce,
							       key),
				     -1);
			memcpy(t, tag, 16);
			t[15] ^= 1;
			CHECK_EQ_INT(crypto_aead_open_detached(buf2, ct, clen, t, aad, alen, nonce, key),
				     -1);
			if (alen > 0) {
				aad[0] ^= 1;
				CHECK_EQ_INT(crypto_aead_open_detached(buf2, ct, clen, tag, aad, alen,
								       nonce, key),
					     -1);
				aad[0] ^= 1;
			}
			nonce[11] ^= 1;
			CHECK_EQ_INT(crypto_aead_open_detached(buf2, ct, clen, tag, aad, alen, nonce,
							       key),
				     -1);
			nonce[11] ^= 1;
			key[0] ^= 1;
			CHECK_EQ_INT(crypto_aead_open_detached(buf2, ct, clen, tag, aad, alen, nonce,
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
static void test_aead_wg(void)
{
	static const size_t lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 255, 1420, 4096};
	static const uint64_t ctrs[] = {0, 1, 0x0102030405060708ULL, UINT64_MAX - 1};
	uint8_t key[32], nonce[12];
	uint8_t *a = malloc(4096 + 16), *b = malloc(4096 + 16), *p = malloc(4096 + 16);
	test_rng rng;
	crypto_aead_ctx *ctx;

	test_rng_seed(&rng, 7);
	test_rng_bytes(&rng, key, 32);
	ctx = crypto_aead_ctx_new(key);
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
		other = crypto_aead_ctx_new(key);
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
static void test_aead_worker(void)
{
	uint8_t k1[32], k2[32], a[1500], b[1500], c[1500];
	crypto_aead_ctx *c1, *c2;
	crypto_aead_worker *w = crypto_aead_worker_new();

	for (int i = 0; i < 32; i++) {
		k1[i] = (uint8_t)i;
		k2[i] = (uint8_t)(i == 31 ? 0x80 : i); /* differs only in the last byte */
	}
	c1 = crypto_aead_ctx_new(k1);
	c2 = crypto_aead_ctx_new(k2);
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

static void test_xchacha(void)
{
	tjson *j = tjson_load_vector("crypto/xchacha20poly1305.json");
	tjson *arr = tjson_get(j, "hchacha20");
	uint8_t out[32];
	crypto_aead_worker *xw;

	CHECK_EQ_INT(arr->n, 1);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		uint8_t key[32], nonce[16], want[32];

		hex32(key, v, "key");
		CHECK_EQ_INT(test_unhex(nonce, 16, tjson_str(v, "nonce")), 16);
		hex32(want, v, "output");
		crypto_hchacha20(out, key, nonce);
		CHECK_MEM(out, want, 32);
	}
	arr = tjson_get(j, "xchacha20poly1305");
	CHECK_EQ_INT(arr->n, 2);
	xw = crypto_aead_worker_new();
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t nlen, alen, plen, clen, tlen;
		uint8_t key[32];
		uint8_t *nonce = hexm(v, "nonce", &nlen), *aad = hexm(v, "aad", &alen);
		uint8_t *pt = hexm(v, "plaintext", &plen), *ct = hexm(v, "ciphertext", &clen);
		uint8_t *tag = hexm(v, "tag", &tlen);
		uint8_t *buf = malloc(plen + 16), *buf2 = malloc(plen + 16);

		hex32(key, v, "key");
		CHECK(nlen == 24 && tlen == 16 && clen == plen);
		if (tjson_get(v, "subkey") != NULL) {
			uint8_t sub[32];

			hex32(sub, v, "subkey");
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

/* ---- X25519 ---- */

static void test_x25519(void)
{
	tjson *j = tjson_load_vector("crypto/x25519.json");
	tjson *arr = tjson_get(j, "rfc7748_5_2");
	uint8_t k[32], u[32], want[32], out[32], tmp[32];
	size_t zero_count = 0;
	crypto_x25519_key *kobj;

	CHECK_EQ_INT(arr->n, 2);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);

		hex32(k, v, "scalar");
		hex32(u, v, "u");
		hex32(want, v, "output");
		CHECK_EQ_INT(crypto_x25519(out, k, u), 0);
		CHECK_MEM(out, want, 32);
	}

	arr = tjson_get(j, "rfc7748_5_2_iterated");
	CHECK_EQ_INT(arr->n, 2);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		uint64_t iters = tjson_u64(v, "iterations");

		hex32(k, v, "start_k");
		hex32(u, v, "start_u");
		hex32(want, v, "output");
		/* k, u <- X25519(k, u), k. */
		for (uint64_t n = 0; n < iters; n++) {
			CHECK_EQ_INT(crypto_x25519(tmp, k, u), 0);
			memcpy(u, k, 32);
			memcpy(k, tmp, 32);
		}
		CHECK_MEM(k, want, 32);
	}

	{
		tjson *v = tjson_get(j, "rfc7748_6_1");
		uint8_t ap[32], bp[32], apub[32], bpub[32], s[32], s2[32];

		hex32(ap, v, "alice_private");
		hex32(bp, v, "bob_private");
		hex32(apub, v, "alice_public");
		hex32(bpub, v, "bob_public");
		hex32(want, v, "shared");
		CHECK_EQ_INT(crypto_x25519_public(out, ap), 0);
		CHECK_MEM(out, apub, 32);
		CHECK_EQ_INT(crypto_x25519_public(out, bp), 0);
		CHECK_MEM(out, bpub, 32);
		CHECK_EQ_INT(crypto_x25519(s, ap, bpub), 0);
		CHECK_EQ_INT(crypto_x25519(s2, bp, apub), 0);
		CHECK_MEM(s, want, 32);
		CHECK_MEM(s2, want, 32);
		/* Clamping is idempotent and the public key ignores the clamped-off bits. */
		memcpy(tmp, ap, 32);
		crypto_x25519_clamp(tmp);
		CHECK(tmp[0] % 8 == 0 && (tmp[31] & 0xc0) == 0x40);
		CHECK_EQ_INT(crypto_x25519_public(out, tmp), 0);
		CHECK_MEM(out, apub, 32);
	}

	arr = tjson_get(j, "low_order_points");
	CHECK_EQ_INT(arr->n, 11);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		tjson *chk = tjson_get(v, "check");

		hex32(u, v, "u");
		hex32(k, chk, "scalar");
		memset(out, 0x77, 32);
		CHECK_MSG(crypto_x25519(out, k, u) == -1, "low-order point %zu accepted", i);
		CHECK(crypto_is_zero(out, 32));
		/* Any other scalar too. */
		memset(k, (int)(0x11 * (i + 1)), 32);
		CHECK_EQ_INT(crypto_x25519(out, k, u), -1);
	}

	arr = tjson_get(j, "kernel_selftest");
	CHECK_EQ_INT(arr->n, 81);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		bool zero = tjson_bool(v, "output_is_zero");

		hex32(k, v, "scalar");
		hex32(u, v, "u");
		hex32(want, v, "output");
		memset(out, 0x77, 32);
		kobj = crypto_x25519_key_new(k);
		CHECK(kobj != NULL);
		if (zero) {
			zero_count++;
			CHECK(crypto_is_zero(want, 32));
			CHECK_MSG(crypto_x25519(out, k, u) == -1, "kernel entry %zu accepted", i);
			CHECK(crypto_is_zero(out, 32));
			memset(out, 0x77, 32);
			CHECK(kobj && crypto_x25519_key_dh(out, kobj, u) == -1);
			CHECK(crypto_is_zero(out, 32));
		} else {
			CHECK_MSG(crypto_x25519(out, k, u) == 0, "kernel entry %zu refused", i);
			CHECK_MEM(out, want, 32);
			memset(out, 0x77, 32);
			CHECK(kobj && crypto_x25519_key_dh(out, kobj, u) == 0);
			CHECK_MEM(out, want, 32);
		}
		crypto_x25519_key_free(kobj);
	}
	CHECK_EQ_INT(zero_count, tjson_u64(j, "kernel_selftest_zero_output_count"));
	CHECK_EQ_INT(zero_count, 16);
	tjson_free(j);

	/* Generated keys are clamped, and DH agrees both ways. */
	{
		uint8_t a[32], ap[32], b[32], bp[32], s1[32], s2[32];

		CHECK_EQ_INT(crypto_x25519_generate(a, ap), 0);
		CHECK_EQ_INT(crypto_x25519_generate(b, bp), 0);
		CHECK(memcmp(a, b, 32) != 0);
		CHECK(a[0] % 8 == 0 && (a[31] & 0xc0) == 0x40);
		CHECK_EQ_INT(crypto_x25519(s1, a, bp), 0);
		CHECK_EQ_INT(crypto_x25519(s2, b, ap), 0);
		CHECK_MEM(s1, s2, 32);
		/* The prepared key gives the same secret, repeatedly. */
		kobj = crypto_x25519_key_new(a);
		CHECK(kobj != NULL);
		for (int n = 0; kobj != NULL && n < 3; n++) {
			memset(s2, 0, 32);
			CHECK_EQ_INT(crypto_x25519_key_dh(s2, kobj, bp), 0);
			CHECK_MEM(s1, s2, 32);
		}
		crypto_x25519_key_free(kobj);
		crypto_x25519_key_free(NULL);
	}
}

/* ---- utilities ---- */

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

/* ---- key encodings ---- */

/* Deliberately naive references (table lookups, branches) to compare against. */
static const char ref_b64_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void ref_to_hex(char out[65], const uint8_t key[32])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", key[i]);
}

static void ref_to_b64(char out[45], const uint8_t key[32])
{
	uint8_t k[33] = {0};
	int o = 0;

	memcpy(k, key, 32);
	for (int i = 0; i < 33; i += 3) {
		uint32_t w = (uint32_t)k[i] << 16 | (uint32_t)k[i + 1] << 8 | k[i + 2];

		out[o++] = ref_b64_alpha[w >> 18];
		out[o++] = ref_b64_alpha[(w >> 12) & 63];
		out[o++] = ref_b64_alpha[(w >> 6) & 63];
		out[o++] = ref_b64_alpha[w & 63];
	}
	out[43] = '=';
	out[44] = '\0';
}

static int ref_b64_val(int c)
{
	const char *p = c ? strchr(ref_b64_alpha, c) : NULL;

	return p ? (int)(p - ref_b64_alpha) : -1;
}

static int ref_hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void test_encodings_fixed(void)
{
	static const struct {
		const char *hex, *b64;
	} known[] = {
		{"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="},
		{"0000000000000000000000000000000000000000000000000000000000000000",
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		 "//////////////////////////////////////////8="},
		{"fbff000000000000000000000000000000000000000000000000000000000000",
		 "+/8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
	};
	uint8_t key[32], back[32];
	char hex[65], b64[45];

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		CHECK_EQ_INT(test_unhex(key, 32, known[i].hex), 32);
		crypto_key_to_hex(hex, key);
		CHECK(strcmp(hex, known[i].hex) == 0);
		crypto_key_to_base64(b64, key);
		CHECK(strcmp(b64, known[i].b64) == 0);
		CHECK_EQ_INT(crypto_key_from_hex(back, known[i].hex, 64), 0);
		CHECK_MEM(back, key, 32);
		CHECK_EQ_INT(crypto_key_from_base64(back, known[i].b64, 44), 0);
		CHECK_MEM(back, key, 32);
	}
	/* Upper and mixed case hex decode to the same key. */
	CHECK_EQ_INT(crypto_key_from_hex(
			     back, "8520F0098930A754748B7DDCB43EF75A0DBF3A0D26381AF4EBA4A98EAA9B4E6A",
			     64),
		     0);
	CHECK_EQ_INT(test_unhex(key, 32, known[0].hex), 32);
	CHECK_MEM(back, key, 32);
}

static void test_encodings_random(void)
{
	test_rng rng;
	uint8_t key[32], back[32];
	char hex[65], rhex[65], b64[45], rb64[45];

	test_rng_seed(&rng, 1234);
	for (int n = 0; n < 2000; n++) {
		test_rng_bytes(&rng, key, 32);
		crypto_key_to_hex(hex, key);
		ref_to_hex(rhex, key);
		CHECK(strcmp(hex, rhex) == 0);
		crypto_key_to_base64(b64, key);
		ref_to_b64(rb64, key);
		CHECK(strcmp(b64, rb64) == 0);
		CHECK_EQ_INT(crypto_key_from_hex(back, hex, 64), 0);
		CHECK_MEM(back, key, 32);
		CHECK_EQ_INT(crypto_key_from_base64(back, b64, 44), 0);
		CHECK_MEM(back, key, 32);
	}
}

static void test_encodings_reject(void)
{
	const char *good_hex = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
	const char *good_b64 = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
	char buf[80];
	uint8_t key[32], want[32];
	int accepted;

	CHECK_EQ_INT(test_unhex(want, 32, good_hex), 32);
	/* Wrong lengths (the length argument decides, not a NUL). */
	for (size_t len = 0; len < sizeof(buf); len++) {
		memset(buf, 'a', sizeof(buf));
		memset(key, 0x5a, 32);
		CHECK_EQ_INT(crypto_key_from_hex(key, buf, len), len == 64 ? 0 : -1);
		if (len != 64)
			CHECK(crypto_is_zero(key, 32));
		memset(buf, 'A', sizeof(buf));
		buf[len ? len - 1 : 0] = '=';
		memset(key, 0x5a, 32);
		CHECK_EQ_INT(crypto_key_from_base64(key, buf, len), len == 44 ? 0 : -1);
		if (len != 44)
			CHECK(crypto_is_zero(key, 32));
	}
	CHECK_EQ_INT(crypto_key_from_hex(key, NULL, 64), -1);
	CHECK_EQ_INT(crypto_key_from_base64(key, NULL, 44), -1);

	/* Every byte value at a few positions of hex: accepted iff it is a hex digit, and then
	 * decoded to that digit. */
	for (int pos = 0; pos < 64; pos += 21) {
		for (int c = 0; c < 256; c++) {
			int v = ref_hex_val(c);

			memcpy(buf, good_hex, 64);
			buf[pos] = (char)c;
			memset(key, 0x5a, 32);
			CHECK_EQ_INT(crypto_key_from_hex(key, buf, 64), v >= 0 ? 0 : -1);
			if (v >= 0)
				CHECK_EQ_INT(pos % 2 ? key[pos / 2] & 15 : key[pos / 2] >> 4, v);
			else
				CHECK(crypto_is_zero(key, 32));
		}
	}

	/* Every byte value at data positions of base64. */
	for (int pos = 0; pos < 42; pos += 5) {
		for (int c = 0; c < 256; c++) {
			int v = ref_b64_val(c);
			char re[45];

			memcpy(buf, good_b64, 44);
			buf[pos] = (char)c;
			memset(key, 0x5a, 32);
			CHECK_EQ_INT(crypto_key_from_base64(key, buf, 44), v >= 0 ? 0 : -1);
			if (v >= 0) {
				crypto_key_to_base64(re, key);
				CHECK(memcmp(re, buf, 44) == 0);
			} else {
				CHECK(crypto_is_zero(key, 32));
			}
		}
	}

	/* Position 42 carries 4 data bits and 2 padding bits: only the 16 characters whose
	 * low 2 bits are zero are canonical. */
	accepted = 0;
	for (int c = 0; c < 256; c++) {
		int v = ref_b64_val(c);
		int ok;

		memcpy(buf, good_b64, 44);
		buf[42] = (char)c;
		ok = crypto_key_from_base64(key, buf, 44) == 0;
		CHECK_EQ_INT(ok, v >= 0 && (v & 3) == 0);
		accepted += ok;
	}
	CHECK_EQ_INT(accepted, 16);

	/* The pad must be '=' and nothing else. */
	for (int c = 0; c < 256; c++) {
		memcpy(buf, good_b64, 44);
		buf[43] = (char)c;
		CHECK_EQ_INT(crypto_key_from_base64(key, buf, 44), c == '=' ? 0 : -1);
	}

	/* A table of typical mistakes. */
	{
		static const char *bad[] = {
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=", /* pad bits set */
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm==", /* '=' as data */
			"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=", /* base64url */
			"hSDwCYkwp1R0i33ctD73Wg2-Og0mOBr066SpjqqbTmo=", /* base64url */
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA", /* no pad */
			" SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", /* space */
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo\n",
			"=SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CHECK_EQ_INT(strlen(bad[i]), 44);
			memset(key, 0x5a, 32);
			CHECK_MSG(crypto_key_from_base64(key, bad[i], 44) == -1, "accepted %s", bad[i]);
			CHECK(crypto_is_zero(key, 32));
		}
	}
	CHECK_EQ_INT(crypto_key_from_base64(key, good_b64, 44), 0);
	CHECK_MEM(key, want, 32);
}

/* ---- public key helpers (include/wgtun.h) ---- */

static void test_public_keys(void)
{
	const char *alice_priv_hex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
	const char *alice_pub_b64 = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
	uint8_t priv[32], priv2[32], pub[32], back[32];
	char b64[WGTUN_KEY_B64_LEN + 1], hex[WGTUN_KEY_HEX_LEN + 1], line[80];

	CHECK_EQ_INT(wgtun_key_from_hex(priv, alice_priv_hex), 0);
	CHECK_EQ_INT(wgtun_key_public(pub, priv), 0);
	CHECK_EQ_INT(wgtun_key_to_base64(b64, pub), 0);
	CHECK(strcmp(b64, alice_pub_b64) == 0);
	CHECK_EQ_INT(wgtun_key_to_hex(hex, priv), 0);
	CHECK(strcmp(hex, alice_priv_hex) == 0);
	CHECK_EQ_INT(wgtun_key_from_base64(back, alice_pub_b64), 0);
	CHECK_MEM(back, pub, 32);

	CHECK_EQ_INT(wgtun_key_generate(priv), 0);
	CHECK_EQ_INT(wgtun_key_generate(priv2), 0);
	CHECK(memcmp(priv, priv2, 32) != 0);
	CHECK(priv[0] % 8 == 0 && (priv[31] & 0xc0) == 0x40);
	CHECK_EQ_INT(wgtun_key_public(pub, priv), 0);
	CHECK_EQ_INT(crypto_x25519_public(back, priv), 0);
	CHECK_MEM(pub, back, 32);
	CHECK_EQ_INT(wgtun_key_to_base64(b64, priv), 0);
	CHECK_EQ_INT(strlen(b64), 44);
	CHECK_EQ_INT(wgtun_key_from_base64(back, b64), 0);
	CHECK_MEM(back, priv, 32);
	CHECK_EQ_INT(wgtun_key_to_hex(hex, priv), 0);
	CHECK_EQ_INT(strlen(hex), 64);
	CHECK_EQ_INT(wgtun_key_from_hex(back, hex), 0);
	CHECK_MEM(back, priv, 32);

	/* NUL-terminated inputs: a trailing newline, a longer or shorter string, NULLs. */
	snprintf(line, sizeof(line), "%s\n", alice_pub_b64);
	CHECK_EQ_INT(wgtun_key_from_base64(back, line), -1);
	CHECK(crypto_is_zero(back, 32));
	CHECK_EQ_INT(wgtun_key_from_base64(back, alice_pub_b64 + 1), -1);
	snprintf(line, sizeof(line), "%s0", alice_priv_hex);
	CHECK_EQ_INT(wgtun_key_from_hex(back, line), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(back, alice_priv_hex + 2), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(back, ""), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(back, NULL), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(NULL, alice_priv_hex), -1);
	CHECK_EQ_INT(wgtun_key_from_base64(back, NULL), -1);
	CHECK_EQ_INT(wgtun_key_from_base64(NULL, alice_pub_b64), -1);
	CHECK_EQ_INT(wgtun_key_to_hex(NULL, priv), -1);
	CHECK_EQ_INT(wgtun_key_to_hex(hex, NULL), -1);
	CHECK_EQ_INT(wgtun_key_to_base64(NULL, priv), -1);
	CHECK_EQ_INT(wgtun_key_to_base64(b64, NULL), -1);
	CHECK_EQ_INT(wgtun_key_public(NULL, priv), -1);
	CHECK_EQ_INT(wgtun_key_public(pub, NULL), -1);
	CHECK_EQ_INT(wgtun_key_generate(NULL), -1);
}

int main(void)
{
	test_util();
	test_blake2s();
	test_hmac_kdf();
	test_aead_vectors();
	test_aead_wg();
	test_aead_worker();
	test_xchacha();
	test_x25519();
	test_encodings_fixed();
	test_encodings_random();
	test_encodings_reject();
	test_public_keys();
	return test_finish("crypto");
}
