/* Wiping, constant-time comparison and the OS RNG. */
#include "crypto.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

void crypto_wipe(void *p, size_t n)
{
	/* OPENSSL_cleanse is written so the compiler cannot drop it as a dead store. */
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return true;
	return CRYPTO_memcmp(a, b, n) == 0;
}

bool crypto_is_zero(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	uint8_t acc = 0;

	/* OR of all bytes: no early exit, so time depends only on n. */
	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

int crypto_random(void *out, size_t n)
{
	uint8_t *p = out;
	size_t left = n;

	/* RAND_bytes takes an int length: feed it in chunks. */
	while (left > 0) {
		int chunk = left > (size_t)INT_MAX ? INT_MAX : (int)left;

		if (RAND_bytes(p, chunk) != 1) {
			ERR_clear_error();
			crypto_wipe(out, n);
			return -1;
		}
		p += chunk;
		left -= (size_t)chunk;
	}
	return 0;
}
