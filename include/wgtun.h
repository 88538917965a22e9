/* libwgtun: userspace WireGuard. The one installed header.
 *
 * Conventions: opaque handles, no global state, no global init, no signals, never prints
 * (logs through a callback). Every function says its thread-safety. Only wgtun_* symbols
 * are exported from the shared library. */
#ifndef WGTUN_H
#define WGTUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WGTUN_BUILDING)
#define WGTUN_API __attribute__((visibility("default")))
#else
#define WGTUN_API
#endif

#define WGTUN_KEY_LEN 32

/* Library version as "MAJOR.MINOR.PATCH". Thread-safe. */
WGTUN_API const char *wgtun_version(void);

/* ==== Keys (begin) ==================================================================
 * WireGuard Curve25519 keys and their two text forms: base64 (wg(8), config files) and
 * lowercase hex (the UAPI socket). All functions return 0 on success and -1 on failure (bad
 * argument, bad input, or the OS RNG failed), in which case the output is wiped. Encoding
 * and decoding run in constant time in the key. Thread-safe; no state. */

#define WGTUN_KEY_B64_LEN 44 /* characters, without the terminating NUL */
#define WGTUN_KEY_HEX_LEN 64 /* characters, without the terminating NUL */

/* A fresh private key from the OS RNG, clamped (like `wg genkey`). */
WGTUN_API int wgtun_key_generate(uint8_t priv[WGTUN_KEY_LEN]);
/* The public key of a private key (clamped internally, like `wg pubkey`). */
WGTUN_API int wgtun_key_public(uint8_t pub[WGTUN_KEY_LEN], const uint8_t priv[WGTUN_KEY_LEN]);
/* out receives 44 characters of padded base64 and a NUL. */
WGTUN_API int wgtun_key_to_base64(char out[WGTUN_KEY_B64_LEN + 1],
				  const uint8_t key[WGTUN_KEY_LEN]);
/* b64 is a NUL-terminated string of exactly 44 characters in canonical padded base64 (no
 * whitespace; strip a trailing newline first). */
WGTUN_API int wgtun_key_from_base64(uint8_t key[WGTUN_KEY_LEN], const char *b64);
/* out receives 64 lowercase hex characters and a NUL. */
WGTUN_API int wgtun_key_to_hex(char out[WGTUN_KEY_HEX_LEN + 1], const uint8_t key[WGTUN_KEY_LEN]);
/* hex is a NUL-terminated string of exactly 64 hex characters (either case). */
WGTUN_API int wgtun_key_from_hex(uint8_t key[WGTUN_KEY_LEN], const char *hex);
/* ==== Keys (end) ==================================================================== */

#ifdef __cplusplus
}
#endif
#endif
