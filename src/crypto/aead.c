/* ChaCha20-Poly1305 (RFC 8439) on OpenSSL, HChaCha20 and XChaCha20-Poly1305.
 *
 * OpenSSL has assembly ChaCha20 and Poly1305 for x86-64 and arm64 (see
 * reference/crypto-choice.md); it lacks HChaCha20, which is one ChaCha20 block function
 * without the final feed-forward and is written here. */
#include "crypto.h"
#include "crypto_ossl.h"

#include <limits.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

/* EVP lengths are ints: larger buffers go through in chunks of this size. */
#define AEAD_CHUNK (1 << 30)

/* Separate contexts per direction (a packet then only sets the nonce): what a
 * crypto_aead_ctx (keyed once) and a crypto_aead_worker (rekeyed as needed) both hold. */
typedef struct {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
} aead_pair;

struct crypto_aead_ctx {
	aead_pair p;
};

static void wg_nonce(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

static int evp_feed_aad(EVP_CIPHER_CTX *c, const void *ad, size_t adlen)
{
	const uint8_t *p = ad;
	int outl;

	while (adlen > 0) {
		int n = adlen > AEAD_CHUNK ? AEAD_CHUNK : (int)adlen;

		if (EVP_CipherUpdate(c, NULL, &outl, p, n) != 1)
			return -1;
		p += n;
		adlen -= (size_t)n;
	}
	return 0;
}

/* dst may equal src (OpenSSL allows exact overlap, not partial). */
static int evp_feed_data(EVP_CIPHER_CTX *c, uint8_t *dst, const uint8_t *src, size_t len)
{
	int outl;

	while (len > 0) {
		int n = len > AEAD_CHUNK ? AEAD_CHUNK : (int)len;

		if (EVP_CipherUpdate(c, dst, &outl, src, n) != 1 || outl != n)
			return -1;
		dst += n;
		src += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Seals with a context whose key is already set; only the nonce is set here. */
static int ctx_seal(EVP_CIPHER_CTX *c, uint8_t *dst, uint8_t tag[CRYPTO_AEAD_TAG_LEN],
		    const uint8_t *src, size_t len, const void *ad, size_t adlen,
		    const uint8_t nonce[12])
{
	uint8_t fin[CRYPTO_AEAD_TAG_LEN]; /* a stream cipher's final() writes nothing */
	int outl;

	if (EVP_EncryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1 ||
	    evp_feed_aad(c, ad, adlen) != 0 || evp_feed_data(c, dst, src, len) != 0 ||
	    EVP_EncryptFinal_ex(c, fin, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, CRYPTO_AEAD_TAG_LEN, tag) != 1)
		return -1;
	return 0;
}

static int ctx_open(EVP_CIPHER_CTX *c, uint8_t *dst, const uint8_t *src, size_t len,
		    const uint8_t tag[CRYPTO_AEAD_TAG_LEN], const void *ad, size_t adlen,
		    const uint8_t nonce[12])
{
	uint8_t t[CRYPTO_AEAD_TAG_LEN];
	uint8_t fin[CRYPTO_AEAD_TAG_LEN];
	int outl;
	int ret = -1;

	/* A copy: the ctrl wants a non-const pointer, and the caller's tag may sit right
	 * behind an in-place buffer. */
	memcpy(t, tag, sizeof(t));
	if (EVP_DecryptInit_ex2(c, NULL, NULL, nonce, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, CRYPTO_AEAD_TAG_LEN, t) != 1 ||
	    evp_feed_aad(c, ad, adlen) != 0 || evp_feed_data(c, dst, src, len) != 0 ||
	    EVP_DecryptFinal_ex(c, fin, &outl) != 1)
		goto out;
	ret = 0;
out:
	return ret;
}

/* key NULL: the cipher is set, the key comes later. */
static EVP_CIPHER_CTX *keyed_ctx(const uint8_t key[CRYPTO_KEY_LEN], int enc)
{
	const EVP_CIPHER *cipher = crypto_ossl_chacha20poly1305();
	EVP_CIPHER_CTX *c;

	if (cipher == NULL)
		return NULL;
	c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		return NULL;
	if (EVP_CipherInit_ex2(c, cipher, key, NULL, enc, NULL) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	return c;
}

/* Both directions keyed with key (NULL: not yet keyed); -1 (nothing held) on failure. */
static int pair_init(aead_pair *p, const uint8_t key[CRYPTO_KEY_LEN])
{
	p->enc = keyed_ctx(key, 1);
	p->dec = keyed_ctx(key, 0);
	if (p->enc == NULL || p->dec == NULL) {
		ERR_clear_error();
		EVP_CIPHER_CTX_free(p->enc);
		EVP_CIPHER_CTX_free(p->dec);
		p->enc = p->dec = NULL;
		return -1;
	}
	return 0;
}

static void pair_free(aead_pair *p)
{
	/* The provider clears its key material when a context is freed. */
	EVP_CIPHER_CTX_free(p->enc);
	EVP_CIPHER_CTX_free(p->dec);
}

/* In place: buf[0..len) sealed, the tag written behind it; on failure all of it wiped. */
static int inplace_seal(EVP_CIPHER_CTX *c, uint8_t *buf, size_t len, uint64_t counter)
{
	uint8_t nonce[12];

	wg_nonce(nonce, counter);
	if (ctx_seal(c, buf, buf + len, buf, len, NULL, 0, nonce) != 0) {
		ERR_clear_error();
		crypto_wipe(buf, len + CRYPTO_AEAD_TAG_LEN);
		return -1;
	}
	return 0;
}

/* In place: buf[0..len) holds ciphertext and tag (len >= the tag, checked by the caller). */
static int inplace_open(EVP_CIPHER_CTX *c, uint8_t *buf, size_t len, uint64_t counter)
{
	uint8_t nonce[12];
	size_t plen = len - CRYPTO_AEAD_TAG_LEN;

	wg_nonce(nonce, counter);
	if (ctx_open(c, buf, buf, plen, buf + plen, NULL, 0, nonce) != 0) {
		/* The forged packet's plaintext was written in place: wipe it. */
		ERR_clear_error();
		crypto_wipe(buf, plen);
		return -1;
	}
	return 0;
}

int crypto_aead_seal_detached(uint8_t *dst, uint8_t tag[CRYPTO_AEAD_TAG_LEN], const uint8_t *src,
			      size_t len, const void *ad, size_t adlen, const uint8_t nonce[12],
			      const uint8_t key[CRYPTO_KEY_LEN])
{
	EVP_CIPHER_CTX *c = keyed_ctx(key, 1);
	int ret = -1;

	if (c == NULL)
		goto out;
	ret = ctx_seal(c, dst, tag, src, len, ad, adlen, nonce);
out:
	EVP_CIPHER_CTX_free(c);
	if (ret != 0) {
		ERR_clear_error();
		crypto_wipe(dst, len);
		crypto_wipe(tag, CRYPTO_AEAD_TAG_LEN);
	}
	return ret;
}

int crypto_aead_open_detached(uint8_t *dst, const uint8_t *src, size_t len,
			      const uint8_t tag[CRYPTO_AEAD_TAG_LEN], const void *ad, size_t adlen,
			      const uint8_t nonce[12], const uint8_t key[CRYPTO_KEY_LEN])
{
	EVP_CIPHER_CTX *c = keyed_ctx(key, 0);
	int ret = -1;

	if (c == NULL)
		goto out;
	ret = ctx_open(c, dst, src, len, tag, ad, adlen, nonce);
out:
	EVP_CIPHER_CTX_free(c);
	if (ret != 0) {
		/* Never hand out unauthenticated plaintext. */
		ERR_clear_error();
		crypto_wipe(dst, len);
	}
	return ret;
}

void crypto_aead_seal(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		      uint64_t counter, const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t nonce[12];

	/* On a library failure (allocation) dst and the tag are all zero, which no receiver
	 * accepts: the message is lost, never sent unprotected. */
	wg_nonce(nonce, counter);
	(void)crypto_aead_seal_detached(dst, dst + len, src, len, ad, adlen, nonce, key);
}

int crypto_aead_open(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		     uint64_t counter, const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t nonce[12];

	if (len < CRYPTO_AEAD_TAG_LEN)
		return -1;
	wg_nonce(nonce, counter);
	return crypto_aead_open_detached(dst, src, len - CRYPTO_AEAD_TAG_LEN,
					 src + len - CRYPTO_AEAD_TAG_LEN, ad, adlen, nonce, key);
}

crypto_aead_ctx *crypto_aead_ctx_new(const uint8_t key[CRYPTO_KEY_LEN])
{
	crypto_aead_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL)
		return NULL;
	if (pair_init(&ctx->p, key) != 0) {
		free(ctx);
		return NULL;
	}
	return ctx;
}

void crypto_aead_ctx_free(crypto_aead_ctx *ctx)
{
	if (ctx == NULL)
		return;
	pair_free(&ctx->p);
	free(ctx);
}

int crypto_aead_ctx_seal(crypto_aead_ctx *ctx, uint8_t *buf, size_t len, uint64_t counter)
{
	return inplace_seal(ctx->p.enc, buf, len, counter);
}

int crypto_aead_ctx_open(crypto_aead_ctx *ctx, uint8_t *buf, size_t len, uint64_t counter)
{
	if (len < CRYPTO_AEAD_TAG_LEN)
		return -1;
	return inplace_open(ctx->p.dec, buf, len, counter);
}

struct crypto_aead_worker {
	aead_pair p;
	uint8_t enc_key[CRYPTO_KEY_LEN], dec_key[CRYPTO_KEY_LEN]; /* what each is keyed with */
	bool enc_keyed, dec_keyed;
};

crypto_aead_worker *crypto_aead_worker_new(void)
{
	crypto_aead_worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	if (pair_init(&w->p, NULL) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void crypto_aead_worker_free(crypto_aead_worker *w)
{
	if (w == NULL)
		return;
	pair_free(&w->p);
	crypto_wipe(w, sizeof(*w));
	free(w);
}

void crypto_aead_worker_forget(crypto_aead_worker *w)
{
	static const uint8_t zero[CRYPTO_KEY_LEN];

	/* Rekeying with zeros overwrites the key words in OpenSSL's context without the
	 * allocation a reset would cost. */
	if (w->enc_keyed)
		(void)EVP_CipherInit_ex2(w->p.enc, NULL, zero, NULL, 1, NULL);
	if (w->dec_keyed)
		(void)EVP_CipherInit_ex2(w->p.dec, NULL, zero, NULL, 0, NULL);
	ERR_clear_error();
	crypto_wipe(w->enc_key, sizeof(w->enc_key));
	crypto_wipe(w->dec_key, sizeof(w->dec_key));
	w->enc_keyed = w->dec_keyed = false;
}

/* Keys c with key unless it already holds it (compared in constant time: both are secrets). */
static int worker_key(EVP_CIPHER_CTX *c, uint8_t cached[CRYPTO_KEY_LEN], bool *keyed,
		      const uint8_t key[CRYPTO_KEY_LEN], int enc)
{
	if (*keyed && crypto_equal(cached, key, CRYPTO_KEY_LEN))
		return 0;
	*keyed = false;
	if (EVP_CipherInit_ex2(c, NULL, key, NULL, enc, NULL) != 1)
		return -1;
	memcpy(cached, key, CRYPTO_KEY_LEN);
	*keyed = true;
	return 0;
}

int crypto_aead_worker_seal(crypto_aead_worker *w, const uint8_t key[CRYPTO_KEY_LEN], uint8_t *buf,
			    size_t len, uint64_t counter)
{
	if (worker_key(w->p.enc, w->enc_key, &w->enc_keyed, key, 1) != 0) {
		ERR_clear_error();
		crypto_wipe(buf, len + CRYPTO_AEAD_TAG_LEN);
		return -1;
	}
	return inplace_seal(w->p.enc, buf, len, counter);
}

int crypto_aead_worker_open(crypto_aead_worker *w, const uint8_t key[CRYPTO_KEY_LEN], uint8_t *buf,
			    size_t len, uint64_t counter)
{
	if (len < CRYPTO_AEAD_TAG_LEN)
		return -1;
	if (worker_key(w->p.dec, w->dec_key, &w->dec_keyed, key, 0) != 0) {
		ERR_clear_error();
		crypto_wipe(buf, len - CRYPTO_AEAD_TAG_LEN);
		return -1;
	}
	return inplace_open(w->p.dec, buf, len, counter);
}

/* ---- HChaCha20 and XChaCha20-Poly1305 ---- */

static inline uint32_t rol32(uint32_t v, unsigned n)
{
	return (v << n) | (v >> (32 - n));
}

static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* NOLINTBEGIN(bugprone-macro-parentheses): a..d are always plain state words (lvalues) */
#define QR(a, b, c, d)                                                                            \
	do {                                                                                      \
		a += b;                                                                           \
		d = rol32(d ^ a, 16);                                                             \
		c += d;                                                                           \
		b = rol32(b ^ c, 12);                                                             \
		a += b;                                                                           \
		d = rol32(d ^ a, 8);                                                              \
		c += d;                                                                           \
		b = rol32(b ^ c, 7);                                                              \
	} while (0)
/* NOLINTEND(bugprone-macro-parentheses) */

void crypto_chacha20_rounds(uint32_t x[16])
{
	for (int r = 0; r < 10; r++) {
		QR(x[0], x[4], x[8], x[12]);
		QR(x[1], x[5], x[9], x[13]);
		QR(x[2], x[6], x[10], x[14]);
		QR(x[3], x[7], x[11], x[15]);
		QR(x[0], x[5], x[10], x[15]);
		QR(x[1], x[6], x[11], x[12]);
		QR(x[2], x[7], x[8], x[13]);
		QR(x[3], x[4], x[9], x[14]);
	}
}

void crypto_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce16[16])
{
	uint32_t x[16];

	/* "expand 32-byte k", the key, then the 16-byte nonce where ChaCha20 has
	 * counter || nonce. */
	x[0] = 0x61707865UL;
	x[1] = 0x3320646eUL;
	x[2] = 0x79622d32UL;
	x[3] = 0x6b206574UL;
	for (int i = 0; i < 8; i++)
		x[4 + i] = ld32(key + 4 * i);
	for (int i = 0; i < 4; i++)
		x[12 + i] = ld32(nonce16 + 4 * i);
	crypto_chacha20_rounds(x);
	/* No feed-forward: the output is rows 0 and 3 of the permuted state. */
	for (int i = 0; i < 4; i++) {
		st32(out + 4 * i, x[i]);
		st32(out + 16 + 4 * i, x[12 + i]);
	}
	crypto_wipe(x, sizeof(x));
}

static void xaead_subkey(uint8_t subkey[32], uint8_t nonce12[12],
			 const uint8_t nonce[CRYPTO_XAEAD_NONCE_LEN], const uint8_t key[32])
{
	crypto_hchacha20(subkey, key, nonce);
	memset(nonce12, 0, 4);
	memcpy(nonce12 + 4, nonce + 16, 8);
}

void crypto_xaead_seal(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		       const uint8_t nonce[CRYPTO_XAEAD_NONCE_LEN],
		       const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t subkey[32], n12[12];

	/* Failure leaves dst and tag zeroed, like crypto_aead_seal. */
	xaead_subkey(subkey, n12, nonce, key);
	(void)crypto_aead_seal_detached(dst, dst + len, src, len, ad, adlen, n12, subkey);
	crypto_wipe(subkey, sizeof(subkey));
}

int crypto_xaead_worker_seal(crypto_aead_worker *w, uint8_t *dst, const uint8_t *src, size_t len,
			     const void *ad, size_t adlen,
			     const uint8_t nonce[CRYPTO_XAEAD_NONCE_LEN],
			     const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t subkey[32], n12[12];
	int ret = -1;

	xaead_subkey(subkey, n12, nonce, key);
	if (worker_key(w->p.enc, w->enc_key, &w->enc_keyed, subkey, 1) == 0)
		ret = ctx_seal(w->p.enc, dst, dst + len, src, len, ad, adlen, n12);
	crypto_wipe(subkey, sizeof(subkey));
	if (ret != 0) {
		ERR_clear_error();
		crypto_wipe(dst, len);
		crypto_wipe(dst + len, CRYPTO_AEAD_TAG_LEN);
	}
	return ret;
}

int crypto_xaead_open(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		      const uint8_t nonce[CRYPTO_XAEAD_NONCE_LEN],
		      const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t subkey[32], n12[12];
	int ret;

	if (len < CRYPTO_AEAD_TAG_LEN)
		return -1;
	xaead_subkey(subkey, n12, nonce, key);
	ret = crypto_aead_open_detached(dst, src, len - CRYPTO_AEAD_TAG_LEN,
					src + len - CRYPTO_AEAD_TAG_LEN, ad, adlen, n12, subkey);
	crypto_wipe(subkey, sizeof(subkey));
	return ret;
}
