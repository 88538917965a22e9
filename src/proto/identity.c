/* The device's static identity: private key, public key and the two keys derived from the
 * public key that every peer uses to reach us (mac1 and cookie-reply encryption). */
#include "proto/identity.h"

#include <string.h>

#include "crypto/crypto.h"
#include "proto/messages.h"

/* out = HASH(label || key): the mac1 and cookie keys (section 5). */
static void derive_labeled_key(uint8_t out[WG_HASH_LEN], const char *label,
			       const uint8_t key[WG_KEY_LEN])
{
	crypto_hash2(out, label, WG_LABEL_LEN, key, WG_KEY_LEN);
}

int wg_identity_set(wg_identity *id, const uint8_t private_key[32])
{
	wg_identity next;
	int ret = -1;

	memset(&next, 0, sizeof(next));
	if (crypto_is_zero(private_key, WG_KEY_LEN)) {
		wg_identity_clear(id);
		return 0;
	}
	memcpy(next.private_key, private_key, WG_KEY_LEN);
	crypto_x25519_clamp(next.private_key);
	if (crypto_x25519_public(next.public_key, next.private_key) != 0)
		goto out;
	derive_labeled_key(next.mac1_key, WG_LABEL_MAC1, next.public_key);
	derive_labeled_key(next.cookie_key, WG_LABEL_COOKIE, next.public_key);
	next.has_private_key = true;
	next.has_public_key = true;
	*id = next;
	ret = 0;
out:
	crypto_wipe(&next, sizeof(next));
	return ret;
}

int wg_identity_set_public(wg_identity *id, const uint8_t public_key[32])
{
	wg_identity_clear(id);
	if (crypto_is_zero(public_key, WG_KEY_LEN))
		return 0;
	memcpy(id->public_key, public_key, WG_KEY_LEN);
	derive_labeled_key(id->mac1_key, WG_LABEL_MAC1, id->public_key);
	derive_labeled_key(id->cookie_key, WG_LABEL_COOKIE, id->public_key);
	id->has_public_key = true;
	return 0;
}

void wg_identity_clear(wg_identity *id)
{
	crypto_wipe(id, sizeof(*id));
	id->has_private_key = false;
	id->has_public_key = false;
}
