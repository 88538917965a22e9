/* Maybenot machine strings: the input is tried both as a machine string (the full parser)
 * and as raw bincode (so the fuzzer reaches the bincode and validation layers without having
 * to forge zlib checksums). Whatever parses must serialize, parse back and print the same
 * canonical JSON; anything else aborts. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daita_machine m;
	char err[DAITA_ERR_LEN];

	if (daita_machine_parse(&m, (const char *)data, size, err) == 0) {
		check_round_trip(&m);
		daita_machine_free(&m);
	} else if (m.states || m.num_states || !err[0]) {
		abort(); /* a rejection leaves nothing behind and says why */
	}
	if (daita_machine_decode_bincode(&m, data, size, err) == 0) {
		if (daita_machine_validate(&m, err) == 0)
			check_round_trip(&m);
		daita_machine_free(&m);
	} else if (m.states || m.num_states) {
		abort();
	}
	return 0;
}
