/* Crypto layer: X25519: vectors, clamping, low-order points. */
#include "crypto/crypto.h"
#include "test.h"
#include "tjson.h"
#include "tvec.h"

#include <stdlib.h>

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

		tvec_hex32(k, v, "scalar");
		tvec_hex32(u, v, "u");
		tvec_hex32(want, v, "output");
		CHECK_EQ_INT(crypto_x25519(out, k, u), 0);
		CHECK_MEM(out, want, 32);
	}

	arr = tjson_get(j, "rfc7748_5_2_iterated");
	CHECK_EQ_INT(arr->n, 2);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		uint64_t iters = tjson_u64(v, "iterations");

		tvec_hex32(k, v, "start_k");
		tvec_hex32(u, v, "start_u");
		tvec_hex32(want, v, "output");
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

		tvec_hex32(ap, v, "alice_private");
		tvec_hex32(bp, v, "bob_private");
		tvec_hex32(apub, v, "alice_public");
		tvec_hex32(bpub, v, "bob_public");
		tvec_hex32(want, v, "shared");
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

		tvec_hex32(u, v, "u");
		tvec_hex32(k, chk, "scalar");
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

		tvec_hex32(k, v, "scalar");
		tvec_hex32(u, v, "u");
		tvec_hex32(want, v, "output");
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

int main(void)
{
	test_x25519();
	return test_finish("crypto_x25519");
}
