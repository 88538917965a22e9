/* Machine -> canonical JSON (tests/vectors/maybenot/SCHEMA.md): compact, keys in bincode
 * order, integers in plain decimal, floats as the shortest decimal that reads back to the
 * same binary value, laid out like Python's repr (fixed notation for decimal exponents
 * -4..15, else d.ddde+XX), non-finite values as the strings "NaN"/"Infinity"/"-Infinity". */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daita/bincode.h"
#include "daita/machine.h"

static const char *const event_names[DAITA_EVENT_NUM] = {
	"NormalRecv", "PaddingRecv", "TunnelRecv", "NormalSent", "PaddingSent",
	"TunnelSent", "BlockingBegin", "BlockingEnd", "LimitReached", "CounterZero",
	"TimerBegin", "TimerEnd", "Signal",
};

static const char *const dist_names[DAITA_DIST_TYPE_NUM] = {
	"Uniform", "Normal", "SkewNormal", "LogNormal", "Binomial", "Geometric",
	"Pareto", "Poisson", "Weibull", "Gamma", "Beta",
};

static const char *const timer_names[] = {"Action", "Internal", "All"};
static const char *const op_names[] = {"Increment", "Decrement", "Set"};

const char *daita_event_name(unsigned ev)
{
	return ev < DAITA_EVENT_NUM ? event_names[ev] : "?";
}

const char *daita_dist_type_name(unsigned t)
{
	return t < DAITA_DIST_TYPE_NUM ? dist_names[t] : "?";
}

/* Room for "-d.dddddddddddddddde-308" and the fixed forms (at most 17 digits plus 16
 * zeros of padding and the sign/point). */
#define NUM_BUF 48

/* Lays out `digits` (no leading/trailing zeros, 1..17 of them) with decimal point position
 * decpt (value = 0.DIGITS * 10^decpt) the way Python's float repr does. */
static void layout_repr(char *out, bool neg, const char *digits, int decpt)
{
	int nd = (int)strlen(digits);
	char *o = out;

	if (neg)
		*o++ = '-';
	if (decpt <= -4 || decpt > 16) {
		int e = decpt - 1;

		*o++ = digits[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, (size_t)nd - 1);
			o += nd - 1;
		}
		snprintf(o, NUM_BUF - (size_t)(o - out), "e%c%02d", e < 0 ? '-' : '+',
			 e < 0 ? -e : e);
		return;
	}
	if (decpt <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -decpt; i++)
			*o++ = '0';
		memcpy(o, digits, (size_t)nd);
		o += nd;
	} else if (decpt >= nd) {
		memcpy(o, digits, (size_t)nd);
		o += nd;
		for (int i = 0; i < decpt - nd; i++)
			*o++ = '0';
		*o++ = '.';
		*o++ = '0';
	} else {
		memcpy(o, digits, (size_t)decpt);
		o += decpt;
		*o++ = '.';
		memcpy(o, digits + decpt, (size_t)(nd - decpt));
		o += nd - decpt;
	}
	*o = 0;
}

/* From "%.*e" output ("d.ddde+XX", sign stripped) get the digit string and decpt. Any
 * non-digit before the 'e' is the radix character, which is ',' under some LC_NUMERIC
 * settings of an embedding program; the JSON always gets '.' from layout_repr. */
static void split_sci(const char *sci, char *digits, int *decpt)
{
	const char *e = strchr(sci, 'e');
	int n = 0;

	for (const char *p = sci; p < e; p++)
		if (*p >= '0' && *p <= '9')
			digits[n++] = *p;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = 0;
	*decpt = (int)strtol(e + 1, NULL, 10) + 1; /* e: the exponent printed by %e */
}

static bool nonfinite(char *out, double v)
{
	if (isnan(v))
		strcpy(out, "\"NaN\"");
	else if (isinf(v))
		strcpy(out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		return false;
	return true;
}

static void fmt_f64(char *out, double v)
{
	char sci[NUM_BUF], digits[24];
	int decpt;

	if (nonfinite(out, v))
		return;
	if (v == 0.0) {
		strcpy(out, signbit(v) ? "-0.0" : "0.0");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec - 1, fabs(v));
		if (strtod(sci, NULL) == fabs(v))
			break;
	}
	split_sci(sci, digits, &decpt);
	layout_repr(out, signbit(v) != 0, digits, decpt);
}

static void fmt_f32(char *out, float v)
{
	char sci[NUM_BUF], digits[24];
	float a = fabsf(v);
	int decpt;

	if (nonfinite(out, (double)v))
		return;
	if (v == 0.0f) {
		strcpy(out, signbit(v) ? "-0.0" : "0.0");
		return;
	}
	/* Shortest digits that read back to the same binary32 both directly (strtof) and
	 * through binary64 (double rounding), so either kind of reader gets the value. */
	for (int prec = 1; prec <= 9; prec++) {
		snprintf(sci, sizeof(sci), "%.*e", prec - 1, (double)a);
		if (strtof(sci, NULL) == a && (float)strtod(sci, NULL) == a)
			break;
	}
	split_sci(sci, digits, &decpt);
	layout_repr(out, signbit(v) != 0, digits, decpt);
}

static void put_f64(struct daita_wbuf *b, double v)
{
	char s[NUM_BUF];

	fmt_f64(s, v);
	daita_wbuf_puts(b, s);
}

static void put_u64(struct daita_wbuf *b, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	daita_wbuf_puts(b, s);
}

static void put_key_f64(struct daita_wbuf *b, const char *key, double v, bool comma)
{
	if (comma)
		daita_wbuf_byte(b, ',');
	daita_wbuf_byte(b, '"');
	daita_wbuf_puts(b, key);
	daita_wbuf_puts(b, "\":");
	put_f64(b, v);
}

static void put_dist(struct daita_wbuf *b, const struct daita_dist *d)
{
	daita_wbuf_puts(b, "{\"type\":\"");
	daita_wbuf_puts(b, daita_dist_type_name((unsigned)d->type));
	daita_wbuf_puts(b, "\",\"params\":{");
	switch (d->type) {
	case DAITA_DIST_UNIFORM:
		put_key_f64(b, "low", d->p.uniform.low, false);
		put_key_f64(b, "high", d->p.uniform.high, true);
		break;
	case DAITA_DIST_NORMAL:
		put_key_f64(b, "mean", d->p.normal.mean, false);
		put_key_f64(b, "stdev", d->p.normal.stdev, true);
		break;
	case DAITA_DIST_SKEW_NORMAL:
		put_key_f64(b, "location", d->p.skew_normal.location, false);
		put_key_f64(b, "scale", d->p.skew_normal.scale, true);
		put_key_f64(b, "shape", d->p.skew_normal.shape, true);
		break;
	case DAITA_DIST_LOG_NORMAL:
		put_key_f64(b, "mu", d->p.log_normal.mu, false);
		put_key_f64(b, "sigma", d->p.log_normal.sigma, true);
		break;
	case DAITA_DIST_BINOMIAL:
		daita_wbuf_puts(b, "\"trials\":");
		put_u64(b, d->p.binomial.trials);
		put_key_f64(b, "probability", d->p.binomial.probability, true);
		break;
	case DAITA_DIST_GEOMETRIC:
		put_key_f64(b, "probability", d->p.geometric.probability, false);
		break;
	case DAITA_DIST_PARETO:
		put_key_f64(b, "scale", d->p.pareto.scale, false);
		put_key_f64(b, "shape", d->p.pareto.shape, true);
		break;
	case DAITA_DIST_POISSON:
		put_key_f64(b, "lambda", d->p.poisson.lambda, false);
		break;
	case DAITA_DIST_WEIBULL:
		put_key_f64(b, "scale", d->p.weibull.scale, false);
		put_key_f64(b, "shape", d->p.weibull.shape, true);
		break;
	case DAITA_DIST_GAMMA:
		put_key_f64(b, "scale", d->p.gamma.scale, false);
		put_key_f64(b, "shape", d->p.gamma.shape, true);
		break;
	case DAITA_DIST_BETA:
		put_key_f64(b, "alpha", d->p.beta.alpha, false);
		put_key_f64(b, "beta", d->p.beta.beta, true);
		break;
	}
	daita_wbuf_byte(b, '}');
	put_key_f64(b, "start", d->start, true);
	put_key_f64(b, "max", d->max, true);
	daita_wbuf_byte(b, '}');
}

static void put_limit(struct daita_wbuf *b, const struct daita_action *a)
{
	daita_wbuf_puts(b, ",\"limit\":");
	if (a->has_limit)
		put_dist(b, &a->limit);
	else
		daita_wbuf_puts(b, "null");
}

static void put_flags(struct daita_wbuf *b, const struct daita_action *a)
{
	daita_wbuf_puts(b, a->bypass ? ",\"bypass\":true" : ",\"bypass\":false");
	daita_wbuf_puts(b, a->replace ? ",\"replace\":true" : ",\"replace\":false");
}

static int put_action(struct daita_wbuf *b, const struct daita_action *a)
{
	switch (a->kind) {
	case DAITA_ACTION_CANCEL:
		if ((unsigned)a->timer > DAITA_TIMER_ALL)
			return -1;
		daita_wbuf_puts(b, "{\"kind\":\"Cancel\",\"timer\":\"");
		daita_wbuf_puts(b, timer_names[a->timer]);
		daita_wbuf_puts(b, "\"}");
		return 0;
	case DAITA_ACTION_SEND_PADDING:
		daita_wbuf_puts(b, "{\"kind\":\"SendPadding\"");
		put_flags(b, a);
		daita_wbuf_puts(b, ",\"timeout\":");
		put_dist(b, &a->timeout);
		break;
	case DAITA_ACTION_BLOCK_OUTGOING:
		daita_wbuf_puts(b, "{\"kind\":\"BlockOutgoing\"");
		put_flags(b, a);
		daita_wbuf_puts(b, ",\"timeout\":");
		put_dist(b, &a->timeout);
		daita_wbuf_puts(b, ",\"duration\":");
		put_dist(b, &a->duration);
		break;
	case DAITA_ACTION_UPDATE_TIMER:
		daita_wbuf_puts(b, a->replace ? "{\"kind\":\"UpdateTimer\",\"replace\":true"
					      : "{\"kind\":\"UpdateTimer\",\"replace\":false");
		daita_wbuf_puts(b, ",\"duration\":");
		put_dist(b, &a->duration);
		break;
	default:
		return -1;
	}
	put_limit(b, a);
	daita_wbuf_byte(b, '}');
	return 0;
}

static int put_counter(struct daita_wbuf *b, bool has, const struct daita_counter *c)
{
	if (!has) {
		daita_wbuf_puts(b, "null");
		return 0;
	}
	if ((unsigned)c->operation > DAITA_OP_SET)
		return -1;
	daita_wbuf_puts(b, "{\"operation\":\"");
	daita_wbuf_puts(b, op_names[c->operation]);
	daita_wbuf_puts(b, "\",\"dist\":");
	if (c->has_dist)
		put_dist(b, &c->dist);
	else
		daita_wbuf_puts(b, "null");
	daita_wbuf_puts(b, c->copy ? ",\"copy\":true}" : ",\"copy\":false}");
	return 0;
}

static int put_state(struct daita_wbuf *b, const struct daita_state *s)
{
	bool first = true;

	daita_wbuf_puts(b, "{\"action\":");
	if (!s->has_action)
		daita_wbuf_puts(b, "null");
	else if (put_action(b, &s->action))
		return -1;
	daita_wbuf_puts(b, ",\"counter\":[");
	if (put_counter(b, s->has_counter[0], &s->counter[0]))
		return -1;
	daita_wbuf_byte(b, ',');
	if (put_counter(b, s->has_counter[1], &s->counter[1]))
		return -1;
	daita_wbuf_puts(b, "],\"transitions\":{");
	for (unsigned ev = 0; ev < DAITA_EVENT_NUM; ev++) {
		const struct daita_trans_list *l = &s->trans[ev];

		if (!l->present)
			continue;
		if (l->len && !l->items)
			return -1;
		if (!first)
			daita_wbuf_byte(b, ',');
		first = false;
		daita_wbuf_byte(b, '"');
		daita_wbuf_puts(b, event_names[ev]);
		daita_wbuf_puts(b, "\":[");
		for (uint32_t i = 0; i < l->len; i++) {
			char num[NUM_BUF];

			daita_wbuf_puts(b, i ? ",[" : "[");
			put_u64(b, l->items[i].next_state);
			daita_wbuf_byte(b, ',');
			fmt_f32(num, l->items[i].probability);
			daita_wbuf_puts(b, num);
			daita_wbuf_byte(b, ']');
		}
		daita_wbuf_byte(b, ']');
	}
	daita_wbuf_puts(b, "}}");
	return 0;
}

int daita_machine_to_json(const struct daita_machine *m, char **out, size_t *len)
{
	struct daita_wbuf b = {0};
	uint8_t *s = NULL;

	*out = NULL;
	if (len)
		*len = 0;
	if (m->num_states && !m->states)
		return -1;
	daita_wbuf_puts(&b, "{\"allowed_padding_packets\":");
	put_u64(&b, m->allowed_padding_packets);
	put_key_f64(&b, "max_padding_frac", m->max_padding_frac, true);
	daita_wbuf_puts(&b, ",\"allowed_blocked_microsec\":");
	put_u64(&b, m->allowed_blocked_microsec);
	put_key_f64(&b, "max_blocking_frac", m->max_blocking_frac, true);
	daita_wbuf_puts(&b, ",\"states\":[");
	for (uint32_t i = 0; i < m->num_states; i++) {
		if (i)
			daita_wbuf_byte(&b, ',');
		if (put_state(&b, &m->states[i])) {
			daita_wbuf_free(&b);
			return -1;
		}
	}
	daita_wbuf_puts(&b, "]}");
	if (daita_wbuf_finish(&b, &s, len))
		return -1;
	*out = (char *)s;
	return 0;
}
