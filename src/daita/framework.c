/* The Maybenot framework runtime (see framework.h and reference §1.3-1.4). */
#include "daita/framework.h"

#include "daita/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct machine_rt {
	uint32_t current_state; /* state index, or DAITA_STATE_END */
	uint64_t state_limit;
	uint64_t padding_sent;
	uint64_t normal_sent;
	uint64_t blocking_duration_ns;
	wg_time_ns machine_start;
	uint64_t counter_a;
	uint64_t counter_b;
};

enum signal_target { SIGNAL_NONE, SIGNAL_ALL_EXCEPT, SIGNAL_ALL };

struct daita_framework {
	const struct daita_machine *machines;
	size_t n;
	daita_rng rng;
	wg_time_ns now;
	wg_time_ns framework_start;
	/* padding accounting (packets) */
	double max_padding_frac;
	uint64_t normal_sent_packets;
	uint64_t padding_sent_packets;
	/* blocking accounting (time) */
	double max_blocking_frac;
	uint64_t blocking_duration_ns;
	wg_time_ns blocking_started;
	bool blocking_active;
	/* internal signalling: at most one round per trigger_events call */
	enum signal_target signal_pending;
	size_t signal_sender;
	/* each counter may zero (and fire CounterZero) once per trigger_events call: this is
	 * what bounds the CounterZero recursion */
	bool zeroed_once[2];
	struct machine_rt rt[DAITA_FRAMEWORK_MAX_MACHINES];
	bool has_action[DAITA_FRAMEWORK_MAX_MACHINES];
	struct daita_trigger_action actions[DAITA_FRAMEWORK_MAX_MACHINES];
};

enum change { UNCHANGED, CHANGED };

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static const struct daita_state *state_of(const struct daita_framework *fw, size_t mi,
					  uint32_t s)
{
	return &fw->machines[mi].states[s];
}

/* ---- construction ---- */

static void set_err(char *err, const char *msg)
{
	if (err)
		snprintf(err, DAITA_ERR_LEN, "%s", msg);
}

int daita_framework_new(struct daita_framework **out, const struct daita_machine *machines,
			size_t n, double max_padding_frac, double max_blocking_frac, wg_time_ns now,
			daita_rng rng, char *err)
{
	struct daita_framework *fw;
	char merr[DAITA_ERR_LEN] = "";
	size_t i;

	if (err)
		err[0] = '\0';
	if (!out || (n > 0 && !machines) || !rng.next_u64) {
		set_err(err, "invalid argument");
		return DAITA_FW_EINVAL;
	}
	*out = NULL;
	if (!(max_padding_frac >= 0.0 && max_padding_frac <= 1.0)) {
		set_err(err, "max_padding_frac not in [0, 1]");
		return DAITA_FW_EPADDING_LIMIT;
	}
	if (!(max_blocking_frac >= 0.0 && max_blocking_frac <= 1.0)) {
		set_err(err, "max_blocking_frac not in [0, 1]");
		return DAITA_FW_EBLOCKING_LIMIT;
	}
	if (n > DAITA_FRAMEWORK_MAX_MACHINES) {
		set_err(err, "too many machines");
		return DAITA_FW_ETOO_MANY;
	}
	for (i = 0; i < n; i++) {
		if (daita_machine_validate(&machines[i], merr) != 0) {
			if (err)
				snprintf(err, DAITA_ERR_LEN, "machine %zu: %.120s", i, merr);
			return DAITA_FW_EMACHINE;
		}
	}
	fw = calloc(1, sizeof(*fw));
	if (!fw) {
		set_err(err, "out of memory");
		return DAITA_FW_ENOMEM;
	}
	fw->machines = machines;
	fw->n = n;
	fw->rng = rng;
	fw->now = now;
	fw->framework_start = now;
	fw->blocking_started = now;
	fw->max_padding_frac = max_padding_frac;
	fw->max_blocking_frac = max_blocking_frac;
	for (i = 0; i < n; i++) {
		const struct daita_state *s0 = &machines[i].states[0];

		fw->rt[i].machine_start = now;
		/* without an action the limit stays 0: actionless states never schedule */
		if (s0->has_action)
			fw->rt[i].state_limit = daita_sample_action_limit(&s0->action, &fw->rng);
	}
	*out = fw;
	return DAITA_FW_OK;
}

void daita_framework_free(struct daita_framework *fw)
{
	free(fw);
}

/* ---- limits ---- */

/* blocked_ns < allowed_us µs, without overflowing the µs -> ns conversion */
static bool below_allowed_blocking(uint64_t blocked_ns, uint64_t allowed_us)
{
	if (allowed_us > UINT64_MAX / 1000)
		return true; /* more than any u64 nanosecond count */
	return blocked_ns < allowed_us * 1000;
}

/* blocked / elapsed >= frac with IEEE semantics: 0/0 is NaN (never >=), x/0 is +inf. */
static bool frac_reached(uint64_t part, uint64_t whole, double frac)
{
	if (whole == 0)
		return part > 0;
	return (double)part / (double)whole >= frac;
}

static bool below_limit_padding(const struct daita_framework *fw, size_t mi)
{
	const struct daita_machine *m = &fw->machines[mi];
	const struct machine_rt *rt = &fw->rt[mi];

	/* the machine's own allowance bypasses both fractions */
	if (rt->padding_sent < m->allowed_padding_packets)
		return rt->state_limit > 0;
	if (m->max_padding_frac > 0.0) {
		uint64_t total = sat_add(rt->normal_sent, rt->padding_sent);
		if (total == 0)
			return true; /* as in Rust: skips the state limit too */
		if ((double)rt->padding_sent / (double)total >= m->max_padding_frac)
			return false;
	}
	if (fw->max_padding_frac > 0.0) {
		uint64_t total = sat_add(fw->padding_sent_packets, fw->normal_sent_packets);
		if (total == 0)
			return true;
		if ((double)fw->padding_sent_packets / (double)total >= fw->max_padding_frac)
			return false;
	}
	return rt->state_limit > 0;
}

static bool below_limit_blocking(const struct daita_framework *fw, size_t mi,
				 const struct daita_action *a)
{
	const struct daita_machine *m = &fw->machines[mi];
	const struct machine_rt *rt = &fw->rt[mi];
	uint64_t m_blocked = rt->blocking_duration_ns, g_blocked = fw->blocking_duration_ns;

	/* replacing an active blocking is always allowed (by design), state limit aside */
	if (a->replace && fw->blocking_active)
		return rt->state_limit > 0;
	if (fw->blocking_active) {
		uint64_t ongoing = sat_sub(fw->now, fw->blocking_started);
		m_blocked = sat_add(m_blocked, ongoing);
		g_blocked = sat_add(g_blocked, ongoing);
	}
	if (below_allowed_blocking(m_blocked, m->allowed_blocked_microsec))
		return rt->state_limit > 0;
	if (m->max_blocking_frac > 0.0 &&
	    frac_reached(m_blocked, sat_sub(fw->now, rt->machine_start), m->max_blocking_frac))
		return false;
	if (fw->max_blocking_frac > 0.0 &&
	    frac_reached(g_blocked, sat_sub(fw->now, fw->framework_start), fw->max_blocking_frac))
		return false;
	return rt->state_limit > 0;
}

/* For the machine's current state. */
static bool below_action_limits(const struct daita_framework *fw, size_t mi)
{
	const struct daita_state *s = state_of(fw, mi, fw->rt[mi].current_state);

	if (!s->has_action)
		return false;
	switch (s->action.kind) {
	case DAITA_ACTION_BLOCK_OUTGOING:
		return below_limit_blocking(fw, mi, &s->action);
	case DAITA_ACTION_SEND_PADDING:
		return below_limit_padding(fw, mi);
	case DAITA_ACTION_UPDATE_TIMER:
		return fw->rt[mi].state_limit > 0;
	case DAITA_ACTION_CANCEL:
		return true;
	}
	return false;
}

/* ---- actions ---- */

static void schedule_action(struct daita_framework *fw, size_t mi, uint32_t s)
{
	const struct daita_state *st = state_of(fw, mi, s);
	const struct daita_action *a = &st->action;
	struct daita_trigger_action *out = &fw->actions[mi];

	if (!st->has_action) {
		fw->has_action[mi] = false;
		return;
	}
	memset(out, 0, sizeof(*out));
	out->kind = a->kind;
	out->machine = (uint32_t)mi;
	switch (a->kind) {
	case DAITA_ACTION_CANCEL:
		out->timer = a->timer;
		break;
	case DAITA_ACTION_SEND_PADDING:
		out->bypass = a->bypass;
		out->replace = a->replace;
		out->timeout_us = daita_sample_timeout_us(&a->timeout, &fw->rng);
		break;
	case DAITA_ACTION_BLOCK_OUTGOING:
		out->bypass = a->bypass;
		out->replace = a->replace;
		/* RNG order as in Rust: timeout, then duration */
		out->timeout_us = daita_sample_timeout_us(&a->timeout, &fw->rng);
		out->duration_us = daita_sample_block_duration_us(&a->duration, &fw->rng);
		break;
	case DAITA_ACTION_UPDATE_TIMER:
		out->replace = a->replace;
		out->duration_us = daita_sample_timer_duration_us(&a->duration, &fw->rng);
		break;
	}
	/* µs values are at most one day, so the ns conversion cannot overflow */
	out->at = sat_add(fw->now, (a->kind == DAITA_ACTION_UPDATE_TIMER ? out->duration_us
									  : out->timeout_us) *
					   1000u);
	fw->has_action[mi] = true;
}

/* ---- transitions ---- */

/* Next state for event ev from the machine's current state; false if none (no list: no RNG
 * draw; otherwise one binary32 draw r in [0, 1), and the first entry whose binary32 running
 * sum exceeds r wins, all in f32 as in the crate). */
static bool sample_next_state(struct daita_framework *fw, size_t mi, enum daita_event ev,
			      uint32_t *next)
{
	const struct daita_trans_list *l = &state_of(fw, mi, fw->rt[mi].current_state)->trans[ev];
	float r, sum = 0.0f;
	uint32_t i;

	if (!l->present)
		return false;
	r = daita_rng_f32(&fw->rng);
	for (i = 0; i < l->len; i++) {
		sum = (float)(sum + l->items[i].probability);
		if (r < sum) {
			*next = l->items[i].next_state;
			return true;
		}
	}
	return false;
}

static enum change transition(struct daita_framework *fw, size_t mi, enum daita_event ev);

/* Applies the counters of the state just entered. Returns whether the entered state's action
 * may still be scheduled; *changed tells whether a CounterZero chain changed the state. */
/* NOLINTNEXTLINE(misc-no-recursion): depth bounded by zeroed_once (one per counter) */
static bool update_counter(struct daita_framework *fw, size_t mi, bool *changed)
{
	const struct daita_state *s = state_of(fw, mi, fw->rt[mi].current_state);
	struct machine_rt *rt = &fw->rt[mi];
	uint64_t old[2] = { rt->counter_a, rt->counter_b };
	uint64_t *val[2] = { &rt->counter_a, &rt->counter_b };
	bool zeroed = false;
	int c;

	*changed = false;
	for (c = 0; c < 2; c++) {
		const struct daita_counter *ctr = &s->counter[c];
		uint64_t v;

		if (!s->has_counter[c])
			continue;
		/* copy takes the other counter's value from before this update */
		v = ctr->copy ? old[1 - c] : daita_sample_counter_value(ctr, &fw->rng);
		switch (ctr->operation) {
		case DAITA_OP_INCREMENT:
			*val[c] = sat_add(*val[c], v);
			break;
		case DAITA_OP_DECREMENT:
			*val[c] = sat_sub(*val[c], v);
			break;
		case DAITA_OP_SET:
			*val[c] = v;
			break;
		}
		if (old[c] != 0 && *val[c] == 0 && !fw->zeroed_once[c]) {
			zeroed = true;
			fw->zeroed_once[c] = true;
		}
	}
	if (!zeroed)
		return true;
	*changed = transition(fw, mi, DAITA_EV_COUNTER_ZERO) == CHANGED;
	/* an action from the CounterZero chain (or an earlier event of the batch) wins */
	return !fw->has_action[mi];
}

/* NOLINTNEXTLINE(misc-no-recursion): see update_counter */
static enum change transition(struct daita_framework *fw, size_t mi, enum daita_event ev)
{
	struct machine_rt *rt = &fw->rt[mi];
	uint32_t next, before;
	bool below, allow, counter_changed;

	if (rt->current_state == DAITA_STATE_END)
		return UNCHANGED;
	if (!sample_next_state(fw, mi, ev, &next))
		return UNCHANGED;
	if (next == DAITA_STATE_END) {
		/* pending timers stay, and an action chosen earlier in this call is kept */
		rt->current_state = DAITA_STATE_END;
		return CHANGED;
	}
	if (next == DAITA_STATE_SIGNAL) {
		if (fw->signal_pending == SIGNAL_NONE) {
			fw->signal_pending = SIGNAL_ALL_EXCEPT;
			fw->signal_sender = mi;
		} else {
			fw->signal_pending = SIGNAL_ALL; /* two senders: everybody */
		}
		return UNCHANGED;
	}
	if (next >= fw->machines[mi].num_states)
		return UNCHANGED; /* cannot happen in a validated machine */
	before = rt->current_state;
	if (before != next) {
		const struct daita_state *ns = state_of(fw, mi, next);

		rt->current_state = next;
		/* a self-transition keeps the old limit */
		rt->state_limit = ns->has_action ? daita_sample_action_limit(&ns->action, &fw->rng)
						 : DAITA_STATE_LIMIT_MAX;
	}
	/* limits are judged for the state entered, before its counters run */
	below = below_action_limits(fw, mi);
	allow = update_counter(fw, mi, &counter_changed);
	if (allow && below)
		schedule_action(fw, mi, next);
	return (before == rt->current_state && !counter_changed) ? UNCHANGED : CHANGED;
}

static void decrement_limit(struct daita_framework *fw, size_t mi)
{
	struct machine_rt *rt = &fw->rt[mi];
	const struct daita_state *s;

	if (rt->state_limit > 0)
		rt->state_limit--;
	if (rt->current_state == DAITA_STATE_END)
		return;
	s = state_of(fw, mi, rt->current_state);
	if (s->has_action && rt->state_limit == 0 && s->action.has_limit) {
		fw->has_action[mi] = false;
		transition(fw, mi, DAITA_EV_LIMIT_REACHED);
	}
}

/* Transition machine mi on its own event, then charge its limit if it stayed put. */
static void transition_and_charge(struct daita_framework *fw, size_t mi, enum daita_event ev)
{
	if (transition(fw, mi, ev) == UNCHANGED && fw->rt[mi].current_state != DAITA_STATE_END)
		decrement_limit(fw, mi);
}

static void transition_all(struct daita_framework *fw, enum daita_event ev)
{
	size_t mi;

	for (mi = 0; mi < fw->n; mi++)
		transition(fw, mi, ev);
}

static void process_event(struct daita_framework *fw, const struct daita_trigger_event *e)
{
	size_t mi = e->machine;

	switch (e->kind) {
	case DAITA_TRIG_NORMAL_RECV:
		transition_all(fw, DAITA_EV_NORMAL_RECV);
		break;
	case DAITA_TRIG_PADDING_RECV:
		transition_all(fw, DAITA_EV_PADDING_RECV);
		break;
	case DAITA_TRIG_TUNNEL_RECV:
		transition_all(fw, DAITA_EV_TUNNEL_RECV);
		break;
	case DAITA_TRIG_TUNNEL_SENT:
		/* accounting counts normal/padding packets, not tunnel packets */
		transition_all(fw, DAITA_EV_TUNNEL_SENT);
		break;
	case DAITA_TRIG_NORMAL_SENT:
		fw->normal_sent_packets = sat_add(fw->normal_sent_packets, 1);
		for (mi = 0; mi < fw->n; mi++) {
			fw->rt[mi].normal_sent = sat_add(fw->rt[mi].normal_sent, 1);
			transition(fw, mi, DAITA_EV_NORMAL_SENT);
		}
		break;
	case DAITA_TRIG_PADDING_SENT:
		fw->padding_sent_packets = sat_add(fw->padding_sent_packets, 1);
		if (mi >= fw->n)
			break;
		fw->rt[mi].padding_sent = sat_add(fw->rt[mi].padding_sent, 1);
		transition_and_charge(fw, mi, DAITA_EV_PADDING_SENT);
		break;
	case DAITA_TRIG_BLOCKING_BEGIN: {
		size_t i;

		if (!fw->blocking_active) {
			fw->blocking_active = true;
			fw->blocking_started = fw->now;
		}
		/* blocking is global: every machine sees it, only the blocker is charged */
		for (i = 0; i < fw->n; i++) {
			if (transition(fw, i, DAITA_EV_BLOCKING_BEGIN) == UNCHANGED &&
			    fw->rt[i].current_state != DAITA_STATE_END && i == mi)
				decrement_limit(fw, i);
		}
		break;
	}
	case DAITA_TRIG_BLOCKING_END: {
		uint64_t blocked = 0;
		size_t i;

		if (fw->blocking_active) {
			blocked = sat_sub(fw->now, fw->blocking_started);
			fw->blocking_duration_ns = sat_add(fw->blocking_duration_ns, blocked);
			fw->blocking_active = false;
		}
		for (i = 0; i < fw->n; i++) {
			fw->rt[i].blocking_duration_ns =
				sat_add(fw->rt[i].blocking_duration_ns, blocked);
			transition(fw, i, DAITA_EV_BLOCKING_END);
		}
		break;
	}
	case DAITA_TRIG_TIMER_BEGIN:
		if (mi < fw->n)
			transition_and_charge(fw, mi, DAITA_EV_TIMER_BEGIN);
		break;
	case DAITA_TRIG_TIMER_END:
		if (mi < fw->n)
			transition(fw, mi, DAITA_EV_TIMER_END);
		break;
	}
}

/* One signal round: everybody but the sender (or everybody if two machines signalled).
 * Signals raised during the round are dropped, except that if one was raised and a sender
 * was excluded, the sender gets one Signal too (it must have come from another machine). A
 * signal the sender raises in answer to that stays pending and is delivered by the next
 * call's round, as the crate does (it only take()s the pending signal before this step), so
 * there is still at most one round per call and a ping-pong of signals advances one round
 * per call instead of looping. */
static void signal_round(struct daita_framework *fw)
{
	enum signal_target target = fw->signal_pending;
	size_t sender = fw->signal_sender, mi;
	bool raised;

	fw->signal_pending = SIGNAL_NONE;
	if (target == SIGNAL_NONE)
		return;
	for (mi = 0; mi < fw->n; mi++) {
		if (target == SIGNAL_ALL_EXCEPT && mi == sender)
			continue;
		transition(fw, mi, DAITA_EV_SIGNAL);
	}
	raised = fw->signal_pending != SIGNAL_NONE;
	fw->signal_pending = SIGNAL_NONE;
	if (raised && target == SIGNAL_ALL_EXCEPT)
		transition(fw, sender, DAITA_EV_SIGNAL); /* may leave a signal pending */
}

size_t daita_framework_trigger_events(struct daita_framework *fw,
				      const struct daita_trigger_event *events, size_t n,
				      wg_time_ns now, struct daita_trigger_action *out,
				      size_t cap)
{
	size_t i, written = 0;

	memset(fw->has_action, 0, sizeof(fw->has_action));
	fw->zeroed_once[0] = fw->zeroed_once[1] = false;
	fw->now = now;
	for (i = 0; events && i < n; i++)
		process_event(fw, &events[i]);
	signal_round(fw);
	for (i = 0; i < fw->n && out && written < cap; i++) {
		if (fw->has_action[i])
			out[written++] = fw->actions[i];
	}
	return written;
}

size_t daita_framework_num_machines(const struct daita_framework *fw)
{
	return fw->n;
}

const struct daita_trigger_action *daita_framework_action(const struct daita_framework *fw,
							  size_t m)
{
	if (m >= fw->n || !fw->has_action[m])
		return NULL;
	return &fw->actions[m];
}

bool daita_framework_all_machines_ended(const struct daita_framework *fw)
{
	size_t i;

	for (i = 0; i < fw->n; i++) {
		if (fw->rt[i].current_state != DAITA_STATE_END)
			return false;
	}
	return true;
}

int daita_framework_machine_info(const struct daita_framework *fw, size_t m,
				 struct daita_machine_info *info)
{
	const struct machine_rt *rt;

	if (m >= fw->n)
		return -1;
	rt = &fw->rt[m];
	info->current_state = rt->current_state;
	info->state_limit = rt->state_limit;
	info->padding_sent = rt->padding_sent;
	info->normal_sent = rt->normal_sent;
	info->blocking_duration_ns = rt->blocking_duration_ns;
	info->machine_start = rt->machine_start;
	info->counter_a = rt->counter_a;
	info->counter_b = rt->counter_b;
	return 0;
}
