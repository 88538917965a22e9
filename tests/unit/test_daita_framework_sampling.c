/* Maybenot framework runtime, randomness: transition sampling and frequencies, the order of RNG
 * draws, and the published machines run on a random event stream.
 * The crate's deterministic framework tests re-expressed as our own (machines with
 * probability-1 transitions and constant distributions, synthetic time) plus edge cases;
 * the machine builders and the framework driver are in tests/support/daita_fw.h. */
#include "test.h"

#include "daita_fw.h"
#include "tjson.h"

#include <math.h>
#include <stdlib.h>

/* The f32 walk: r < cumulative sum picks the entry; a remainder means no transition; no list
 * means no RNG draw. */
static void test_transition_sampling(void)
{
	struct tmachine tm;
	struct daita_framework *fw;
	struct const_rng cr = { 0, 0 };
	daita_rng r = { fw_const_next, &cr };

	tm_init(&tm, 0, 0.0, 0, 0.0, 3);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 1, 0.25f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_RECV, 2, 0.25f);
	tm_trans(&tm, 0, DAITA_EV_NORMAL_SENT, 2, 1.0f);
	tm_timer(&tm, 1, 1, false);
	tm_timer(&tm, 2, 2, false);

	cr.value = 0; /* r = 0: first entry */
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	CHECK_EQ_U64(cr.draws, 0); /* state 0 has no action: no limit sampled */
	fw_trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0);
	CHECK_EQ_U64(cr.draws, 0); /* no list for TunnelRecv: no draw */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 1, false);
	/* one draw for the transition; no limit dist and a constant duration draw nothing */
	CHECK_EQ_U64(cr.draws, 1);
	daita_framework_free(fw);

	cr.value = 0x6000000000000000ULL; /* r = 0.375: second entry */
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 2, false);
	daita_framework_free(fw);

	cr.value = 0x8000000000000000ULL; /* r = 0.5: remainder, no transition */
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 0);
	cr.value = UINT64_MAX; /* r just below 1 still takes a probability-1 entry */
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
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
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	TIMER(fw, 0, 3, false);
	daita_framework_free(fw);
	cr.value = ((1ULL << 22) + 1) << 41;
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 0);
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
	a->limit = fw_cdist(0);
	a->limit.p.uniform.high = 1024;
	CHECK_EQ_INT(daita_framework_new(&fw, &tm.m, 1, 0, 0, T0, r, NULL), 0);
	CHECK_EQ_U64(q.i, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	CHECK_EQ_U64(q.i, 4);
	CHECK_EQ_U64(fw_info(fw, 0).state_limit, 512);
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

		fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
		if (daita_framework_machine_info(fw, 0, &mi) == 0 && mi.current_state < 3)
			hits[mi.current_state]++;
		fw_trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0); /* back to 0 (no draw from state 0) */
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
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0);
	PAD(fw, 0, 5000000, false, false);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0 + WG_SEC(5));
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 0);
	fw_trig(fw, DAITA_TRIG_TUNNEL_RECV, 0, T0 + WG_SEC(6));
	PAD(fw, 0, 5000000, false, false);
	daita_framework_free(fw);
	daita_machine_free(&m);

	/* "ping every second" once anything was sent or received */
	parse_or_die(&m, "02eNpty8sJACAMA9DEgVyhuFkPDuwC4o8KpfRBoQlkLoNnCL5yjiSg4h5zY0p7baEK2w33hw3i");
	fw = fw_new(&m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 1000000, false, false);
	for (i = 1; i <= 5; i++) {
		fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0 + WG_SEC(i));
		PAD(fw, 0, 1000000, false, false);
	}
	CHECK_EQ_U64(fw_info(fw, 0).padding_sent, 5);
	daita_framework_free(fw);
	daita_machine_free(&m);

	/* the simulator example: the first normal packet sent schedules padding at 20 ms, and
	 * the machine then does nothing more */
	parse_or_die(&m, "02eNp1ibEJAEAIA5Nf7B3N0v1cSESwEL0m5A6YvBqSgP7WeXfM5UoBW7ICYg==");
	fw = fw_new(&m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0);
	PAD(fw, 0, 20000, false, false);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0 + WG_MS(20));
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0 + WG_MS(183));
	NONE(fw, 0);
	daita_framework_free(fw);
	daita_machine_free(&m);

	/* Mullvad client #2: three receives in a row without a send -> padding after 1 µs */
	parse_or_die(&m, "02eNqFjLENwCAMBP8hC2SJlKnTsVr2zBKUaVACNgiBEJxknex/Oezv9fjjRCF8mXLY4pAEbpeFJFlFqJBGA7PqWQ3spCer4l3rnvGDH6+FGlE=");
	fw = fw_new(&m, 1, 0.0, 0.0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	fw_trig(fw, DAITA_TRIG_PADDING_RECV, 0, T0);
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_SENT, 0, T0); /* resets */
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	NONE(fw, 0);
	fw_trig(fw, DAITA_TRIG_NORMAL_RECV, 0, T0);
	PAD(fw, 0, 1, false, false);
	fw_trig(fw, DAITA_TRIG_PADDING_SENT, 0, T0);
	NONE(fw, 0);
	CHECK_EQ_U64(fw_info(fw, 0).current_state, 0);
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
	test_rng_seed(&fw_rng_state, 7);
	CHECK_EQ_INT(daita_framework_new(&fw, ms, n, 0.3, 0.3, now, daita_csprng_rng(&cs), NULL),
		     0);
	for (call = 0; fw && call < 20000; call++) {
		size_t ne = 1 + test_rng_next(&fw_rng_state) % 8, nout;

		for (k = 0; k < ne; k++) {
			uint64_t r = test_rng_next(&fw_rng_state);
			ev[k].kind = (enum daita_trigger_kind)(r % 10);
			ev[k].machine = (uint32_t)((r >> 8) % (n + 2)); /* some out of range */
		}
		now += (test_rng_next(&fw_rng_state) % 5000) * 1000;
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
	test_transition_sampling();
	test_transition_frequencies();
	test_rng_order();
	test_vector_machines();
	test_vector_machines_random_stream();
	return test_finish("daita_framework_sampling");
}
