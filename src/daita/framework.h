/* The Maybenot framework runtime (maybenot 2.2.x Framework): runs validated machines over a
 * stream of events and returns the actions (padding, blocking, timers) to take.
 *
 * Pure: no I/O, no clock (time is passed in as monotonic nanoseconds, wg_time_ns), no global
 * RNG (a daita_rng is injected), no allocation after daita_framework_new. Not thread-safe:
 * one framework is driven by one thread at a time (the caller's per-peer lock).
 *
 * Semantics follow reference/daita-maybenot.md §1.3-1.4 exactly: one action slot per machine
 * per trigger_events call (later events overwrite earlier actions), STATE_END/STATE_SIGNAL
 * pseudo-states with at most one signal round per call, LimitReached, CounterZero (each
 * counter at most once per call), per-state limits, allowed_* budgets then per-machine then
 * framework-wide padding/blocking fractions. */
#ifndef WGTUN_DAITA_FRAMEWORK_H
#define WGTUN_DAITA_FRAMEWORK_H

#include "daita/machine.h"
#include "daita/rng.h"
#include "proto/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most machines one framework runs (Mullvad sends a handful per connection). More is
 * refused with DAITA_FW_ETOO_MANY. */
#define DAITA_FRAMEWORK_MAX_MACHINES 64

/* What the integrator reports. Numbering = maybenot-ffi's MaybenotEventType (it differs from
 * the internal enum daita_event). `machine` is used by PADDING_SENT, BLOCKING_BEGIN,
 * TIMER_BEGIN and TIMER_END only; an out-of-range machine id is ignored like in Rust (the
 * global padding count / blocking start still happen), an unknown kind is ignored. */
enum daita_trigger_kind {
	DAITA_TRIG_NORMAL_RECV = 0,
	DAITA_TRIG_PADDING_RECV = 1,
	DAITA_TRIG_TUNNEL_RECV = 2,
	DAITA_TRIG_NORMAL_SENT = 3,
	DAITA_TRIG_PADDING_SENT = 4,
	DAITA_TRIG_TUNNEL_SENT = 5,
	DAITA_TRIG_BLOCKING_BEGIN = 6,
	DAITA_TRIG_BLOCKING_END = 7,
	DAITA_TRIG_TIMER_BEGIN = 8,
	DAITA_TRIG_TIMER_END = 9,
};

struct daita_trigger_event {
	enum daita_trigger_kind kind;
	uint32_t machine;
};

/* An action to take. Durations are whole microseconds as sampled (at most 86_400_000_000
 * µs, one day), and `at` is the deadline they give, on the clock passed to trigger_events:
 *   CANCEL:         timer;                          at = now (cancel right away)
 *   SEND_PADDING:   timeout_us, bypass, replace;    at = now + timeout (send the padding then)
 *   BLOCK_OUTGOING: timeout_us, duration_us, bypass, replace;
 *                                                   at = now + timeout (blocking starts then
 *                                                   and lasts duration_us)
 *   UPDATE_TIMER:   duration_us, replace;           at = now + duration (the timer expiry)
 * Unused fields are zero. `at` saturates at UINT64_MAX. */
struct daita_trigger_action {
	enum daita_action_kind kind;
	uint32_t machine;
	enum daita_timer timer;
	bool bypass;
	bool replace;
	uint64_t timeout_us;
	uint64_t duration_us;
	wg_time_ns at;
};

/* Errors of daita_framework_new (nothing is allocated on error). */
enum daita_fw_err {
	DAITA_FW_OK = 0,
	DAITA_FW_EINVAL = -1,          /* NULL pointers / RNG without a function */
	DAITA_FW_EPADDING_LIMIT = -2,  /* max_padding_frac not in [0, 1] (NaN too) */
	DAITA_FW_EBLOCKING_LIMIT = -3, /* max_blocking_frac not in [0, 1] */
	DAITA_FW_EMACHINE = -4,        /* a machine fails daita_machine_validate */
	DAITA_FW_ETOO_MANY = -5,       /* n > DAITA_FRAMEWORK_MAX_MACHINES */
	DAITA_FW_ENOMEM = -6,
};

struct daita_framework;

/* Creates a framework over machines[0..n) (n may be 0). The machines are BORROWED: they must
 * stay alive and unchanged until daita_framework_free. Machine ids are indices 0..n-1.
 * `now` is the start of the blocking-fraction clocks; rng is copied (its ctx is borrowed and
 * must outlive the framework). Samples the state-0 limits (RNG draws). 0 or a daita_fw_err;
 * err (may be NULL, DAITA_ERR_LEN bytes) gets the reason. */
int daita_framework_new(struct daita_framework **out, const struct daita_machine *machines,
			size_t n, double max_padding_frac, double max_blocking_frac, wg_time_ns now,
			daita_rng rng, char *err);
void daita_framework_free(struct daita_framework *fw); /* NULL-safe */

/* Processes events[0..n) in order at time `now` (should be monotonically non-decreasing).
 * Writes the resulting actions, at most one per machine and in machine order, to out[0..cap)
 * and returns how many were written. cap >= daita_framework_num_machines() never loses an
 * action; with a smaller cap the actions of the highest machine ids are dropped (still
 * readable with daita_framework_action until the next call). */
size_t daita_framework_trigger_events(struct daita_framework *fw,
				      const struct daita_trigger_event *events, size_t n,
				      wg_time_ns now, struct daita_trigger_action *out,
				      size_t cap);

size_t daita_framework_num_machines(const struct daita_framework *fw);
/* The action the last trigger_events call produced for machine m, or NULL. */
const struct daita_trigger_action *daita_framework_action(const struct daita_framework *fw,
							  size_t m);
/* True when every machine is in STATE_END (also for zero machines). */
bool daita_framework_all_machines_ended(const struct daita_framework *fw);

/* Runtime state of one machine, for tests, stats and debugging. */
struct daita_machine_info {
	uint32_t current_state; /* DAITA_STATE_END once ended */
	uint64_t state_limit;
	uint64_t padding_sent;
	uint64_t normal_sent;
	uint64_t blocking_duration_ns; /* completed blocking periods */
	wg_time_ns machine_start;
	uint64_t counter_a;
	uint64_t counter_b;
};
/* 0, or -1 if m is out of range (*info untouched). */
int daita_framework_machine_info(const struct daita_framework *fw, size_t m,
				 struct daita_machine_info *info);

#endif
