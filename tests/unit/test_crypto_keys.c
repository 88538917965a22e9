/* Crypto layer: key encodings (hex, base64) against naive references and their rejection
 * tables; the public key helpers of include/wgtun.h. */
#include "crypto/crypto.h"
#include "keyref.h"
#include "test.h"
#include "wgtun.h"

#include <stdlib.h>

/* Deliberately naive encoders (table lookups; the digit values are keyref.h's) to compare
 * against. */
static void ref_to_hex(char out[65], const uint8_t key[32])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", key[i]);
}

static void ref_to_b64(char out[45], const uint8_t key[32])
{
	uint8_t k[33] = {0};
	int o = 0;

	memcpy(k, key, 32);
	for (int i = 0; i < 33; i += 3) {
		uint32_t w = (uint32_t)k[i] << 16 | (uint32_t)k[i + 1] << 8 | k[i + 2];

		out[o++] = keyref_b64char(w >> 18);
		out[o++] = keyref_b64char((w >> 12) & 63);
		out[o++] = keyref_b64char((w >> 6) & 63);
		out[o++] = keyref_b64char(w & 63);
	}
	out[43] = '=';
	out[44] = '\0';
}

static void test_encodings_fixed(void)
{
	static const struct {
		const char *hex, *b64;
	} known[] = {
		{"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="},
		{"0000000000000000000000000000000000000000000000000000000000000000",
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		 "//////////////////////////////////////////8="},
		{"fbff000000000000000000000000000000000000000000000000000000000000",
		 "+/8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
	};
	uint8_t key[32], back[32];
	char hex[65], b64[45];

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		CHECK_EQ_INT(test_unhex(key, 32, known[i].hex), 32);
		crypto_key_to_hex(hex, key);
		CHECK(strcmp(hex, known[i].hex) == 0);
		crypto_key_to_base64(b64, key);
		CHECK(strcmp(b64, known[i].b64) == 0);
		CHECK_EQ_INT(crypto_key_from_hex(back, known[i].hex, 64), 0);
		CHECK_MEM(back, key, 32);
		CHECK_EQ_INT(crypto_key_from_base64(back, known[i].b64, 44), 0);
		CHECK_MEM(back, key, 32);
	}
	/* Upper and mixed case hex decode to the same key. */
	CHECK_EQ_INT(crypto_key_from_hex(
			     back, "8520F0098930A754748B7DDCB43EF75A0DBF3A0D26381AF4EBA4A98EAA9B4E6A",
			     64),
		     0);
	CHECK_EQ_INT(test_unhex(key, 32, known[0].hex), 32);
	CHECK_MEM(back, key, 32);
}

static void test_encodings_random(void)
{
	test_rng rng;
	uint8_t key[32], back[32];
	char hex[65], rhex[65], b64[45], rb64[45];

	test_rng_seed(&rng, 1234);
	for (int n = 0; n < 2000; n++) {
		test_rng_bytes(&rng, key, 32);
		crypto_key_to_hex(hex, key);
		ref_to_hex(rhex, key);
		CHECK(strcmp(hex, rhex) == 0);
		crypto_key_to_base64(b64, key);
		ref_to_b64(rb64, key);
		CHECK(strcmp(b64, rb64) == 0);
		CHECK_EQ_INT(crypto_key_from_hex(back, hex, 64), 0);
		CHECK_MEM(back, key, 32);
		CHECK_EQ_INT(crypto_key_from_base64(back, b64, 44), 0);
		CHECK_MEM(back, key, 32);
	}
}

static void test_encodings_reject(void)
{
	const char *good_hex = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
	const char *good_b64 = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
	char buf[80];
	uint8_t key[32], want[32];
	int accepted;

	CHECK_EQ_INT(test_unhex(want, 32, good_hex), 32);
	/* Wrong lengths (the length argument decides, not a NUL). */
	for (size_t len = 0; len < sizeof(buf); len++) {
		memset(buf, 'a', sizeof(buf));
		memset(key, 0x5a, 32);
		CHECK_EQ_INT(crypto_key_from_hex(key, buf, len), len == 64 ? 0 : -1);
		if (len != 64)
			CHECK(crypto_is_zero(key, 32));
		memset(buf, 'A', sizeof(buf));
		buf[len ? len - 1 : 0] = '=';
		memset(key, 0x5a, 32);
		CHECK_EQ_INT(crypto_key_from_base64(key, buf, len), len == 44 ? 0 : -1);
		if (len != 44)
			CHECK(crypto_is_zero(key, 32));
	}
	CHECK_EQ_INT(crypto_key_from_hex(key, NULL, 64), -1);
	CHECK_EQ_INT(crypto_key_from_base64(key, NULL, 44), -1);

	/* Every byte value at a few positions of hex: accepted iff it is a hex digit, and then
	 * decoded to that digit. */
	for (int pos = 0; pos < 64; pos += 21) {
		for (int c = 0; c < 256; c++) {
			int v = keyref_hexval(c);

			memcpy(buf, good_hex, 64);
			buf[pos] = (char)c;
			memset(key, 0x5a, 32);
			CHECK_EQ_INT(crypto_key_from_hex(key, buf, 64), v >= 0 ? 0 : -1);
			if (v >= 0)
				CHECK_EQ_INT(pos % 2 ? key[pos / 2] & 15 : key[pos / 2] >> 4, v);
			else
				CHECK(crypto_is_zero(key, 32));
		}
	}

	/* Every byte value at data positions of base64. */
	for (int pos = 0; pos < 42; pos += 5) {
		for (int c = 0; c < 256; c++) {
			int v = keyref_b64val(c);
			char re[45];

			memcpy(buf, good_b64, 44);
			buf[pos] = (char)c;
			memset(key, 0x5a, 32);
			CHECK_EQ_INT(crypto_key_from_base64(key, buf, 44), v >= 0 ? 0 : -1);
			if (v >= 0) {
				crypto_key_to_base64(re, key);
				CHECK(memcmp(re, buf, 44) == 0);
			} else {
				CHECK(crypto_is_zero(key, 32));
			}
		}
	}

	/* Position 42 carries 4 data bits and 2 padding bits: only the 16 characters whose
	 * low 2 bits are zero are canonical. */
	accepted = 0;
	for (int c = 0; c < 256; c++) {
		int v = keyref_b64val(c);
		int ok;

		memcpy(buf, good_b64, 44);
		buf[42] = (char)c;
		ok = crypto_key_from_base64(key, buf, 44) == 0;
		CHECK_EQ_INT(ok, v >= 0 && (v & 3) == 0);
		accepted += ok;
	}
	CHECK_EQ_INT(accepted, 16);

	/* The pad must be '=' and nothing else. */
	for (int c = 0; c < 256; c++) {
		memcpy(buf, good_b64, 44);
		buf[43] = (char)c;
		CHECK_EQ_INT(crypto_key_from_base64(key, buf, 44), c == '=' ? 0 : -1);
	}

	/* A table of typical mistakes. */
	{
		static const char *bad[] = {
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=", /* pad bits set */
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm==", /* '=' as data */
			"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo=", /* base64url */
			"hSDwCYkwp1R0i33ctD73Wg2-Og0mOBr066SpjqqbTmo=", /* base64url */
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmoA", /* no pad */
			" SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", /* space */
			"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo\n",
			"=SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CHECK_EQ_INT(strlen(bad[i]), 44);
			memset(key, 0x5a, 32);
			CHECK_MSG(crypto_key_from_base64(key, bad[i], 44) == -1, "accepted %s", bad[i]);
			CHECK(crypto_is_zero(key, 32));
		}
	}
	CHECK_EQ_INT(crypto_key_from_base64(key, good_b64, 44), 0);
	CHECK_MEM(key, want, 32);
}

/* ---- public key helpers (include/wgtun.h) ---- */

static void test_public_keys(void)
{
	const char *alice_priv_hex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
	const char *alice_pub_b64 = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
	uint8_t priv[32], priv2[32], pub[32], back[32];
	char b64[WGTUN_KEY_B64_LEN + 1], hex[WGTUN_KEY_HEX_LEN + 1], line[80];

	CHECK_EQ_INT(wgtun_key_from_hex(priv, alice_priv_hex), 0);
	CHECK_EQ_INT(wgtun_key_public(pub, priv), 0);
	CHECK_EQ_INT(wgtun_key_to_base64(b64, pub), 0);
	CHECK(strcmp(b64, alice_pub_b64) == 0);
	CHECK_EQ_INT(wgtun_key_to_hex(hex, priv), 0);
	CHECK(strcmp(hex, alice_priv_hex) == 0);
	CHECK_EQ_INT(wgtun_key_from_base64(back, alice_pub_b64), 0);
	CHECK_MEM(back, pub, 32);

	CHECK_EQ_INT(wgtun_key_generate(priv), 0);
	CHECK_EQ_INT(wgtun_key_generate(priv2), 0);
	CHECK(memcmp(priv, priv2, 32) != 0);
	CHECK(priv[0] % 8 == 0 && (priv[31] & 0xc0) == 0x40);
	CHECK_EQ_INT(wgtun_key_public(pub, priv), 0);
	CHECK_EQ_INT(crypto_x25519_public(back, priv), 0);
	CHECK_MEM(pub, back, 32);
	CHECK_EQ_INT(wgtun_key_to_base64(b64, priv), 0);
	CHECK_EQ_INT(strlen(b64), 44);
	CHECK_EQ_INT(wgtun_key_from_base64(back, b64), 0);
	CHECK_MEM(back, priv, 32);
	CHECK_EQ_INT(wgtun_key_to_hex(hex, priv), 0);
	CHECK_EQ_INT(strlen(hex), 64);
	CHECK_EQ_INT(wgtun_key_from_hex(back, hex), 0);
	CHECK_MEM(back, priv, 32);

	/* NUL-terminated inputs: a trailing newline, a longer or shorter string, NULLs. */
	snprintf(line, sizeof(line), "%s\n", alice_pub_b64);
	CHECK_EQ_INT(wgtun_key_from_base64(back, line), -1);
	CHECK(crypto_is_zero(back, 32));
	CHECK_EQ_INT(wgtun_key_from_base64(back, alice_pub_b64 + 1), -1);
	snprintf(line, sizeof(line), "%s0", alice_priv_hex);
	CHECK_EQ_INT(wgtun_key_from_hex(back, line), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(back, alice_priv_hex + 2), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(back, ""), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(back, NULL), -1);
	CHECK_EQ_INT(wgtun_key_from_hex(NULL, alice_priv_hex), -1);
	CHECK_EQ_INT(wgtun_key_from_base64(back, NULL), -1);
	CHECK_EQ_INT(wgtun_key_from_base64(NULL, alice_pub_b64), -1);
	CHECK_EQ_INT(wgtun_key_to_hex(NULL, priv), -1);
	CHECK_EQ_INT(wgtun_key_to_hex(hex, NULL), -1);
	CHECK_EQ_INT(wgtun_key_to_base64(NULL, priv), -1);
	CHECK_EQ_INT(wgtun_key_to_base64(b64, NULL), -1);
	CHECK_EQ_INT(wgtun_key_public(NULL, priv), -1);
	CHECK_EQ_INT(wgtun_key_public(pub, NULL), -1);
	CHECK_EQ_INT(wgtun_key_generate(NULL), -1);
}

int main(void)
{
	test_encodings_fixed();
	test_encodings_random();
	test_encodings_reject();
	test_public_keys();
	return test_finish("crypto_keys");
}
