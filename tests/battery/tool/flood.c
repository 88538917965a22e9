/* battery_tool flood: handshake initiations with a valid mac1, as fast as possible. */
#define _GNU_SOURCE
#include "tool.h"
#include "crypto/crypto.h"
#include "proto/messages.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FLOOD_TEMPLATES 1024

int cmd_flood(char **av)
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
