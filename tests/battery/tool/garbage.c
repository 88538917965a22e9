/* battery_tool garbage: hostile datagrams of every class, from many source addresses. */
#define _GNU_SOURCE
#include "tool.h"
#include "proto/messages.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CAPTURED 4096

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

int cmd_garbage(char **av)
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
