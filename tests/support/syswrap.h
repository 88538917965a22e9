/* System-call failure injection by the linker: a test linked with -Wl,--wrap= for sendmmsg,
 * write, writev, ioctl and setsockopt (all five: CMakeLists.txt's syswrap list) gets these
 * wraps, which pass every call through until the test arms a rule. All fields are read by the device's loop thread and set by the test
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

/* From now on, writev() on fd fails with err (err 0 or fd -1 disarms): the vnet-header TUN's
 * write. Counters: all writev calls, those refused, and the bytes they carried (vnet header
 * included). */
void syswrap_writev_fail(int fd, int err);
unsigned long syswrap_writev_calls(void);
unsigned long syswrap_writev_refused(void);
unsigned long syswrap_writev_refused_bytes(void);

/* From now on, ioctl(fd, req, flags) fails with err when flags has a bit of mask (mask 0:
 * every call with req); err 0 disarms. For TUNSETOFFLOAD: what an older kernel does with
 * flags it does not know (EINVAL). */
void syswrap_ioctl_fail(unsigned long req, unsigned long mask, int err);
unsigned long syswrap_ioctl_refused(void);

/* SOL_SOCKET options below this are counted (and the last int value kept) by name. */
#define SYSWRAP_SOCKOPT_SLOTS 64
/* From now on, setsockopt(SOL_SOCKET, name) fails with err for each name whose bit
 * (1ULL << name) is in names (err 0 disarms): e.g. the FORCE buffer options refused with
 * EPERM, as without CAP_NET_ADMIN. */
void syswrap_sockopt_fail(unsigned long long names, int err);
unsigned long syswrap_sockopt_refused(void);
/* setsockopt(SOL_SOCKET, name) calls so far, refused or not; *last (if not NULL) = the int
 * value of the latest. */
unsigned long syswrap_sockopt_seen(int name, int *last);

#endif
