/* Public key helpers (include/wgtun.h, "Keys"): thin checked wrappers over src/crypto. */
#include "crypto/crypto.h"
#include "wgtun.h"

#include <string.h>

_Static_assert(WGTUN_KEY_LEN == CRYPTO_KEY_LEN, "key length");
_Static_assert(WGTUN_KEY_B64_LEN == CRYPTO_KEY_B64_LEN, "base64 length");
_Static_assert(WGTUN_KEY_HEX_LEN == CRYPTO_KEY_HEX_LEN, "hex length");

int wgtun_crypto_init_lean(void)
{
	return crypto_init_lean();
}

int wgtun_key_generate(uint8_t priv[WGTUN_KEY_LEN])
{
	if (priv == NULL)
		return -1;
	if (crypto_random(priv, WGTUN_KEY_LEN) != 0)
		return -1;
	crypto_x25519_clamp(priv);
	return 0;
}

int wgtun_key_public(uint8_t pub[WGTUN_KEY_LEN], const uint8_t priv[WGTUN_KEY_LEN])
{
	if (pub == NULL)
		return -1;
	if (priv == NULL) {
		crypto_wipe(pub, WGTUN_KEY_LEN);
		return -1;
	}
	return crypto_x25519_public(pub, priv);
}

int wgtun_key_to_base64(char out[WGTUN_KEY_B64_LEN + 1], const uint8_t key[WGTUN_KEY_LEN])
{
	if (out == NULL)
		return -1;
	if (key == NULL) {
		crypto_wipe(out, WGTUN_KEY_B64_LEN + 1);
		return -1;
	}
	crypto_key_to_base64(out, key);
	return 0;
}

int wgtun_key_from_base64(uint8_t key[WGTUN_KEY_LEN], const char *b64)
{
	if (key == NULL)
		return -1;
	if (b64 == NULL) {
		crypto_wipe(key, WGTUN_KEY_LEN);
		return -1;
	}
	/* strnlen: never read past one character beyond the longest valid input. */
	return crypto_key_from_base64(key, b64, strnlen(b64, WGTUN_KEY_B64_LEN + 1));
}

int wgtun_key_to_hex(char out[WGTUN_KEY_HEX_LEN + 1], const uint8_t key[WGTUN_KEY_LEN])
{
	if (out == NULL)
		return -1;
	if (key == NULL) {
		crypto_wipe(out, WGTUN_KEY_HEX_LEN + 1);
		return -1;
	}
	crypto_key_to_hex(out, key);
	return 0;
}

int wgtun_key_from_hex(uint8_t key[WGTUN_KEY_LEN], const char *hex)
{
	if (key == NULL)
		return -1;
	if (hex == NULL) {
		crypto_wipe(key, WGTUN_KEY_LEN);
		return -1;
	}
	return crypto_key_from_hex(key, hex, strnlen(hex, WGTUN_KEY_HEX_LEN + 1));
}
