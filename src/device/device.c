/* Device lifecycle, the event-loop thread, and the get/stats snapshots. */
#define _GNU_SOURCE
#include "device/device_impl.h"

#include "crypto/crypto.h"
#include "io/linux/linkmon.h"
#include "io/linux/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static int device_socket_cb(void *ctx, int fd)
{
	device *dev = ctx;

	return dev->params.socket_created ? dev->params.socket_created(dev->params.ctx, fd) : 0;
}

int device_bind_open(device *dev, udp_bind *out, uint16_t port, uint32_t fwmark)
{
	udp_bind b;
	int ret;

	udp_bind_init(&b);
	ret = udp_bind_open(&b, port, fwmark, !dev->params.no_offload, device_socket_cb, dev);
	if (ret)
		return ret;
	if (b.fd4 >= 0 && (ret = io_loop_add(dev->loop, b.fd4, DEVICE_TAG_UDP4)) < 0)
		goto fail;
	if (b.fd6 >= 0 && (ret = io_loop_add(dev->loop, b.fd6, DEVICE_TAG_UDP6)) < 0) {
		if (b.fd4 >= 0)
			io_loop_del(dev->loop, b.fd4);
		goto fail;
	}
	*out = b;
	return 0;
fail:
	udp_bind_close(&b);
	return ret;
}

void device_bind_close(device *dev, udp_bind *b)
{
	if (b->fd4 >= 0)
		io_loop_del(dev->loop, b->fd4);
	if (b->fd6 >= 0)
		io_loop_del(dev->loop, b->fd6);
	udp_bind_close(b);
}

static uint32_t device_read_mtu(const device *dev)
{
	int mtu = dev->has_ifname ? tun_mtu(dev->ifname) : -1;

	return mtu > 0 ? (uint32_t)mtu : DEVICE_DEFAULT_MTU;
}

static wg_time_ns device_io_clock(void *ctx)
{
	(void)ctx;
	return io_now();
}

/* The device's wg_rng: the source (the OS CSPRNG; tests inject others) with every failure
 * counted and logged (1st, 2nd, 4th, ... so a broken source cannot flood the log). The
 * operation that asked fails; nothing goes on with unfilled bytes. Any thread. */
static int device_rng_fill(void *ctx, void *out, size_t n)
{
	device *dev = ctx;
	uint64_t k;

	if (dev->rng_source.fill(dev->rng_source.ctx, out, n) == 0)
		return 0;
	k = __atomic_add_fetch(&dev->stats.rng_error, 1, __ATOMIC_RELAXED);
	if ((k & (k - 1)) == 0)
		device_log(dev, DEVICE_LOG_ERROR,
			   "random source failed (%llu times): the operation was dropped",
			   (unsigned long long)k);
	return -1;
}

static void device_destroy(device *dev)
{
	while (dev->first)
		device_peer_remove(dev, dev->first);
	if (dev->loop)
		device_bind_close(dev, &dev->bind);
	allowedips_free(&dev->aips);
	ratelimiter_free(dev->limiter);
	ratelimiter_free(dev->reply_limiter);
	cookie_checker_wipe(&dev->cookies);
	wg_identity_clear(&dev->identity);
	device_datapath_free(dev);
	device_handshake_free(dev);
	io_loop_free(dev->loop);
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	if (dev->link_fd >= 0)
		close(dev->link_fd);
	if (dev->tun_fd >= 0)
		close(dev->tun_fd);
	free(dev->peers.buckets);
	free(dev->ibuckets);
	free(dev->heap);
	pthread_mutex_destroy(&dev->index_lock);
	pthread_rwlock_destroy(&dev->cfg_lock);
	crypto_wipe(dev, sizeof(*dev));
	free(dev);
}

/* Link events are a help, not a need (TUN read errors also tell us the interface is gone):
 * without them the device still works. */
static void device_link_watch(device *dev)
{
	int fd;

	if (!dev->has_ifname || (dev->ifindex = tun_ifindex(dev->ifname)) <= 0)
		return;
	fd = linkmon_open();
	if (fd < 0)
		return;
	if (io_loop_add(dev->loop, fd, DEVICE_TAG_LINK) < 0) {
		close(fd);
		return;
	}
	dev->link_fd = fd;
}

/* Config lock shared. 0, or -ENODEV once the interface is gone. */
static int device_handle_link(device *dev)
{
	linkmon_news news;
	int ret = linkmon_read(dev->link_fd, dev->ifindex, &news);

	if (news.gone || (ret == -ENOBUFS && tun_exists(dev->ifname) == 0))
		return -ENODEV;
	if (news.has_state)
		atomic_store(&dev->link_request, news.running && news.was_down ? DEVICE_LINK_CYCLE
									     : news.running);
	if (ret == -ENOBUFS) {
		/* Events were lost, maybe the latest state's: ask the kernel instead. */
		int running = tun_running(dev->ifname);
		if (running >= 0)
			atomic_store(&dev->link_request,
				     running && news.was_down ? DEVICE_LINK_CYCLE : running);
	}
	if (news.mtu && news.mtu != atomic_load(&dev->mtu) && !dev->params.mtu) {
		atomic_store(&dev->mtu, news.mtu);
		for (peer *p = dev->first; p; p = p->next) {
			pthread_mutex_lock(&p->lock);
			wg_tunnel_set_mtu(p->tun, news.mtu);
			pthread_mutex_unlock(&p->lock);
		}
		device_log(dev, DEVICE_LOG_INFO, "MTU is now %u", news.mtu);
	}
	return 0;
}

void device_up_finish(device *dev, bool restart)
{
	wg_time_ns now = device_now(dev);

	device_shed_reset(dev);     /* new sockets carry no filter */
	device_forget_sources(dev); /* learned on sockets that are gone */
	dev->up = true;
	if (!dev->params.mtu)
		atomic_store(&dev->mtu, device_read_mtu(dev));
	for (peer *p = dev->first; p; p = p->next) {
		pthread_mutex_lock(&p->lock);
		wg_tunnel_set_mtu(p->tun, atomic_load(&dev->mtu));
		if (restart) /* after a down; at start the peers were never stopped */
			wg_tunnel_start(p->tun, now);
		pthread_mutex_unlock(&p->lock);
		device_peer_update_deadline(dev, p);
	}
	dev->up_stalled = false;
}

/* Opens the sockets (on the configured port, or the one the device had before it went down)
 * and starts every peer. A remembered random port someone took while we were down is given
 * up for a new random one: nobody configured it, and the peers learn the new one from our
 * handshake (the kernel would fail the `ip link set up`; a daemon cannot). Config lock
 * exclusive (or before the loop runs). 0 or -errno (the device stays down). */
static int device_go_up(device *dev, bool restart)
{
	int ret = device_bind_open(dev, &dev->bind, dev->listen_port, dev->fwmark);

	if (ret == -EADDRINUSE && dev->port_random && dev->listen_port) {
		uint16_t was = dev->listen_port;

		ret = device_bind_open(dev, &dev->bind, 0, dev->fwmark);
		if (ret == 0) {
			dev->listen_port = dev->bind.port;
			DEVICE_STAT_INC(dev, link_up_new_port);
			device_log(dev, DEVICE_LOG_INFO,
				   "random port %u was taken while down: new random port %u", was,
				   dev->bind.port);
		}
	}
	if (ret)
		return ret;
	device_up_finish(dev, restart);
	return 0;
}

/* Closes the sockets and stops every peer: no session, handshake, staged packet or timer
 * survives (the kernel's wg_stop, wireguard-go's Down). Counters, endpoints and the
 * configuration stay. Loop thread, config lock exclusive. */
static void device_go_down(device *dev)
{
	wg_time_ns now = device_now(dev);

	for (peer *p = dev->first; p; p = p->next) {
		pthread_mutex_lock(&p->lock);
		wg_tunnel_stop(p->tun, now);
		pthread_mutex_unlock(&p->lock);
		device_peer_update_deadline(dev, p);
	}
	(void)device_handshake_drop_all(dev); /* their replies would have no socket */
	/* A random port is kept for the next up, as both references do (and `wg show` goes on
	 * showing it); a port set while down replaces it. */
	if (!dev->listen_port || dev->port_random) {
		dev->listen_port = dev->bind.port;
		dev->port_random = true;
	}
	device_bind_close(dev, &dev->bind);
	device_shed_reset(dev);
	device_forget_sources(dev);
	dev->up = false;
	atomic_store(&dev->burn_stack, true); /* keys died: the round ends with a stack burn */
}

/* Loop thread, no lock held: applies the link state the round reported. */
static void device_link_apply(device *dev)
{
	int want = atomic_exchange(&dev->link_request, -1);
	int ret;

	if (want < 0)
		return;
	pthread_rwlock_wrlock(&dev->cfg_lock);
	if (want == DEVICE_LINK_CYCLE && dev->up) {
		/* Down and up again within one read: the down still happens. */
		device_go_down(dev);
		DEVICE_STAT_INC(dev, link_down);
		device_log(dev, DEVICE_LOG_INFO, "link down: sockets closed, peers stopped");
	}
	if (want == DEVICE_LINK_CYCLE)
		dev->up_stalled = false; /* a down was seen: this is a new up (logged again) */
	if (want && !dev->up) {
		ret = device_go_up(dev, true);
		if (ret == 0) {
			DEVICE_STAT_INC(dev, link_up);
			device_log(dev, DEVICE_LOG_INFO,
				   "link up: listening on port %u (UDP GSO v4 %d v6 %d)",
				   dev->bind.port, dev->bind.gso4, dev->bind.gso6);
		} else {
			/* The kernel's `ip link set up` would fail; here the link is up without
			 * us. Said once per stall (a retry at each link event is only counted);
			 * nothing is armed meanwhile: no timer, no retry loop. */
			if (!dev->up_stalled)
				device_log(dev, DEVICE_LOG_ERROR,
					   "link up, but the sockets could not be opened on port "
					   "%u (%d): down until the next link up or a listen-port set",
					   dev->listen_port, ret);
			dev->up_stalled = true;
			DEVICE_STAT_INC(dev, link_up_failed); /* after the log: tests wait on it */
		}
	} else if (!want) {
		if (dev->up) {
			device_go_down(dev);
			DEVICE_STAT_INC(dev, link_down);
			device_log(dev, DEVICE_LOG_INFO, "link down: sockets closed, peers stopped");
		}
		dev->up_stalled = false; /* down as asked */
	}
	pthread_rwlock_unlock(&dev->cfg_lock);
}

void device_link_set(device *dev, bool running)
{
	atomic_store(&dev->link_request, running);
	io_loop_wake(dev->loop);
}

bool device_is_up(device *dev)
{
	bool up;

	pthread_rwlock_rdlock(&dev->cfg_lock);
	up = dev->up;
	pthread_rwlock_unlock(&dev->cfg_lock);
	return up;
}

/* The TUN while the device is down: what is read is dropped (no peer may stage or start a
 * handshake). Packets still queued in the TUN when the link went down, mostly. Loop thread.
 * 0 or -ENODEV. */
static int device_tun_discard(device *dev)
{
	for (int i = 0; i < DEVICE_TUN_BATCH; i++) {
		uint8_t *slot = device_tx_slot(dev);
		bool closed;
		long n = tun_read(dev->tun_fd, slot + DEVICE_SLOT_HEAD, DEVICE_MAX_PACKET, &closed);

		if (closed)
			return -ENODEV;
		if (n <= 0)
			break;
		DEVICE_STAT_INC(dev, tun_while_down);
	}
	return 0;
}

device *device_new(const device_params *p)
{
	pthread_rwlockattr_t attr;
	device *dev;
	int err = ENOMEM, fl;

	if (!p || p->tun_fd < 0) {
		errno = EINVAL;
		return NULL;
	}
	if (p->busy_poll_us > DEVICE_BUSY_POLL_MAX_US) {
		close(p->tun_fd);
		errno = EINVAL;
		return NULL;
	}
	if (p->ifname && strlen(p->ifname) >= sizeof(dev->ifname)) {
		close(p->tun_fd);
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		close(p->tun_fd);
		errno = ENOMEM;
		return NULL;
	}
	dev->params = *p;
	dev->params.ifname = NULL;
	dev->tun_fd = p->tun_fd;
	dev->stop_fd = -1;
	dev->link_fd = -1;
	atomic_init(&dev->link_request, -1);
	udp_bind_init(&dev->bind);
	if (p->ifname) {
		memcpy(dev->ifname, p->ifname, strlen(p->ifname) + 1);
		dev->has_ifname = true;
	}
	dev->rng_source = (wg_rng){io_rng_fill, NULL};
	dev->rng = (wg_rng){device_rng_fill, dev};
	dev->wall.now = io_wall_now;
	dev->clock.now = device_io_clock;
	/* Writers first: a loop that keeps re-taking the lock shared must not starve apply. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev->cfg_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&dev->index_lock, NULL);
	allowedips_init(&dev->aips);
	cookie_checker_init(&dev->cookies, &dev->identity);
	atomic_store(&dev->mtu, p->mtu ? p->mtu : device_read_mtu(dev));
	fl = fcntl(dev->tun_fd, F_GETFL);
	if (fl < 0 || fcntl(dev->tun_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		err = errno;
		goto fail;
	}
	if (tun_has_vnet_hdr(dev->tun_fd)) {
		dev->tun_vnet = true;
		dev->tun_offload = tun_offload_set(dev->tun_fd, !p->no_offload);
		if (dev->tun_offload == TUN_OFFLOAD_FAILED) {
			err = EINVAL; /* the kernel may hand us super-packets we never asked for */
			goto fail;
		}
	}
	if (dev->has_ifname) {
		/* Our TUN's queue is the smallest buffer on the way out; no failure: an app's TUN
		 * (no CAP_NET_ADMIN) keeps the kernel's. */
		int q = tun_txqueuelen_raise(dev->ifname, DEVICE_TUN_TXQUEUE);
		device_log(dev, DEVICE_LOG_DEBUG, "TUN txqueuelen %d", q);
	}
	dev->loop = io_loop_new();
	if (!dev->loop) {
		err = errno;
		goto fail;
	}
	dev->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->stop_fd < 0) {
		err = errno;
		goto fail;
	}
	dev->limiter = ratelimiter_new(&dev->rng, WG_RATELIMITER_MAX_ENTRIES);
	dev->reply_limiter = ratelimiter_new(&dev->rng, DEVICE_REPLY_ESTIMATE_SOURCES);
	if (!dev->limiter || !dev->reply_limiter || device_datapath_init(dev) != 0 ||
	    device_handshake_init(dev) != 0 || device_tables_reserve(dev, 1) != 0)
		goto fail;
	if ((err = -io_loop_add(dev->loop, dev->tun_fd, DEVICE_TAG_TUN)) != 0)
		goto fail;
	device_link_watch(dev);
	return dev;
fail:
	device_destroy(dev);
	errno = err ? err : ENOMEM;
	return NULL;
}

/* The loop stopped on its own: tell the owner (event + stop fd). */
static void device_signal_stop(device *dev, int reason)
{
	uint64_t one = 1;

	atomic_store(&dev->stop_reason, reason);
	atomic_store(&dev->stopped, true);
	if (write(dev->stop_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: already signalled. */
	}
	device_log(dev, DEVICE_LOG_INFO, "device stopped (%d)", reason);
	device_emit(dev, reason == -ENODEV ? DEVICE_EVENT_STOPPED : DEVICE_EVENT_FATAL, NULL,
		    reason);
}

/* A deadline of the device's clock on io_now's, for the loop's wait (the same unless a test
 * put in another clock). 0 and WG_TIME_NEVER keep their meaning. */
static wg_time_ns device_io_time(const device *dev, wg_time_ns t)
{
	wg_time_ns now;

	if (dev->clock.now == device_io_clock || t == 0 || t == WG_TIME_NEVER)
		return t;
	now = device_now(dev);
	return t <= now ? 0 : io_now() + (t - now);
}

/* Busy poll (docs/latency.md): only after a round that sent packets from the TUN out while
 * nothing went to the TUN in the window before, i.e. a request of ours whose answer is on its
 * way, not our answer to the peer's request (a responder would spin for a next request that
 * comes much later) nor a bulk transfer (both directions busy: the loop does not sleep
 * anyway). The window ends by the clock. Loop thread. */
static wg_time_ns device_spin_until(device *dev, wg_time_ns spin)
{
	wg_time_ns now = device_now(dev);
	bool request = dev->round_from_tun && !dev->round_to_tun &&
		       (!dev->last_to_tun || now - dev->last_to_tun > spin);

	if (dev->round_to_tun)
		dev->last_to_tun = now;
	return request ? now + spin : 0;
}

static void *device_loop(void *arg)
{
	device *dev = arg;
	io_event ev[IO_LOOP_MAX_EVENTS];
	wg_time_ns spin = (wg_time_ns)dev->params.busy_poll_us * 1000, spin_until = 0;
	int stop = 0;

	while (!atomic_load(&dev->stop_requested) && !stop) {
		wg_time_ns deadline, now;
		uint64_t polls = 0;
		peer *top;
		bool woken, polled, burn;
		int n;

		pthread_rwlock_rdlock(&dev->cfg_lock);
		/* Down: no timer runs (apply may still arm some; going up re-reads them all). */
		top = dev->up ? device_heap_top(dev) : NULL;
		deadline = top ? top->deadline : WG_TIME_NEVER;
		/* Queued handshake messages: look for new packets, then go on with them. */
		if (dev->up && device_handshake_pending(dev))
			deadline = 0;
		/* A socket filter is removed when the load ends, even if nothing arrives. */
		if (device_shed_deadline(dev) < deadline)
			deadline = device_shed_deadline(dev);
		pthread_rwlock_unlock(&dev->cfg_lock);
		/* Buffers busy a while ago and nothing due soon: their pages go back now, so an
		 * idle device does not keep a burst's footprint (and costs no wakeup for it). */
		device_mem_idle(dev, device_now(dev), deadline);

		n = io_loop_wait(dev->loop, device_io_time(dev, deadline),
				 device_io_time(dev, spin_until), ev, &woken, &polls, &polled);
		DEVICE_STAT_INC(dev, loop_wakeups);
		if (polls)
			__atomic_fetch_add(&dev->stats.busy_polls, polls, __ATOMIC_RELAXED);
		if (polled)
			DEVICE_STAT_INC(dev, busy_poll_hits);
		if (n < 0) {
			stop = n;
			break;
		}
		if (atomic_load(&dev->stop_requested))
			break;
		pthread_rwlock_rdlock(&dev->cfg_lock);
		dev->round_from_tun = dev->round_to_tun = false;
		for (int i = 0; i < n && !stop; i++) {
			switch (ev[i].tag) {
			case DEVICE_TAG_TUN:
				stop = dev->up ? device_handle_tun(dev, ev[i].error)
					       : device_tun_discard(dev);
				break;
			case DEVICE_TAG_UDP4:
				if (dev->bind.fd4 >= 0)
					device_handle_udp(dev, dev->bind.fd4);
				break;
			case DEVICE_TAG_LINK:
				stop = device_handle_link(dev);
				break;
			case DEVICE_TAG_UDP6:
				if (dev->bind.fd6 >= 0)
					device_handle_udp(dev, dev->bind.fd6);
				break;
			default:
				break;
			}
		}
		/* After the round's data packets, a bounded share of the handshake queue. */
		if (dev->up)
			(void)device_handshake_run(dev, device_now(dev), DEVICE_HANDSHAKE_BUDGET);
		device_shed_update(dev, device_now(dev));
		now = device_now(dev);
		top = dev->up ? device_heap_top(dev) : NULL;
		burn = top && top->deadline <= now;
		if (dev->up)
			device_handle_timers(dev, now);
		device_tx_flush(dev);
		pthread_rwlock_unlock(&dev->cfg_lock);
		if (atomic_load(&dev->link_request) >= 0)
			device_link_apply(dev);
		/* Timers may have zeroed keys (expiry, give-up), or apply removed some: copies of
		 * them may lie in this thread's dead frames, where registers were saved (the lazy
		 * binder's XSAVE under sendmmsg held a send key: test_secrets_device, ASan build).
		 * Rare (timer rounds), and far cheaper than the crypto the keys did. */
		if (burn || atomic_exchange(&dev->burn_stack, false))
			crypto_burn_stack_deep();
		spin_until = spin ? device_spin_until(dev, spin) : 0;
	}
	if (stop)
		device_signal_stop(dev, stop);
	return NULL;
}

int device_start(device *dev)
{
	int ret = 0;

	if (!dev)
		return -EINVAL;
	pthread_rwlock_wrlock(&dev->cfg_lock);
	if (dev->thread_started || dev->up) {
		ret = -EALREADY;
		goto out;
	}
	/* With a link monitor the device follows the link from here on: a link not running
	 * yet (the daemon under wg-quick, which sets it up after the config) starts down. An
	 * interface whose state cannot be read is taken as running (as before). */
	dev->link_follow = dev->link_fd >= 0;
	if (!dev->link_follow || tun_running(dev->ifname) != 0) {
		ret = device_go_up(dev, false);
		if (ret)
			goto out;
	}
	ret = -pthread_create(&dev->thread, NULL, device_loop, dev);
	if (ret) {
		if (dev->up)
			device_bind_close(dev, &dev->bind);
		dev->up = false;
		goto out;
	}
	dev->thread_started = true;
	crypto_pool_start(&dev->crypto);
	if (dev->up)
		device_log(dev, DEVICE_LOG_INFO, "device up, listening on port %u", dev->bind.port);
	else
		device_log(dev, DEVICE_LOG_INFO, "device started, link down: no socket until it is up");
	device_log(dev, DEVICE_LOG_INFO, "crypto workers: %u (loop thread + %u of %u helpers)",
		   crypto_pool_threads(&dev->crypto) + 1, crypto_pool_threads(&dev->crypto),
		   dev->crypto.workers - 1);
	if (dev->params.busy_poll_us)
		device_log(dev, DEVICE_LOG_INFO, "busy poll: %u us after each round with packets",
			   dev->params.busy_poll_us);
	/* UDP GSO is a property of the sockets: while the link is down there are none, so
	 * the link-up line says it instead of a 0 that means "not probed". */
	char gso[24] = "at link up";
	if (dev->up)
		snprintf(gso, sizeof(gso), "v4 %d v6 %d", dev->bind.gso4, dev->bind.gso6);
	device_log(dev, DEVICE_LOG_INFO,
		   "offloads: TUN vnet header %s (csum %d, TSO %d, USO %d), UDP GSO %s",
		   dev->tun_vnet ? "on" : "off", !!(dev->tun_offload & TUN_OFFLOAD_CSUM),
		   !!(dev->tun_offload & TUN_OFFLOAD_TSO), !!(dev->tun_offload & TUN_OFFLOAD_USO),
		   gso);
out:
	pthread_rwlock_unlock(&dev->cfg_lock);
	return ret;
}

void device_free(device *dev)
{
	if (!dev)
		return;
	if (dev->thread_started) {
		atomic_store(&dev->stop_requested, true);
		io_loop_wake(dev->loop);
		pthread_join(dev->thread, NULL);
		crypto_pool_stop(&dev->crypto);
		device_log(dev, DEVICE_LOG_DEBUG,
			   "crypto: %llu batches (%llu jobs) with helpers, %llu jobs by helpers, %llu waits",
			   (unsigned long long)dev->crypto.parallel_runs,
			   (unsigned long long)dev->crypto.parallel_jobs,
			   (unsigned long long)dev->crypto.helper_jobs,
			   (unsigned long long)dev->crypto.waits);
	}
	device_destroy(dev);
}

int device_stop_fd(const device *dev)
{
	return dev->stop_fd;
}

int device_wait(device *dev, int timeout_ms, int *reason)
{
	struct pollfd pfd = { .fd = dev->stop_fd, .events = POLLIN };
	int n;

	if (!atomic_load(&dev->stopped)) {
		do
			n = poll(&pfd, 1, timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n <= 0 && !atomic_load(&dev->stopped))
			return 0;
	}
	if (reason)
		*reason = atomic_load(&dev->stop_reason);
	return 1;
}

uint32_t device_mtu(device *dev)
{
	return atomic_load(&dev->mtu);
}

void device_get_stats(device *dev, device_stats *st)
{
	const uint64_t *src = (const uint64_t *)&dev->stats;
	uint64_t *dst = (uint64_t *)st;

	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* ---- get ---- */

typedef struct {
	wg_allowed_ip *ips;
	size_t n, cap;
} ip_list;

static int collect_prefix(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	ip_list *l = ctx;
	wg_allowed_ip *a;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		wg_allowed_ip *ips = realloc(l->ips, cap * sizeof(*ips));
		if (!ips)
			return -ENOMEM;
		l->ips = ips;
		l->cap = cap;
	}
	a = &l->ips[l->n++];
	memset(a, 0, sizeof(*a));
	a->family = (uint8_t)family;
	a->cidr = cidr;
	memcpy(a->addr, addr, family == AF_INET ? 4 : 16);
	return 0;
}

/* Config lock shared; takes the peer lock. */
static int peer_info_fill(device *dev, peer *p, wg_peer_info *pi)
{
	wg_tunnel_stats st;
	ip_list l = { 0 };
	int ret;

	memcpy(pi->public_key, p->public_key, 32);
	memcpy(pi->preshared_key, p->preshared_key, 32);
	pi->persistent_keepalive = p->persistent_keepalive;
	pthread_mutex_lock(&p->lock);
	pi->endpoint = p->endpoint;
	device_peer_unsent_fold(p);
	wg_tunnel_get_stats(p->tun, &st);
	pthread_mutex_unlock(&p->lock);
	pi->tx_bytes = st.tx_bytes;
	pi->rx_bytes = st.rx_bytes;
	pi->last_handshake_sec = st.last_handshake_wall_ns / WG_NS_PER_SEC;
	pi->last_handshake_nsec = st.last_handshake_wall_ns % WG_NS_PER_SEC;
	ret = allowedips_walk_by_peer(&dev->aips, p, collect_prefix, &l);
	if (ret) {
		free(l.ips);
		return ret;
	}
	pi->allowed_ips = l.ips;
	pi->n_allowed_ips = l.n;
	return 0;
}

int device_get_info(device *dev, wg_config_info *info)
{
	int ret = 0;
	size_t i = 0;

	memset(info, 0, sizeof(*info));
	pthread_rwlock_rdlock(&dev->cfg_lock);
	info->has_private_key = dev->identity.has_private_key;
	if (info->has_private_key)
		memcpy(info->private_key, dev->identity.private_key, 32);
	info->listen_port = dev->up ? dev->bind.port : dev->listen_port;
	info->fwmark = dev->fwmark;
	if (dev->peers.count) {
		info->peers = calloc(dev->peers.count, sizeof(*info->peers));
		if (!info->peers) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (peer *p = dev->first; p; p = p->next, i++) {
		ret = peer_info_fill(dev, p, &info->peers[i]);
		if (ret)
			goto out;
		info->n_peers = i + 1;
	}
out:
	pthread_rwlock_unlock(&dev->cfg_lock);
	if (ret)
		wg_config_info_clear(info);
	return ret;
}
