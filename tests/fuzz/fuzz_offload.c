/* libFuzzer harness for the TUN offload module (what a TUN read hands us, and what the
 * coalescer builds from decrypted packets).
 *
 * Input: byte 0 = mode, rest = data.
 *   mode even: data = 10-byte vnet header + packet: split it and cut every segment.
 *   mode odd:  data = a script of packets [len u16 LE][bytes]: coalesce them (TCP and UDP on),
 *              then cut every coalesced write again with its own vnet header.
 * Invariants (trap): split yields >= 1 segment or -EINVAL; every segment fits the cap, is at
 * least the headers and at most the input; the segments' payloads add up to the input's;
 * coalescing never loses or invents payload bytes (writes add up to the packets minus the
 * headers of merged ones), every write has at most 2 + OFFLOAD_GRO_MAX_SEGS iovecs and is at
 * most 64 KiB + headers, and a coalesced write splits back into exactly its segment count. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "io/linux/offload.h"

static uint8_t out[OFFLOAD_MAX_PACKET + 64];
static uint8_t pkts[OFFLOAD_GRO_MAX_PKTS][2048];
static uint8_t flat[OFFLOAD_MAX_PACKET + 4096];
static offload_gro gro;

static void fuzz_split(const uint8_t *d, size_t n)
{
	offload_vnet h;
	offload_split s;
	size_t payload = 0;
	int ns;

	if (n < OFFLOAD_VNET_HDR_LEN)
		return;
	offload_vnet_parse(&h, d);
	ns = offload_split_init(&s, &h, d + OFFLOAD_VNET_HDR_LEN, n - OFFLOAD_VNET_HDR_LEN);
	CHECK_OR_TRAP(ns >= 1 || ns == -EINVAL);
	if (ns < 0)
		return;
	for (int i = 0; i < ns; i++) {
		size_t len = offload_split_segment(&s, (unsigned)i, out, sizeof(out));
		CHECK_OR_TRAP(len > 0 && len <= sizeof(out));
		if (s.gso) {
			CHECK_OR_TRAP(len > s.hdr_len && len <= s.hdr_len + s.seg_size);
			payload += len - s.hdr_len;
		} else {
			CHECK_OR_TRAP(len == s.len);
		}
	}
	if (s.gso)
		CHECK_OR_TRAP(payload == s.len - s.hdr_len);
	CHECK_OR_TRAP(offload_split_segment(&s, (unsigned)ns, out, sizeof(out)) == 0);
}

static void fuzz_gro(const uint8_t *d, size_t n)
{
	struct iovec iov[2 + OFFLOAD_GRO_MAX_SEGS];
	size_t in_bytes = 0, out_bytes = 0, np = 0;
	uint64_t merged_before;

	offload_gro_init(&gro, true, true);
	while (n >= 2 && np < OFFLOAD_GRO_MAX_PKTS) {
		size_t len = (size_t)(d[0] | d[1] << 8) % sizeof(pkts[0]);
		d += 2;
		n -= 2;
		if (len > n)
			len = n;
		memcpy(pkts[np], d, len);
		d += len;
		n -= len;
		CHECK_OR_TRAP(offload_gro_add(&gro, pkts[np], len));
		in_bytes += len;
		np++;
	}
	merged_before = gro.coalesced;
	offload_gro_finish(&gro);
	for (unsigned i = 0; i < offload_gro_count(&gro); i++) {
		unsigned k = offload_gro_iov(&gro, i, iov);
		size_t len = 0;
		offload_vnet h;
		offload_split s;

		CHECK_OR_TRAP(k >= 2 && k <= 2 + OFFLOAD_GRO_MAX_SEGS);
		for (unsigned j = 0; j < k; j++) {
			CHECK_OR_TRAP(len + iov[j].iov_len <= sizeof(flat));
			memcpy(flat + len, iov[j].iov_base, iov[j].iov_len);
			len += iov[j].iov_len;
		}
		out_bytes += len - OFFLOAD_VNET_HDR_LEN;
		offload_vnet_parse(&h, flat);
		if (h.gso_type == OFFLOAD_GSO_NONE) {
			CHECK_OR_TRAP(k == 2 && h.flags == 0);
			continue;
		}
		/* A coalesced write: headers + payloads, cut back into its k - 1 segments. */
		out_bytes += (size_t)(k - 2) * h.hdr_len;
		CHECK_OR_TRAP(len - OFFLOAD_VNET_HDR_LEN <= OFFLOAD_MAX_PACKET + 40);
		CHECK_OR_TRAP(offload_split_init(&s, &h, flat + OFFLOAD_VNET_HDR_LEN,
						 len - OFFLOAD_VNET_HDR_LEN) == (int)(k - 1));
	}
	CHECK_OR_TRAP(out_bytes == in_bytes);
	CHECK_OR_TRAP(gro.coalesced == merged_before);
	offload_gro_reset(&gro);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_gro(data + 1, size - 1);
	else
		fuzz_split(data + 1, size - 1);
	return 0;
}
