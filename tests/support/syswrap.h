/* System-call failure injection by the linker: a test linked with -Wl,--wrap=sendmmsg (and
 * --wrap=write for the TUN side) gets these wraps, which pass every call through until the
 * test arms a rule. All fields are read by the device's loop thread and set by the test
 * thread: use the syswrap_* calls (atomics), never the variables directly. */
#ifndef WGTUN_SYSWRAP_H
#define WGTUN_SYSWRAP_H

#include <stdbool.h>

/* Which sendmmsg messages a rule fails. */
typedef enum {
	SYSWRAP_MSG_DATA = 1, /* first byte of the first datagram is 4 (a WireGuard data message) */
	SYSWRAP_MSG_GSO = 2,  /* the message carries a UDP_SEGMENT control message */
} syswrap_match;

/* From now on, sendmmsg messages matching `match` fail with err (0 disarms). A call whose
 * first message matches returns -1/err; a call with a matching message later sends the ones
 * before it and returns their count (what the kernel does when a later message fails). */
void syswrap_send_fail(syswrap_match match, int err);

/* Counters since the start: sendmmsg calls, messages refused by the rule, and messages that
 * carried UDP_SEGMENT (GSO), whether refused or not. */
unsigned long syswrap_send_calls(void);
unsigned long syswrap_send_refused(void);
unsigned long syswrap_send_gso_msgs(void);

/* From now on, write() on fd fails with err (err 0 or fd -1 disarms). */
void syswrap_write_fail(int fd, int err);
/* write() calls refused by the rule so far. */
unsigned long syswrap_write_refused(void);

#endif
