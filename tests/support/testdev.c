#include "testdev.h"

#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "test.h"

device *testdev_new(device_params *p, int *app, uint8_t priv[32], uint8_t pub[32])
{
	int sv[2];
	device *dev;

	*app = -1;
	CHECK(crypto_x25519_generate(priv, pub) == 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		CHECK_MSG(false, "socketpair");
		return NULL;
	}
	p->tun_fd = sv[0];
	p->mtu = 1420;
	*app = sv[1];
	dev = device_new(p);
	CHECK(dev != NULL);
	return dev;
}
