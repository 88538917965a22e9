/* io/linux/udp over real loopback: batched send with UDP GSO runs (equal sizes to one
 * address, a shorter last one, other addresses in between) and batched receive with UDP GRO
 * must deliver every datagram once, intact and in order; the same with offloads off. */
#define _GNU_SOURCE
#include "test.h"

#include "io/linux/udp.h"

#include <arpa/inet.h>
#include <errno.h>
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

static void run(bool offload)
{
	udp_bind a, b, c;
	udp_addr to_b, to_c;
	uint16_t idx[NDG];
	unsigned want_b[NDG], nb = 0, want_c[NDG], nc = 0, co;
	bool gso;

	udp_bind_init(&a);
	udp_bind_init(&b);
	udp_bind_init(&c);
	CHECK_EQ_INT(udp_bind_open(&a, 0, 0, offload, NULL, NULL), 0);
	CHECK_EQ_INT(udp_bind_open(&b, 0, 0, offload, NULL, NULL), 0);
	CHECK_EQ_INT(udp_bind_open(&c, 0, 0, offload, NULL, NULL), 0);
	if (a.fd4 < 0 || b.fd4 < 0 || c.fd4 < 0) {
		CHECK_MSG(0, "no IPv4 loopback");
		return;
	}
	/* Linux >= 4.18 has UDP_SEGMENT; with offloads off it must not be used. */
	CHECK_EQ_INT(a.gso4, offload);
	memset(&to_b, 0, sizeof(to_b));
	to_b.in4.sin_family = AF_INET;
	to_b.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to_c = to_b;
	to_b.in4.sin_port = htons(b.port);
	to_c.in4.sin_port = htons(c.port);
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
	CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, idx, NDG, &gso, NULL), 0);
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
		CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, sub, 5, NULL, NULL), 0);
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
		CHECK_EQ_INT(udp_send_batch(a.fd4, &tx, sub, 4, &gso, failed), 1);
		CHECK(!failed[0] && !failed[1] && failed[2] && !failed[3]);
		tx.addr[6] = keep;
		expect(b.fd4, want, 3);
	}
	udp_bind_close(&a);
	udp_bind_close(&b);
	udp_bind_close(&c);
	CHECK_EQ_INT(a.fd4, -1);
}

int main(void)
{
	run(true);
	run(false);
	return test_finish("udp");
}
