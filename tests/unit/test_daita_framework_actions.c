/* Maybenot framework runtime, events, actions and the state machine itself: event batches,
 * padding, blocking, timers, signals, STATE_END, cancel, the output list.
 * The crate's deterministic framework tests re-expressed as our own (machines with
 * probability-1 transitions and constant distributions, synthetic time) plus edge cases;
 * the machine builders and the framework driver are in tests/support/daita_fw.h. */
#include "test.h"

#include "daita_fw.h"

#include <stdlib.h>

/* Two states swapping on PaddingSent / PaddingRecv; later events in a batch overwrite
 * earlier actions. */
static void test_trigger_events_actions(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_trigger_event b2[2], b3[3];
	wg_time_ns now = T0;
	int i;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_pad(&tm, 0, 10, false, false);
	tm_trans(&tm, 1, DAITA_EV_PADDING_RECV, 0, 1.0f);
	tm_pad(&tm, 1, 1, false, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);
	CHECK_EQ_INT(daita_framework_num_machines(fw), 1);

	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	NONE(fw, 0);
	CHECK_EQ_INT(fw_nout, 0);
	now += US(20);
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_INT(fw_nout, 1);
	now += US(20);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_PADDING_RECV, 0, now);
	PAD(fw, 0, 10, false, false);

	b2[0] = fw_ev(DAITA_TRIG_PADDING_SENT, 0);
	b2[1] = fw_ev(DAITA_TRIG_PADDING_RECV, 0);
	for (i = 0; i < 10; i++) {
		fw_trig_n(fw, b2, 2, now);
		PAD(fw, 0, 10, false, false);
		CHECK_EQ_INT(fw_nout, 1);
	}
	for (i = 0; i < 10; i++) {
		if (i % 2 == 0) {
			b3[0] = fw_ev(DAITA_TRIG_PADDING_RECV, 0);
			b3[1] = fw_ev(DAITA_TRIG_PADDING_SENT, 0);
			b3[2] = fw_ev(DAITA_TRIG_PADDING_RECV, 0);
			fw_trig_n(fw, b3, 3, now);
			PAD(fw, 0, 10, false, false);
		} else {
			b3[0] = fw_ev(DAITA_TRIG_PADDING_SENT, 0);
			b3[1] = fw_ev(DAITA_TRIG_PADDING_RECV, 0);
			b3[2] = fw_ev(DAITA_TRIG_PADDING_SENT, 0);
			fw_trig_n(fw, b3, 3, now);
			PAD(fw, 0, 1, false, false);
		}
	}
	daita_framework_free(fw);
}

static void test_blocking_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;
	int i;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 1);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_block(&tm, 0, 1, 10, false, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	BLOCK(fw, 0, 1, 10, false, false);
	now += US(20);
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	NONE(fw, 0);
	for (i = 0; i < 10; i++) {
		now += US(1);
		fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
		BLOCK(fw, 0, 1, 10, false, false);
	}
	daita_framework_free(fw);
}

static void test_timer_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_pad(&tm, 0, 1, false, false);
	tm_trans(&tm, 1, DAITA_EV_TIMER_END, 0, 1.0f);
	tm_timer(&tm, 1, 1000, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	TIMER(fw, 0, 1000, false);
	now += US(20);
	fw_trig(fw, DAITA_TRIG_TIMER_END, 0, now);
	PAD(fw, 0, 1, false, false);
	daita_framework_free(fw);
}

static void signal_machines(struct tmachine *m0, struct tmachine *m1, bool m1_responds)
{
	tm_init(m0, 1000, 1.0, 0, 0.0, 2);
	tm_trans(m0, 0, DAITA_EV_NORMAL_SENT, DAITA_STATE_SIGNAL, 1.0f);
	tm_trans(m0, 0, DAITA_EV_SIGNAL, 1, 1.0f);
	tm_pad(m0, 1, 2, false, false);
	tm_init(m1, 1000, 1.0, 0, 0.0, 2);
	tm_trans(m1, 0, DAITA_EV_SIGNAL, m1_responds ? DAITA_STATE_SIGNAL : 1, 1.0f);
	tm_pad(m1, 1, 2, false, false);
}

static void test_signals(void)
{
	struct tmachine m[2], both[2];
	struct daita_machine ms[2];
	struct daita_framework *fw;

	/* one sender: the other machine gets Signal, the sender does not */
	signal_machines(&m[0], &m[1], false);
	ms[0] = m[0].m;
	ms[1] = m[1].m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	PAD(fw, 1, 2, false, false);
	CHECK_EQ_INT(fw_nout, 1);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 0);
	daita_framework_free(fw);

	/* two senders in one call: everybody gets it */
	signal_machines(&both[0], &both[1], false);
	ms[0] = both[0].m;
	ms[1] = both[0].m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	PAD(fw, 0, 2, false, false);
	PAD(fw, 1, 2, false, false);
	CHECK_EQ_INT(fw_nout, 2);
	daita_framework_free(fw);

	/* response: machine 1 answers the signal with a signal; the excluded sender gets one */
	signal_machines(&m[0], &m[1], true);
	ms[0] = m[0].m;
	ms[1] = m[1].m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	PAD(fw, 0, 2, false, false);
	NONE(fw, 1);
	daita_framework_free(fw);
}

static void test_signal_round_bounded(void)
{
	/* m0 signals; m0 and m1 answer every Signal with a Signal; m2 toggles 0 <-> 1 on Signal
	 * (padding on entering 1). One round per call: the sender gets the answer once, and the
	 * signal it raises in reply is not delivered in the same call but carried into the next
	 * call's round (the crate keeps it pending), so the ping-pong advances one round per
	 * call and never loops. */
	struct tmachine t0, t1, t2;
	struct daita_machine ms[3];
	struct daita_framework *fw;
	int call;

	tm_init(&t0, 0, 0.0, 0, 0.0, 1);
	tm_trans(&t0, 0, DAITA_EV_NORMAL_RECV, DAITA_STATE_SIGNAL, 1.0f);
	tm_trans(&t0, 0, DAITA_EV_SIGNAL, DAITA_STATE_SIGNAL, 1.0f);
	tm_init(&t1, 0, 0.0, 0, 0.0, 1);
	tm_trans(&t1, 0, DAITA_EV_SIGNAL, DAITA_STATE_SIGNAL, 1.0f);
	tm_init(&t2, 0, 0.0, 0, 0.0, 2);
	tm_trans(&t2, 0, DAITA_EV_SIGNAL, 1, 1.0f);
	tm_pad(&t2, 1, 2, false, false);
	tm_trans(&t2, 1, DAITA_EV_SIGNAL, 0, 1.0f);
	ms[0] = t0.m;
	ms[1] = t1.m;
	ms[2] = t2.m;
	fw = fw_new(ms, 3, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_INT(fw_nout, 1);
	PAD(fw, 2, 2, false, false);
	CHECK_EQ_U64(fw_info(fw, 2).current_state, 1);
	/* the carried signal: one round per call, even with no events */
	for (call = 0; call < 4; call++) {
		fw_trig_n(fw, NULL, 0, T0);
		CHECK_EQ_U64(fw_info(fw, 2).current_state, call % 2 == 0 ? 0 : 1);
		if (call % 2 == 0) {
			CHECK_EQ_INT(fw_nout, 0);
		} else {
			CHECK_EQ_INT(fw_nout, 1);
			PAD(fw, 2, 2, false, false);
		}
	}
	daita_framework_free(fw);

	/* The answer is only carried when the sender itself re-signals: if only m1 answers,
	 * the sender's extra Signal ends the exchange within the call. */
	tm_init(&t0, 0, 0.0, 0, 0.0, 2);
	tm_trans(&t0, 0, DAITA_EV_NORMAL_RECV, DAITA_STATE_SIGNAL, 1.0f);
	tm_trans(&t0, 0, DAITA_EV_SIGNAL, 1, 1.0f);
	tm_timer(&t0, 1, 7, false);
	ms[0] = t0.m;
	fw = fw_new(ms, 3, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_INT(fw_nout, 2);
	TIMER(fw, 0, 7, false);
	PAD(fw, 2, 2, false, false);
	fw_trig_n(fw, NULL, 0, T0);
	CHECK_EQ_INT(fw_nout, 0);
	CHECK_EQ_U64(fw_info(fw, 2).current_state, 1);
	daita_framework_free(fw);

	/* Two senders (All): answers raised in that round are dropped, nothing is carried. */
	tm_init(&t0, 0, 0.0, 0, 0.0, 1);
	tm_trans(&t0, 0, DAITA_EV_NORMAL_RECV, DAITA_STATE_SIGNAL, 1.0f);
	tm_trans(&t0, 0, DAITA_EV_SIGNAL, DAITA_STATE_SIGNAL, 1.0f);
	ms[0] = ms[1] = t0.m;
	fw = fw_new(ms, 3, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 2, 2, false, false);
	fw_trig_n(fw, NULL, 0, T0);
	CHECK_EQ_INT(fw_nout, 0);
	CHECK_EQ_U64(fw_info(fw, 2).current_state, 1);
	daita_framework_free(fw);
}

/* STATE_END: the machine stops; an action chosen earlier in the batch stays. */
static void test_state_end(void)
{
	struct tmachine tm, other;
	struct daita_machine ms[2];
	struct daita_framework *fw;
	struct daita_trigger_event b[2];
	struct const_rng cr = { 0, 0 };

	tm_init(&tm, 0, 0.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	tm_pad(&tm, 1, 3, false, false);
	tm_trans(&tm, 1, DAITA_EV_NORMAL_RECV, DAITA_STATE_END, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_PADDING_SENT, DAITA_STATE_END, 1.0f);
	tm_init(&other, 0, 0.0, 0, 0.0, 1);
	tm_trans(&other, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_pad(&other, 0, 4, false, false);
	ms[0] = tm.m;
	ms[1] = other.m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	b[0] = fw_ev(DAITA_TRIG_NORMAL_SENT, 0);
	b[1] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	fw_trig_n(fw, b, 2, T0);
	PAD(fw, 0, 3, false, false);
	PAD(fw, 1, 4, false, false);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, DAITA_STATE_END);
	CHECK(!daita_framework_all_machines_ended(fw));
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).padding_sent, 1); /* still counted */
	daita_framework_free(fw);

	/* END reached via PaddingSent is a change: no limit charge; an ended machine draws
	 * no randomness */
	{
		daita_rng r = { fw_const_next, &cr };
		struct daita_action *a;

		a = &tm.s[1].action;
		tm_limit(a, 1);
		tm.s[1].trans[DAITA_EV_NORMAL_RECV].present = false;
		CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0.0, 0.0, T0, r, NULL), 0);
		fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		PAD(fw, 0, 3, false, false);
		fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
		NONE(fw, 0);
		CHECK_EQ_U64(fw_info(fw, 0).state_limit, 1);
		CHECK(daita_framework_all_machines_ended(fw));
		cr.draws = 0;
		fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
		CHECK_EQ_U64(cr.draws, 0);
		daita_framework_free(fw);
	}
}

/* Cancel is always allowed (no budget applies) and carries its timer. */
static void test_cancel_variants(void)
{
	static const enum daita_timer timers[] = { DAITA_TIMER_ACTION, DAITA_TIMER_INTERNAL,
						   DAITA_TIMER_ALL };
	struct tmachine tm;
	struct daita_framework *fw;
	size_t i;

	for (i = 0; i < 3; i++) {
		tm_init(&tm, 0, 0.5, 0, 0.5, 2);
		tm_trans(&tm, 0, DAITA_EV_TUNNEL_SENT, 1, 1.0f);
		tm_trans(&tm, 1, DAITA_EV_TUNNEL_RECV, 1, 1.0f);
		tm_action(&tm, 1, DAITA_ACTION_CANCEL)->timer = timers[i];
		fw = fw_new(&tm.m, 1, 0.1, 0.1, T0);
		fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0); /* 100% padding: over every fraction */
		fw_trig(fw, DAITA_TRIG_TUNNEL_SENT, 0, T0);
		CANCEL(fw, 0, timers[i]);
		fw_trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0); /* self-transition: again */
		CANCEL(fw, 0, timers[i]);
		daita_framework_free(fw);
	}
}

/* Output capacity: actions are returned in machine order, the rest dropped from the list
 * (but still readable). Machine ids are stamped on every action. */
static void test_output_cap(void)
{
	struct tmachine tm;
	struct daita_machine ms[3];
	struct daita_framework *fw;
	struct daita_trigger_action out[3];
	struct daita_trigger_event e = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	size_t n;

	tm_init(&tm, 0, 0.0, 0, 0.0, 1);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_timer(&tm, 0, 11, true);
	ms[0] = ms[1] = ms[2] = tm.m;
	fw = fw_new(ms, 3, 0, 0, T0);
	n = daita_framework_trigger_events(fw, &e, 1, T0, out, 2);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(out[0].machine, 0);
	CHECK_EQ_INT(out[1].machine, 1);
	CHECK(daita_framework_action(fw, 2) != NULL);
	n = daita_framework_trigger_events(fw, &e, 1, T0, out, 3);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(out[2].machine, 2);
	CHECK_EQ_U64(out[2].duration_us, 11);
	CHECK_EQ_U64(out[2].at, T0 + US(11)); /* the timer's expiry */
	CHECK(out[2].replace);
	/* the deadline saturates instead of wrapping */
	n = daita_framework_trigger_events(fw, &e, 1, UINT64_MAX - 5, out, 3);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_U64(out[0].at, UINT64_MAX);
	n = daita_framework_trigger_events(fw, &e, 1, T0, NULL, 0);
	CHECK_EQ_INT(n, 0);
	n = daita_framework_trigger_events(fw, NULL, 5, T0, out, 3); /* no events: no actions */
	CHECK_EQ_INT(n, 0);
	{
		struct daita_trigger_event junk = { (enum daita_trigger_kind)77, 0 };
		n = daita_framework_trigger_events(fw, &junk, 1, T0, out, 3);
		CHECK_EQ_INT(n, 0);
	}
	{
		struct daita_machine_info mi;
		CHECK(daita_framework_machine_info(fw, 3, &mi) == -1);
	}
	daita_framework_free(fw);
}

int main(void)
{
	test_trigger_events_actions();
	test_blocking_machine();
	test_timer_machine();
	test_signals();
	test_signal_round_bounded();
	test_state_end();
	test_cancel_variants();
	test_output_cap();
	return test_finish("daita_framework_actions");
}
