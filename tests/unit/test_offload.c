/* TUN offloads: GSO split and GRO coalesce against hand-built packets. Every checksum is
 * checked by a deliberately naive routine here (16-bit big-endian words, end-around carry),
 * independent of the module's word-at-a-time code. */
#include "test.h"

#include "io/linux/offload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- naive reference ---- */

static uint32_t naive_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t naive_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t naive_pseudo(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	uint32_t s = 0;
	if ((ip[0] >> 4) == 4) {
		s = naive_add(s, ip + 12, 8);
		s += proto + (uint32_t)l4len;
	} else {
		s = naive_add(s, ip + 8, 32);
		s += (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff) + proto;
	}
	return s;
}

static size_t l4_of(const uint8_t *p)
{
	return (p[0] >> 4) == 4 ? (size_t)(p[0] & 15) * 4 : 40;
}

/* True if the IPv4 header (if any) and the TCP/UDP checksum verify. */
static bool naive_valid(const uint8_t *p, size_t len)
{
	size_t l4 = l4_of(p);
	uint8_t proto = (p[0] >> 4) == 4 ? p[9] : p[6];
	if ((p[0] >> 4) == 4 && naive_fold(naive_add(0, p, l4)) != 0xffff)
		return false;
	return naive_fold(naive_add(naive_pseudo(p, proto, len - l4), p + l4, len - l4)) == 0xffff;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* ---- packet builder ---- */

typedef struct {
	bool v6, udp;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;    /* TCP */
	size_t opts;      /* TCP option bytes (multiple of 4) */
	size_t ip_opts;   /* IPv4 option bytes */
	uint8_t ttl;
	uint16_t id;
	uint16_t window;
	uint8_t fill;     /* payload byte i = fill + i */
} spec;

static spec tcp4(void)
{
	return (spec){ .sport = 40000, .dport = 5201, .seq = 1000, .ack = 77, .flags = 0x10,
		       .opts = 12, .ttl = 64, .id = 0x1234, .window = 500 };
}

/* Writes the headers for payload plen (payload bytes filled from fill, checksums valid). */
static size_t build(uint8_t *p, const spec *s, size_t plen)
{
	size_t l4 = s->v6 ? 40 : 20 + s->ip_opts;
	size_t h4 = s->udp ? 8 : 20 + s->opts;
	size_t len = l4 + h4 + plen;
	uint16_t c;

	memset(p, 0, l4 + h4);
	if (!s->v6) {
		p[0] = (uint8_t)(0x40 | (l4 / 4));
		wr16(p + 2, (uint16_t)len);
		wr16(p + 4, s->id);
		p[6] = 0x40; /* DF */
		p[8] = s->ttl;
		p[9] = s->udp ? 17 : 6;
		p[12] = 10, p[13] = 0, p[14] = 0, p[15] = 1;
		p[16] = 10, p[17] = 0, p[18] = 0, p[19] = 2;
		for (size_t i = 20; i < l4; i++)
			p[i] = 1; /* NOP options */
		c = (uint16_t)~naive_fold(naive_add(0, p, l4));
		wr16(p + 10, c);
	} else {
		p[0] = 0x60;
		wr16(p + 4, (uint16_t)(len - 40));
		p[6] = s->udp ? 17 : 6;
		p[7] = s->ttl;
		p[8] = 0xfd, p[23] = 1;
		p[24] = 0xfd, p[39] = 2;
	}
	wr16(p + l4, s->sport);
	wr16(p + l4 + 2, s->dport);
	if (s->udp) {
		wr16(p + l4 + 4, (uint16_t)(h4 + plen));
	} else {
		wr32(p + l4 + 4, s->seq);
		wr32(p + l4 + 8, s->ack);
		p[l4 + 12] = (uint8_t)((h4 / 4) << 4);
		p[l4 + 13] = s->flags;
		wr16(p + l4 + 14, s->window);
		for (size_t i = 0; i < s->opts; i++)
			p[l4 + 20 + i] = (uint8_t)(0x40 + i);
	}
	for (size_t i = 0; i < plen; i++)
		p[l4 + h4 + i] = (uint8_t)(s->fill + i);
	c = (uint16_t)~naive_fold(naive_add(naive_pseudo(p, s->udp ? 17 : 6, h4 + plen), p + l4,
					    h4 + plen));
	if (s->udp && c == 0)
		c = 0xffff;
	wr16(p + l4 + (s->udp ? 6 : 16), c);
	return len;
}

static uint8_t big[70000], seg[256][2048], flat[256 * 2048 + 4096];

/* ---- checksum ---- */

static void test_csum(void)
{
	test_rng r;
	uint8_t buf[3000];

	test_rng_seed(&r, 5);
	for (int t = 0; t < 2000; t++) {
		size_t n = (size_t)t % 3000;
		test_rng_bytes(&r, buf, n);
		CHECK_EQ_INT(offload_csum_fold(offload_csum_add(0, buf, n)),
			     naive_fold(naive_add(0, buf, n)));
	}
	memset(buf, 0xff, sizeof(buf));
	CHECK_EQ_INT(offload_csum_fold(offload_csum_add(0, buf, 3000)), 0xffff);
	/* Unaligned starts, and sums carried across calls (even pieces, the odd one last), as
	 * the split and the coalescer chain them (pseudo-header, then header, then payload). */
	for (int t = 0; t < 3000; t++) {
		size_t off = (size_t)t % 8, n = (size_t)(t * 7) % (sizeof(buf) - 8), cut;
		uint64_t sum;
		test_rng_bytes(&r, buf, sizeof(buf));
		cut = (n / 2) & ~(size_t)1;
		sum = offload_csum_add(offload_csum_add(0, buf + off, cut), buf + off + cut, n - cut);
		CHECK_EQ_INT(offload_csum_fold(sum), naive_fold(naive_add(0, buf + off, n)));
		/* A large running sum going in (an earlier call over 2 KB of 0xff bytes); the
		 * reference sums the same bytes in one go. */
		{
			static uint8_t pre[2048 + 3000];
			uint32_t ref;
			memset(pre, 0xff, 2048);
			memcpy(pre + 2048, buf + off, n);
			sum = offload_csum_add(offload_csum_add(0, pre, 2048), buf + off, n);
			ref = naive_add(0, pre, 2048 + n);
			CHECK_EQ_INT(offload_csum_fold(sum), naive_fold(ref));
		}
	}
	/* Every 64-bit add carries: all-ones over a whole super-packet, and 0xff..fe words. */
	{
		static uint8_t huge[65536];
		memset(huge, 0xff, sizeof(huge));
		CHECK_EQ_INT(offload_csum_fold(offload_csum_add(0, huge, sizeof(huge))), 0xffff);
		for (size_t i = 0; i < sizeof(huge); i += 2)
			huge[i + 1] = 0xfe;
		CHECK_EQ_INT(offload_csum_fold(offload_csum_add(0, huge + 1, 65533)),
			     naive_fold(naive_add(0, huge + 1, 65533)));
	}
}

/* ---- split ---- */

/* Splits super (built from s with plen payload, gso_size gs) and checks every segment. */
static void check_split(spec s, size_t plen, uint16_t gs)
{
	offload_vnet h = { .flags = OFFLOAD_F_NEEDS_CSUM, .gso_size = gs };
	offload_split sp;
	size_t len = build(big, &s, plen), l4 = s.v6 ? 40 : 20 + s.ip_opts;
	size_t h4 = s.udp ? 8 : 20 + s.opts, done = 0;
	unsigned want = (unsigned)((plen + gs - 1) / gs);
	int n;

	h.gso_type = s.udp ? OFFLOAD_GSO_UDP_L4 : s.v6 ? OFFLOAD_GSO_TCPV6 : OFFLOAD_GSO_TCPV4;
	h.csum_start = (uint16_t)l4;
	h.csum_offset = s.udp ? 6 : 16;
	h.hdr_len = 3; /* a lie: must be ignored */
	/* The kernel leaves the pseudo-header sum in the L4 checksum field: garbage here. */
	wr16(big + l4 + (s.udp ? 6 : 16), 0xbeef);
	n = offload_split_init(&sp, &h, big, len);
	CHECK_EQ_INT(n, (int)want);
	for (unsigned i = 0; i < (unsigned)n; i++) {
		uint8_t *o = seg[i];
		size_t got = offload_split_segment(&sp, i, o, sizeof(seg[i]));
		size_t p = plen - done < gs ? plen - done : gs;
		CHECK_EQ_U64(got, l4 + h4 + p);
		CHECK_MSG(naive_valid(o, got), "segment %u checksum", i);
		if (!s.v6) {
			CHECK_EQ_INT(rd16(o + 2), (int)got);
			CHECK_EQ_INT(rd16(o + 4), (uint16_t)(s.id + i));
			CHECK_EQ_INT(o[6], 0x40);
		} else {
			CHECK_EQ_INT(rd16(o + 4), (int)(got - 40));
		}
		if (s.udp) {
			CHECK_EQ_INT(rd16(o + l4 + 4), (int)(got - l4));
		} else {
			uint8_t fl = o[l4 + 13];
			CHECK_EQ_U64(rd32(o + l4 + 4), (uint32_t)(s.seq + done));
			CHECK_EQ_U64(rd32(o + l4 + 8), s.ack);
			if (i + 1 < want)
				CHECK_MSG(!(fl & 0x09), "PSH/FIN only on the last (seg %u: %#x)", i, fl);
			else
				CHECK_EQ_INT(fl & 0x09, s.flags & 0x09);
			if (i > 0)
				CHECK(!(fl & 0x80));
			CHECK_MEM(o + l4 + 20, big + l4 + 20, s.opts);
		}
		for (size_t k = 0; k < p; k++)
			CHECK_EQ_INT(o[l4 + h4 + k], (uint8_t)(s.fill + done + k));
		done += p;
	}
	CHECK_EQ_U64(done, plen);
	CHECK_EQ_U64(offload_split_segment(&sp, want, seg[0], sizeof(seg[0])), 0);
}

static void test_split(void)
{
	spec s = tcp4();

	s.flags = 0x10 | 0x08 | 0x01 | 0x80; /* ACK PSH FIN CWR */
	check_split(s, 5000, 1368);
	check_split(s, 1368 * 3, 1368); /* exact multiple */
	check_split(s, 100, 1368);      /* one short segment */
	s.opts = 0;
	check_split(s, 65535 - 40, 1448);
	s.ip_opts = 8;
	check_split(s, 3000, 1000);
	s = tcp4();
	s.v6 = true;
	check_split(s, 7777, 1348);
	check_split(s, 65535 - 32, 1348);
	s.udp = true;
	check_split(s, 64 * 50, 64);
	check_split(s, 1000, 300);
	s.v6 = false;
	check_split(s, 64 * 64, 64);
	check_split(s, 1401, 700);
}

static void test_split_needs_csum(void)
{
	spec s = tcp4();
	offload_vnet h = { .flags = OFFLOAD_F_NEEDS_CSUM };
	offload_split sp;
	size_t len, l4 = 20;
	uint16_t ps;

	s.udp = true;
	for (int t = 0; t < 2; t++) {
		len = build(big, &s, 333);
		/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum. */
		ps = naive_fold(naive_pseudo(big, s.udp ? 17 : 6, len - l4));
		wr16(big + l4 + (s.udp ? 6 : 16), ps);
		h.csum_start = (uint16_t)l4;
		h.csum_offset = s.udp ? 6 : 16;
		CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), 1);
		CHECK_EQ_U64(offload_split_segment(&sp, 0, seg[0], sizeof(seg[0])), len);
		CHECK(naive_valid(seg[0], len));
		CHECK_MEM(seg[0] + (s.udp ? 28 : 40), big + (s.udp ? 28 : 40), 333);
		s.udp = false;
		s.opts = 0;
		l4 = 20;
	}
	/* No flags, no GSO: copied untouched. */
	memset(&h, 0, sizeof(h));
	len = build(big, &s, 10);
	big[len - 1] ^= 1; /* even a bad checksum is not our business */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), 1);
	CHECK_EQ_U64(offload_split_segment(&sp, 0, seg[0], sizeof(seg[0])), len);
	CHECK_MEM(seg[0], big, len);
	CHECK_EQ_U64(offload_split_segment(&sp, 0, seg[0], len - 1), 0); /* cap too small */
	/* csum position past the end. */
	h.flags = OFFLOAD_F_NEEDS_CSUM;
	h.csum_start = (uint16_t)(len - 1);
	h.csum_offset = 0;
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
}

static void test_split_bad(void)
{
	spec s = tcp4();
	offload_vnet h = { .gso_type = OFFLOAD_GSO_TCPV4, .gso_size = 1000 };
	offload_split sp;
	size_t len = build(big, &s, 3000);

	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), 3);
	h.gso_size = 0;
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	h.gso_size = 1000;
	h.gso_type = 3; /* UFO: unsupported */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	h.gso_type = OFFLOAD_GSO_TCPV6; /* IPv4 packet */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	h.gso_type = OFFLOAD_GSO_UDP_L4; /* TCP packet */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	h.gso_type = OFFLOAD_GSO_TCPV4 | OFFLOAD_GSO_ECN;
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), 3);
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, 20 + 32), -EINVAL); /* no payload */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, 30), -EINVAL);      /* TCP cut */
	big[20 + 12] = 0xf0;                                              /* doff 60 > len */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, 70), -EINVAL);
	big[20 + 12] = 0x40; /* doff 16 < 20 */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	build(big, &s, 3000);
	big[6] = 0x20; /* MF: a fragment */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	build(big, &s, 3000);
	big[0] = 0x4f; /* ihl 60 */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, 40), -EINVAL);
	big[0] = 0x44; /* ihl 16 */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	big[0] = 0x55;
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	s.v6 = true;
	len = build(big, &s, 3000);
	h.gso_type = OFFLOAD_GSO_TCPV6;
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), 3);
	big[6] = 0; /* hop-by-hop extension header */
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, len), -EINVAL);
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, 0), -EINVAL);
	CHECK_EQ_INT(offload_split_init(&sp, &h, big, 39), -EINVAL);
}

/* ---- coalesce ---- */

/* Writes of the batch flattened: write i is flat[off[i] .. off[i+1]). */
static unsigned writes(offload_gro *g, size_t *off)
{
	struct iovec iov[2 + OFFLOAD_GRO_MAX_SEGS];
	size_t pos = 0;

	offload_gro_finish(g);
	for (unsigned i = 0; i < offload_gro_count(g); i++) {
		unsigned n = offload_gro_iov(g, i, iov);
		CHECK(n <= 2 + OFFLOAD_GRO_MAX_SEGS);
		off[i] = pos;
		for (unsigned k = 0; k < n; k++) {
			memcpy(flat + pos, iov[k].iov_base, iov[k].iov_len);
			pos += iov[k].iov_len;
		}
	}
	off[offload_gro_count(g)] = pos;
	return offload_gro_count(g);
}

/* Splits write w again (as the kernel would) and checks it yields exactly the segments
 * pkts[first..first+n). */
static void check_write(size_t *off, unsigned w, uint8_t (*pkts)[2048], const size_t *lens,
			unsigned first, unsigned n)
{
	offload_vnet h;
	offload_split sp;
	static uint8_t out[2048];
	const uint8_t *p = flat + off[w] + OFFLOAD_VNET_HDR_LEN;
	size_t len = off[w + 1] - off[w] - OFFLOAD_VNET_HDR_LEN;

	offload_vnet_parse(&h, flat + off[w]);
	if (n == 1) {
		CHECK_EQ_INT(h.gso_type, OFFLOAD_GSO_NONE);
		CHECK_EQ_INT(h.flags, 0);
		CHECK_EQ_U64(len, lens[first]);
		CHECK_MEM(p, pkts[first], len);
		return;
	}
	CHECK_EQ_INT(h.flags, OFFLOAD_F_NEEDS_CSUM);
	CHECK_EQ_INT(h.csum_start, (int)l4_of(p));
	/* The L4 field holds the pseudo-header sum (what the kernel expects for CHECKSUM_PARTIAL). */
	{
		uint8_t proto = (p[0] >> 4) == 4 ? p[9] : p[6];
		size_t l4 = l4_of(p);
		CHECK_EQ_INT(rd16(p + l4 + h.csum_offset), naive_fold(naive_pseudo(p, proto, len - l4)));
		if ((p[0] >> 4) == 4)
			CHECK_EQ_INT(naive_fold(naive_add(0, p, l4)), 0xffff);
	}
	CHECK_EQ_INT(offload_split_init(&sp, &h, p, len), (int)n);
	for (unsigned i = 0; i < n; i++) {
		size_t got = offload_split_segment(&sp, i, out, sizeof(out));
		CHECK_EQ_U64(got, lens[first + i]);
		CHECK(naive_valid(out, got));
		/* The IPv4 ID is rewritten (head ID + i); everything else must be identical. */
		if ((out[0] >> 4) == 4) {
			CHECK_MEM(out, pkts[first + i], 4);
			CHECK_MEM(out + 6, pkts[first + i] + 6, 4);
			CHECK_MEM(out + 12, pkts[first + i] + 12, got - 12);
		} else {
			CHECK_MEM(out, pkts[first + i], got);
		}
	}
}

static uint8_t pk[256][2048], orig[256][2048];
static size_t pl[256];

/* Adds packet i, keeping a pristine copy (the coalescer rewrites head packets' headers). */
static bool add(offload_gro *g, unsigned i)
{
	memcpy(orig[i], pk[i], pl[i]);
	return offload_gro_add(g, pk[i], pl[i]);
}

static void test_coalesce_roundtrip(void)
{
	static offload_gro g;
	size_t off[300];
	spec s = tcp4();

	for (int v = 0; v < 3; v++) {
		s = tcp4();
		s.v6 = v == 1;
		s.udp = v == 2;
		offload_gro_init(&g, true, true);
		for (unsigned i = 0; i < 10; i++) {
			size_t plen = i == 9 ? 500 : 1348;
			s.fill = (uint8_t)(i * 7);
			if (i == 9)
				s.flags |= 0x08; /* PSH on the last */
			pl[i] = build(pk[i], &s, plen);
			s.seq += (uint32_t)plen;
			s.id++;
			CHECK(add(&g, i));
		}
		CHECK_EQ_INT(writes(&g, off), 1);
		check_write(off, 0, orig, pl, 0, 10);
		CHECK_EQ_U64(g.coalesced, 9);
	}
	/* UDP without USO, TCP without TSO: nothing merges. */
	offload_gro_init(&g, false, false);
	s = tcp4();
	for (unsigned i = 0; i < 3; i++) {
		pl[i] = build(pk[i], &s, 100);
		s.seq += 100;
		CHECK(add(&g, i));
	}
	CHECK_EQ_INT(writes(&g, off), 3);
	for (unsigned i = 0; i < 3; i++)
		check_write(off, i, orig, pl, i, 1);
}

/* Feeds packets built by mutate(i, &spec, &plen, pkt) and checks the writes against the
 * expected grouping: groups[k] = number of packets in write k, in order. */
typedef void (*mutator)(unsigned i, spec *s, size_t *plen);

static void run_case(const char *name, unsigned n, mutator m, const unsigned *groups,
		     unsigned ngroups, void (*post)(unsigned i, uint8_t *p, size_t len))
{
	static offload_gro g;
	size_t off[300];
	spec s = tcp4();
	unsigned first = 0, nw;

	offload_gro_init(&g, true, true);
	for (unsigned i = 0; i < n; i++) {
		size_t plen = 1000;
		spec t = s;
		m(i, &t, &plen);
		pl[i] = build(pk[i], &t, plen);
		if (post)
			post(i, pk[i], pl[i]);
		s.seq += (uint32_t)plen;
		CHECK(add(&g, i));
	}
	nw = writes(&g, off);
	CHECK_MSG(nw == ngroups, "%s: %u writes, want %u", name, nw, ngroups);
	if (nw != ngroups)
		return;
	for (unsigned k = 0; k < ngroups; k++) {
		check_write(off, k, orig, pl, first, groups[k]);
		first += groups[k];
	}
}

static void m_plain(unsigned i, spec *s, size_t *plen)
{
	(void)i, (void)s, (void)plen;
}
static void m_ports(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i >= 2)
		s->sport++;
}
static void m_gap(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i >= 2)
		s->seq += 1;
}
static void m_ack(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i >= 2)
		s->ack += 1;
}
static void m_fin(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i == 2)
		s->flags |= 0x01;
}
static void m_syn(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i == 0)
		s->flags = 0x12;
}
static void m_psh_mid(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i == 1)
		s->flags |= 0x08;
}
static void m_short_mid(unsigned i, spec *s, size_t *plen)
{
	(void)s;
	if (i == 1)
		*plen = 500;
}
static void m_bigger(unsigned i, spec *s, size_t *plen)
{
	(void)s;
	if (i == 2)
		*plen = 1200;
}
static void m_ttl(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i == 2)
		s->ttl = 63;
}
static void m_window(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i == 2)
		s->window = 501;
}
static void m_ipopts(unsigned i, spec *s, size_t *plen)
{
	(void)i, (void)plen;
	s->ip_opts = 4;
}
static void m_nopayload(unsigned i, spec *s, size_t *plen)
{
	(void)s;
	if (i == 1)
		*plen = 0;
}
static void m_optbytes(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	if (i == 2)
		s->opts = 8;
}
static void m_interleave(unsigned i, spec *s, size_t *plen)
{
	(void)plen;
	/* Two flows, alternating; each flow's sequence is its own. */
	if (i & 1) {
		s->sport++;
		s->seq = 5000 + (i / 2) * 1000;
	} else {
		s->seq = 1000 + (i / 2) * 1000;
	}
}
static void p_badcsum(unsigned i, uint8_t *p, size_t len)
{
	if (i == 2)
		p[len - 1] ^= 0x55;
}
static void m_udp_sizes(unsigned i, spec *s, size_t *plen)
{
	s->udp = true;
	*plen = i == 2 ? 64 : i == 3 ? 100 : 100;
}

static void test_coalesce_rules(void)
{
	static const unsigned all5[] = { 5 };
	static const unsigned g23[] = { 2, 3 };
	static const unsigned g212[] = { 2, 1, 2 };
	static const unsigned g14[] = { 1, 4 };
	static const unsigned g113[] = { 1, 1, 3 };
	static const unsigned g221[] = { 2, 2, 1 };
	static const unsigned ones5[] = { 1, 1, 1, 1, 1 };

	run_case("plain", 5, m_plain, all5, 1, NULL);
	run_case("other port", 5, m_ports, g23, 2, NULL);
	run_case("seq gap", 5, m_gap, g23, 2, NULL);
	run_case("ack change", 5, m_ack, g23, 2, NULL);
	/* A FIN in the middle is written on its own; the next segment starts a new packet. */
	run_case("fin", 5, m_fin, g212, 3, NULL);
	run_case("syn first", 5, m_syn, g14, 2, NULL);
	run_case("psh mid", 5, m_psh_mid, g23, 2, NULL);
	run_case("short mid", 5, m_short_mid, g23, 2, NULL);
	/* 1200 > 1000 starts anew; the 1000 after it is short for that one and ends it. */
	run_case("bigger later", 5, m_bigger, g221, 3, NULL);
	run_case("ttl", 5, m_ttl, g212, 3, NULL);
	run_case("window", 5, m_window, g212, 3, NULL);
	run_case("ip options", 5, m_ipopts, ones5, 5, NULL);
	run_case("no payload", 5, m_nopayload, g113, 3, NULL);
	run_case("tcp options", 5, m_optbytes, g212, 3, NULL);
	run_case("bad checksum", 5, m_plain, g212, 3, p_badcsum);
	/* UDP: 100,100 | 64 ends (short) | 100,100 start anew. */
	{
		static const unsigned gu[] = { 3, 2 };
		run_case("udp sizes", 5, m_udp_sizes, gu, 2, NULL);
	}
}

static void test_coalesce_interleave(void)
{
	static offload_gro g;
	size_t off[300];
	offload_vnet h;

	/* Two flows alternating: two writes of 5 each. */
	offload_gro_init(&g, true, false);
	for (unsigned i = 0; i < 10; i++) {
		spec s = tcp4();
		m_interleave(i, &s, &(size_t){ 0 });
		pl[i] = build(pk[i], &s, 1000);
		CHECK(add(&g, i));
	}
	CHECK_EQ_INT(writes(&g, off), 2);
	for (unsigned w = 0; w < 2; w++) {
		offload_vnet_parse(&h, flat + off[w]);
		CHECK_EQ_INT(h.gso_type, OFFLOAD_GSO_TCPV4);
		CHECK_EQ_U64(off[w + 1] - off[w], OFFLOAD_VNET_HDR_LEN + 52 + 5000);
	}
	/* OFFLOAD_GRO_OPEN flows at once all grow; with more, the oldest is closed (written as
	 * it is) and nothing is lost or reordered. */
	for (unsigned nf = OFFLOAD_GRO_OPEN; nf <= OFFLOAD_GRO_OPEN + 2; nf += 2) {
		unsigned nw, total = 0;
		offload_gro_init(&g, true, false);
		for (unsigned i = 0; i < 4 * nf; i++) {
			spec s = tcp4();
			s.sport = (uint16_t)(1000 + i % nf);
			s.seq = 1000 + (i / nf) * 1000;
			pl[i] = build(pk[i], &s, 1000);
			CHECK(add(&g, i));
		}
		nw = writes(&g, off);
		for (unsigned w = 0; w < nw; w++) {
			offload_vnet_parse(&h, flat + off[w]);
			total += h.gso_type ? (unsigned)((off[w + 1] - off[w] - 62) / 1000) : 1;
		}
		CHECK_EQ_INT(total, 4 * nf);
		if (nf == OFFLOAD_GRO_OPEN)
			CHECK_EQ_INT(nw, nf);
		else
			CHECK_EQ_INT(nw, 4 * nf); /* round-robin over more flows than slots */
	}
	/* Segment bound: 70 equal segments -> 64 + 6. */
	offload_gro_init(&g, true, true);
	for (unsigned i = 0; i < 70; i++) {
		spec s = tcp4();
		s.udp = true;
		pl[i] = build(pk[i], &s, 64);
		CHECK(add(&g, i));
	}
	CHECK_EQ_INT(writes(&g, off), 2);
	check_write(off, 0, orig, pl, 0, 64);
	check_write(off, 1, orig, pl, 64, 6);
	/* Length bound: 1400-byte segments stop before 65535. */
	offload_gro_init(&g, true, true);
	for (unsigned i = 0; i < 60; i++) {
		spec s = tcp4();
		s.seq = 1000 + i * 1400;
		pl[i] = build(pk[i], &s, 1400);
		CHECK(add(&g, i));
	}
	CHECK_EQ_INT(writes(&g, off), 2);
	check_write(off, 0, orig, pl, 0, 46); /* 52 + 46 * 1400 = 64452 */
	check_write(off, 1, orig, pl, 46, 14);
	/* The batch bound. */
	offload_gro_init(&g, false, false);
	for (unsigned i = 0; i < OFFLOAD_GRO_MAX_PKTS; i++)
		CHECK(offload_gro_add(&g, pk[0], 20));
	CHECK(!offload_gro_add(&g, pk[0], 20));
	offload_gro_reset(&g);
	CHECK(offload_gro_add(&g, pk[0], 20));
}

/* Garbage never crashes and always comes back byte for byte when nothing merges. */
static void test_coalesce_garbage(void)
{
	static offload_gro g;
	size_t off[300];
	test_rng r;

	test_rng_seed(&r, 9);
	offload_gro_init(&g, true, true);
	for (unsigned i = 0; i < 200; i++) {
		uint8_t b;
		test_rng_bytes(&r, &b, 1);
		pl[i] = 1 + b * 4u;
		test_rng_bytes(&r, pk[i], pl[i]);
		pk[i][0] = (uint8_t)(i & 1 ? 0x45 : 0x60);
		CHECK(add(&g, i));
	}
	CHECK_EQ_INT(writes(&g, off), 200);
	for (unsigned i = 0; i < 200; i++)
		check_write(off, i, orig, pl, i, 1);
}

int main(void)
{
	test_csum();
	test_split();
	test_split_needs_csum();
	test_split_bad();
	test_coalesce_roundtrip();
	test_coalesce_rules();
	test_coalesce_interleave();
	test_coalesce_garbage();
	/* Again with the portable checksum loop only: where the CPU has AVX2 the runs above
	 * took the vector loop for 128 bytes and more, and both must match the reference. */
	if (offload_csum_simd(false) == false) {
		test_csum();
		test_split();
		test_split_needs_csum();
		test_coalesce_roundtrip();
	}
	printf("offload: vector checksum loop %s\n",
	       offload_csum_simd(true) ? "available and tested" : "not available on this CPU");
	return test_finish("offload");
}
