/* battery_tool source: sends deterministic bytes over TCP and prints their SHA-256. */
#define _GNU_SOURCE
#include "tool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int cmd_source(char **av)
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
