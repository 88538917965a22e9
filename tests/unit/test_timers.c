/* The timer state machine, one test per rule of checklist section 8, on a virtual clock.
 * The rng is a seeded generator; where exact deadlines matter the jitter is pinned. */
#include "proto/timers.h"
#include "test.h"

static test_rng g_rng;
static bool g_fixed;
static unsigned g_fills; /* rng calls */
static uint32_t g_fixed_value;

static int rng_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	g_fills++;
	if (g_fixed) {
		uint8_t *o = out;
		for (size_t i = 0; i < n; i++)
			o[i] = (uint8_t)(g_fixed_value >> (8 * (i % 4)));
		return 0;
	}
	test_rng_bytes(&g_rng, out, n);
	return 0;
}

static wg_timers make(uint16_t pk)
{
	wg_timers t;
	wg_rng rng = {rng_fill, NULL};
	timers_init(&t, rng, pk);
	return t;
}

static void test_idle_has_no_deadline(void)
{
	wg_timers t = make(0);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(100000)), 0);
	CHECK(timers_initiation_allowed(&t, 0));
}

static void test_jitter_bounds(void)
{
	/* Many draws: the retransmit deadline always lies in [5 s, 5.333 s]. */
	g_fixed = false;
	for (int i = 0; i < 2000; i++) {
		wg_timers t = make(0);
		timers_on_handshake_initiated(&t, WG_SEC(10));
		wg_time_ns d = timers_next_deadline(&t);
		CHECK(d >= WG_SEC(15) && d <= WG_SEC(15) + WG_MS(333));
	}
	/* A pinned maximal draw lands at 333 ms, one more wraps to 0. */
	g_fixed = true;
	g_fixed_value = WG_MS(333);
	wg_timers t = make(0);
	timers_on_handshake_initiated(&t, 0);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(5) + WG_MS(333));
	/* One timers object: draws come from the pool, one rng call per TIMERS_JITTER_POOL. */
	g_fixed = false;
	t = make(0);
	g_fills = 0;
	for (int i = 0; i < 100; i++) {
		timers_on_handshake_initiated(&t, WG_SEC(10));
		wg_time_ns d = timers_next_deadline(&t);
		CHECK(d >= WG_SEC(15) && d <= WG_SEC(15) + WG_MS(333));
	}
	CHECK_EQ_INT(g_fills, (100 + TIMERS_JITTER_POOL - 1) / TIMERS_JITTER_POOL);
	g_fixed = true;
	g_fixed_value = WG_MS(333) + 1;
	t = make(0); /* draws come in batches (TIMERS_JITTER_POOL): a fresh pool */
	timers_on_handshake_initiated(&t, 0);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(5));
	g_fixed = false;
}

static void test_sent_cancels_keepalive(void)
{
	wg_timers t = make(0);
	timers_on_data_received(&t, 0);
	CHECK(timers_pending(&t, TIMER_SEND_KEEPALIVE));
	timers_on_authenticated_packet_sent(&t);
	CHECK(!timers_pending(&t, TIMER_SEND_KEEPALIVE));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(20)), 0);
}

static void test_received_cancels_new_handshake(void)
{
	wg_timers t = make(0);
	timers_on_data_sent(&t, 0);
	CHECK(timers_pending(&t, TIMER_NEW_HANDSHAKE));
	timers_on_authenticated_packet_received(&t);
	CHECK(!timers_pending(&t, TIMER_NEW_HANDSHAKE));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(30)), 0);
}

static void test_data_sent_arms_new_handshake_once(void)
{
	g_fixed = true;
	g_fixed_value = WG_MS(100);
	wg_timers t = make(0);
	timers_on_data_sent(&t, WG_SEC(1));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(16) + WG_MS(100));
	/* More data does not push it back: the timer measures silence since the first send. */
	timers_on_data_sent(&t, WG_SEC(9));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(16) + WG_MS(100));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(16)), 0);
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(16) + WG_MS(100)), TIMERS_ACT_NEW_HANDSHAKE);
	CHECK(!timers_pending(&t, TIMER_NEW_HANDSHAKE));
	g_fixed = false;
}

static void test_data_received_keepalive(void)
{
	wg_timers t = make(0);
	timers_on_data_received(&t, WG_SEC(2));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(12));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(12) - 1), 0);
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(12)), TIMERS_ACT_SEND_KEEPALIVE);
	timers_on_authenticated_packet_sent(&t);
	timers_on_keepalive_timer_done(&t, WG_SEC(12));
	/* No data meanwhile: no second keepalive. */
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
}

static void test_need_another_keepalive(void)
{
	wg_timers t = make(0);
	timers_on_data_received(&t, 0);
	timers_on_data_received(&t, WG_SEC(3)); /* timer pending: no re-arm, flag set */
	CHECK(t.need_another_keepalive);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(10));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(10)), TIMERS_ACT_SEND_KEEPALIVE);
	timers_on_authenticated_packet_sent(&t); /* the keepalive itself */
	timers_on_keepalive_timer_done(&t, WG_SEC(10));
	CHECK(!t.need_another_keepalive);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(20));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(20)), TIMERS_ACT_SEND_KEEPALIVE);
	timers_on_keepalive_timer_done(&t, WG_SEC(20));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
}

static void test_initiated_arms_retransmit(void)
{
	g_fixed = true;
	g_fixed_value = WG_MS(7);
	wg_timers t = make(0);
	timers_on_handshake_initiated(&t, WG_SEC(1));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(6) + WG_MS(7));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(6) + WG_MS(7)), TIMERS_ACT_RETRANSMIT);
	CHECK_EQ_INT(t.handshake_attempts, 1);
	g_fixed = false;
}

static void test_retransmit_gives_up_after_18_retries(void)
{
	/* Simulate the owner: every retransmit sends an initiation at once. */
	wg_timers t = make(0);
	wg_time_ns now = 0;
	int initiations = 1, give_ups = 0;
	unsigned acts;

	timers_on_initiation_wanted(&t, false);
	CHECK(timers_initiation_allowed(&t, now));
	timers_on_handshake_initiated(&t, now);
	timers_on_data_received(&t, now); /* a keepalive pending gets cancelled on give-up */
	for (;;) {
		wg_time_ns d = timers_next_deadline(&t);
		if (d == WG_TIME_NEVER || d > WG_SEC(1000))
			break;
		now = d;
		acts = timers_expired(&t, now);
		if (acts & TIMERS_ACT_SEND_KEEPALIVE)
			timers_on_keepalive_timer_done(&t, now);
		if (acts & TIMERS_ACT_RETRANSMIT) {
			CHECK(timers_initiation_allowed(&t, now));
			timers_on_initiation_wanted(&t, true);
			timers_on_handshake_initiated(&t, now);
			timers_on_authenticated_packet_sent(&t);
			initiations++;
		}
		if (acts & TIMERS_ACT_GIVE_UP) {
			give_ups++;
			break;
		}
	}
	CHECK_EQ_INT(initiations, 20);
	CHECK_EQ_INT(give_ups, 1);
	/* 20 retransmit intervals of 5..5.333 s. */
	CHECK(now >= WG_SEC(100) && now <= WG_SEC(100) + 20 * WG_MS(333));
	CHECK(!timers_pending(&t, TIMER_RETRANSMIT_HANDSHAKE));
	CHECK(!timers_pending(&t, TIMER_SEND_KEEPALIVE));
	CHECK(timers_pending(&t, TIMER_ZERO_KEY_MATERIAL));
	CHECK_EQ_U64(t.deadline[TIMER_ZERO_KEY_MATERIAL], now + WG_SEC(540));
}

static void test_give_up_keeps_pending_zero_timer(void)
{
	wg_timers t = make(0);
	timers_on_session_derived(&t, WG_SEC(1));
	t.handshake_attempts = WG_MAX_TIMER_HANDSHAKES + 1;
	timers_on_handshake_initiated(&t, WG_SEC(2));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(8)), TIMERS_ACT_GIVE_UP);
	CHECK_EQ_U64(t.deadline[TIMER_ZERO_KEY_MATERIAL], WG_SEC(541));
}

static void test_non_retry_resets_attempts(void)
{
	wg_timers t = make(0);
	t.handshake_attempts = 7;
	timers_on_initiation_wanted(&t, true);
	CHECK_EQ_INT(t.handshake_attempts, 7);
	timers_on_initiation_wanted(&t, false);
	CHECK_EQ_INT(t.handshake_attempts, 0);
}

static void test_handshake_complete(void)
{
	wg_timers t = make(0);
	timers_on_handshake_initiated(&t, 0);
	t.handshake_attempts = 4;
	t.sent_lastminute_handshake = true;
	timers_on_handshake_complete(&t);
	CHECK(!timers_pending(&t, TIMER_RETRANSMIT_HANDSHAKE));
	CHECK_EQ_INT(t.handshake_attempts, 0);
	CHECK(!t.sent_lastminute_handshake);
}

static void test_session_derived_zero_keys(void)
{
	wg_timers t = make(0);
	timers_on_session_derived(&t, WG_SEC(10));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(550));
	/* A newer session pushes the erasure back. */
	timers_on_session_derived(&t, WG_SEC(130));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(670));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(669)), 0);
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(670)), TIMERS_ACT_ZERO_KEYS);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
}

static void test_persistent_keepalive(void)
{
	wg_timers t = make(25);
	timers_on_any_packet_traversal(&t, WG_SEC(1));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(26));
	/* Every traversal re-arms from now. */
	timers_on_any_packet_traversal(&t, WG_SEC(20));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(45));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(45)), TIMERS_ACT_PERSISTENT_KEEPALIVE);
	/* Off: traversal arms nothing, and a pending one is cancelled. */
	timers_set_persistent_keepalive(&t, WG_SEC(50), 0);
	timers_on_any_packet_traversal(&t, WG_SEC(50));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
	timers_set_persistent_keepalive(&t, WG_SEC(60), 5);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(65));
	/* Interval dropped to 0 after arming (without cancel): expiry does nothing. */
	t.persistent_keepalive = 0;
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(65)), 0);
}

static void test_initiation_rate_limit(void)
{
	wg_timers t = make(0);
	CHECK(timers_initiation_allowed(&t, WG_SEC(1)));
	timers_on_handshake_initiated(&t, WG_SEC(1));
	CHECK(!timers_initiation_allowed(&t, WG_SEC(1)));
	CHECK(!timers_initiation_allowed(&t, WG_SEC(6) - 1));
	CHECK(timers_initiation_allowed(&t, WG_SEC(6)));
	/* Sending a response also counts. */
	timers_on_handshake_response_sent(&t, WG_SEC(10));
	CHECK(!timers_initiation_allowed(&t, WG_SEC(14)));
	CHECK(timers_initiation_allowed(&t, WG_SEC(15)));
	/* A clock going backwards never allows a burst. */
	CHECK(!timers_initiation_allowed(&t, WG_SEC(9)));
	/* Reset (peer start, key change): allowed at once. */
	timers_reset_handshake_rate(&t);
	CHECK(timers_initiation_allowed(&t, WG_SEC(10)));
}

static void test_retransmit_soon(void)
{
	/* No initiation in flight: nothing to pull in. */
	wg_timers t = make(0);
	timers_retransmit_soon(&t, WG_SEC(20));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
	CHECK(timers_initiation_allowed(&t, WG_SEC(20)));
	/* In flight since 20 s, lost at 20.005 s: due at 20.040 s, not before, and the 5 s rule
	 * opens exactly then (no other trigger may send sooner). */
	timers_on_handshake_initiated(&t, WG_SEC(20));
	timers_retransmit_soon(&t, WG_SEC(20) + WG_MS(5));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(20) + TIMERS_RESEND_GAP);
	CHECK(!timers_initiation_allowed(&t, WG_SEC(20) + TIMERS_RESEND_GAP - 1));
	CHECK(timers_initiation_allowed(&t, WG_SEC(20) + TIMERS_RESEND_GAP));
	CHECK_EQ_INT(timers_expired(&t, WG_SEC(20) + TIMERS_RESEND_GAP), TIMERS_ACT_RETRANSMIT);
	CHECK_EQ_INT(t.handshake_attempts, 1); /* counts as a retry */
	/* Late (the gap is over): due now; never later than the regular retransmit. */
	timers_on_handshake_initiated(&t, WG_SEC(30));
	timers_retransmit_soon(&t, WG_SEC(31));
	CHECK_EQ_U64(timers_next_deadline(&t), WG_SEC(31));
	CHECK(timers_initiation_allowed(&t, WG_SEC(31)));
}

/* A clock at the top of the uint64_t range (the sans-I/O API takes any value): deadlines
 * saturate instead of wrapping into the past, so nothing fires early. */
static void test_clock_near_max(void)
{
	wg_time_ns now = WG_TIME_NEVER - WG_SEC(1);
	wg_timers t = make(25);

	timers_on_handshake_initiated(&t, now);
	timers_on_data_sent(&t, now);
	timers_on_data_received(&t, now);
	timers_on_session_derived(&t, now);
	timers_on_any_packet_traversal(&t, now);
	timers_on_initiation_failed(&t, now);
	CHECK(timers_next_deadline(&t) >= now);
	CHECK(timers_next_deadline(&t) != WG_TIME_NEVER);
	CHECK_EQ_INT(timers_expired(&t, now), 0);
	CHECK_EQ_INT(timers_expired(&t, now + WG_MS(999)), 0);
	timers_set_persistent_keepalive(&t, now, 65535);
	CHECK(timers_next_deadline(&t) >= now);
	CHECK_EQ_INT(timers_expired(&t, now), 0);
}

static void test_several_due_at_once(void)
{
	wg_timers t = make(30);
	timers_on_session_derived(&t, 0);
	timers_on_data_received(&t, 0);
	timers_on_data_sent(&t, 0);
	timers_on_any_packet_traversal(&t, 0);
	unsigned acts = timers_expired(&t, WG_SEC(600));
	CHECK_EQ_INT(acts, TIMERS_ACT_ZERO_KEYS | TIMERS_ACT_SEND_KEEPALIVE |
				   TIMERS_ACT_NEW_HANDSHAKE | TIMERS_ACT_PERSISTENT_KEEPALIVE);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
}

static void test_stop(void)
{
	wg_timers t = make(10);
	timers_on_session_derived(&t, 0);
	timers_on_handshake_initiated(&t, 0);
	timers_on_any_packet_traversal(&t, 0);
	timers_stop(&t);
	CHECK_EQ_U64(timers_next_deadline(&t), WG_TIME_NEVER);
}

int main(void)
{
	test_rng_seed(&g_rng, 0x7133);
	test_idle_has_no_deadline();
	test_jitter_bounds();
	test_sent_cancels_keepalive();
	test_received_cancels_new_handshake();
	test_data_sent_arms_new_handshake_once();
	test_data_received_keepalive();
	test_need_another_keepalive();
	test_initiated_arms_retransmit();
	test_retransmit_gives_up_after_18_retries();
	test_give_up_keeps_pending_zero_timer();
	test_non_retry_resets_attempts();
	test_handshake_complete();
	test_session_derived_zero_keys();
	test_persistent_keepalive();
	test_initiation_rate_limit();
	test_retransmit_soon();
	test_clock_near_max();
	test_several_due_at_once();
	test_stop();
	return test_finish("timers");
}
