/* TUN virtio-net offloads, pure (no I/O): split a GSO super-packet the kernel hands us into
 * MTU-sized packets (read side), and coalesce TCP/UDP segments of one flow into one
 * super-packet for the kernel (write side, "GRO"). Everything here works on caller buffers;
 * every length and offset comes from hostile bytes and is checked before use.
 *
 * The vnet header (struct virtio_net_hdr, 10 bytes, host byte order) precedes every packet
 * read from or written to a TUN opened with IFF_VNET_HDR. */
#ifndef WGTUN_IO_LINUX_OFFLOAD_H
#define WGTUN_IO_LINUX_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define OFFLOAD_VNET_HDR_LEN 10
#define OFFLOAD_F_NEEDS_CSUM 1
#define OFFLOAD_GSO_NONE 0
#define OFFLOAD_GSO_TCPV4 1
#define OFFLOAD_GSO_TCPV6 4
#define OFFLOAD_GSO_UDP_L4 5
#define OFFLOAD_GSO_ECN 0x80

/* Largest IP packet either way (IPv4 total length / IPv6 payload length limit). */
#define OFFLOAD_MAX_PACKET 65535
/* Segments in one coalesced packet (the kernel's UDP GSO limit; TCP uses the same bound). */
#define OFFLOAD_GRO_MAX_SEGS 64
/* Packets one coalescing batch holds; offload_gro_add refuses more (caller writes first). */
#define OFFLOAD_GRO_MAX_PKTS 256
/* Flows that can still grow at once; a new one closes the oldest (it is written as is). */
#define OFFLOAD_GRO_OPEN 8

typedef struct {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
} offload_vnet;

void offload_vnet_parse(offload_vnet *h, const uint8_t b[OFFLOAD_VNET_HDR_LEN]);
void offload_vnet_put(const offload_vnet *h, uint8_t b[OFFLOAD_VNET_HDR_LEN]);

/* One's-complement sum of data added to sum (not folded, not complemented). */
uint64_t offload_csum_add(uint64_t sum, const uint8_t *data, size_t len);
/* Tests: on = the vector loop where the CPU has one (the default), off = the portable loop
 * only. Returns whether the vector loop is now in use. */
bool offload_csum_simd(bool on);
/* Folds to 16 bits (not complemented). */
uint16_t offload_csum_fold(uint64_t sum);
/* The pseudo-header sum (family AF_INET: 4-byte addresses at ip+12/16; AF_INET6: 16-byte at
 * ip+8/24) for protocol proto and upper-layer length l4_len. */
uint64_t offload_pseudo_sum(const uint8_t *ip, bool v6, uint8_t proto, uint32_t l4_len);

/* A validated super-packet ready to be cut (read side). */
typedef struct {
	const uint8_t *pkt;
	size_t len;
	bool v6, tcp, gso;   /* gso false: one packet, maybe with a checksum to finish */
	bool needs_csum;
	size_t l4_off;       /* IP header length */
	size_t hdr_len;      /* IP + TCP/UDP header */
	size_t seg_size;     /* payload bytes per segment (gso) */
	uint16_t csum_start, csum_offset;
	unsigned nseg;
} offload_split;

/* Checks h and pkt[0..len) and fills s. Returns the number of packets it yields (>= 1), or
 * -EINVAL (malformed, unsupported GSO type, headers that do not fit). */
int offload_split_init(offload_split *s, const offload_vnet *h, const uint8_t *pkt, size_t len);
/* Writes packet i (< nseg) to out (cap bytes, must not overlap the input): headers copied
 * and fixed (IPv4 ID + i, lengths, IPv4 header checksum, TCP sequence, FIN/PSH only on the
 * last, CWR only on the first), L4 checksum computed. Returns its length, 0 if cap is short. */
size_t offload_split_segment(const offload_split *s, unsigned i, uint8_t *out, size_t cap);

/* Write-side coalescer. Packets are added in the order they must reach the kernel; the
 * batch then yields writes (each one iovec list) in an order that keeps every flow's packets
 * in order. Added packets must stay valid (and may have their headers rewritten) until
 * offload_gro_reset. */
typedef struct {
	uint8_t *pkt;
	size_t len;
	uint8_t vnet[OFFLOAD_VNET_HDR_LEN];
	/* Flow of a coalescable packet. */
	bool open, tcp, v6;
	uint8_t key[36];     /* addresses + ports */
	size_t key_len;
	size_t l4_off, hdr_len;
	size_t seg_size;     /* payload of the first packet */
	size_t total;        /* IP packet length after coalescing */
	unsigned nseg;
	uint32_t next_seq;   /* TCP: sequence number the next segment must carry */
	int first_pay, last_pay; /* chain in pay[] of appended payloads, -1 = none */
	uint8_t last_flags;  /* TCP flags of the last segment (PSH moves to the head) */
} offload_item;

typedef struct {
	const uint8_t *p;
	size_t len;
	int next;
} offload_pay;

typedef struct {
	bool tcp, udp; /* what may be coalesced (TCP needs TSO on the TUN; UDP needs USO) */
	unsigned nitems, npay;
	int open[OFFLOAD_GRO_OPEN];
	unsigned nopen;
	offload_item items[OFFLOAD_GRO_MAX_PKTS];
	offload_pay pay[OFFLOAD_GRO_MAX_PKTS];
	/* Counters for the device's stats (since init). */
	uint64_t coalesced; /* packets merged into another */
} offload_gro;

void offload_gro_init(offload_gro *g, bool tcp, bool udp);
/* Adds one IP packet. false: the batch is full (nothing added): write it out, reset, retry. */
bool offload_gro_add(offload_gro *g, uint8_t *pkt, size_t len);
/* Fixes the headers of every coalesced packet. Call once, after the last add. */
void offload_gro_finish(offload_gro *g);
/* Number of writes. */
static inline unsigned offload_gro_count(const offload_gro *g)
{
	return g->nitems;
}
/* The iovecs of write i (vnet header, packet, appended payloads). Returns the count (at most
 * 2 + OFFLOAD_GRO_MAX_SEGS; iov needs that room). */
unsigned offload_gro_iov(offload_gro *g, unsigned i, struct iovec *iov);
/* Empties the batch (keeps the settings and counters). */
void offload_gro_reset(offload_gro *g);

#endif
