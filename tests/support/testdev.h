/* A device for unit tests: its "TUN" is one end of a socketpair, the test holds the other. */
#ifndef WGTUN_TESTDEV_H
#define WGTUN_TESTDEV_H

#include <stdint.h>

#include "device/device.h"

/* Makes a device from p (callbacks and ctx set by the caller; tun_fd and mtu 1420 set here)
 * with *app the test's end of its TUN, and a fresh key pair in priv/pub (not configured).
 * A failure is a failed CHECK and NULL. */
device *testdev_new(device_params *p, int *app, uint8_t priv[32], uint8_t pub[32]);

#endif
