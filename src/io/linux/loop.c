#define _GNU_SOURCE
#include "io/linux/loop.h"

#include "crypto/crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Tag reserved for the wake eventfd; io_loop_add refuses it. */
#define IO_LOOP_WAKE_TAG UINT64_MAX

struct io_loop {
	int epfd;
	int wakefd;
};

io_loop *io_loop_new(void)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = IO_LOOP_WAKE_TAG };
	io_loop *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &e) < 0)
		goto fail;
	return l;
fail:
	err = errno;
	io_loop_free(l);
	errno = err;
	return NULL;
}

void io_loop_free(io_loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l);
}

int io_loop_add(io_loop *l, int fd, uint64_t tag)
{
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = tag };

	if (tag == IO_LOOP_WAKE_TAG || fd < 0)
		return -EINVAL;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

int io_loop_del(io_loop *l, int fd)
{
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* Milliseconds to sleep, rounded up so a deadline is never woken for early (an early
 * wake would find nothing due and spin). */
static int io_timeout_ms(wg_time_ns deadline)
{
	wg_time_ns now, left;

	if (deadline == WG_TIME_NEVER)
		return -1;
	now = io_now();
	if (deadline <= now)
		return 0;
	left = (deadline - now + WG_MS(1) - 1) / WG_MS(1);
	return left > 24 * 3600 * 1000ULL ? 24 * 3600 * 1000 : (int)left;
}

int io_loop_wait(io_loop *l, wg_time_ns deadline, wg_time_ns spin_until,
		 io_event ev[IO_LOOP_MAX_EVENTS], bool *woken, uint64_t *polls, bool *polled)
{
	struct epoll_event e[IO_LOOP_MAX_EVENTS];
	int n = 0, out = 0;

	*woken = false;
	*polled = false;
	if (spin_until > deadline)
		spin_until = deadline;
	/* The spin is bounded by the clock alone: it ends even if nothing ever arrives, so an
	 * idle device still ends up in the blocking wait below. */
	while (spin_until && io_now() < spin_until) {
		n = epoll_wait(l->epfd, e, IO_LOOP_MAX_EVENTS, 0);
		(*polls)++;
		if (n != 0 && !(n < 0 && errno == EINTR))
			break;
		n = 0;
	}
	if (n > 0)
		*polled = true;
	else if (n == 0)
		do
			n = epoll_wait(l->epfd, e, IO_LOOP_MAX_EVENTS, io_timeout_ms(deadline));
		while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (e[i].data.u64 == IO_LOOP_WAKE_TAG) {
			uint64_t v;
			*woken = true;
			if (read(l->wakefd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another wait already consumed it; nothing to do. */
			}
			continue;
		}
		ev[out].tag = e[i].data.u64;
		ev[out].readable = (e[i].events & EPOLLIN) != 0;
		ev[out].error = (e[i].events & (EPOLLERR | EPOLLHUP)) != 0;
		out++;
	}
	return out;
}

void io_loop_wake(io_loop *l)
{
	uint64_t one = 1;

	if (write(l->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the loop is already due to wake. */
	}
}

wg_time_ns io_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* +1 keeps 0 free as "never happened" for callers that use it so. */
	return (wg_time_ns)ts.tv_sec * WG_NS_PER_SEC + (wg_time_ns)ts.tv_nsec + 1;
}

uint64_t io_wall_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * WG_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

int io_rng_fill(void *ctx, void *out, size_t n)
{
	(void)ctx;
	/* A failing CSPRNG is not retried into silence: the caller's operation fails (out is
	 * wiped by crypto_random, never handed out). */
	return crypto_random(out, n) == 0 ? 0 : -1;
}
