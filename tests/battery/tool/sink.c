/* battery_tool sink: accepts one TCP stream and prints its length and SHA-256. */
#define _GNU_SOURCE
#include "tool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int cmd_sink(char **av)
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
