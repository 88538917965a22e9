/* libFuzzer harness: IP packets through a device with an established session to the harness
 * peer A (see device_harness.h), in both directions, checked against naive references:
 *   send path: a packet read from the TUN is routed by its inner destination (allowed IPs:
 *     A has 10.0.0.2/32, 10.9.0.0/16, fd00::2/128; C has 10.0.1.0/24, fd00:1::/64);
 *   receive path: A sends the bytes as the plaintext of a genuine data packet; the device
 *     checks the inner header and the inner source against A's allowed IPs.
 *
 * Input: byte 0 = mode, the rest = the packet (at most 1400 bytes are used).
 *   bit 0: 0 = send path, 1 = receive path
 *   bit 1: make it an IPv4 packet for/from A (version nibble, and dst or src 10.0.0.2)
 *   bit 2: make it an IPv6 packet for/from A (fd00::2) (if bit 1 is clear)
 * Invariants (trap):
 *   send: routed to A <=> exactly one datagram to A, which A opens to the same bytes (cut to
 *     the inner length; the reference pads like the sender) when the inner header is valid, else A refuses it; routed to C or
 *     nowhere => nothing for A; nowhere => tx_no_route counted.
 *   receive: the device writes the packet to the TUN <=> inner header valid and source in A's
 *     allowed IPs, and then byte for byte (cut to the inner length). */
#include "device_harness.h"

#include <stdint.h>
#include <stdlib.h>

#define MAXPKT 1400

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { TO_NONE, TO_A, TO_C };

/* The reference for the inner header: 0 = invalid, else the inner length. */
static size_t ref_inner_len(const uint8_t *p, size_t n)
{
	size_t len;

	if (n >= 20 && p[0] >> 4 == 4) {
		len = (size_t)p[2] << 8 | p[3];
		return len >= 20 && len <= n ? len : 0;
	}
	if (n >= 40 && p[0] >> 4 == 6) {
		len = ((size_t)p[4] << 8 | p[5]) + 40;
		return len <= n ? len : 0;
	}
	return 0;
}

/* The naive routing reference by inner destination. */
static int ref_route(const uint8_t *p, size_t n)
{
	static const uint8_t c6[8] = {0xfd, 0, 0, 1, 0, 0, 0, 0};

	if (n >= 20 && p[0] >> 4 == 4) {
		const uint8_t *d = p + 16;
		if (fh_a_allows(AF_INET, d))
			return TO_A;
		return d[0] == 10 && d[1] == 0 && d[2] == 1 ? TO_C : TO_NONE;
	}
	if (n >= 40 && p[0] >> 4 == 6) {
		const uint8_t *d = p + 24;
		if (fh_a_allows(AF_INET6, d))
			return TO_A;
		return memcmp(d, c6, 8) == 0 ? TO_C : TO_NONE;
	}
	return TO_NONE;
}

/* What the receiver decrypts: the packet zero-padded to a multiple of 16, capped at the MTU
 * (1420 here) but never shorter than the packet. */
static size_t padded(uint8_t *buf, const uint8_t *p, size_t n)
{
	size_t len = (n + 15) & ~(size_t)15;

	if (len > 1420)
		len = n > 1420 ? n : 1420;
	memset(buf, 0, len);
	memcpy(buf, p, n);
	return len;
}

static bool ref_src_ok(const uint8_t *p, size_t n)
{
	if (!ref_inner_len(p, n))
		return false;
	return p[0] >> 4 == 4 ? fh_a_allows(AF_INET, p + 12) : fh_a_allows(AF_INET6, p + 8);
}

static fh g_h;
static bool g_ready;

static void setup(void)
{
	wg_tunnel_stats st;

	fh_init(&g_h, 1);
	fh_a_initiate(&g_h);
	fh_settle(&g_h);
	wg_tunnel_get_stats(g_h.a, &st);
	CHECK_OR_TRAP(st.has_session);
	g_ready = true;
}

static void send_path(fh *h, const uint8_t *pkt, size_t n)
{
	device_stats before, after;
	uint8_t pad[MAXPKT + 16];
	size_t plen = padded(pad, pkt, n);
	int route = ref_route(pkt, n);
	size_t inner = ref_inner_len(pad, plen);

	device_get_stats(h->dev, &before);
	fh_from_tun(h, pkt, n);
	device_get_stats(h->dev, &after);
	if (route != TO_A) {
		CHECK_OR_TRAP(h->to_a.count == 0);
		if (route == TO_NONE)
			CHECK_OR_TRAP(after.tx_no_route == before.tx_no_route + 1);
		return;
	}
	CHECK_OR_TRAP(h->to_a.count == 1);
	{
		fh_dgram d = *fh_peek(&h->to_a);
		uint8_t out[FH_MAXDGRAM];
		size_t on = 0;
		bool auth = false;
		wg_tun_result r;

		fh_pop(&h->to_a);
		CHECK_OR_TRAP(wg_msg_classify(d.data, d.len) == WG_MSG_DATA);
		r = wg_tunnel_decapsulate(h->a, h->now, d.data, d.len, out, sizeof(out), &on, &auth);
		if (inner) {
			CHECK_OR_TRAP(r == (pkt[0] >> 4 == 4 ? WG_TUN_WRITE_TUN_V4 : WG_TUN_WRITE_TUN_V6));
			CHECK_OR_TRAP(on == inner && memcmp(out, pad, inner) == 0);
		} else {
			CHECK_OR_TRAP(r == WG_TUN_ERR_MALFORMED);
		}
	}
}

static void receive_path(fh *h, const uint8_t *pkt, size_t n)
{
	uint8_t got[MAXPKT];
	size_t got_len = sizeof(got);
	uint64_t before = h->tun_packets;
	uint8_t pad[MAXPKT + 16];
	size_t plen = padded(pad, pkt, n);
	bool ok = ref_src_ok(pad, plen);

	CHECK_OR_TRAP(fh_a_send(h, pkt, n));
	CHECK_OR_TRAP(h->to_dev.count == 1);
	{
		fh_dgram d = *fh_peek(&h->to_dev);
		fh_pop(&h->to_dev);
		memcpy(h->dev->rx.iov[0].iov_base, d.data, d.len);
		fh_device_rx(h, d.len, &h->ep_a);
	}
	fh_drain_tun(h, got, &got_len);
	CHECK_OR_TRAP(h->tun_packets == before + (ok ? 1 : 0));
	if (ok)
		CHECK_OR_TRAP(got_len == ref_inner_len(pad, plen) && memcmp(got, pad, got_len) == 0);
	/* Nothing the device answers with (e.g. a keepalive) may pile up between inputs. */
	memset(&h->to_a, 0, sizeof(h->to_a));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pkt[MAXPKT];
	size_t n;
	uint8_t mode;

	if (size < 2)
		return 0;
	if (!g_ready)
		setup();
	mode = data[0];
	n = size - 1 > MAXPKT ? MAXPKT : size - 1;
	memcpy(pkt, data + 1, n);
	if ((mode & 2) && n >= 20) {
		pkt[0] = (uint8_t)(0x40 | (pkt[0] & 0x0f));
		memcpy(pkt + ((mode & 1) ? 12 : 16), fh_a_v4, 4);
	} else if ((mode & 4) && n >= 40) {
		pkt[0] = (uint8_t)(0x60 | (pkt[0] & 0x0f));
		memcpy(pkt + ((mode & 1) ? 8 : 24), fh_a_v6, 16);
	}
	memset(&g_h.to_dev, 0, sizeof(g_h.to_dev));
	memset(&g_h.to_a, 0, sizeof(g_h.to_a));
	if (mode & 1)
		receive_path(&g_h, pkt, n);
	else
		send_path(&g_h, pkt, n);
	return 0;
}
