/* What every libFuzzer harness here starts with: libFuzzer's entry point and the invariant
 * check (a trap, so libFuzzer reports the input as a crash). */
#ifndef WGTUN_FUZZ_COMMON_H
#define WGTUN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define CHECK_OR_TRAP(c)                                                                   \
	do {                                                                               \
		if (!(c))                                                                  \
			__builtin_trap();                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
