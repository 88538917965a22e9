/* Maybenot framework runtime, counters A/B: operations, under- and overflow, copies, CounterZero
 * in batches and by set.
 * The crate's deterministic framework tests re-expressed as our own (machines with
 * probability-1 transitions and constant distributions, synthetic time) plus edge cases;
 * the machine builders and the framework driver are in tests/support/daita_fw.h. */
#include "test.h"

#include "daita_fw.h"

#include <stdlib.h>

/* Triggers kind for machine 0 at now: no action, and counters A and B are then a and b (a
 * macro, so a failure names the caller's line). */
#define TRIG_COUNTERS(fw, kind, now, a, b)                                                  \
	do {                                                                                \
		fw_trig(fw, kind, 0, now);                                                     \
		NONE(fw, 0);                                                                \
		CHECK_EQ_U64(fw_info(fw, 0).counter_a, a);                                     \
		CHECK_EQ_U64(fw_info(fw, 0).counter_b, b);                                     \
	} while (0)

static void test_counter_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_DECREMENT, -1, false);
	tm_trans(&tm, 1, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_counter(&tm, 1, 0, DAITA_OP_INCREMENT, -1, false);
	tm_trans(&tm, 2, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 2, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_pad(&tm, 2, 2, false, false);
	tm_counter(&tm, 2, 1, DAITA_OP_INCREMENT, 4, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 1);
	now += US(20);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	PAD(fw, 0, 2, false, false);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 4);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 2);
	daita_framework_free(fw);
}

/* Decrementing or setting an already-zero counter saturates and fires no CounterZero. */
static void test_counter_underflow_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	uint32_t s;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 3);
	for (s = 0; s < 3; s++) {
		tm_trans(&tm, s, DAITA_EV_NORMAL_SENT, 0, 1.0f);
		tm_trans(&tm, s, DAITA_EV_NORMAL_RECV, 1, 1.0f);
		if (s < 2)
			tm_trans(&tm, s, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	}
	tm_counter(&tm, 0, 1, DAITA_OP_DECREMENT, 10, false);
	tm_counter(&tm, 1, 1, DAITA_OP_SET, 0, false);
	tm_pad(&tm, 2, 2, false, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);

	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 1);
	daita_framework_free(fw);
}

static void test_counter_overflow_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 1, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_INCREMENT, 1000, false);
	tm_trans(&tm, 1, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_NORMAL_RECV, 1, 1.0f);
	tm_counter(&tm, 1, 0, DAITA_OP_SET, (double)UINT64_MAX, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);

	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, UINT64_MAX);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, UINT64_MAX);
	daita_framework_free(fw);
}

/* Both counters reach zero in one update: a single CounterZero transition. */
static void test_counter_convergence_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_SET, 44, false);
	tm_counter(&tm, 0, 1, DAITA_OP_SET, 28, false);
	tm_trans(&tm, 1, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_counter(&tm, 1, 0, DAITA_OP_DECREMENT, 32, false);
	tm_counter(&tm, 1, 1, DAITA_OP_DECREMENT, 15, false);
	tm_trans(&tm, 2, DAITA_EV_COUNTER_ZERO, 0, 1.0f);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	TRIG_COUNTERS(fw, DAITA_TRIG_NORMAL_SENT, now, 44, 28);
	now += US(20);
	TRIG_COUNTERS(fw, DAITA_TRIG_PADDING_SENT, now, 12, 13);
	now += US(20);
	TRIG_COUNTERS(fw, DAITA_TRIG_NORMAL_SENT, now, 0, 0);
	/* one CounterZero: 1 -> 2, and state 2's own CounterZero list is not taken */
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 2);
	daita_framework_free(fw);
}

static void test_counter_divergence_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_SET, 50, false);
	tm_counter(&tm, 0, 1, DAITA_OP_SET, 50, false);
	tm_trans(&tm, 1, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_counter(&tm, 1, 1, DAITA_OP_DECREMENT, 50, false);
	tm_counter(&tm, 2, 0, DAITA_OP_INCREMENT, 25, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	TRIG_COUNTERS(fw, DAITA_TRIG_NORMAL_SENT, now, 50, 50);
	now += US(20);
	TRIG_COUNTERS(fw, DAITA_TRIG_PADDING_SENT, now, 75, 0);
	daita_framework_free(fw);
}

/* CounterZero chains run in order, and the latest action of the chain is the one kept. */
static void test_counter_chain_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;

	tm_init(&tm, 0, 0.0, 0, 0.0, 4);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_SET, -1, false);
	tm_counter(&tm, 0, 1, DAITA_OP_SET, -1, false);
	tm_trans(&tm, 1, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_pad(&tm, 1, 2, false, false);
	tm_counter(&tm, 1, 0, DAITA_OP_DECREMENT, -1, false);
	tm_trans(&tm, 2, DAITA_EV_COUNTER_ZERO, 3, 1.0f);
	tm_pad(&tm, 2, 67, true, false);
	tm_counter(&tm, 2, 1, DAITA_OP_DECREMENT, -1, false);
	tm_counter(&tm, 3, 0, DAITA_OP_SET, 13, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	TRIG_COUNTERS(fw, DAITA_TRIG_NORMAL_SENT, now, 1, 1);
	now += US(20);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	PAD(fw, 0, 67, true, false);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 13);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 3);
	daita_framework_free(fw);
}

/* copy uses the other counter's value from before this state's update. */
static void test_counter_copy_machine(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_SET, 4, false);
	tm_counter(&tm, 0, 1, DAITA_OP_SET, 13, false);
	tm_trans(&tm, 1, DAITA_EV_PADDING_SENT, 2, 1.0f);
	tm_counter(&tm, 1, 0, DAITA_OP_SET, -1, true);       /* A = old B = 13 */
	tm_counter(&tm, 1, 1, DAITA_OP_DECREMENT, -1, true); /* B = 13 - old A (4) = 9 */
	tm_counter(&tm, 2, 0, DAITA_OP_INCREMENT, -1, true); /* A = 13 + 9 = 22 */
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	TRIG_COUNTERS(fw, DAITA_TRIG_NORMAL_SENT, now, 4, 13);
	now += US(20);
	TRIG_COUNTERS(fw, DAITA_TRIG_PADDING_SENT, now, 13, 9);
	now += US(20);
	TRIG_COUNTERS(fw, DAITA_TRIG_PADDING_SENT, now, 22, 9);
	daita_framework_free(fw);
}

/* Two CounterZero events leave state 1 and come back: that counts as a state change, so the
 * PaddingSent does not charge the (refreshed) limit. */
static void test_counter_triggered_no_early_limit_decrement(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_action *a;

	tm_init(&tm, 1000, 1.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_SET, 2, false);
	tm_counter(&tm, 0, 1, DAITA_OP_SET, -1, false);
	tm_trans(&tm, 1, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_counter(&tm, 1, 0, DAITA_OP_DECREMENT, -1, false);
	a = tm_pad(&tm, 1, 1, false, false);
	tm_limit(a, 2);
	tm_trans(&tm, 2, DAITA_EV_COUNTER_ZERO, 1, 1.0f);
	tm_counter(&tm, 2, 1, DAITA_OP_DECREMENT, -1, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);

	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 2);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 1);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 1);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 1);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 2);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 2);
	daita_framework_free(fw);
}

/* Two states that zero each other's counter would loop forever; each counter may zero once
 * per call, so the chain stops and the batch goes on. */
static void test_infinite_loop_counter(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_trigger_event b[2];

	tm_init(&tm, 1000, 1.0, 0, 0.0, 5);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_NORMAL_SENT, 2, 1.0f);
	tm_counter(&tm, 1, 0, DAITA_OP_SET, -1, false);
	tm_trans(&tm, 2, DAITA_EV_COUNTER_ZERO, 3, 1.0f);
	tm_trans(&tm, 2, DAITA_EV_NORMAL_RECV, 4, 1.0f);
	tm_counter(&tm, 2, 0, DAITA_OP_DECREMENT, -1, false);
	tm_counter(&tm, 2, 1, DAITA_OP_SET, -1, false);
	tm_trans(&tm, 3, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_counter(&tm, 3, 0, DAITA_OP_SET, -1, false);
	tm_counter(&tm, 3, 1, DAITA_OP_DECREMENT, -1, false);
	tm_pad(&tm, 4, 1, false, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);

	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 1);
	b[0] = fw_ev(DAITA_TRIG_NORMAL_SENT, 0);
	b[1] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	fw_trig_n(fw, b, 2, T0);
	CHECK_EQ_INT(fw_nout, 1);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 4);
	daita_framework_free(fw);
}

/* In a batch, an action chosen by an earlier event wins over the action of a state whose
 * counter zeroed (the crate schedules it only if the machine's action slot is still empty),
 * and each counter fires CounterZero at most once per call, across all events of the batch. */
static void test_counter_zero_in_batch(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_trigger_event b[3];

	tm_init(&tm, 0, 0.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 1, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_TUNNEL_RECV, 2, 1.0f);
	tm_pad(&tm, 1, 5, false, false);
	tm_counter(&tm, 1, 0, DAITA_OP_SET, 1, false);
	tm_pad(&tm, 2, 9, false, false);
	tm_counter(&tm, 2, 0, DAITA_OP_DECREMENT, 1, false);
	/* state 2 has no CounterZero list: the CounterZero transition itself changes nothing */
	b[0] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	b[1] = fw_ev(DAITA_TRIG_TUNNEL_RECV, 0);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig_n(fw, b, 2, T0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 2);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 0);
	PAD(fw, 0, 5, false, false); /* not 9: the earlier event's action is kept */
	daita_framework_free(fw);
	/* the same two events in separate calls: state 2's own action */
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 5, false, false);
	fw_trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0);
	PAD(fw, 0, 9, false, false);
	daita_framework_free(fw);
	/* without a counter zeroing, the later event overwrites as usual */
	tm.s[2].has_counter[0] = false;
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig_n(fw, b, 2, T0);
	PAD(fw, 0, 9, false, false);
	daita_framework_free(fw);

	/* once per call: 0 --NormalRecv--> 1 (A 1 -> 0: CounterZero -> 2, A = 1) --NormalRecv-->
	 * 1 (A 1 -> 0 again, but A already zeroed in this call: no CounterZero, stays in 1) */
	tm_init(&tm, 0, 0.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_counter(&tm, 0, 0, DAITA_OP_SET, 1, false);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 1, 1.0f);
	tm_counter(&tm, 1, 0, DAITA_OP_DECREMENT, 1, false);
	tm_trans(&tm, 1, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_counter(&tm, 2, 0, DAITA_OP_SET, 1, false);
	tm_trans(&tm, 2, DAITA_EV_NORMAL_RECV, 1, 1.0f);
	b[0] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	b[1] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	b[2] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0); /* state 1 has no NormalRecv list */
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 1);
	fw_trig_n(fw, b, 3, T0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 1);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 0);
	daita_framework_free(fw);
	/* the flag is reset per call: the second zeroing in its own call fires again */
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 2);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 1);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 2);
	CHECK_EQ_U64(fw_info(fw, 0).counter_a, 1);
	daita_framework_free(fw);
}

/* Set 0 on a non-zero counter fires CounterZero, like a decrement to 0. */
static void test_counter_zero_by_set(void)
{
	struct tmachine tm;
	struct daita_framework *fw;

	tm_init(&tm, 0, 0.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	tm_counter(&tm, 0, 1, DAITA_OP_SET, 5, false);
	tm_counter(&tm, 1, 1, DAITA_OP_SET, 0, false);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_COUNTER_ZERO, 2, 1.0f);
	tm_timer(&tm, 2, 9, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 5);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	TIMER(fw, 0, 9, false);
	CHECK_EQ_U64(fw_info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 2);
	daita_framework_free(fw);
}

int main(void)
{
	test_counter_machine();
	test_counter_underflow_machine();
	test_counter_overflow_machine();
	test_counter_convergence_machine();
	test_counter_divergence_machine();
	test_counter_chain_machine();
	test_counter_copy_machine();
	test_counter_triggered_no_early_limit_decrement();
	test_infinite_loop_counter();
	test_counter_zero_in_batch();
	test_counter_zero_by_set();
	return test_finish("daita_framework_counters");
}
