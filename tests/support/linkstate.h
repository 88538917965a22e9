/* Fixtures of the link-state tests (tests/unit/test_device_linkstate*.c): two devnodes a and
 * b over loopback, a's peer b at 10.0.0.2, b's peer a at 10.0.0.1 (devnode_add_peer). */
#ifndef WGTUN_LINKSTATE_H
#define WGTUN_LINKSTATE_H

#include "devnode.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits until the device is (or is not) up; false after timeout. */
static inline bool wait_up(node *n, bool up)
{
	for (int i = 0; i < devnode_wait_ms(2000) / 5; i++) {
		if (device_is_up(n->dev) == up)
			return true;
		sleep_ms(5);
	}
	return device_is_up(n->dev) == up;
}

/* A UDP socket bound to port on the IPv4 wildcard (another process taking the port), or -1. */
static inline int port_take(uint16_t port)
{
	struct sockaddr_in sa;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(s);
		s = -1;
	}
	return s;
}

/* Can a fresh UDP socket take this port on the wildcard address (v4)? Then nobody holds it. */
static inline bool port_free(uint16_t port)
{
	int s = port_take(port);

	if (s < 0)
		return false;
	close(s);
	return true;
}

/* A port nobody holds now, near 40000 + pid (0 if none found). */
static inline uint16_t port_find_free(void)
{
	for (uint16_t p = 40000 + (uint16_t)(getpid() % 20000); p < 65000; p++)
		if (port_free(p))
			return p;
	return 0;
}

/* One packet each way through the tunnel, a first (b learns a's port from it). */
static inline void traffic(node *a, node *b, uint16_t seq)
{
	uint8_t pkt[256];
	size_t len;

	len = devnode_make_ping4(pkt, "10.0.0.1", "10.0.0.2", seq);
	CHECK_MSG(devnode_deliver(a, b, pkt, len), "a -> b (seq %u)", seq);
	len = devnode_make_ping4(pkt, "10.0.0.2", "10.0.0.1", (uint16_t)(seq + 1));
	CHECK_MSG(devnode_deliver(b, a, pkt, len), "b -> a (seq %u)", seq);
}

#endif
