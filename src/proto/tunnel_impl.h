/* The inside of a wg_tunnel, shared by tunnel.c (the state machine) and tunnel_crypto.c (the
 * deferred data path the device runs with its crypto workers). Not for other modules: they
 * go through tunnel.h. */
#ifndef WGTUN_PROTO_TUNNEL_IMPL_H
#define WGTUN_PROTO_TUNNEL_IMPL_H

#include "proto/cookie.h"
#include "proto/keypair.h"
#include "proto/noise.h"
#include "proto/timers.h"
#include "proto/tunnel.h"

typedef struct {
	uint8_t *data; /* NULL for a keepalive */
	size_t len;
} staged_packet;

struct wg_tunnel {
	const wg_identity *identity;
	uint8_t peer_public[WG_KEY_LEN];
	uint32_t mtu;
	wg_rng rng;
	wg_wallclock wall;
	wg_index_ops index;

	noise_handshake hs;
	bool hs_index_live; /* hs_index is registered and owned by the pending handshake */
	uint32_t hs_index;
	cookie_maker cookie;
	wg_keypairs keypairs;
	wg_timers timers;

	staged_packet staged[WG_TUNNEL_MAX_STAGED]; /* ring */
	size_t staged_head, staged_count;

	bool want_initiation; /* an initiation may go out (5 s rule already checked) */
	bool flush_pending;   /* staged packets may be sendable */
	wg_time_ns last_now;  /* latest time seen, for the stats' has_session */
	wg_tunnel_stats stats;
};

/* Remembers the latest time seen (for the stats' has_session). */
void tunnel_seen(wg_tunnel *t, wg_time_ns now);
/* The current keypair may send now. */
bool tunnel_can_send(const wg_tunnel *t, wg_time_ns now);
/* Encrypts the plaintext at buf + 16 (job NULL), or only reserves it for a deferred seal. */
wg_tun_result tunnel_send_data_job(wg_tunnel *t, wg_time_ns now, uint8_t *buf, size_t len,
				   size_t cap, size_t *out_len, wg_tunnel_seal *job);
/* An authentic, fresh data message on kp (plaintext plain[0..plain_len)): keypair
 * confirmation, timers, the inner packet check. */
wg_tun_result tunnel_data_accepted(wg_tunnel *t, wg_time_ns now, wg_keypair *kp, size_t len,
				   const uint8_t *plain, size_t plain_len, size_t *out_len);

#endif
