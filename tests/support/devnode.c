/* Test devices for tests/unit/test_device_*.c (see devnode.h). */
#define _GNU_SOURCE
#include "devnode.h"

#include "test.h"
#include "testdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

static void on_event(void *ctx, const device_event *ev)
{
	node *n = ctx;

	if (ev->type == DEVICE_EVENT_HANDSHAKE_DONE)
		__atomic_fetch_add(&n->handshakes, 1, __ATOMIC_RELAXED);
}

static int on_socket(void *ctx, int fd)
{
	node *n = ctx;

	/* No CHECK here: a link going up opens sockets on the loop thread, and the check
	 * counters are the main thread's. A bad fd fails the bind instead, which the test sees. */
	if (fd < 0)
		return -EBADF;
	__atomic_fetch_add(&n->sockets, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&n->last_socket, fd, __ATOMIC_RELAXED);
	return 0;
}

static void on_log(void *ctx, int level, const char *msg)
{
	node *n = ctx;

	(void)msg;
	if (level >= 0 && level < 4)
		__atomic_fetch_add(&n->logs[level], 1, __ATOMIC_RELAXED);
}

static void node_init_params(node *n, unsigned workers, unsigned busy_poll_us, bool logged)
{
	device_params p;

	memset(n, 0, sizeof(*n));
	memset(&p, 0, sizeof(p));
	p.event = on_event;
	p.socket_created = on_socket;
	p.log = logged ? on_log : NULL;
	p.ctx = n;
	p.crypto_workers = workers;
	p.busy_poll_us = busy_poll_us;
	n->dev = testdev_new(&p, &n->app, n->priv, n->pub);
}

void node_init_opts(node *n, unsigned workers, unsigned busy_poll_us)
{
	node_init_params(n, workers, busy_poll_us, false);
}

void node_init_workers(node *n, unsigned workers)
{
	node_init_opts(n, workers, 0);
}

void node_init(node *n)
{
	node_init_workers(n, 0);
}

void node_free(node *n)
{
	device_free(n->dev);
	if (n->app >= 0)
		close(n->app);
}

uint16_t node_port(node *n)
{
	wg_config_info info;
	uint16_t port;

	CHECK_EQ_INT(device_get_info(n->dev, &info), 0);
	port = info.listen_port;
	wg_config_info_clear(&info);
	return port;
}

size_t node_npeers(node *n)
{
	wg_config_info info;
	size_t np;

	CHECK_EQ_INT(device_get_info(n->dev, &info), 0);
	np = info.n_peers;
	wg_config_info_clear(&info);
	return np;
}

void devnode_ip4(wg_allowed_ip *a, const char *s, uint8_t cidr)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->cidr = cidr;
	CHECK(inet_pton(AF_INET, s, a->addr) == 1);
}

void devnode_ip6(wg_allowed_ip *a, const char *s, uint8_t cidr)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_INET6;
	a->cidr = cidr;
	CHECK(inet_pton(AF_INET6, s, a->addr) == 1);
}

void devnode_loopback(wg_endpoint *e, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->in4.sin_family = AF_INET;
	e->in4.sin_port = htons(port);
	e->in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

void devnode_endpoint4(wg_endpoint *e, const char *ip, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->in4.sin_family = AF_INET;
	e->in4.sin_port = htons(port);
	CHECK(inet_pton(AF_INET, ip, &e->in4.sin_addr) == 1);
}

/* Configures `self` with one peer `other` owning v4/32 and v6/128, at other's port. */
int devnode_add_peer(node *self, const node *other, const char *v4, const char *v6)
{
	wg_allowed_ip ips[2];
	wg_peer_change pc;
	wg_config_change c;

	memset(&c, 0, sizeof(c));
	memset(&pc, 0, sizeof(pc));
	memcpy(pc.public_key, other->pub, 32);
	pc.has_endpoint = true;
	devnode_loopback(&pc.endpoint, other->port);
	pc.replace_allowed_ips = true;
	devnode_ip4(&ips[0], v4, 32);
	devnode_ip6(&ips[1], v6, 128);
	pc.allowed_ips = ips;
	pc.n_allowed_ips = 2;
	c.peers = &pc;
	c.n_peers = 1;
	return device_apply(self->dev, &c);
}

/* Configures `self` with one peer `other` owning v4/32 only, at ip:other's port if ip is not
 * NULL (no endpoint otherwise). */
int devnode_add_peer4(node *self, const node *other, const char *v4, const char *ip)
{
	wg_allowed_ip aip;
	wg_peer_change pc;
	wg_config_change c;

	memset(&c, 0, sizeof(c));
	memset(&pc, 0, sizeof(pc));
	memcpy(pc.public_key, other->pub, 32);
	if (ip) {
		pc.has_endpoint = true;
		devnode_endpoint4(&pc.endpoint, ip, other->port);
	}
	devnode_ip4(&aip, v4, 32);
	pc.replace_allowed_ips = true;
	pc.allowed_ips = &aip;
	pc.n_allowed_ips = 1;
	c.peers = &pc;
	c.n_peers = 1;
	return device_apply(self->dev, &c);
}

int devnode_set_key(node *n)
{
	wg_config_change c;

	memset(&c, 0, sizeof(c));
	c.has_private_key = true;
	memcpy(c.private_key, n->priv, 32);
	c.has_listen_port = true;
	c.listen_port = 0;
	return device_apply(n->dev, &c);
}

/* An ICMP-echo-shaped IPv4 packet (checksums are not checked by the device). */
size_t devnode_make_ping4(uint8_t *pkt, const char *src, const char *dst, uint16_t seq)
{
	size_t len = 20 + 8 + 56;

	memset(pkt, 0, len);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;
	pkt[9] = 1; /* ICMP */
	inet_pton(AF_INET, src, pkt + 12);
	inet_pton(AF_INET, dst, pkt + 16);
	pkt[20] = 8; /* echo request */
	pkt[26] = (uint8_t)(seq >> 8);
	pkt[27] = (uint8_t)seq;
	for (size_t i = 28; i < len; i++)
		pkt[i] = (uint8_t)(i + seq);
	return len;
}

size_t devnode_make_ping6(uint8_t *pkt, const char *src, const char *dst, uint16_t seq)
{
	size_t plen = 8 + 56, len = 40 + plen;

	memset(pkt, 0, len);
	pkt[0] = 0x60;
	pkt[4] = (uint8_t)(plen >> 8);
	pkt[5] = (uint8_t)plen;
	pkt[6] = 58; /* ICMPv6 */
	pkt[7] = 64;
	inet_pton(AF_INET6, src, pkt + 8);
	inet_pton(AF_INET6, dst, pkt + 24);
	pkt[40] = 128; /* echo request */
	pkt[46] = (uint8_t)(seq >> 8);
	pkt[47] = (uint8_t)seq;
	for (size_t i = 48; i < len; i++)
		pkt[i] = (uint8_t)(i ^ seq);
	return len;
}

/* A wait for a packet that should come: under valgrind (threads serialized, 20-50x slower;
 * on a loaded machine a 2 s wait once expired in test_parallel_order) 10x as long. Only a
 * failing run waits it out. */
int devnode_wait_ms(int ms)
{
	return RUNNING_ON_VALGRIND ? 10 * ms : ms;
}

/* Reads one packet from the app side within timeout_ms; its length or -1. */
long devnode_app_recv(node *n, uint8_t *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = { .fd = n->app, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	return (long)recv(n->app, buf, cap, MSG_DONTWAIT);
}

void devnode_app_drain(node *n)
{
	uint8_t buf[2048];

	while (devnode_app_recv(n, buf, sizeof(buf), 0) >= 0)
		;
}

/* Sends pkt into `from`'s TUN and expects it unchanged out of `to`'s TUN. Retries a few
 * times: the first packet may wait for a handshake. */
bool devnode_deliver(node *from, node *to, const uint8_t *pkt, size_t len)
{
	uint8_t buf[2048];

	for (int attempt = 0; attempt < 3; attempt++) {
		CHECK(send(from->app, pkt, len, 0) == (ssize_t)len);
		for (;;) {
			long n = devnode_app_recv(to, buf, sizeof(buf), devnode_wait_ms(2000));
			if (n < 0)
				break;
			if ((size_t)n == len && !memcmp(buf, pkt, len))
				return true;
		}
	}
	return false;
}

void devnode_ip4_udp_hdr(uint8_t *pkt, size_t len, const char *src, const char *dst)
{
	memset(pkt, 0, 20);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[8] = 64;
	pkt[9] = 17;
	inet_pton(AF_INET, src, pkt + 12);
	inet_pton(AF_INET, dst, pkt + 16);
}

/* An IPv4 packet of len bytes from src to dst carrying (dir, seq) and a pattern of both. */
void devnode_make_seq4(uint8_t *pkt, size_t len, const char *src, const char *dst, uint8_t dir,
		      uint32_t seq)
{
	memset(pkt, 0, len);
	devnode_ip4_udp_hdr(pkt, len, src, dst);
	pkt[20] = dir;
	memcpy(pkt + 21, &seq, 4);
	for (size_t i = 25; i < len; i++)
		pkt[i] = (uint8_t)(i * 31 + seq + dir);
}

/* A keyed, started device without the event and socket callbacks (nor their checks). */
void node_start_bare(node *n)
{
	device_params p;

	memset(n, 0, sizeof(*n));
	memset(&p, 0, sizeof(p));
	n->dev = testdev_new(&p, &n->app, n->priv, n->pub);
	if (!n->dev)
		return;
	CHECK_EQ_INT(devnode_set_key(n), 0);
	CHECK_EQ_INT(device_start(n->dev), 0);
	n->port = node_port(n);
}

/* Two keyed, started devices (workers crypto threads each), their ports known; no peers. */
void devnode_pair_start(node *a, node *b, unsigned workers)
{
	devnode_pair_start_opts(a, b, workers, 0);
}

static void pair_start(node *a, node *b, unsigned workers, unsigned busy_poll_us, bool logged)
{
	node_init_params(a, workers, busy_poll_us, logged);
	node_init_params(b, workers, busy_poll_us, logged);
	CHECK_EQ_INT(devnode_set_key(a), 0);
	CHECK_EQ_INT(devnode_set_key(b), 0);
	CHECK_EQ_INT(device_start(a->dev), 0);
	CHECK_EQ_INT(device_start(b->dev), 0);
	a->port = node_port(a);
	b->port = node_port(b);
}

void devnode_pair_start_opts(node *a, node *b, unsigned workers, unsigned busy_poll_us)
{
	pair_start(a, b, workers, busy_poll_us, false);
}

void devnode_pair_start_logged(node *a, node *b, unsigned workers)
{
	pair_start(a, b, workers, 0, true);
}

device_stats devnode_stats(node *n)
{
	device_stats st;

	device_get_stats(n->dev, &st);
	return st;
}

static const char *watchdog_name = "test";

static void watchdog_fire(int sig)
{
	static const char msg[] = ": hung\n";

	(void)sig;
	(void)!write(2, watchdog_name, strlen(watchdog_name));
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

void devnode_watchdog(const char *name, unsigned seconds)
{
	watchdog_name = name;
	signal(SIGALRM, watchdog_fire);
	alarm(seconds);
}
