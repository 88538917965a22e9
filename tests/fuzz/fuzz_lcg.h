/* A deterministic randomness source for the fuzz harnesses: a 64-bit LCG, so that every run of
 * an input is the same (not random, and not meant to be). */
#ifndef WGTUN_FUZZ_LCG_H
#define WGTUN_FUZZ_LCG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint64_t s;
} fuzz_lcg;

/* A wg_rng fill callback; ctx is a fuzz_lcg. Never fails. */
static inline int fuzz_lcg_fill(void *ctx, void *out, size_t n)
{
	fuzz_lcg *r = ctx;
	uint8_t *o = out;

	for (size_t i = 0; i < n; i++) {
		r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
		o[i] = (uint8_t)(r->s >> 56);
	}
	return 0;
}

#endif
