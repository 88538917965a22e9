/* Hex and base64 encodings of 32-byte keys, constant time in the key (and in the characters
 * of the encoded key): no table lookups indexed by secret data and no branches on it. Only
 * the length and the final valid/invalid verdict are public. */
#include "crypto.h"

/* All-ones if lo <= c <= hi, else 0; c, lo, hi < 2^31 so the subtractions' sign bit is the
 * comparison result. */
static uint32_t ct_in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	uint32_t below = (c - lo) >> 31;
	uint32_t above = (hi - c) >> 31;

	return (below | above) - 1;
}

/* All-ones if v > k, else 0 (v, k < 2^31). */
static uint32_t ct_gt(uint32_t v, uint32_t k)
{
	return 0U - ((k - v) >> 31);
}

static char hex_char(uint32_t nib)
{
	/* '0' + n, plus ('a' - '0' - 10) when n > 9. */
	return (char)(nib + '0' + (ct_gt(nib, 9) & ('a' - '0' - 10)));
}

/* Value of a hex digit; *bad gets all-ones bits if c is not one. */
static uint32_t hex_value(uint32_t c, uint32_t *bad)
{
	uint32_t dig = ct_in_range(c, '0', '9');
	uint32_t low = ct_in_range(c, 'a', 'f');
	uint32_t up = ct_in_range(c, 'A', 'F');

	*bad |= ~(dig | low | up);
	return ((c - '0') & dig) | ((c - 'a' + 10) & low) | ((c - 'A' + 10) & up);
}

void crypto_key_to_hex(char out[CRYPTO_KEY_HEX_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN])
{
	for (int i = 0; i < CRYPTO_KEY_LEN; i++) {
		out[2 * i] = hex_char((uint32_t)key[i] >> 4);
		out[2 * i + 1] = hex_char((uint32_t)key[i] & 15);
	}
	out[CRYPTO_KEY_HEX_LEN] = '\0';
}

int crypto_key_from_hex(uint8_t key[CRYPTO_KEY_LEN], const char *hex, size_t len)
{
	uint32_t bad = 0;

	if (hex == NULL || len != CRYPTO_KEY_HEX_LEN) {
		crypto_wipe(key, CRYPTO_KEY_LEN);
		return -1;
	}
	for (int i = 0; i < CRYPTO_KEY_LEN; i++) {
		uint32_t hi = hex_value((uint8_t)hex[2 * i], &bad);
		uint32_t lo = hex_value((uint8_t)hex[2 * i + 1], &bad);

		key[i] = (uint8_t)((hi << 4) | lo);
	}
	crypto_declassify(&bad, sizeof(bad)); /* valid or not is the public verdict */
	if (bad != 0) {
		crypto_wipe(key, CRYPTO_KEY_LEN);
		return -1;
	}
	return 0;
}

/* Standard base64 alphabet: A-Z a-z 0-9 + /, computed rather than looked up. */
static char b64_char(uint32_t v)
{
	uint32_t c = v + 'A';

	c += ct_gt(v, 25) & (uint32_t)('a' - 'A' - 26);
	c -= ct_gt(v, 51) & (uint32_t)(('a' - 26) - ('0' - 52));
	c -= ct_gt(v, 61) & (uint32_t)(('0' - 52) - ('+' - 62));
	c += ct_gt(v, 62) & (uint32_t)(('/' - 63) - ('+' - 62));
	return (char)c;
}

static uint32_t b64_value(uint32_t c, uint32_t *bad)
{
	uint32_t up = ct_in_range(c, 'A', 'Z');
	uint32_t low = ct_in_range(c, 'a', 'z');
	uint32_t dig = ct_in_range(c, '0', '9');
	uint32_t plus = ct_in_range(c, '+', '+');
	uint32_t slash = ct_in_range(c, '/', '/');

	*bad |= ~(up | low | dig | plus | slash);
	return ((c - 'A') & up) | ((c - 'a' + 26) & low) | ((c - '0' + 52) & dig) | (62 & plus) |
	       (63 & slash);
}

void crypto_key_to_base64(char out[CRYPTO_KEY_B64_LEN + 1], const uint8_t key[CRYPTO_KEY_LEN])
{
	int o = 0;

	/* 10 groups of 3 bytes -> 40 chars; the last 2 bytes -> 3 chars and one '='. */
	for (int i = 0; i < 30; i += 3) {
		uint32_t w = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];

		out[o++] = b64_char(w >> 18);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = b64_char((w >> 6) & 63);
		out[o++] = b64_char(w & 63);
	}
	{
		uint32_t w = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;

		out[o++] = b64_char(w >> 18);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = b64_char((w >> 6) & 63);
		out[o++] = '=';
	}
	out[o] = '\0';
}

int crypto_key_from_base64(uint8_t key[CRYPTO_KEY_LEN], const char *b64, size_t len)
{
	uint32_t bad = 0;
	int o = 0;

	if (b64 == NULL || len != CRYPTO_KEY_B64_LEN) {
		crypto_wipe(key, CRYPTO_KEY_LEN);
		return -1;
	}
	for (int i = 0; i < 40; i += 4) {
		uint32_t w = b64_value((uint8_t)b64[i], &bad) << 18 |
			     b64_value((uint8_t)b64[i + 1], &bad) << 12 |
			     b64_value((uint8_t)b64[i + 2], &bad) << 6 |
			     b64_value((uint8_t)b64[i + 3], &bad);

		key[o++] = (uint8_t)(w >> 16);
		key[o++] = (uint8_t)(w >> 8);
		key[o++] = (uint8_t)w;
	}
	{
		uint32_t c3 = b64_value((uint8_t)b64[42], &bad);
		uint32_t w = b64_value((uint8_t)b64[40], &bad) << 18 |
			     b64_value((uint8_t)b64[41], &bad) << 12 | c3 << 6;

		key[o++] = (uint8_t)(w >> 16);
		key[o++] = (uint8_t)(w >> 8);
		/* Canonical form: the 2 bits below the last byte are zero, and the pad is '='. */
		bad |= c3 & 3;
		bad |= (uint32_t)(uint8_t)b64[43] ^ '=';
	}
	crypto_declassify(&bad, sizeof(bad)); /* valid or not is the public verdict */
	if (bad != 0) {
		crypto_wipe(key, CRYPTO_KEY_LEN);
		return -1;
	}
	return 0;
}
