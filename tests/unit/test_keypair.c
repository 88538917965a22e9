/* Keypair rotation (checklist section 9) and transport data (sections 3 and 10): padding,
 * seal/open in place, replay, inner-header trimming, the message and time limits. */
#include "proto/keypair.h"
#include "proto/transport.h"
#include "proto/tunnel.h"
#include "test.h"

#include <stdlib.h>

static uint32_t g_released[64];
static int g_n_released;

static void on_release(void *ctx, uint32_t index)
{
	(void)ctx;
	if (g_n_released < 64)
		g_released[g_n_released++] = index;
}

static bool released(uint32_t index)
{
	for (int i = 0; i < g_n_released; i++)
		if (g_released[i] == index)
			return true;
	return false;
}

static noise_session_keys keys_for(uint8_t seed, uint32_t local, uint32_t remote, bool initiator)
{
	noise_session_keys k;
	memset(&k, 0, sizeof(k));
	memset(k.send_key, seed, sizeof(k.send_key));
	memset(k.recv_key, (uint8_t)(seed ^ 0xff), sizeof(k.recv_key));
	k.local_index = local;
	k.remote_index = remote;
	k.is_initiator = initiator;
	return k;
}

/* The peer's view of the same session: keys swapped, indices swapped. */
static noise_session_keys mirror(const noise_session_keys *k)
{
	noise_session_keys m = *k;
	memcpy(m.send_key, k->recv_key, 32);
	memcpy(m.recv_key, k->send_key, 32);
	m.local_index = k->remote_index;
	m.remote_index = k->local_index;
	m.is_initiator = !k->is_initiator;
	return m;
}

static void test_initiator_rotation(void)
{
	wg_keypairs k;
	noise_session_keys a = keys_for(1, 10, 110, true), b = keys_for(2, 20, 120, true),
			   c = keys_for(3, 30, 130, true);
	g_n_released = 0;
	keypairs_init(&k, (wg_keypair_release){on_release, NULL});
	wg_keypair *ka = keypairs_install(&k, &a, 0);
	CHECK(ka && k.current == ka && !k.previous && !k.next);
	wg_keypair *kb = keypairs_install(&k, &b, 1);
	CHECK(k.current == kb && k.previous == ka && !k.next);
	wg_keypair *kc = keypairs_install(&k, &c, 2);
	CHECK(k.current == kc && k.previous == kb);
	CHECK(released(10) && g_n_released == 1);
	CHECK(keypairs_lookup(&k, 20) == kb && keypairs_lookup(&k, 30) == kc);
	CHECK(keypairs_lookup(&k, 10) == NULL);
	keypairs_clear(&k);
	CHECK(released(20) && released(30) && g_n_released == 3);
	CHECK(!k.current && !k.previous && !k.next);
}

static void test_responder_rotation(void)
{
	wg_keypairs k;
	noise_session_keys a = keys_for(1, 10, 110, false), b = keys_for(2, 20, 120, false),
			   c = keys_for(3, 30, 130, false), d = keys_for(4, 40, 140, false);
	g_n_released = 0;
	keypairs_init(&k, (wg_keypair_release){on_release, NULL});
	wg_keypair *ka = keypairs_install(&k, &a, 0);
	/* Not usable for sending until confirmed. */
	CHECK(k.next == ka && !k.current && !k.previous);
	CHECK(!keypairs_received_with(&k, NULL));
	CHECK(keypairs_received_with(&k, ka));
	CHECK(k.current == ka && !k.next && !k.previous);
	CHECK(!keypairs_received_with(&k, ka)); /* only once */
	wg_keypair *kb = keypairs_install(&k, &b, 1);
	CHECK(k.next == kb && k.current == ka);
	/* A newer unconfirmed one replaces the older next. */
	wg_keypair *kc = keypairs_install(&k, &c, 2);
	CHECK(k.next == kc && k.current == ka && released(20));
	CHECK(keypairs_received_with(&k, kc));
	CHECK(k.current == kc && k.previous == ka && !k.next);
	/* A new next drops previous at once. */
	wg_keypair *kd = keypairs_install(&k, &d, 3);
	CHECK(k.next == kd && k.current == kc && !k.previous && released(10));
	keypairs_clear(&k);
}

static void test_initiator_after_next(void)
{
	/* Responder holds an unconfirmed next, then initiates itself and gets a response: the
	 * next becomes previous (the peer may send on it), the old current is dropped. */
	wg_keypairs k;
	noise_session_keys a = keys_for(1, 10, 110, false), b = keys_for(2, 20, 120, false),
			   c = keys_for(3, 30, 130, true);
	g_n_released = 0;
	keypairs_init(&k, (wg_keypair_release){on_release, NULL});
	wg_keypair *ka = keypairs_install(&k, &a, 0);
	keypairs_received_with(&k, ka);
	wg_keypair *kb = keypairs_install(&k, &b, 1);
	wg_keypair *kc = keypairs_install(&k, &c, 2);
	CHECK(k.current == kc && k.previous == kb && !k.next);
	CHECK(released(10));
	keypairs_clear(&k);
}

static void test_limits(void)
{
	wg_keypairs k;
	noise_session_keys a = keys_for(1, 10, 110, true), r = keys_for(2, 20, 120, false);
	keypairs_init(&k, (wg_keypair_release){NULL, NULL});
	wg_keypair *kp = keypairs_install(&k, &a, WG_SEC(1000));
	CHECK(keypair_can_send(kp, WG_SEC(1000)));
	CHECK(!keypair_should_rekey(kp, WG_SEC(1119)));
	CHECK(keypair_should_rekey(kp, WG_SEC(1120)));
	CHECK(keypair_can_send(kp, WG_SEC(1180) - 1));
	CHECK(!keypair_can_send(kp, WG_SEC(1180)));
	CHECK(keypair_can_receive(kp, WG_SEC(1180) - 1));
	CHECK(!keypair_can_receive(kp, WG_SEC(1180)));
	/* A clock going backwards does not expire anything. */
	CHECK(keypair_can_send(kp, WG_SEC(10)));
	kp->send_counter = WG_REKEY_AFTER_MESSAGES;
	CHECK(!keypair_should_rekey(kp, WG_SEC(1000)));
	kp->send_counter = WG_REKEY_AFTER_MESSAGES + 1;
	CHECK(keypair_should_rekey(kp, WG_SEC(1000)));
	kp->send_counter = WG_REJECT_AFTER_MESSAGES - 1;
	CHECK(keypair_can_send(kp, WG_SEC(1000)));
	kp->send_counter = WG_REJECT_AFTER_MESSAGES;
	CHECK(!keypair_can_send(kp, WG_SEC(1000)));
	kp->send_counter = 0;
	keypairs_expire_send(&k);
	CHECK(!keypair_can_send(kp, WG_SEC(1000)));
	CHECK(keypair_can_receive(kp, WG_SEC(1000)));
	/* The responder never rekeys on time. */
	wg_keypair *kr = keypairs_install(&k, &r, WG_SEC(1000));
	CHECK(!keypair_should_rekey(kr, WG_SEC(1170)));
	keypairs_clear(&k);
}

static void test_padding(void)
{
	struct {
		size_t len;
		uint32_t mtu;
		size_t want;
	} cases[] = {
		{0, 1420, 0},       {1, 1420, 16},      {16, 1420, 16},     {17, 1420, 32},
		{84, 1420, 96},     {1419, 1420, 1420}, {1420, 1420, 1420}, {1400, 1420, 1408},
		{1413, 1420, 1420}, {1299, 1300, 1300}, {1290, 1300, 1296}, {5, 0, 16},
		{1419, 0, 1424},    {2840, 1420, 2840}, {2841, 1420, 2856}, {1421, 1420, 1436},
		{1, 1, 1},          {65535, 0, 65536},
		/* MTU capped at 65535 - 32 (wireguard-go): never a message over 65535 bytes. */
		{65489, 65535, 65503}, {65500, 65535, 65503}, {65503, 65535, 65503},
		{65500, 100000, 65503}, {65488, 65535, 65488}, {65504, 65535, 65519},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_MSG(transport_padded_len(cases[i].len, cases[i].mtu) == cases[i].want,
			  "pad(%zu, %u) = %zu, want %zu", cases[i].len, cases[i].mtu,
			  transport_padded_len(cases[i].len, cases[i].mtu), cases[i].want);
	CHECK_EQ_INT(transport_message_len(0, 1420), 32);
	CHECK_EQ_INT(transport_message_len(84, 1420), 128); /* a 56-byte ping */
}

static void make_ipv4(uint8_t *p, size_t total)
{
	memset(p, 0, total);
	p[0] = 0x45;
	p[2] = (uint8_t)(total >> 8);
	p[3] = (uint8_t)total;
	for (size_t i = 20; i < total; i++)
		p[i] = (uint8_t)i;
}

static void test_seal_open(void)
{
	wg_keypairs ka, kb;
	noise_session_keys a = keys_for(7, 10, 20, true), b = mirror(&a);
	uint8_t buf[256], pkt[84];
	size_t n, plain = 0, inner = 0;

	keypairs_init(&ka, (wg_keypair_release){NULL, NULL});
	keypairs_init(&kb, (wg_keypair_release){NULL, NULL});
	wg_keypair *sa = keypairs_install(&ka, &a, 0);
	wg_keypair *sb = keypairs_install(&kb, &b, 0);
	keypairs_received_with(&kb, sb);

	make_ipv4(pkt, sizeof(pkt));
	memcpy(buf + 16, pkt, sizeof(pkt));
	n = transport_seal(sa, buf, sizeof(pkt), sizeof(buf), 1420, 0);
	CHECK_EQ_INT(n, 128);
	CHECK_EQ_INT(buf[0], 4);
	CHECK(buf[1] == 0 && buf[2] == 0 && buf[3] == 0);
	CHECK_EQ_INT(wg_le32_read(buf + 4), 20);
	CHECK_EQ_U64(wg_le64_read(buf + 8), 0);
	CHECK_EQ_U64(sa->send_counter, 1);

	/* Tampered tag: refused, window untouched, so the genuine packet still passes. */
	uint8_t bad[256];
	memcpy(bad, buf, n);
	bad[n - 1] ^= 1;
	CHECK_EQ_INT(transport_open(sb, 0, bad + 16, n - 16, &plain, 0), WG_TUN_ERR_DECRYPT);
	CHECK_EQ_INT(transport_open(sb, 0, buf + 16, n - 16, &plain, 0), 0);
	CHECK_EQ_INT(plain, 96);
	CHECK_EQ_INT(transport_inner_check(buf + 16, plain, &inner), WG_TUN_WRITE_TUN_V4);
	CHECK_EQ_INT(inner, 84);
	CHECK_MEM(buf + 16, pkt, sizeof(pkt));
	/* Padding is zeros. */
	for (size_t i = 84; i < 96; i++)
		CHECK_EQ_INT(buf[16 + i], 0);

	/* Replay of the same message. */
	memcpy(buf + 16, pkt, sizeof(pkt));
	sa->send_counter = 0;
	n = transport_seal(sa, buf, sizeof(pkt), sizeof(buf), 1420, 0);
	CHECK_EQ_INT(transport_open(sb, 0, buf + 16, n - 16, &plain, 0), WG_TUN_ERR_REPLAY);

	/* Keepalive: 32 bytes, empty plaintext. */
	n = transport_seal(sa, buf, 0, sizeof(buf), 1420, 0);
	CHECK_EQ_INT(n, 32);
	CHECK_EQ_INT(transport_open(sb, 1, buf + 16, n - 16, &plain, 0), 0);
	CHECK_EQ_INT(plain, 0);
	CHECK_EQ_INT(transport_inner_check(buf + 16, 0, &inner), WG_TUN_DONE);

	/* Too small a buffer: nothing consumed. */
	uint64_t before = sa->send_counter;
	CHECK_EQ_INT(transport_seal(sa, buf, 84, 127, 1420, 0), 0);
	CHECK_EQ_U64(sa->send_counter, before);

	/* Expired keypair (180 s). */
	CHECK_EQ_INT(transport_seal(sa, buf, 0, sizeof(buf), 1420, WG_SEC(180)), 0);
	n = transport_seal(sa, buf, 0, sizeof(buf), 1420, WG_SEC(179));
	CHECK_EQ_INT(transport_open(sb, wg_le64_read(buf + 8), buf + 16, n - 16, &plain,
				    WG_SEC(180)),
		     WG_TUN_ERR_NO_SESSION);

	/* Out-of-order delivery inside the window is fine, once each. */
	uint8_t msgs[3][64];
	size_t lens[3];
	for (int i = 0; i < 3; i++)
		lens[i] = transport_seal(sa, msgs[i], 0, sizeof(msgs[i]), 1420, WG_SEC(1));
	for (int i = 2; i >= 0; i--)
		CHECK_EQ_INT(transport_open(sb, wg_le64_read(msgs[i] + 8), msgs[i] + 16,
					    lens[i] - 16, &plain, WG_SEC(1)),
			     0);
	CHECK_EQ_INT(transport_open(sb, wg_le64_read(msgs[1] + 8), msgs[1] + 16, lens[1] - 16,
				    &plain, WG_SEC(1)),
		     WG_TUN_ERR_REPLAY); /* empty plaintext: the bytes are just the tag, intact */
	CHECK_EQ_INT(transport_open(sb, 0, buf, 15, &plain, 0), WG_TUN_ERR_MALFORMED);
	keypairs_clear(&ka);
	keypairs_clear(&kb);
}

static void test_inner_check(void)
{
	uint8_t p[128];
	size_t inner = 0;

	make_ipv4(p, 60);
	CHECK_EQ_INT(transport_inner_check(p, 64, &inner), WG_TUN_WRITE_TUN_V4);
	CHECK_EQ_INT(inner, 60);
	CHECK_EQ_INT(transport_inner_check(p, 59, &inner), WG_TUN_ERR_MALFORMED); /* truncated */
	CHECK_EQ_INT(transport_inner_check(p, 19, &inner), WG_TUN_ERR_MALFORMED);
	p[2] = 0;
	p[3] = 19; /* total length below the header */
	CHECK_EQ_INT(transport_inner_check(p, 64, &inner), WG_TUN_ERR_MALFORMED);

	memset(p, 0, sizeof(p));
	p[0] = 0x60;
	p[5] = 24; /* payload length */
	CHECK_EQ_INT(transport_inner_check(p, 80, &inner), WG_TUN_WRITE_TUN_V6);
	CHECK_EQ_INT(inner, 64);
	CHECK_EQ_INT(transport_inner_check(p, 63, &inner), WG_TUN_ERR_MALFORMED);
	CHECK_EQ_INT(transport_inner_check(p, 39, &inner), WG_TUN_ERR_MALFORMED);
	p[0] = 0x50;
	CHECK_EQ_INT(transport_inner_check(p, 80, &inner), WG_TUN_ERR_MALFORMED);
	p[0] = 0x00;
	CHECK_EQ_INT(transport_inner_check(p, 1, &inner), WG_TUN_ERR_MALFORMED);
}

int main(void)
{
	test_initiator_rotation();
	test_responder_rotation();
	test_initiator_after_next();
	test_limits();
	test_padding();
	test_seal_open();
	test_inner_check();
	return test_finish("keypair");
}
