/* Configuration as data: what a UAPI `set=1` (or a typed API call) asks the device to change,
 * and what `get=1` reports. The uapi parser fills a wg_config_change from text; the device
 * validates the whole change and applies it atomically (all or nothing). */
#ifndef WGTUN_DEVICE_CONFIG_H
#define WGTUN_DEVICE_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Named bounds: a request over them is refused with -EINVAL / -ENOMEM, changing nothing. */
#define WG_CONFIG_MAX_PEERS 65536          /* peers per device (wireguard-go: 2^16) */
#define WG_CONFIG_MAX_ALLOWED_IPS 1048576  /* allowed_ip lines in one request, all peers */

typedef struct {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	};
} wg_endpoint; /* AF_UNSPEC (sa.sa_family == 0) = none */

typedef struct {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;   /* <= 32 / 128 */
	bool remove;    /* the "allowed_ip=-prefix" form */
	uint8_t addr[16];
} wg_allowed_ip;

typedef struct {
	uint8_t public_key[32];
	bool remove;
	bool update_only;
	bool replace_allowed_ips;
	bool has_preshared_key;
	uint8_t preshared_key[32]; /* all zero = none */
	bool has_endpoint;
	wg_endpoint endpoint;
	bool has_persistent_keepalive;
	uint16_t persistent_keepalive;
	size_t n_allowed_ips;
	wg_allowed_ip *allowed_ips; /* owned by the change */
} wg_peer_change;

typedef struct {
	bool has_private_key;
	uint8_t private_key[32]; /* all zero = remove the key */
	bool has_listen_port;
	uint16_t listen_port;    /* 0 = pick a free port */
	bool has_fwmark;
	uint32_t fwmark;         /* 0 = off */
	bool replace_peers;
	size_t n_peers;
	wg_peer_change *peers;   /* owned by the change; in request order */
} wg_config_change;

/* Frees the arrays and wipes the keys in a change. */
void wg_config_change_clear(wg_config_change *c);

/* A snapshot for `get=1`. */
typedef struct {
	uint8_t public_key[32];
	uint8_t preshared_key[32];
	wg_endpoint endpoint;
	uint64_t last_handshake_sec, last_handshake_nsec;
	uint64_t tx_bytes, rx_bytes;
	uint16_t persistent_keepalive;
	size_t n_allowed_ips;
	wg_allowed_ip *allowed_ips;
} wg_peer_info;

typedef struct {
	bool has_private_key;
	uint8_t private_key[32];
	uint16_t listen_port; /* the bound port (0 if not bound) */
	uint32_t fwmark;
	size_t n_peers;
	wg_peer_info *peers;
} wg_config_info;

void wg_config_info_clear(wg_config_info *info);

#endif
