/* UAPI: every set key (success and each rejection with its errno), exact get output, the
 * framing state machine (several requests, byte-by-byte feeding, EOF, bounds), and a
 * parse -> apply -> serialize -> parse round trip through a naive device model. */
#include "test.h"
#include "uapi/server.h"
#include "uapi/uapi.h"

#include "../fuzz/uapi_fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define K1 "0101010101010101010101010101010101010101010101010101010101010101"
#define K2 "0202020202020202020202020202020202020202020202020202020202020202"
#define KA "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define KZ "0000000000000000000000000000000000000000000000000000000000000000"

static int parse(const char *body, wg_config_change *c)
{
	return uapi_parse_set(body, strlen(body), NULL, c);
}

/* Expect body to fail with err and to leave the output change empty. */
static void expect_err(const char *body, int err, int line)
{
	wg_config_change c;
	int r = parse(body, &c);

	CHECK_MSG(r == err, "line %d: %s: got %d want %d", line, body, r, err);
	CHECK_MSG(c.n_peers == 0 && c.peers == NULL && !c.has_private_key, "line %d: not empty", line);
	wg_config_change_clear(&c);
}
#define EXPECT_ERR(body, err) expect_err(body, err, __LINE__)

static void test_device_keys(void)
{
	wg_config_change c;
	uint8_t k1[32];

	memset(k1, 1, 32);
	CHECK_EQ_INT(parse("private_key=" K1 "\nlisten_port=51820\nfwmark=4294967295\n"
			   "replace_peers=true\n",
			   &c),
		     0);
	CHECK(c.has_private_key);
	CHECK_MEM(c.private_key, k1, 32);
	CHECK(c.has_listen_port && c.listen_port == 51820);
	CHECK(c.has_fwmark && c.fwmark == 4294967295u);
	CHECK(c.replace_peers);
	CHECK_EQ_INT(c.n_peers, 0);
	wg_config_change_clear(&c);

	/* what `wg setconf` sends for an empty file: zeros mean "remove key, random port, off" */
	CHECK_EQ_INT(parse("private_key=" KZ "\nlisten_port=0\nfwmark=0\n", &c), 0);
	CHECK(c.has_private_key && c.has_listen_port && c.has_fwmark);
	CHECK(c.listen_port == 0 && c.fwmark == 0 && !c.replace_peers);
	wg_config_change_clear(&c);

	/* leading zeros are fine for Go's ParseUint; uppercase hex is fine for Go's hex */
	CHECK_EQ_INT(parse("listen_port=00080\nprivate_key=A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF\n", &c), 0);
	CHECK_EQ_INT(c.listen_port, 80);
	CHECK(c.private_key[0] == 0xa0 && c.private_key[31] == 0xbf);
	wg_config_change_clear(&c);

	/* nothing at all is a valid (empty) request */
	CHECK_EQ_INT(parse("", &c), 0);
	CHECK_EQ_INT(parse("\n", &c), 0);

	EXPECT_ERR("listen_port=65536\n", -EINVAL);
	EXPECT_ERR("listen_port=-1\n", -EINVAL);
	EXPECT_ERR("listen_port=\n", -EINVAL);
	EXPECT_ERR("listen_port= 1\n", -EINVAL);
	EXPECT_ERR("listen_port=1 \n", -EINVAL);
	EXPECT_ERR("listen_port=+1\n", -EINVAL);
	EXPECT_ERR("listen_port=0x10\n", -EINVAL);
	EXPECT_ERR("listen_port=99999999999999999999999\n", -EINVAL);
	EXPECT_ERR("fwmark=4294967296\n", -EINVAL);
	EXPECT_ERR("fwmark=1a\n", -EINVAL);
	EXPECT_ERR("replace_peers=false\n", -EINVAL);
	EXPECT_ERR("replace_peers=TRUE\n", -EINVAL);
	EXPECT_ERR("private_key=" K1 "0\n", -EINVAL);
	EXPECT_ERR("private_key=010101010101010101010101010101010101010101010101010101010101010\n",
		   -EINVAL);
	EXPECT_ERR("private_key=g101010101010101010101010101010101010101010101010101010101010101\n",
		   -EINVAL);
	EXPECT_ERR("private_key=\n", -EINVAL);
	EXPECT_ERR("listen_port\n", -EPROTO);
	EXPECT_ERR("bogus=1\n", -EINVAL);
	EXPECT_ERR("=1\n", -EINVAL);
	EXPECT_ERR("Listen_port=1\n", -EINVAL);
	/* a peer key in the device section, a device key in a peer section */
	EXPECT_ERR("allowed_ip=10.0.0.0/8\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nlisten_port=1\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nprivate_key=" K2 "\n", -EINVAL);
	/* an error after good lines discards them all */
	EXPECT_ERR("private_key=" K1 "\npublic_key=" K2 "\nallowed_ip=1.2.3.4/32\nbad=1\n",
		   -EINVAL);
	/* the first error wins */
	EXPECT_ERR("nokey\nlisten_port=x\n", -EPROTO);
	/* data after the blank line */
	EXPECT_ERR("listen_port=1\n\nlisten_port=2\n", -EINVAL);
	/* an embedded NUL is just a bad byte */
	{
		static const char body[] = "listen_port=1\0002\n";
		CHECK_EQ_INT(uapi_parse_set(body, sizeof(body) - 1, NULL, &c), -EINVAL);
	}
}

static void test_peer_keys(void)
{
	wg_config_change c;
	wg_peer_change *p;
	uint8_t k;

	CHECK_EQ_INT(parse("public_key=" K1 "\npreshared_key=" KA "\nendpoint=192.0.2.1:51820\n"
			   "persistent_keepalive_interval=25\nprotocol_version=1\n"
			   "allowed_ip=10.0.0.0/8\nallowed_ip=-10.1.0.0/16\nallowed_ip=fd00::1/128\n"
			   "public_key=" K2 "\nremove=true\n"
			   "public_key=" K1 "\nupdate_only=true\nreplace_allowed_ips=true\n",
			   &c),
		     0);
	CHECK_EQ_INT(c.n_peers, 3);
	p = &c.peers[0];
	k = 1;
	CHECK(p->public_key[0] == k && p->public_key[31] == k);
	CHECK(p->has_preshared_key && p->preshared_key[0] == 0xa0 && p->preshared_key[31] == 0xbf);
	CHECK(p->has_endpoint && p->endpoint.sa.sa_family == AF_INET);
	CHECK(ntohs(p->endpoint.in4.sin_port) == 51820);
	CHECK(ntohl(p->endpoint.in4.sin_addr.s_addr) == 0xc0000201u);
	CHECK(p->has_persistent_keepalive && p->persistent_keepalive == 25);
	CHECK(!p->remove && !p->update_only && !p->replace_allowed_ips);
	CHECK_EQ_INT(p->n_allowed_ips, 3);
	CHECK(p->allowed_ips[0].family == AF_INET && p->allowed_ips[0].cidr == 8);
	CHECK(p->allowed_ips[0].addr[0] == 10 && !p->allowed_ips[0].remove);
	CHECK(p->allowed_ips[1].remove && p->allowed_ips[1].cidr == 16);
	CHECK(p->allowed_ips[1].addr[1] == 1);
	CHECK(p->allowed_ips[2].family == AF_INET6 && p->allowed_ips[2].cidr == 128);
	CHECK(p->allowed_ips[2].addr[0] == 0xfd && p->allowed_ips[2].addr[15] == 1);
	CHECK(c.peers[1].remove && c.peers[1].public_key[0] == 2 && !c.peers[1].has_endpoint);
	CHECK(c.peers[2].update_only && c.peers[2].replace_allowed_ips);
	CHECK_EQ_INT(c.peers[2].n_allowed_ips, 0);
	wg_config_change_clear(&c);

	/* replace_allowed_ips drops the lines before it (wireguard-go clears the set there) */
	CHECK_EQ_INT(parse("public_key=" K1 "\nallowed_ip=10.0.0.0/8\nreplace_allowed_ips=true\n"
			   "allowed_ip=10.2.0.0/16\n",
			   &c),
		     0);
	CHECK(c.peers[0].replace_allowed_ips);
	CHECK_EQ_INT(c.peers[0].n_allowed_ips, 1);
	CHECK(c.peers[0].allowed_ips[0].addr[1] == 2);
	wg_config_change_clear(&c);

	/* all-zero preshared key = none; keepalive bounds */
	CHECK_EQ_INT(parse("public_key=" K1 "\npreshared_key=" KZ "\n"
			   "persistent_keepalive_interval=65535\npersistent_keepalive_interval=0\n",
			   &c),
		     0);
	CHECK(c.peers[0].has_preshared_key && c.peers[0].preshared_key[5] == 0);
	CHECK(c.peers[0].has_persistent_keepalive && c.peers[0].persistent_keepalive == 0);
	wg_config_change_clear(&c);

	EXPECT_ERR("public_key=" K1 "0\n", -EINVAL);
	EXPECT_ERR("public_key=\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nremove=false\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nupdate_only=1\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nreplace_allowed_ips=yes\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\npreshared_key=abc\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\npersistent_keepalive_interval=65536\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\npersistent_keepalive_interval=-1\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nprotocol_version=2\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nprotocol_version=\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nbogus=1\n", -EINVAL);
	EXPECT_ERR("public_key=" K1 "\nendpoint\n", -EPROTO);
}

static int ep(const char *s, uapi_zone_resolver z, wg_endpoint *out)
{
	return uapi_parse_endpoint(s, strlen(s), z, out);
}

static unsigned zone_eth0(const char *name)
{
	return strcmp(name, "eth0") == 0 ? 7 : 0;
}

static void test_endpoints(void)
{
	static const char *const bad[] = {
		"",          "1.2.3.4",       "1.2.3.4:",        "1.2.3.4:65536", "1.2.3.4:-1",
		"1.2.3.4:x", "01.2.3.4:1",    "1.2.3:1",         "1.2.3.4:1:2",   "host:51820",
		"::1:5",     "[::1]",         "[::1]:",          "[::1]1",        "[::1:1",
		"[1.2.3.4]:1", "[fe80::1%]:1", "[fe80::1%eth0]:1", "[::ffff:1.2.3.4%1]:1",
		"1.2.3.4 :1", " 1.2.3.4:1",   "[::1]:1 ",        "[]:1",          "[g::]:1",
	};
	wg_endpoint e;
	char a[46];

	CHECK_EQ_INT(ep("10.0.0.1:0", NULL, &e), 0);
	CHECK(e.sa.sa_family == AF_INET && e.in4.sin_port == 0);
	CHECK_EQ_INT(ep("[2001:db8::1]:51820", NULL, &e), 0);
	CHECK(e.sa.sa_family == AF_INET6 && ntohs(e.in6.sin6_port) == 51820);
	CHECK(e.in6.sin6_addr.s6_addr[0] == 0x20 && e.in6.sin6_addr.s6_addr[15] == 1);
	CHECK_EQ_INT(e.in6.sin6_scope_id, 0);
	CHECK_EQ_INT(ep("[fe80::1%3]:5", NULL, &e), 0);
	CHECK_EQ_INT(e.in6.sin6_scope_id, 3);
	CHECK_EQ_INT(ep("[fe80::1%eth0]:5", zone_eth0, &e), 0);
	CHECK_EQ_INT(e.in6.sin6_scope_id, 7);
	CHECK_EQ_INT(ep("[fe80::1%eth1]:5", zone_eth0, &e), -EINVAL);
	/* IPv4-mapped becomes IPv4, as wireguard-go does (To4) */
	CHECK_EQ_INT(ep("[::ffff:192.0.2.9]:7", NULL, &e), 0);
	CHECK(e.sa.sa_family == AF_INET && ntohs(e.in4.sin_port) == 7);
	uapi_format_addr(a, AF_INET, (const uint8_t *)&e.in4.sin_addr);
	CHECK(!strcmp(a, "192.0.2.9"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(ep(bad[i], NULL, &e) == -EINVAL, "endpoint %s accepted", bad[i]);
}

static void test_allowed_ips(void)
{
	static const char *const bad[] = {"10.0.0.0",  "10.0.0.0/",   "10.0.0.0/33", "::/129",
					  "10.0.0.0/024", "10.0.0.0/-1", "x/1",        "/8",
					  "--10.0.0.0/8", "10.0.0.0/8 ", "fe80::1%1/64", "10.0.0/8",
					  "10.0.0.0/+8", "-",           ""};
	wg_allowed_ip ip;

	CHECK_EQ_INT(uapi_parse_allowed_ip("0.0.0.0/0", 9, &ip), 0);
	CHECK(ip.family == AF_INET && ip.cidr == 0 && !ip.remove);
	CHECK_EQ_INT(uapi_parse_allowed_ip("::/0", 4, &ip), 0);
	CHECK(ip.family == AF_INET6 && ip.cidr == 0);
	CHECK_EQ_INT(uapi_parse_allowed_ip("-10.0.0.1/24", 12, &ip), 0);
	CHECK(ip.remove && ip.cidr == 24 && ip.addr[3] == 1); /* kept as written */
	CHECK_EQ_INT(uapi_parse_allowed_ip("::ffff:1.2.3.4/128", 18, &ip), 0);
	CHECK(ip.family == AF_INET6 && ip.addr[10] == 0xff && ip.addr[15] == 4);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(uapi_parse_allowed_ip(bad[i], strlen(bad[i]), &ip) == -EINVAL,
			  "allowed_ip %s accepted", bad[i]);
}

static void test_uint(void)
{
	uint64_t v;

	CHECK_EQ_INT(uapi_parse_uint("18446744073709551615", 20, UINT64_MAX, &v), 0);
	CHECK_EQ_U64(v, UINT64_MAX);
	CHECK_EQ_INT(uapi_parse_uint("18446744073709551616", 20, UINT64_MAX, &v), -EINVAL);
	CHECK_EQ_INT(uapi_parse_uint("9", 1, 8, &v), -EINVAL);
	CHECK_EQ_INT(uapi_parse_uint("8", 1, 8, &v), 0);
	CHECK_EQ_INT(uapi_parse_uint("0", 1, 0, &v), 0);
	CHECK_EQ_INT(uapi_parse_uint("1", 1, 0, &v), -EINVAL);
}

static void test_bounds(void)
{
	uapi_set_parser p;
	wg_config_change c;
	char line[90];
	int r = 0;

	/* WG_CONFIG_MAX_PEERS peers are fine, one more is -EINVAL */
	uapi_set_init(&p, NULL);
	for (unsigned i = 0; i <= WG_CONFIG_MAX_PEERS && r == 0; i++) {
		snprintf(line, sizeof(line), "public_key=%064x", i);
		r = uapi_set_line(&p, line, strlen(line));
		if (i == WG_CONFIG_MAX_PEERS - 1)
			CHECK_EQ_INT(r, 0);
	}
	CHECK_EQ_INT(r, -EINVAL);
	CHECK_EQ_INT(uapi_set_finish(&p, &c), -EINVAL);
	CHECK(c.peers == NULL);

	/* WG_CONFIG_MAX_ALLOWED_IPS allowed IPs in all, across peers */
	uapi_set_init(&p, NULL);
	r = 0;
	for (unsigned i = 0; i <= WG_CONFIG_MAX_ALLOWED_IPS && r == 0; i++) {
		if (i % 100000 == 0) {
			snprintf(line, sizeof(line), "public_key=%064x", i);
			CHECK_EQ_INT(uapi_set_line(&p, line, strlen(line)), 0);
		}
		snprintf(line, sizeof(line), "allowed_ip=10.%u.%u.%u/32", i >> 16 & 255,
			 i >> 8 & 255, i & 255);
		r = uapi_set_line(&p, line, strlen(line));
		if (i == WG_CONFIG_MAX_ALLOWED_IPS - 1)
			CHECK_EQ_INT(r, 0);
	}
	CHECK_EQ_INT(r, -EINVAL);
	uapi_set_clear(&p);

	/* replace_allowed_ips gives its dropped lines back to the budget */
	uapi_set_init(&p, NULL);
	CHECK_EQ_INT(uapi_set_line(&p, "public_key=" K1, 75), 0);
	CHECK_EQ_INT(uapi_set_line(&p, "allowed_ip=1.2.3.4/32", 21), 0);
	CHECK_EQ_INT(uapi_set_line(&p, "allowed_ip=1.2.3.5/32", 21), 0);
	CHECK_EQ_INT(p.total_ips, 2);
	CHECK_EQ_INT(uapi_set_line(&p, "replace_allowed_ips=true", 24), 0);
	CHECK_EQ_INT(p.total_ips, 0);
	uapi_set_clear(&p);
}

static const char sample_get[] =
	"private_key=" KA "\n"
	"listen_port=51820\n"
	"fwmark=51820\n"
	"public_key=" K1 "\n"
	"preshared_key=" KZ "\n"
	"protocol_version=1\n"
	"endpoint=192.0.2.1:51820\n"
	"last_handshake_time_sec=1700000000\n"
	"last_handshake_time_nsec=123456789\n"
	"tx_bytes=388\n"
	"rx_bytes=92\n"
	"persistent_keepalive_interval=25\n"
	"allowed_ip=10.0.0.0/8\n"
	"allowed_ip=fd00::/64\n"
	"allowed_ip=::ffff:1.2.3.4/128\n"
	"public_key=" K2 "\n"
	"preshared_key=" KA "\n"
	"protocol_version=1\n"
	"endpoint=[fe80::1%3]:5\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"public_key=" KA "\n"
	"preshared_key=" KZ "\n"
	"protocol_version=1\n"
	"endpoint=[2001:db8::7]:65535\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=18446744073709551615\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"allowed_ip=0.0.0.0/0\n"
	"allowed_ip=::/0\n";

static void test_format(void)
{
	wg_allowed_ip ips0[3], ips2[2];
	wg_peer_info peers[3];
	wg_config_info info;
	wg_endpoint e;
	char *out;
	size_t len;

	memset(&info, 0, sizeof(info));
	memset(peers, 0, sizeof(peers));
	test_unhex(info.private_key, 32, KA);
	info.has_private_key = true;
	info.listen_port = 51820;
	info.fwmark = 51820;
	info.n_peers = 3;
	info.peers = peers;
	memset(peers[0].public_key, 1, 32);
	CHECK_EQ_INT(ep("192.0.2.1:51820", NULL, &peers[0].endpoint), 0);
	peers[0].last_handshake_sec = 1700000000;
	peers[0].last_handshake_nsec = 123456789;
	peers[0].tx_bytes = 388;
	peers[0].rx_bytes = 92;
	peers[0].persistent_keepalive = 25;
	CHECK_EQ_INT(uapi_parse_allowed_ip("10.0.0.0/8", 10, &ips0[0]), 0);
	CHECK_EQ_INT(uapi_parse_allowed_ip("fd00::/64", 9, &ips0[1]), 0);
	CHECK_EQ_INT(uapi_parse_allowed_ip("::ffff:1.2.3.4/128", 18, &ips0[2]), 0);
	peers[0].allowed_ips = ips0;
	peers[0].n_allowed_ips = 3;
	memset(peers[1].public_key, 2, 32);
	test_unhex(peers[1].preshared_key, 32, KA);
	CHECK_EQ_INT(ep("[fe80::1%3]:5", NULL, &peers[1].endpoint), 0);
	test_unhex(peers[2].public_key, 32, KA);
	CHECK_EQ_INT(ep("[2001:db8::7]:65535", NULL, &peers[2].endpoint), 0);
	peers[2].tx_bytes = UINT64_MAX;
	CHECK_EQ_INT(uapi_parse_allowed_ip("0.0.0.0/0", 9, &ips2[0]), 0);
	CHECK_EQ_INT(uapi_parse_allowed_ip("::/0", 4, &ips2[1]), 0);
	peers[2].allowed_ips = ips2;
	peers[2].n_allowed_ips = 2;

	CHECK_EQ_INT(uapi_format_get(&info, &out, &len), 0);
	CHECK_EQ_INT(len, strlen(sample_get));
	CHECK_MSG(!strcmp(out, sample_get), "get output differs:\n%s", out);
	free(out);

	/* omission rules: no key, port 0, fwmark 0 -> nothing; no endpoint -> no line */
	memset(&info, 0, sizeof(info));
	CHECK_EQ_INT(uapi_format_get(&info, &out, &len), 0);
	CHECK(out && len == 0 && out[0] == '\0');
	free(out);
	info.has_private_key = true; /* an all-zero key is "no key" */
	memset(&peers[0].endpoint, 0, sizeof(e));
	peers[0].n_allowed_ips = 0;
	info.n_peers = 1;
	info.peers = peers;
	CHECK_EQ_INT(uapi_format_get(&info, &out, &len), 0);
	CHECK(!strncmp(out, "public_key=" K1 "\npreshared_key=", 11 + 64 + 15));
	CHECK(strstr(out, "endpoint=") == NULL);
	CHECK(strstr(out, "private_key=") == NULL && strstr(out, "listen_port") == NULL);
	free(out);

	{
		char buf[32];
		CHECK_EQ_INT(uapi_format_errno(buf, 0), 9);
		CHECK(!strcmp(buf, "errno=0\n\n"));
		CHECK_EQ_INT(uapi_format_errno(buf, -EINVAL), 11);
		CHECK(!strcmp(buf, "errno=-22\n\n"));
	}
}

static void test_addr_format(void)
{
	static const char *const cases[][2] = {
		{"::", "::"},
		{"::1", "::1"},
		{"1::", "1::"},
		{"2001:DB8::1", "2001:db8::1"},
		{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
		{"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"},
		{"1:0:0:1:0:0:0:1", "1:0:0:1::1"},
		{"::1.2.3.4", "::102:304"},
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
		{"fe80::", "fe80::"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"0:1:0:0:0:0:0:0", "0:1::"},
	};
	uint8_t a[16];
	char buf[46];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(inet_pton(AF_INET6, cases[i][0], a) == 1);
		uapi_format_addr(buf, AF_INET6, a);
		CHECK_MSG(!strcmp(buf, cases[i][1]), "%s -> %s, want %s", cases[i][0], buf,
			  cases[i][1]);
	}
}

/* Feeds the whole input (in chunks of `chunk` bytes) and records the events as letters:
 * G=get S=set E<errno>=error C<errno>=close, then eof. */
static void run_conn(const char *in, size_t len, size_t chunk, size_t max_line, size_t max_req,
		     bool eof, char *log, size_t logcap)
{
	uapi_conn c;
	uapi_event ev;
	size_t pos = 0, lo = 0;
	bool closed = false;

	uapi_conn_init(&c, max_line, max_req, NULL);
	log[0] = '\0';
	while (pos < len && !closed) {
		size_t n = len - pos < chunk ? len - pos : chunk;
		size_t used = 0;
		while (used < n && !closed) {
			size_t u = uapi_conn_feed(&c, in + pos + used, n - used, &ev);
			used += u;
			if (ev.type == UAPI_EV_NONE)
				CHECK(used == n);
			else if (ev.type == UAPI_EV_GET)
				lo += (size_t)snprintf(log + lo, logcap - lo, "G");
			else if (ev.type == UAPI_EV_SET)
				lo += (size_t)snprintf(log + lo, logcap - lo, "S%zu", ev.change.n_peers);
			else if (ev.type == UAPI_EV_ERROR)
				lo += (size_t)snprintf(log + lo, logcap - lo, "E%d", ev.err);
			else {
				lo += (size_t)snprintf(log + lo, logcap - lo, "C%d", ev.err);
				closed = true;
			}
			wg_config_change_clear(&ev.change);
		}
		pos += n;
	}
	if (closed) {
		CHECK_EQ_INT(uapi_conn_feed(&c, "get=1\n\n", 7, &ev), 0);
		CHECK(ev.type == UAPI_EV_CLOSE);
	} else if (eof) {
		uapi_conn_eof(&c, &ev);
		if (ev.type == UAPI_EV_SET)
			lo += (size_t)snprintf(log + lo, logcap - lo, "s%zu", ev.change.n_peers);
		else if (ev.type == UAPI_EV_ERROR)
			lo += (size_t)snprintf(log + lo, logcap - lo, "e%d", ev.err);
		else
			lo += (size_t)snprintf(log + lo, logcap - lo, "c%d", ev.err);
		wg_config_change_clear(&ev.change);
	}
	uapi_conn_clear(&c);
}

static void expect_conn(const char *in, size_t max_line, size_t max_req, const char *want,
			int line)
{
	char log[256];
	static const size_t chunks[] = {1, 2, 3, 7, 64, 100000};

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		run_conn(in, strlen(in), chunks[i], max_line, max_req, true, log, sizeof(log));
		CHECK_MSG(!strcmp(log, want), "line %d chunk %zu: got %s want %s", line, chunks[i],
			  log, want);
	}
}
#define EXPECT_CONN(in, want) expect_conn(in, 0, 0, want, __LINE__)

static void test_framing(void)
{
	char big[UAPI_MAX_LINE + 64];

	EXPECT_CONN("", "c0");
	EXPECT_CONN("get=1\n\n", "Gc0");
	EXPECT_CONN("get=1\n\nget=1\n\n", "GGc0");
	EXPECT_CONN("set=1\n\n", "S0c0");
	EXPECT_CONN("set=1\npublic_key=" K1 "\nallowed_ip=1.2.3.4/32\n\nget=1\n\n", "S1Gc0");
	/* a failed set is answered and the connection goes on */
	EXPECT_CONN("set=1\nlisten_port=x\npublic_key=" K1 "\n\nget=1\n\n", "E-22Gc0");
	EXPECT_CONN("set=1\nnoequals\n\nset=1\nlisten_port=1\n\n", "E-71S0c0");
	/* get must be followed by a bare newline */
	EXPECT_CONN("get=1\nx\n", "C-22");
	EXPECT_CONN("get=1\n", "c0");
	/* unknown operations drop the connection without a reply, as wireguard-go */
	EXPECT_CONN("get=2\n\n", "C0");
	EXPECT_CONN("\n", "C0");
	EXPECT_CONN("GET=1\n\n", "C0");
	EXPECT_CONN("set=1 \n\n", "C0");
	/* EOF inside a set completes it (wireguard-go applies what it read), last line too */
	EXPECT_CONN("set=1\nlisten_port=1\n", "s0");
	EXPECT_CONN("set=1\npublic_key=" K1, "s1");
	EXPECT_CONN("set=1\nlisten_port=1\nbad", "e-71");
	EXPECT_CONN("set=1", "c0");
	EXPECT_CONN("get=1", "c0");

	/* line bound: exactly max_line is fine, one more closes with -EINVAL */
	memset(big, 0, sizeof(big));
	strcpy(big, "set=1\nlisten_port=");
	memset(big + strlen(big), '0', UAPI_MAX_LINE - strlen("listen_port="));
	strcat(big, "\n\n");
	EXPECT_CONN(big, "S0c0");
	memset(big, 0, sizeof(big));
	strcpy(big, "set=1\nlisten_port=");
	memset(big + strlen(big), '0', UAPI_MAX_LINE + 1 - strlen("listen_port="));
	strcat(big, "\n\n");
	EXPECT_CONN(big, "C-22");
	/* an over-long operation line is just an unknown operation */
	memset(big, 'g', UAPI_MAX_LINE + 10);
	big[UAPI_MAX_LINE + 10] = '\0';
	EXPECT_CONN(big, "C0");
	/* small explicit bounds */
	expect_conn("set=1\nlisten_port=1\n\n", 13, 0, "S0c0", __LINE__);
	expect_conn("set=1\nlisten_port=10\n\n", 13, 0, "C-22", __LINE__);
	/* request bound counts "set=1\n" through the blank line */
	expect_conn("set=1\nlisten_port=1\n\nset=1\nlisten_port=1\n\n", 0, 21, "S0S0c0",
		    __LINE__);
	expect_conn("set=1\nlisten_port=10\n\n", 0, 21, "C-12", __LINE__);
}

/* parse -> apply to the model -> serialize -> recreate through set -> serialize again */
static void test_roundtrip(void)
{
	static const char req[] =
		"private_key=" KA "\nlisten_port=51820\nfwmark=7\n"
		"public_key=" K1 "\nendpoint=[::ffff:10.1.1.1]:9\nallowed_ip=10.0.0.77/8\n"
		"allowed_ip=fd00::1/64\nallowed_ip=192.168.0.0/16\nallowed_ip=-192.168.0.0/16\n"
		"public_key=" K2 "\npreshared_key=" K1 "\nendpoint=[fe80::9%4]:1\n"
		"persistent_keepalive_interval=5\nallowed_ip=10.0.0.0/8\n"
		"public_key=" KA "\nupdate_only=true\nallowed_ip=1.1.1.1/32\n";
	wg_config_change c;
	wg_config_info d1, d2;
	char *g1, *g2, *set;
	size_t l1, l2;

	memset(&d1, 0, sizeof(d1));
	memset(&d2, 0, sizeof(d2));
	CHECK_EQ_INT(parse(req, &c), 0);
	CHECK_EQ_INT(fake_apply(&d1, &c), 0);
	wg_config_change_clear(&c);
	CHECK_EQ_INT(uapi_format_get(&d1, &g1, &l1), 0);
	/* 10.0.0.0/8 moved to the second peer; the update_only peer was never created */
	CHECK_MSG(!strcmp(g1, "private_key=" KA "\nlisten_port=51820\nfwmark=7\n"
			      "public_key=" K1 "\npreshared_key=" KZ "\nprotocol_version=1\n"
			      "endpoint=10.1.1.1:9\nlast_handshake_time_sec=0\n"
			      "last_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
			      "persistent_keepalive_interval=0\nallowed_ip=fd00::/64\n"
			      "public_key=" K2 "\npreshared_key=" K1 "\nprotocol_version=1\n"
			      "endpoint=[fe80::9%4]:1\nlast_handshake_time_sec=0\n"
			      "last_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
			      "persistent_keepalive_interval=5\nallowed_ip=10.0.0.0/8\n"),
		  "model output:\n%s", g1);
	set = fake_get_to_set(g1, l1);
	CHECK_EQ_INT(parse(set, &c), 0);
	CHECK_EQ_INT(fake_apply(&d2, &c), 0);
	wg_config_change_clear(&c);
	CHECK_EQ_INT(uapi_format_get(&d2, &g2, &l2), 0);
	CHECK(l1 == l2 && !strcmp(g1, g2));
	free(set);
	free(g1);
	free(g2);
	wg_config_info_clear(&d1);
	wg_config_info_clear(&d2);
}

/* ---- the socket server, against the model ---- */
static int be_apply(void *ctx, const wg_config_change *c)
{
	wg_config_info *d = ctx;
	return c->has_listen_port && c->listen_port == 1 ? -EADDRINUSE : fake_apply(d, c);
}

static int be_get(void *ctx, wg_config_info *info)
{
	const wg_config_info *d = ctx;
	memset(info, 0, sizeof(*info));
	info->listen_port = d->listen_port;
	return 0;
}

static int client_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends req, half-closes, reads everything until the server closes. */
static char *client_exchange(const char *path, const char *req, size_t req_len)
{
	static char resp[8192];
	int fd = client_connect(path);
	size_t got = 0;
	ssize_t n;

	resp[0] = '\0';
	if (fd < 0)
		return resp;
	CHECK(write(fd, req, req_len) == (ssize_t)req_len);
	shutdown(fd, SHUT_WR);
	while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	return resp;
}

static void test_server(void)
{
	char dir[] = "/tmp/wgtun-uapi-XXXXXX";
	char path[108], sub[108];
	wg_config_info model;
	uapi_backend be = {.apply = be_apply, .get = be_get, .ctx = &model};
	uapi_server *srv;
	struct stat st;
	struct pollfd pfd;
	int fd, stale;

	memset(&model, 0, sizeof(model));
	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ_INT(uapi_socket_path(path, sizeof(path), dir, "wg0"), 0);
	CHECK_EQ_INT(uapi_socket_path(sub, sizeof(sub), dir, "a/b"), -EINVAL);
	CHECK_EQ_INT(uapi_socket_path(sub, sizeof(sub), dir, ""), -EINVAL);
	CHECK_EQ_INT(uapi_socket_path(sub, 10, dir, "wg0"), -EINVAL);
	CHECK_EQ_INT(uapi_socket_path(sub, sizeof(sub), "/run/wireguard", "wg0"), 0);
	CHECK(!strcmp(sub, "/run/wireguard/wg0.sock"));

	/* the directory is created 0755, the socket is 0700 */
	snprintf(sub, sizeof(sub), "%s/sub/wg1.sock", dir);
	{
		mode_t old = umask(077); /* modes must not depend on the umask */
		fd = uapi_listen(sub);
		umask(old);
	}
	CHECK(fd >= 0);
	CHECK(stat(sub, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0700);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755);
	/* a second instance is refused while the first listens */
	snprintf(sub, sizeof(sub), "%s/sub/wg1.sock", dir);
	CHECK_EQ_INT(uapi_listen(sub), -EADDRINUSE);
	close(fd);
	/* ... and replaces a stale socket once nobody listens */
	fd = uapi_listen(sub);
	CHECK(fd >= 0);
	close(fd);
	unlink(sub);
	/* a regular file in the way is not ours to delete */
	fd = open(sub, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_EQ_INT(uapi_listen(sub), -EEXIST);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	rmdir(sub);

	fd = uapi_listen(path);
	CHECK(fd >= 0);
	CHECK_EQ_INT(uapi_server_start(&srv, fd, path, &be), 0);
	CHECK(!strcmp(client_exchange(path, "get=1\n\n", 7), "errno=0\n\n"));
	CHECK(!strcmp(client_exchange(path, "set=1\nlisten_port=5\n\nget=1\n\n", 28),
		      "errno=0\n\nlisten_port=5\nerrno=0\n\n"));
	CHECK_EQ_INT(model.listen_port, 5);
	/* a failed apply is reported with the backend's errno */
	CHECK(!strcmp(client_exchange(path, "set=1\nlisten_port=1\n\n", 22), "errno=-98\n\n"));
	/* a malformed set changes nothing and the connection goes on */
	CHECK(!strcmp(client_exchange(path, "set=1\nlisten_port=7\nfoo=1\n\nget=1\n\n", 34),
		      "errno=-22\n\nlisten_port=5\nerrno=0\n\n"));
	CHECK_EQ_INT(model.listen_port, 5);
	/* unknown operation: dropped without a reply */
	CHECK(!strcmp(client_exchange(path, "hello\n", 6), ""));
	/* EOF ends a set like a blank line */
	CHECK(!strcmp(client_exchange(path, "set=1\nlisten_port=9", 19), "errno=0\n\n"));
	CHECK_EQ_INT(model.listen_port, 9);

	/* removing the socket file stops the server on its own */
	pfd.fd = uapi_server_stop_fd(srv);
	pfd.events = POLLIN;
	CHECK_EQ_INT(poll(&pfd, 1, 0), 0);
	CHECK(unlink(path) == 0);
	CHECK_EQ_INT(poll(&pfd, 1, 5000), 1);
	CHECK_EQ_INT(uapi_server_reason(srv), -ENOENT);
	uapi_server_free(srv);

	/* free removes our file, but not a newer instance's */
	fd = uapi_listen(path);
	CHECK_EQ_INT(uapi_server_start(&srv, fd, path, &be), 0);
	uapi_server_free(srv);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT);
	fd = uapi_listen(path);
	CHECK_EQ_INT(uapi_server_start(&srv, fd, path, &be), 0);
	unlink(path);
	stale = uapi_listen(path); /* the newer instance */
	CHECK(stale >= 0);
	uapi_server_free(srv);
	CHECK(lstat(path, &st) == 0);
	close(stale);
	unlink(path);
	rmdir(dir);
	wg_config_info_clear(&model);
}

int main(void)
{
	test_uint();
	test_device_keys();
	test_peer_keys();
	test_endpoints();
	test_allowed_ips();
	test_bounds();
	test_format();
	test_addr_format();
	test_framing();
	test_roundtrip();
	test_server();
	return test_finish("uapi");
}
