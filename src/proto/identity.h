/* The device's static identity, shared by all tunnels of a device (they keep a pointer;
 * the owner keeps it alive and tells each tunnel when it changes). */
#ifndef WGTUN_PROTO_IDENTITY_H
#define WGTUN_PROTO_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct wg_identity {
	bool has_private_key;
	bool has_public_key;     /* public_key, mac1_key and cookie_key are set */
	uint8_t private_key[32]; /* clamped */
	uint8_t public_key[32];
	uint8_t mac1_key[32];    /* HASH("mac1----" || public_key): checks mac1 of messages to us */
	uint8_t cookie_key[32];  /* HASH("cookie--" || public_key): seals our cookie replies */
} wg_identity;

/* Sets the key (clamped copy), derives public key and the mac1/cookie keys. An all-zero
 * private key clears the identity (has_private_key = false). 0 / -1 (identity unchanged). */
int wg_identity_set(wg_identity *id, const uint8_t private_key[32]);
/* Only the public half (what a cookie checker needs): public_key and the mac1/cookie keys,
 * has_private_key false. An all-zero key clears the identity. 0. */
int wg_identity_set_public(wg_identity *id, const uint8_t public_key[32]);
/* Wipes everything. */
void wg_identity_clear(wg_identity *id);

#endif
