/* libFuzzer harness for the public under-load shield (wgtun_limiter_check, include/wgtun.h):
 * a sequence of datagrams from a few sources, with load reports, clock steps and failing
 * random draws in between, into one limiter (max 2 sources, load at 8 handshakes a second,
 * so the full table and the count-based load are reached quickly).
 *
 * Input: ops of 3 header bytes + a body, until the input ends.
 *   flags: bits 0-1 kind: 0 = the body as the datagram (any bytes, any length);
 *                         1 = an initiation, 2 = a response: the body (zero-padded) with the
 *                             right header and length, mac1 and mac2 set by that source's
 *                             cookie maker (mac2 once it holds a cookie from a reply);
 *                         3 = the body with a valid header of type body[0] % 4 + 1, at that
 *                             type's length (handshakes with a bad mac1, replies, data).
 *          bit 2 report_load first; bit 3 IPv6 source; bits 4-5 which source (of 4);
 *          bit 6 the random source fails during this op; bit 7 out == dgram (in place).
 *   step:  the clock moves on step * 5 ms first.
 *   len:   body length (what is left if less).
 * Invariants (trap on violation): the result is one the header lists; a reply comes exactly
 * with WRITE_NETWORK, is 64 bytes of type 3 addressed to the message's sender index, and
 * never without random bytes; a crafted message never fails mac1; the stats add up
 * (handshakes = passed + replies + rate limited + random errors) and the table stays within
 * its bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "wgtun.h"

#include "proto/cookie.h"
#include "proto/messages.h"

#include "fuzz_lcg.h"

#define SOURCES 4
#define MAX_SOURCES 2
#define BUF 256

typedef struct {
	fuzz_lcg lcg;
	int fail;
} harness_rng;

static int harness_random(void *ctx, void *out, size_t n)
{
	harness_rng *r = ctx;

	if (r->fail) {
		memset(out, 0x5a, n);
		return -1;
	}
	return fuzz_lcg_fill(&r->lcg, out, n);
}

static const uint8_t limiter_pub[32] = {
	0x1c, 0x2d, 0x3e, 0x4f, 0x50, 0x61, 0x72, 0x83, 0x94, 0xa5, 0xb6, 0xc7, 0xd8, 0xe9, 0xfa, 0x0b,
	0x1c, 0x2d, 0x3e, 0x4f, 0x50, 0x61, 0x72, 0x83, 0x94, 0xa5, 0xb6, 0xc7, 0xd8, 0xe9, 0xfa, 0x0b,
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t type_len(int type)
{
	switch (type) {
	case WG_MSG_INITIATION:
		return WG_MSG_INITIATION_LEN;
	case WG_MSG_RESPONSE:
		return WG_MSG_RESPONSE_LEN;
	case WG_MSG_COOKIE_REPLY:
		return WG_MSG_COOKIE_REPLY_LEN;
	default:
		return WG_MSG_DATA_MIN_LEN + 16;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cookie_maker makers[SOURCES];
	harness_rng rng = {{0x5eed}, 0};
	wgtun_limiter_config cfg;
	wgtun_limiter *l = NULL;
	uint64_t now = 1000000000ULL;
	size_t pos = 0;

	wgtun_limiter_config_init(&cfg);
	memcpy(cfg.public_key, limiter_pub, 32);
	cfg.load_per_second = 8;
	cfg.max_sources = MAX_SOURCES;
	cfg.random = harness_random;
	cfg.ctx = &rng;
	CHECK_OR_TRAP(wgtun_limiter_new(&cfg, now, &l) == 0);
	for (int i = 0; i < SOURCES; i++)
		cookie_maker_init(&makers[i], limiter_pub);

	while (pos + 3 <= size) {
		uint8_t flags = data[pos], step = data[pos + 1];
		size_t blen = data[pos + 2], len;
		uint8_t buf[BUF], out_buf[BUF], copy[BUF], addr[16];
		uint8_t *out = out_buf;
		int kind = flags & 3, src = (flags >> 4) & 3, r;
		bool v6 = flags & 8;
		size_t n = 99;
		wgtun_limiter_stats st;

		pos += 3;
		if (blen > size - pos)
			blen = size - pos;
		memset(buf, 0, sizeof(buf));
		memcpy(buf, data + pos, blen);
		pos += blen;
		len = blen;
		if (kind == 1 || kind == 2) {
			int type = kind == 1 ? WG_MSG_INITIATION : WG_MSG_RESPONSE;

			len = type_len(type);
			wg_msg_set_header(buf, (enum wg_message_type)type);
			CHECK_OR_TRAP(cookie_maker_add_macs(&makers[src], buf, len, now) ==
				      COOKIE_OK);
		} else if (kind == 3) {
			int type = buf[0] % 4 + 1;

			len = type_len(type);
			wg_msg_set_header(buf, (enum wg_message_type)type);
		}
		memcpy(copy, buf, len);

		memset(addr, 0, sizeof(addr));
		if (v6) {
			addr[0] = 0x20;
			addr[1] = 0x01;
			addr[5] = (uint8_t)src; /* one /64 per source */
			addr[15] = 1;
		} else {
			addr[0] = 10;
			addr[3] = (uint8_t)(src + 1);
		}
		now += (uint64_t)step * 5000000ULL;
		if (flags & 4)
			wgtun_limiter_report_load(l, now);
		rng.fail = (flags & 0x40) != 0;
		if (flags & 0x80)
			out = buf;
		r = wgtun_limiter_check(l, now, buf, len, addr, v6 ? 16 : 4, (uint16_t)(4000 + src),
					out, BUF, &n);
		CHECK_OR_TRAP(r == WGTUN_LIMITER_PASS || r == WGTUN_TUNNEL_WRITE_NETWORK ||
			      r == WGTUN_TUNNEL_ERR_MALFORMED || r == WGTUN_TUNNEL_ERR_MAC ||
			      r == WGTUN_TUNNEL_ERR_RATELIMITED || r == WGTUN_TUNNEL_ERR_RANDOM);
		CHECK_OR_TRAP((r == WGTUN_TUNNEL_WRITE_NETWORK) == (n == WGTUN_LIMITER_REPLY_LEN));
		CHECK_OR_TRAP(r == WGTUN_TUNNEL_WRITE_NETWORK || n == 0);
		if (kind == 1 || kind == 2)
			CHECK_OR_TRAP(r != WGTUN_TUNNEL_ERR_MAC && r != WGTUN_TUNNEL_ERR_MALFORMED);
		if (r == WGTUN_TUNNEL_WRITE_NETWORK) {
			CHECK_OR_TRAP(!rng.fail);
			CHECK_OR_TRAP(le32(out) == WG_MSG_COOKIE_REPLY);
			CHECK_OR_TRAP(le32(out + 4) == le32(copy + 4));
			CHECK_OR_TRAP(wgtun_limiter_under_load(l, now) == 1);
			/* the source takes its cookie (or refuses a reply to an older mac1) */
			(void)cookie_maker_consume_reply(&makers[src], out, n, now);
		}
		rng.fail = 0;
		st.struct_size = sizeof(st);
		CHECK_OR_TRAP(wgtun_limiter_get_stats(l, &st) == 0);
		CHECK_OR_TRAP(st.handshakes ==
			      st.passed + st.cookie_replies + st.ratelimited + st.random_errors);
		CHECK_OR_TRAP(st.sources <= MAX_SOURCES);
	}
	wgtun_limiter_free(l);
	for (int i = 0; i < SOURCES; i++)
		cookie_maker_wipe(&makers[i]);
	return 0;
}
