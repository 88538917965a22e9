/* Fixtures of the Maybenot framework tests: see daita_fw.h. */
#include "daita_fw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building machines as structs ---- */

void tm_init(struct tmachine *tm, uint64_t allowed_padding, double max_padding_frac,
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

void tm_trans(struct tmachine *tm, uint32_t state, enum daita_event ev, uint32_t next,
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

struct daita_dist fw_cdist(double v)
{
	struct daita_dist d;

	memset(&d, 0, sizeof(d));
	d.type = DAITA_DIST_UNIFORM;
	d.p.uniform.low = v;
	d.p.uniform.high = v;
	return d;
}

struct daita_action *tm_action(struct tmachine *tm, uint32_t state,
			       enum daita_action_kind kind)
{
	struct daita_action *a = &tm->s[state].action;

	tm->s[state].has_action = true;
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

struct daita_action *tm_pad(struct tmachine *tm, uint32_t state, double timeout,
			    bool bypass, bool replace)
{
	struct daita_action *a = tm_action(tm, state, DAITA_ACTION_SEND_PADDING);

	a->timeout = fw_cdist(timeout);
	a->bypass = bypass;
	a->replace = replace;
	return a;
}

struct daita_action *tm_block(struct tmachine *tm, uint32_t state, double timeout,
			      double duration, bool bypass, bool replace)
{
	struct daita_action *a = tm_action(tm, state, DAITA_ACTION_BLOCK_OUTGOING);

	a->timeout = fw_cdist(timeout);
	a->duration = fw_cdist(duration);
	a->bypass = bypass;
	a->replace = replace;
	return a;
}

struct daita_action *tm_timer(struct tmachine *tm, uint32_t state, double duration,
			      bool replace)
{
	struct daita_action *a = tm_action(tm, state, DAITA_ACTION_UPDATE_TIMER);

	a->duration = fw_cdist(duration);
	a->replace = replace;
	return a;
}

void tm_limit(struct daita_action *a, double limit)
{
	a->has_limit = true;
	a->limit = fw_cdist(limit);
}

void tm_counter(struct tmachine *tm, uint32_t state, int c, enum daita_operation op,
		double value, bool copy)
{
	struct daita_counter *k = &tm->s[state].counter[c];

	tm->s[state].has_counter[c] = true;
	memset(k, 0, sizeof(*k));
	k->operation = op;
	k->copy = copy;
	if (value >= 0) {
		k->has_dist = true;
		k->dist = fw_cdist(value);
	}
}

/* ---- driving the framework ---- */

uint64_t fw_xoshiro_next(void *ctx)
{
	return test_rng_next(ctx);
}

test_rng fw_rng_state;

uint64_t fw_const_next(void *ctx)
{
	struct const_rng *c = ctx;
	c->draws++;
	return c->value;
}

struct daita_framework *fw_new(const struct daita_machine *ms, size_t n, double pf,
			       double bf, wg_time_ns now)
{
	struct daita_framework *fw = NULL;
	daita_rng r = { fw_xoshiro_next, &fw_rng_state };
	char err[DAITA_ERR_LEN];
	int rc;

	test_rng_seed(&fw_rng_state, 42);
	rc = daita_framework_new(&fw, ms, n, pf, bf, now, r, err);
	CHECK_MSG(rc == 0, "framework_new: %d %s", rc, err);
	if (rc != 0)
		abort();
	return fw;
}

struct daita_trigger_event fw_ev(enum daita_trigger_kind k, uint32_t m)
{
	struct daita_trigger_event e = { k, m };
	return e;
}

size_t fw_nout;
struct daita_trigger_action fw_out[DAITA_FRAMEWORK_MAX_MACHINES];
wg_time_ns fw_now;

void fw_trig_n(struct daita_framework *fw, const struct daita_trigger_event *ev, size_t n,
	    wg_time_ns now)
{
	fw_now = now;
	fw_nout = daita_framework_trigger_events(fw, ev, n, now, fw_out, DAITA_FRAMEWORK_MAX_MACHINES);
}

void fw_trig(struct daita_framework *fw, enum daita_trigger_kind k, uint32_t m,
	  wg_time_ns now)
{
	struct daita_trigger_event e = fw_ev(k, m);
	fw_trig_n(fw, &e, 1, now);
}

void fw_check_action(const char *file, int line, struct daita_framework *fw, uint32_t m,
		  enum daita_action_kind kind, uint64_t timeout, uint64_t duration,
		  bool bypass, bool replace, enum daita_timer timer)
{
	const struct daita_trigger_action *a = daita_framework_action(fw, m);
	size_t i;
	bool listed = false;

	test_checks++;
	if (!a) {
		test_fail(file, line, "machine %u: no action, expected kind %d", m, kind);
		return;
	}
	if (a->kind != kind || a->machine != m || a->timeout_us != timeout ||
	    a->duration_us != duration || a->bypass != bypass || a->replace != replace ||
	    a->timer != timer ||
	    a->at != fw_now + (kind == DAITA_ACTION_UPDATE_TIMER ? duration : timeout) * 1000u)
		test_fail(file, line,
			  "machine %u: got kind %d m %u timeout %" PRIu64 " duration %" PRIu64
			  " bypass %d replace %d timer %d at now+%" PRId64 "ns",
			  m, a->kind, a->machine, a->timeout_us, a->duration_us, a->bypass,
			  a->replace, a->timer, (int64_t)(a->at - fw_now));
	/* and it is in the returned list */
	for (i = 0; i < fw_nout; i++)
		listed |= fw_out[i].machine == m && !memcmp(&fw_out[i], a, sizeof(*a));
	if (!listed)
		test_fail(file, line, "machine %u: action not in the output list", m);
}


struct daita_machine_info fw_info(struct daita_framework *fw, size_t m)
{
	struct daita_machine_info i;

	memset(&i, 0xff, sizeof(i));
	CHECK(daita_framework_machine_info(fw, m, &i) == 0);
	return i;
}
