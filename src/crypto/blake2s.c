/* BLAKE2s (RFC 7693), HMAC-BLAKE2s and WireGuard's KDF.
 *
 * Written here rather than on OpenSSL's EVP digest/MAC ("BLAKE2S-256", "BLAKE2SMAC"):
 * OpenSSL's BLAKE2s is portable C too (no assembly), so it is no faster (bench/bench_openssl
 * next to bench/bench_crypto, 2026-12: hash of 32 B 221 vs 180 ns, mac1-sized MAC 485 vs
 * 483 ns), while this code gives the two-part hash (MixHash) and HMAC without copying, needs
 * no allocation and cannot fail. The known-answer tests pin it (tests/vectors/crypto). */
#include "crypto.h"

#include <string.h>

#define B2S_BLOCK 64

typedef struct {
	uint32_t h[8];
	uint32_t t[2];
	uint8_t buf[B2S_BLOCK];
	size_t buflen;
	size_t outlen;
} b2s_state;

static const uint32_t b2s_iv[8] = {0x6A09E667UL, 0xBB67AE85UL, 0x3C6EF372UL, 0xA54FF53AUL,
				   0x510E527FUL, 0x9B05688CUL, 0x1F83D9ABUL, 0x5BE0CD19UL};

static const uint8_t b2s_sigma[10][16] = {
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
	{14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
	{11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
	{7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
	{9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
	{2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
	{12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
	{13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
	{6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
	{10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

static inline uint32_t load32_le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32_le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t ror32(uint32_t v, unsigned n)
{
	return (v >> n) | (v << (32 - n));
}

/* NOLINTBEGIN(bugprone-macro-parentheses): a..d are always plain state words (lvalues) */
#define B2S_G(a, b, c, d, x, y)                                                                   \
	do {                                                                                      \
		a = a + b + (x);                                                                  \
		d = ror32(d ^ a, 16);                                                             \
		c = c + d;                                                                        \
		b = ror32(b ^ c, 12);                                                             \
		a = a + b + (y);                                                                  \
		d = ror32(d ^ a, 8);                                                              \
		c = c + d;                                                                        \
		b = ror32(b ^ c, 7);                                                              \
	} while (0)
/* NOLINTEND(bugprone-macro-parentheses) */

/* gcc 12's -fanalyzer does not follow the loops that fill m and v and reports every read
 * as uninitialized (false positive; the unit vectors cover this function). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-use-of-uninitialized-value"
#endif
static void b2s_compress(b2s_state *s, const uint8_t block[B2S_BLOCK], uint32_t last)
{
	uint32_t m[16], v[16];

	for (int i = 0; i < 16; i++)
		m[i] = load32_le(block + 4 * i);
	for (int i = 0; i < 8; i++) {
		v[i] = s->h[i];
		v[i + 8] = b2s_iv[i];
	}
	v[12] ^= s->t[0];
	v[13] ^= s->t[1];
	v[14] ^= last;
	for (int r = 0; r < 10; r++) {
		const uint8_t *sg = b2s_sigma[r];

		B2S_G(v[0], v[4], v[8], v[12], m[sg[0]], m[sg[1]]);
		B2S_G(v[1], v[5], v[9], v[13], m[sg[2]], m[sg[3]]);
		B2S_G(v[2], v[6], v[10], v[14], m[sg[4]], m[sg[5]]);
		B2S_G(v[3], v[7], v[11], v[15], m[sg[6]], m[sg[7]]);
		B2S_G(v[0], v[5], v[10], v[15], m[sg[8]], m[sg[9]]);
		B2S_G(v[1], v[6], v[11], v[12], m[sg[10]], m[sg[11]]);
		B2S_G(v[2], v[7], v[8], v[13], m[sg[12]], m[sg[13]]);
		B2S_G(v[3], v[4], v[9], v[14], m[sg[14]], m[sg[15]]);
	}
	for (int i = 0; i < 8; i++)
		s->h[i] ^= v[i] ^ v[i + 8];
	/* explicit_bzero (kept by the compiler like OPENSSL_cleanse, but inlined memset speed):
	 * this runs per 64-byte block, 9 times per cookie-less flood message. */
	explicit_bzero(m, sizeof(m));
	explicit_bzero(v, sizeof(v));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static void b2s_count(b2s_state *s, uint32_t n)
{
	s->t[0] += n;
	s->t[1] += s->t[0] < n;
}

static void b2s_update(b2s_state *s, const void *in, size_t inlen)
{
	const uint8_t *p = in;
	size_t fill = B2S_BLOCK - s->buflen;

	if (inlen == 0)
		return;
	/* The last block must wait for final() (it is compressed with the "last" flag), so a
	 * full buffer is compressed only once more input is known to follow. */
	if (inlen > fill) {
		memcpy(s->buf + s->buflen, p, fill);
		p += fill;
		inlen -= fill;
		s->buflen = 0;
		b2s_count(s, B2S_BLOCK);
		b2s_compress(s, s->buf, 0);
		while (inlen > B2S_BLOCK) {
			b2s_count(s, B2S_BLOCK);
			b2s_compress(s, p, 0);
			p += B2S_BLOCK;
			inlen -= B2S_BLOCK;
		}
	}
	memcpy(s->buf + s->buflen, p, inlen);
	s->buflen += inlen;
}

/* outlen 1..32, keylen 0..32 (checked by the callers). */
static void b2s_init(b2s_state *s, size_t outlen, const void *key, size_t keylen)
{
	for (int i = 0; i < 8; i++)
		s->h[i] = b2s_iv[i];
	/* Parameter block word 0: digest length, key length, fanout 1, depth 1. */
	s->h[0] ^= 0x01010000UL ^ ((uint32_t)keylen << 8) ^ (uint32_t)outlen;
	s->t[0] = s->t[1] = 0;
	s->buflen = 0;
	s->outlen = outlen;
	if (keylen > 0) {
		uint8_t block[B2S_BLOCK] = {0};

		memcpy(block, key, keylen);
		b2s_update(s, block, B2S_BLOCK);
		crypto_wipe(block, sizeof(block));
	}
}

static void b2s_final(b2s_state *s, uint8_t *out)
{
	uint8_t full[CRYPTO_HASH_LEN];

	b2s_count(s, (uint32_t)s->buflen);
	memset(s->buf + s->buflen, 0, B2S_BLOCK - s->buflen);
	b2s_compress(s, s->buf, 0xFFFFFFFFUL);
	for (int i = 0; i < 8; i++)
		store32_le(full + 4 * i, s->h[i]);
	memcpy(out, full, s->outlen);
	crypto_wipe(full, sizeof(full));
	crypto_wipe(s, sizeof(*s));
}

void crypto_hash(uint8_t out[CRYPTO_HASH_LEN], const void *in, size_t len)
{
	b2s_state s;

	b2s_init(&s, CRYPTO_HASH_LEN, NULL, 0);
	b2s_update(&s, in, len);
	b2s_final(&s, out);
}

void crypto_hash2(uint8_t out[CRYPTO_HASH_LEN], const void *a, size_t alen, const void *b,
		  size_t blen)
{
	b2s_state s;

	b2s_init(&s, CRYPTO_HASH_LEN, NULL, 0);
	b2s_update(&s, a, alen);
	b2s_update(&s, b, blen);
	b2s_final(&s, out);
}

int crypto_blake2s(uint8_t *out, size_t outlen, const void *key, size_t keylen, const void *in,
		   size_t inlen)
{
	b2s_state s;

	/* keylen 0 (unkeyed) is accepted too: it is plain BLAKE2s with that digest length. */
	if (out == NULL || outlen < 1 || outlen > CRYPTO_HASH_LEN || keylen > CRYPTO_KEY_LEN ||
	    (keylen > 0 && key == NULL) || (inlen > 0 && in == NULL))
		return -1;
	b2s_init(&s, outlen, key, keylen);
	b2s_update(&s, in, inlen);
	b2s_final(&s, out);
	return 0;
}

void crypto_mac(uint8_t out[CRYPTO_MAC_LEN], const void *key, size_t keylen, const void *in,
		size_t inlen)
{
	b2s_state s;

	/* mac1 keys are 32 bytes and cookies 16; anything longer is a caller bug, and a
	 * BLAKE2s key cannot exceed 32 bytes, so clip rather than overflow the block. */
	if (keylen > CRYPTO_KEY_LEN)
		keylen = CRYPTO_KEY_LEN;
	b2s_init(&s, CRYPTO_MAC_LEN, key, keylen);
	b2s_update(&s, in, inlen);
	b2s_final(&s, out);
}

void crypto_mac_key_use(crypto_mac_key *k, const void *key, size_t keylen)
{
	b2s_state s;

	if (keylen > CRYPTO_KEY_LEN)
		keylen = CRYPTO_KEY_LEN; /* as crypto_mac */
	if (keylen == 0) {
		crypto_wipe(k, sizeof(*k));
		return;
	}
	if (k->keylen == keylen && crypto_equal(k->key, key, keylen))
		return;
	/* b2s_init leaves the key block buffered (it could be the last); compress it now, as
	 * the first update with input would. */
	b2s_init(&s, CRYPTO_MAC_LEN, key, keylen);
	b2s_count(&s, B2S_BLOCK);
	b2s_compress(&s, s.buf, 0);
	memcpy(k->h, s.h, sizeof(k->h));
	memset(k->key, 0, sizeof(k->key));
	memcpy(k->key, key, keylen);
	k->keylen = (uint8_t)keylen;
	crypto_wipe(&s, sizeof(s));
}

void crypto_mac_keyed(uint8_t out[CRYPTO_MAC_LEN], const crypto_mac_key *k, const void *in,
		      size_t inlen)
{
	b2s_state s;

	if (k->keylen == 0 || inlen == 0) {
		/* no key set (unkeyed, as crypto_mac with keylen 0), or the key block is the
		 * last one and needs the final flag */
		crypto_mac(out, k->key, k->keylen, in, inlen);
		return;
	}
	memcpy(s.h, k->h, sizeof(s.h));
	s.t[0] = B2S_BLOCK;
	s.t[1] = 0;
	s.buflen = 0;
	s.outlen = CRYPTO_MAC_LEN;
	b2s_update(&s, in, inlen);
	b2s_final(&s, out);
}

/* HMAC (RFC 2104) over BLAKE2s-256; the message is given in up to two parts so the KDF can
 * hash T(i-1) || i without a copy. */
static void hmac2(uint8_t out[CRYPTO_HASH_LEN], const void *key, size_t keylen, const void *a,
		  size_t alen, const void *b, size_t blen)
{
	uint8_t k[B2S_BLOCK] = {0};
	uint8_t pad[B2S_BLOCK];
	uint8_t inner[CRYPTO_HASH_LEN];
	b2s_state s;

	if (keylen > B2S_BLOCK)
		crypto_hash(k, key, keylen);
	else if (keylen > 0)
		memcpy(k, key, keylen);

	for (int i = 0; i < B2S_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	b2s_init(&s, CRYPTO_HASH_LEN, NULL, 0);
	b2s_update(&s, pad, B2S_BLOCK);
	b2s_update(&s, a, alen);
	b2s_update(&s, b, blen);
	b2s_final(&s, inner);

	for (int i = 0; i < B2S_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	b2s_init(&s, CRYPTO_HASH_LEN, NULL, 0);
	b2s_update(&s, pad, B2S_BLOCK);
	b2s_update(&s, inner, sizeof(inner));
	b2s_final(&s, out);

	crypto_wipe(k, sizeof(k));
	crypto_wipe(pad, sizeof(pad));
	crypto_wipe(inner, sizeof(inner));
}

void crypto_hmac(uint8_t out[CRYPTO_HASH_LEN], const void *key, size_t keylen, const void *in,
		 size_t inlen)
{
	hmac2(out, key, keylen, in, inlen, NULL, 0);
}

void crypto_kdf(uint8_t t1[CRYPTO_HASH_LEN], uint8_t t2[CRYPTO_HASH_LEN],
		uint8_t t3[CRYPTO_HASH_LEN], const uint8_t ck[CRYPTO_HASH_LEN], const void *in,
		size_t inlen)
{
	uint8_t prk[CRYPTO_HASH_LEN];
	uint8_t t[CRYPTO_HASH_LEN];
	uint8_t ctr;

	/* Outputs may alias ck or each other (Noise writes the new chaining key over the old
	 * one), so everything is computed into locals first and copied out at the end of each
	 * step. */
	hmac2(prk, ck, CRYPTO_HASH_LEN, in, inlen, NULL, 0);
	ctr = 1;
	hmac2(t, prk, sizeof(prk), &ctr, 1, NULL, 0);
	if (t2 != NULL || t3 != NULL) {
		uint8_t next[CRYPTO_HASH_LEN];

		ctr = 2;
		hmac2(next, prk, sizeof(prk), t, sizeof(t), &ctr, 1);
		if (t1 != NULL)
			memcpy(t1, t, CRYPTO_HASH_LEN);
		memcpy(t, next, sizeof(t));
		if (t3 != NULL) {
			ctr = 3;
			hmac2(next, prk, sizeof(prk), t, sizeof(t), &ctr, 1);
			memcpy(t3, next, CRYPTO_HASH_LEN);
		}
		if (t2 != NULL)
			memcpy(t2, t, CRYPTO_HASH_LEN);
		crypto_wipe(next, sizeof(next));
	} else if (t1 != NULL) {
		memcpy(t1, t, CRYPTO_HASH_LEN);
	}
	crypto_wipe(prk, sizeof(prk));
	crypto_wipe(t, sizeof(t));
}
