/* Wiping, constant-time comparison and the OS RNG (getrandom). */
#include "crypto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/random.h>

/* The constant-time check (tests/unit/test_consttime.c under valgrind, docs/constant-time.md)
 * marks secrets undefined; a compare's verdict is public by design, so it is declassified
 * here. Without valgrind's header this is nothing; outside valgrind, a few no-op insns. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define WGTUN_HAVE_MEMCHECK 1
#endif
#endif

void crypto_declassify(const void *p, size_t n)
{
#ifdef WGTUN_HAVE_MEMCHECK
	(void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
	(void)p;
	(void)n;
#endif
}

void crypto_wipe(void *p, size_t n)
{
	/* OPENSSL_cleanse is written so the compiler cannot drop it as a dead store. */
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

/* The wipe of both burns below: an external call (OPENSSL_cleanse) on the whole array and an
 * asm that reads the array after it, so no optimiser may drop the stores as dead. noinline:
 * the array's address goes to a real call, so each caller keeps it whole in its frame. */
static __attribute__((noinline)) void burn(uint8_t *pad, size_t n)
{
	crypto_wipe(pad, n);
	__asm__ __volatile__("" : : "r"(pad) : "memory");
}

/* noinline: the array must lie in a frame of its own below the caller's, where the dead
 * frames are (a fixed size: -Wvla, and no alloca). */
__attribute__((noinline)) void crypto_burn_stack(void)
{
	uint8_t pad[CRYPTO_BURN_STACK_LEN];

	burn(pad, sizeof(pad));
}

__attribute__((noinline)) void crypto_burn_stack_deep(void)
{
	uint8_t pad[CRYPTO_BURN_STACK_DEEP];

	burn(pad, sizeof(pad));
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
	bool eq;

	const uint8_t *x = a, *y = b;
	uint64_t d = 0;
	size_t i = 0;

	if (n == 0)
		return true;
	/* Word at a time, no early exit: the data path compares keys three times per packet
	 * (CRYPTO_memcmp goes byte by byte, ~230 instructions for 32 bytes). A key's 32 bytes
	 * as four straight words (n is public): the general loop's set-up was half the cost. */
	if (n == 32) {
		for (i = 0; i < 32; i += 8) {
			uint64_t u, v;
			memcpy(&u, x + i, 8);
			memcpy(&v, y + i, 8);
			d |= u ^ v;
		}
		n = 0;
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t u, v;
		memcpy(&u, x + i, 8);
		memcpy(&v, y + i, 8);
		d |= u ^ v;
	}
	for (; i < n; i++)
		d |= (uint64_t)(x[i] ^ y[i]);
	/* Branch-free verdict: d | -d has its top bit set exactly when d != 0. */
	eq = (bool)(1 ^ ((d | (0 - d)) >> 63));
	crypto_declassify(&eq, sizeof(eq));
	return eq;
}

bool crypto_is_zero(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	uint8_t acc = 0;

	/* OR of all bytes: no early exit, so time depends only on n. */
	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	crypto_declassify(&acc, sizeof(acc));
	return acc == 0;
}

/* The kernel's CSPRNG directly (what OpenSSL's DRBG seeds itself from anyway): RAND_bytes
 * would set up OpenSSL's DRBG chain (three DRBGs per thread, AES-256-CTR), fetched from
 * the process-wide context, which builds all ~140 ciphers there (docs/memory.md). */
int crypto_random(void *out, size_t n)
{
	uint8_t *p = out;
	size_t left = n;

	while (left > 0) {
		ssize_t got = getrandom(p, left, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			crypto_wipe(out, n);
			return -1;
		}
		p += got;
		left -= (size_t)got;
	}
	return 0;
}
