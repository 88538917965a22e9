/* Types shared by the sans-I/O protocol core. The core never reads a clock or the RNG:
 * monotonic time is a parameter, wall-clock time and randomness come from callbacks. */
#ifndef WGTUN_PROTO_COMMON_H
#define WGTUN_PROTO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic time in nanoseconds. WG_TIME_NEVER = no deadline. */
typedef uint64_t wg_time_ns;
#define WG_TIME_NEVER UINT64_MAX
#define WG_NS_PER_SEC 1000000000ULL
#define WG_MS(x) ((wg_time_ns)(x) * 1000000ULL)
#define WG_SEC(x) ((wg_time_ns)(x) * WG_NS_PER_SEC)

/* Randomness source: fill out with n random bytes and return 0, or return -1 when it cannot
 * (out is then unspecified and must not be used: the operation that wanted the bytes fails).
 * Production: the OS CSPRNG; tests: a seeded deterministic generator, or a failing one. */
typedef struct {
	int (*fill)(void *ctx, void *out, size_t n);
	void *ctx;
} wg_rng;

/* Wall clock (for TAI64N and last-handshake time): nanoseconds since the Unix epoch. */
typedef struct {
	uint64_t (*now)(void *ctx);
	void *ctx;
} wg_wallclock;

__attribute__((warn_unused_result)) static inline int wg_rng_fill(const wg_rng *r, void *out,
								  size_t n)
{
	return r->fill(r->ctx, out, n) == 0 ? 0 : -1;
}

/* 0 and a random *v, or -1. */
__attribute__((warn_unused_result)) static inline int wg_rng_u32(const wg_rng *r, uint32_t *v)
{
	return wg_rng_fill(r, v, sizeof(*v));
}

#endif
