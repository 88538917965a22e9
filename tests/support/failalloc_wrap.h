/* Allocation-failure injection shared by the sweeps (tests/unit/test_failalloc_rx.c,
 * tests/battery/failalloc.c): malloc/calloc/realloc wrapped at link time
 * (-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc) and OpenSSL's allocator hooks, all failing
 * when the program's own failalloc_should_fail() says so. Link tests/support/failalloc_wrap.c
 * into the program. */
#ifndef WGTUN_FAILALLOC_WRAP_H
#define WGTUN_FAILALLOC_WRAP_H

#include <stdbool.h>

/* Defined by the program: whether this allocation fails (it counts the allocations). */
bool failalloc_should_fail(void);

/* Routes OpenSSL's allocations through the injection; before OpenSSL allocates anything.
 * 0 if OpenSSL refused (it already allocated). */
int failalloc_hook_openssl(void);

#endif
