/* Sticky source addresses in the device (docs/sticky.md), two devices over real loopback
 * UDP: A's endpoint for B is 127.0.0.2 (B is bound to the wildcard, its route source towards
 * A is 127.0.0.1). B takes 127.0.0.2 as its source for A together with A's endpoint, and its
 * replies leave from it, so A still sees B at 127.0.0.2 after traffic both ways (without
 * stickiness A would roam to 127.0.0.1). An explicit endpoint on B forgets the source, the
 * next authenticated packet brings it back; a source the kernel refuses (one that is not
 * local) is forgotten and counted in tx_src_refused, and the packet still arrives; a
 * listen-port change forgets every source. */
#define _GNU_SOURCE
#include "devnode.h"
#include "test.h"

#include "device/device.h"
#include "device/device_impl.h" /* the peers' remembered source */

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static void set_peer(node *self, const node *other, const char *v4, const char *ip)
{
	CHECK_EQ_INT(devnode_add_peer4(self, other, v4, ip), 0);
}

/* Sends a ping into from's TUN and expects it out of to's (a few tries: a handshake first). */
static bool ping(node *from, node *to, const char *src, const char *dst, uint16_t seq)
{
	uint8_t pkt[256];
	size_t len = devnode_make_ping4(pkt, src, dst, seq);

	return devnode_deliver(from, to, pkt, len);
}

/* self's remembered source for other (read under the exclusive config lock: the loop
 * thread writes it while holding the lock shared). */
static udp_src src_of(node *self, const node *other)
{
	udp_src s;
	peer *p;

	memset(&s, 0, sizeof(s));
	pthread_rwlock_wrlock(&self->dev->cfg_lock);
	p = device_peer_find(self->dev, other->pub);
	if (p)
		s = p->src;
	pthread_rwlock_unlock(&self->dev->cfg_lock);
	return s;
}

static bool src_is(node *self, const node *other, const char *ip)
{
	udp_src s = src_of(self, other);
	struct in_addr a;

	if (!ip)
		return s.family == AF_UNSPEC;
	CHECK(inet_pton(AF_INET, ip, &a) == 1);
	return s.family == AF_INET && s.in4.s_addr == a.s_addr;
}

static bool endpoint_is(node *self, const char *ip, uint16_t port)
{
	wg_config_info info;
	wg_endpoint want;
	bool ok;

	devnode_endpoint4(&want, ip, port);
	CHECK_EQ_INT(device_get_info(self->dev, &info), 0);
	ok = info.n_peers == 1 && info.peers[0].endpoint.sa.sa_family == AF_INET &&
	     info.peers[0].endpoint.in4.sin_port == want.in4.sin_port &&
	     info.peers[0].endpoint.in4.sin_addr.s_addr == want.in4.sin_addr.s_addr;
	wg_config_info_clear(&info);
	return ok;
}

static uint64_t refused(node *n)
{
	device_stats st;

	device_get_stats(n->dev, &st);
	return st.tx_src_refused;
}

int main(void)
{
	node a, b;
	uint16_t seq = 1;

	node_start_bare(&a);
	node_start_bare(&b);
	if (!a.dev || !b.dev)
		return test_finish("device_sticky");
	set_peer(&a, &b, "10.9.0.2", "127.0.0.2");
	set_peer(&b, &a, "10.9.0.1", NULL); /* B learns A's endpoint from A's initiation */

	/* Traffic both ways: B remembers 127.0.0.2 and answers from it. */
	for (int i = 0; i < 3; i++) {
		CHECK_MSG(ping(&a, &b, "10.9.0.1", "10.9.0.2", seq++), "A -> B");
		CHECK_MSG(ping(&b, &a, "10.9.0.2", "10.9.0.1", seq++), "B -> A");
	}
	CHECK_MSG(src_is(&b, &a, "127.0.0.2"), "B's source for A is not 127.0.0.2");
	CHECK_MSG(endpoint_is(&a, "127.0.0.2", b.port), "A saw B move off 127.0.0.2");
	CHECK_EQ_U64(refused(&b), 0);

	/* An explicit endpoint forgets it; A's next packet brings it back. */
	set_peer(&b, &a, "10.9.0.1", "127.0.0.1");
	CHECK(src_is(&b, &a, NULL));
	CHECK_MSG(ping(&a, &b, "10.9.0.1", "10.9.0.2", seq++), "A -> B after B's set");
	CHECK(src_is(&b, &a, "127.0.0.2"));

	/* A source the kernel refuses (as if the address were gone): B's packet still goes,
	 * from the route's source; the source is forgotten and counted once. */
	pthread_rwlock_wrlock(&b.dev->cfg_lock);
	{
		peer *p = device_peer_find(b.dev, a.pub);
		CHECK(p != NULL);
		if (p)
			CHECK(inet_pton(AF_INET, "192.0.2.1", &p->src.in4) == 1);
	}
	pthread_rwlock_unlock(&b.dev->cfg_lock);
	CHECK_MSG(ping(&b, &a, "10.9.0.2", "10.9.0.1", seq++), "B -> A with a refused source");
	/* src_is first: its exclusive lock waits for the end of B's loop round, which counts
	 * the refusal after the send (A may have the packet before that). */
	CHECK(src_is(&b, &a, NULL));
	CHECK_EQ_U64(refused(&b), 1);
	/* A roams to where B's packet came from (the route's source, 127.0.0.1); A's packets go
	 * there now and B learns 127.0.0.1. */
	CHECK(endpoint_is(&a, "127.0.0.1", b.port));
	CHECK_MSG(ping(&a, &b, "10.9.0.1", "10.9.0.2", seq++), "A -> B after the refusal");
	CHECK(src_is(&b, &a, "127.0.0.1"));
	CHECK_MSG(ping(&b, &a, "10.9.0.2", "10.9.0.1", seq++), "B -> A after the refusal");
	CHECK_EQ_U64(refused(&b), 1);

	/* A listen-port change (new sockets) forgets every source. */
	{
		wg_config_change c;
		memset(&c, 0, sizeof(c));
		c.has_listen_port = true;
		c.listen_port = 0; /* 0: always new sockets */
		CHECK_EQ_INT(device_apply(b.dev, &c), 0);
	}
	CHECK(src_is(&b, &a, NULL));

	node_free(&a);
	node_free(&b);
	return test_finish("device_sticky");
}
