/* Naive references for the key encodings (hex digits, the base64 alphabet), written as
 * branches and a table walk to check src/crypto/encoding.c against. Header-only, so that the
 * fuzz harnesses (which do not link the test support library) use the same ones as the unit
 * tests. */
#ifndef WGTUN_KEYREF_H
#define WGTUN_KEYREF_H

/* The value of hex digit c (either case), -1 if c is not one. */
static inline int keyref_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The base64 (standard alphabet) character of the low 6 bits of v. */
static inline char keyref_b64char(unsigned v)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	return alpha[v & 63];
}

/* The value of base64 character c, -1 if c is not one (padding '=' included). */
static inline int keyref_b64val(int c)
{
	for (unsigned v = 0; v < 64; v++)
		if (keyref_b64char(v) == c)
			return (int)v;
	return -1;
}

#endif
