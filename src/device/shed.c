/* Kernel-side load shedding (loop thread, config lock held shared).
 *
 * Under a handshake flood most of the daemon's remaining cost is the kernel copying every
 * flood datagram out of the socket (recvmmsg), only for the rate limiter to drop most of them.
 * While a socket is under load (handshake.c's rule, per socket: a message from it found the
 * queue deep, or the kernel shed as many from it in a period) it gets a classic BPF
 * filter (udp_shed_attach) that passes data messages, cookie replies and handshake messages
 * from the configured peers' endpoints, and passes other handshake messages with probability
 * p, so the kernel drops the excess before the copy. Each DEVICE_SHED_PERIOD the socket's p is
 * judged again from what was measured: p = DEVICE_SHED_HEADROOM x (messages that passed mac1
 * and a rate limiter, see handshake.c) / (messages taken off the socket + those the kernel
 * dropped), rounded up to sixteenths and never below 1/4 (a new or roamed peer's handshake
 * needs two of its retries, 5 s apart, to pass: see docs/battery.md). Below 1/4 only while
 * userspace cannot keep up: in a period in which the queue overflowed, whatever passed beyond
 * what the loop handles was dropped after the copy anyway, so p may fall to
 * DEVICE_SHED_OVER_HEADROOM x handled / arrived (at least 1/64): a stranger's chance to be
 * answered, p x the share of the queue's intake it handles, stays handled / arrived, and the
 * kernel drops the excess before the copy instead. The filter is replaced only when p or
 * the endpoints changed, and removed as soon as the load ends (the loop wakes once at
 * under_load_until for that while a filter is on; nothing runs while idle). A failed
 * setsockopt leaves that socket unfiltered (the behaviour before) until the load ends,
 * counted shed_filter_error. */
#define _GNU_SOURCE
#include "device/device_impl.h"

#include <string.h>

static int shed_family(unsigned i)
{
	return i == 0 ? AF_INET : AF_INET6;
}

/* The configured peers' endpoints of one family, deduplicated, at most UDP_SHED_MAX_ALLOW (in
 * peer creation order; later peers get p like anyone else). */
static unsigned shed_allowlist(device *dev, int family, udp_ip *out)
{
	unsigned n = 0;

	for (peer *p = dev->first; p && n < UDP_SHED_MAX_ALLOW; p = p->next) {
		udp_ip a;
		bool have = false;

		memset(&a, 0, sizeof(a));
		pthread_mutex_lock(&p->lock);
		if (p->endpoint.sa.sa_family == family) {
			if (family == AF_INET)
				memcpy(a.b, &p->endpoint.in4.sin_addr, 4);
			else
				memcpy(a.b, &p->endpoint.in6.sin6_addr, 16);
			have = true;
		}
		pthread_mutex_unlock(&p->lock);
		for (unsigned k = 0; have && k < n; k++)
			if (memcmp(&out[k], &a, sizeof(a)) == 0)
				have = false;
		if (have)
			out[n++] = a;
	}
	return n;
}

/* Attaches (or atomically replaces) socket i's filter with p = steps / DEVICE_SHED_STEPS. */
static void shed_attach(device *dev, unsigned i, int fd, unsigned steps, const udp_ip *allow,
			unsigned nallow, wg_time_ns now)
{
	device_shed *s = &dev->shed[i];
	/* steps/256 of 2^32, as a bound on SKF_AD_RANDOM (steps < 256: fits in 32 bits). */
	uint32_t keep = (uint32_t)(((uint64_t)steps << 32) / DEVICE_SHED_STEPS);
	int r = udp_shed_attach(fd, shed_family(i), keep, allow, nallow);

	if (r < 0) {
		DEVICE_STAT_INC(dev, shed_filter_error);
		if (!s->on) /* log once per load period, not per retry */
			device_log(dev, DEVICE_LOG_ERROR,
				   "socket filter failed (%d): shedding off until the load ends", r);
		s->failed = true;
		s->since = now; /* a failed replacement is retried once a period, not every round */
		return; /* a replaced filter that failed keeps the old one: still removed later */
	}
	DEVICE_STAT_INC(dev, shed_filter_set);
	device_log(dev, DEVICE_LOG_DEBUG, "shedding %s: p=%u/%u, %u endpoints always pass",
		   i == 0 ? "v4" : "v6", steps, DEVICE_SHED_STEPS, nallow);
	if (!s->on && udp_socket_drops(fd, &s->drops0) < 0)
		s->drops0 = 0;
	s->on = true;
	s->steps = steps;
	s->nallow = nallow;
	memcpy(s->allow, allow, nallow * sizeof(*allow));
	s->since = now;
	s->in = s->useful = s->handled = s->overflow = 0;
}

/* What the kernel dropped on socket i since the last look (filter and buffer alike). */
static uint32_t shed_dropped(device *dev, unsigned i, int fd)
{
	device_shed *s = &dev->shed[i];
	uint32_t d, n;

	if (udp_socket_drops(fd, &d) < 0)
		return 0;
	n = d - s->drops0; /* 32-bit counter: unsigned wrap is the right difference */
	s->drops0 = d;
	__atomic_fetch_add(&dev->stats.kernel_shed, n, __ATOMIC_RELAXED);
	return n;
}

static void shed_detach(device *dev, unsigned i, int fd)
{
	device_shed *s = &dev->shed[i];

	(void)shed_dropped(dev, i, fd);
	if (udp_shed_detach(fd) < 0)
		DEVICE_STAT_INC(dev, shed_filter_error); /* nothing attached after all */
	else
		DEVICE_STAT_INC(dev, shed_filter_cleared);
	device_log(dev, DEVICE_LOG_DEBUG, "shedding %s: off (load over)", i == 0 ? "v4" : "v6");
	s->on = false;
}

/* p for the next period from the last one's figures, in 1/DEVICE_SHED_STEPS. */
static unsigned shed_steps(const device_shed *s, uint64_t arrived)
{
	uint64_t steps, over;

	if (arrived == 0)
		return DEVICE_SHED_TOP_STEPS;
	steps = ((uint64_t)s->useful * DEVICE_SHED_HEADROOM * DEVICE_SHED_STEPS + arrived - 1) /
		arrived;
	steps = (steps + DEVICE_SHED_ROUND - 1) / DEVICE_SHED_ROUND * DEVICE_SHED_ROUND;
	if (steps < DEVICE_SHED_MIN_STEPS)
		steps = DEVICE_SHED_MIN_STEPS;
	/* p = 1 has no use for a filter; the top step keeps it attached at 15/16 so the load
	 * is still measured (it ends by the queue rule if the flood is gone). */
	if (steps > DEVICE_SHED_TOP_STEPS)
		steps = DEVICE_SHED_TOP_STEPS;
	if (!s->overflow)
		return (unsigned)steps;
	/* The queue overflowed: take in what the loop handled, times the headroom. */
	over = ((uint64_t)s->handled * DEVICE_SHED_OVER_HEADROOM * DEVICE_SHED_STEPS + arrived - 1) /
	       arrived;
	if (over < DEVICE_SHED_OVER_MIN_STEPS)
		over = DEVICE_SHED_OVER_MIN_STEPS;
	return (unsigned)(over < steps ? over : steps);
}

static void shed_socket(device *dev, unsigned i, int fd, wg_time_ns now)
{
	device_shed *s = &dev->shed[i];
	udp_ip allow[UDP_SHED_MAX_ALLOW];
	unsigned nallow, steps;

	if (s->on && now - s->since >= DEVICE_SHED_PERIOD) {
		uint32_t dropped = shed_dropped(dev, i, fd);

		device_log(dev, DEVICE_LOG_DEBUG,
			   "shedding %s: in %u, past the rate limiter %u, handled %u, queue full %u, "
			   "kernel dropped %u",
			   i == 0 ? "v4" : "v6", s->in, s->useful, s->handled, s->overflow, dropped);

		/* The queue no longer fills while the kernel sheds, so the shed messages keep the
		 * load on: as many as would have made the queue deep (threshold) in one period. */
		if (dropped >= DEVICE_UNDER_LOAD_THRESHOLD)
			dev->under_load_until = s->loaded_until = now + DEVICE_UNDER_LOAD_TIME;
		if (now < s->loaded_until) {
			steps = shed_steps(s, (uint64_t)s->in + dropped);
			nallow = shed_allowlist(dev, shed_family(i), allow);
			if (steps != s->steps || nallow != s->nallow ||
			    memcmp(allow, s->allow, nallow * sizeof(*allow)) != 0) {
				shed_attach(dev, i, fd, steps, allow, nallow, now);
			} else {
				s->since = now;
				s->in = s->useful = s->handled = s->overflow = 0;
			}
		}
	}
	if (now >= s->loaded_until) {
		if (s->on)
			shed_detach(dev, i, fd);
		s->failed = false;
		s->in = s->useful = s->handled = s->overflow = 0;
		return;
	}
	if (!s->on && !s->failed) {
		/* Load just began (the queue filled): start at the floor, judged after a period. */
		nallow = shed_allowlist(dev, shed_family(i), allow);
		shed_attach(dev, i, fd, DEVICE_SHED_MIN_STEPS, allow, nallow, now);
	}
}

void device_shed_update(device *dev, wg_time_ns now)
{
	int fds[2] = {dev->bind.fd4, dev->bind.fd6};

	for (unsigned i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		/* The common case, idle or lightly used: one compare. */
		if (!dev->shed[i].on && !dev->shed[i].failed && now >= dev->shed[i].loaded_until)
			continue;
		shed_socket(dev, i, fds[i], now);
	}
}

wg_time_ns device_shed_deadline(const device *dev)
{
	wg_time_ns d = WG_TIME_NEVER;

	for (unsigned i = 0; i < 2; i++)
		if (dev->shed[i].on && dev->shed[i].loaded_until < d)
			d = dev->shed[i].loaded_until;
	return d;
}

bool device_shed_allowed(const device *dev, const wg_endpoint *src)
{
	const device_shed *s = &dev->shed[device_shed_index(src)];
	udp_ip a;

	memset(&a, 0, sizeof(a));
	if (src->sa.sa_family == AF_INET)
		memcpy(a.b, &src->in4.sin_addr, 4);
	else
		memcpy(a.b, &src->in6.sin6_addr, 16);
	for (unsigned k = 0; k < s->nallow; k++)
		if (memcmp(&s->allow[k], &a, sizeof(a)) == 0)
			return true;
	return false;
}

void device_shed_reset(device *dev)
{
	memset(dev->shed, 0, sizeof(dev->shed));
}
