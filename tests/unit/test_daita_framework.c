/* Maybenot framework runtime: the behaviour of the crate's deterministic framework tests
 * (reference §2.2, re-expressed as our own tests: machines with probability-1 transitions and
 * constant distributions, synthetic time) plus budget/limit/scheduling edge cases. */
#include "test.h"

#include "daita/framework.h"
#include "tjson.h"

#include <math.h>
#include <stdlib.h>

/* ---- building machines as structs ---- */

#define TM_MAX_STATES 8
#define TM_MAX_TRANS 64

struct tmachine {
	struct daita_machine m;
	struct daita_state s[TM_MAX_STATES];
	struct daita_trans t[TM_MAX_TRANS];
	size_t nt;
};

static void tm_init(struct tmachine *tm, uint64_t allowed_padding, double max_padding_frac,
		    uint64_t allowed_blocked_us, double max_blocking_frac, uint32_t nstates)
{
	memset(tm, 0, sizeof(*tm));
	tm->m.allowed_padding_packets = allowed_padding;
	tm->m.max_padding_frac = max_padding_frac;
	tm->m.allowed_blocked_microsec = allowed_blocked_us;
	tm->m.max_blocking_frac = max_blocking_frac;
	tm->m.num_states = nstates;
	tm->m.states = tm->s;
}

/* Appends Trans(next, p) to the list of (state, ev); a list's entries must be added
 * consecutively. */
static void tm_trans(struct tmachine *tm, uint32_t state, enum daita_event ev, uint32_t next,
		     float p)
{
	struct daita_trans_list *l = &tm->s[state].trans[ev];

	if (tm->nt >= TM_MAX_TRANS || (l->present && l->items + l->len != tm->t + tm->nt)) {
		fprintf(stderr, "tm_trans: bad test machine\n");
		abort();
	}
	tm->t[tm->nt].next_state = next;
	tm->t[tm->nt].probability = p;
	if (!l->present) {
		l->present = true;
		l->items = &tm->t[tm->nt];
	}
	l->len++;
	tm->nt++;
}

static struct daita_dist cdist(double v)
{
	struct daita_dist d;

	memset(&d, 0, sizeof(d));
	d.type = DAITA_DIST_UNIFORM;
	d.p.uniform.low = v;
	d.p.uniform.high = v;
	return d;
}

static struct daita_action *tm_action(struct tmachine *tm, uint32_t state,
				      enum daita_action_kind kind)
{
	struct daita_action *a = &tm->s[state].action;

	tm->s[state].has_action = true;
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

static struct daita_action *tm_pad(struct tmachine *tm, uint32_t state, double timeout,
				   bool bypass, bool replace)
{
	struct daita_action *a = tm_action(tm, state, DAITA_ACTION_SEND_PADDING);

	a->timeout = cdist(timeout);
	a->bypass = bypass;
	a->replace = replace;
	return a;
}

static struct daita_action *tm_block(struct tmachine *tm, uint32_t state, double timeout,
				     double duration, bool bypass, bool replace)
{
	struct daita_action *a = tm_action(tm, state, DAITA_ACTION_BLOCK_OUTGOING);

	a->timeout = cdist(timeout);
	a->duration = cdist(duration);
	a->bypass = bypass;
	a->replace = replace;
	return a;
}

static struct daita_action *tm_timer(struct tmachine *tm, uint32_t state, double duration,
				     bool replace)
{
	struct daita_action *a = tm_action(tm, state, DAITA_ACTION_UPDATE_TIMER);

	a->duration = cdist(duration);
	a->replace = replace;
	return a;
}

static void tm_limit(struct daita_action *a, double limit)
{
	a->has_limit = true;
	a->limit = cdist(limit);
}

/* Counter c (0 = A, 1 = B). value < 0: no dist (the value 1). */
static void tm_counter(struct tmachine *tm, uint32_t state, int c, enum daita_operation op,
		       double value, bool copy)
{
	struct daita_counter *k = &tm->s[state].counter[c];

	tm->s[state].has_counter[c] = true;
	memset(k, 0, sizeof(*k));
	k->operation = op;
	k->copy = copy;
	if (value >= 0) {
		k->has_dist = true;
		k->dist = cdist(value);
	}
}

/* ---- driving the framework ---- */

static uint64_t xoshiro_next(void *ctx)
{
	return test_rng_next(ctx);
}

static test_rng g_state;

struct const_rng {
	uint64_t value;
	unsigned long draws;
};

static uint64_t const_next(void *ctx)
{
	struct const_rng *c = ctx;
	c->draws++;
	return c->value;
}

#define T0 WG_SEC(1000)
#define US(x) ((wg_time_ns)(x) * 1000ULL)

static struct daita_framework *fw_new(const struct daita_machine *ms, size_t n, double pf,
				      double bf, wg_time_ns now)
{
	struct daita_framework *fw = NULL;
	daita_rng r = { xoshiro_next, &g_state };
	char err[DAITA_ERR_LEN];
	int rc;

	test_rng_seed(&g_state, 42);
	rc = daita_framework_new(&fw, ms, n, pf, bf, now, r, err);
	CHECK_MSG(rc == 0, "framework_new: %d %s", rc, err);
	if (rc != 0)
		abort();
	return fw;
}

static struct daita_trigger_event E(enum daita_trigger_kind k, uint32_t m)
{
	struct daita_trigger_event e = { k, m };
	return e;
}

static size_t g_nout;
static struct daita_trigger_action g_out[DAITA_FRAMEWORK_MAX_MACHINES];
static wg_time_ns g_now; /* the time of the last trig_n: the base of the actions' `at` */

static void trig_n(struct daita_framework *fw, const struct daita_trigger_event *ev, size_t n,
		   wg_time_ns now)
{
	g_now = now;
	g_nout = daita_framework_trigger_events(fw, ev, n, now, g_out, DAITA_FRAMEWORK_MAX_MACHINES);
}

static void trig(struct daita_framework *fw, enum daita_trigger_kind k, uint32_t m,
		 wg_time_ns now)
{
	struct daita_trigger_event e = E(k, m);
	trig_n(fw, &e, 1, now);
}

#define NONE(fw, m) CHECK_MSG(daita_framework_action(fw, m) == NULL, "machine %d: unexpected action", (int)(m))

static void check_action(int line, struct daita_framework *fw, uint32_t m,
			 enum daita_action_kind kind, uint64_t timeout, uint64_t duration,
			 bool bypass, bool replace, enum daita_timer timer)
{
	const struct daita_trigger_action *a = daita_framework_action(fw, m);
	size_t i;
	bool listed = false;

	test_checks++;
	if (!a) {
		test_fail(__FILE__, line, "machine %u: no action, expected kind %d", m, kind);
		return;
	}
	if (a->kind != kind || a->machine != m || a->timeout_us != timeout ||
	    a->duration_us != duration || a->bypass != bypass || a->replace != replace ||
	    a->timer != timer ||
	    a->at != g_now + (kind == DAITA_ACTION_UPDATE_TIMER ? duration : timeout) * 1000u)
		test_fail(__FILE__, line,
			  "machine %u: got kind %d m %u timeout %" PRIu64 " duration %" PRIu64
			  " bypass %d replace %d timer %d at now+%" PRId64 "ns",
			  m, a->kind, a->machine, a->timeout_us, a->duration_us, a->bypass,
			  a->replace, a->timer, (int64_t)(a->at - g_now));
	/* and it is in the returned list */
	for (i = 0; i < g_nout; i++)
		listed |= g_out[i].machine == m && !memcmp(&g_out[i], a, sizeof(*a));
	if (!listed)
		test_fail(__FILE__, line, "machine %u: action not in the output list", m);
}

#define PAD(fw, m, t, by, re) check_action(__LINE__, fw, m, DAITA_ACTION_SEND_PADDING, t, 0, by, re, 0)
#define BLOCK(fw, m, t, d, by, re) check_action(__LINE__, fw, m, DAITA_ACTION_BLOCK_OUTGOING, t, d, by, re, 0)
#define TIMER(fw, m, d, re) check_action(__LINE__, fw, m, DAITA_ACTION_UPDATE_TIMER, 0, d, false, re, 0)
#define CANCEL(fw, m, tm) check_action(__LINE__, fw, m, DAITA_ACTION_CANCEL, 0, 0, false, false, tm)

static struct daita_machine_info info(struct daita_framework *fw, size_t m)
{
	struct daita_machine_info i;

	memset(&i, 0xff, sizeof(i));
	CHECK(daita_framework_machine_info(fw, m, &i) == 0);
	return i;
}

/* ---- ports of the crate's deterministic tests (behaviour, not code) ---- */

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

	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	NONE(fw, 0);
	CHECK_EQ_INT(g_nout, 0);
	now += US(20);
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_INT(g_nout, 1);
	now += US(20);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_PADDING_RECV, 0, now);
	PAD(fw, 0, 10, false, false);

	b2[0] = E(DAITA_TRIG_PADDING_SENT, 0);
	b2[1] = E(DAITA_TRIG_PADDING_RECV, 0);
	for (i = 0; i < 10; i++) {
		trig_n(fw, b2, 2, now);
		PAD(fw, 0, 10, false, false);
		CHECK_EQ_INT(g_nout, 1);
	}
	for (i = 0; i < 10; i++) {
		if (i % 2 == 0) {
			b3[0] = E(DAITA_TRIG_PADDING_RECV, 0);
			b3[1] = E(DAITA_TRIG_PADDING_SENT, 0);
			b3[2] = E(DAITA_TRIG_PADDING_RECV, 0);
			trig_n(fw, b3, 3, now);
			PAD(fw, 0, 10, false, false);
		} else {
			b3[0] = E(DAITA_TRIG_PADDING_SENT, 0);
			b3[1] = E(DAITA_TRIG_PADDING_RECV, 0);
			b3[2] = E(DAITA_TRIG_PADDING_SENT, 0);
			trig_n(fw, b3, 3, now);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	BLOCK(fw, 0, 1, 10, false, false);
	now += US(20);
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	NONE(fw, 0);
	for (i = 0; i < 10; i++) {
		now += US(1);
		trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
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

	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	TIMER(fw, 0, 1000, false);
	now += US(20);
	trig(fw, DAITA_TRIG_TIMER_END, 0, now);
	PAD(fw, 0, 1, false, false);
	daita_framework_free(fw);
}

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

	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 1);
	now += US(20);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	PAD(fw, 0, 2, false, false);
	CHECK_EQ_U64(info(fw, 0).counter_a, 0);
	CHECK_EQ_U64(info(fw, 0).counter_b, 4);
	CHECK_EQ_U64(info(fw, 0).current_state, 2);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_b, 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(info(fw, 0).current_state, 1);
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

	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(info(fw, 0).counter_a, UINT64_MAX);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(info(fw, 0).counter_a, UINT64_MAX);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 44);
	CHECK_EQ_U64(info(fw, 0).counter_b, 28);
	now += US(20);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 12);
	CHECK_EQ_U64(info(fw, 0).counter_b, 13);
	now += US(20);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 0);
	CHECK_EQ_U64(info(fw, 0).counter_b, 0);
	/* one CounterZero: 1 -> 2, and state 2's own CounterZero list is not taken */
	CHECK_EQ_U64(info(fw, 0).current_state, 2);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 50);
	CHECK_EQ_U64(info(fw, 0).counter_b, 50);
	now += US(20);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 75);
	CHECK_EQ_U64(info(fw, 0).counter_b, 0);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 1);
	CHECK_EQ_U64(info(fw, 0).counter_b, 1);
	now += US(20);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	PAD(fw, 0, 67, true, false);
	CHECK_EQ_U64(info(fw, 0).counter_a, 13);
	CHECK_EQ_U64(info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(info(fw, 0).current_state, 3);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 4);
	CHECK_EQ_U64(info(fw, 0).counter_b, 13);
	now += US(20);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 13);
	CHECK_EQ_U64(info(fw, 0).counter_b, 9);
	now += US(20);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 22);
	CHECK_EQ_U64(info(fw, 0).counter_b, 9);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 2);
	CHECK_EQ_U64(info(fw, 0).counter_b, 1);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_U64(info(fw, 0).counter_a, 1);
	CHECK_EQ_U64(info(fw, 0).counter_b, 1);
	CHECK_EQ_U64(info(fw, 0).state_limit, 2);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_U64(info(fw, 0).counter_a, 0);
	CHECK_EQ_U64(info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(info(fw, 0).state_limit, 2);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(info(fw, 0).current_state, 1);
	b[0] = E(DAITA_TRIG_NORMAL_SENT, 0);
	b[1] = E(DAITA_TRIG_NORMAL_RECV, 0);
	trig_n(fw, b, 2, T0);
	CHECK_EQ_INT(g_nout, 1);
	PAD(fw, 0, 1, false, false);
	CHECK_EQ_U64(info(fw, 0).current_state, 4);
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
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	PAD(fw, 1, 2, false, false);
	CHECK_EQ_INT(g_nout, 1);
	CHECK_EQ_U64(info(fw, 0).current_state, 0);
	daita_framework_free(fw);

	/* two senders in one call: everybody gets it */
	signal_machines(&both[0], &both[1], false);
	ms[0] = both[0].m;
	ms[1] = both[0].m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	PAD(fw, 0, 2, false, false);
	PAD(fw, 1, 2, false, false);
	CHECK_EQ_INT(g_nout, 2);
	daita_framework_free(fw);

	/* response: machine 1 answers the signal with a signal; the excluded sender gets one */
	signal_machines(&m[0], &m[1], true);
	ms[0] = m[0].m;
	ms[1] = m[1].m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
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
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_INT(g_nout, 1);
	PAD(fw, 2, 2, false, false);
	CHECK_EQ_U64(info(fw, 2).current_state, 1);
	/* the carried signal: one round per call, even with no events */
	for (call = 0; call < 4; call++) {
		trig_n(fw, NULL, 0, T0);
		CHECK_EQ_U64(info(fw, 2).current_state, call % 2 == 0 ? 0 : 1);
		if (call % 2 == 0) {
			CHECK_EQ_INT(g_nout, 0);
		} else {
			CHECK_EQ_INT(g_nout, 1);
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
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_INT(g_nout, 2);
	TIMER(fw, 0, 7, false);
	PAD(fw, 2, 2, false, false);
	trig_n(fw, NULL, 0, T0);
	CHECK_EQ_INT(g_nout, 0);
	CHECK_EQ_U64(info(fw, 2).current_state, 1);
	daita_framework_free(fw);

	/* Two senders (All): answers raised in that round are dropped, nothing is carried. */
	tm_init(&t0, 0, 0.0, 0, 0.0, 1);
	tm_trans(&t0, 0, DAITA_EV_NORMAL_RECV, DAITA_STATE_SIGNAL, 1.0f);
	tm_trans(&t0, 0, DAITA_EV_SIGNAL, DAITA_STATE_SIGNAL, 1.0f);
	ms[0] = ms[1] = t0.m;
	fw = fw_new(ms, 3, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 2, 2, false, false);
	trig_n(fw, NULL, 0, T0);
	CHECK_EQ_INT(g_nout, 0);
	CHECK_EQ_U64(info(fw, 2).current_state, 1);
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
	b[0] = E(DAITA_TRIG_NORMAL_RECV, 0);
	b[1] = E(DAITA_TRIG_TUNNEL_RECV, 0);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	trig_n(fw, b, 2, T0);
	CHECK_EQ_U64(info(fw, 0).current_state, 2);
	CHECK_EQ_U64(info(fw, 0).counter_a, 0);
	PAD(fw, 0, 5, false, false); /* not 9: the earlier event's action is kept */
	daita_framework_free(fw);
	/* the same two events in separate calls: state 2's own action */
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 5, false, false);
	trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0);
	PAD(fw, 0, 9, false, false);
	daita_framework_free(fw);
	/* without a counter zeroing, the later event overwrites as usual */
	tm.s[2].has_counter[0] = false;
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	trig_n(fw, b, 2, T0);
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
	b[0] = E(DAITA_TRIG_NORMAL_RECV, 0);
	b[1] = E(DAITA_TRIG_NORMAL_RECV, 0);
	b[2] = E(DAITA_TRIG_NORMAL_RECV, 0); /* state 1 has no NormalRecv list */
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(info(fw, 0).counter_a, 1);
	trig_n(fw, b, 3, T0);
	CHECK_EQ_U64(info(fw, 0).current_state, 1);
	CHECK_EQ_U64(info(fw, 0).counter_a, 0);
	daita_framework_free(fw);
	/* the flag is reset per call: the second zeroing in its own call fires again */
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(info(fw, 0).current_state, 2);
	CHECK_EQ_U64(info(fw, 0).counter_a, 1);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(info(fw, 0).current_state, 2);
	CHECK_EQ_U64(info(fw, 0).counter_a, 1);
	daita_framework_free(fw);
}

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

	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	for (i = 0; i < 100; i++) {
		PAD(fw, 0, 2, false, false);
		trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	}
	NONE(fw, 0); /* 100 padding, 0 normal: 1.0 >= 0.5 */
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	for (i = 0; i < 100; i++) {
		trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		NONE(fw, 0); /* up to 100/200 = 0.5: still >= */
	}
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 100/201 < 0.5 */
	PAD(fw, 0, 2, false, false);
	CHECK_EQ_U64(info(fw, 0).padding_sent, 100);
	CHECK_EQ_U64(info(fw, 0).normal_sent, 101);
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

	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	b[0] = E(DAITA_TRIG_PADDING_SENT, 0);
	b[1] = E(DAITA_TRIG_PADDING_SENT, 1);
	b[2] = E(DAITA_TRIG_TUNNEL_SENT, 0);
	b[3] = E(DAITA_TRIG_TUNNEL_SENT, 0);
	for (i = 0; i < 100; i++) {
		PAD(fw, 0, 2, false, false);
		PAD(fw, 1, 2, false, false);
		trig_n(fw, b, 4, T0);
	}
	NONE(fw, 0);
	NONE(fw, 1);
	b[0] = E(DAITA_TRIG_NORMAL_RECV, 0);
	b[1] = E(DAITA_TRIG_NORMAL_RECV, 0);
	trig_n(fw, b, 2, T0);
	NONE(fw, 0);
	NONE(fw, 1);
	CHECK_EQ_U64(info(fw, 0).padding_sent, 100);
	CHECK_EQ_U64(info(fw, 1).padding_sent, 100);
	for (i = 0; i < 200; i++) {
		trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		NONE(fw, 0);
		NONE(fw, 1);
	}
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 200/401 < 0.5 */
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

	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
	for (i = 0; i < 5; i++) {
		BLOCK(fw, 0, 2, 2, false, false);
		trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
		BLOCK(fw, 0, 2, 2, false, false);
		now += US(2);
		trig(fw, DAITA_TRIG_BLOCKING_END, 0, now);
	}
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).blocking_duration_ns, US(10));
	for (i = 0; i < 5; i++) {
		now += US(2);
		trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
		NONE(fw, 0); /* 10/12 .. 10/20 >= 0.5 */
	}
	CHECK_EQ_U64(info(fw, 0).blocking_duration_ns, US(10));
	CHECK_EQ_U64(now - info(fw, 0).machine_start, US(20));
	now += US(2);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now); /* 10/22 < 0.5 */
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

	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
	BLOCK(fw, 0, 2, 2, false, true);
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, now);
	now += US(2);
	trig(fw, DAITA_TRIG_BLOCKING_END, 0, now);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
	NONE(fw, 0); /* 2 µs of 2 µs elapsed >= 0.5 */
	CHECK_EQ_U64(info(fw, 0).blocking_duration_ns, US(2));
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	BLOCK(fw, 1, 0, 1000, false, false);
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 1, now);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, now);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, now);
	CHECK_EQ_U64(info(fw, 0).state_limit, 4);
	for (i = 0; i < 4; i++) {
		PAD(fw, 0, 1, false, false);
		now += US(1);
		trig(fw, DAITA_TRIG_PADDING_SENT, 0, now);
	}
	CHECK_EQ_U64(info(fw, 0).padding_sent, 4);
	CHECK_EQ_U64(info(fw, 0).normal_sent, 1);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).state_limit, 0);
	daita_framework_free(fw);
}

/* ---- further edge cases ---- */

static void test_new_errors(void)
{
	struct tmachine tm;
	struct daita_machine ms[DAITA_FRAMEWORK_MAX_MACHINES + 1];
	struct daita_framework *fw = (struct daita_framework *)&tm; /* must be reset */
	daita_rng r = { xoshiro_next, &g_state }, bad_rng = { NULL, NULL };
	char err[DAITA_ERR_LEN];
	struct daita_trigger_event e = E(DAITA_TRIG_NORMAL_SENT, 0);
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
	trig_n(fw, &e, 1, T0);
	CHECK_EQ_INT(g_nout, 0);
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

	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	PAD(fw, 0, 7, true, true);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0); /* unchanged state: no new action, limit 2 -> 1 */
	CHECK_EQ_U64(info(fw, 0).state_limit, 1);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	CANCEL(fw, 0, DAITA_TIMER_ALL);
	CHECK_EQ_U64(info(fw, 0).current_state, 2);
	CHECK_EQ_U64(info(fw, 0).state_limit, DAITA_STATE_LIMIT_MAX); /* Cancel: no limit */
	daita_framework_free(fw);

	/* limit reached without a LimitReached list: the action is dropped, nothing else */
	tm.s[1].trans[DAITA_EV_LIMIT_REACHED].present = false;
	tm_trans(&tm, 1, DAITA_EV_PADDING_SENT, 1, 1.0f);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	PAD(fw, 0, 7, true, true); /* self-transition reschedules; limit 2 -> 1 */
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0); /* limit 0: the rescheduled action is cleared */
	CHECK_EQ_U64(info(fw, 0).current_state, 1);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0); /* state_limit 0 blocks scheduling from now on */
	CHECK_EQ_U64(info(fw, 0).state_limit, 0);
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
	CHECK_EQ_U64(info(fw, 0).state_limit, 1); /* state 0's limit is sampled at start */
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 250, true);
	trig(fw, DAITA_TRIG_TIMER_BEGIN, 0, T0);
	CANCEL(fw, 0, DAITA_TIMER_INTERNAL);
	trig(fw, DAITA_TRIG_TIMER_BEGIN, 5, T0); /* out of range: ignored */
	trig(fw, DAITA_TRIG_TIMER_END, 5, T0);
	CHECK_EQ_INT(g_nout, 0);
	daita_framework_free(fw);

	/* two blockers: BlockingBegin{1} charges only machine 1 */
	tm_init(&tb, 0, 0.0, UINT64_MAX, 0.0, 2);
	tm_trans(&tb, 0, DAITA_EV_NORMAL_RECV, 0, 1.0f);
	tm_trans(&tb, 0, DAITA_EV_LIMIT_REACHED, 1, 1.0f);
	a = tm_block(&tb, 0, 3, 4, true, false);
	tm_limit(a, 1);
	ms[0] = ms[1] = tb.m;
	fw = fw_new(ms, 2, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	BLOCK(fw, 0, 3, 4, true, false);
	BLOCK(fw, 1, 3, 4, true, false);
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 1, T0 + US(3));
	CHECK_EQ_U64(info(fw, 0).state_limit, 1);
	CHECK_EQ_U64(info(fw, 0).current_state, 0);
	CHECK_EQ_U64(info(fw, 1).current_state, 1);
	CHECK_EQ_U64(info(fw, 1).state_limit, DAITA_STATE_LIMIT_MAX);
	/* an out-of-range blocker still starts the global blocking clock */
	trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(10));
	CHECK_EQ_U64(info(fw, 0).blocking_duration_ns, US(7));
	CHECK_EQ_U64(info(fw, 1).blocking_duration_ns, US(7));
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 9, T0 + US(20));
	trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(25));
	CHECK_EQ_U64(info(fw, 0).blocking_duration_ns, US(12));
	/* BlockingEnd without an active blocking adds nothing */
	trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(40));
	CHECK_EQ_U64(info(fw, 0).blocking_duration_ns, US(12));
	CHECK_EQ_U64(info(fw, 0).state_limit, 1);
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
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	CHECK_EQ_U64(info(fw, 0).counter_b, 5);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	TIMER(fw, 0, 9, false);
	CHECK_EQ_U64(info(fw, 0).counter_b, 0);
	CHECK_EQ_U64(info(fw, 0).current_state, 2);
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
	b[0] = E(DAITA_TRIG_NORMAL_SENT, 0);
	b[1] = E(DAITA_TRIG_NORMAL_RECV, 0);
	trig_n(fw, b, 2, T0);
	PAD(fw, 0, 3, false, false);
	PAD(fw, 1, 4, false, false);
	CHECK_EQ_U64(info(fw, 0).current_state, DAITA_STATE_END);
	CHECK(!daita_framework_all_machines_ended(fw));
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).padding_sent, 1); /* still counted */
	daita_framework_free(fw);

	/* END reached via PaddingSent is a change: no limit charge; an ended machine draws
	 * no randomness */
	{
		daita_rng r = { const_next, &cr };
		struct daita_action *a;

		a = &tm.s[1].action;
		tm_limit(a, 1);
		tm.s[1].trans[DAITA_EV_NORMAL_RECV].present = false;
		CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0.0, 0.0, T0, r, NULL), 0);
		trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		PAD(fw, 0, 3, false, false);
		trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
		NONE(fw, 0);
		CHECK_EQ_U64(info(fw, 0).state_limit, 1);
		CHECK(daita_framework_all_machines_ended(fw));
		cr.draws = 0;
		trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
		trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
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
		trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0); /* 100% padding: over every fraction */
		trig(fw, DAITA_TRIG_TUNNEL_SENT, 0, T0);
		CANCEL(fw, 0, timers[i]);
		trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0); /* self-transition: again */
		CANCEL(fw, 0, timers[i]);
		daita_framework_free(fw);
	}
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
	CHECK_EQ_U64(info(fw, 0).state_limit, 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 5, false, false);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* total 1: fraction 0 passes, limit 0 denies */
	NONE(fw, 0);
	daita_framework_free(fw);

	/* framework fraction alone: also "total 0 -> allowed"; PaddingSent for a machine that
	 * does not exist still counts globally */
	tm.m.max_padding_frac = 0.0;
	tm.s[0].action.has_limit = false;
	fw = fw_new(&tm.m, 1, 0.5, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 5, false, false);
	trig(fw, DAITA_TRIG_PADDING_SENT, 7, T0); /* global: 1 padding, 0 normal */
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).padding_sent, 0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 1/2 >= 0.5 */
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* 1/3 */
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
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(100));
	BLOCK(fw, 0, 1, 100, false, false);
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, T0 + US(100));
	trig(fw, DAITA_TRIG_BLOCKING_END, 0, T0 + US(110));
	/* a clock that went backwards: elapsed saturates to 0, blocked 10 µs: x/0 denies */
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	/* and later, 10/30 < 0.5 allows again */
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(130));
	BLOCK(fw, 0, 1, 100, false, false);
	daita_framework_free(fw);

	/* ongoing blocking counts: 5 µs blocked of 8 µs */
	tm.m.max_blocking_frac = 0.6;
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_BLOCKING_BEGIN, 0, T0 + US(3));
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(8)); /* 5/8 = 0.625 >= 0.6 */
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0 + US(4)); /* 1/4 */
	BLOCK(fw, 0, 1, 100, false, false);
	daita_framework_free(fw);
}

/* The f32 walk: r < cumulative sum picks the entry; a remainder means no transition; no list
 * means no RNG draw. */
static void test_transition_sampling(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct const_rng cr = { 0, 0 };
	daita_rng r = { const_next, &cr };

	tm_init(&tm, 0, 0.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 1, 0.25f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 2, 0.25f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 2, 1.0f);
	tm_timer(&tm, 1, 1, false);
	tm_timer(&tm, 2, 2, false);

	cr.value = 0; /* r = 0: first entry */
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	CHECK_EQ_U64(cr.draws, 0); /* state 0 has no action: no limit sampled */
	trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0);
	CHECK_EQ_U64(cr.draws, 0); /* no list for TunnelRecv: no draw */
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 1, false);
	/* one draw for the transition; no limit dist and a constant duration draw nothing */
	CHECK_EQ_U64(cr.draws, 1);
	daita_framework_free(fw);

	cr.value = 0x6000000000000000ULL; /* r = 0.375: second entry */
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 2, false);
	daita_framework_free(fw);

	cr.value = 0x8000000000000000ULL; /* r = 0.5: remainder, no transition */
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).current_state, 0);
	cr.value = UINT64_MAX; /* r just below 1 still takes a probability-1 entry */
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	TIMER(fw, 0, 2, false);
	daita_framework_free(fw);

	/* r lives on the binary32 grid k * 2^-23 like the crate's draw: with p = 0.5 + 2^-24
	 * the draw r = 0.5 (k = 2^22; the low 41 bits are ignored) transitions and the next
	 * grid point 0.5 + 2^-23 does not, so P = 0.5 + 2^-23 exactly, as in Rust */
	tm_init(&tm, 0, 0.0, 0, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 1, 0.5f + 0x1p-24f);
	tm_timer(&tm, 1, 3, false);
	cr.value = (1ULL << 22) << 41 | ((1ULL << 41) - 1);
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 3, false);
	daita_framework_free(fw);
	cr.value = ((1ULL << 22) + 1) << 41;
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).current_state, 0);
	daita_framework_free(fw);
}

struct seq_rng {
	const uint64_t *v;
	size_t n, i;
};

static uint64_t seq_next(void *ctx)
{
	struct seq_rng *q = ctx;
	return q->i < q->n ? q->v[q->i++] : 0;
}

/* RNG order as in the crate: the transition draw, then (entering the state) its limit, then
 * the action's timeout, then (BlockOutgoing) its duration. */
static void test_rng_order(void)
{
	static const uint64_t seq[] = { 0, 1ULL << 63, 1ULL << 62, 3ULL << 62 };
	struct seq_rng q = { seq, 4, 0 };
	daita_rng r = { seq_next, &q };
	struct tmachine tm;
	struct daita_framework *fw;
	struct daita_action *a;

	tm_init(&tm, 0, 0.0, UINT64_MAX, 0.0, 2);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 1, 1.0f);
	a = tm_block(&tm, 1, 0, 0, true, true);
	a->timeout.p.uniform.high = 1024;
	a->duration.p.uniform.high = 1024;
	a->has_limit = true;
	a->limit = cdist(0);
	a->limit.p.uniform.high = 1024;
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	CHECK_EQ_U64(q.i, 0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(q.i, 4);
	CHECK_EQ_U64(info(fw, 0).state_limit, 512);
	BLOCK(fw, 0, 256, 768, true, true);
	daita_framework_free(fw);
}

/* Transition frequencies over many draws (fixed seed) match the list's probabilities, the
 * remainder meaning "stay": within 6 standard errors. */
static void test_transition_frequencies(void)
{
	static const float p[2] = { 0.54347825f * 0.5f, 0.45652175f };
	struct tmachine tm;
	struct daita_framework *fw;
	unsigned long hits[3] = { 0, 0, 0 };
	const unsigned long n = 200000;
	double expect[3];
	unsigned long i;
	int k;

	tm_init(&tm, 0, 0.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 1, p[0]);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 2, p[1]);
	tm_trans(&tm, 1, DAITA_EV_TUNNEL_RECV, 0, 1.0f);
	tm_trans(&tm, 2, DAITA_EV_TUNNEL_RECV, 0, 1.0f);
	fw = fw_new(&tm.m, 1, 0.0, 0.0, T0);
	for (i = 0; i < n; i++) {
		struct daita_machine_info mi;

		trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
		if (daita_framework_machine_info(fw, 0, &mi) == 0 && mi.current_state < 3)
			hits[mi.current_state]++;
		trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0); /* back to 0 (no draw from state 0) */
	}
	expect[1] = p[0];
	expect[2] = p[1];
	expect[0] = 1.0 - p[0] - p[1];
	for (k = 0; k < 3; k++) {
		double f = (double)hits[k] / (double)n;
		double se = sqrt(expect[k] * (1 - expect[k]) / (double)n);
		CHECK_MSG(fabs(f - expect[k]) <= 6 * se, "state %d: frequency %.5f, expected %.5f", k,
			  f, expect[k]);
	}
	daita_framework_free(fw);
}

/* Output capacity: actions are returned in machine order, the rest dropped from the list
 * (but still readable). Machine ids are stamped on every action. */
static void test_output_cap(void)
{
	struct tmachine tm;
	struct daita_machine ms[3];
	struct daita_framework *fw;
	struct daita_trigger_action out[3];
	struct daita_trigger_event e = E(DAITA_TRIG_NORMAL_RECV, 0);
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
	CHECK_EQ_U64(info(fw, 0).state_limit, 0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(info(fw, 0).state_limit, 3);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	CHECK_EQ_U64(info(fw, 0).state_limit, 2);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0); /* to state 0 (no action): limit MAX */
	CHECK_EQ_U64(info(fw, 0).state_limit, DAITA_STATE_LIMIT_MAX);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(info(fw, 0).state_limit, 3);
	daita_framework_free(fw);
}

/* ---- machines from their published strings ---- */

static void parse_or_die(struct daita_machine *m, const char *str)
{
	char err[DAITA_ERR_LEN];

	if (daita_machine_parse(m, str, strlen(str), err) != 0) {
		test_fail(__FILE__, __LINE__, "parse %s: %s", str, err);
		abort();
	}
}

/* The crate's example machines (lib.rs / maybenot-machines / simulator example.rs) and
 * Mullvad's bundled client machine #2, driven through their documented behaviour. */
static void test_vector_machines(void)
{
	struct daita_machine m;
	struct daita_framework *fw;
	int i;

	/* "pad 5 s after a tunnel packet arrives" */
	parse_or_die(&m, "02eNpti1EJACAQQzcjWEjMYCEjGsUCojiUg+Pex2CPbe0HxCz4JCVJoJvF7SEjt+qUtnY+gDUNIg==");
	fw = fw_new(&m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0);
	PAD(fw, 0, 5000000, false, false);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0 + WG_SEC(5));
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).current_state, 0);
	trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0 + WG_SEC(6));
	PAD(fw, 0, 5000000, false, false);
	daita_framework_free(fw);
	daita_machine_free(&m);

	/* "ping every second" once anything was sent or received */
	parse_or_die(&m, "02eNpty8sJACAMA9DEgVyhuFkPDuwC4o8KpfRBoQlkLoNnCL5yjiSg4h5zY0p7baEK2w33hw3i");
	fw = fw_new(&m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 1000000, false, false);
	for (i = 1; i <= 5; i++) {
		trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0 + WG_SEC(i));
		PAD(fw, 0, 1000000, false, false);
	}
	CHECK_EQ_U64(info(fw, 0).padding_sent, 5);
	daita_framework_free(fw);
	daita_machine_free(&m);

	/* the simulator example: the first normal packet sent schedules padding at 20 ms, and
	 * the machine then does nothing more */
	parse_or_die(&m, "02eNp1ibEJAEAIA5Nf7B3N0v1cSESwEL0m5A6YvBqSgP7WeXfM5UoBW7ICYg==");
	fw = fw_new(&m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	PAD(fw, 0, 20000, false, false);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0 + WG_MS(20));
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0 + WG_MS(183));
	NONE(fw, 0);
	daita_framework_free(fw);
	daita_machine_free(&m);

	/* Mullvad client #2: three receives in a row without a send -> padding after 1 µs */
	parse_or_die(&m, "02eNqFjLENwCAMBP8hC2SJlKnTsVr2zBKUaVACNgiBEJxknex/Oezv9fjjRCF8mXLY4pAEbpeFJFlFqJBGA7PqWQ3spCer4l3rnvGDH6+FGlE=");
	fw = fw_new(&m, 1, 0.0, 0.0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	trig(fw, DAITA_TRIG_PADDING_RECV, 0, T0);
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* resets */
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 1, false, false);
	trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(info(fw, 0).current_state, 0);
	daita_framework_free(fw);
	daita_machine_free(&m);
}

/* All 28 published machines in one framework, driven by a long random event stream with
 * the production RNG: output invariants hold throughout (at most one action per machine, in
 * machine order, durations within the one-day cap, Mullvad #1's timeout in its range). */
static void test_vector_machines_random_stream(void)
{
	tjson *j = tjson_load_vector("maybenot/machines.json");
	tjson *arr = tjson_get(j, "machines");
	struct daita_machine ms[DAITA_FRAMEWORK_MAX_MACHINES];
	struct daita_framework *fw = NULL;
	struct daita_csprng cs;
	struct daita_trigger_event ev[8];
	struct daita_trigger_action out[DAITA_FRAMEWORK_MAX_MACHINES];
	uint8_t seed[32];
	size_t n = 0, i, k, total = 0, m1 = SIZE_MAX, bad = 0;
	wg_time_ns now = T0;
	int call;

	CHECK(arr && arr->n == 28);
	for (i = 0; arr && i < arr->n && n < DAITA_FRAMEWORK_MAX_MACHINES; i++) {
		const char *id = tjson_str(tjson_at(arr, i), "id");
		parse_or_die(&ms[n], tjson_str(tjson_at(arr, i), "string"));
		if (!strcmp(id, "mullvad-client-1"))
			m1 = n;
		n++;
	}
	memset(seed, 0x5a, sizeof(seed));
	daita_csprng_init(&cs, seed);
	test_rng_seed(&g_state, 7);
	CHECK_EQ_INT(daita_framework_new(&fw, ms, n, 0.3, 0.3, now, daita_csprng_rng(&cs), NULL),
		     0);
	for (call = 0; fw && call < 20000; call++) {
		size_t ne = 1 + test_rng_next(&g_state) % 8, nout;

		for (k = 0; k < ne; k++) {
			uint64_t r = test_rng_next(&g_state);
			ev[k].kind = (enum daita_trigger_kind)(r % 10);
			ev[k].machine = (uint32_t)((r >> 8) % (n + 2)); /* some out of range */
		}
		now += (test_rng_next(&g_state) % 5000) * 1000;
		nout = daita_framework_trigger_events(fw, ev, ne, now, out, n);
		total += nout;
		for (k = 0; k < nout; k++) {
			bad += out[k].machine >= n || (k > 0 && out[k].machine <= out[k - 1].machine);
			bad += out[k].timeout_us > 86400000000ULL || out[k].duration_us > 86400000000ULL;
			bad += daita_framework_action(fw, out[k].machine) == NULL;
			bad += out[k].at != now + (out[k].kind == DAITA_ACTION_UPDATE_TIMER
							   ? out[k].duration_us
							   : out[k].kind == DAITA_ACTION_CANCEL
								     ? 0
								     : out[k].timeout_us) *
							  1000u;
			if (out[k].machine == m1)
				bad += out[k].kind != DAITA_ACTION_SEND_PADDING ||
				       out[k].timeout_us < 1500001 || out[k].timeout_us > 9500001;
		}
	}
	CHECK_EQ_U64(bad, 0);
	CHECK(total > 1000);
	daita_framework_free(fw);
	daita_csprng_wipe(&cs);
	for (i = 0; i < n; i++)
		daita_machine_free(&ms[i]);
	tjson_free(j);
}

int main(void)
{
	test_trigger_events_actions();
	test_blocking_machine();
	test_timer_machine();
	test_counter_machine();
	test_counter_underflow_machine();
	test_counter_overflow_machine();
	test_counter_convergence_machine();
	test_counter_divergence_machine();
	test_counter_chain_machine();
	test_counter_copy_machine();
	test_counter_triggered_no_early_limit_decrement();
	test_infinite_loop_counter();
	test_signals();
	test_signal_round_bounded();
	test_counter_zero_in_batch();
	test_machine_max_padding_frac();
	test_framework_max_padding_frac();
	test_max_blocking_frac();
	test_framework_replace_blocking();
	test_framework_machine_sampled_limit();
	test_new_errors();
	test_limit_reached();
	test_timer_and_blocking_limits();
	test_counter_zero_by_set();
	test_state_end();
	test_cancel_variants();
	test_padding_total_zero_quirk();
	test_blocking_division_by_zero();
	test_transition_sampling();
	test_transition_frequencies();
	test_rng_order();
	test_output_cap();
	test_self_transition_keeps_limit();
	test_vector_machines();
	test_vector_machines_random_stream();
	return test_finish("daita_framework");
}
