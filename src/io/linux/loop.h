/* Linux event loop pieces for the device: an epoll set with deadline-based waits (no
 * periodic ticker), an eventfd to wake the loop from other threads, and the clocks and RNG
 * the protocol core gets injected. */
#ifndef WGTUN_IO_LINUX_LOOP_H
#define WGTUN_IO_LINUX_LOOP_H

#include "proto/common.h"

#include <stdbool.h>
#include <stdint.h>

#define IO_LOOP_MAX_EVENTS 8 /* events returned per wait (the device watches <= 5 fds) */

typedef struct {
	uint64_t tag;   /* what io_loop_add was given */
	bool readable;
	bool error;     /* EPOLLERR or EPOLLHUP */
} io_event;

typedef struct io_loop io_loop;

/* NULL with errno set on failure. */
io_loop *io_loop_new(void);
/* Closes the epoll and wake fds (not the watched fds). NULL is fine. */
void io_loop_free(io_loop *l);
/* Watch fd for readability (level-triggered). 0 / -errno. Not thread-safe against wait. */
int io_loop_add(io_loop *l, int fd, uint64_t tag);
/* Stop watching fd (before closing it). 0 / -errno. */
int io_loop_del(io_loop *l, int fd);
/* Sleeps until an fd is ready, io_loop_wake() was called, or the monotonic clock reaches
 * deadline (WG_TIME_NEVER = no timeout). Returns the number of events written to ev
 * (0 = deadline or wake), or -errno (EINTR is retried inside). A wake is consumed here and
 * reported through *woken. Busy poll: until spin_until (0 = not at all; never past
 * deadline) it first polls without sleeping, so an answer that comes back within the window
 * costs no wakeup; *polls counts those polls, *polled says the events came from one. */
int io_loop_wait(io_loop *l, wg_time_ns deadline, wg_time_ns spin_until,
		 io_event ev[IO_LOOP_MAX_EVENTS], bool *woken, uint64_t *polls, bool *polled);
/* Makes the current or next io_loop_wait return. Thread-safe, async-signal-safe. */
void io_loop_wake(io_loop *l);

/* CLOCK_MONOTONIC in ns (never 0). */
wg_time_ns io_now(void);
/* CLOCK_REALTIME in ns since the epoch. */
uint64_t io_wall_now(void *ctx);
/* wg_rng fill backed by the OS CSPRNG (crypto_random). */
int io_rng_fill(void *ctx, void *out, size_t n); /* 0, or -1 (out unusable) */

#endif
