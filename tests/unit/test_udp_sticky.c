/* Sticky source addresses in io/linux/udp (docs/sticky.md), on loopback inside a network
 * namespace of the test's own (unshare: lo up, ::1 and a second IPv6 address on it; 127.0.0.2
 * is on lo already). A socket bound to the wildcard reports, per datagram of one recvmmsg
 * batch, the local address each arrived on (127.0.0.1 / 127.0.0.2, ::1 / the second one, and
 * a dual-stack socket's v4-mapped one); a send from that source leaves from it (the receiver's
 * recvfrom address), one datagram or a GSO run; a source that is not local is refused by the
 * kernel, the datagrams go without it (from the route's source) and are counted as refused,
 * also for the later messages of the batch with that source. The receive headers survive
 * between calls (only what the kernel wrote is put back) and are rebuilt after being zeroed.
 * The control-message parser is fed crafted and broken buffers (bounds). */
#define _GNU_SOURCE
#include "test.h"

#include "io/linux/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define V6_SECOND "fd00:5c::2"
#define V6_ABSENT "fd00:5c::99"

static uint8_t txmem[UDP_BATCH_MAX][1500];
static uint8_t rxmem[UDP_BATCH_MAX][65536];
static udp_batch tx, rx;

static udp_addr addr_of(int family, const char *ip, uint16_t port)
{
	udp_addr a;

	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons(port);
		CHECK(inet_pton(AF_INET, ip, &a.in4.sin_addr) == 1);
	} else {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		CHECK(inet_pton(AF_INET6, ip, &a.in6.sin6_addr) == 1);
	}
	return a;
}

static udp_src src_of(int family, const char *ip, uint32_t ifindex)
{
	udp_src s;

	memset(&s, 0, sizeof(s));
	s.family = (uint16_t)family;
	s.ifindex = ifindex;
	CHECK(inet_pton(family, ip, family == AF_INET ? (void *)&s.in4 : (void *)&s.in6) == 1);
	return s;
}

/* A plain socket of family bound to ip, port 0; its port in *port. */
static int plain_socket(int family, const char *ip, uint16_t *port)
{
	udp_addr a = addr_of(family, ip, 0);
	socklen_t len = family == AF_INET ? sizeof(a.in4) : sizeof(a.in6);
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(bind(fd, &a.sa, len) == 0);
	CHECK(getsockname(fd, &a.sa, &len) == 0);
	*port = ntohs(family == AF_INET ? a.in4.sin_port : a.in6.sin6_port);
	return fd;
}

static void send_to(int fd, const udp_addr *to, uint8_t tag)
{
	socklen_t len = to->sa.sa_family == AF_INET ? sizeof(to->in4) : sizeof(to->in6);

	CHECK(sendto(fd, &tag, 1, 0, &to->sa, len) == 1);
}

/* Receives one batch of want datagrams (several calls if the kernel hands them out in parts)
 * into rx; returns how many came. */
static unsigned recv_all(int fd, unsigned want, udp_src *src_by_tag, unsigned ntags)
{
	unsigned got = 0;

	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n;
		if (poll(&p, 1, 2000) <= 0)
			break;
		n = udp_recv_batch(fd, &rx, UDP_BATCH_MAX);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			uint8_t tag = *(const uint8_t *)rx.iov[i].iov_base;
			CHECK_EQ_INT(rx.msg[i].msg_len, 1);
			if (tag < ntags)
				src_by_tag[tag] = rx.src[i];
		}
		got += n > 0 ? (unsigned)n : 0;
	}
	return got;
}

/* Waits for one datagram on fd: its length, and its source address in *from. */
static ssize_t recv_from(int fd, udp_addr *from, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	socklen_t len = sizeof(*from);

	memset(from, 0, sizeof(*from));
	if (poll(&p, 1, 2000) <= 0)
		return -1;
	return recvfrom(fd, buf, cap, MSG_DONTWAIT, &from->sa, &len);
}

static bool addr_is(const udp_addr *a, int family, const char *ip, uint16_t port)
{
	udp_addr want = addr_of(family, ip, port);

	if (a->sa.sa_family != family)
		return false;
	if (family == AF_INET)
		return a->in4.sin_port == want.in4.sin_port &&
		       a->in4.sin_addr.s_addr == want.in4.sin_addr.s_addr;
	return a->in6.sin6_port == want.in6.sin6_port &&
	       !memcmp(&a->in6.sin6_addr, &want.in6.sin6_addr, 16);
}

/* Sends n datagrams (len bytes each, tag = first byte) from fd with source s to `to` with
 * GSO as given; checks that all arrive at rfd from from_ip:from_port. Returns the refused
 * count udp_send_batch reported. */
static unsigned send_check(int fd, bool *gso, const udp_addr *to, const udp_src *s, unsigned n,
			   size_t len, int rfd, int family, const char *from_ip, uint16_t from_port)
{
	uint16_t idx[UDP_BATCH_MAX];
	unsigned refused = 0, arrived = 0;
	bool failed[UDP_BATCH_MAX];

	for (unsigned i = 0; i < n; i++) {
		memset(txmem[i], (int)i, len);
		tx.iov[i].iov_base = txmem[i];
		tx.iov[i].iov_len = len;
		tx.addr[i] = *to;
		tx.src[i] = *s;
		idx[i] = (uint16_t)i;
	}
	CHECK_EQ_INT(udp_send_batch(fd, &tx, idx, n, gso, failed, &refused), 0);
	for (unsigned i = 0; i < n; i++)
		CHECK(!failed[i]);
	for (unsigned i = 0; i < n; i++) {
		udp_addr from;
		uint8_t buf[1500];
		ssize_t r = recv_from(rfd, &from, buf, sizeof(buf));
		if (r < 0)
			break;
		arrived++;
		CHECK_EQ_INT(r, (long)len);
		CHECK_EQ_INT(buf[0], i);
		CHECK_MSG(addr_is(&from, family, from_ip, from_port), "datagram %u not from %s", i,
			  from_ip);
	}
	CHECK_EQ_INT(arrived, n);
	return refused;
}

static void rx_setup(void)
{
	for (unsigned i = 0; i < UDP_BATCH_MAX; i++) {
		rx.iov[i].iov_base = rxmem[i];
		rx.iov[i].iov_len = sizeof(rxmem[i]);
	}
}

/* family's wildcard socket of a udp_bind: per-datagram destinations in one batch, replies
 * from each, a refused source. */
static void sticky(int family, bool offload)
{
	const char *one = family == AF_INET ? "127.0.0.1" : "::1";
	const char *two = family == AF_INET ? "127.0.0.2" : V6_SECOND;
	const char *absent = family == AF_INET ? "192.0.2.1" : V6_ABSENT;
	uint32_t lo = if_nametoindex("lo");
	udp_src seen[8], s_one, s_two, s_absent;
	udp_bind b;
	udp_addr to_one, to_two, to_client;
	uint16_t cport;
	int client, fd;
	bool gso;

	udp_bind_init(&b);
	CHECK_EQ_INT(udp_bind_open(&b, 0, 0, offload, NULL, NULL), 0);
	fd = family == AF_INET ? b.fd4 : b.fd6;
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	gso = family == AF_INET ? b.gso4 : b.gso6;
	client = plain_socket(family, one, &cport);
	to_one = addr_of(family, one, b.port);
	to_two = addr_of(family, two, b.port);
	to_client = addr_of(family, one, cport);
	s_one = src_of(family, one, family == AF_INET6 ? lo : 0);
	s_two = src_of(family, two, family == AF_INET6 ? lo : 0);
	s_absent = src_of(family, absent, 0);

	/* One batch, destinations interleaved: each datagram reports its own. */
	memset(seen, 0, sizeof(seen));
	for (uint8_t t = 0; t < 8; t++)
		send_to(client, (t % 3) ? &to_two : &to_one, t);
	CHECK_EQ_INT(recv_all(fd, 8, seen, 8), 8);
	for (uint8_t t = 0; t < 8; t++) {
		const udp_src *want = (t % 3) ? &s_two : &s_one;
		CHECK_MSG(seen[t].family == family, "datagram %u: no local address", t);
		if (family == AF_INET)
			CHECK_MSG(seen[t].in4.s_addr == want->in4.s_addr,
				  "datagram %u: wrong local address", t);
		else {
			CHECK_MSG(!memcmp(&seen[t].in6, &want->in6, 16),
				  "datagram %u: wrong local address", t);
			CHECK_EQ_INT(seen[t].ifindex, lo);
		}
	}
	/* The headers stay usable (only the kernel's fields put back): a second round. */
	memset(seen, 0, sizeof(seen));
	send_to(client, &to_two, 0);
	send_to(client, &to_one, 1);
	CHECK_EQ_INT(recv_all(fd, 2, seen, 8), 2);
	CHECK(udp_src_eq(&seen[0], &s_two));
	CHECK(seen[1].family == family);
	/* Zeroed headers (pages given back) are rebuilt when hdr_ready says so. */
	memset(rx.msg, 0, sizeof(rx.msg));
	rx.hdr_ready = 0;
	memset(seen, 0, sizeof(seen));
	send_to(client, &to_two, 0);
	CHECK_EQ_INT(recv_all(fd, 1, seen, 8), 1);
	CHECK(seen[0].family == family);

	/* Sends from each source leave from it: single datagrams, then a GSO run. */
	CHECK_EQ_INT(send_check(fd, NULL, &to_client, &seen[0], 1, 100, client, family, two, b.port),
		     0);
	CHECK_EQ_INT(send_check(fd, NULL, &to_client, &s_one, 3, 100, client, family, one, b.port),
		     0);
	CHECK_EQ_INT(send_check(fd, &gso, &to_client, &s_two, 6, 500, client, family, two, b.port),
		     0);
	CHECK_EQ_INT(gso, family == AF_INET ? b.gso4 : b.gso6);
	/* A source that is not local: refused, sent without (from the route's, `one`), each
	 * datagram reported refused, none failed. A GSO run and single datagrams. */
	CHECK_EQ_INT(send_check(fd, NULL, &to_client, &s_absent, 4, 100, client, family, one,
				b.port),
		     4);
	for (unsigned i = 0; i < 4; i++)
		CHECK(tx.src[i].refused);
	CHECK_EQ_INT(send_check(fd, &gso, &to_client, &s_absent, 5, 500, client, family, one,
				b.port),
		     5);
	/* The refusal is per source: one that is local in the same batch still sticks. */
	{
		uint16_t idx[4] = { 0, 1, 2, 3 };
		unsigned refused = 0;
		for (unsigned i = 0; i < 4; i++) {
			txmem[i][0] = (uint8_t)i;
			tx.iov[i].iov_base = txmem[i];
			tx.iov[i].iov_len = 50 + i; /* no GSO run */
			tx.addr[i] = to_client;
			tx.src[i] = (i & 1) ? s_two : s_absent;
		}
		CHECK_EQ_INT(udp_send_batch(fd, &tx, idx, 4, &gso, NULL, &refused), 0);
		CHECK_EQ_INT(refused, 2);
		for (unsigned i = 0; i < 4; i++) {
			udp_addr from;
			uint8_t buf[100];
			ssize_t r = recv_from(client, &from, buf, sizeof(buf));
			CHECK_EQ_INT(r, 50 + i);
			CHECK(tx.src[i].refused == !(i & 1));
			CHECK(addr_is(&from, family, (i & 1) ? two : one, b.port));
		}
	}
	close(client);
	udp_bind_close(&b);
}

/* A dual-stack IPv6 socket (not v6-only) with IPV6_RECVPKTINFO: an IPv4 datagram reports its
 * local address v4-mapped, and a reply from that source leaves from it. */
static void dual_stack(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), zero = 0, one = 1;
	udp_addr a = addr_of(AF_INET6, "::", 0), to, client_m;
	socklen_t len = sizeof(a.in6);
	udp_src seen[1], mapped = src_of(AF_INET6, "::ffff:127.0.0.2", 0);
	uint16_t port, cport;
	int client;

	CHECK(fd >= 0);
	CHECK(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == 0);
	CHECK(setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) == 0);
	CHECK(bind(fd, &a.sa, len) == 0);
	CHECK(getsockname(fd, &a.sa, &len) == 0);
	port = ntohs(a.in6.sin6_port);
	client = plain_socket(AF_INET, "127.0.0.1", &cport);
	to = addr_of(AF_INET, "127.0.0.2", port);
	memset(seen, 0, sizeof(seen));
	send_to(client, &to, 0);
	CHECK_EQ_INT(recv_all(fd, 1, seen, 1), 1);
	CHECK_EQ_INT(seen[0].family, AF_INET6);
	CHECK(!memcmp(&seen[0].in6, &mapped.in6, 16));
	client_m = addr_of(AF_INET6, "::ffff:127.0.0.1", cport);
	seen[0].ifindex = 0;
	CHECK_EQ_INT(send_check(fd, NULL, &client_m, &seen[0], 2, 60, client, AF_INET, "127.0.0.2",
				port),
		     0);
	close(client);
	close(fd);
}

/* Control data of n bytes at buf as one received message would carry it. */
static void parse(const void *buf, size_t n, size_t dgram_len, uint16_t *seg, udp_src *src)
{
	struct msghdr h;

	memset(&h, 0, sizeof(h));
	h.msg_control = (void *)(uintptr_t)buf;
	h.msg_controllen = n;
	udp_parse_cmsgs(&h, dgram_len, seg, src);
}

static size_t put(uint8_t *buf, size_t off, int level, int type, const void *data, size_t dlen,
		  size_t claimed)
{
	struct cmsghdr c;

	memset(&c, 0, sizeof(c));
	c.cmsg_level = level;
	c.cmsg_type = type;
	c.cmsg_len = claimed;
	memcpy(buf + off, &c, sizeof(c));
	memcpy(buf + off + CMSG_LEN(0), data, dlen);
	return off + CMSG_SPACE(dlen);
}

static void parser(void)
{
	union {
		uint8_t b[256];
		struct cmsghdr align;
	} u;
	struct in_pktinfo p4;
	struct in6_pktinfo p6;
	uint16_t seg;
	udp_src s;
	int gs = 1000;
	size_t n;

	memset(&p4, 0, sizeof(p4));
	p4.ipi_ifindex = 7;
	p4.ipi_spec_dst.s_addr = htonl(0x7f000002);
	p4.ipi_addr.s_addr = htonl(0xffffffff);
	memset(&p6, 0, sizeof(p6));
	CHECK(inet_pton(AF_INET6, V6_SECOND, &p6.ipi6_addr) == 1);
	p6.ipi6_ifindex = 3;

	/* GRO size and IPv4 packet info together: both read; spec_dst, not the header's
	 * (broadcast) destination. */
	memset(&u, 0, sizeof(u));
	n = put(u.b, 0, SOL_UDP, 104 /* UDP_GRO */, &gs, sizeof(gs), CMSG_LEN(sizeof(gs)));
	n = put(u.b, n, IPPROTO_IP, IP_PKTINFO, &p4, sizeof(p4), CMSG_LEN(sizeof(p4)));
	parse(u.b, n, 3000, &seg, &s);
	CHECK_EQ_INT(seg, 1000);
	CHECK_EQ_INT(s.family, AF_INET);
	CHECK_EQ_INT(s.in4.s_addr, htonl(0x7f000002));
	CHECK_EQ_INT(s.ifindex, 7);
	/* The same cut short by one byte: the packet info does not fit, so it is not read. */
	parse(u.b, n - CMSG_SPACE(sizeof(p4)) + CMSG_LEN(sizeof(p4)) - 1, 3000, &seg, &s);
	CHECK_EQ_INT(seg, 1000);
	CHECK_EQ_INT(s.family, AF_UNSPEC);
	/* A header claiming more than the buffer holds, or less than a header: nothing. */
	memset(&u, 0, sizeof(u));
	n = put(u.b, 0, IPPROTO_IP, IP_PKTINFO, &p4, sizeof(p4), 4096);
	parse(u.b, n, 100, &seg, &s);
	CHECK_EQ_INT(s.family, AF_UNSPEC);
	n = put(u.b, 0, IPPROTO_IP, IP_PKTINFO, &p4, sizeof(p4), 3);
	parse(u.b, n, 100, &seg, &s);
	CHECK_EQ_INT(s.family, AF_UNSPEC);
	/* A payload shorter than in_pktinfo: skipped; the next message still read. */
	memset(&u, 0, sizeof(u));
	n = put(u.b, 0, IPPROTO_IP, IP_PKTINFO, &p4, 4, CMSG_LEN(4));
	n = put(u.b, n, IPPROTO_IPV6, IPV6_PKTINFO, &p6, sizeof(p6), CMSG_LEN(sizeof(p6)));
	parse(u.b, n, 100, &seg, &s);
	CHECK_EQ_INT(seg, 0);
	CHECK_EQ_INT(s.family, AF_INET6);
	CHECK_EQ_INT(s.ifindex, 3);
	CHECK(!memcmp(&s.in6, &p6.ipi6_addr, 16));
	/* Sources we cannot send from: unspecified, multicast. */
	p4.ipi_spec_dst.s_addr = 0;
	n = put(u.b, 0, IPPROTO_IP, IP_PKTINFO, &p4, sizeof(p4), CMSG_LEN(sizeof(p4)));
	parse(u.b, n, 100, &seg, &s);
	CHECK_EQ_INT(s.family, AF_UNSPEC);
	p4.ipi_spec_dst.s_addr = htonl(0xe0000001);
	n = put(u.b, 0, IPPROTO_IP, IP_PKTINFO, &p4, sizeof(p4), CMSG_LEN(sizeof(p4)));
	parse(u.b, n, 100, &seg, &s);
	CHECK_EQ_INT(s.family, AF_UNSPEC);
	CHECK(inet_pton(AF_INET6, "ff02::1", &p6.ipi6_addr) == 1);
	n = put(u.b, 0, IPPROTO_IPV6, IPV6_PKTINFO, &p6, sizeof(p6), CMSG_LEN(sizeof(p6)));
	parse(u.b, n, 100, &seg, &s);
	CHECK_EQ_INT(s.family, AF_UNSPEC);
	/* A GRO size not below the datagram's length is no size. No control data at all. */
	n = put(u.b, 0, SOL_UDP, 104, &gs, sizeof(gs), CMSG_LEN(sizeof(gs)));
	parse(u.b, n, 1000, &seg, &s);
	CHECK_EQ_INT(seg, 0);
	parse(NULL, 0, 1000, &seg, &s);
	CHECK_EQ_INT(seg, 0);
	CHECK_EQ_INT(s.family, AF_UNSPEC);
	/* Odd lengths and offsets of a random buffer: never reads outside (ASan watches). */
	{
		test_rng r;
		test_rng_seed(&r, 5);
		for (unsigned i = 0; i < 20000; i++) {
			size_t len = (size_t)(test_rng_next(&r) % 97);
			uint8_t *heap = malloc(len ? len : 1);
			CHECK(heap != NULL);
			if (!heap)
				return;
			test_rng_bytes(&r, heap, len);
			if (len >= sizeof(struct cmsghdr) && (i & 1)) {
				/* A plausible header so the payload checks are reached. */
				struct cmsghdr c;
				memcpy(&c, heap, sizeof(c));
				c.cmsg_len = (size_t)(test_rng_next(&r) % (len + 8));
				c.cmsg_level = (i & 2) ? IPPROTO_IP : IPPROTO_IPV6;
				c.cmsg_type = (i & 2) ? IP_PKTINFO : IPV6_PKTINFO;
				memcpy(heap, &c, sizeof(c));
			}
			parse(heap, len, 1000, &seg, &s);
			CHECK(s.family == AF_UNSPEC || s.family == AF_INET || s.family == AF_INET6);
			free(heap);
		}
	}
}

/* The test's own network namespace: lo up with a second IPv6 address (no DAD wait). */
static bool own_netns(void)
{
	if (unshare(CLONE_NEWNET) != 0) {
		CHECK_MSG(0, "unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
		return false;
	}
	if (system("ip link set lo up && ip -6 addr add " V6_SECOND "/128 dev lo nodad") != 0) {
		CHECK_MSG(0, "ip: could not set up lo in the test's namespace");
		return false;
	}
	/* The address's local route comes a moment after `ip addr add` returns (the kernel's
	 * address work finishes it): wait until a datagram to it arrives. */
	for (int i = 0; i < 20; i++) {
		uint16_t port, cport;
		int r = plain_socket(AF_INET6, V6_SECOND, &port);
		int c = plain_socket(AF_INET6, "::1", &cport);
		udp_addr to = addr_of(AF_INET6, V6_SECOND, port), from;
		uint8_t buf[4];
		bool ok;

		(void)sendto(c, "x", 1, 0, &to.sa, sizeof(to.in6));
		ok = recv_from(r, &from, buf, sizeof(buf)) == 1;
		close(r);
		close(c);
		if (ok)
			return true;
	}
	CHECK_MSG(0, V6_SECOND " never became reachable");
	return false;
}

int main(void)
{
	parser();
	if (own_netns()) {
		rx_setup();
		sticky(AF_INET, true);
		sticky(AF_INET, false);
		sticky(AF_INET6, true);
		sticky(AF_INET6, false);
		dual_stack();
	}
	return test_finish("udp_sticky");
}
