/* The Maybenot framework under hostile machines and event streams. Input layout:
 *   u16 LE  L: length of a machine's bincode that follows
 *   L bytes  the machine (bincode; must decode and validate, else the input is skipped)
 *   1 byte   number of machines (1..4, copies of that machine) and the framework fractions
 *   then 3-byte records: event kind, machine id (may be out of range), time step.
 * A record with kind byte 0xff ends a batch (one trigger_events call); the rest are events.
 * Checked after every call: at most one action per machine, in machine order, each matching
 * daita_framework_action, kinds in range, durations within one day, `at` consistent with
 * now, runtime state in range; and no call does unbounded work (ASan/UBSan and libFuzzer's
 * timeout catch the rest). The RNG is a deterministic generator seeded from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daita/framework.h"

#define FW_FUZZ_MAX_BATCH 64
#define DAY_US 86400000000ULL

struct splitmix {
	uint64_t s;
};

static uint64_t splitmix_next(void *ctx)
{
	struct splitmix *m = ctx;
	uint64_t z = (m->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void check_output(struct daita_framework *fw, const struct daita_trigger_action *out,
			 size_t nout, size_t nm, wg_time_ns now)
{
	for (size_t k = 0; k < nout; k++) {
		const struct daita_trigger_action *a = &out[k];
		const struct daita_trigger_action *b = daita_framework_action(fw, a->machine);
		uint64_t base = a->kind == DAITA_ACTION_UPDATE_TIMER ? a->duration_us
				: a->kind == DAITA_ACTION_CANCEL     ? 0
								     : a->timeout_us;
		wg_time_ns want_at = now > UINT64_MAX - base * 1000u ? UINT64_MAX : now + base * 1000u;

		if (a->machine >= nm || (k > 0 && a->machine <= out[k - 1].machine))
			abort();
		if (!b || memcmp(a, b, sizeof(*a)) != 0)
			abort();
		if ((unsigned)a->kind > DAITA_ACTION_UPDATE_TIMER ||
		    (unsigned)a->timer > DAITA_TIMER_ALL)
			abort();
		if (a->timeout_us > DAY_US || a->duration_us > DAY_US || a->at != want_at)
			abort();
	}
	for (size_t m = 0; m < nm; m++) {
		struct daita_machine_info mi;
		bool listed = false;

		if (daita_framework_machine_info(fw, m, &mi) != 0)
			abort();
		for (size_t k = 0; k < nout; k++)
			listed |= out[k].machine == m;
		if (listed != (daita_framework_action(fw, m) != NULL))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daita_machine m, ms[4];
	struct daita_framework *fw = NULL;
	struct daita_trigger_event ev[FW_FUZZ_MAX_BATCH];
	struct daita_trigger_action out[4];
	struct splitmix sm;
	daita_rng rng = {splitmix_next, &sm};
	wg_time_ns now = 1000000000ULL;
	size_t len, pos, nm, nev = 0;
	uint8_t cfg;
	static const double fracs[4] = {0.0, 0.1, 0.5, 1.0};

	if (size < 3)
		return 0;
	len = (size_t)data[0] | (size_t)data[1] << 8;
	if (len > size - 3)
		return 0;
	if (daita_machine_decode_bincode(&m, data + 2, len, NULL) != 0)
		return 0;
	if (daita_machine_validate(&m, NULL) != 0)
		goto out;
	cfg = data[2 + len];
	nm = 1 + (cfg & 3);
	for (size_t i = 0; i < nm; i++)
		ms[i] = m; /* borrowed: the framework never writes to its machines */
	sm.s = 0x6d617962656e6f74ULL ^ size;
	if (daita_framework_new(&fw, ms, nm, fracs[(cfg >> 2) & 3], fracs[(cfg >> 4) & 3], now,
				rng, NULL) != 0)
		abort(); /* a validated machine and fractions in [0, 1] must be accepted */
	for (pos = 3 + len; pos + 3 <= size; pos += 3) {
		const uint8_t *r = data + pos;

		/* time steps up to ~16 s, and now and then backwards (the crate tolerates it) */
		if (r[2] == 0xff && now > 1000000)
			now -= 1000000;
		else
			now += (wg_time_ns)r[2] * r[2] * 256000u;
		if (r[0] == 0xff || nev == FW_FUZZ_MAX_BATCH) {
			size_t nout = daita_framework_trigger_events(fw, ev, nev, now, out, 4);

			check_output(fw, out, nout, nm, now);
			nev = 0;
		}
		if (r[0] != 0xff) {
			ev[nev].kind = (enum daita_trigger_kind)(r[0] % 11); /* 10: not a kind */
			ev[nev].machine = r[1] % 6;                         /* 4, 5: no machine */
			nev++;
		}
	}
	if (nev) {
		size_t nout = daita_framework_trigger_events(fw, ev, nev, now, out, 4);

		check_output(fw, out, nout, nm, now);
	}
	daita_framework_free(fw);
out:
	daita_machine_free(&m);
	return 0;
}
