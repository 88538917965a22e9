/* Allocation-failure wrappers (see failalloc_wrap.h). */
#include "failalloc_wrap.h"

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n) { return failalloc_should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return failalloc_should_fail() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return failalloc_should_fail() ? NULL : __real_realloc(p, n); }

static void *ossl_malloc(size_t n, const char *f, int l)
{
	(void)f, (void)l;
	return failalloc_should_fail() ? NULL : __real_malloc(n);
}
static void *ossl_realloc(void *p, size_t n, const char *f, int l)
{
	(void)f, (void)l;
	return failalloc_should_fail() ? NULL : __real_realloc(p, n);
}
static void ossl_free(void *p, const char *f, int l)
{
	(void)f, (void)l;
	free(p);
}

int failalloc_hook_openssl(void)
{
	return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
}
