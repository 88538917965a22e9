/* io/linux/udp over real loopback: batched send with UDP GSO runs (equal sizes to one
 * address, a shorter last one, other addresses in between) and batched receive with UDP GRO
 * must deliver every datagram once, intact and in order; the same with offloads off.
 * The shedding filter (udp_shed_*), v4 and v6: attached / replaced / removed (SO_GET_FILTER);
 * data, cookie replies, other lengths and GRO trains always pass; lone initiations and
 * responses pass at about p; allow-listed sources always; the kernel's drop counter counts
 * exactly the shed ones. A GSO message refused with EIO (injected) turns GSO off and the
 * run goes again datagram by datagram; refused otherwise, the run goes unsegmented and GSO
 * stays on. */
#define _GNU_SOURCE
#include "syswrap.h"
#include "test.h"

#include "io/linux/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NDG 40

static uint8_t txmem[NDG][1500];
static uint8_t rxmem[UDP_BATCH_MAX][65536];
static udp_batch tx, rx;

static size_t dg_len(unsigned i)
{
	/* 0-19: 1000 B to B; 20: 300 B to B (ends a run); 21-25: 1000 B to C; 26-30: 500 B to B;
	 * 31-39: 1000 B to B, the last 999. */
	if (i == 20)
		return 300;
	if (i >= 26 && i <= 30)
		return 500;
	return i == 39 ? 999 : 1000;
}

static void fill(unsigned i)
{
	for (size_t k = 0; k < dg_len(i); k++)
		txmem[i][k] = (uint8_t)(i * 31 + k);
}

/* Receives on fd until want datagrams came (or 2 s passed); checks they are exactly the
 * datagrams idx[0..want) in order. Returns how many GRO-coalesced messages were seen. */
static unsigned expect(int fd, const unsigned *idx, unsigned want)
{
	unsigned got = 0, coalesced = 0;

	for (unsigned i = 0; i < UDP_BATCH_MAX; i++) {
		rx.iov[i].iov_base = rxmem[i];
		rx.iov[i].iov_len = sizeof(rxmem[i]);
	}
	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n;
		if (poll(&p, 1, 2000) <= 0)
			break;
		n = udp_recv_batch(fd, &rx, UDP_BATCH_MAX);
		CHECK(n >= 0);
		for (int m = 0; m < n; m++) {
			size_t len = rx.msg[m].msg_len, seg = rx.seg[m] ? rx.seg[m] : len;
			if (rx.seg[m])
				coalesced++;
			for (size_t off = 0; off < len; off += seg) {
				size_t l = len - off < seg ? len - off : seg;
				CHECK_MSG(got < want, "extra datagram of %zu bytes", l);
				if (got >= want)
					return coalesced;
				CHECK_EQ_U64(l, dg_len(idx[got]));
				CHECK_MEM(rxmem[m] + off, txmem[idx[got]], l);
				got++;
			}
		}
	}
	CHECK_EQ_INT(got, want);
	return coalesced;
}

/* The sender a and two receivers b and c on random loopback ports, and b's and c's IPv4
 * loopback addresses. */
static void open3(udp_bind *a, udp_bind *b, udp_bind *c, bool offload_a, bool offload_bc,
		  udp_addr *to_b, udp_addr *to_c)
{
	udp_bind_init(a);
	udp_bind_init(b);
	udp_bind_init(c);
	CHECK_EQ_INT(udp_bind_open(a, 0, 0, offload_a, NULL, NULL), 0);
	CHECK_EQ_INT(udp_bind_open(b, 0, 0, offload_bc, NULL, NULL), 0);
	CHECK_EQ_INT(udp_bind_open(c, 0, 0, offload_bc, NULL, NULL), 0);
	memset(to_b, 0, sizeof(*to_b));
	to_b->in4.sin_family = AF_INET;
	to_b->in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*to_c = *to_b;
	to_b->in4.sin_port = htons(b->port);
	to_c->in4.sin_port = htons(c->port);
}

static void run(bool offload)
{
	udp_bind a, b, c;
	udp_addr to_b, to_c;
	uint16_t idx[NDG];
	unsigned want_b[NDG], nb = 0, want_c[NDG], nc = 0, co;
	bool gso;

	open3(&a, &b, &c, offload, offload, &to_b, &to_c);
	if (a.fd4 < 0 || b.fd4 < 0 || c.fd4 < 0) {
		CHECK_MSG(0, "no IPv4 loopback");
		return;
	}
	/* Linux >= 4.18 has UDP_SEGMENT; with offloads off it must not be used. */
	CHECK_EQ_INT(a.gso4, offload);
	for (unsigned i = 0; i < NDG; i++) {
		fill(i);
		tx.iov[i].iov_base = txmem[i];
		tx.iov[i].iov_len = dg_len(i);
		tx.addr[i] = i >= 21 && i <= 25 ? to_c : to_b;
		idx[i] = (uint16_t)i;
		if (i >= 21 && i <= 25)
			want_c[nc++] = i;
		else
			want_b[nb++] = i;
	}
	gso = a.gso4;
	CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, idx, NDG, &gso, NULL, NULL), 0);
	CHECK_EQ_INT(gso, offload); /* no EIO on loopback */
	co = expect(b.fd4, want_b, nb);
	expect(c.fd4, want_c, nc);
	/* Over loopback a GSO send reaches a GRO socket still glued together. */
	if (offload)
		CHECK_MSG(co > 0, "no GRO-coalesced message seen");
	else
		CHECK_EQ_INT(co, 0);
	/* A subset with gaps (idx need not be consecutive) and GSO off by the caller. */
	{
		uint16_t sub[] = { 1, 3, 5, 20, 39 };
		unsigned want[] = { 1, 3, 5, 20, 39 };
		CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, sub, 5, NULL, NULL, NULL), 0);
		expect(b.fd4, want, 5);
	}
	/* One refused datagram (broadcast without SO_BROADCAST: EACCES) amid equal-size ones to
	 * b: only it is reported failed, the others arrive. */
	{
		uint16_t sub[] = { 2, 4, 6, 8 };
		unsigned want[] = { 2, 4, 8 };
		bool failed[4] = { true, true, false, true };
		udp_addr keep = tx.addr[6];

		tx.addr[6].in4.sin_addr.s_addr = htonl(INADDR_BROADCAST);
		gso = a.gso4;
		CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, sub, 4, &gso, failed, NULL), 1);
		CHECK(!failed[0] && !failed[1] && failed[2] && !failed[3]);
		tx.addr[6] = keep;
		expect(b.fd4, want, 3);
	}
	udp_bind_close(&a);
	udp_bind_close(&b);
	udp_bind_close(&c);
	CHECK_EQ_INT(a.fd4, -1);
}

/* A GSO message the kernel refuses (injected: sendmmsg is wrapped, tests/support/syswrap.c).
 * The batch: datagram 21 to C alone, then 0-19 (1000 B) and 20 (300 B) to B, one GSO run.
 * EIO (the egress cannot segment): GSO is off afterwards, the run goes again datagram by
 * datagram in one more call, and a later send of the same batch offers no GSO message at
 * all. Another error (ENOBUFS): the run goes again unsegmented but GSO stays on. Either way
 * every datagram arrives once, in order, intact, and the calls are counted: no retry loop. */
static void gso_refused(int err)
{
	udp_bind a, b, c;
	udp_addr to_b, to_c;
	uint16_t idx[22];
	unsigned want_b[21], want_c[1] = { 21 };
	unsigned long calls, gsos, refused;
	bool gso;

	/* Receivers without GRO: what arrives is what the kernel split or was sent alone. */
	open3(&a, &b, &c, true, false, &to_b, &to_c);
	if (a.fd4 < 0 || b.fd4 < 0 || c.fd4 < 0 || !a.gso4) {
		CHECK_MSG(0, "no IPv4 loopback or no UDP GSO");
		return;
	}
	idx[0] = 21;
	for (unsigned i = 0; i <= 21; i++) {
		fill(i);
		tx.iov[i].iov_base = txmem[i];
		tx.iov[i].iov_len = dg_len(i);
		tx.addr[i] = i == 21 ? to_c : to_b;
		memset(&tx.src[i], 0, sizeof(tx.src[i]));
		if (i <= 20) {
			idx[i + 1] = (uint16_t)i;
			want_b[i] = i;
		}
	}
	gso = a.gso4;
	calls = syswrap_send_calls();
	gsos = syswrap_send_gso_msgs();
	refused = syswrap_send_refused();
	syswrap_send_fail(SYSWRAP_MSG_GSO, err);
	CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, idx, 22, &gso, NULL, NULL), 0);
	CHECK_EQ_INT(gso, err != EIO);
	/* Call 1 sends 21 and stops at the run; call 2 is the run alone (refused); call 3 its
	 * 21 datagrams, none segmented. */
	CHECK_EQ_U64(syswrap_send_calls() - calls, 3);
	CHECK_EQ_U64(syswrap_send_refused() - refused, 2);
	CHECK_EQ_U64(syswrap_send_gso_msgs() - gsos, 2);
	expect(c.fd4, want_c, 1);
	expect(b.fd4, want_b, 21);

	/* The next send of the same batch, the rule still armed. */
	calls = syswrap_send_calls();
	gsos = syswrap_send_gso_msgs();
	if (err != EIO)
		syswrap_send_fail(SYSWRAP_MSG_GSO, 0);
	CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, idx, 22, &gso, NULL, NULL), 0);
	CHECK_EQ_INT(gso, err != EIO);
	CHECK_EQ_U64(syswrap_send_calls() - calls, 1);
	CHECK_EQ_U64(syswrap_send_gso_msgs() - gsos, err == EIO ? 0 : 1);
	expect(c.fd4, want_c, 1);
	expect(b.fd4, want_b, 21);
	syswrap_send_fail(SYSWRAP_MSG_GSO, 0);
	udp_bind_close(&a);
	udp_bind_close(&b);
	udp_bind_close(&c);
}

/* Filter program length on fd (SO_GET_FILTER: 0 = none). */
static unsigned filter_len(int fd)
{
	struct sock_filter f[1024];
	socklen_t n = sizeof(f) / sizeof(f[0]); /* in instructions, for this option */

	CHECK(getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, f, &n) == 0);
	return (unsigned)n;
}

/* Counts of what arrived, by WireGuard type (index 0: anything else). */
typedef struct {
	unsigned type[5], other_len, total;
} tally;

static void drain(int fd, tally *t)
{
	for (;;) {
		int n = udp_recv_batch(fd, &rx, UDP_BATCH_MAX);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			size_t len = rx.msg[i].msg_len, seg = rx.seg[i] ? rx.seg[i] : len;
			for (size_t off = 0; off < len; off += seg) {
				const uint8_t *d = (const uint8_t *)rx.iov[i].iov_base + off;
				size_t l = len - off < seg ? len - off : seg;
				t->total++;
				if (l != 148 && l != 92 && d[0] != 4 && d[0] != 3)
					t->other_len++;
				else
					t->type[d[0] <= 4 ? d[0] : 0]++;
			}
		}
	}
}

/* Sends count datagrams of len bytes, first byte type, from fd to `to` (drained into t every
 * 64 so no receive buffer overflows, whatever its size). */
static void blast(int from, const udp_addr *to, int rfd, tally *t, uint8_t type, size_t len,
		  unsigned count)
{
	uint8_t m[200];

	memset(m, 0, sizeof(m));
	m[0] = type;
	for (unsigned i = 0; i < count; i++) {
		m[4] = (uint8_t)i;
		CHECK(sendto(from, m, len, 0, &to->sa,
			     to->sa.sa_family == AF_INET ? sizeof(to->in4) : sizeof(to->in6)) ==
		      (ssize_t)len);
		if (i % 64 == 63) {
			usleep(200);
			drain(rfd, t);
		}
	}
	usleep(2000);
	drain(rfd, t);
}

static int sender(int family, const char *ip)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	udp_addr a;

	memset(&a, 0, sizeof(a));
	a.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET)
		inet_pton(AF_INET, ip, &a.in4.sin_addr);
	else
		inet_pton(AF_INET6, ip, &a.in6.sin6_addr);
	CHECK(fd >= 0);
	CHECK(bind(fd, &a.sa, family == AF_INET ? sizeof(a.in4) : sizeof(a.in6)) == 0);
	return fd;
}

static void shed(int family)
{
	enum { N = 2000 };
	udp_bind r;
	udp_addr to;
	udp_ip allow[2];
	int rfd, s1, s2 = -1;
	uint32_t d0, d1;
	tally t;

	udp_bind_init(&r);
	CHECK_EQ_INT(udp_bind_open(&r, 0, 0, true, NULL, NULL), 0);
	rfd = family == AF_INET ? r.fd4 : r.fd6;
	if (rfd < 0) {
		CHECK_MSG(family == AF_INET6, "no IPv4 loopback");
		udp_bind_close(&r);
		return; /* a host without IPv6 */
	}
	memset(&to, 0, sizeof(to));
	to.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET) {
		to.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		to.in4.sin_port = htons(r.port);
		s1 = sender(AF_INET, "127.0.0.1");
		s2 = sender(AF_INET, "127.0.0.2");
		memset(allow, 0, sizeof(allow));
		inet_pton(AF_INET, "127.0.0.2", allow[0].b);
		inet_pton(AF_INET, "10.9.9.9", allow[1].b);
	} else {
		to.in6.sin6_addr = in6addr_loopback;
		to.in6.sin6_port = htons(r.port);
		s1 = sender(AF_INET6, "::1");
		inet_pton(AF_INET6, "fd00::9", allow[0].b);
		memcpy(allow[1].b, &in6addr_loopback, 16); /* last in the list: every word compared */
	}
	CHECK_EQ_INT(filter_len(rfd), 0);
	CHECK_EQ_INT(udp_shed_detach(rfd), -ENOENT);

	/* p = 1/4, nobody allow-listed (allow[0] is not a sender's address). */
	CHECK_EQ_INT(udp_shed_attach(rfd, family, 1u << 30, allow, 1), 0);
	CHECK(filter_len(rfd) > 0);
	CHECK_EQ_INT(udp_socket_drops(rfd, &d0), 0);
	memset(&t, 0, sizeof(t));
	blast(s1, &to, rfd, &t, 4, 148, N); /* data, even of an initiation's length */
	blast(s1, &to, rfd, &t, 4, 32, N);
	blast(s1, &to, rfd, &t, 3, 64, N);  /* cookie replies */
	blast(s1, &to, rfd, &t, 1, 149, N); /* wrong lengths: for userspace to count */
	CHECK_EQ_INT(t.type[4], 2 * N);
	CHECK_EQ_INT(t.type[3], N);
	CHECK_EQ_INT(t.other_len, N);
	blast(s1, &to, rfd, &t, 1, 148, N);
	blast(s1, &to, rfd, &t, 2, 92, N);
	CHECK_EQ_INT(udp_socket_drops(rfd, &d1), 0);
	/* Binomial(2000, 1/4): mean 500, sd 19; +-100 is > 5 sd. */
	CHECK_MSG(t.type[1] > 400 && t.type[1] < 600, "initiations passed %u of %u", t.type[1], N);
	CHECK_MSG(t.type[2] > 400 && t.type[2] < 600, "responses passed %u of %u", t.type[2], N);
	/* The drop counter sees exactly the shed ones (nothing else was lost). */
	CHECK_EQ_INT(d1 - d0, 6 * N - t.total);
	CHECK_EQ_INT(t.total, 4 * N + t.type[1] + t.type[2]);

	/* Replaced atomically: p = 0, the loopback sender allow-listed (v4: 127.0.0.2 only). */
	CHECK_EQ_INT(udp_shed_attach(rfd, family, 0, allow, 2), 0);
	memset(&t, 0, sizeof(t));
	blast(s1, &to, rfd, &t, 1, 148, 200);
	if (family == AF_INET) {
		CHECK_EQ_INT(t.type[1], 0); /* 127.0.0.1: p = 0 */
		blast(s2, &to, rfd, &t, 1, 148, 200);
		blast(s1, &to, rfd, &t, 4, 148, 200);
	} else {
		blast(s1, &to, rfd, &t, 4, 148, 200);
	}
	CHECK_EQ_INT(t.type[1], 200);
	CHECK_EQ_INT(t.type[4], 200);

	/* A GRO train of initiations (one GSO send) passes whole: the filter cannot see whether
	 * data is glued behind the first datagram, so it never drops a train. */
	if (family == AF_INET) {
		uint16_t idx[8];
		bool gso = true;
		CHECK_EQ_INT(udp_shed_attach(rfd, family, 0, allow, 0), 0);
		for (unsigned i = 0; i < 8; i++) {
			memset(txmem[i], 0, 148);
			txmem[i][0] = 1;
			tx.iov[i].iov_base = txmem[i];
			tx.iov[i].iov_len = 148;
			tx.addr[i] = to;
			idx[i] = (uint16_t)i;
		}
		memset(&t, 0, sizeof(t));
		CHECK_EQ_INT(udp_send_batch(s1, &tx, idx, 8, &gso, NULL, NULL), 0);
		usleep(2000);
		drain(rfd, &t);
		CHECK_EQ_INT(t.type[1], 8);
	}

	CHECK_EQ_INT(udp_shed_detach(rfd), 0);
	CHECK_EQ_INT(filter_len(rfd), 0);
	CHECK_EQ_INT(udp_shed_detach(rfd), -ENOENT);
	memset(&t, 0, sizeof(t));
	blast(s1, &to, rfd, &t, 1, 148, 200);
	CHECK_EQ_INT(t.type[1], 200);
	/* Not a socket: the error comes back (the device then runs unfiltered). */
	CHECK(udp_shed_attach(-1, family, 0, NULL, 0) < 0);
	close(s1);
	if (s2 >= 0)
		close(s2);
	udp_bind_close(&r);
}

int main(void)
{
	run(true);
	run(false);
	gso_refused(EIO);
	gso_refused(ENOBUFS);
	for (unsigned i = 0; i < UDP_BATCH_MAX; i++) {
		rx.iov[i].iov_base = rxmem[i];
		rx.iov[i].iov_len = sizeof(rxmem[i]);
	}
	shed(AF_INET);
	shed(AF_INET6);
	return test_finish("udp");
}
