/* The Noise IKpsk2 chaining-key chain of one WireGuard handshake, recomputed by a party
 * that knows the initiator's ephemeral and static private keys (the initiator itself), for
 * tests that look for these secrets in memory (tests/battery secrets, test_secrets.c).
 * Header-only on top of the crypto layer. Only the chaining key feeds the transport keys,
 * so the hash h is not needed. Every value the responder also computes is listed. */
#ifndef WGTUN_NOISE_CHAIN_H
#define WGTUN_NOISE_CHAIN_H
#include <string.h>

#include "crypto/crypto.h"

enum {
	CHAIN_CK_E_I, CHAIN_DH_ES, CHAIN_CK_ES, CHAIN_K_STATIC, CHAIN_DH_SS, CHAIN_CK_SS,
	CHAIN_K_TIMESTAMP, CHAIN_CK_E_R, CHAIN_DH_EE, CHAIN_CK_EE, CHAIN_DH_SE, CHAIN_CK_SE,
	CHAIN_CK_PSK, CHAIN_TAU, CHAIN_K_EMPTY, CHAIN_I_SEND, CHAIN_I_RECV, CHAIN_N
};

static const char *const chain_names[CHAIN_N] = {
	"ck_e_i", "dh_es", "ck_es", "k_static", "dh_ss", "ck_ss", "k_timestamp", "ck_e_r",
	"dh_ee", "ck_ee", "dh_se", "ck_se", "ck_psk", "tau", "k_empty",
	"initiator_send_key", "initiator_recv_key",
};

/* out[CHAIN_*] = each secret. e_priv_i: the initiator's ephemeral private key (clamped or
 * not), s_priv_i its static private key; e_pub_i / e_pub_r the ephemerals from the two
 * messages; s_pub_r the responder's static public key. 0, or -1 if a DH failed. */
static inline int noise_chain(uint8_t out[CHAIN_N][32], const uint8_t e_priv_i[32],
			      const uint8_t s_priv_i[32], const uint8_t e_pub_i[32],
			      const uint8_t s_pub_r[32], const uint8_t e_pub_r[32],
			      const uint8_t psk[32])
{
	static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
	uint8_t ck[32], e[32], s[32];
	int r = -1;

	memcpy(e, e_priv_i, 32);
	memcpy(s, s_priv_i, 32);
	crypto_x25519_clamp(e);
	crypto_x25519_clamp(s);
	crypto_hash(ck, construction, strlen(construction));
	crypto_kdf(out[CHAIN_CK_E_I], NULL, NULL, ck, e_pub_i, 32);
	if (crypto_x25519(out[CHAIN_DH_ES], e, s_pub_r))
		goto done;
	crypto_kdf(out[CHAIN_CK_ES], out[CHAIN_K_STATIC], NULL, out[CHAIN_CK_E_I],
		   out[CHAIN_DH_ES], 32);
	if (crypto_x25519(out[CHAIN_DH_SS], s, s_pub_r))
		goto done;
	crypto_kdf(out[CHAIN_CK_SS], out[CHAIN_K_TIMESTAMP], NULL, out[CHAIN_CK_ES],
		   out[CHAIN_DH_SS], 32);
	crypto_kdf(out[CHAIN_CK_E_R], NULL, NULL, out[CHAIN_CK_SS], e_pub_r, 32);
	if (crypto_x25519(out[CHAIN_DH_EE], e, e_pub_r))
		goto done;
	crypto_kdf(out[CHAIN_CK_EE], NULL, NULL, out[CHAIN_CK_E_R], out[CHAIN_DH_EE], 32);
	if (crypto_x25519(out[CHAIN_DH_SE], s, e_pub_r))
		goto done;
	crypto_kdf(out[CHAIN_CK_SE], NULL, NULL, out[CHAIN_CK_EE], out[CHAIN_DH_SE], 32);
	crypto_kdf(out[CHAIN_CK_PSK], out[CHAIN_TAU], out[CHAIN_K_EMPTY], out[CHAIN_CK_SE], psk,
		   32);
	crypto_kdf(out[CHAIN_I_SEND], out[CHAIN_I_RECV], NULL, out[CHAIN_CK_PSK], NULL, 0);
	r = 0;
done:
	crypto_wipe(ck, sizeof(ck));
	crypto_wipe(e, sizeof(e));
	crypto_wipe(s, sizeof(s));
	return r;
}
#endif
