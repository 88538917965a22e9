/* Helpers shared by test_noise.c, test_cookie.c: an injectable RNG that first hands out
 * scripted bytes (fixed ephemerals, nonces, secrets from the vectors), then seeded bytes. */
#ifndef WGTUN_TEST_NOISE_TESTUTIL_H
#define WGTUN_TEST_NOISE_TESTUTIL_H

#include <stdlib.h>

#include "proto/common.h"
#include "test.h"
#include "tjson.h"

typedef struct {
	uint8_t script[256];
	size_t len, pos;
	test_rng fallback;
} script_rng_ctx;

static int script_rng_fill(void *ctx, void *out, size_t n)
{
	script_rng_ctx *s = ctx;

	if (s->pos + n <= s->len) {
		memcpy(out, s->script + s->pos, n);
		s->pos += n;
		return 0;
	}
	test_rng_bytes(&s->fallback, out, n);
	return 0;
}

static inline wg_rng script_rng_init(script_rng_ctx *s, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	test_rng_seed(&s->fallback, seed);
	return (wg_rng){.fill = script_rng_fill, .ctx = s};
}

/* Appends bytes the next fill calls return, in order. */
static inline void script_rng_push(script_rng_ctx *s, const uint8_t *p, size_t n)
{
	if (s->len + n > sizeof(s->script))
		abort();
	memcpy(s->script + s->len, p, n);
	s->len += n;
}

/* Decodes obj[key] (hex) into out, which must be exactly n bytes long. */
static inline void hex_field(uint8_t *out, size_t n, const tjson *obj, const char *key)
{
	long got = test_unhex(out, n, tjson_str(obj, key));

	CHECK_MSG(got == (long)n, "field %s: %ld bytes, want %zu", key, got, n);
}

#endif
