/* Fuzzes the key decoders (hex and base64, internal length-based and public NUL-terminated
 * forms). Invariants, checked with abort():
 * - a decoder accepts exactly what a naive reference decoder accepts, with the same bytes;
 * - whatever decodes re-encodes to the input (hex: up to letter case);
 * - on rejection the output key is wiped. */
#include "../support/keyref.h"
#include "crypto/crypto.h"
#include "wgtun.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ref_from_hex(uint8_t key[32], const uint8_t *s, size_t len)
{
	if (len != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		int hi = keyref_hexval(s[2 * i]), lo = keyref_hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int ref_from_b64(uint8_t key[32], const uint8_t *s, size_t len)
{
	uint8_t buf[33];
	int v[44];

	if (len != 44 || s[43] != '=')
		return -1;
	for (int i = 0; i < 43; i++)
		if ((v[i] = keyref_b64val(s[i])) < 0)
			return -1;
	v[43] = 0;
	if (v[42] & 3)
		return -1;
	for (int i = 0, o = 0; i < 44; i += 4) {
		uint32_t w = (uint32_t)v[i] << 18 | (uint32_t)v[i + 1] << 12 |
			     (uint32_t)v[i + 2] << 6 | (uint32_t)v[i + 3];

		buf[o++] = (uint8_t)(w >> 16);
		buf[o++] = (uint8_t)(w >> 8);
		buf[o++] = (uint8_t)w;
	}
	memcpy(key, buf, 32);
	return 0;
}

/* The parser and the reference agree (else abort): 1 if both parsed (the same key), 0 if
 * both refused (the parser left the key zero). */
static int agrees(int rc, int ref_rc, const uint8_t key[32], const uint8_t ref[32])
{
	if (rc != ref_rc)
		abort();
	if (rc != 0) {
		if (!crypto_is_zero(key, 32))
			abort();
		return 0;
	}
	if (memcmp(key, ref, 32) != 0)
		abort();
	return 1;
}

static void check_hex(const uint8_t *data, size_t size)
{
	uint8_t key[32], ref[32];
	char re[CRYPTO_KEY_HEX_LEN + 1];
	int rc = crypto_key_from_hex(key, (const char *)data, size);

	if (!agrees(rc, ref_from_hex(ref, data, size), key, ref))
		return;
	crypto_key_to_hex(re, key);
	for (size_t i = 0; i < 64; i++) {
		uint8_t c = data[i];

		if (c >= 'A' && c <= 'F')
			c = (uint8_t)(c - 'A' + 'a');
		if ((uint8_t)re[i] != c)
			abort();
	}
	if (re[64] != '\0')
		abort();
}

static void check_b64(const uint8_t *data, size_t size)
{
	uint8_t key[32], ref[32];
	char re[CRYPTO_KEY_B64_LEN + 1];
	int rc = crypto_key_from_base64(key, (const char *)data, size);

	if (!agrees(rc, ref_from_b64(ref, data, size), key, ref))
		return;
	crypto_key_to_base64(re, key);
	if (memcmp(re, data, 44) != 0 || re[44] != '\0')
		abort();
}

/* The public NUL-terminated forms must agree with the length-based ones. */
static void check_public(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint8_t a[32], b[32];
	size_t len;

	if (s == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	len = strlen(s);
	if ((wgtun_key_from_hex(a, s) == 0) != (crypto_key_from_hex(b, s, len) == 0))
		abort();
	if ((wgtun_key_from_base64(a, s) == 0) != (crypto_key_from_base64(b, s, len) == 0))
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_hex(data, size);
	check_b64(data, size);
	check_public(data, size);
	return 0;
}
