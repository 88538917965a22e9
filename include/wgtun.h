/* libwgtun: userspace WireGuard. The one installed header.
 *
 * Conventions: opaque handles, no global state, no global init, no signals, never prints
 * (logs through a callback). Every function says its thread-safety. Only wgtun_* symbols
 * are exported from the shared library. */
#ifndef WGTUN_H
#define WGTUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WGTUN_BUILDING)
#define WGTUN_API __attribute__((visibility("default")))
#else
#define WGTUN_API
#endif

#define WGTUN_KEY_LEN 32

/* Library version as "MAJOR.MINOR.PATCH". Thread-safe. */
WGTUN_API const char *wgtun_version(void);

#ifdef __cplusplus
}
#endif
#endif
