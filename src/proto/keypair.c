/* Keypair rotation: previous / current / next (checklist section 9). */
#include "proto/keypair.h"

#include <string.h>

void keypairs_init(wg_keypairs *k, wg_keypair_release release)
{
	memset(k, 0, sizeof(*k));
	k->release = release;
}

static void keypair_drop(wg_keypairs *k, wg_keypair *kp)
{
	if (!kp || !kp->in_use)
		return;
	if (k->release.fn)
		k->release.fn(k->release.ctx, kp->local_index);
	crypto_aead_ctx_free(kp->send_ctx);
	crypto_aead_ctx_free(kp->recv_ctx);
	crypto_wipe(kp, sizeof(*kp));
}

void keypairs_clear(wg_keypairs *k)
{
	keypair_drop(k, k->previous);
	keypair_drop(k, k->current);
	keypair_drop(k, k->next);
	k->previous = k->current = k->next = NULL;
}

static wg_keypair *keypairs_free_slot(wg_keypairs *k)
{
	for (int i = 0; i < WG_KEYPAIR_SLOTS; i++)
		if (!k->slot[i].in_use)
			return &k->slot[i];
	return NULL; /* unreachable: at most three are referenced */
}

wg_keypair *keypairs_install(wg_keypairs *k, const noise_session_keys *keys, wg_time_ns now)
{
	wg_keypair *kp = keypairs_free_slot(k);

	if (!kp)
		return NULL;
	memset(kp, 0, sizeof(*kp));
	kp->send_ctx = crypto_aead_ctx_new(keys->send_key);
	kp->recv_ctx = crypto_aead_ctx_new(keys->recv_key);
	if (!kp->send_ctx || !kp->recv_ctx) {
		crypto_aead_ctx_free(kp->send_ctx);
		crypto_aead_ctx_free(kp->recv_ctx);
		crypto_wipe(kp, sizeof(*kp));
		return NULL;
	}
	memcpy(kp->send_key, keys->send_key, WG_KEY_LEN);
	memcpy(kp->recv_key, keys->recv_key, WG_KEY_LEN);
	kp->in_use = true;
	kp->is_initiator = keys->is_initiator;
	kp->send_valid = true;
	kp->created = now;
	kp->local_index = keys->local_index;
	kp->remote_index = keys->remote_index;
	replay_init(&kp->replay);

	if (kp->is_initiator) {
		/* The initiator has confirmation (the response) and sends on it at once. An
		 * unconfirmed `next` beats the old current as `previous`: the peer may still send
		 * on it. */
		wg_keypair *old_previous = k->previous;
		if (k->next) {
			k->previous = k->next;
			k->next = NULL;
			keypair_drop(k, k->current);
		} else {
			k->previous = k->current;
		}
		keypair_drop(k, old_previous);
		k->current = kp;
	} else {
		/* The responder must not send on it before the initiator proves it has it. */
		keypair_drop(k, k->next);
		k->next = kp;
		keypair_drop(k, k->previous);
		k->previous = NULL;
	}
	return kp;
}

bool keypairs_received_with(wg_keypairs *k, wg_keypair *kp)
{
	if (!kp || kp != k->next)
		return false;
	keypair_drop(k, k->previous);
	k->previous = k->current;
	k->current = k->next;
	k->next = NULL;
	return true;
}

wg_keypair *keypairs_lookup(wg_keypairs *k, uint32_t local_index)
{
	wg_keypair *c[3] = {k->current, k->previous, k->next};

	for (int i = 0; i < 3; i++)
		if (c[i] && c[i]->local_index == local_index)
			return c[i];
	return NULL;
}

void keypairs_expire_send(wg_keypairs *k)
{
	if (k->current)
		k->current->send_valid = false;
	if (k->next)
		k->next->send_valid = false;
}

wg_time_ns keypair_age(const wg_keypair *kp, wg_time_ns now)
{
	/* A clock that went backwards makes the keypair new, never negative-old. */
	return now > kp->created ? now - kp->created : 0;
}

bool keypair_can_send(const wg_keypair *kp, wg_time_ns now)
{
	return kp && kp->send_valid && keypair_age(kp, now) < WG_REJECT_AFTER_TIME &&
	       kp->send_counter < WG_REJECT_AFTER_MESSAGES;
}

bool keypair_can_receive(const wg_keypair *kp, wg_time_ns now)
{
	return kp && keypair_age(kp, now) < WG_REJECT_AFTER_TIME &&
	       kp->replay.last < WG_REJECT_AFTER_MESSAGES;
}

bool keypair_should_rekey(const wg_keypair *kp, wg_time_ns now)
{
	return kp && (kp->send_counter > WG_REKEY_AFTER_MESSAGES ||
		      (kp->is_initiator && keypair_age(kp, now) >= WG_REKEY_AFTER_TIME));
}
