/* The deferred data path of a tunnel (tunnel.h): the in-order steps under the peer's lock
 * (encapsulate_deferred, decapsulate_prepare / _finish) and the crypto between them, which
 * runs on any thread with a copy of the key (seal_run, open_run). */
#include "crypto/crypto.h"
#include "proto/messages.h"
#include "proto/replay.h"
#include "proto/transport.h"
#include "proto/tunnel_impl.h"

#include <string.h>

wg_tun_result wg_tunnel_encapsulate_deferred(wg_tunnel *t, wg_time_ns now, const uint8_t *pkt,
					     size_t len, uint8_t *out, size_t cap, size_t *out_len,
					     wg_tunnel_seal *job)
{
	wg_tun_result r;

	*out_len = 0;
	tunnel_seen(t, now);
	if (len == 0 || len > WG_TUNNEL_MAX_PACKET || t->staged_count || !tunnel_can_send(t, now) ||
	    cap < transport_message_len(len, t->mtu))
		return wg_tunnel_encapsulate(t, now, pkt, len, out, cap, out_len);
	memmove(out + WG_MSG_DATA_HEADER_LEN, pkt, len); /* no-op when in place */
	r = tunnel_send_data_job(t, now, out, len, cap, out_len, job);
	if (r < 0)
		t->stats.dropped++;
	return r;
}

bool wg_tunnel_seal_run(wg_tunnel_seal *job, crypto_aead_worker *w, uint8_t *out)
{
	bool ok = crypto_aead_worker_seal(w, job->key, out + WG_MSG_DATA_HEADER_LEN, job->body_len,
					  job->counter) == 0;

	crypto_wipe(job->key, sizeof(job->key));
	return ok;
}

wg_tun_result wg_tunnel_decapsulate_prepare(wg_tunnel *t, wg_time_ns now, const uint8_t *dgram,
					    size_t len, wg_tunnel_open *job)
{
	const wg_msg_data_header *h = (const wg_msg_data_header *)dgram;
	wg_keypair *kp;

	tunnel_seen(t, now);
	job->opened = false;
	if (wg_msg_classify(dgram, len) != WG_MSG_DATA) {
		t->stats.dropped++;
		return WG_TUN_ERR_MALFORMED;
	}
	kp = keypairs_lookup(&t->keypairs, wg_le32_read(h->receiver_index));
	if (!kp || !keypair_can_receive(kp, now)) {
		t->stats.dropped++;
		return WG_TUN_ERR_NO_SESSION;
	}
	memcpy(job->key, kp->recv_key, WG_KEY_LEN);
	job->counter = wg_le64_read(h->counter);
	job->local_index = kp->local_index;
	return WG_TUN_OPEN_LATER;
}

bool wg_tunnel_open_run(wg_tunnel_open *job, crypto_aead_worker *w, uint8_t *dgram, size_t len)
{
	/* len >= WG_MSG_DATA_MIN_LEN: checked by prepare. */
	job->opened = crypto_aead_worker_open(w, job->key, dgram + WG_MSG_DATA_HEADER_LEN,
					      len - WG_MSG_DATA_HEADER_LEN, job->counter) == 0;
	return job->opened;
}

wg_tun_result wg_tunnel_decapsulate_finish(wg_tunnel *t, wg_time_ns now, const uint8_t *dgram,
					   size_t len, wg_tunnel_open *job, size_t *out_len,
					   bool *authenticated)
{
	wg_keypair *kp = keypairs_lookup(&t->keypairs, job->local_index);
	wg_tun_result r;

	*out_len = 0;
	*authenticated = false;
	tunnel_seen(t, now);
	if (!job->opened)
		r = WG_TUN_ERR_DECRYPT;
	else if (!kp || !crypto_equal(kp->recv_key, job->key, WG_KEY_LEN) ||
		 !keypair_can_receive(kp, now))
		r = WG_TUN_ERR_NO_SESSION; /* the keypair went away while the job ran */
	else if (!replay_check(&kp->replay, job->counter))
		r = WG_TUN_ERR_REPLAY;
	else {
		*authenticated = true;
		r = tunnel_data_accepted(t, now, kp, len, dgram + WG_MSG_DATA_HEADER_LEN,
					 len - WG_MSG_DATA_HEADER_LEN - WG_TAG_LEN, out_len);
	}
	crypto_wipe(job->key, sizeof(job->key));
	if (r < 0) {
		t->stats.dropped++;
		*out_len = 0;
	}
	return r;
}
