/* Crypto layer: constant-time compare, zero test, wipe and the random source. */
#include "crypto/crypto.h"
#include "test.h"

#include <stdlib.h>

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

int main(void)
{
	test_util();
	return test_finish("crypto_util");
}
