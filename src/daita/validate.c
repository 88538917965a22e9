/* Machine::validate of maybenot 2.2.x, with the parameter checks of rand_distr 0.5 that the
 * crate relies on (a machine is only valid if every distribution can be constructed) plus
 * maybenot's own extra caps. Comparisons are written the way the reference writes them, so
 * NaN falls on the same side: e.g. a NaN fraction or probability passes ("not < 0 and not
 * > 1"), while a NaN scale fails ("must be > 0"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daita/bincode.h"
#include "daita/machine.h"

/* rand_distr 0.5 Poisson MAX_LAMBDA; maybenot's own cap (1e42) is weaker. */
#define DIST_POISSON_MAX_LAMBDA 1.844e19
#define DIST_BINOMIAL_MAX_TRIALS 1000000000ULL

static int dist_fail(char *err, const char *what)
{
	daita_set_err(err, "validate", "%s", what);
	return -1;
}

/* Geometric / Binomial probability: [0, 1], NaN rejected, and maybenot refuses tiny
 * non-zero values (they make the samplers loop for a very long time). */
static bool dist_tiny_probability(double p)
{
	return p > 0.0 && p < DAITA_DIST_MIN_PROBABILITY;
}

int daita_dist_validate(const struct daita_dist *d, char *err)
{
	switch (d->type) {
	case DAITA_DIST_UNIFORM: {
		double lo = d->p.uniform.low, hi = d->p.uniform.high;

		if (isnan(lo) || isnan(hi))
			return dist_fail(err, "Uniform: low or high is NaN");
		if (!isfinite(lo) || !isfinite(hi))
			return dist_fail(err, "Uniform: low or high is infinite");
		if (lo > hi)
			return dist_fail(err, "Uniform: low > high");
		if (!isfinite(hi - lo))
			return dist_fail(err, "Uniform: high - low overflows");
		return 0;
	}
	case DAITA_DIST_NORMAL:
		if (!isfinite(d->p.normal.stdev))
			return dist_fail(err, "Normal: standard deviation not finite");
		return 0;
	case DAITA_DIST_SKEW_NORMAL:
		if (!isfinite(d->p.skew_normal.scale) || !(d->p.skew_normal.scale > 0.0))
			return dist_fail(err, "SkewNormal: scale must be finite and > 0");
		if (!isfinite(d->p.skew_normal.shape))
			return dist_fail(err, "SkewNormal: shape not finite");
		return 0;
	case DAITA_DIST_LOG_NORMAL:
		if (!isfinite(d->p.log_normal.sigma))
			return dist_fail(err, "LogNormal: standard deviation not finite");
		return 0;
	case DAITA_DIST_BINOMIAL: {
		double p = d->p.binomial.probability;

		if (dist_tiny_probability(p))
			return dist_fail(err, "Binomial: 0 < probability < 1e-9");
		if (d->p.binomial.trials > DIST_BINOMIAL_MAX_TRIALS)
			return dist_fail(err, "Binomial: trials > 1e9");
		if (!(p >= 0.0))
			return dist_fail(err, "Binomial: probability < 0 or NaN");
		if (p > 1.0)
			return dist_fail(err, "Binomial: probability > 1");
		return 0;
	}
	case DAITA_DIST_GEOMETRIC: {
		double p = d->p.geometric.probability;

		if (dist_tiny_probability(p))
			return dist_fail(err, "Geometric: 0 < probability < 1e-9");
		if (!isfinite(p) || p < 0.0 || p > 1.0)
			return dist_fail(err, "Geometric: probability not in [0, 1]");
		return 0;
	}
	case DAITA_DIST_PARETO:
		if (!(d->p.pareto.scale > 0.0))
			return dist_fail(err, "Pareto: scale <= 0 or NaN");
		if (!(d->p.pareto.shape > 0.0))
			return dist_fail(err, "Pareto: shape <= 0 or NaN");
		return 0;
	case DAITA_DIST_POISSON: {
		double l = d->p.poisson.lambda;

		if (!isfinite(l))
			return dist_fail(err, "Poisson: lambda not finite");
		if (!(l > 0.0))
			return dist_fail(err, "Poisson: lambda <= 0");
		if (l > DIST_POISSON_MAX_LAMBDA)
			return dist_fail(err, "Poisson: lambda > 1.844e19");
		return 0;
	}
	case DAITA_DIST_WEIBULL:
		if (!(d->p.weibull.scale > 0.0))
			return dist_fail(err, "Weibull: scale <= 0 or NaN");
		if (!(d->p.weibull.shape > 0.0))
			return dist_fail(err, "Weibull: shape <= 0 or NaN");
		return 0;
	case DAITA_DIST_GAMMA:
		if (!(d->p.gamma.scale > 0.0))
			return dist_fail(err, "Gamma: scale <= 0 or NaN");
		if (!(d->p.gamma.shape > 0.0))
			return dist_fail(err, "Gamma: shape <= 0 or NaN");
		return 0;
	case DAITA_DIST_BETA:
		if (!(d->p.beta.alpha > 0.0))
			return dist_fail(err, "Beta: alpha <= 0 or NaN");
		if (!(d->p.beta.beta > 0.0))
			return dist_fail(err, "Beta: beta <= 0 or NaN");
		return 0;
	}
	return dist_fail(err, "unknown distribution type");
}

/* Prefixes a dist error with where the dist sits, keeping the reason. */
static int dist_check(const struct daita_dist *d, uint32_t state, const char *where, char *err)
{
	char sub[DAITA_ERR_LEN];

	if (daita_dist_validate(d, sub) == 0)
		return 0;
	/* sub is "validate: <reason>"; re-wrap as "validate: state N <where>: <reason>". */
	daita_set_err(err, "validate", "state %u %s: %s", state, where,
		      sub + strlen("validate: "));
	return -1;
}

static int action_check(const struct daita_action *a, uint32_t state, char *err)
{
	switch (a->kind) {
	case DAITA_ACTION_CANCEL:
		if ((unsigned)a->timer > DAITA_TIMER_ALL) {
			daita_set_err(err, "validate", "state %u: bad Cancel timer", state);
			return -1;
		}
		return 0;
	case DAITA_ACTION_SEND_PADDING:
		return dist_check(&a->timeout, state, "SendPadding timeout", err) ||
				       (a->has_limit &&
					dist_check(&a->limit, state, "SendPadding limit", err))
			       ? -1
			       : 0;
	case DAITA_ACTION_BLOCK_OUTGOING:
		return dist_check(&a->timeout, state, "BlockOutgoing timeout", err) ||
				       dist_check(&a->duration, state, "BlockOutgoing duration",
						  err) ||
				       (a->has_limit &&
					dist_check(&a->limit, state, "BlockOutgoing limit", err))
			       ? -1
			       : 0;
	case DAITA_ACTION_UPDATE_TIMER:
		return dist_check(&a->duration, state, "UpdateTimer duration", err) ||
				       (a->has_limit &&
					dist_check(&a->limit, state, "UpdateTimer limit", err))
			       ? -1
			       : 0;
	}
	daita_set_err(err, "validate", "state %u: bad action kind", state);
	return -1;
}

/* One transition list. seen[] is a bitmap over num_states + 2 slots (the two pseudo-states
 * last); it is all-zero on entry and left all-zero, so duplicate detection is linear. */
static int trans_check(const struct daita_trans_list *l, uint32_t num_states, uint8_t *seen,
		       uint32_t state, unsigned ev, char *err)
{
	float sum = 0.0f;
	uint32_t i;
	int rc = -1;

	if (l->len && !l->items) {
		daita_set_err(err, "validate", "state %u %s: missing items", state,
			      daita_event_name(ev));
		return -1;
	}
	for (i = 0; i < l->len; i++) {
		uint32_t t = l->items[i].next_state;
		float p = l->items[i].probability;
		uint32_t slot;

		if (t < num_states)
			slot = t;
		else if (t == DAITA_STATE_SIGNAL)
			slot = num_states;
		else if (t == DAITA_STATE_END)
			slot = num_states + 1;
		else {
			daita_set_err(err, "validate", "state %u %s: target %u out of range",
				      state, daita_event_name(ev), t);
			goto out;
		}
		if (seen[slot / 8] & (1u << (slot % 8))) {
			daita_set_err(err, "validate", "state %u %s: duplicate target %u", state,
				      daita_event_name(ev), t);
			goto out;
		}
		seen[slot / 8] |= (uint8_t)(1u << (slot % 8));
		if (p <= 0.0f || p > 1.0f) {
			daita_set_err(err, "validate", "state %u %s: probability %.9g not in (0, 1]",
				      state, daita_event_name(ev), (double)p);
			goto out;
		}
		/* Sum in binary32 like the reference; the cast forces f32 rounding even where
		 * the compiler evaluates float expressions in wider precision. */
		sum = (float)(sum + p);
	}
	if (sum <= 0.0f || sum > 1.0f) {
		daita_set_err(err, "validate", "state %u %s: probability sum %.17g not in (0, 1]",
			      state, daita_event_name(ev), (double)sum);
		goto out;
	}
	rc = 0;
out:
	/* Clear exactly the bits this list set (the first i items, plus item i if it was
	 * marked before failing; clearing a never-set in-range bit is harmless). */
	for (uint32_t j = 0; j <= i && j < l->len; j++) {
		uint32_t t = l->items[j].next_state;
		uint32_t slot = t < num_states		  ? t
				: t == DAITA_STATE_SIGNAL ? num_states
				: t == DAITA_STATE_END	  ? num_states + 1
							  : UINT32_MAX;

		if (slot != UINT32_MAX)
			seen[slot / 8] &= (uint8_t)~(1u << (slot % 8));
	}
	return rc;
}

static int state_check(const struct daita_state *s, uint32_t idx, uint32_t num_states,
		       uint8_t *seen, char *err)
{
	for (unsigned ev = 0; ev < DAITA_EVENT_NUM; ev++) {
		if (s->trans[ev].present &&
		    trans_check(&s->trans[ev], num_states, seen, idx, ev, err))
			return -1;
	}
	if (s->has_action && action_check(&s->action, idx, err))
		return -1;
	for (int c = 0; c < 2; c++) {
		const struct daita_counter *ct = &s->counter[c];

		if (!s->has_counter[c])
			continue;
		if ((unsigned)ct->operation > DAITA_OP_SET) {
			daita_set_err(err, "validate", "state %u: bad counter operation", idx);
			return -1;
		}
		if (ct->has_dist &&
		    dist_check(&ct->dist, idx, c == 0 ? "counter A" : "counter B", err))
			return -1;
	}
	return 0;
}

int daita_machine_validate(const struct daita_machine *m, char *err)
{
	uint8_t *seen;
	int rc = -1;

	if (m->max_padding_frac < 0.0 || m->max_padding_frac > 1.0) {
		daita_set_err(err, "validate", "max_padding_frac outside [0, 1]");
		return -1;
	}
	if (m->max_blocking_frac < 0.0 || m->max_blocking_frac > 1.0) {
		daita_set_err(err, "validate", "max_blocking_frac outside [0, 1]");
		return -1;
	}
	if (m->num_states == 0) {
		daita_set_err(err, "validate", "no states");
		return -1;
	}
	if (m->num_states > DAITA_STATE_MAX) {
		daita_set_err(err, "validate", "too many states (%u > %u)", m->num_states,
			      DAITA_STATE_MAX);
		return -1;
	}
	if (!m->states) {
		daita_set_err(err, "validate", "missing states");
		return -1;
	}
	seen = calloc(((size_t)m->num_states + 2 + 7) / 8, 1);
	if (!seen) {
		daita_set_err(err, "validate", "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < m->num_states; i++) {
		if (state_check(&m->states[i], i, m->num_states, seen, err))
			goto out;
	}
	rc = 0;
out:
	free(seen);
	return rc;
}
