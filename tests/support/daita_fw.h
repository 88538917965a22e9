/* Fixtures of the Maybenot framework tests (tests/unit/test_daita_framework_*.c): machines
 * built as structs (probability-1 transitions, constant distributions) and a driver that
 * triggers events at synthetic times and checks the scheduled actions. */
#ifndef WGTUN_DAITA_FW_H
#define WGTUN_DAITA_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daita/framework.h"
#include "test.h"

/* ---- building machines as structs ---- */

#define TM_MAX_STATES 8
#define TM_MAX_TRANS 64

struct tmachine {
	struct daita_machine m;
	struct daita_state s[TM_MAX_STATES];
	struct daita_trans t[TM_MAX_TRANS];
	size_t nt;
};

void tm_init(struct tmachine *tm, uint64_t allowed_padding, double max_padding_frac,
	     uint64_t allowed_blocked_us, double max_blocking_frac, uint32_t nstates);
/* Appends Trans(next, p) to the list of (state, ev); a list's entries must be added
 * consecutively. */
void tm_trans(struct tmachine *tm, uint32_t state, enum daita_event ev, uint32_t next, float p);
/* The constant distribution v (uniform on [v, v]). */
struct daita_dist fw_cdist(double v);
struct daita_action *tm_action(struct tmachine *tm, uint32_t state, enum daita_action_kind kind);
struct daita_action *tm_pad(struct tmachine *tm, uint32_t state, double timeout, bool bypass,
			    bool replace);
struct daita_action *tm_block(struct tmachine *tm, uint32_t state, double timeout,
			      double duration, bool bypass, bool replace);
struct daita_action *tm_timer(struct tmachine *tm, uint32_t state, double duration,
			      bool replace);
void tm_limit(struct daita_action *a, double limit);
/* Counter c (0 = A, 1 = B). value < 0: no dist (the value 1). */
void tm_counter(struct tmachine *tm, uint32_t state, int c, enum daita_operation op,
		double value, bool copy);

/* ---- driving the framework ---- */

/* The framework's RNG in fw_new: test_rng_next on g_state (seeded 42 by fw_new). */
uint64_t fw_xoshiro_next(void *ctx);
extern test_rng fw_rng_state;

/* An RNG that always returns value and counts its draws. */
struct const_rng {
	uint64_t value;
	unsigned long draws;
};
uint64_t fw_const_next(void *ctx);

#define T0 WG_SEC(1000)
#define US(x) ((wg_time_ns)(x) * 1000ULL)

/* A framework over ms[0..n) with fractions pf/bf at now; aborts the test if it fails. */
struct daita_framework *fw_new(const struct daita_machine *ms, size_t n, double pf, double bf,
			       wg_time_ns now);
struct daita_trigger_event fw_ev(enum daita_trigger_kind k, uint32_t m);

/* What the last trig_n returned, and its time (the base of the actions' `at`). */
extern size_t fw_nout;
extern struct daita_trigger_action fw_out[DAITA_FRAMEWORK_MAX_MACHINES];
extern wg_time_ns fw_now;

void fw_trig_n(struct daita_framework *fw, const struct daita_trigger_event *ev, size_t n,
	    wg_time_ns now);
void fw_trig(struct daita_framework *fw, enum daita_trigger_kind k, uint32_t m, wg_time_ns now);

/* Checks machine m's scheduled action field by field and that it is in the output list of
 * the last trig_n; a failure is reported at file:line (the caller's). */
void fw_check_action(const char *file, int line, struct daita_framework *fw, uint32_t m,
		  enum daita_action_kind kind, uint64_t timeout, uint64_t duration, bool bypass,
		  bool replace, enum daita_timer timer);

#define NONE(fw, m)                                                                        \
	CHECK_MSG(daita_framework_action(fw, m) == NULL, "machine %d: unexpected action", (int)(m))
#define PAD(fw, m, t, by, re)                                                              \
	fw_check_action(__FILE__, __LINE__, fw, m, DAITA_ACTION_SEND_PADDING, t, 0, by, re, 0)
#define BLOCK(fw, m, t, d, by, re)                                                         \
	fw_check_action(__FILE__, __LINE__, fw, m, DAITA_ACTION_BLOCK_OUTGOING, t, d, by, re, 0)
#define TIMER(fw, m, d, re)                                                                \
	fw_check_action(__FILE__, __LINE__, fw, m, DAITA_ACTION_UPDATE_TIMER, 0, d, false, re, 0)
#define CANCEL(fw, m, tm)                                                                  \
	fw_check_action(__FILE__, __LINE__, fw, m, DAITA_ACTION_CANCEL, 0, 0, false, false, tm)

/* Machine m's info (a failed call is a failed CHECK). */
struct daita_machine_info fw_info(struct daita_framework *fw, size_t m);

#endif
