/* Maybenot machine strings: the input is tried both as a machine string (the full parser)
 * and as raw bincode (so the fuzzer reaches the bincode and validation layers without having
 * to forge zlib checksums). Whatever parses must serialize, parse back and print the same
 * canonical JSON; anything else aborts. Also asserts that what a parse allocates is bounded
 * by the (inflated, at most 1 MiB) bincode size, so no input can make the parser allocate in
 * proportion to a length it merely claims. Seeds: every string of tests/vectors/maybenot
 * (valid and invalid) and every valid machine's raw bincode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daita/machine.h"

static char *to_json(const struct daita_machine *m)
{
	char *j = NULL;

	if (daita_machine_to_json(m, &j, NULL) != 0)
		abort();
	return j;
}

/* m is valid: string and bincode round trips give the same JSON. */
static void check_round_trip(const struct daita_machine *m)
{
	struct daita_machine a, b;
	char err[DAITA_ERR_LEN], *s = NULL, *j0 = to_json(m), *j1, *j2;
	uint8_t *bin = NULL;
	size_t slen = 0, blen = 0;

	if (daita_machine_serialize(m, &s, &slen) != 0)
		abort();
	if (daita_machine_parse(&a, s, slen, err) != 0) {
		fprintf(stderr, "reparse failed: %s\n", err);
		abort();
	}
	j1 = to_json(&a);
	if (daita_machine_encode_bincode(m, &bin, &blen) != 0 ||
	    daita_machine_decode_bincode(&b, bin, blen, err) != 0)
		abort();
	j2 = to_json(&b);
	if (strcmp(j0, j1) != 0 || strcmp(j0, j2) != 0) {
		fprintf(stderr, "round trip differs:\n%s\n%s\n%s\n", j0, j1, j2);
		abort();
	}
	daita_machine_free(&a);
	daita_machine_free(&b);
	free(s);
	free(bin);
	free(j0);
	free(j1);
	free(j2);
}

/* What a decoded machine holds is bounded by the bincode bytes it came from: every state
 * takes at least 16 bytes and every Trans at least 5, and the parser allocates exactly
 * num_states states and one item per Trans. For a machine string the bincode is the inflated
 * data, at most DAITA_MAX_DECOMPRESSED_SIZE bytes whatever the string claims. */
static void check_allocation_bound(const struct daita_machine *m, size_t bincode_len)
{
	size_t trans = 0;

	if (bincode_len > DAITA_MAX_DECOMPRESSED_SIZE)
		abort();
	if ((size_t)m->num_states > bincode_len / 16)
		abort();
	for (uint32_t i = 0; i < m->num_states; i++)
		for (unsigned ev = 0; ev < DAITA_EVENT_NUM; ev++)
			trans += m->states[i].trans[ev].len;
	if (trans > bincode_len / 5)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daita_machine m;
	char err[DAITA_ERR_LEN];

	if (daita_machine_parse(&m, (const char *)data, size, err) == 0) {
		check_allocation_bound(&m, DAITA_MAX_DECOMPRESSED_SIZE);
		check_round_trip(&m);
		daita_machine_free(&m);
	} else if (m.states || m.num_states || !err[0]) {
		abort(); /* a rejection leaves nothing behind and says why */
	}
	if (daita_machine_decode_bincode(&m, data, size, err) == 0) {
		if (size <= DAITA_MAX_DECOMPRESSED_SIZE)
			check_allocation_bound(&m, size);
		if (daita_machine_validate(&m, err) == 0)
			check_round_trip(&m);
		daita_machine_free(&m);
	} else if (m.states || m.num_states) {
		abort();
	}
	return 0;
}
