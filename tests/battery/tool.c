/* battery_tool: the traffic generators of the fault battery (tests/battery/run.sh).
 *
 *   battery_tool capture IFNAME PORT COUNT FILE SECONDS
 *       saves up to COUNT UDP payloads sent to PORT seen on IFNAME (AF_PACKET) to FILE
 *   battery_tool garbage DST_IP PORT COUNT PPS SRC_BASE NSRC CAPFILE
 *       sends COUNT hostile datagrams (random, truncated, wrong type, wrong length, replayed
 *       and bit-flipped captured packets, valid headers with bad MACs) from NSRC source
 *       addresses SRC_BASE, SRC_BASE+1, ... (they must be assigned locally)
 *   battery_tool flood DST_IP PORT PUBHEX SECONDS SRC_BASE NSRC
 *       sends handshake initiations with a valid mac1 for PUBHEX as fast as it can, and
 *       counts the cookie replies that come back
 *   battery_tool churn SOCKET SECONDS RATE LEGIT_PUBHEX PRIVHEX ENDPOINT PORT
 *       random UAPI `set` operations on the daemon behind SOCKET at RATE per second for
 *       SECONDS: peers added/removed (in 10.241.0.0/16 and fd41::/16), allowed IPs replaced,
 *       preshared keys and endpoints changed, `get`s, malformed requests (must fail and change
 *       nothing), the legitimate peer's endpoint bent (it must roam back), our private key and
 *       port flipped and restored; plus a datagram into the tunnel per operation (so churn
 *       peers start handshakes). Ends by removing every churn peer and restoring our key,
 *       our listen PORT and the legitimate peer's ENDPOINT.
 *   battery_tool sink IP PORT SECONDS      accepts one TCP stream, prints bytes and SHA-256
 *   battery_tool source IP PORT BYTES      sends BYTES deterministic bytes, prints SHA-256
 *   battery_tool sessionkeys PRIVHEX PEERPUBHEX PSKHEX DST_IP PORT INNER_SRC INNER_DST
 *       a legitimate peer (public tunnel API): handshake with the daemon, one ping through
 *       it, then prints "name hex" lines for the session secrets the daemon holds (see the
 *       comment at cmd_sessionkeys)
 *
 * Each prints one "key=value ..." result line on stdout. IPv4 only (the battery's topology). */
#define _GNU_SOURCE
#include "crypto/crypto.h"
#include "proto/messages.h"
#include "wgtun.h"
#include "noise_chain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* Linux 4.18; older uapi headers lack it */
#endif
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DGRAM 1500
#define MAX_CAPTURED 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) /* xorshift64*: fast, deterministic per seed */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}
static void rnd_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd() >> 56);
}

static void hex32(char out[65], const uint8_t h[32])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void die(const char *what)
{
	fprintf(stderr, "battery_tool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint32_t parse_ip(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "battery_tool: bad IPv4 address %s\n", s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

/* One UDP socket per source address, bound to it. */
static int *open_sources(uint32_t base, int n)
{
	int *fds = calloc((size_t)n, sizeof(int));
	if (!fds)
		die("calloc");
	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(base + (uint32_t)i)};
		int buf = 4 << 20;
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0)
			die("socket");
		setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		if (bind(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("bind source address (assigned?)");
	}
	return fds;
}

/* ---- capture ---- */
static int cmd_capture(char **av)
{
	const char *ifname = av[0];
	int port = atoi(av[1]), want = atoi(av[2]);
	double end = now_s() + atof(av[4]);
	FILE *f = fopen(av[3], "wb");
	/* ETH_P_ALL: protocol-specific packet sockets do not see outgoing packets */
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	uint8_t pkt[65536];
	int fd, got = 0;

	if (!f)
		die("open capture file");
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)); /* RAW: vnet header */
	if (fd < 0)
		die("AF_PACKET socket");
	/* The sender uses UDP GSO: a vnet header gives the segment size of super-packets. */
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		die("PACKET_VNET_HDR");
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind AF_PACKET");
	while (got < want && now_s() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		if (poll(&p, 1, 200) <= 0)
			continue;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		struct virtio_net_hdr vh;
		n = recvfrom(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
		if (n < (ssize_t)sizeof(vh) + ETH_HLEN + 28 || from.sll_protocol != htons(ETH_P_IP))
			continue;
		memcpy(&vh, pkt, sizeof(vh));
		uint8_t *ip = pkt + sizeof(vh) + ETH_HLEN;
		n -= (ssize_t)(sizeof(vh) + ETH_HLEN);
		size_t ihl = (size_t)(ip[0] & 15) * 4;
		if ((ip[0] >> 4) != 4 || ip[9] != IPPROTO_UDP || (size_t)n < ihl + 8)
			continue;
		if ((ip[6] & 0x3f) || ip[7]) /* an IP fragment (MF or offset): not a whole datagram */
			continue;
		if (((ip[ihl + 2] << 8) | ip[ihl + 3]) != port)
			continue;
		size_t total = (size_t)n - ihl - 8, seg = total;
		if ((vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_UDP_L4 && vh.gso_size)
			seg = vh.gso_size;
		for (size_t off = 0; off < total && got < want; off += seg) {
			uint16_t len = (uint16_t)(total - off < seg ? total - off : seg);
			if (len > MAX_DGRAM)
				break;
			fwrite(&len, sizeof(len), 1, f);
			fwrite(ip + ihl + 8 + off, 1, len, f);
			got++;
		}
	}
	fclose(f);
	printf("captured=%d\n", got);
	return got > 0 ? 0 : 1;
}

/* ---- garbage ---- */
typedef struct {
	uint8_t data[MAX_DGRAM];
	uint16_t len;
} dgram;

static dgram *load_capture(const char *path, int *n)
{
	FILE *f = fopen(path, "rb");
	dgram *d = calloc(MAX_CAPTURED, sizeof(*d));
	uint16_t len;

	*n = 0;
	if (!d)
		die("calloc");
	if (!f)
		return d;
	while (*n < MAX_CAPTURED && fread(&len, sizeof(len), 1, f) == 1 && len <= MAX_DGRAM) {
		if (fread(d[*n].data, 1, len, f) != len)
			break;
		d[*n].len = len;
		(*n)++;
	}
	fclose(f);
	return d;
}

enum { G_RANDOM, G_TRUNCATED, G_WRONG_TYPE, G_WRONG_LEN, G_REPLAY, G_BITFLIP, G_BAD_MAC, G_NCLASS };
static const char *const class_names[G_NCLASS] = {"random", "truncated", "wrong_type", "wrong_len",
						  "replayed", "bitflip", "bad_mac"};
static const size_t msg_lens[4] = {WG_MSG_INITIATION_LEN, WG_MSG_RESPONSE_LEN,
				   WG_MSG_COOKIE_REPLY_LEN, WG_MSG_DATA_MIN_LEN};

/* A well-formed header of a random type with random content (its MAC/tag is then wrong). */
static size_t make_typed(uint8_t *b, int type)
{
	size_t len = type == 4 ? WG_MSG_DATA_MIN_LEN + (rnd() % 1400) : msg_lens[type - 1];
	rnd_fill(b, len);
	b[0] = (uint8_t)type;
	b[1] = b[2] = b[3] = 0;
	return len;
}

static size_t make_garbage(uint8_t *b, int cls, const dgram *cap, int ncap)
{
	size_t len;
	int type = 1 + (int)(rnd() % 4);

	if ((cls == G_REPLAY || cls == G_BITFLIP) && ncap == 0)
		cls = G_BAD_MAC;
	switch (cls) {
	case G_RANDOM:
		len = rnd() % (MAX_DGRAM + 1);
		rnd_fill(b, len);
		return len;
	case G_TRUNCATED: /* a typed message cut anywhere below its minimum length */
		len = make_typed(b, type);
		return rnd() % (type == 4 ? WG_MSG_DATA_MIN_LEN : len);
	case G_WRONG_TYPE:
		len = make_typed(b, type);
		if (rnd() & 1)
			b[0] = (uint8_t)(5 + rnd() % 251); /* unknown type (0 is unknown too) */
		else
			b[1 + rnd() % 3] = (uint8_t)(1 + rnd() % 255); /* reserved bytes set */
		return len;
	case G_WRONG_LEN: /* handshake types one byte off, or far too long */
		type = 1 + (int)(rnd() % 3);
		len = make_typed(b, type);
		switch (rnd() % 3) {
		case 0: return len + 1;
		case 1: return len - 1;
		default: return len + 1 + rnd() % (MAX_DGRAM - len);
		}
	case G_REPLAY: {
		const dgram *d = &cap[rnd() % (uint64_t)ncap];
		memcpy(b, d->data, d->len);
		return d->len;
	}
	case G_BITFLIP: {
		const dgram *d = &cap[rnd() % (uint64_t)ncap];
		memcpy(b, d->data, d->len);
		size_t bit = rnd() % ((size_t)d->len * 8);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		return d->len;
	}
	default: /* G_BAD_MAC: right type and length, random body (so MAC1 / tag / index wrong) */
		if (ncap && type == 4) {
			/* a real receiver index and a fresh counter, but a forged tag */
			const dgram *d = &cap[rnd() % (uint64_t)ncap];
			len = d->len;
			memcpy(b, d->data, len);
			if (len >= WG_MSG_DATA_MIN_LEN && b[0] == 4) {
				rnd_fill(b + 8, len - 8);
				return len;
			}
		}
		return make_typed(b, type);
	}
}

static int cmd_garbage(char **av)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(av[1])),
				  .sin_addr.s_addr = htonl(parse_ip(av[0]))};
	long count = atol(av[2]);
	double pps = atof(av[3]);
	int nsrc = atoi(av[5]), ncap;
	int *fds = open_sources(parse_ip(av[4]), nsrc);
	dgram *cap = load_capture(av[6], &ncap);
	static uint8_t bufs[BATCH][MAX_DGRAM];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	long sent = 0, per_class[G_NCLASS] = {0}, errs = 0;
	double t0 = now_s(), t;

	rng_state ^= (uint64_t)getpid() << 17;
	while (sent < count) {
		int n = (int)(count - sent < BATCH ? count - sent : BATCH);
		int fd = fds[(sent / BATCH) % nsrc];
		for (int i = 0; i < n; i++) {
			int cls = (int)(rnd() % G_NCLASS);
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = make_garbage(bufs[i], cls, cap, ncap);
			per_class[cls]++;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_name = &dst;
			msgs[i].msg_hdr.msg_namelen = sizeof(dst);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int done = 0;
		while (done < n) {
			int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
			if (r < 0) {
				if (errno == EAGAIN || errno == ENOBUFS) {
					usleep(200);
					continue;
				}
				errs++;
				r = 1; /* skip the datagram the kernel refused (e.g. ECONNREFUSED) */
			}
			done += r;
		}
		sent += n;
		/* pace to pps (0 = as fast as possible) */
		if (pps > 0) {
			double ahead = (double)sent / pps - (now_s() - t0);
			if (ahead > 0.001)
				usleep((useconds_t)(ahead * 1e6));
		}
	}
	t = now_s() - t0;
	printf("sent=%ld errors=%ld seconds=%.2f pps=%.0f captured_templates=%d", sent, errs, t,
	       (double)sent / t, ncap);
	for (int c = 0; c < G_NCLASS; c++)
		printf(" %s=%ld", class_names[c], per_class[c]);
	printf("\n");
	return 0;
}

/* ---- flood ---- */
#define FLOOD_TEMPLATES 1024

static int cmd_flood(char **av)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(av[1])),
				  .sin_addr.s_addr = htonl(parse_ip(av[0]))};
	uint8_t pub[32], mac1_key[32];
	double seconds = atof(av[3]), t0, t;
	int nsrc = atoi(av[5]);
	int *fds = open_sources(parse_ip(av[4]), nsrc);
	static uint8_t tmpl[FLOOD_TEMPLATES][WG_MSG_INITIATION_LEN];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	long sent = 0, cookies = 0, other = 0;
	uint8_t rbuf[256];

	if (crypto_key_from_hex(pub, av[2], strlen(av[2])) < 0) {
		fprintf(stderr, "battery_tool: bad public key hex\n");
		return 2;
	}
	crypto_hash2(mac1_key, WG_LABEL_MAC1, WG_LABEL_LEN, pub, 32);
	/* Random ephemeral/static/timestamp (so the responder does the DH work and then fails)
	 * with a valid mac1 (so it is not dropped before that), mac2 zero. */
	for (int i = 0; i < FLOOD_TEMPLATES; i++) {
		uint8_t *m = tmpl[i];
		rnd_fill(m, WG_MSG_INITIATION_LEN);
		m[0] = WG_MSG_INITIATION;
		m[1] = m[2] = m[3] = 0;
		crypto_mac(m + 116, mac1_key, 32, m, 116);
		memset(m + 132, 0, 16);
	}
	for (int i = 0; i < BATCH; i++) {
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(dst);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		iov[i].iov_len = WG_MSG_INITIATION_LEN;
	}
	t0 = now_s();
	for (long round = 0;; round++) {
		int fd = fds[round % nsrc];
		if ((round & 63) == 0 && now_s() - t0 >= seconds)
			break;
		for (int i = 0; i < BATCH; i++)
			iov[i].iov_base = tmpl[(sent + i) % FLOOD_TEMPLATES];
		int r = sendmmsg(fd, msgs, BATCH, 0);
		if (r > 0)
			sent += r;
		else if (errno == EAGAIN || errno == ENOBUFS)
			usleep(50);
		/* drain replies on this socket */
		ssize_t n;
		while ((n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT)) > 0) {
			if (n == WG_MSG_COOKIE_REPLY_LEN && rbuf[0] == WG_MSG_COOKIE_REPLY)
				cookies++;
			else
				other++;
		}
	}
	t = now_s() - t0;
	/* late replies */
	usleep(200000);
	for (int i = 0; i < nsrc; i++) {
		ssize_t n;
		while ((n = recv(fds[i], rbuf, sizeof(rbuf), MSG_DONTWAIT)) > 0) {
			if (n == WG_MSG_COOKIE_REPLY_LEN && rbuf[0] == WG_MSG_COOKIE_REPLY)
				cookies++;
			else
				other++;
		}
	}
	printf("sent=%ld seconds=%.2f pps=%.0f cookie_replies=%ld other_replies=%ld sources=%d\n",
	       sent, t, (double)sent / t, cookies, other, nsrc);
	return 0;
}

/* ---- churn ---- */
#define CHURN_MAX_PEERS 64

static int uapi_request(const char *path, const char *req, char *resp, size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = 0, rl = strlen(req);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		die("UAPI socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect UAPI socket");
	for (size_t off = 0; off < rl;) {
		ssize_t w = write(fd, req + off, rl - off);
		if (w <= 0)
			die("write UAPI");
		off += (size_t)w;
	}
	/* The response ends with "errno=N\n\n". */
	while (len + 1 < cap) {
		ssize_t n = read(fd, resp + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		resp[len] = 0;
		if (len >= 2 && strstr(resp, "errno=") && !strcmp(resp + len - 2, "\n\n"))
			break;
	}
	resp[len] = 0;
	close(fd);
	const char *e = strstr(resp, "errno=");
	return e ? atoi(e + 6) : -1000;
}

/* Appends a constant string (no snprintf: FORTIFY would fold a constant format into an
 * unchecked call). Returns the length appended. */
static size_t put(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n + 1 > cap)
		die("request too long");
	memcpy(dst, s, n + 1);
	return n;
}

static void hexrand(char out[65])
{
	uint8_t k[32];
	rnd_fill(k, 32);
	hex32(out, k);
}

static int cmd_churn(char **av)
{
	const char *sock = av[0], *legit = av[3], *priv = av[4], *legit_ep = av[5];
	double seconds = atof(av[1]), rate = atof(av[2]), t0 = now_s();
	char peers[CHURN_MAX_PEERS][65];
	int npeers = 0, tun = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	static char req[8192], resp[1 << 20];
	long ops = 0, by_kind[10] = {0}, unexpected = 0, rejected_ok = 0;
	static const char *const kinds[10] = {"add", "remove", "replace_ips", "psk_endpoint", "get",
					      "malformed", "legit_endpoint", "private_key", "port",
					      "bulk_add"};

	/* CHURN_TRACE=1: one "wallclock kind" line per operation on stderr, to line a stall up
	 * with a packet capture (docs/battery.md, churn) */
	bool trace = getenv("CHURN_TRACE") != NULL;

	rng_state ^= (uint64_t)getpid();
	while (now_s() - t0 < seconds) {
		int k = (int)(rnd() % 100), kind, r;
		char key[65], psk[65];
		size_t n = 0;
		/* weights: add 22, remove 18, replace 18, psk/endpoint 12, get 10, malformed 6,
		 * legit endpoint 4, private key 0.5 (see below), port 2, bulk add 5 */
		kind = k < 22 ? 0 : k < 40 ? 1 : k < 58 ? 2 : k < 70 ? 3 : k < 80 ? 4 : k < 86 ? 5
		     : k < 90 ? 6 : k < 93 ? 7 : k < 95 ? 8 : 9;
		/* a private-key flip expires every session (the stream then waits for a new
		 * handshake): keep it to ~0.5% of the operations so traffic keeps flowing */
		if (kind == 7 && rnd() % 6)
			kind = 3;
		if ((kind == 1 || kind == 2 || kind == 3) && npeers == 0)
			kind = 0;
		if ((kind == 0 || kind == 9) && npeers >= CHURN_MAX_PEERS)
			kind = 1;
		n += put(req + n, sizeof(req) - n, kind == 4 ? "get=1\n" : "set=1\n");
		int victim = npeers ? (int)(rnd() % (uint64_t)npeers) : 0;
		switch (kind) {
		case 0:
		case 9:
			for (int j = 0; j < (kind == 9 ? 8 : 1) && npeers < CHURN_MAX_PEERS; j++) {
				hexrand(key);
				hexrand(psk);
				memcpy(peers[npeers++], key, 65);
				n += (size_t)snprintf(req + n, sizeof(req) - n,
					"public_key=%s\npreshared_key=%s\nendpoint=192.168.242.2:%u\n"
					"persistent_keepalive_interval=%u\nreplace_allowed_ips=true\n"
					"allowed_ip=10.241.%u.%u/32\nallowed_ip=fd41::%x:0/112\n",
					key, psk, (unsigned)(1024 + rnd() % 60000), (unsigned)(rnd() % 3),
					(unsigned)(rnd() % 256), (unsigned)(rnd() % 256),
					(unsigned)(rnd() % 65536));
			}
			break;
		case 1:
			n += (size_t)snprintf(req + n, sizeof(req) - n, "public_key=%s\nremove=true\n",
					      peers[victim]);
			memcpy(peers[victim], peers[--npeers], 65);
			break;
		case 2:
			n += (size_t)snprintf(req + n, sizeof(req) - n,
					      "public_key=%s\nupdate_only=true\nreplace_allowed_ips=true\n",
					      peers[victim]);
			for (int j = (int)(rnd() % 5); j > 0; j--)
				n += (size_t)snprintf(req + n, sizeof(req) - n, "allowed_ip=10.241.%u.%u/%u\n",
						      (unsigned)(rnd() % 256), (unsigned)(rnd() % 256),
						      (unsigned)(24 + rnd() % 9));
			break;
		case 3:
			hexrand(psk);
			n += (size_t)snprintf(req + n, sizeof(req) - n,
					      "public_key=%s\npreshared_key=%s\nendpoint=192.168.242.2:%u\n",
					      peers[victim], psk, (unsigned)(1024 + rnd() % 60000));
			break;
		case 5: /* each must be refused with nothing changed */
			switch (rnd() % 4) {
			case 0: n += put(req + n, sizeof(req) - n, "public_key=zz\n"); break;
			case 1: n += put(req + n, sizeof(req) - n, "listen_port=70000\n"); break;
			case 2: hexrand(key);
				n += (size_t)snprintf(req + n, sizeof(req) - n,
					"public_key=%s\nallowed_ip=10.241.0.0/40\n", key); break;
			default: n += put(req + n, sizeof(req) - n, "bogus_key=1\n"); break;
			}
			break;
		case 6: /* bend the legitimate peer's endpoint; its next packet roams it back */
			n += (size_t)snprintf(req + n, sizeof(req) - n,
					      "public_key=%s\nupdate_only=true\nendpoint=192.168.242.2:9\n", legit);
			break;
		case 7: /* a new private key, restored by the next request */
			hexrand(key);
			n += (size_t)snprintf(req + n, sizeof(req) - n, "private_key=%s\n", key);
			break;
		case 8:
			n += (size_t)snprintf(req + n, sizeof(req) - n, "listen_port=%u\n",
					      (unsigned)(20000 + rnd() % 20000));
			break;
		default:
			break;
		}
		put(req + n, sizeof(req) - n, "\n");
		if (trace && kind != 4 && kind != 5) {
			struct timespec w;
			clock_gettime(CLOCK_REALTIME, &w);
			fprintf(stderr, "trace %ld.%06ld %s %.*s\n", (long)w.tv_sec, w.tv_nsec / 1000,
				kinds[kind], kind == 8 ? (int)strcspn(req + 6, "\n") : 0, req + 6);
		}
		r = uapi_request(sock, req, resp, sizeof(resp));
		by_kind[kind]++;
		ops++;
		if (kind == 5) {
			if (r == 0)
				unexpected++, fprintf(stderr, "churn: malformed request accepted:\n%s", req);
			else
				rejected_ok++;
		} else if (r != 0 && !(kind == 8 && (r == 98 || r == -98) /* EADDRINUSE */)) {
			unexpected++;
			fprintf(stderr, "churn: errno=%d for:\n%s", r, req);
		}
		if (kind == 7) { /* restore */
			snprintf(req, sizeof(req), "set=1\nprivate_key=%s\n\n", priv);
			if (uapi_request(sock, req, resp, sizeof(resp)) != 0)
				unexpected++;
			ops++;
		}
		if (kind == 6 && rnd() % 2) { /* sometimes put it back ourselves */
			snprintf(req, sizeof(req), "set=1\npublic_key=%s\nendpoint=%s\n\n", legit, legit_ep);
			if (uapi_request(sock, req, resp, sizeof(resp)) != 0)
				unexpected++;
			ops++;
		}
		/* a datagram into the tunnel towards a random churn prefix */
		struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(9),
					.sin_addr.s_addr = htonl(0x0af10000u | (uint32_t)(rnd() & 0xffff))};
		if (tun >= 0)
			(void)sendto(tun, "x", 1, 0, (struct sockaddr *)&d, sizeof(d));
		double ahead = (double)ops / rate - (now_s() - t0);
		if (ahead > 0)
			usleep((useconds_t)(ahead * 1e6));
	}
	/* the end state: no churn peer, our key and the legitimate endpoint restored */
	size_t n = (size_t)snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=%s\n", priv,
				    av[6]);
	for (int i = 0; i < npeers; i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n, "public_key=%s\nremove=true\n", peers[i]);
	snprintf(req + n, sizeof(req) - n, "public_key=%s\nendpoint=%s\n\n", legit, legit_ep);
	if (uapi_request(sock, req, resp, sizeof(resp)) != 0)
		unexpected++;
	double t = now_s() - t0;
	printf("ops=%ld seconds=%.1f ops_per_s=%.0f unexpected_errors=%ld malformed_rejected=%ld", ops,
	       t, (double)ops / t, unexpected, rejected_ok);
	for (int i = 0; i < 10; i++)
		printf(" %s=%ld", kinds[i], by_kind[i]);
	printf("\n");
	return unexpected ? 1 : 0;
}

/* ---- hashed TCP stream ---- */

static int cmd_sink(char **av)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(av[1])),
				 .sin_addr.s_addr = htonl(parse_ip(av[0]))};
	int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c;
	struct pollfd p;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t buf[65536], h[32];
	unsigned hl;
	char hex[65];
	long long total = 0;
	double t0;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);
	p = (struct pollfd){.fd = ls, .events = POLLIN};
	if (poll(&p, 1, atoi(av[2]) * 1000) <= 0) {
		fprintf(stderr, "battery_tool: no connection\n");
		return 1;
	}
	c = accept(ls, NULL, NULL);
	if (c < 0)
		die("accept");
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	t0 = now_s();
	for (;;) {
		ssize_t n;
		p = (struct pollfd){.fd = c, .events = POLLIN};
		if (poll(&p, 1, atoi(av[2]) * 1000) <= 0) {
			fprintf(stderr, "battery_tool: stream stalled\n");
			break;
		}
		n = read(c, buf, sizeof(buf));
		if (n <= 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
		total += n;
	}
	EVP_DigestFinal_ex(md, h, &hl);
	hex32(hex, h);
	printf("bytes=%lld sha256=%s seconds=%.2f mbit=%.1f\n", total, hex, now_s() - t0,
	       (double)total * 8 / 1e6 / (now_s() - t0));
	return 0;
}

static int cmd_source(char **av)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(av[1])),
				 .sin_addr.s_addr = htonl(parse_ip(av[0]))};
	long long want = atoll(av[2]), total = 0;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t buf[65536], h[32];
	unsigned hl;
	char hex[65];

	rng_state = 12345;
	for (int tries = 0; connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0; tries++) {
		if (tries > 50)
			die("connect");
		close(s);
		usleep(100000);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (total < want) {
		size_t n = want - total < (long long)sizeof(buf) ? (size_t)(want - total) : sizeof(buf);
		rnd_fill(buf, n);
		EVP_DigestUpdate(md, buf, n);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(s, buf + off, n - off);
			if (w < 0)
				die("write");
			off += (size_t)w;
		}
		total += (long long)n;
	}
	shutdown(s, SHUT_WR);
	while (read(s, buf, sizeof(buf)) > 0) /* wait for the sink to close */
		;
	EVP_DigestFinal_ex(md, h, &hl);
	hex32(hex, h);
	printf("bytes=%lld sha256=%s\n", total, hex);
	return 0;
}

/* ---- sessionkeys: a legitimate peer that tells which session secrets the daemon holds ----
 * A wgtun_tunnel (the public sans-I/O API) as initiator with our static key and the PSK does a
 * handshake with the daemon at DST, then sends an ICMP echo from INNER_SRC to INNER_DST
 * through it and waits for the echo reply (both directions work). Its randomness callback
 * records what it hands out, so the ephemeral private key is known (the one whose public key
 * is in the initiation); with it, the static keys, the PSK and the responder's ephemeral
 * public key from the response, the Noise IKpsk2 chain is recomputed here with the crypto
 * layer, exactly as both sides compute it. Each secret the daemon computed is printed as
 * "name hex": the transport keys (the daemon's send and receive keys), the four DH results,
 * the handshake's AEAD keys and chaining keys. The receive key is checked by decrypting the
 * daemon's reply with it. */
#define SK_MAX_RANDOM 64
static struct {
	uint8_t buf[SK_MAX_RANDOM][32];
	size_t n;
} sk_rec;

static int sk_random(void *ctx, void *out, size_t n)
{
	(void)ctx;
	if (getrandom(out, n, 0) != (ssize_t)n)
		abort();
	if (n == 32 && sk_rec.n < SK_MAX_RANDOM)
		memcpy(sk_rec.buf[sk_rec.n++], out, 32);
	return 0;
}

static int sk_recv(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return -1;
	n = recv(fd, buf, cap, 0);
	return n < 0 ? -1 : (int)n;
}

static void sk_print(const char *name, const uint8_t k[32])
{
	char hex[65];

	hex32(hex, k);
	printf("%s %s\n", name, hex);
}

static uint16_t sk_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int cmd_sessionkeys(char **av)
{
	wgtun_tunnel_config cfg;
	wgtun_tunnel *t = NULL;
	uint8_t init[256], resp[256], out[2048], pkt[84], e_priv[32], e_pub_i[32], e_pub_r[32];
	uint8_t chain[CHAIN_N][32], tmp[32];
	struct sockaddr_in dst = {.sin_family = AF_INET};
	size_t olen = 0, ilen = 0;
	int fd, n = -1, r, found = 0;
	uint64_t now;

	wgtun_tunnel_config_init(&cfg);
	if (crypto_key_from_hex(cfg.private_key, av[0], strlen(av[0])) ||
	    crypto_key_from_hex(cfg.peer_public_key, av[1], strlen(av[1])) ||
	    crypto_key_from_hex(cfg.preshared_key, av[2], strlen(av[2])) ||
	    inet_pton(AF_INET, av[3], &dst.sin_addr) != 1) {
		fprintf(stderr, "sessionkeys: bad key or address\n");
		return 2;
	}
	dst.sin_port = htons((uint16_t)atoi(av[4]));
	cfg.random = sk_random;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 ||
	    wgtun_tunnel_new(&cfg, wgtun_monotonic_ns(), &t) < 0) {
		perror("sessionkeys: setup");
		return 1;
	}
	/* handshake: up to 3 tries (the first initiation may meet a cold ARP cache) */
	for (int tries = 0; tries < 3 && n < 0; tries++) {
		now = wgtun_monotonic_ns() + (uint64_t)tries * 6000000000ULL; /* past the 5 s rule */
		if (wgtun_tunnel_force_handshake(t, now, init, sizeof(init), &ilen) !=
		    WGTUN_TUNNEL_WRITE_NETWORK)
			continue;
		if (send(fd, init, ilen, 0) < 0)
			continue;
		n = sk_recv(fd, resp, sizeof(resp), 3000);
		if (n > 0 && resp[0] != WG_MSG_RESPONSE)
			n = -1;
	}
	if (n < 0) {
		fprintf(stderr, "sessionkeys: no handshake response\n");
		return 1;
	}
	r = wgtun_tunnel_read(t, now, resp, (size_t)n, out, sizeof(out), &olen, NULL);
	while (r == WGTUN_TUNNEL_WRITE_NETWORK) {
		if (send(fd, out, olen, 0) < 0)
			break;
		r = wgtun_tunnel_flush(t, now, out, sizeof(out), &olen);
	}
	/* an ICMP echo request INNER_SRC -> INNER_DST */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[3] = sizeof(pkt);
	pkt[8] = 64;
	pkt[9] = 1;
	if (inet_pton(AF_INET, av[5], pkt + 12) != 1 || inet_pton(AF_INET, av[6], pkt + 16) != 1)
		return 2;
	{
		uint16_t c = sk_csum(pkt, 20);
		pkt[10] = (uint8_t)(c >> 8), pkt[11] = (uint8_t)c;
	}
	pkt[20] = 8;
	pkt[24] = 0x77;
	{
		uint16_t c = sk_csum(pkt + 20, sizeof(pkt) - 20);
		pkt[22] = (uint8_t)(c >> 8), pkt[23] = (uint8_t)c;
	}
	if (wgtun_tunnel_write(t, now, pkt, sizeof(pkt), out, sizeof(out), &olen) !=
		    WGTUN_TUNNEL_WRITE_NETWORK ||
	    send(fd, out, olen, 0) < 0) {
		fprintf(stderr, "sessionkeys: could not send the echo request\n");
		return 1;
	}
	for (int i = 0; i < 20; i++) {
		uint8_t reply[2048];
		n = sk_recv(fd, reply, sizeof(reply), 3000);
		if (n < 0)
			break;
		if (reply[0] != WG_MSG_DATA || n < 32)
			continue;
		r = wgtun_tunnel_read(t, now, reply, (size_t)n, out, sizeof(out), &olen, NULL);
		if (r == WGTUN_TUNNEL_WRITE_TUN_V4 && olen >= 28 && out[9] == 1 && out[20] == 0) {
			found = n;
			memcpy(out, reply, (size_t)n);
			break;
		}
	}
	if (!found) {
		fprintf(stderr, "sessionkeys: no echo reply through the tunnel\n");
		return 1;
	}
	/* the ephemeral private key: the recorded 32 random bytes whose public key is in the
	 * initiation (sender index 4..8, ephemeral 8..40) */
	memcpy(e_pub_i, init + 8, 32);
	memcpy(e_pub_r, resp + 12, 32);
	r = -1;
	for (size_t i = 0; i < sk_rec.n && r < 0; i++) {
		memcpy(e_priv, sk_rec.buf[i], 32);
		crypto_x25519_clamp(e_priv);
		if (crypto_x25519_public(tmp, e_priv) == 0 && !memcmp(tmp, e_pub_i, 32))
			r = 0;
	}
	if (r < 0) {
		fprintf(stderr, "sessionkeys: ephemeral key not among the recorded random bytes\n");
		return 1;
	}
	if (noise_chain(chain, e_priv, cfg.private_key, e_pub_i, cfg.peer_public_key, e_pub_r,
			cfg.preshared_key))
		return 1;
	for (int i = 0; i < CHAIN_I_SEND; i++)
		sk_print(chain_names[i], chain[i]);
	/* the daemon's view: it sends with our receive key */
	sk_print("daemon_send_key", chain[CHAIN_I_RECV]);
	sk_print("daemon_recv_key", chain[CHAIN_I_SEND]);
	{
		uint64_t ctr = 0;
		uint8_t plain[2048];
		for (int b = 7; b >= 0; b--)
			ctr = ctr << 8 | out[8 + b];
		if (crypto_aead_open(plain, out + 16, (size_t)found - 16, NULL, 0, ctr, chain[CHAIN_I_RECV]) != 0) {
			fprintf(stderr, "sessionkeys: derived receive key does not open the reply\n");
			return 1;
		}
	}
	wgtun_tunnel_free(t);
	close(fd);
	crypto_wipe(e_priv, 32);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(char **);
	} cmds[] = {
		{"capture", 5, cmd_capture}, {"garbage", 7, cmd_garbage}, {"flood", 6, cmd_flood},
		{"sink", 3, cmd_sink},       {"source", 3, cmd_source},   {"churn", 7, cmd_churn},
		{"sessionkeys", 7, cmd_sessionkeys},
	};
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name) && argc == cmds[i].nargs + 2)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of tests/battery/battery_tool.c\n");
	return 2;
}
