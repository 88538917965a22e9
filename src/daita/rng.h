/* Randomness for the Maybenot framework. The framework and the samplers never read an RNG
 * themselves: they draw from an injected daita_rng. Production code backs it with the
 * ChaCha20 generator below, seeded from the OS RNG by the caller; tests use a deterministic
 * generator. */
#ifndef WGTUN_DAITA_RNG_H
#define WGTUN_DAITA_RNG_H

#include <stddef.h>
#include <stdint.h>

/* A source of uniformly distributed 64-bit words. next_u64 must never fail. */
typedef struct {
	uint64_t (*next_u64)(void *ctx);
	void *ctx;
} daita_rng;

static inline uint64_t daita_rng_u64(const daita_rng *r)
{
	return r->next_u64(r->ctx);
}

/* Uniform in [0, 1): 53 random bits. */
static inline double daita_rng_f64(const daita_rng *r)
{
	return (double)(daita_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform binary32 in [0, 1) on the grid k * 2^-23, the resolution of rand 0.9's
 * random_range(0.0f32..1.0), which the crate uses to pick transitions: so a transition's
 * probability is exactly what it is in Rust, not just within 2^-23 of it. */
static inline float daita_rng_f32(const daita_rng *r)
{
	return (float)(daita_rng_u64(r) >> 41) * 0x1.0p-23f;
}

/* Uniform in (0, 1]: safe to take the logarithm of. */
static inline double daita_rng_f64_oc(const daita_rng *r)
{
	return (double)((daita_rng_u64(r) >> 11) + 1) * 0x1.0p-53;
}

/* ---- ChaCha20 (RFC 8439) generator with fast key erasure ----
 * Each refill computes DAITA_CSPRNG_BLOCKS keystream blocks under the current key; the first
 * 32 bytes become the next key and the rest is handed out (and wiped as it is consumed), so
 * a captured state reveals nothing about earlier output. */
#define DAITA_CSPRNG_BLOCKS 16
#define DAITA_CSPRNG_BUF_LEN (DAITA_CSPRNG_BLOCKS * 64)

struct daita_csprng {
	uint32_t key[8];
	uint64_t refills; /* nonce of the next refill; a fresh key each refill anyway */
	size_t pos;       /* next unread byte in buf; == DAITA_CSPRNG_BUF_LEN when empty */
	uint8_t buf[DAITA_CSPRNG_BUF_LEN];
};

/* Seed with 32 secret bytes (production: from crypto_random / the device's wg_rng). */
void daita_csprng_init(struct daita_csprng *c, const uint8_t seed[32]);
/* Wipes all state. */
void daita_csprng_wipe(struct daita_csprng *c);
/* The daita_rng view of c (c must outlive every use of the returned value). */
daita_rng daita_csprng_rng(struct daita_csprng *c);
uint64_t daita_csprng_next_u64(void *c);

/* The raw ChaCha20 block function, exposed for its known-answer test. */
void daita_chacha20_block(uint8_t out[64], const uint32_t key[8], uint32_t counter,
			  const uint32_t nonce[3]);

#endif
