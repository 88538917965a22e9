/* bincode 1.x with DefaultOptions, as maybenot 2.x uses it for the Machine type:
 * little-endian, varint integers (< 251 one byte; 251/252/253 + u16/u32/u64 LE; 254 is the
 * u128 prefix and 255 is invalid, both rejected for u64), f32/f64 raw LE, bool and Option
 * tags strictly 0/1, enum variant index as varint u32, Vec = varint length + elements,
 * tuples and fixed arrays back to back, trailing bytes rejected.
 *
 * The structure has a fixed depth, so decoding needs no recursion. Every allocation is
 * bounded by the bytes still unread: a Vec claiming more elements than the remaining input
 * could hold (at the element's minimum encoded size) is rejected before allocating. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daita/bincode.h"
#include "daita/machine.h"

/* Minimum encoded sizes, used to bound Vec lengths before allocating. */
#define BC_MIN_TRANS 5 /* varint target (1) + f32 (4) */
#define BC_MIN_STATE 16 /* Option<Action> + 2 Option<Counter> + 13 Option<Vec> tags */

/* ---- output buffer and errors ---- */

void daita_wbuf_put(struct daita_wbuf *b, const void *p, size_t n)
{
	if (b->failed || n == 0)
		return;
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		uint8_t *nd;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		nd = realloc(b->data, ncap);
		if (!nd) {
			b->failed = true;
			return;
		}
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void daita_wbuf_puts(struct daita_wbuf *b, const char *s)
{
	daita_wbuf_put(b, s, strlen(s));
}

void daita_wbuf_byte(struct daita_wbuf *b, uint8_t c)
{
	daita_wbuf_put(b, &c, 1);
}

int daita_wbuf_finish(struct daita_wbuf *b, uint8_t **out, size_t *len)
{
	if (!b->failed && !b->data) {
		b->data = malloc(1);
		if (!b->data)
			b->failed = true;
	}
	if (b->failed) {
		daita_wbuf_free(b);
		return -1;
	}
	b->data[b->len] = 0; /* put() always leaves room for this NUL */
	*out = b->data;
	if (len)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return 0;
}

void daita_wbuf_free(struct daita_wbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void daita_set_err(char *err, const char *layer, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return;
	n = snprintf(err, DAITA_ERR_LEN, "%s: ", layer);
	if (n < 0 || n >= DAITA_ERR_LEN)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err + n, DAITA_ERR_LEN - (size_t)n, fmt, ap); /* may truncate */
	va_end(ap);
}

/* ---- reader ---- */

struct bc_reader {
	const uint8_t *p;
	size_t left;
	char *err;
};

static int bc_eof(struct bc_reader *r)
{
	daita_set_err(r->err, "bincode", "unexpected end of input");
	return -1;
}

static int bc_bytes(struct bc_reader *r, void *out, size_t n)
{
	if (r->left < n)
		return bc_eof(r);
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static uint64_t le_load(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | b[n];
	return v;
}

static int bc_u64(struct bc_reader *r, uint64_t *v)
{
	uint8_t tag, b[8];

	if (bc_bytes(r, &tag, 1))
		return -1;
	if (tag < 251) {
		*v = tag;
		return 0;
	}
	if (tag > 253) {
		daita_set_err(r->err, "bincode", "invalid varint prefix 0x%02x", tag);
		return -1;
	}
	/* Non-minimal encodings (e.g. FB 05 00) are accepted, as bincode 1.x does. */
	unsigned n = tag == 251 ? 2 : tag == 252 ? 4 : 8;
	if (bc_bytes(r, b, n))
		return -1;
	*v = le_load(b, n);
	return 0;
}

static int bc_f64(struct bc_reader *r, double *v)
{
	uint8_t b[8];
	uint64_t u;

	if (bc_bytes(r, b, 8))
		return -1;
	u = le_load(b, 8);
	memcpy(v, &u, 8);
	return 0;
}

static int bc_f32(struct bc_reader *r, float *v)
{
	uint8_t b[4];
	uint32_t u;

	if (bc_bytes(r, b, 4))
		return -1;
	u = (uint32_t)le_load(b, 4);
	memcpy(v, &u, 4);
	return 0;
}

static int bc_tag01(struct bc_reader *r, bool *v, const char *what)
{
	uint8_t t;

	if (bc_bytes(r, &t, 1))
		return -1;
	if (t > 1) {
		daita_set_err(r->err, "bincode", "invalid %s %u", what, t);
		return -1;
	}
	*v = t == 1;
	return 0;
}

static int bc_bool(struct bc_reader *r, bool *v)
{
	return bc_tag01(r, v, "bool");
}

static int bc_option(struct bc_reader *r, bool *v)
{
	return bc_tag01(r, v, "Option tag");
}

/* Enum variant index: a varint u32 that must be < n. */
static int bc_variant(struct bc_reader *r, unsigned n, const char *what, unsigned *out)
{
	uint64_t v;

	if (bc_u64(r, &v))
		return -1;
	if (v >= n) {
		daita_set_err(r->err, "bincode", "%s variant index %llu out of range", what,
			      (unsigned long long)v);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int bc_dist(struct bc_reader *r, struct daita_dist *d)
{
	unsigned t;
	int rc = -1;

	if (bc_variant(r, DAITA_DIST_TYPE_NUM, "DistType", &t))
		return -1;
	d->type = (enum daita_dist_type)t;
	switch (d->type) {
	case DAITA_DIST_UNIFORM:
		rc = bc_f64(r, &d->p.uniform.low) || bc_f64(r, &d->p.uniform.high);
		break;
	case DAITA_DIST_NORMAL:
		rc = bc_f64(r, &d->p.normal.mean) || bc_f64(r, &d->p.normal.stdev);
		break;
	case DAITA_DIST_SKEW_NORMAL:
		rc = bc_f64(r, &d->p.skew_normal.location) ||
		     bc_f64(r, &d->p.skew_normal.scale) || bc_f64(r, &d->p.skew_normal.shape);
		break;
	case DAITA_DIST_LOG_NORMAL:
		rc = bc_f64(r, &d->p.log_normal.mu) || bc_f64(r, &d->p.log_normal.sigma);
		break;
	case DAITA_DIST_BINOMIAL:
		rc = bc_u64(r, &d->p.binomial.trials) || bc_f64(r, &d->p.binomial.probability);
		break;
	case DAITA_DIST_GEOMETRIC:
		rc = bc_f64(r, &d->p.geometric.probability);
		break;
	case DAITA_DIST_PARETO:
		rc = bc_f64(r, &d->p.pareto.scale) || bc_f64(r, &d->p.pareto.shape);
		break;
	case DAITA_DIST_POISSON:
		rc = bc_f64(r, &d->p.poisson.lambda);
		break;
	case DAITA_DIST_WEIBULL:
		rc = bc_f64(r, &d->p.weibull.scale) || bc_f64(r, &d->p.weibull.shape);
		break;
	case DAITA_DIST_GAMMA:
		rc = bc_f64(r, &d->p.gamma.scale) || bc_f64(r, &d->p.gamma.shape);
		break;
	case DAITA_DIST_BETA:
		rc = bc_f64(r, &d->p.beta.alpha) || bc_f64(r, &d->p.beta.beta);
		break;
	}
	if (rc)
		return -1;
	return bc_f64(r, &d->start) || bc_f64(r, &d->max) ? -1 : 0;
}

static int bc_opt_dist(struct bc_reader *r, bool *has, struct daita_dist *d)
{
	if (bc_option(r, has))
		return -1;
	return *has ? bc_dist(r, d) : 0;
}

static int bc_action(struct bc_reader *r, struct daita_action *a)
{
	unsigned k;

	if (bc_variant(r, 4, "Action", &k))
		return -1;
	a->kind = (enum daita_action_kind)k;
	switch (a->kind) {
	case DAITA_ACTION_CANCEL: {
		unsigned t;

		if (bc_variant(r, 3, "Timer", &t))
			return -1;
		a->timer = (enum daita_timer)t;
		return 0;
	}
	case DAITA_ACTION_SEND_PADDING:
		return bc_bool(r, &a->bypass) || bc_bool(r, &a->replace) ||
				       bc_dist(r, &a->timeout) ||
				       bc_opt_dist(r, &a->has_limit, &a->limit)
			       ? -1
			       : 0;
	case DAITA_ACTION_BLOCK_OUTGOING:
		return bc_bool(r, &a->bypass) || bc_bool(r, &a->replace) ||
				       bc_dist(r, &a->timeout) || bc_dist(r, &a->duration) ||
				       bc_opt_dist(r, &a->has_limit, &a->limit)
			       ? -1
			       : 0;
	case DAITA_ACTION_UPDATE_TIMER:
		return bc_bool(r, &a->replace) || bc_dist(r, &a->duration) ||
				       bc_opt_dist(r, &a->has_limit, &a->limit)
			       ? -1
			       : 0;
	}
	return -1;
}

static int bc_counter(struct bc_reader *r, struct daita_counter *c)
{
	unsigned op;

	if (bc_variant(r, 3, "Operation", &op))
		return -1;
	c->operation = (enum daita_operation)op;
	return bc_opt_dist(r, &c->has_dist, &c->dist) || bc_bool(r, &c->copy) ? -1 : 0;
}

static int bc_trans_list(struct bc_reader *r, struct daita_trans_list *l, uint32_t state,
			 unsigned ev)
{
	uint64_t n, i;

	if (bc_option(r, &l->present))
		return -1;
	if (!l->present)
		return 0;
	if (bc_u64(r, &n))
		return -1;
	if (n > r->left / BC_MIN_TRANS)
		return bc_eof(r);
	l->len = (uint32_t)n; /* fits: n <= 1 MiB / 5 */
	if (n == 0)
		return 0;
	l->items = calloc((size_t)n, sizeof(*l->items));
	if (!l->items) {
		daita_set_err(r->err, "bincode", "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		uint64_t target;

		if (bc_u64(r, &target) || bc_f32(r, &l->items[i].probability))
			return -1;
		/* The format's usize could hold more, but no valid target exceeds u32::MAX
		 * (STATE_END); reject here rather than widen the model. */
		if (target > UINT32_MAX) {
			daita_set_err(r->err, "validate", "state %u %s: target %llu out of range",
				      state, daita_event_name(ev), (unsigned long long)target);
			return -1;
		}
		l->items[i].next_state = (uint32_t)target;
	}
	return 0;
}

static int bc_state(struct bc_reader *r, struct daita_state *s, uint32_t idx)
{
	unsigned ev;

	if (bc_option(r, &s->has_action) || (s->has_action && bc_action(r, &s->action)))
		return -1;
	for (int c = 0; c < 2; c++) {
		if (bc_option(r, &s->has_counter[c]) ||
		    (s->has_counter[c] && bc_counter(r, &s->counter[c])))
			return -1;
	}
	for (ev = 0; ev < DAITA_EVENT_NUM; ev++) {
		if (bc_trans_list(r, &s->trans[ev], idx, ev))
			return -1;
	}
	return 0;
}

static int bc_machine(struct bc_reader *r, struct daita_machine *m)
{
	uint64_t n, i;
	size_t cap = 0;

	if (bc_u64(r, &m->allowed_padding_packets) || bc_f64(r, &m->max_padding_frac) ||
	    bc_u64(r, &m->allowed_blocked_microsec) || bc_f64(r, &m->max_blocking_frac) ||
	    bc_u64(r, &n))
		return -1;
	if (n > r->left / BC_MIN_STATE)
		return bc_eof(r);
	/* Grow as states actually decode, so memory follows the input consumed rather
	 * than the claimed count. */
	for (i = 0; i < n; i++) {
		if (i == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct daita_state *ns;

			if (ncap > n)
				ncap = (size_t)n;
			ns = realloc(m->states, ncap * sizeof(*ns));
			if (!ns) {
				daita_set_err(r->err, "bincode", "out of memory");
				return -1;
			}
			memset(ns + cap, 0, (ncap - cap) * sizeof(*ns));
			m->states = ns;
			cap = ncap;
		}
		m->num_states = (uint32_t)(i + 1); /* so free() sees the partial state */
		if (bc_state(r, &m->states[i], (uint32_t)i))
			return -1;
	}
	m->num_states = (uint32_t)n;
	return 0;
}

int daita_machine_decode_bincode(struct daita_machine *out, const uint8_t *buf, size_t len,
				 char *err)
{
	struct bc_reader r = {.p = buf, .left = len, .err = err};

	memset(out, 0, sizeof(*out));
	if (bc_machine(&r, out))
		goto fail;
	if (r.left != 0) {
		daita_set_err(err, "bincode", "%zu trailing bytes", r.left);
		goto fail;
	}
	return 0;
fail:
	daita_machine_free(out);
	return -1;
}

/* ---- writer ---- */

static void bw_u64(struct daita_wbuf *b, uint64_t v)
{
	uint8_t t[9];
	unsigned n, i;

	/* Minimal form, as bincode writes it. */
	if (v < 251) {
		daita_wbuf_byte(b, (uint8_t)v);
		return;
	}
	if (v <= UINT16_MAX) {
		t[0] = 251;
		n = 2;
	} else if (v <= UINT32_MAX) {
		t[0] = 252;
		n = 4;
	} else {
		t[0] = 253;
		n = 8;
	}
	for (i = 0; i < n; i++)
		t[1 + i] = (uint8_t)(v >> (8 * i));
	daita_wbuf_put(b, t, 1 + n);
}

static void bw_f64(struct daita_wbuf *b, double v)
{
	uint64_t u;
	uint8_t t[8];

	memcpy(&u, &v, 8);
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(u >> (8 * i));
	daita_wbuf_put(b, t, 8);
}

static void bw_f32(struct daita_wbuf *b, float v)
{
	uint32_t u;
	uint8_t t[4];

	memcpy(&u, &v, 4);
	for (int i = 0; i < 4; i++)
		t[i] = (uint8_t)(u >> (8 * i));
	daita_wbuf_put(b, t, 4);
}

static void bw_bool(struct daita_wbuf *b, bool v)
{
	daita_wbuf_byte(b, v ? 1 : 0);
}

static int bw_dist(struct daita_wbuf *b, const struct daita_dist *d)
{
	if ((unsigned)d->type >= DAITA_DIST_TYPE_NUM)
		return -1;
	bw_u64(b, (uint64_t)d->type);
	switch (d->type) {
	case DAITA_DIST_UNIFORM:
		bw_f64(b, d->p.uniform.low);
		bw_f64(b, d->p.uniform.high);
		break;
	case DAITA_DIST_NORMAL:
		bw_f64(b, d->p.normal.mean);
		bw_f64(b, d->p.normal.stdev);
		break;
	case DAITA_DIST_SKEW_NORMAL:
		bw_f64(b, d->p.skew_normal.location);
		bw_f64(b, d->p.skew_normal.scale);
		bw_f64(b, d->p.skew_normal.shape);
		break;
	case DAITA_DIST_LOG_NORMAL:
		bw_f64(b, d->p.log_normal.mu);
		bw_f64(b, d->p.log_normal.sigma);
		break;
	case DAITA_DIST_BINOMIAL:
		bw_u64(b, d->p.binomial.trials);
		bw_f64(b, d->p.binomial.probability);
		break;
	case DAITA_DIST_GEOMETRIC:
		bw_f64(b, d->p.geometric.probability);
		break;
	case DAITA_DIST_PARETO:
		bw_f64(b, d->p.pareto.scale);
		bw_f64(b, d->p.pareto.shape);
		break;
	case DAITA_DIST_POISSON:
		bw_f64(b, d->p.poisson.lambda);
		break;
	case DAITA_DIST_WEIBULL:
		bw_f64(b, d->p.weibull.scale);
		bw_f64(b, d->p.weibull.shape);
		break;
	case DAITA_DIST_GAMMA:
		bw_f64(b, d->p.gamma.scale);
		bw_f64(b, d->p.gamma.shape);
		break;
	case DAITA_DIST_BETA:
		bw_f64(b, d->p.beta.alpha);
		bw_f64(b, d->p.beta.beta);
		break;
	}
	bw_f64(b, d->start);
	bw_f64(b, d->max);
	return 0;
}

static int bw_opt_dist(struct daita_wbuf *b, bool has, const struct daita_dist *d)
{
	bw_bool(b, has);
	return has ? bw_dist(b, d) : 0;
}

static int bw_action(struct daita_wbuf *b, const struct daita_action *a)
{
	bw_u64(b, (uint64_t)a->kind);
	switch (a->kind) {
	case DAITA_ACTION_CANCEL:
		if ((unsigned)a->timer > DAITA_TIMER_ALL)
			return -1;
		bw_u64(b, (uint64_t)a->timer);
		return 0;
	case DAITA_ACTION_SEND_PADDING:
		bw_bool(b, a->bypass);
		bw_bool(b, a->replace);
		return bw_dist(b, &a->timeout) || bw_opt_dist(b, a->has_limit, &a->limit) ? -1 : 0;
	case DAITA_ACTION_BLOCK_OUTGOING:
		bw_bool(b, a->bypass);
		bw_bool(b, a->replace);
		return bw_dist(b, &a->timeout) || bw_dist(b, &a->duration) ||
				       bw_opt_dist(b, a->has_limit, &a->limit)
			       ? -1
			       : 0;
	case DAITA_ACTION_UPDATE_TIMER:
		bw_bool(b, a->replace);
		return bw_dist(b, &a->duration) || bw_opt_dist(b, a->has_limit, &a->limit) ? -1
											      : 0;
	}
	return -1;
}

static int bw_state(struct daita_wbuf *b, const struct daita_state *s)
{
	bw_bool(b, s->has_action);
	if (s->has_action && bw_action(b, &s->action))
		return -1;
	for (int c = 0; c < 2; c++) {
		bw_bool(b, s->has_counter[c]);
		if (!s->has_counter[c])
			continue;
		if ((unsigned)s->counter[c].operation > DAITA_OP_SET)
			return -1;
		bw_u64(b, (uint64_t)s->counter[c].operation);
		if (bw_opt_dist(b, s->counter[c].has_dist, &s->counter[c].dist))
			return -1;
		bw_bool(b, s->counter[c].copy);
	}
	for (unsigned ev = 0; ev < DAITA_EVENT_NUM; ev++) {
		const struct daita_trans_list *l = &s->trans[ev];

		bw_bool(b, l->present);
		if (!l->present)
			continue;
		if (l->len && !l->items)
			return -1;
		bw_u64(b, l->len);
		for (uint32_t i = 0; i < l->len; i++) {
			bw_u64(b, l->items[i].next_state);
			bw_f32(b, l->items[i].probability);
		}
	}
	return 0;
}

int daita_machine_encode_bincode(const struct daita_machine *m, uint8_t **out, size_t *len)
{
	struct daita_wbuf b = {0};

	*out = NULL;
	*len = 0;
	if (m->num_states && !m->states)
		return -1;
	bw_u64(&b, m->allowed_padding_packets);
	bw_f64(&b, m->max_padding_frac);
	bw_u64(&b, m->allowed_blocked_microsec);
	bw_f64(&b, m->max_blocking_frac);
	bw_u64(&b, m->num_states);
	for (uint32_t i = 0; i < m->num_states; i++) {
		if (bw_state(&b, &m->states[i])) {
			daita_wbuf_free(&b);
			return -1;
		}
	}
	return daita_wbuf_finish(&b, out, len);
}
