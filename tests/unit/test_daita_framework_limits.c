/* Maybenot framework runtime, budgets and limits: padding and blocking fractions (machine and
 * framework), replace, state limits, LimitReached, construction errors.
 * The crate's deterministic framework tests re-expressed as our own (machines with
 * probability-1 transitions and constant distributions, synthetic time) plus edge cases;
 * the machine builders and the framework driver are in tests/support/daita_fw.h. */
#include "test.h"

#include "daita_fw.h"

#include <math.h>
#include <stdlib.h>

/* allowed_padding_packets first, then the machine's padding fraction. */
static void test_machine_max_padding_frac(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	int i;

	tm_init(&tm, 100, 0.5, 0, 0.0, 1);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 0, 1.0f);
	tm_pad(&tm, 0, 2, false, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);

	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	for (i = 0; i < 100; i++) {
		PAD(fw, 0, 2, false, false);
		fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	}
	NONE(fw, 0); /* 100 padding, 0 normal: 1.0 >= 0.5 */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	for (i = 0; i < 100; i++) {
		fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		NONE(fw, 0); /* up to 100/200 = 0.5: still >= */
	}
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 100/201 < 0.5 */
	PAD(fw, 0, 2, false, false);
	CHECK_EQ_U64(fw_info(fw, 0).padding_sent, 100);
	CHECK_EQ_U64(fw_info(fw, 0).normal_sent, 101);
	daita_framework_free(fw);
}

static void test_framework_max_padding_frac(void)
{
	struct tmachine tm;
	struct daita_machine ms[2];
	struct daita_framework *fw;
	struct daita_trigger_event b[4];
	int i;

	tm_init(&tm, 100, 0.0, 0, 0.0, 1);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_PADDING_SENT, 0, 1.0f);
	tm_pad(&tm, 0, 2, false, false);
	ms[0] = ms[1] = tm.m;
	fw = fw_new(ms, 2, 0.5, 0.0, T0);

	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	b[0] = fw_ev(DAITA_TRIG_PADDING_SENT, 0);
	b[1] = fw_ev(DAITA_TRIG_PADDING_SENT, 1);
	b[2] = fw_ev(DAITA_TRIG_TUNNEL_SENT, 0);
	b[3] = fw_ev(DAITA_TRIG_TUNNEL_SENT, 0);
	for (i = 0; i < 100; i++) {
		PAD(fw, 0, 2, false, false);
		PAD(fw, 1, 2, false, false);
		fw_trig_n(fw, b, 4, T0);
	}
	NONE(fw, 0);
	NONE(fw, 1);
	b[0] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	b[1] = fw_ev(DAITA_TRIG_NORMAL_RECV, 0);
	fw_trig_n(fw, b, 2, T0);
	NONE(fw, 0);
	NONE(fw, 1);
	CHECK_EQ_U64(fw_info(fw, 0).padding_sent, 100);
	CHECK_EQ_U64(fw_info(fw, 1).padding_sent, 100);
	for (i = 0; i < 200; i++) {
		fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		NONE(fw, 0);
		NONE(fw, 1);
	}
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 200/401 < 0.5 */
	PAD(fw, 0, 2, false, false);
	PAD(fw, 1, 2, false, false);
	daita_framework_free(fw);
}

/* Shared by the machine- and framework-fraction variants: 10 µs allowed, then 0.5. */
static void run_max_blocking_frac(double machine_frac, double fw_frac)
{
	struct tmachine tm;
	struct daita_framework *fw;
	wg_time_ns now = T0;
	int i;

	tm_init(&tm, 0, 0.0, 10, machine_frac, 1);
	tm_trans(&tm, 0, DAITA_EV_BLOCKING_BEGIN, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_BLOCKING_END, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_block(&tm, 0, 2, 2, false, false);
	fw = fw_new(&tm.m, 1, 0.0, fw_frac, now);

	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
	for (i = 0; i < 5; i++) {
		BLOCK(fw, 0, 2, 2, false, false);
		fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
		BLOCK(fw, 0, 2, 2, false, false);
		now += US(2);
		fw_trig(fw, DAITA_TRIG_BLOCKING_END, 0, now);
	}
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).blocking_duration_ns, US(10));
	for (i = 0; i < 5; i++) {
		now += US(2);
		fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
		NONE(fw, 0); /* 10/12 .. 10/20 >= 0.5 */
	}
	CHECK_EQ_U64(fw_info(fw, 0).blocking_duration_ns, US(10));
	CHECK_EQ_U64(now - fw_info(fw, 0).machine_start, US(20));
	now += US(2);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now); /* 10/22 < 0.5 */
	BLOCK(fw, 0, 2, 2, false, false);
	daita_framework_free(fw);
}

static void test_max_blocking_frac(void)
{
	run_max_blocking_frac(0.5, 0.0);
	run_max_blocking_frac(0.0, 0.5);
}

/* A machine over its blocking budget may still replace blocking that is active. */
static void test_framework_replace_blocking(void)
{
	struct tmachine t0, t1;
	struct daita_machine ms[2];
	struct daita_framework *fw;
	wg_time_ns now = T0;

	tm_init(&t0, 0, 0.0, 2, 0.5, 1);
	tm_trans(&t0, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_block(&t0, 0, 2, 2, false, true);
	tm_init(&t1, 0, 0.0, 0, 0.0, 1);
	tm_trans(&t1, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	tm_block(&t1, 0, 0, 1000, false, false);
	ms[0] = t0.m;
	ms[1] = t1.m;
	fw = fw_new(ms, 2, 0.0, 0.0, now);

	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
	BLOCK(fw, 0, 2, 2, false, true);
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	now += US(2);
	fw_trig(fw, DAITA_TRIG_BLOCKING_END, 0, now);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
	NONE(fw, 0); /* 2 µs of 2 µs elapsed >= 0.5 */
	CHECK_EQ_U64(fw_info(fw, 0).blocking_duration_ns, US(2));
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	BLOCK(fw, 1, 0, 1000, false, false);
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 1, now);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
	BLOCK(fw, 0, 2, 2, false, true);
	daita_framework_free(fw);
}

/* A sampled state limit of 4: four paddings, then none. */
static void test_framework_machine_sampled_limit(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_action *a;
	wg_time_ns now = T0;
	int i;

	tm_init(&tm, 100000, 0.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_PADDING_SENT, 1, 1.0f);
	a = tm_pad(&tm, 1, 1, false, false);
	tm_limit(a, 4);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, now);

	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 4);
	for (i = 0; i < 4; i++) {
		PAD(fw, 0, 1, false, false);
		now += US(1);
		fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	}
	CHECK_EQ_U64(fw_info(fw, 0).padding_sent, 4);
	CHECK_EQ_U64(fw_info(fw, 0).normal_sent, 1);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 0);
	daita_framework_free(fw);
}

static void test_new_errors(void)
{
	struct tmachine tm;
	struct daita_machine ms[DAITA_FRAMEWORK_MAX_MACHINES + 1];
	struct daita_framework *fw = (struct daita_framework *)&tm; /* must be reset */
	daita_rng r = { fw_xoshiro_next, &fw_rng_state }, bad_rng = { NULL, NULL };
	char err[DAITA_ERR_LEN];
	struct daita_trigger_event e = fw_ev(DAITA_TRIG_NORMAL_SENT, 0);
	size_t i;

	tm_init(&tm, 0, 0.0, 0, 0.0, 1);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, -0.01, 0.0, T0, r, err),
		     DAITA_FW_EPADDING_LIMIT);
	CHECK(fw == NULL);
	CHECK(strlen(err) > 0);
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 1.01, 0.0, T0, r, err),
		     DAITA_FW_EPADDING_LIMIT);
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, NAN, 0.0, T0, r, err),
		     DAITA_FW_EPADDING_LIMIT);
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0.0, 1.5, T0, r, err),
		     DAITA_FW_EBLOCKING_LIMIT);
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0.0, NAN, T0, r, err),
		     DAITA_FW_EBLOCKING_LIMIT);
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0.0, 0.0, T0, bad_rng, err),
		     DAITA_FW_EINVAL);
	CHECK_EQ_INT(daita_framework_new(NULL, &tm.m, 1, 0.0, 0.0, T0, r, err), DAITA_FW_EINVAL);
	CHECK_EQ_INT(daita_framework_new(&fw, NULL, 1, 0.0, 0.0, T0, r, NULL), DAITA_FW_EINVAL);
	/* boundaries are fine */
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 1.0, 1.0, T0, r, err), 0);
	daita_framework_free(fw);
	/* an invalid machine: probability out of range */
	tm.t[0].probability = 1.5f;
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0.0, 0.0, T0, r, err), DAITA_FW_EMACHINE);
	CHECK(strstr(err, "machine 0") != NULL);
	tm.t[0].probability = 1.0f;
	tm.m.num_states = 0;
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0.0, 0.0, T0, r, err), DAITA_FW_EMACHINE);
	tm.m.num_states = 1;
	/* the machine bound */
	for (i = 0; i <= DAITA_FRAMEWORK_MAX_MACHINES; i++)
		ms[i] = tm.m;
	CHECK_EQ_INT(daita_framework_new(&fw, ms, DAITA_FRAMEWORK_MAX_MACHINES + 1, 0.0, 0.0, T0,
					 r, err),
		     DAITA_FW_ETOO_MANY);
	CHECK_EQ_INT(daita_framework_new(&fw, ms, DAITA_FRAMEWORK_MAX_MACHINES, 0.0, 0.0, T0, r,
					 err),
		     0);
	daita_framework_free(fw);
	/* zero machines: valid, no actions, "all ended" */
	CHECK_EQ_INT(daita_framework_new(&fw, NULL, 0, 0.0, 0.0, T0, r, err), 0);
	fw_trig_n(fw, &e, 1, T0);
	CHECK_EQ_INT(fw_nout, 0);
	CHECK(daita_framework_all_machines_ended(fw));
	CHECK(daita_framework_action(fw, 0) == NULL);
	daita_framework_free(fw);
	daita_framework_free(NULL);
}

/* LimitReached fires when the limit hits 0 and replaces the state's own action. */
static void test_limit_reached(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_action *a;

	tm_init(&tm, 1000, 0.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	/* no PaddingSent list at all: the padding still counts against the limit */
	a = tm_pad(&tm, 1, 7, true, true);
	tm_limit(a, 2);
	tm_trans(&tm, 1, DAITA_EV_LIMIT_REACHED, 2, 1.0f);
	tm_action(&tm, 2, DAITA_ACTION_CANCEL)->timer = DAITA_TIMER_ALL;
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);

	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	PAD(fw, 0, 7, true, true);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0); /* unchanged state: no new action, limit 2 -> 1 */
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 1);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	CANCEL(fw, 0, DAITA_TIMER_ALL);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 2);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, DAITA_STATE_LIMIT_MAX); /* Cancel: no limit */
	daita_framework_free(fw);

	/* limit reached without a LimitReached list: the action is dropped, nothing else */
	tm.s[1].trans[DAITA_EV_LIMIT_REACHED].present = false;
	tm_trans(&tm, 1, DAITA_EV_PADDING_SENT, 1, 1.0f);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	PAD(fw, 0, 7, true, true); /* self-transition reschedules; limit 2 -> 1 */
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0); /* limit 0: the rescheduled action is cleared */
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 1);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0); /* state_limit 0 blocks scheduling from now on */
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 0);
	daita_framework_free(fw);
}

/* UpdateTimer limit is charged by TimerBegin; BlockOutgoing limit by the blocker's
 * BlockingBegin only. Padding without a limit dist never reaches LimitReached. */
static void test_timer_and_blocking_limits(void)
{
	struct tmachine tm, tb;
	struct daita_machine ms[2];
	struct daita_framework *fw;
	struct daita_action *a;

	tm_init(&tm, 0, 0.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_LIMIT_REACHED, 1, 1.0f);
	a = tm_timer(&tm, 0, 250, true);
	tm_limit(a, 1);
	tm_action(&tm, 1, DAITA_ACTION_CANCEL)->timer = DAITA_TIMER_INTERNAL;
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 1); /* state 0's limit is sampled at start */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 250, true);
	fw_trig(fw, DAITA_TRIG_TIMER_BEGIN, 0, T0);
	CANCEL(fw, 0, DAITA_TIMER_INTERNAL);
	fw_trig(fw, DAITA_TRIG_TIMER_BEGIN, 5, T0); /* out of range: ignored */
	fw_trig(fw, DAITA_TRIG_TIMER_END, 5, T0);
	CHECK_EQ_INT(fw_nout, 0);
	daita_framework_free(fw);

	/* two blockers: BlockingBegin{1} charges only machine 1 */
	tm_init(&tb, 0, 0.0, UINT64_MAX, 0.0, 2);
	tm_trans(&tb, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_trans(&tb, 0, DAITA_EV_LIMIT_REACHED, 1, 1.0f);
	a = tm_block(&tb, 0, 3, 4, true, false);
	tm_limit(a, 1);
	ms[0] = ms[1] = tb.m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	BLOCK(fw, 0, 3, 4, true, false);
	BLOCK(fw, 1, 3, 4, true, false);
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 1, T0 + US(3));
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 1);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 0);
	CHECK_EQ_U64(fw_info(fw, 1).current_state, 1);
	CHECK_EQ_U64(fw_info(fw, 1).state_limit, DAITA_STATE_LIMIT_MAX);
	/* an out-of-range blocker still starts the global blocking clock */
	fw_trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(10));
	CHECK_EQ_U64(fw_info(fw, 0).blocking_duration_ns, US(7));
	CHECK_EQ_U64(fw_info(fw, 1).blocking_duration_ns, US(7));
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 9, T0 + US(20));
	fw_trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(25));
	CHECK_EQ_U64(fw_info(fw, 0).blocking_duration_ns, US(12));
	/* BlockingEnd without an active blocking adds nothing */
	fw_trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(40));
	CHECK_EQ_U64(fw_info(fw, 0).blocking_duration_ns, US(12));
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 1);
	daita_framework_free(fw);
}

/* Padding check corner: with a machine fraction set and nothing sent yet, padding is
 * allowed even with a state limit of 0 (Rust returns early). */
static void test_padding_total_zero_quirk(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_action *a;

	tm_init(&tm, 0, 0.5, 0, 0.0, 1);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 0, 1.0f);
	a = tm_pad(&tm, 0, 5, false, false);
	tm_limit(a, 0);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 5, false, false);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* total 1: fraction 0 passes, limit 0 denies */
	NONE(fw, 0);
	daita_framework_free(fw);

	/* framework fraction alone: also "total 0 -> allowed"; PaddingSent for a machine that
	 * does not exist still counts globally */
	tm.m.max_padding_frac = 0.0;
	tm.s[0].action.has_limit = false;
	fw = fw_new(&tm.m, 1, 0.5, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 5, false, false);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 7, T0); /* global: 1 padding, 0 normal */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).padding_sent, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 1/2 >= 0.5 */
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 1/3 */
	PAD(fw, 0, 5, false, false);
	daita_framework_free(fw);
}

/* Blocking fractions divide by elapsed time: 0/0 (NaN) allows, x/0 (inf) denies. */
static void test_blocking_division_by_zero(void)
{
	struct tmachine tm;
	struct daita_framework *fw;

	tm_init(&tm, 0, 0.0, 0, 0.5, 1);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_block(&tm, 0, 1, 100, false, false);
	fw = fw_new(&tm.m, 1, 0.0, 0.5, T0 + US(100));
	/* nothing blocked and no time elapsed: 0/0 */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(100));
	BLOCK(fw, 0, 1, 100, false, false);
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, T0 + US(100));
	fw_trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(110));
	/* a clock that went backwards: elapsed saturates to 0, blocked 10 µs: x/0 denies */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	/* and later, 10/30 < 0.5 allows again */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(130));
	BLOCK(fw, 0, 1, 100, false, false);
	daita_framework_free(fw);

	/* ongoing blocking counts: 5 µs blocked of 8 µs */
	tm.m.max_blocking_frac = 0.6;
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, T0 + US(3));
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(8)); /* 5/8 = 0.625 >= 0.6 */
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(4)); /* 1/4 */
	BLOCK(fw, 0, 1, 100, false, false);
	daita_framework_free(fw);
}

/* A self-transition keeps the old state limit; entering a state resamples it. */
static void test_self_transition_keeps_limit(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_action *a;

	tm_init(&tm, 100, 0.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_PADDING_SENT, 1, 1.0f);
	tm_trans(&tm, 1, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	a = tm_pad(&tm, 1, 1, false, false);
	tm_limit(a, 3);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 3);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 2);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0); /* to state 0 (no action): limit MAX */
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, DAITA_STATE_LIMIT_MAX);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 3);
	daita_framework_free(fw);
}

int main(void)
{
	test_machine_max_padding_frac();
	test_framework_max_padding_frac();
	test_max_blocking_frac();
	test_framework_replace_blocking();
	test_framework_machine_sampled_limit();
	test_new_errors();
	test_limit_reached();
	test_timer_and_blocking_limits();
	test_padding_total_zero_quirk();
	test_blocking_division_by_zero();
	test_self_transition_keeps_limit();
	return test_finish("daita_framework_limits");
}
