/* Minimal test harness: CHECK records a failure and keeps going; the test's main returns
 * test_finish(), which prints a summary and gives the exit code ctest reads. */
#ifndef WGTUN_TEST_H
#define WGTUN_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern unsigned long test_checks;
extern unsigned long test_failures;

void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int test_finish(const char *name);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		test_checks++;                                                             \
		if (!(cond))                                                               \
			test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                 \
	} while (0)

#define CHECK_MSG(cond, ...)                                                               \
	do {                                                                               \
		test_checks++;                                                             \
		if (!(cond))                                                               \
			test_fail(__FILE__, __LINE__, __VA_ARGS__);                        \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                 \
	do {                                                                               \
		long long _a = (long long)(a), _b = (long long)(b);                        \
		test_checks++;                                                             \
		if (_a != _b)                                                              \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                 \
	do {                                                                               \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                           \
		test_checks++;                                                             \
		if (_a != _b)                                                              \
			test_fail(__FILE__, __LINE__, "%s == %s: %" PRIu64 " != %" PRIu64, #a, \
				  #b, _a, _b);                                             \
	} while (0)

#define CHECK_MEM(a, b, n)                                                                 \
	do {                                                                               \
		test_checks++;                                                             \
		if (memcmp((a), (b), (n)) != 0)                                            \
			test_fail_mem(__FILE__, __LINE__, #a, (const void *)(a), (const void *)(b), (n)); \
	} while (0)

void test_fail_mem(const char *file, int line, const char *what, const void *a, const void *b,
		   size_t n);

/* Hex helpers for vectors: returns decoded length, or -1 if not valid hex or too long. */
long test_unhex(uint8_t *out, size_t cap, const char *hex);
/* Malloc'd decode; *len set. Aborts the test on bad hex. */
uint8_t *test_unhex_alloc(const char *hex, size_t *len);
/* Reads a whole file (NUL-terminated); NULL on error. Caller frees. */
char *test_read_file(const char *path, size_t *len);
/* Path of a file under tests/vectors (static buffer). */
const char *test_vector_path(const char *rel);

/* Deterministic PRNG for tests (xoshiro256**), seedable. */
typedef struct {
	uint64_t s[4];
} test_rng;
void test_rng_seed(test_rng *r, uint64_t seed);
uint64_t test_rng_next(test_rng *r);
void test_rng_bytes(test_rng *r, void *out, size_t n);

#endif
