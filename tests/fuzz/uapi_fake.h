/* A deliberately naive device model for UAPI tests and the fuzzer: applies a
 * wg_config_change to a wg_config_info with the documented set semantics (device.h,
 * protocol-checklist §14), minus what needs crypto (the own-public-key rule). Linear scans
 * everywhere; only for small inputs. Header-only so the unit test and the harness share it. */
#ifndef WGTUN_TESTS_UAPI_FAKE_H
#define WGTUN_TESTS_UAPI_FAKE_H

#include "device/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fake_mask(wg_allowed_ip *ip)
{
	unsigned bytes = ip->family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned lo = i * 8;
		if (ip->cidr <= lo)
			ip->addr[i] = 0;
		else if (ip->cidr < lo + 8)
			ip->addr[i] &= (uint8_t)(0xff << (lo + 8 - ip->cidr));
	}
	for (unsigned i = bytes; i < 16; i++)
		ip->addr[i] = 0;
	ip->remove = false;
}

static inline bool fake_same_prefix(const wg_allowed_ip *a, const wg_allowed_ip *b)
{
	return a->family == b->family && a->cidr == b->cidr && !memcmp(a->addr, b->addr, 16);
}

static inline void fake_drop_ip(wg_peer_info *p, size_t i)
{
	memmove(&p->allowed_ips[i], &p->allowed_ips[i + 1],
		(p->n_allowed_ips - i - 1) * sizeof(p->allowed_ips[0]));
	p->n_allowed_ips--;
}

static inline long fake_find(const wg_config_info *d, const uint8_t key[32])
{
	for (size_t i = 0; i < d->n_peers; i++)
		if (!memcmp(d->peers[i].public_key, key, 32))
			return (long)i;
	return -1;
}

static inline void fake_remove_peer(wg_config_info *d, size_t i)
{
	free(d->peers[i].allowed_ips);
	memmove(&d->peers[i], &d->peers[i + 1], (d->n_peers - i - 1) * sizeof(d->peers[0]));
	d->n_peers--;
}

/* Returns 0, or -1 on allocation failure (the model is then partially updated: tests only). */
static inline int fake_add_ip(wg_config_info *d, size_t owner, wg_allowed_ip ip)
{
	wg_peer_info *p = &d->peers[owner];
	wg_allowed_ip *na;

	fake_mask(&ip);
	for (size_t k = 0; k < d->n_peers; k++)
		for (size_t j = 0; j < d->peers[k].n_allowed_ips; j++)
			if (fake_same_prefix(&d->peers[k].allowed_ips[j], &ip)) {
				fake_drop_ip(&d->peers[k], j);
				break;
			}
	na = realloc(p->allowed_ips, (p->n_allowed_ips + 1) * sizeof(*na));
	if (!na)
		return -1;
	p->allowed_ips = na;
	p->allowed_ips[p->n_allowed_ips++] = ip;
	return 0;
}

static inline void fake_del_ip(wg_peer_info *p, wg_allowed_ip ip)
{
	fake_mask(&ip);
	for (size_t j = 0; j < p->n_allowed_ips; j++)
		if (fake_same_prefix(&p->allowed_ips[j], &ip)) {
			fake_drop_ip(p, j);
			return;
		}
}

static inline int fake_apply_peer(wg_config_info *d, const wg_peer_change *pc)
{
	long i = fake_find(d, pc->public_key);
	wg_peer_info *p;

	if (pc->remove) {
		if (i >= 0)
			fake_remove_peer(d, (size_t)i);
		return 0;
	}
	if (i < 0) {
		wg_peer_info *np;
		if (pc->update_only)
			return 0;
		np = realloc(d->peers, (d->n_peers + 1) * sizeof(*np));
		if (!np)
			return -1;
		d->peers = np;
		i = (long)d->n_peers++;
		memset(&d->peers[i], 0, sizeof(d->peers[i]));
		memcpy(d->peers[i].public_key, pc->public_key, 32);
	}
	p = &d->peers[i];
	if (pc->has_preshared_key)
		memcpy(p->preshared_key, pc->preshared_key, 32);
	if (pc->has_endpoint)
		p->endpoint = pc->endpoint;
	if (pc->has_persistent_keepalive)
		p->persistent_keepalive = pc->persistent_keepalive;
	if (pc->replace_allowed_ips)
		p->n_allowed_ips = 0;
	for (size_t k = 0; k < pc->n_allowed_ips; k++) {
		if (pc->allowed_ips[k].remove)
			fake_del_ip(&d->peers[i], pc->allowed_ips[k]);
		else if (fake_add_ip(d, (size_t)i, pc->allowed_ips[k]) < 0)
			return -1;
	}
	return 0;
}

static inline int fake_apply(wg_config_info *d, const wg_config_change *c)
{
	static const uint8_t zero[32];

	if (c->has_private_key) {
		memcpy(d->private_key, c->private_key, 32);
		d->has_private_key = memcmp(c->private_key, zero, 32) != 0;
	}
	if (c->has_listen_port)
		d->listen_port = c->listen_port;
	if (c->has_fwmark)
		d->fwmark = c->fwmark;
	if (c->replace_peers)
		while (d->n_peers)
			fake_remove_peer(d, d->n_peers - 1);
	for (size_t k = 0; k < c->n_peers; k++)
		if (fake_apply_peer(d, &c->peers[k]) < 0)
			return -1;
	return 0;
}

/* Turns a get response into the set body that recreates it (what `wg showconf | wg setconf`
 * does): keeps the configuration keys, drops the run-time ones. malloc'd, NUL-terminated. */
static inline char *fake_get_to_set(const char *get, size_t len)
{
	static const char *const keep[] = {"private_key=", "listen_port=", "fwmark=",
					   "public_key=", "preshared_key=", "endpoint=",
					   "persistent_keepalive_interval=", "allowed_ip="};
	char *out = malloc(len + 32);
	size_t o = 0, pos = 0;

	if (!out)
		return NULL;
	o += (size_t)sprintf(out, "replace_peers=true\n");
	while (pos < len) {
		const char *nl = memchr(get + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (get + pos)) + 1 : len - pos;
		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			if (!strncmp(get + pos, keep[k], strlen(keep[k]))) {
				memcpy(out + o, get + pos, l);
				o += l;
				break;
			}
		pos += l;
	}
	out[o] = '\0';
	return out;
}

#endif
