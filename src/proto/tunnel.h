/* One peer, sans I/O (the BoringTun FFI shape): IP packet in -> datagram(s) out; datagram in ->
 * IP packet or handshake reply out; tick(now) -> what is due; next_deadline().
 *
 * Contract for callers (the device, tests, embedders):
 * - Every call takes `now` (monotonic ns). Randomness and the wall clock come from the
 *   callbacks in the config. No call blocks, sleeps or does I/O.
 * - A result of WG_TUN_WRITE_NETWORK means: send out[0..*out_len) to the peer's endpoint.
 *   After a WRITE_NETWORK from decapsulate, call wg_tunnel_flush() until it returns
 *   WG_TUN_DONE: it hands out staged packets (and the initiator's key-confirmation keepalive).
 *   wg_tunnel_tick() likewise: call until WG_TUN_DONE.
 * - Buffers: out needs cap >= len + WG_TUNNEL_OVERHEAD for encapsulate, and >= 148 for anything
 *   that may produce a handshake message. In-place operation is allowed: for encapsulate,
 *   out == pkt - WG_DATA_HEADER_LEN; for decapsulate, out == dgram + WG_DATA_HEADER_LEN.
 *   Otherwise out must not overlap the input.
 * - Thread-safety: none; one thread at a time per tunnel (the device serializes), except the
 *   deferred-crypto *_run calls below.
 */
#ifndef WGTUN_PROTO_TUNNEL_H
#define WGTUN_PROTO_TUNNEL_H

#include "crypto/crypto.h"
#include "proto/common.h"
#include "proto/identity.h"
#include "proto/noise.h"

#define WG_DATA_HEADER_LEN 16
#define WG_TUNNEL_OVERHEAD (WG_DATA_HEADER_LEN + 16 /* tag */ + 15 /* padding */)
#define WG_TUNNEL_MIN_OUT 148 /* an initiation */
/* Staged packets (waiting for a session) per tunnel; when full the oldest is dropped (and
 * counted in stats.dropped). Staging copies the packet (one allocation each): it happens only
 * while no session exists. */
#define WG_TUNNEL_MAX_STAGED 128
/* Largest IP packet encapsulate accepts. */
#define WG_TUNNEL_MAX_PACKET 65535

typedef enum {
	WG_TUN_DONE = 0,          /* nothing (more) to do */
	WG_TUN_WRITE_NETWORK = 1, /* send out to the peer's endpoint */
	WG_TUN_WRITE_TUN_V4 = 2,  /* out holds an IPv4 packet (padding trimmed) for the TUN */
	WG_TUN_WRITE_TUN_V6 = 3,  /* out holds an IPv6 packet for the TUN */
	WG_TUN_SEAL_LATER = 4,    /* deferred encapsulate: run the job, then send out */
	WG_TUN_OPEN_LATER = 5,    /* deferred decapsulate: run the job, then finish */
	/* Errors: the input was dropped (the tunnel counts it). Never fatal to the tunnel. */
	WG_TUN_ERR_MALFORMED = -1,  /* bad type, length, reserved bytes, inner IP header */
	WG_TUN_ERR_MAC = -2,        /* mac1 invalid */
	WG_TUN_ERR_DECRYPT = -3,    /* AEAD or handshake authentication failed */
	WG_TUN_ERR_REPLAY = -4,     /* counter replayed / too old; initiation timestamp replayed */
	WG_TUN_ERR_NO_SESSION = -5, /* unknown index, expired keypair */
	WG_TUN_ERR_ALLOWED_IP = -6, /* inner source not allowed (reported by the device) */
	WG_TUN_ERR_BUFFER = -7,     /* out too small */
	WG_TUN_ERR_FLOOD = -8,      /* initiation too soon after the previous accepted one */
	WG_TUN_ERR_NO_KEY = -9,     /* no private key, or static-static DH is zero */
} wg_tun_result;

/* Device-wide index table hooks. Optional: when alloc is NULL the tunnel draws random
 * indices itself and only recognizes its own. */
typedef struct wg_tunnel wg_tunnel;
typedef struct {
	/* Register a fresh random index for t; 0 on success, -1 if the table is full. */
	int (*alloc)(void *ctx, wg_tunnel *t, uint32_t *index);
	void (*release)(void *ctx, uint32_t index);
	void *ctx;
} wg_index_ops;

typedef struct {
	const wg_identity *identity; /* must outlive the tunnel */
	uint8_t peer_public_key[32];
	uint8_t preshared_key[32];     /* all zero = none */
	uint16_t persistent_keepalive; /* seconds; 0 = off */
	uint32_t mtu;                  /* TUN MTU for padding; 0 = pad to 16 only */
	wg_rng rng;
	wg_wallclock wall;
	wg_index_ops index;
} wg_tunnel_config;

typedef struct {
	uint64_t tx_bytes, rx_bytes;     /* whole WireGuard messages, incl. handshakes/keepalives */
	uint64_t last_handshake_wall_ns; /* 0 = never */
	uint64_t dropped;                /* inputs refused (any WG_TUN_ERR_*) */
	uint32_t handshake_attempts;
	bool has_session;                /* a current keypair usable for sending, judged at the
					  * `now` of the latest call on this tunnel */
} wg_tunnel_stats;

/* NULL if the config is unusable (e.g. low-order peer key) or memory is short. */
wg_tunnel *wg_tunnel_new(const wg_tunnel_config *cfg, wg_time_ns now);
/* Wipes all keys and releases every index. NULL is fine. */
void wg_tunnel_free(wg_tunnel *t);

/* IP packet from the TUN -> one datagram, or staged (bounded, drop oldest) + maybe an
 * initiation to send. */
wg_tun_result wg_tunnel_encapsulate(wg_tunnel *t, wg_time_ns now, const uint8_t *pkt,
				    size_t len, uint8_t *out, size_t cap, size_t *out_len);
/* Datagram from the network (types 1-4). *authenticated is set when the packet proved it
 * came from the peer (valid handshake message, or data passing decryption and replay): the
 * caller may then move the peer's endpoint to the packet's source (roaming). */
wg_tun_result wg_tunnel_decapsulate(wg_tunnel *t, wg_time_ns now, const uint8_t *dgram,
				    size_t len, uint8_t *out, size_t cap, size_t *out_len,
				    bool *authenticated);
/* ---- Deferred crypto: a device that seals and opens a batch on several threads ----
 * The tunnel calls stay serialized and in packet order (counters, replay window, keypair
 * confirmation); only the *_run calls, which touch nothing but their job and its buffer, run
 * on any thread, in any order. A job holds a copy of the key (never a keypair pointer, so a
 * rotation meanwhile is harmless); run and finish wipe it.
 *
 * encapsulate_deferred: as wg_tunnel_encapsulate, except that when the packet goes out at once
 * on the current session it returns WG_TUN_SEAL_LATER: out[0..*out_len) holds the header and
 * the padded plaintext, and wg_tunnel_seal_run(job, w, out) must succeed before it is sent
 * (false = library failure: drop it). Any other result is as from wg_tunnel_encapsulate. */
typedef struct {
	uint8_t key[WG_KEY_LEN];
	uint64_t counter;
	size_t body_len; /* padded plaintext bytes at out + WG_DATA_HEADER_LEN */
} wg_tunnel_seal;
wg_tun_result wg_tunnel_encapsulate_deferred(wg_tunnel *t, wg_time_ns now, const uint8_t *pkt,
					     size_t len, uint8_t *out, size_t cap, size_t *out_len,
					     wg_tunnel_seal *job);
bool wg_tunnel_seal_run(wg_tunnel_seal *job, crypto_aead_worker *w, uint8_t *out);
/* decapsulate_prepare: a data message (type 4) for this tunnel -> WG_TUN_OPEN_LATER and job
 * filled, or a WG_TUN_ERR_* (dropped). Then wg_tunnel_open_run decrypts dgram in place, and
 * wg_tunnel_decapsulate_finish, called in the order the datagrams arrived, does what
 * wg_tunnel_decapsulate does after decryption (replay window, keypair confirmation, timers,
 * inner check): its result and *authenticated are wg_tunnel_decapsulate's, and the IP packet
 * is at dgram + WG_DATA_HEADER_LEN. */
typedef struct {
	uint8_t key[WG_KEY_LEN];
	uint64_t counter;
	uint32_t local_index;
	bool opened; /* set by wg_tunnel_open_run: authentic */
} wg_tunnel_open;
wg_tun_result wg_tunnel_decapsulate_prepare(wg_tunnel *t, wg_time_ns now, const uint8_t *dgram,
					    size_t len, wg_tunnel_open *job);
bool wg_tunnel_open_run(wg_tunnel_open *job, crypto_aead_worker *w, uint8_t *dgram, size_t len);
wg_tun_result wg_tunnel_decapsulate_finish(wg_tunnel *t, wg_time_ns now, const uint8_t *dgram,
					   size_t len, wg_tunnel_open *job, size_t *out_len,
					   bool *authenticated);

/* Next staged packet (or key-confirmation keepalive) to send, or WG_TUN_DONE. */
wg_tun_result wg_tunnel_flush(wg_tunnel *t, wg_time_ns now, uint8_t *out, size_t cap,
			      size_t *out_len);
/* Runs every timer due at now; may produce a keepalive or an initiation. */
wg_tun_result wg_tunnel_tick(wg_tunnel *t, wg_time_ns now, uint8_t *out, size_t cap,
			     size_t *out_len);
/* Earliest instant tick() has something to do; WG_TIME_NEVER when idle. */
wg_time_ns wg_tunnel_next_deadline(const wg_tunnel *t);

/* Configuration changes. */
void wg_tunnel_set_preshared_key(wg_tunnel *t, const uint8_t psk[32]);
/* Turning keepalive on makes tick() send one keepalive at once. */
void wg_tunnel_set_persistent_keepalive(wg_tunnel *t, wg_time_ns now, uint16_t seconds);
void wg_tunnel_set_mtu(wg_tunnel *t, uint32_t mtu);
/* Our address or port changed (a rebind): with a usable session, flush() sends a keepalive
 * (or the staged packets) at once, so the peer roams to us now instead of at our next
 * packet; an initiation waiting for its response is retransmitted TIMERS_RESEND_GAP after
 * it (its response would go to the old port). Otherwise nothing (no new handshake). */
void wg_tunnel_local_address_changed(wg_tunnel *t, wg_time_ns now);
/* The peer's endpoint was set to a different address: an initiation waiting for its
 * response (it went to the old address) is retransmitted TIMERS_RESEND_GAP after it, to the
 * new one, as a retry. Otherwise nothing. */
void wg_tunnel_endpoint_changed(wg_tunnel *t, wg_time_ns now);
/* The identity's key changed: recompute the static-static DH, expire sessions, clear
 * handshakes. */
void wg_tunnel_identity_changed(wg_tunnel *t, wg_time_ns now);
/* The device went down (its link was set down): every keypair and the handshake in flight
 * are wiped (their indices released), staged packets dropped, timers stopped. Counters, the
 * last handshake time, the endpoint and the configuration stay. */
void wg_tunnel_stop(wg_tunnel *t, wg_time_ns now);
/* The device came up again: a persistent-keepalive peer sends a keepalive (through a new
 * handshake, since stop left no session), as do packets staged meanwhile. */
void wg_tunnel_start(wg_tunnel *t, wg_time_ns now);
/* Start a handshake now if none is under way (device up, persistent keepalive). */
wg_tun_result wg_tunnel_force_handshake(wg_tunnel *t, wg_time_ns now, uint8_t *out, size_t cap,
					size_t *out_len);
/* Device helper: which peer sent this initiation? Checks type, length and mac1 against id,
 * then decrypts the initiator's static public key (one DH). Returns WG_TUN_DONE with
 * peer_public set, or a WG_TUN_ERR_*. The device then hands the same datagram to that peer's
 * tunnel with wg_tunnel_decapsulate(). */
wg_tun_result wg_tunnel_initiation_sender(const wg_identity *id, const uint8_t *msg, size_t len,
					  uint8_t peer_public[32]);
/* The same, keeping the work: a responder that found the peer with this goes on with
 * wg_tunnel_decapsulate_initiation(), which then skips the anonymous step (one X25519, a
 * fifth of the responder's cost). Holds secrets: always consumed (wiped) by that call, or
 * wipe it with wg_tunnel_initiation_wipe(). On error *prep is wiped. */
typedef struct {
	noise_initiation in;                      /* in.remote_static = the sender */
	uint8_t responder_public[WG_KEY_LEN];     /* the identity it was computed with */
} wg_tunnel_initiation;
wg_tun_result wg_tunnel_initiation_prepare(const wg_identity *id, const uint8_t *msg, size_t len,
					   wg_tunnel_initiation *prep);
void wg_tunnel_initiation_wipe(wg_tunnel_initiation *prep);
/* wg_tunnel_decapsulate() for an initiation prepared by wg_tunnel_initiation_prepare() on the
 * same msg. A prep that does not match msg, this tunnel's identity or peer is not trusted:
 * the tunnel then computes everything itself (same result as wg_tunnel_decapsulate). */
wg_tun_result wg_tunnel_decapsulate_initiation(wg_tunnel *t, wg_time_ns now, const uint8_t *msg,
					       size_t len, wg_tunnel_initiation *prep,
					       uint8_t *out, size_t cap, size_t *out_len,
					       bool *authenticated);
void wg_tunnel_get_stats(const wg_tunnel *t, wg_tunnel_stats *st);
/* The device could not send a datagram of len bytes this tunnel produced (no endpoint):
 * takes it back out of tx_bytes, which counts only what went out (as wireguard-go and the
 * kernel do). */
void wg_tunnel_unsent(wg_tunnel *t, size_t len);
const uint8_t *wg_tunnel_peer_public_key(const wg_tunnel *t);
/* Packets waiting for a session. */
size_t wg_tunnel_staged_count(const wg_tunnel *t);

/* Test hook: set the current keypair's next send counter (to reach REKEY/REJECT_AFTER_MESSAGES
 * in tests). No effect without a current keypair. */
void wg_tunnel_test_set_send_counter(wg_tunnel *t, uint64_t counter);

#endif
