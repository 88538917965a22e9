/* libFuzzer harness: datagrams into a whole device (index table, peer lookup by initiation
 * sender, under-load cookie path, rate limiter, roaming, every message type), with a
 * harness-side peer A that produces genuine messages so mutations start past mac1.
 * See device_harness.h for the setup.
 *
 * Input: bytes 0..7 seed the randomness, then a script of steps [op][len][len bytes]
 * (bit 7 of op: len counts 8-byte units):
 *   op & 15, mod 10, is the step; bits 4..6 are flags:
 *   0: raw datagram to the device (bit 4: from A's endpoint, else from 192.0.2.x)
 *   1: A starts a handshake (its initiation is queued to the device)
 *   2: the next datagram queued from A to the device, mutated by (offset, xor) pairs from
 *      the bytes; bit 4: mac1 recomputed afterwards; bit 5: from another source (roaming);
 *      bit 6: dropped instead of delivered
 *   3: the next datagram from the device is received by A (A's answers are queued)
 *   4: A sends the bytes as an inner packet (bit 4: behind a valid IPv4 header from A)
 *   5: time advances by bytes[0] * 250 ms (bit 4: seconds; bit 5: instead bytes[0..1] as a
 *      little-endian count of milliseconds, 0..65535, to hit timer edges and the 0-333 ms
 *      jitter windows), then the device's timers run and A's (bit 6: only the device's; A
 *      is asleep and catches up at its next tick)
 *   6: the bytes are read from the TUN (bit 4: behind a valid IPv4 header to A)
 *   7: the last datagram given to the device is given again (replay)
 *   8: the device goes under load (cookie replies, mac2 required) for 1 s
 *   9: the next datagram from A is duplicated in its queue
 * Invariants (trap): every datagram the device sends is a well-formed message; every packet
 * it writes to the TUN has an IPv4/IPv6 header and a source in A's allowed IPs; at the end a
 * fresh handshake and a genuine packet still work. */
#include "device_harness.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void step(fh *h, uint8_t op, const uint8_t *b, size_t n)
{
	uint8_t pkt[FH_MAXDGRAM];
	static const uint8_t dev_ip[4] = {10, 0, 0, 1};
	fh_dgram *d;

	switch ((op & 0x0f) % 10) {
	case 0: {
		wg_endpoint src = h->ep_a;
		if (!(op & 0x10)) {
			uint8_t a[4] = {192, 0, 2, n ? b[0] : 1};
			fh_endpoint4(&src, a, (uint16_t)(40000 + op));
		}
		fh_to_device(h, b, n, &src);
		break;
	}
	case 1:
		fh_a_initiate(h);
		break;
	case 2: {
		fh_dgram copy;
		wg_endpoint src = h->ep_a;

		d = fh_peek(&h->to_dev);
		if (!d)
			break;
		copy = *d;
		fh_pop(&h->to_dev);
		if (op & 0x40)
			break;
		for (size_t i = 0; i + 1 < n && copy.len; i += 2)
			copy.data[b[i] % copy.len] ^= b[i + 1];
		if (op & 0x10)
			fh_fix_mac1(h, copy.data, copy.len);
		if (op & 0x20) {
			uint8_t a[4] = {198, 51, 100, n ? b[0] : 7};
			fh_endpoint4(&src, a, 41000);
		}
		fh_to_device(h, copy.data, copy.len, &src);
		break;
	}
	case 3:
		d = fh_peek(&h->to_a);
		if (d) {
			fh_dgram copy = *d;
			fh_pop(&h->to_a);
			fh_a_receive(h, copy.data, copy.len);
		}
		break;
	case 4:
		if (op & 0x10)
			n = fh_ipv4(pkt, sizeof(pkt) - WG_TUNNEL_OVERHEAD, fh_a_v4, dev_ip, b, n);
		else
			memcpy(pkt, b, n);
		(void)fh_a_send(h, pkt, n);
		break;
	case 5:
		if (op & 0x20)
			h->now += WG_MS((wg_time_ns)(n ? b[0] : 1) | (wg_time_ns)(n > 1 ? b[1] : 0) << 8);
		else
			h->now += (wg_time_ns)(n ? b[0] : 1) * ((op & 0x10) ? WG_SEC(1) : WG_MS(250));
		fh_timers(h);
		if (!(op & 0x40))
			fh_a_outputs(h, true);
		break;
	case 6:
		if (op & 0x10)
			n = fh_ipv4(pkt, sizeof(pkt), dev_ip, fh_a_v4, b, n);
		else
			memcpy(pkt, b, n);
		fh_from_tun(h, pkt, n);
		break;
	case 7:
		if (h->last.len) {
			fh_dgram copy = h->last;
			fh_to_device(h, copy.data, copy.len, &h->ep_a);
		}
		break;
	case 8:
		h->dev->under_load_until = h->now + DEVICE_UNDER_LOAD_TIME;
		break;
	case 9:
		d = fh_peek(&h->to_dev);
		if (d) {
			fh_dgram copy = *d;
			fh_push(&h->to_dev, copy.data, copy.len);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static fh h;
	uint64_t seed = 0;
	size_t pos = 8;
	int steps = 0;

	if (size < 8)
		return 0;
	memcpy(&seed, data, 8);
	fh_init(&h, seed);
	while (pos + 2 <= size && steps++ < 256) {
		uint8_t op = data[pos];
		size_t n = data[pos + 1];

		if (op & 0x80)
			n *= 8; /* long steps: datagrams up to 2040 bytes */
		pos += 2;
		if (n > size - pos)
			n = size - pos;
		step(&h, op, data + pos, n);
		pos += n;
	}
	fh_check_still_works(&h);
	fh_free(&h);
	return 0;
}
