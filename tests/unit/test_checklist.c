/* Items of the protocol checklist (sections 1-6, 11, 13-15; docs/checklist-review.md) that no
 * other test pinned, each checked through the public API where the rule is visible there. */
#include "test.h"
#include "wgtun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* 0x01 x 32: bit 0 of byte 0 and bit 6 of byte 31 are wrong for an X25519 scalar. */
#define K1 "0101010101010101010101010101010101010101010101010101010101010101"
#define K1_CLAMPED "0001010101010101010101010101010101010101010101010101010101010141"
#define K2 "0202020202020202020202020202020202020202020202020202020202020202"
#define K3 "0303030303030303030303030303030303030303030303030303030303030303"
#define ZERO "0000000000000000000000000000000000000000000000000000000000000000"

static wgtun_device *make(int sp[2])
{
	wgtun_device_config cfg;
	wgtun_device *dev = NULL;

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0);
	wgtun_device_config_init(&cfg);
	cfg.tun_fd = sp[0];
	cfg.mtu = 1420;
	CHECK_EQ_INT(wgtun_device_new(&cfg, &dev), 0);
	return dev;
}

/* Section 14: private_key is stored clamped and get returns the clamped key (netns.sh checks
 * this with `wg show private-key`); setting the clamped form afterwards is the same key. */
static void test_private_key_clamped(void)
{
	int sp[2];
	wgtun_device *dev = make(sp);
	char *out = NULL;

	CHECK_EQ_INT(wgtun_device_set(dev, "private_key=" K1 "\n"), 0);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK_MSG(out && strstr(out, "private_key=" K1_CLAMPED "\n") != NULL, "get: %s",
		  out ? out : "(null)");
	wgtun_string_free(out);
	CHECK_EQ_INT(wgtun_device_set(dev, "private_key=" K1_CLAMPED "\n"), 0);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK(out && strstr(out, "private_key=" K1_CLAMPED "\n") != NULL);
	wgtun_string_free(out);
	wgtun_device_free(dev);
	close(sp[1]);
}

/* Section 14: an all-zero private_key removes the key (`wg set IF private-key /dev/null`, and
 * `wg setconf` of a file without one): get then has no private_key line. */
static void test_private_key_zero_removes(void)
{
	int sp[2];
	wgtun_device *dev = make(sp);
	char *out = NULL;

	CHECK_EQ_INT(wgtun_device_set(dev, "private_key=" K1 "\n"), 0);
	CHECK_EQ_INT(wgtun_device_set(dev, "private_key=" ZERO "\n"), 0);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK_MSG(out && strstr(out, "private_key=") == NULL, "get: %s", out ? out : "(null)");
	wgtun_string_free(out);
	wgtun_device_free(dev);
	close(sp[1]);
}

/* Section 14: replace_peers=true removes every existing peer before the request's own
 * (what `wg setconf` sends): K2 is gone, K3 is there, once. */
static void test_replace_peers(void)
{
	int sp[2];
	wgtun_device *dev = make(sp);
	char *out = NULL;

	CHECK_EQ_INT(wgtun_device_set(dev, "public_key=" K2 "\nallowed_ip=10.2.0.0/16\n"), 0);
	CHECK_EQ_INT(wgtun_device_set(dev, "replace_peers=true\npublic_key=" K3
					   "\nallowed_ip=10.3.0.0/16\n"),
		     0);
	CHECK_EQ_INT(wgtun_device_get(dev, &out), 0);
	CHECK_MSG(out && strstr(out, "public_key=" K2) == NULL, "get: %s", out ? out : "(null)");
	CHECK(out && strstr(out, "allowed_ip=10.2.0.0/16") == NULL);
	CHECK(out && strstr(out, "public_key=" K3 "\n") != NULL);
	if (out && strstr(out, "public_key=" K3))
		CHECK(strstr(strstr(out, "public_key=" K3) + 1, "public_key=") == NULL);
	wgtun_string_free(out);
	wgtun_device_free(dev);
	close(sp[1]);
}

int main(void)
{
	test_private_key_clamped();
	test_private_key_zero_removes();
	test_replace_peers();
	return test_finish("checklist");
}
