/* battery_tool churn: random UAPI reconfiguration of a running daemon. */
#define _GNU_SOURCE
#include "tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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

int cmd_churn(char **av)
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

