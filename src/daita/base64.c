/* Strict standard base64, matching what Rust's base64 0.22 BASE64_STANDARD accepts: the
 * standard alphabet only, length a multiple of 4, at most two '=' and only at the very end,
 * and the unused low bits of the last symbol zero (so every byte string has exactly one
 * accepted spelling). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daita/bincode.h"
#include "daita/machine.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 symbol, or -1 ('=' and everything else). */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long daita_base64_decode(uint8_t *out, const char *in, size_t len, char *err)
{
	size_t pad = 0, i, o = 0;

	/* Character errors first, so a stray byte is reported as what it is. */
	for (i = 0; i < len; i++) {
		if (in[i] != '=' && b64_value((unsigned char)in[i]) < 0) {
			daita_set_err(err, "base64", "invalid character at offset %zu", i);
			return -1;
		}
	}
	if (len % 4 != 0) {
		daita_set_err(err, "base64", "length not a multiple of 4");
		return -1;
	}
	while (pad < len && in[len - 1 - pad] == '=')
		pad++;
	if (pad > 2) {
		daita_set_err(err, "base64", "invalid padding");
		return -1;
	}
	for (i = 0; i < len - pad; i++) {
		if (in[i] == '=') {
			daita_set_err(err, "base64", "padding before the end");
			return -1;
		}
	}
	for (i = 0; i < len; i += 4) {
		int v[4];
		unsigned k, n = (i + 4 == len) ? 4 - (unsigned)pad : 4;
		uint32_t w = 0;

		for (k = 0; k < 4; k++)
			v[k] = k < n ? b64_value((unsigned char)in[i + k]) : 0;
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		if ((n == 2 && (w & 0xffff) != 0) || (n == 3 && (w & 0xff) != 0)) {
			daita_set_err(err, "base64", "non-zero trailing bits");
			return -1;
		}
		out[o++] = (uint8_t)(w >> 16);
		if (n > 2)
			out[o++] = (uint8_t)(w >> 8);
		if (n > 3)
			out[o++] = (uint8_t)w;
	}
	return (long)o;
}

void daita_base64_encode(struct daita_wbuf *b, const uint8_t *in, size_t n)
{
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		char q[4] = {b64_alphabet[w >> 18], b64_alphabet[(w >> 12) & 63],
			     b64_alphabet[(w >> 6) & 63], b64_alphabet[w & 63]};
		daita_wbuf_put(b, q, 4);
	}
	if (n - i == 1) {
		uint32_t w = (uint32_t)in[i] << 16;
		char q[4] = {b64_alphabet[w >> 18], b64_alphabet[(w >> 12) & 63], '=', '='};
		daita_wbuf_put(b, q, 4);
	} else if (n - i == 2) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		char q[4] = {b64_alphabet[w >> 18], b64_alphabet[(w >> 12) & 63],
			     b64_alphabet[(w >> 6) & 63], '='};
		daita_wbuf_put(b, q, 4);
	}
}
