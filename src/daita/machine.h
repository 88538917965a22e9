/* Maybenot v2 machines: the data model, and the machine-string codec
 * ("02" + base64(zlib(bincode(machine)))) with the validation of maybenot 2.2.x.
 * Field order of every struct below mirrors the bincode layout (see
 * tests/vectors/maybenot/SCHEMA.md). Pure code: no I/O, no clock, no RNG. */
#ifndef WGTUN_DAITA_MACHINE_H
#define WGTUN_DAITA_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- constants (maybenot constants.rs) ---- */
#define DAITA_VERSION 2
/* Hard cap on the inflated (bincode) size of a machine string: larger is rejected. */
#define DAITA_MAX_DECOMPRESSED_SIZE (1u << 20)
/* Longest machine string we look at (bytes). Real ones are well under 2 KiB; the crate reads
 * the zlib stream through a 32 KiB buffer in one read() and cannot take much more than
 * 44 KiB of base64. Longer strings (e.g. padded with empty deflate blocks) are rejected
 * before anything is allocated for them. */
#define DAITA_MAX_STRING_LEN (4u << 20)
#define DAITA_EVENT_NUM 13
#define DAITA_STATE_END UINT32_MAX            /* 4294967295: machine stops forever */
#define DAITA_STATE_SIGNAL (UINT32_MAX - 1u)  /* 4294967294: raise Signal in the others */
#define DAITA_STATE_MAX 100000u               /* max states per machine */
#define DAITA_STATE_LIMIT_MAX UINT64_MAX      /* state limit when the action has no limit */
#define DAITA_DIST_MIN_PROBABILITY 1e-9
#define DAITA_MAX_SAMPLED_TIMEOUT 86400000000.0        /* µs, one day */
#define DAITA_MAX_SAMPLED_TIMER_DURATION 86400000000.0 /* µs */
#define DAITA_MAX_SAMPLED_BLOCK_DURATION 86400000000.0 /* µs */
/* Room for an error reason such as "state 12 NormalSent: target 7 out of range". */
#define DAITA_ERR_LEN 160

/* Internal event; the discriminant is also the index into daita_state.trans. */
enum daita_event {
	DAITA_EV_NORMAL_RECV = 0,
	DAITA_EV_PADDING_RECV = 1,
	DAITA_EV_TUNNEL_RECV = 2,
	DAITA_EV_NORMAL_SENT = 3,
	DAITA_EV_PADDING_SENT = 4,
	DAITA_EV_TUNNEL_SENT = 5,
	DAITA_EV_BLOCKING_BEGIN = 6,
	DAITA_EV_BLOCKING_END = 7,
	DAITA_EV_LIMIT_REACHED = 8,
	DAITA_EV_COUNTER_ZERO = 9,
	DAITA_EV_TIMER_BEGIN = 10,
	DAITA_EV_TIMER_END = 11,
	DAITA_EV_SIGNAL = 12,
};

enum daita_dist_type {
	DAITA_DIST_UNIFORM = 0,
	DAITA_DIST_NORMAL = 1,
	DAITA_DIST_SKEW_NORMAL = 2,
	DAITA_DIST_LOG_NORMAL = 3,
	DAITA_DIST_BINOMIAL = 4,
	DAITA_DIST_GEOMETRIC = 5,
	DAITA_DIST_PARETO = 6,
	DAITA_DIST_POISSON = 7,
	DAITA_DIST_WEIBULL = 8,
	DAITA_DIST_GAMMA = 9,
	DAITA_DIST_BETA = 10,
};
#define DAITA_DIST_TYPE_NUM 11

/* A distribution: sample = clamp(raw + start) (see reference §1.1). Only the params member
 * named after `type` is meaningful. Gamma is stored (scale, shape) as in the format. */
struct daita_dist {
	enum daita_dist_type type;
	union {
		struct { double low, high; } uniform;
		struct { double mean, stdev; } normal;
		struct { double location, scale, shape; } skew_normal;
		struct { double mu, sigma; } log_normal;
		struct { uint64_t trials; double probability; } binomial;
		struct { double probability; } geometric;
		struct { double scale, shape; } pareto;
		struct { double lambda; } poisson;
		struct { double scale, shape; } weibull;
		struct { double scale, shape; } gamma;
		struct { double alpha, beta; } beta;
	} p;
	double start;
	double max; /* 0 = unclamped */
};

enum daita_timer { DAITA_TIMER_ACTION = 0, DAITA_TIMER_INTERNAL = 1, DAITA_TIMER_ALL = 2 };

enum daita_action_kind {
	DAITA_ACTION_CANCEL = 0,
	DAITA_ACTION_SEND_PADDING = 1,
	DAITA_ACTION_BLOCK_OUTGOING = 2,
	DAITA_ACTION_UPDATE_TIMER = 3,
};

/* Flat form of the Action enum. Meaningful fields per kind:
 *   CANCEL:         timer
 *   SEND_PADDING:   bypass, replace, timeout, limit
 *   BLOCK_OUTGOING: bypass, replace, timeout, duration, limit
 *   UPDATE_TIMER:   replace, duration, limit
 * Unused fields are zero. */
struct daita_action {
	enum daita_action_kind kind;
	enum daita_timer timer;
	bool bypass;
	bool replace;
	struct daita_dist timeout;
	struct daita_dist duration;
	bool has_limit;
	struct daita_dist limit;
};

enum daita_operation { DAITA_OP_INCREMENT = 0, DAITA_OP_DECREMENT = 1, DAITA_OP_SET = 2 };

struct daita_counter {
	enum daita_operation operation;
	bool has_dist; /* no dist: the value 1 */
	struct daita_dist dist;
	bool copy; /* use the other counter's (pre-update) value */
};

/* Trans(next_state, probability). next_state is a state index or STATE_END/STATE_SIGNAL. */
struct daita_trans {
	uint32_t next_state;
	float probability;
};

/* Option<Vec<Trans>>: present == false is None. */
struct daita_trans_list {
	bool present;
	uint32_t len;
	struct daita_trans *items; /* malloc'd (NULL when len == 0) */
};

struct daita_state {
	bool has_action;
	struct daita_action action;           /* taken on entering the state */
	bool has_counter[2];                  /* [0] = counter A, [1] = counter B */
	struct daita_counter counter[2];
	struct daita_trans_list trans[DAITA_EVENT_NUM]; /* indexed by enum daita_event */
};

struct daita_machine {
	uint64_t allowed_padding_packets;
	double max_padding_frac;
	uint64_t allowed_blocked_microsec;
	double max_blocking_frac;
	uint32_t num_states;        /* 1..DAITA_STATE_MAX when valid */
	struct daita_state *states; /* malloc'd; state 0 is the start state */
};

/* Name of an event / a dist type as in SCHEMA.md ("NormalRecv", "SkewNormal");
 * "?" if out of range. */
const char *daita_event_name(unsigned ev);
const char *daita_dist_type_name(unsigned t);

/* ---- lifecycle ---- */
/* Frees everything a parsed (or cloned) machine owns and zeroes *m. NULL-safe. */
void daita_machine_free(struct daita_machine *m);
/* Deep copy. 0 on success, -1 on allocation failure (*dst zeroed). */
int daita_machine_clone(struct daita_machine *dst, const struct daita_machine *src);

/* ---- parsing: every function returns 0 on success, -1 on rejection with a short reason
 * ("base64: invalid character", ...) in err[DAITA_ERR_LEN] (err may be NULL). On failure *out
 * is zeroed and owns nothing. All allocations are bounded by the input size. ---- */

/* A full machine string (not NUL-terminated necessarily; len bytes). Also validates. */
int daita_machine_parse(struct daita_machine *out, const char *str, size_t len, char *err);
/* Just the bincode layer (the inflated bytes); does NOT validate. */
int daita_machine_decode_bincode(struct daita_machine *out, const uint8_t *buf, size_t len,
				 char *err);
/* maybenot Machine::validate (fracs, state count, transitions, distributions). */
int daita_machine_validate(const struct daita_machine *m, char *err);
/* The distribution parameter rules (rand_distr 0.5 + maybenot caps). */
int daita_dist_validate(const struct daita_dist *d, char *err);

/* ---- serialization: 0 on success, -1 on allocation failure or on a machine that cannot
 * be encoded (e.g. a bad enum value). Output buffers are malloc'd, caller frees. ---- */
/* bincode bytes, the exact inverse of daita_machine_decode_bincode. */
int daita_machine_encode_bincode(const struct daita_machine *m, uint8_t **out, size_t *len);
/* The full "02..." machine string, NUL-terminated (len excludes the NUL). */
int daita_machine_serialize(const struct daita_machine *m, char **out, size_t *len);
/* Canonical compact JSON per SCHEMA.md, NUL-terminated. */
int daita_machine_to_json(const struct daita_machine *m, char **out, size_t *len);

#endif
