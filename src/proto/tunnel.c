/* One peer, sans I/O: Noise handshake + cookies + keypairs + timers + staged packets
 * (protocol-checklist.md sections 3-10). See tunnel.h for the caller's contract.
 *
 * Output model: every call produces at most one datagram. Work that needs more (staged
 * packets after a handshake, a rekey initiation) is remembered in want_initiation /
 * flush_pending and handed out by flush()/tick(); next_deadline() reports it as due now. */
#include "proto/tunnel.h"

#include "crypto/crypto.h"
#include "proto/cookie.h"
#include "proto/keypair.h"
#include "proto/messages.h"
#include "proto/noise.h"
#include "proto/timers.h"
#include "proto/transport.h"
#include "proto/tunnel_impl.h"

#include <stdlib.h>
#include <string.h>

/* Draws of a fresh receiver index before giving up (see tunnel_index_alloc). */
#define WG_TUNNEL_INDEX_DRAWS 32

/* ---- small helpers ---- */

static wg_tun_result tunnel_map_noise(noise_result r)
{
	/* noise_result values equal wg_tun_result ones, except "not this peer". */
	return r == NOISE_ERR_PEER ? WG_TUN_ERR_DECRYPT : (wg_tun_result)r;
}

void tunnel_seen(wg_tunnel *t, wg_time_ns now)
{
	if (now > t->last_now)
		t->last_now = now;
}

static void tunnel_index_release(wg_tunnel *t, uint32_t index)
{
	if (t->index.release)
		t->index.release(t->index.ctx, index);
}

static void tunnel_keypair_release(void *ctx, uint32_t index)
{
	tunnel_index_release(ctx, index);
}

static int tunnel_index_alloc(wg_tunnel *t, uint32_t *index)
{
	if (t->index.alloc)
		return t->index.alloc(t->index.ctx, t, index);
	/* Without a table only our own indices matter: avoid the live ones (at most 4). A
	 * working RNG collides with probability 2^-30 per draw; a bounded number of draws keeps
	 * a broken one (constant output) from hanging the tunnel. */
	for (int i = 0; i < WG_TUNNEL_INDEX_DRAWS; i++) {
		if (wg_rng_u32(&t->rng, index) != 0)
			return -1;
		if (!keypairs_lookup(&t->keypairs, *index) &&
		    !(t->hs_index_live && *index == t->hs_index))
			return 0;
	}
	return -1;
}

/* Forget the handshake in progress and its index. */
static void tunnel_handshake_forget(wg_tunnel *t)
{
	if (t->hs_index_live)
		tunnel_index_release(t, t->hs_index);
	t->hs_index_live = false;
	noise_handshake_clear(&t->hs);
}

static bool tunnel_mac1_valid(const wg_tunnel *t, const uint8_t *msg, enum wg_message_type type)
{
	uint8_t mac[WG_MAC_LEN];
	size_t off = wg_msg_mac1_offset(type);
	bool ok;

	crypto_mac(mac, t->identity->mac1_key, WG_HASH_LEN, msg, off);
	ok = crypto_equal(mac, msg + off, WG_MAC_LEN);
	crypto_wipe(mac, sizeof(mac));
	return ok;
}

bool tunnel_can_send(const wg_tunnel *t, wg_time_ns now)
{
	return keypair_can_send(t->keypairs.current, now);
}

/* ---- staged queue ---- */

static void staged_drop_head(wg_tunnel *t)
{
	staged_packet *p = &t->staged[t->staged_head];

	free(p->data);
	p->data = NULL;
	p->len = 0;
	t->staged_head = (t->staged_head + 1) % WG_TUNNEL_MAX_STAGED;
	t->staged_count--;
}

static void staged_clear(wg_tunnel *t)
{
	while (t->staged_count)
		staged_drop_head(t);
	t->staged_head = 0;
}

/* Copies pkt to the tail; full queue: the oldest is dropped. 0, or -1 (no memory). */
static int staged_push(wg_tunnel *t, const uint8_t *pkt, size_t len)
{
	uint8_t *copy = NULL;
	size_t slot;

	if (len) {
		copy = malloc(len);
		if (!copy)
			return -1;
		memcpy(copy, pkt, len);
	}
	if (t->staged_count == WG_TUNNEL_MAX_STAGED) {
		staged_drop_head(t);
		t->stats.dropped++;
	}
	slot = (t->staged_head + t->staged_count) % WG_TUNNEL_MAX_STAGED;
	t->staged[slot].data = copy;
	t->staged[slot].len = len;
	t->staged_count++;
	return 0;
}

static void staged_push_keepalive_if_empty(wg_tunnel *t)
{
	if (t->staged_count == 0)
		(void)staged_push(t, NULL, 0); /* no allocation for len 0: cannot fail */
}

/* ---- sending ---- */

/* "Send a handshake initiation" (non-retry): restarts the attempt count and, if the 5 s rule
 * allows and we have keys, queues one. */
static void tunnel_want_handshake(wg_tunnel *t, wg_time_ns now, bool is_retry)
{
	timers_on_initiation_wanted(&t->timers, is_retry);
	if (t->hs.has_static_static && timers_initiation_allowed(&t->timers, now))
		t->want_initiation = true;
}

static wg_tun_result tunnel_send_initiation(wg_tunnel *t, wg_time_ns now, uint8_t *out,
					    size_t cap, size_t *out_len)
{
	uint32_t index;
	noise_result nr;

	if (!t->identity->has_private_key || !t->hs.has_static_static)
		return WG_TUN_ERR_NO_KEY;
	if (cap < WG_MSG_INITIATION_LEN)
		return WG_TUN_ERR_BUFFER;
	if (!timers_initiation_allowed(&t->timers, now))
		return WG_TUN_DONE;
	tunnel_handshake_forget(t);
	/* Either failure is the RNG's (or a full index table): no retransmit would follow, and
	 * without a new packet nothing else asks again, so a retry is armed. */
	if (tunnel_index_alloc(t, &index) != 0) {
		timers_on_initiation_failed(&t->timers, now);
		return WG_TUN_ERR_NO_SESSION;
	}
	nr = noise_create_initiation(&t->hs, t->wall.now(t->wall.ctx), &t->rng, index,
				     (wg_msg_initiation *)out);
	if (nr != NOISE_OK) {
		tunnel_index_release(t, index);
		timers_on_initiation_failed(&t->timers, now);
		return tunnel_map_noise(nr);
	}
	t->hs_index = index;
	t->hs_index_live = true;
	(void)cookie_maker_add_macs(&t->cookie, out, WG_MSG_INITIATION_LEN, now);
	timers_on_any_packet_traversal(&t->timers, now);
	timers_on_authenticated_packet_sent(&t->timers);
	timers_on_handshake_initiated(&t->timers, now);
	t->stats.tx_bytes += WG_MSG_INITIATION_LEN;
	*out_len = WG_MSG_INITIATION_LEN;
	return WG_TUN_WRITE_NETWORK;
}

/* Encrypts the plaintext at buf + 16 (len bytes) with the current keypair; with job, only
 * reserves (header, padding, counter) and leaves the encryption to wg_tunnel_seal_run. */
wg_tun_result tunnel_send_data_job(wg_tunnel *t, wg_time_ns now, uint8_t *buf, size_t len,
				   size_t cap, size_t *out_len, wg_tunnel_seal *job)
{
	wg_keypair *kp = t->keypairs.current;
	size_t n;

	if (job) {
		n = transport_seal_reserve(kp, buf, len, cap, t->mtu, now, &job->counter,
					   &job->body_len);
		if (n)
			memcpy(job->key, kp->send_key, WG_KEY_LEN);
	} else {
		n = transport_seal(kp, buf, len, cap, t->mtu, now);
	}
	if (n == 0)
		return WG_TUN_ERR_BUFFER;
	timers_on_any_packet_traversal(&t->timers, now);
	timers_on_authenticated_packet_sent(&t->timers);
	if (len)
		timers_on_data_sent(&t->timers, now);
	t->stats.tx_bytes += n;
	/* keep_key_fresh (send side) */
	if (keypair_should_rekey(kp, now))
		tunnel_want_handshake(t, now, false);
	*out_len = n;
	return job ? WG_TUN_SEAL_LATER : WG_TUN_WRITE_NETWORK;
}

static wg_tun_result tunnel_send_data(wg_tunnel *t, wg_time_ns now, uint8_t *buf, size_t len,
				      size_t cap, size_t *out_len)
{
	return tunnel_send_data_job(t, now, buf, len, cap, out_len, NULL);
}

static wg_tun_result tunnel_send_staged_head(wg_tunnel *t, wg_time_ns now, uint8_t *out,
					     size_t cap, size_t *out_len)
{
	staged_packet *p = &t->staged[t->staged_head];
	size_t len = p->len;

	if (cap < transport_message_len(len, t->mtu))
		return WG_TUN_ERR_BUFFER;
	if (len)
		memcpy(out + WG_MSG_DATA_HEADER_LEN, p->data, len);
	staged_drop_head(t);
	return tunnel_send_data(t, now, out, len, cap, out_len);
}

/* The next datagram owed to the network, or WG_TUN_DONE. */
static wg_tun_result tunnel_next_output(wg_tunnel *t, wg_time_ns now, uint8_t *out, size_t cap,
					size_t *out_len)
{
	wg_tun_result r;

	*out_len = 0;
	if (t->want_initiation) {
		t->want_initiation = false;
		r = tunnel_send_initiation(t, now, out, cap, out_len);
		if (r == WG_TUN_ERR_BUFFER)
			t->want_initiation = true; /* retry with a big enough buffer */
		if (r == WG_TUN_WRITE_NETWORK || r == WG_TUN_ERR_BUFFER)
			return r;
	}
	if (t->staged_count && tunnel_can_send(t, now))
		return tunnel_send_staged_head(t, now, out, cap, out_len);
	t->flush_pending = false;
	return WG_TUN_DONE;
}

/* The kernel's "send staged packets": with a usable session they go out (via flush/tick),
 * otherwise they wait and a handshake is requested. */
static void tunnel_request_staged_send(wg_tunnel *t, wg_time_ns now)
{
	if (tunnel_can_send(t, now))
		t->flush_pending = true;
	else
		tunnel_want_handshake(t, now, false);
}

/* ---- receiving ---- */

static void tunnel_handshake_complete(wg_tunnel *t)
{
	timers_on_handshake_complete(&t->timers);
	t->stats.last_handshake_wall_ns = t->wall.now(t->wall.ctx);
	if (t->stats.last_handshake_wall_ns == 0)
		t->stats.last_handshake_wall_ns = 1; /* 0 means "never" */
	/* A session is usable now: staged packets go out on it, no initiation is owed. */
	t->want_initiation = false;
	t->flush_pending = true;
}

/* A prepared first step may be used only if it was made from this very message for this
 * tunnel's identity: same ephemeral and sender index, same responder key. */
static bool tunnel_prep_matches(const wg_tunnel *t, const wg_tunnel_initiation *prep,
				const uint8_t *msg)
{
	return prep && prep->in.valid &&
	       memcmp(prep->responder_public, t->identity->public_key, WG_KEY_LEN) == 0 &&
	       memcmp(prep->in.remote_ephemeral, msg + WG_INIT_OFF_EPHEMERAL, WG_KEY_LEN) == 0 &&
	       prep->in.remote_index == wg_le32_read(msg + WG_INIT_OFF_SENDER);
}

/* prep: the anonymous step done by the caller, or NULL; wiped on every path. */
static wg_tun_result tunnel_consume_initiation(wg_tunnel *t, wg_time_ns now,
					       const uint8_t *msg, size_t len,
					       wg_tunnel_initiation *prep, uint8_t *out,
					       size_t cap, size_t *out_len, bool *auth)
{
	noise_initiation in;
	noise_session_keys keys;
	noise_result nr;
	wg_tun_result r = WG_TUN_ERR_NO_SESSION;
	uint32_t index;

	memset(&in, 0, sizeof(in));
	if (!t->identity->has_private_key)
		r = WG_TUN_ERR_NO_KEY;
	else if (!tunnel_mac1_valid(t, msg, WG_MSG_INITIATION))
		r = WG_TUN_ERR_MAC;
	else if (cap < WG_MSG_RESPONSE_LEN)
		r = WG_TUN_ERR_BUFFER;
	else if (tunnel_prep_matches(t, prep, msg))
		in = prep->in;
	else if ((nr = noise_consume_initiation_static(t->identity, t->hs.params, msg, len,
						       &in)) != NOISE_OK)
		r = tunnel_map_noise(nr);
	if (prep)
		wg_tunnel_initiation_wipe(prep);
	if (!in.valid) {
		noise_initiation_wipe(&in);
		return r;
	}
	if (!crypto_equal(in.remote_static, t->peer_public, WG_KEY_LEN)) {
		noise_initiation_wipe(&in);
		return WG_TUN_ERR_DECRYPT;
	}
	nr = noise_consume_initiation(&t->hs, &in, (const wg_msg_initiation *)msg, now);
	if (nr != NOISE_OK)
		return tunnel_map_noise(nr);
	/* Committed: a handshake we had initiated is superseded. */
	if (t->hs_index_live)
		tunnel_index_release(t, t->hs_index);
	t->hs_index_live = false;
	if (tunnel_index_alloc(t, &index) != 0)
		goto out_clear;
	/* From here on msg is not read again, so out may alias it (in-place decapsulate). */
	nr = noise_create_response(&t->hs, &t->rng, index, (wg_msg_response *)out);
	if (nr == NOISE_OK)
		nr = noise_begin_session(&t->hs, &keys);
	if (nr != NOISE_OK) {
		r = tunnel_map_noise(nr);
		goto out_release;
	}
	if (!keypairs_install(&t->keypairs, &keys, now)) {
		crypto_wipe(&keys, sizeof(keys));
		goto out_release;
	}
	crypto_wipe(&keys, sizeof(keys));
	(void)cookie_maker_add_macs(&t->cookie, out, WG_MSG_RESPONSE_LEN, now);

	timers_on_authenticated_packet_received(&t->timers);
	timers_on_any_packet_traversal(&t->timers, now);
	timers_on_any_packet_traversal(&t->timers, now);
	timers_on_authenticated_packet_sent(&t->timers);
	timers_on_handshake_response_sent(&t->timers, now);
	timers_on_session_derived(&t->timers, now);
	t->stats.rx_bytes += len;
	t->stats.tx_bytes += WG_MSG_RESPONSE_LEN;
	*auth = true;
	*out_len = WG_MSG_RESPONSE_LEN;
	return WG_TUN_WRITE_NETWORK;

out_release:
	tunnel_index_release(t, index);
	crypto_wipe(out, WG_MSG_RESPONSE_LEN);
out_clear:
	noise_handshake_clear(&t->hs);
	return r;
}

static wg_tun_result tunnel_consume_response(wg_tunnel *t, wg_time_ns now, const uint8_t *msg,
					     size_t len, uint8_t *out, size_t cap,
					     size_t *out_len, bool *auth)
{
	noise_session_keys keys;
	noise_result nr;
	uint32_t receiver = wg_le32_read(msg + WG_RESP_OFF_RECEIVER);
	wg_keypair *kp;

	if (!t->identity->has_private_key)
		return WG_TUN_ERR_NO_KEY;
	if (!tunnel_mac1_valid(t, msg, WG_MSG_RESPONSE))
		return WG_TUN_ERR_MAC;
	if (!t->hs_index_live || receiver != t->hs_index)
		return WG_TUN_ERR_NO_SESSION;
	if (cap < WG_MSG_DATA_MIN_LEN)
		return WG_TUN_ERR_BUFFER;
	nr = noise_consume_response(&t->hs, msg, len);
	if (nr == NOISE_OK)
		nr = noise_begin_session(&t->hs, &keys);
	if (nr != NOISE_OK)
		return tunnel_map_noise(nr);
	/* The handshake's index now belongs to the keypair. */
	t->hs_index_live = false;
	kp = keypairs_install(&t->keypairs, &keys, now);
	crypto_wipe(&keys, sizeof(keys));
	if (!kp) {
		tunnel_index_release(t, t->hs_index);
		return WG_TUN_ERR_NO_SESSION;
	}
	timers_on_authenticated_packet_received(&t->timers);
	timers_on_any_packet_traversal(&t->timers, now);
	timers_on_session_derived(&t->timers, now);
	tunnel_handshake_complete(t);
	t->stats.rx_bytes += len;
	*auth = true;

	/* Key confirmation: the responder may only send once it heard from us on this keypair,
	 * so something must go out now: staged packets, else a keepalive. */
	staged_push_keepalive_if_empty(t);
	if (cap < transport_message_len(t->staged[t->staged_head].len, t->mtu))
		return tunnel_send_data(t, now, out, 0, cap, out_len); /* rest via flush */
	return tunnel_next_output(t, now, out, cap, out_len);
}

static wg_tun_result tunnel_consume_cookie(wg_tunnel *t, wg_time_ns now, const uint8_t *msg,
					   size_t len)
{
	uint32_t receiver = wg_le32_read(msg + WG_COOKIE_OFF_RECEIVER);
	cookie_result cr;

	if (!(t->hs_index_live && receiver == t->hs_index) &&
	    !keypairs_lookup(&t->keypairs, receiver))
		return WG_TUN_ERR_NO_SESSION;
	cr = cookie_maker_consume_reply(&t->cookie, msg, len, now);
	return cr == COOKIE_OK ? WG_TUN_DONE : (wg_tun_result)cr;
}

/* keep_key_fresh (receive side): the initiator starts a last-minute handshake when its session
 * is about to expire, so the responder (who never rekeys on time) is not cut off. */
static void tunnel_keep_key_fresh_rx(wg_tunnel *t, wg_time_ns now)
{
	const wg_keypair *kp = t->keypairs.current;

	if (t->timers.sent_lastminute_handshake || !kp || !kp->is_initiator ||
	    keypair_age(kp, now) < WG_REKEY_ON_RECV_AGE)
		return;
	t->timers.sent_lastminute_handshake = true;
	tunnel_want_handshake(t, now, false);
}

/* Data of len bytes on kp passed decryption and the replay check; plain[0..plain_len) is its
 * plaintext. Everything that follows from an authentic data message. */
wg_tun_result tunnel_data_accepted(wg_tunnel *t, wg_time_ns now, wg_keypair *kp, size_t len,
				   const uint8_t *plain, size_t plain_len, size_t *out_len)
{
	size_t inner_len = 0;
	int r;

	t->stats.rx_bytes += len;
	if (keypairs_received_with(&t->keypairs, kp))
		tunnel_handshake_complete(t);
	tunnel_keep_key_fresh_rx(t, now);
	timers_on_authenticated_packet_received(&t->timers);
	timers_on_any_packet_traversal(&t->timers, now);
	if (plain_len == 0)
		return WG_TUN_DONE; /* keepalive */
	timers_on_data_received(&t->timers, now);
	r = transport_inner_check(plain, plain_len, &inner_len);
	if (r < 0)
		return (wg_tun_result)r;
	*out_len = inner_len;
	return (wg_tun_result)r;
}

static wg_tun_result tunnel_consume_data(wg_tunnel *t, wg_time_ns now, const uint8_t *msg,
					 size_t len, uint8_t *out, size_t cap, size_t *out_len,
					 bool *auth)
{
	const wg_msg_data_header *h = (const wg_msg_data_header *)msg;
	wg_keypair *kp = keypairs_lookup(&t->keypairs, wg_le32_read(h->receiver_index));
	size_t body_len = len - WG_MSG_DATA_HEADER_LEN, plain_len = 0;
	int r;

	if (!kp)
		return WG_TUN_ERR_NO_SESSION;
	if (cap < body_len)
		return WG_TUN_ERR_BUFFER;
	if (!keypair_can_receive(kp, now))
		return WG_TUN_ERR_NO_SESSION;
	memmove(out, msg + WG_MSG_DATA_HEADER_LEN, body_len); /* no-op when in place */
	r = transport_open(kp, wg_le64_read(h->counter), out, body_len, &plain_len, now);
	if (r != 0)
		return (wg_tun_result)r;
	*auth = true;
	return tunnel_data_accepted(t, now, kp, len, out, plain_len, out_len);
}

/* ---- public API ---- */

static bool tunnel_key_low_order(const uint8_t pub[WG_KEY_LEN])
{
	/* Any scalar times a low-order point is zero (X25519 clamps to a multiple of 8). */
	static const uint8_t probe[WG_KEY_LEN] = {0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d,
						  0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
						  0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a,
						  0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a};
	uint8_t shared[WG_KEY_LEN];
	bool low = crypto_x25519(shared, probe, pub) != 0;

	crypto_wipe(shared, sizeof(shared));
	return low;
}

wg_tunnel *wg_tunnel_new(const wg_tunnel_config *cfg, wg_time_ns now)
{
	wg_tunnel *t;

	if (!cfg || !cfg->identity || !cfg->rng.fill || !cfg->wall.now ||
	    (!cfg->index.alloc) != (!cfg->index.release))
		return NULL;
	if (tunnel_key_low_order(cfg->peer_public_key))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->identity = cfg->identity;
	memcpy(t->peer_public, cfg->peer_public_key, WG_KEY_LEN);
	t->mtu = cfg->mtu;
	t->rng = cfg->rng;
	t->wall = cfg->wall;
	t->index = cfg->index;
	t->last_now = now;
	/* NO_KEY here only means "no private key yet": the tunnel waits for identity_changed. */
	(void)noise_handshake_init(&t->hs, cfg->identity, cfg->peer_public_key,
				   cfg->preshared_key, NULL);
	cookie_maker_init(&t->cookie, cfg->peer_public_key);
	keypairs_init(&t->keypairs, (wg_keypair_release){tunnel_keypair_release, t});
	timers_init(&t->timers, cfg->rng, 0);
	if (cfg->persistent_keepalive)
		wg_tunnel_set_persistent_keepalive(t, now, cfg->persistent_keepalive);
	return t;
}

void wg_tunnel_free(wg_tunnel *t)
{
	if (!t)
		return;
	tunnel_handshake_forget(t);
	keypairs_clear(&t->keypairs);
	staged_clear(t);
	noise_handshake_wipe(&t->hs);
	cookie_maker_wipe(&t->cookie);
	crypto_wipe(t, sizeof(*t));
	free(t);
}

wg_tun_result wg_tunnel_encapsulate(wg_tunnel *t, wg_time_ns now, const uint8_t *pkt,
				    size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	tunnel_seen(t, now);
	if (len == 0 || len > WG_TUNNEL_MAX_PACKET) {
		t->stats.dropped++;
		return WG_TUN_ERR_MALFORMED;
	}
	if (t->staged_count == 0 && tunnel_can_send(t, now)) {
		if (cap < transport_message_len(len, t->mtu)) {
			t->stats.dropped++;
			return WG_TUN_ERR_BUFFER;
		}
		memmove(out + WG_MSG_DATA_HEADER_LEN, pkt, len); /* no-op when in place */
		return tunnel_send_data(t, now, out, len, cap, out_len);
	}
	/* Keep order behind what is already staged; without a session, wait for one. */
	if (staged_push(t, pkt, len) != 0) {
		t->stats.dropped++;
		return WG_TUN_ERR_BUFFER;
	}
	tunnel_request_staged_send(t, now);
	return tunnel_next_output(t, now, out, cap, out_len);
}

wg_tun_result wg_tunnel_decapsulate(wg_tunnel *t, wg_time_ns now, const uint8_t *dgram,
				    size_t len, uint8_t *out, size_t cap, size_t *out_len,
				    bool *authenticated)
{
	bool auth = false;
	wg_tun_result r;

	*out_len = 0;
	tunnel_seen(t, now);
	switch (wg_msg_classify(dgram, len)) {
	case WG_MSG_INITIATION:
		r = tunnel_consume_initiation(t, now, dgram, len, NULL, out, cap, out_len, &auth);
		break;
	case WG_MSG_RESPONSE:
		r = tunnel_consume_response(t, now, dgram, len, out, cap, out_len, &auth);
		break;
	case WG_MSG_COOKIE_REPLY:
		r = tunnel_consume_cookie(t, now, dgram, len);
		break;
	case WG_MSG_DATA:
		r = tunnel_consume_data(t, now, dgram, len, out, cap, out_len, &auth);
		break;
	default:
		r = WG_TUN_ERR_MALFORMED;
		break;
	}
	if (r < 0) {
		t->stats.dropped++;
		*out_len = 0;
	}
	if (authenticated)
		*authenticated = auth;
	return r;
}

wg_tun_result wg_tunnel_flush(wg_tunnel *t, wg_time_ns now, uint8_t *out, size_t cap,
			      size_t *out_len)
{
	tunnel_seen(t, now);
	return tunnel_next_output(t, now, out, cap, out_len);
}

wg_tun_result wg_tunnel_tick(wg_tunnel *t, wg_time_ns now, uint8_t *out, size_t cap,
			     size_t *out_len)
{
	unsigned acts;
	wg_tun_result r;

	tunnel_seen(t, now);
	acts = timers_expired(&t->timers, now);
	if (acts & TIMERS_ACT_ZERO_KEYS) {
		tunnel_handshake_forget(t);
		keypairs_clear(&t->keypairs);
	}
	if (acts & TIMERS_ACT_GIVE_UP) {
		staged_clear(t);
		t->want_initiation = false;
	}
	if (acts & TIMERS_ACT_RETRANSMIT)
		tunnel_want_handshake(t, now, true);
	if (acts & TIMERS_ACT_NEW_HANDSHAKE)
		tunnel_want_handshake(t, now, false);
	if (acts & (TIMERS_ACT_SEND_KEEPALIVE | TIMERS_ACT_PERSISTENT_KEEPALIVE)) {
		staged_push_keepalive_if_empty(t);
		tunnel_request_staged_send(t, now);
	}
	r = tunnel_next_output(t, now, out, cap, out_len);
	/* After the keepalive went out, so its own send cannot cancel the re-arm. */
	if (acts & TIMERS_ACT_SEND_KEEPALIVE)
		timers_on_keepalive_timer_done(&t->timers, now);
	return r;
}

wg_time_ns wg_tunnel_next_deadline(const wg_tunnel *t)
{
	if (t->want_initiation || t->flush_pending)
		return 0; /* due now */
	return timers_next_deadline(&t->timers);
}

void wg_tunnel_set_preshared_key(wg_tunnel *t, const uint8_t psk[32])
{
	noise_handshake_set_preshared_key(&t->hs, psk);
}

void wg_tunnel_set_persistent_keepalive(wg_tunnel *t, wg_time_ns now, uint16_t seconds)
{
	bool turned_on = t->timers.persistent_keepalive == 0 && seconds > 0;

	tunnel_seen(t, now);
	timers_set_persistent_keepalive(&t->timers, now, seconds);
	if (turned_on) {
		staged_push_keepalive_if_empty(t);
		tunnel_request_staged_send(t, now);
	}
}

void wg_tunnel_set_mtu(wg_tunnel *t, uint32_t mtu)
{
	t->mtu = mtu;
}

/* The initiation in flight cannot be answered: retransmit it as soon as the peer takes
 * another, not after REKEY_TIMEOUT (a retry: the attempt count goes on, so a peer that never
 * answers is still given up on). */
static void tunnel_initiation_lost(wg_tunnel *t, wg_time_ns now)
{
	if (t->hs_index_live && t->hs.state == NOISE_STATE_INITIATION_CREATED)
		timers_retransmit_soon(&t->timers, now);
}

void wg_tunnel_local_address_changed(wg_tunnel *t, wg_time_ns now)
{
	tunnel_seen(t, now);
	/* A peer learns our new port only from an authenticated packet of ours; if it is the
	 * one sending (we only answer), neither side would ever send to the other. Idle peers
	 * get no handshake: one per peer on every rebind would be a storm. */
	if (tunnel_can_send(t, now)) {
		staged_push_keepalive_if_empty(t);
		t->flush_pending = true;
		return;
	}
	/* An initiation in flight gets its response at the old port, which is gone. */
	tunnel_initiation_lost(t, now);
}

void wg_tunnel_endpoint_changed(wg_tunnel *t, wg_time_ns now)
{
	tunnel_seen(t, now);
	/* An initiation in flight went to the old endpoint: the peer at the new one never saw
	 * it. A session needs nothing: its next packet goes to the new endpoint. */
	tunnel_initiation_lost(t, now);
}

void wg_tunnel_identity_changed(wg_tunnel *t, wg_time_ns now)
{
	tunnel_seen(t, now);
	tunnel_handshake_forget(t);
	(void)noise_handshake_identity_changed(&t->hs);
	keypairs_expire_send(&t->keypairs);
	timers_reset_handshake_rate(&t->timers);
	t->want_initiation = false;
	/* Staged packets (e.g. the keepalive of a persistent-keepalive peer configured before
	 * the private key, as one `wg setconf` does) waited for a handshake the old identity
	 * could not make: ask for it now, or they sit until the next packet. */
	if (t->staged_count > 0)
		tunnel_want_handshake(t, now, false);
}

void wg_tunnel_stop(wg_tunnel *t, wg_time_ns now)
{
	tunnel_seen(t, now);
	tunnel_handshake_forget(t);
	keypairs_clear(&t->keypairs);
	staged_clear(t);
	timers_stop(&t->timers);
	/* The next initiation is not held back by one sent before the stop (the kernel resets
	 * its last-sent-handshake time too). */
	timers_reset_handshake_rate(&t->timers);
	t->want_initiation = false;
	t->flush_pending = false;
}

void wg_tunnel_start(wg_tunnel *t, wg_time_ns now)
{
	tunnel_seen(t, now);
	if (t->timers.persistent_keepalive) {
		staged_push_keepalive_if_empty(t);
		tunnel_request_staged_send(t, now);
	} else if (t->staged_count > 0) {
		tunnel_request_staged_send(t, now);
	}
}

wg_tun_result wg_tunnel_force_handshake(wg_tunnel *t, wg_time_ns now, uint8_t *out, size_t cap,
					size_t *out_len)
{
	*out_len = 0;
	tunnel_seen(t, now);
	if (t->hs_index_live && t->hs.state == NOISE_STATE_INITIATION_CREATED &&
	    timers_pending(&t->timers, TIMER_RETRANSMIT_HANDSHAKE))
		return WG_TUN_DONE; /* one is under way */
	timers_on_initiation_wanted(&t->timers, false);
	t->want_initiation = false;
	return tunnel_send_initiation(t, now, out, cap, out_len);
}

void wg_tunnel_initiation_wipe(wg_tunnel_initiation *prep)
{
	noise_initiation_wipe(&prep->in);
	crypto_wipe(prep->responder_public, sizeof(prep->responder_public));
}

wg_tun_result wg_tunnel_initiation_prepare(const wg_identity *id, const uint8_t *msg, size_t len,
					   wg_tunnel_initiation *prep)
{
	noise_result nr;
	uint8_t mac[WG_MAC_LEN];
	bool mac_ok;

	wg_tunnel_initiation_wipe(prep);
	if (!wg_msg_check(msg, len, WG_MSG_INITIATION))
		return WG_TUN_ERR_MALFORMED;
	if (!id->has_private_key)
		return WG_TUN_ERR_NO_KEY;
	crypto_mac(mac, id->mac1_key, WG_HASH_LEN, msg, WG_INIT_OFF_MAC1);
	mac_ok = crypto_equal(mac, msg + WG_INIT_OFF_MAC1, WG_MAC_LEN);
	crypto_wipe(mac, sizeof(mac));
	if (!mac_ok)
		return WG_TUN_ERR_MAC;
	nr = noise_consume_initiation_static(id, noise_params_wireguard(), msg, len, &prep->in);
	if (nr != NOISE_OK)
		return tunnel_map_noise(nr);
	memcpy(prep->responder_public, id->public_key, WG_KEY_LEN);
	return WG_TUN_DONE;
}

wg_tun_result wg_tunnel_initiation_sender(const wg_identity *id, const uint8_t *msg, size_t len,
					  uint8_t peer_public[32])
{
	wg_tunnel_initiation prep;
	wg_tun_result r = wg_tunnel_initiation_prepare(id, msg, len, &prep);

	if (r == WG_TUN_DONE)
		memcpy(peer_public, prep.in.remote_static, WG_KEY_LEN);
	wg_tunnel_initiation_wipe(&prep);
	return r;
}

wg_tun_result wg_tunnel_decapsulate_initiation(wg_tunnel *t, wg_time_ns now, const uint8_t *msg,
					       size_t len, wg_tunnel_initiation *prep,
					       uint8_t *out, size_t cap, size_t *out_len,
					       bool *authenticated)
{
	bool auth = false;
	wg_tun_result r;

	*out_len = 0;
	tunnel_seen(t, now);
	if (wg_msg_classify(msg, len) != WG_MSG_INITIATION) {
		wg_tunnel_initiation_wipe(prep);
		r = WG_TUN_ERR_MALFORMED;
	} else {
		r = tunnel_consume_initiation(t, now, msg, len, prep, out, cap, out_len, &auth);
	}
	if (r < 0) {
		t->stats.dropped++;
		*out_len = 0;
	}
	if (authenticated)
		*authenticated = auth;
	return r;
}

void wg_tunnel_get_stats(const wg_tunnel *t, wg_tunnel_stats *st)
{
	*st = t->stats;
	st->handshake_attempts = t->timers.handshake_attempts;
	st->has_session = tunnel_can_send(t, t->last_now);
}

void wg_tunnel_unsent(wg_tunnel *t, size_t len)
{
	t->stats.tx_bytes -= len <= t->stats.tx_bytes ? len : t->stats.tx_bytes;
}

const uint8_t *wg_tunnel_peer_public_key(const wg_tunnel *t)
{
	return t->peer_public;
}

size_t wg_tunnel_staged_count(const wg_tunnel *t)
{
	return t->staged_count;
}

void wg_tunnel_test_set_send_counter(wg_tunnel *t, uint64_t counter)
{
	if (t->keypairs.current)
		t->keypairs.current->send_counter = counter;
}
