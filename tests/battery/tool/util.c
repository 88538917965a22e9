/* battery_tool: the helpers the subcommands share (clock, seeded PRNG, hex, errors, sources). */
#define _GNU_SOURCE
#include "tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t rng_state = 0x9e3779b97f4a7c15ull;
uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}
void rnd_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd() >> 56);
}

void hex32(char out[65], const uint8_t h[32])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

void die(const char *what)
{
	fprintf(stderr, "battery_tool: %s: %s\n", what, strerror(errno));
	exit(1);
}

uint32_t parse_ip(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "battery_tool: bad IPv4 address %s\n", s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

int *open_sources(uint32_t base, int n)
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
