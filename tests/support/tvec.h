/* Hex members of JSON test vectors (tests/vectors/). */
#ifndef WGTUN_TVEC_H
#define WGTUN_TVEC_H

#include <stddef.h>
#include <stdint.h>

#include "tjson.h"

/* Decodes member `key` of obj; *len gets its length. Caller frees. Aborts on bad hex. */
uint8_t *tvec_hex(const tjson *obj, const char *key, size_t *len);
/* Decodes member `key` of obj into 32 bytes; anything else is a failed CHECK. */
void tvec_hex32(uint8_t out[32], const tjson *obj, const char *key);

#endif
