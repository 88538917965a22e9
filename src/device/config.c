#include "device/config.h"

#include "crypto/crypto.h"

#include <stdlib.h>

void wg_config_change_clear(wg_config_change *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_peers; i++) {
		free(c->peers[i].allowed_ips);
		crypto_wipe(c->peers[i].preshared_key, sizeof(c->peers[i].preshared_key));
	}
	free(c->peers);
	crypto_wipe(c, sizeof(*c));
}

void wg_config_info_clear(wg_config_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->n_peers; i++) {
		free(info->peers[i].allowed_ips);
		crypto_wipe(info->peers[i].preshared_key, sizeof(info->peers[i].preshared_key));
	}
	free(info->peers);
	crypto_wipe(info, sizeof(*info));
}
