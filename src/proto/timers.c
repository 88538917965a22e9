/* Per-peer timers as deadlines. Semantics follow the kernel's timers.c (checklist section 8);
 * the only liberty taken: the need_another_keepalive re-arm happens after the keepalive was
 * sent (timers_on_keepalive_timer_done), so the send itself cannot cancel it. */
#include "proto/timers.h"

#include <string.h>

static wg_time_ns timers_jitter(wg_timers *t)
{
	/* Jitter only spreads retries; it protects nothing. Without randomness: none (the RNG
	 * failure is counted where the RNG is, and the handshake it retries fails anyway). */
	if (t->jitter_left == 0) {
		if (wg_rng_fill(&t->rng, t->jitter_pool, sizeof(t->jitter_pool)) != 0)
			return 0;
		t->jitter_left = TIMERS_JITTER_POOL;
	}
	return (wg_time_ns)t->jitter_pool[--t->jitter_left] % (WG_REKEY_TIMEOUT_JITTER_MAX + 1);
}

/* now + d, saturated short of WG_TIME_NEVER: a caller's clock near the top of the range
 * (the sans-I/O API takes any uint64_t) must not wrap a deadline into the past. */
static wg_time_ns timers_after(wg_time_ns now, wg_time_ns d)
{
	return now >= WG_TIME_NEVER - 1 - d ? WG_TIME_NEVER - 1 : now + d;
}

static void timers_arm(wg_timers *t, timers_id id, wg_time_ns at)
{
	t->deadline[id] = at;
}

static void timers_cancel(wg_timers *t, timers_id id)
{
	t->deadline[id] = WG_TIME_NEVER;
}

bool timers_pending(const wg_timers *t, timers_id id)
{
	return t->deadline[id] != WG_TIME_NEVER;
}

void timers_init(wg_timers *t, wg_rng rng, uint16_t persistent_keepalive)
{
	memset(t, 0, sizeof(*t));
	t->rng = rng;
	t->persistent_keepalive = persistent_keepalive;
	timers_stop(t);
}

void timers_stop(wg_timers *t)
{
	for (int i = 0; i < TIMER_COUNT; i++)
		timers_cancel(t, (timers_id)i);
	t->handshake_attempts = 0;
	t->need_another_keepalive = false;
	t->sent_lastminute_handshake = false;
}

void timers_on_data_sent(wg_timers *t, wg_time_ns now)
{
	if (!timers_pending(t, TIMER_NEW_HANDSHAKE))
		timers_arm(t, TIMER_NEW_HANDSHAKE,
			   timers_after(now, WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT + timers_jitter(t)));
}

void timers_on_data_received(wg_timers *t, wg_time_ns now)
{
	if (!timers_pending(t, TIMER_SEND_KEEPALIVE))
		timers_arm(t, TIMER_SEND_KEEPALIVE, timers_after(now, WG_KEEPALIVE_TIMEOUT));
	else
		t->need_another_keepalive = true;
}

void timers_on_authenticated_packet_sent(wg_timers *t)
{
	timers_cancel(t, TIMER_SEND_KEEPALIVE);
}

void timers_on_authenticated_packet_received(wg_timers *t)
{
	timers_cancel(t, TIMER_NEW_HANDSHAKE);
}

void timers_on_any_packet_traversal(wg_timers *t, wg_time_ns now)
{
	if (t->persistent_keepalive)
		timers_arm(t, TIMER_PERSISTENT_KEEPALIVE, timers_after(now, WG_SEC(t->persistent_keepalive)));
}

void timers_on_handshake_initiated(wg_timers *t, wg_time_ns now)
{
	t->has_sent_handshake = true;
	t->last_sent_handshake = now;
	timers_arm(t, TIMER_RETRANSMIT_HANDSHAKE, timers_after(now, WG_REKEY_TIMEOUT + timers_jitter(t)));
}

void timers_on_handshake_response_sent(wg_timers *t, wg_time_ns now)
{
	t->has_sent_handshake = true;
	t->last_sent_handshake = now;
}

void timers_on_handshake_complete(wg_timers *t)
{
	timers_cancel(t, TIMER_RETRANSMIT_HANDSHAKE);
	t->handshake_attempts = 0;
	t->sent_lastminute_handshake = false;
}

void timers_on_session_derived(wg_timers *t, wg_time_ns now)
{
	timers_arm(t, TIMER_ZERO_KEY_MATERIAL, timers_after(now, WG_ZERO_KEY_MATERIAL_TIME));
}

void timers_on_initiation_wanted(wg_timers *t, bool is_retry)
{
	if (!is_retry)
		t->handshake_attempts = 0;
}

void timers_on_keepalive_timer_done(wg_timers *t, wg_time_ns now)
{
	if (t->need_another_keepalive) {
		t->need_another_keepalive = false;
		timers_arm(t, TIMER_SEND_KEEPALIVE, timers_after(now, WG_KEEPALIVE_TIMEOUT));
	}
}

void timers_set_persistent_keepalive(wg_timers *t, wg_time_ns now, uint16_t seconds)
{
	t->persistent_keepalive = seconds;
	if (seconds)
		timers_arm(t, TIMER_PERSISTENT_KEEPALIVE, timers_after(now, WG_SEC(seconds)));
	else
		timers_cancel(t, TIMER_PERSISTENT_KEEPALIVE);
}

void timers_reset_handshake_rate(wg_timers *t)
{
	t->has_sent_handshake = false;
}

void timers_retransmit_soon(wg_timers *t, wg_time_ns now)
{
	wg_time_ns at;

	if (!timers_pending(t, TIMER_RETRANSMIT_HANDSHAKE) || !t->has_sent_handshake)
		return;
	/* The peer refuses an initiation within 1/50 s of the last (flood rule) or with a
	 * timestamp in the same 2^24 ns step: the gap covers both. */
	at = timers_after(t->last_sent_handshake, TIMERS_RESEND_GAP);
	if (at < now)
		at = now;
	if (at >= t->deadline[TIMER_RETRANSMIT_HANDSHAKE])
		return;
	timers_arm(t, TIMER_RETRANSMIT_HANDSHAKE, at);
	/* the 5 s rule opens at `at`, not before: other triggers cannot send sooner */
	if (at >= WG_REKEY_TIMEOUT)
		t->last_sent_handshake = at - WG_REKEY_TIMEOUT;
	else
		t->has_sent_handshake = false;
}

void timers_on_initiation_failed(wg_timers *t, wg_time_ns now)
{
	wg_time_ns at = timers_after(now, TIMERS_FAILED_RETRY);

	if (!timers_pending(t, TIMER_RETRANSMIT_HANDSHAKE) ||
	    at < t->deadline[TIMER_RETRANSMIT_HANDSHAKE])
		timers_arm(t, TIMER_RETRANSMIT_HANDSHAKE, at);
}

bool timers_initiation_allowed(const wg_timers *t, wg_time_ns now)
{
	/* now < last can only come from a caller's clock going backwards: treat as "recent". */
	return !t->has_sent_handshake ||
	       (now >= t->last_sent_handshake && now - t->last_sent_handshake >= WG_REKEY_TIMEOUT);
}

static bool timers_due(const wg_timers *t, timers_id id, wg_time_ns now)
{
	return timers_pending(t, id) && t->deadline[id] <= now;
}

static unsigned timers_expire_retransmit(wg_timers *t, wg_time_ns now)
{
	timers_cancel(t, TIMER_RETRANSMIT_HANDSHAKE);
	if (t->handshake_attempts > WG_MAX_TIMER_HANDSHAKES) {
		timers_cancel(t, TIMER_SEND_KEEPALIVE);
		if (!timers_pending(t, TIMER_ZERO_KEY_MATERIAL))
			timers_arm(t, TIMER_ZERO_KEY_MATERIAL, timers_after(now, WG_ZERO_KEY_MATERIAL_TIME));
		return TIMERS_ACT_GIVE_UP;
	}
	t->handshake_attempts++;
	return TIMERS_ACT_RETRANSMIT;
}

unsigned timers_expired(wg_timers *t, wg_time_ns now)
{
	unsigned acts = 0;

	if (timers_due(t, TIMER_RETRANSMIT_HANDSHAKE, now))
		acts |= timers_expire_retransmit(t, now);
	if (timers_due(t, TIMER_SEND_KEEPALIVE, now)) {
		timers_cancel(t, TIMER_SEND_KEEPALIVE);
		acts |= TIMERS_ACT_SEND_KEEPALIVE;
	}
	if (timers_due(t, TIMER_NEW_HANDSHAKE, now)) {
		timers_cancel(t, TIMER_NEW_HANDSHAKE);
		acts |= TIMERS_ACT_NEW_HANDSHAKE;
	}
	if (timers_due(t, TIMER_ZERO_KEY_MATERIAL, now)) {
		timers_cancel(t, TIMER_ZERO_KEY_MATERIAL);
		acts |= TIMERS_ACT_ZERO_KEYS;
	}
	if (timers_due(t, TIMER_PERSISTENT_KEEPALIVE, now)) {
		timers_cancel(t, TIMER_PERSISTENT_KEEPALIVE);
		if (t->persistent_keepalive)
			acts |= TIMERS_ACT_PERSISTENT_KEEPALIVE;
	}
	return acts;
}

wg_time_ns timers_next_deadline(const wg_timers *t)
{
	wg_time_ns next = WG_TIME_NEVER;

	for (int i = 0; i < TIMER_COUNT; i++)
		if (t->deadline[i] < next)
			next = t->deadline[i];
	return next;
}
