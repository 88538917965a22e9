/* The five per-peer WireGuard timers (checklist section 8) as a pure state machine of
 * deadlines. Nothing here sleeps or reads a clock: the owner reports events with `now`,
 * asks timers_expired(now) which actions are due, performs them, and sleeps until
 * timers_next_deadline(). Jitter comes from the injected rng.
 *
 * Thread-safety: none; the owning tunnel serializes all calls. */
#ifndef WGTUN_PROTO_TIMERS_H
#define WGTUN_PROTO_TIMERS_H

#include "proto/common.h"
#include "proto/messages.h"

/* Protocol constants (WG_REKEY_*, WG_KEEPALIVE_TIMEOUT, ...) live in messages.h. Jitter is
 * uniform over 0..WG_REKEY_TIMEOUT_JITTER_MAX inclusive (0..333 ms). */
typedef enum {
	TIMER_RETRANSMIT_HANDSHAKE = 0,
	TIMER_SEND_KEEPALIVE,
	TIMER_NEW_HANDSHAKE,
	TIMER_ZERO_KEY_MATERIAL,
	TIMER_PERSISTENT_KEEPALIVE,
	TIMER_COUNT
} timers_id;

/* Actions returned by timers_expired(); the owner performs each set bit. */
enum {
	/* Send a new initiation as a retry (attempt counter already incremented). */
	TIMERS_ACT_RETRANSMIT = 1u << 0,
	/* Retries exhausted: drop staged packets (send_keepalive was cancelled and
	 * zero_key_material armed here). */
	TIMERS_ACT_GIVE_UP = 1u << 1,
	/* Send a keepalive, then call timers_on_keepalive_timer_done(). */
	TIMERS_ACT_SEND_KEEPALIVE = 1u << 2,
	/* Send a fresh (non-retry) initiation: we sent data and heard nothing for ~15 s. */
	TIMERS_ACT_NEW_HANDSHAKE = 1u << 3,
	/* Erase the handshake state and all keypairs. */
	TIMERS_ACT_ZERO_KEYS = 1u << 4,
	/* Send a keepalive (persistent keepalive interval elapsed). */
	TIMERS_ACT_PERSISTENT_KEEPALIVE = 1u << 5,
};

/* Jitter values drawn per rng call. */
#define TIMERS_JITTER_POOL 16

typedef struct {
	wg_time_ns deadline[TIMER_COUNT]; /* WG_TIME_NEVER = not pending */
	uint32_t handshake_attempts;      /* retries of the current handshake */
	bool need_another_keepalive;
	bool sent_lastminute_handshake;
	bool has_sent_handshake;          /* false: last_sent_handshake is "long ago" */
	wg_time_ns last_sent_handshake;   /* initiation or response, for the 5 s rule */
	uint16_t persistent_keepalive;    /* seconds; 0 = off */
	wg_rng rng;
	/* Jitter draws fetched from rng in one call (a data packet after an idle spell arms a
	 * jittered timer: one rng call per ping would cost a syscall-ish OpenSSL RAND call). */
	uint32_t jitter_pool[TIMERS_JITTER_POOL];
	unsigned jitter_left;
} wg_timers;

void timers_init(wg_timers *t, wg_rng rng, uint16_t persistent_keepalive);
/* Cancels every timer and forgets the flags (peer stopped). */
void timers_stop(wg_timers *t);

/* ---- events (hooks of the kernel's timers.c) ---- */
/* A non-empty data packet was sent. */
void timers_on_data_sent(wg_timers *t, wg_time_ns now);
/* A non-empty data packet was received. */
void timers_on_data_received(wg_timers *t, wg_time_ns now);
/* Any authenticated packet (data, keepalive, initiation, response) was sent / received. */
void timers_on_authenticated_packet_sent(wg_timers *t);
void timers_on_authenticated_packet_received(wg_timers *t);
/* Before sending or after receiving any authenticated packet. */
void timers_on_any_packet_traversal(wg_timers *t, wg_time_ns now);
/* An initiation was sent (stamps the 5 s rule and arms the retransmit). */
void timers_on_handshake_initiated(wg_timers *t, wg_time_ns now);
/* A response was sent (stamps the 5 s rule only). */
void timers_on_handshake_response_sent(wg_timers *t, wg_time_ns now);
/* Initiator consumed the response / responder got the first packet on `next`. */
void timers_on_handshake_complete(wg_timers *t);
/* A keypair was derived: (re)arm zero_key_material for 540 s. */
void timers_on_session_derived(wg_timers *t, wg_time_ns now);
/* An initiation is wanted; a non-retry one restarts the attempt count. */
void timers_on_initiation_wanted(wg_timers *t, bool is_retry);
/* After performing TIMERS_ACT_SEND_KEEPALIVE: re-arm if data arrived meanwhile. */
void timers_on_keepalive_timer_done(wg_timers *t, wg_time_ns now);
/* Interval change; a non-zero interval arms the timer from now. */
void timers_set_persistent_keepalive(wg_timers *t, wg_time_ns now, uint16_t seconds);
/* Forget the last sent handshake so the next initiation goes out at once (peer start,
 * private key change). */
void timers_reset_handshake_rate(wg_timers *t);
/* The initiation in flight is lost (its response goes to a socket we closed): retransmit it
 * as soon as the peer accepts another, TIMERS_RESEND_GAP after the last one, instead of
 * after REKEY_TIMEOUT. No-op unless a retransmit is pending. */
#define TIMERS_RESEND_GAP (2 * WG_INITIATION_MIN_INTERVAL)
void timers_retransmit_soon(wg_timers *t, wg_time_ns now);
/* An initiation was due but could not be made (the RNG failed, no receiver index): try again
 * TIMERS_FAILED_RETRY later, as a retry (counted in handshake_attempts; given up on after
 * WG_MAX_TIMER_HANDSHAKES like an unanswered one). Nothing else would: the 5 s rule was not
 * stamped, but no retransmit was armed either. */
#define TIMERS_FAILED_RETRY WG_SEC(1)
void timers_on_initiation_failed(wg_timers *t, wg_time_ns now);

/* ---- queries ---- */
/* May an initiation be sent now (at most one per REKEY_TIMEOUT)? */
bool timers_initiation_allowed(const wg_timers *t, wg_time_ns now);
/* Due actions (TIMERS_ACT_* bits) at now; the fired timers are disarmed and their state
 * changes applied. 0 when nothing is due. */
unsigned timers_expired(wg_timers *t, wg_time_ns now);
/* Earliest pending deadline, WG_TIME_NEVER if none. */
wg_time_ns timers_next_deadline(const wg_timers *t);
bool timers_pending(const wg_timers *t, timers_id id);

#endif
