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

int main(void)
{
	test_private_key_clamped();
	return test_finish("checklist");
}
