/* The crypto layer: the only place that includes the crypto library's headers.
 * Everything above it sees these types and functions only, so another backend
 * (BoringSSL, AWS-LC) can be dropped in behind the same interface. */
#ifndef WGTUN_CRYPTO_H
#define WGTUN_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	CRYPTO_KEY_LEN = 32,
	CRYPTO_HASH_LEN = 32,
	CRYPTO_MAC_LEN = 16, /* keyed BLAKE2s with outlen = 16 (mac1, mac2, cookie) */
	CRYPTO_AEAD_TAG_LEN = 16,
	CRYPTO_XAEAD_NONCE_LEN = 24,
	CRYPTO_KEY_HEX_LEN = 64,  /* without NUL */
	CRYPTO_KEY_B64_LEN = 44,  /* without NUL */
};

/* ---- wiping and constant-time compare ---- */
/* OpenSSL without openssl.cnf and without error strings (see wgtun_crypto_init_lean). 0 or
 * -1. Process-wide, once. */
int crypto_init_lean(void);
void crypto_wipe(void *p, size_t n);
/* Overwrites CRYPTO_BURN_STACK_LEN bytes of stack below the caller's frame: the dead frames
 * of the calls it just made, where copies of secrets the C code never sees stay behind
 * (OpenSSL's X25519 field elements, registers a callee or a sanitizer runtime saved). Call it
 * after a call chain that handled secrets, before returning to code that keeps running. */
#define CRYPTO_BURN_STACK_LEN 8192
void crypto_burn_stack(void);
/* The same over CRYPTO_BURN_STACK_DEEP bytes, for a thread's top frame after its callees
 * handled keys that died (a register save of the lazy binder or a signal frame may hold a
 * copy, deep below big frames). */
#define CRYPTO_BURN_STACK_DEEP (64 * 1024)
void crypto_burn_stack_deep(void);
/* true if equal; time depends only on n. */
bool crypto_equal(const void *a, const void *b, size_t n);
/* true if all bytes are zero; time depends only on n. */
bool crypto_is_zero(const void *p, size_t n);
/* Marks n bytes at p as public for the constant-time check (valgrind memcheck: "defined").
 * Only for verdicts that are public by design (a compare's result, a decoder's status).
 * Does nothing outside valgrind. crypto_equal / crypto_is_zero declassify their result. */
void crypto_declassify(const void *p, size_t n);

/* ---- randomness (the only call that reads the OS RNG; the protocol core never calls it,
 * it gets a callback instead) ---- */
/* 0 on success, -1 on failure (buffer then wiped). */
int crypto_random(void *out, size_t n);

/* ---- BLAKE2s ---- */
/* out = BLAKE2s-256(in). */
void crypto_hash(uint8_t out[CRYPTO_HASH_LEN], const void *in, size_t len);
/* out = BLAKE2s-256(a || b), the Noise MixHash shape, without concatenating. */
void crypto_hash2(uint8_t out[CRYPTO_HASH_LEN], const void *a, size_t alen, const void *b,
		  size_t blen);
/* Keyed BLAKE2s with digest length `outlen` (1..32) in the parameter block, key 1..32 bytes.
 * 0 on success, -1 on bad arguments. */
int crypto_blake2s(uint8_t *out, size_t outlen, const void *key, size_t keylen, const void *in,
		   size_t inlen);
/* WireGuard's MAC: keyed BLAKE2s, outlen 16. keylen is 32 (mac1) or 16 (mac2/cookie). */
void crypto_mac(uint8_t out[CRYPTO_MAC_LEN], const void *key, size_t keylen, const void *in,
		size_t inlen);
/* A MAC key whose key block is compressed once, for a key that MACs many messages (mac1's key,
 * the cookie secret): crypto_mac_keyed gives crypto_mac's output with one compression fewer.
 * crypto_mac_key_use re-keys only when key differs from the one held (a constant-time
 * compare), so a caller can pass its current key every time. Holds the key: crypto_wipe it. */
typedef struct {
	uint32_t h[8]; /* the state after the key block */
	uint8_t key[CRYPTO_KEY_LEN];
	uint8_t keylen; /* 0 = not set */
} crypto_mac_key;
void crypto_mac_key_use(crypto_mac_key *k, const void *key, size_t keylen);
void crypto_mac_keyed(uint8_t out[CRYPTO_MAC_LEN], const crypto_mac_key *k, const void *in,
		      size_t inlen);
/* HMAC-BLAKE2s-256 (RFC 2104, block 64). */
void crypto_hmac(uint8_t out[CRYPTO_HASH_LEN], const void *key, size_t keylen, const void *in,
		 size_t inlen);
/* WireGuard KDF (HKDF over HMAC-BLAKE2s). Any of t1/t2/t3 may be NULL to skip it (t2 needs t1
 * computed internally; outputs are only written where non-NULL). */
void crypto_kdf(uint8_t t1[CRYPTO_HASH_LEN], uint8_t t2[CRYPTO_HASH_LEN],
		uint8_t t3[CRYPTO_HASH_LEN], const uint8_t ck[CRYPTO_HASH_LEN], const void *in,
		size_t inlen);

/* ---- X25519 ---- */
/* Clamp a private key in place. */
void crypto_x25519_clamp(uint8_t priv[CRYPTO_KEY_LEN]);
/* pub = priv * basepoint (priv is clamped internally). 0 on success, -1 on failure. */
int crypto_x25519_public(uint8_t pub[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN]);
/* out = X25519(priv, pub). Returns -1 (out wiped) if the result is all zero (low-order point)
 * or on library failure; 0 on success. */
int crypto_x25519(uint8_t out[CRYPTO_KEY_LEN], const uint8_t priv[CRYPTO_KEY_LEN],
		  const uint8_t pub[CRYPTO_KEY_LEN]);
/* Fresh clamped private key from the OS RNG, and its public key. 0 / -1. */
int crypto_x25519_generate(uint8_t priv[CRYPTO_KEY_LEN], uint8_t pub[CRYPTO_KEY_LEN]);
/* A prepared private key for repeated DH (the device's static key): crypto_x25519 imports
 * the private key on every call, which costs about a third of the operation; this imports
 * it once. crypto_x25519_key_dh == crypto_x25519(out, priv, pub), same failure rules.
 * Immutable after creation: dh may be called from several threads at once. */
typedef struct crypto_x25519_key crypto_x25519_key;
crypto_x25519_key *crypto_x25519_key_new(const uint8_t priv[CRYPTO_KEY_LEN]); /* NULL on failure */
void crypto_x25519_key_free(crypto_x25519_key *k);                              /* NULL is fine */
int crypto_x25519_key_dh(uint8_t out[CRYPTO_KEY_LEN], const crypto_x25519_key *k,
			 const uint8_t pub[CRYPTO_KEY_LEN]);

/* ---- ChaCha20-Poly1305 (RFC 8439), WireGuard nonce: 4 zero bytes || LE64 counter ---- */
/* One-shot AEAD (handshake path). dst may equal src (in place). dst receives len bytes of
 * ciphertext followed by the 16-byte tag. If the library fails (out of memory), dst and the
 * tag are all zero: no receiver accepts that, so the message is lost, never sent in clear. */
void crypto_aead_seal(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		      uint64_t counter, const uint8_t key[CRYPTO_KEY_LEN]);
/* src holds len bytes of ciphertext+tag (len >= 16); dst receives len-16 bytes of plaintext.
 * Returns 0 if authentic, -1 otherwise (dst then wiped). dst may equal src. */
int crypto_aead_open(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		     uint64_t counter, const uint8_t key[CRYPTO_KEY_LEN]);
/* Same with an explicit 12-byte nonce (for known-answer tests and generic use). Tag detached. */
int crypto_aead_seal_detached(uint8_t *dst, uint8_t tag[CRYPTO_AEAD_TAG_LEN], const uint8_t *src,
			      size_t len, const void *ad, size_t adlen, const uint8_t nonce[12],
			      const uint8_t key[CRYPTO_KEY_LEN]);
int crypto_aead_open_detached(uint8_t *dst, const uint8_t *src, size_t len,
			      const uint8_t tag[CRYPTO_AEAD_TAG_LEN], const void *ad, size_t adlen,
			      const uint8_t nonce[12], const uint8_t key[CRYPTO_KEY_LEN]);

/* A keyed AEAD context for the data path: the key schedule is done once per keypair, only the
 * nonce changes per packet. Not thread-safe: one context per thread per direction. */
typedef struct crypto_aead_ctx crypto_aead_ctx;
crypto_aead_ctx *crypto_aead_ctx_new(const uint8_t key[CRYPTO_KEY_LEN]);
void crypto_aead_ctx_free(crypto_aead_ctx *ctx); /* wipes; NULL is fine */
/* In place: buf[0..len) plaintext -> ciphertext, tag written to buf[len..len+16). 0 / -1. */
int crypto_aead_ctx_seal(crypto_aead_ctx *ctx, uint8_t *buf, size_t len, uint64_t counter);
/* In place: buf[0..len) = ciphertext||tag, len >= 16; plaintext is buf[0..len-16). 0 / -1. */
int crypto_aead_ctx_open(crypto_aead_ctx *ctx, uint8_t *buf, size_t len, uint64_t counter);

/* A crypto worker's context, not tied to one keypair: the key comes with each call and is
 * set only when it differs from the previous call's (ChaCha20 has no key schedule, so a change
 * costs about 0.1 us; measured cheaper than a context per keypair per worker, which would also
 * tie the contexts' lifetime to the keypairs'). Not thread-safe: one per thread. */
typedef struct crypto_aead_worker crypto_aead_worker;
crypto_aead_worker *crypto_aead_worker_new(void); /* NULL on failure */
void crypto_aead_worker_free(crypto_aead_worker *w); /* wipes the cached keys; NULL is fine */
/* Wipes the cached keys (the raw copy and OpenSSL's keyed state): a key must not outlive its
 * keypair in an idle worker. The next seal/open rekeys. Owner thread only. */
void crypto_aead_worker_forget(crypto_aead_worker *w);
/* As crypto_aead_ctx_seal / crypto_aead_ctx_open, with key. */
int crypto_aead_worker_seal(crypto_aead_worker *w, const uint8_t key[CRYPTO_KEY_LEN], uint8_t *buf,
			    size_t len, uint64_t counter);
int crypto_aead_worker_open(crypto_aead_worker *w, const uint8_t key[CRYPTO_KEY_LEN], uint8_t *buf,
			    size_t len, uint64_t counter);

/* Which code runs the AEAD. DEFAULT is chosen once per process: PROVIDER (the default
 * provider's ChaCha20-Poly1305 functions called through its dispatch table, ~830 fewer
 * instructions per packet and direction) when wgtun's private OpenSSL context is set up, else
 * EVP (OpenSSL's EVP layer over the same functions). Both give the same bytes; the _impl
 * variants let tests run and compare each. They fail (NULL / -1) if impl is not available. */
typedef enum {
	CRYPTO_AEAD_IMPL_DEFAULT,
	CRYPTO_AEAD_IMPL_EVP,
	CRYPTO_AEAD_IMPL_PROVIDER,
} crypto_aead_impl;
crypto_aead_impl crypto_aead_impl_default(void); /* what DEFAULT is: EVP or PROVIDER */
crypto_aead_ctx *crypto_aead_ctx_new_impl(const uint8_t key[CRYPTO_KEY_LEN], crypto_aead_impl impl);
crypto_aead_worker *crypto_aead_worker_new_impl(crypto_aead_impl impl);
int crypto_aead_seal_detached_impl(crypto_aead_impl impl, uint8_t *dst,
				   uint8_t tag[CRYPTO_AEAD_TAG_LEN], const uint8_t *src,
				   size_t len, const void *ad, size_t adlen,
				   const uint8_t nonce[12], const uint8_t key[CRYPTO_KEY_LEN]);
int crypto_aead_open_detached_impl(crypto_aead_impl impl, uint8_t *dst, const uint8_t *src,
				   size_t len, const uint8_t tag[CRYPTO_AEAD_TAG_LEN],
				   const void *ad, size_t adlen, const uint8_t nonce[12],
				   const uint8_t key[CRYPTO_KEY_LEN]);

/* ---- XChaCha20-Poly1305 (cookie replies) ---- */
/* The ChaCha20 permutation of state x in place (20 rounds, no feed-forward): HChaCha20's
 * core, and the DAITA generator's block function (daita/rng.c) adds the feed-forward. */
void crypto_chacha20_rounds(uint32_t x[16]);
void crypto_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce16[16]);
void crypto_xaead_seal(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		       const uint8_t nonce[CRYPTO_XAEAD_NONCE_LEN],
		       const uint8_t key[CRYPTO_KEY_LEN]);
int crypto_xaead_open(uint8_t *dst, const uint8_t *src, size_t len, const void *ad, size_t adlen,
		      const uint8_t nonce[CRYPTO_XAEAD_NONCE_LEN],
		      const uint8_t key[CRYPTO_KEY_LEN]);
/* As crypto_xaead_seal through w's context (none made and freed per call: 15% fewer
 * instructions for a cookie reply, and no allocation). w keeps the subkey keyed until the
 * next call or crypto_aead_worker_forget; forgetting each time would cost more than a fresh
 * context. 0, or -1 with dst and the tag zeroed. */
int crypto_xaead_worker_seal(crypto_aead_worker *w, uint8_t *dst, const uint8_t *src, size_t len,
			     const void *ad, size_t adlen,
			     const uint8_t nonce[CRYPTO_XAEAD_NONCE_LEN],
			     const uint8_t key[CRYPTO_KEY_LEN]);

/* ---- key encodings (constant time in the key bytes) ---- */
/* out gets 64 lowercase hex chars + NUL. */
void crypto_key_to_hex(char out[CRYPTO_KEY_HEX_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN]);
/* Exactly 64 hex chars (either case), no more, no less (len given). 0 / -1 (key wiped). */
int crypto_key_from_hex(uint8_t key[CRYPTO_KEY_LEN], const char *hex, size_t len);
/* out gets 44 chars of standard padded base64 + NUL. */
void crypto_key_to_base64(char out[CRYPTO_KEY_B64_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN]);
/* Exactly 44 chars, canonical (last char '=', unused bits zero). 0 / -1 (key wiped). */
int crypto_key_from_base64(uint8_t key[CRYPTO_KEY_LEN], const char *b64, size_t len);

#endif
