#include "test.h"

#include "keyref.h"

#include <stdarg.h>
#include <stdlib.h>

unsigned long test_checks;
unsigned long test_failures;

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	test_failures++;
	if (test_failures > 50)
		return; /* keep the log readable */
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void test_fail_mem(const char *file, int line, const char *what, const void *a, const void *b,
		   size_t n)
{
	const uint8_t *x = a, *y = b;
	test_fail(file, line, "memory mismatch: %s (%zu bytes)", what, n);
	if (test_failures > 50)
		return;
	fprintf(stderr, "  got:  ");
	for (size_t i = 0; i < n && i < 64; i++)
		fprintf(stderr, "%02x", x[i]);
	fprintf(stderr, "\n  want: ");
	for (size_t i = 0; i < n && i < 64; i++)
		fprintf(stderr, "%02x", y[i]);
	fputc('\n', stderr);
}

int test_finish(const char *name)
{
	printf("%s: %lu checks, %lu failures\n", name, test_checks, test_failures);
	return test_failures == 0 ? 0 : 1;
}

long test_unhex(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = strlen(hex);
	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = keyref_hexval(hex[2 * i]), lo = keyref_hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

uint8_t *test_unhex_alloc(const char *hex, size_t *len)
{
	size_t cap = strlen(hex) / 2 + 1;
	uint8_t *out = malloc(cap);
	long n;
	if (!out)
		abort();
	n = test_unhex(out, cap, hex);
	if (n < 0) {
		fprintf(stderr, "bad hex in vector: %.40s\n", hex);
		abort();
	}
	*len = (size_t)n;
	return out;
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)sz + 1);
	if (!buf)
		goto out;
	if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[sz] = 0;
	if (len)
		*len = (size_t)sz;
out:
	fclose(f);
	return buf;
}

const char *test_vector_path(const char *rel)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", WGTUN_VECTORS, rel);
	return path;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void test_rng_seed(test_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) { /* splitmix64 to fill the state */
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

uint64_t test_rng_next(test_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void test_rng_bytes(test_rng *r, void *out, size_t n)
{
	uint8_t *p = out;
	while (n) {
		uint64_t v = test_rng_next(r);
		size_t k = n < 8 ? n : 8;
		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}
