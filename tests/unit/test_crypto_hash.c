/* Crypto layer: BLAKE2s (vectors, split input, keyed, argument checks) and HMAC-BLAKE2s with
 * the KDF. */
#include "crypto/crypto.h"
#include "test.h"
#include "tjson.h"
#include "tvec.h"

#include <stdlib.h>
#include <string.h>

static void check_blake2s_vec(const tjson *v)
{
	size_t klen, inlen, hlen;
	uint8_t *key = tvec_hex(v, "key", &klen), *in = tvec_hex(v, "input", &inlen);
	uint8_t *want = tvec_hex(v, "hash", &hlen);
	size_t outlen = (size_t)tjson_u64(v, "out_len");
	uint8_t out[32];

	CHECK_EQ_INT(hlen, outlen);
	CHECK_EQ_INT(crypto_blake2s(out, outlen, key, klen, in, inlen), 0);
	CHECK_MEM(out, want, outlen);
	if (klen == 0 && outlen == 32) {
		crypto_hash(out, in, inlen);
		CHECK_MEM(out, want, 32);
		/* The two-part form must equal the hash of the concatenation at every split. */
		for (size_t split = 0; split <= inlen; split += 1 + inlen / 7) {
			crypto_hash2(out, in, split, in + split, inlen - split);
			CHECK_MEM(out, want, 32);
		}
	}
	if (klen > 0 && outlen == 16) {
		crypto_mac(out, key, klen, in, inlen);
		CHECK_MEM(out, want, 16);
	}
	if (tjson_get(v, "not_equal_to_truncated_32") != NULL) {
		size_t tlen;
		uint8_t *trunc = tvec_hex(v, "not_equal_to_truncated_32", &tlen);
		uint8_t full[32];

		/* out_len is a parameter, not a truncation. */
		CHECK_EQ_INT(crypto_blake2s(full, 32, key, klen, in, inlen), 0);
		CHECK_MEM(full, trunc, tlen);
		CHECK(memcmp(out, trunc, outlen) != 0);
		free(trunc);
	}
	free(key);
	free(in);
	free(want);
}

static void test_blake2s(void)
{
	tjson *j = tjson_load_vector("crypto/blake2s.json");
	const char *groups[] = {"rfc7693", "keyed_kat", "unkeyed", "computed_16"};
	size_t total = 0;
	uint8_t out[32];

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		tjson *arr = tjson_get(j, groups[g]);

		CHECK(arr != NULL && arr->n > 0);
		for (size_t i = 0; arr != NULL && i < arr->n; i++, total++)
			check_blake2s_vec(tjson_at(arr, i));
	}
	CHECK_EQ_INT(total, 1 + 256 + 256 + 11);
	tjson_free(j);

	/* Argument checks. */
	CHECK_EQ_INT(crypto_blake2s(out, 0, "k", 1, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(out, 33, "k", 1, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(out, 32, out, 33, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(NULL, 32, "k", 1, "x", 1), -1);
	CHECK_EQ_INT(crypto_blake2s(out, 1, "k", 1, "x", 1), 0);
}

static void test_hmac_kdf(void)
{
	tjson *j = tjson_load_vector("crypto/hmac_blake2s.json");
	tjson *arr = tjson_get(j, "vectors");
	uint8_t out[32];

	CHECK_EQ_INT(arr->n, 7);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t klen, inlen;
		uint8_t *key = tvec_hex(v, "key", &klen), *in = tvec_hex(v, "input", &inlen);
		uint8_t want[32];

		tvec_hex32(want, v, "hmac");
		crypto_hmac(out, key, klen, in, inlen);
		CHECK_MEM(out, want, 32);
		free(key);
		free(in);
	}
	tjson_free(j);

	j = tjson_load_vector("crypto/kdf.json");
	arr = tjson_get(j, "vectors");
	CHECK_EQ_INT(arr->n, 6);
	for (size_t i = 0; i < arr->n; i++) {
		tjson *v = tjson_at(arr, i);
		size_t klen, inlen;
		uint8_t *key = tvec_hex(v, "key", &klen), *in = tvec_hex(v, "input", &inlen);
		uint8_t ck[32], t1[32], t2[32], t3[32], w1[32], w2[32], w3[32];

		tvec_hex32(w1, v, "t1");
		tvec_hex32(w2, v, "t2");
		tvec_hex32(w3, v, "t3");
		/* The vectors' key is the HMAC key; crypto_kdf takes a 32-byte chaining key, so
		 * only 32-byte keys go through it directly; the others are checked with the
		 * definition (PRK = HMAC(key, input)), which is what crypto_kdf composes. */
		if (klen == 32) {
			memcpy(ck, key, 32);
			crypto_kdf(t1, t2, t3, ck, in, inlen);
			CHECK_MEM(t1, w1, 32);
			CHECK_MEM(t2, w2, 32);
			CHECK_MEM(t3, w3, 32);
			/* Subsets and aliasing of the output with the chaining key. */
			memset(t2, 0xaa, 32);
			crypto_kdf(NULL, t2, NULL, ck, in, inlen);
			CHECK_MEM(t2, w2, 32);
			crypto_kdf(NULL, NULL, t3, ck, in, inlen);
			CHECK_MEM(t3, w3, 32);
			crypto_kdf(ck, t2, NULL, ck, in, inlen);
			CHECK_MEM(ck, w1, 32);
			CHECK_MEM(t2, w2, 32);
		} else {
			uint8_t prk[32], buf[33];

			/* HMAC zero-pads its key to the block size, so a shorter key is the
			 * same key padded to 32 bytes: crypto_kdf itself can run these too. */
			CHECK(klen < 32);
			memset(ck, 0, 32);
			if (klen)
				memcpy(ck, key, klen);
			crypto_kdf(t1, t2, t3, ck, in, inlen);
			CHECK_MEM(t1, w1, 32);
			CHECK_MEM(t2, w2, 32);
			CHECK_MEM(t3, w3, 32);

			crypto_hmac(prk, key, klen, in, inlen);
			buf[0] = 1;
			crypto_hmac(t1, prk, 32, buf, 1);
			CHECK_MEM(t1, w1, 32);
			memcpy(buf, t1, 32);
			buf[32] = 2;
			crypto_hmac(t2, prk, 32, buf, 33);
			CHECK_MEM(t2, w2, 32);
			memcpy(buf, t2, 32);
			buf[32] = 3;
			crypto_hmac(t3, prk, 32, buf, 33);
			CHECK_MEM(t3, w3, 32);
		}
		free(key);
		free(in);
	}
	tjson_free(j);
}

/* crypto_mac_keyed (the key block compressed once) gives crypto_mac's output for every key
 * length, input length (0, within a block, at and around block edges, several blocks) and
 * after a re-key; an unset key is the unkeyed MAC. */
static void test_mac_keyed(void)
{
	uint8_t key[32], key2[32], in[300], a[16], b[16];
	crypto_mac_key k;

	for (size_t i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)(i * 7 + 1);
		key2[i] = (uint8_t)(i * 13 + 5);
	}
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 31 + 3);
	memset(&k, 0, sizeof(k));
	crypto_mac(a, NULL, 0, in, 100);
	crypto_mac_keyed(b, &k, in, 100);
	CHECK_MEM(a, b, 16);
	const size_t klens[] = {1, 16, 31, 32};
	const size_t lens[] = {0, 1, 6, 18, 63, 64, 65, 116, 127, 128, 129, 132, 300};
	for (size_t ki = 0; ki < sizeof(klens) / sizeof(klens[0]); ki++) {
		for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			crypto_mac_key_use(&k, key, klens[ki]);
			crypto_mac(a, key, klens[ki], in, lens[li]);
			crypto_mac_keyed(b, &k, in, lens[li]);
			CHECK_MEM(a, b, 16);
			/* another key of the same length: re-keyed, not the old state */
			crypto_mac_key_use(&k, key2, klens[ki]);
			crypto_mac(a, key2, klens[ki], in, lens[li]);
			crypto_mac_keyed(b, &k, in, lens[li]);
			CHECK_MEM(a, b, 16);
		}
	}
	crypto_mac_key_use(&k, key, 0); /* keylen 0: back to unset */
	CHECK_EQ_INT(k.keylen, 0);
	crypto_wipe(&k, sizeof(k));
}

int main(void)
{
	test_blake2s();
	test_hmac_kdf();
	test_mac_keyed();
	return test_finish("crypto_hash");
}
