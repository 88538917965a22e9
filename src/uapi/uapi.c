/* `set=1` body parser: text lines -> wg_config_change. Pure; every value is checked before it
 * is stored, and the first error wins (the device then applies nothing). */
#include "uapi/uapi.h"

#include "crypto/crypto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Longest numeric address text we copy out to NUL-terminate for inet_pton (an IPv6 address
 * with an embedded IPv4 is 45 chars). */
#define ADDR_TEXT_MAX 64
/* Longest zone text ("%eth0" without the '%'): IFNAMSIZ - 1, or a decimal index. */
#define ZONE_TEXT_MAX 16

static bool span_is(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len == n && memcmp(s, lit, n) == 0;
}

int uapi_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > max / 10 || d > max - v * 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Copies a span into a NUL-terminated buffer; -EINVAL if too long or holding a NUL. */
static int span_copy(char *dst, size_t cap, const char *s, size_t len)
{
	if (len >= cap || memchr(s, '\0', len))
		return -EINVAL;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

static int parse_zone(const char *s, size_t len, uapi_zone_resolver zone, uint32_t *scope)
{
	char name[ZONE_TEXT_MAX + 1];
	uint64_t v;
	unsigned idx;

	if (uapi_parse_uint(s, len, UINT32_MAX, &v) == 0) {
		*scope = (uint32_t)v;
		return 0;
	}
	if (!zone || span_copy(name, sizeof(name), s, len) < 0 || len == 0)
		return -EINVAL;
	idx = zone(name);
	if (idx == 0)
		return -EINVAL;
	*scope = idx;
	return 0;
}

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int uapi_parse_endpoint(const char *s, size_t len, uapi_zone_resolver zone, wg_endpoint *out)
{
	char addr[ADDR_TEXT_MAX];
	const char *colon, *host, *zs = NULL;
	size_t host_len, zone_len = 0;
	uint64_t port;
	uint32_t scope = 0;
	wg_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	if (len == 0)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		const char *pct;
		if (!close || (size_t)(close - s) + 1 >= len || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
		pct = memchr(host, '%', host_len);
		if (pct) {
			zs = pct + 1;
			zone_len = host_len - (size_t)(zs - host);
			host_len = (size_t)(pct - host);
		}
	} else {
		colon = memchr(s, ':', len);
		/* exactly one ':' outside brackets, as Go's SplitHostPort requires */
		if (!colon || memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
			return -EINVAL;
		host = s;
		host_len = (size_t)(colon - s);
	}
	if (uapi_parse_uint(colon + 1, len - (size_t)(colon + 1 - s), 65535, &port) < 0)
		return -EINVAL;
	if (span_copy(addr, sizeof(addr), host, host_len) < 0)
		return -EINVAL;
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, addr, &ep.in6.sin6_addr) != 1)
			return -EINVAL;
		if (zs && parse_zone(zs, zone_len, zone, &scope) < 0)
			return -EINVAL;
		if (memcmp(ep.in6.sin6_addr.s6_addr, v4mapped_prefix, 12) == 0) {
			struct in_addr a4;
			if (zs)
				return -EINVAL; /* a zone on an IPv4 address makes no sense */
			memcpy(&a4, ep.in6.sin6_addr.s6_addr + 12, 4);
			memset(&ep, 0, sizeof(ep));
			ep.in4.sin_family = AF_INET;
			ep.in4.sin_addr = a4;
			ep.in4.sin_port = htons((uint16_t)port);
		} else {
			ep.in6.sin6_family = AF_INET6;
			ep.in6.sin6_port = htons((uint16_t)port);
			ep.in6.sin6_scope_id = scope;
		}
	} else {
		if (inet_pton(AF_INET, addr, &ep.in4.sin_addr) != 1)
			return -EINVAL;
		ep.in4.sin_family = AF_INET;
		ep.in4.sin_port = htons((uint16_t)port);
	}
	*out = ep;
	return 0;
}

int uapi_parse_allowed_ip(const char *s, size_t len, wg_allowed_ip *out)
{
	char addr[ADDR_TEXT_MAX];
	const char *slash;
	wg_allowed_ip ip;
	uint64_t cidr;
	size_t bits_len;

	memset(&ip, 0, sizeof(ip));
	if (len > 0 && s[0] == '-') {
		ip.remove = true;
		s++;
		len--;
	}
	slash = memchr(s, '/', len);
	if (!slash)
		return -EINVAL;
	bits_len = len - (size_t)(slash + 1 - s);
	/* netip.ParsePrefix: decimal bits, no sign, no leading zero */
	if (bits_len > 1 && slash[1] == '0')
		return -EINVAL;
	if (uapi_parse_uint(slash + 1, bits_len, 128, &cidr) < 0)
		return -EINVAL;
	if (span_copy(addr, sizeof(addr), s, (size_t)(slash - s)) < 0)
		return -EINVAL;
	if (inet_pton(AF_INET, addr, ip.addr) == 1) {
		if (cidr > 32)
			return -EINVAL;
		ip.family = AF_INET;
	} else if (inet_pton(AF_INET6, addr, ip.addr) == 1) {
		ip.family = AF_INET6;
	} else {
		return -EINVAL;
	}
	ip.cidr = (uint8_t)cidr;
	*out = ip;
	return 0;
}

void uapi_set_init(uapi_set_parser *p, uapi_zone_resolver zone)
{
	memset(p, 0, sizeof(*p));
	p->zone = zone;
}

void uapi_set_clear(uapi_set_parser *p)
{
	uapi_zone_resolver zone = p->zone;

	wg_config_change_clear(&p->change);
	uapi_set_init(p, zone);
}

static int parse_true(const char *v, size_t len, bool *flag)
{
	if (!span_is(v, len, "true"))
		return -EINVAL;
	*flag = true;
	return 0;
}

static int parse_key(const char *v, size_t len, uint8_t key[32])
{
	uint8_t tmp[32];
	int r = crypto_key_from_hex(tmp, v, len) == 0 ? 0 : -EINVAL;

	if (r == 0)
		memcpy(key, tmp, 32);
	crypto_wipe(tmp, sizeof(tmp));
	return r;
}

static int device_line(uapi_set_parser *p, const char *k, size_t klen, const char *v,
		       size_t vlen)
{
	wg_config_change *c = &p->change;
	uint64_t n;

	if (span_is(k, klen, "private_key")) {
		if (parse_key(v, vlen, c->private_key) < 0)
			return -EINVAL;
		c->has_private_key = true;
	} else if (span_is(k, klen, "listen_port")) {
		if (uapi_parse_uint(v, vlen, 65535, &n) < 0)
			return -EINVAL;
		c->has_listen_port = true;
		c->listen_port = (uint16_t)n;
	} else if (span_is(k, klen, "fwmark")) {
		if (uapi_parse_uint(v, vlen, UINT32_MAX, &n) < 0)
			return -EINVAL;
		c->has_fwmark = true;
		c->fwmark = (uint32_t)n;
	} else if (span_is(k, klen, "replace_peers")) {
		return parse_true(v, vlen, &c->replace_peers);
	} else {
		return -EINVAL;
	}
	return 0;
}

static int new_peer(uapi_set_parser *p, const char *v, size_t vlen)
{
	wg_config_change *c = &p->change;
	wg_peer_change *peer;

	if (c->n_peers >= WG_CONFIG_MAX_PEERS)
		return -EINVAL;
	if (c->n_peers == p->cap_peers) {
		size_t cap = p->cap_peers ? p->cap_peers * 2 : 4;
		wg_peer_change *np;
		if (cap > WG_CONFIG_MAX_PEERS)
			cap = WG_CONFIG_MAX_PEERS;
		np = realloc(c->peers, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		c->peers = np;
		p->cap_peers = cap;
	}
	peer = &c->peers[c->n_peers];
	memset(peer, 0, sizeof(*peer));
	if (parse_key(v, vlen, peer->public_key) < 0)
		return -EINVAL;
	c->n_peers++;
	p->cap_ips = 0;
	p->in_peer = true;
	return 0;
}

static int add_allowed_ip(uapi_set_parser *p, wg_peer_change *peer, const char *v, size_t vlen)
{
	wg_allowed_ip ip;

	if (uapi_parse_allowed_ip(v, vlen, &ip) < 0)
		return -EINVAL;
	if (p->total_ips >= WG_CONFIG_MAX_ALLOWED_IPS)
		return -EINVAL;
	if (peer->n_allowed_ips == p->cap_ips) {
		size_t cap = p->cap_ips ? p->cap_ips * 2 : 4;
		wg_allowed_ip *na = realloc(peer->allowed_ips, cap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		peer->allowed_ips = na;
		p->cap_ips = cap;
	}
	peer->allowed_ips[peer->n_allowed_ips++] = ip;
	p->total_ips++;
	return 0;
}

static int peer_line(uapi_set_parser *p, const char *k, size_t klen, const char *v, size_t vlen)
{
	wg_peer_change *peer = &p->change.peers[p->change.n_peers - 1];
	uint64_t n;

	if (span_is(k, klen, "remove"))
		return parse_true(v, vlen, &peer->remove);
	if (span_is(k, klen, "update_only"))
		return parse_true(v, vlen, &peer->update_only);
	if (span_is(k, klen, "preshared_key")) {
		if (parse_key(v, vlen, peer->preshared_key) < 0)
			return -EINVAL;
		peer->has_preshared_key = true;
		return 0;
	}
	if (span_is(k, klen, "endpoint")) {
		if (uapi_parse_endpoint(v, vlen, p->zone, &peer->endpoint) < 0)
			return -EINVAL;
		peer->has_endpoint = true;
		return 0;
	}
	if (span_is(k, klen, "persistent_keepalive_interval")) {
		if (uapi_parse_uint(v, vlen, 65535, &n) < 0)
			return -EINVAL;
		peer->has_persistent_keepalive = true;
		peer->persistent_keepalive = (uint16_t)n;
		return 0;
	}
	if (span_is(k, klen, "replace_allowed_ips")) {
		if (parse_true(v, vlen, &peer->replace_allowed_ips) < 0)
			return -EINVAL;
		/* Lines before it are replaced too: wireguard-go drops the peer's whole set here. */
		p->total_ips -= peer->n_allowed_ips;
		peer->n_allowed_ips = 0;
		return 0;
	}
	if (span_is(k, klen, "allowed_ip"))
		return add_allowed_ip(p, peer, v, vlen);
	if (span_is(k, klen, "protocol_version"))
		return span_is(v, vlen, "1") ? 0 : -EINVAL;
	return -EINVAL;
}

int uapi_set_line(uapi_set_parser *p, const char *line, size_t len)
{
	const char *eq, *v;
	size_t klen, vlen;
	int r;

	if (p->err)
		return p->err;
	eq = memchr(line, '=', len);
	if (!eq) {
		r = -EPROTO;
		goto out;
	}
	klen = (size_t)(eq - line);
	v = eq + 1;
	vlen = len - klen - 1;
	if (span_is(line, klen, "public_key"))
		r = new_peer(p, v, vlen);
	else if (!p->in_peer)
		r = device_line(p, line, klen, v, vlen);
	else
		r = peer_line(p, line, klen, v, vlen);
out:
	if (r < 0) {
		/* Drop what was gathered now: the request fails as a whole. */
		uapi_set_clear(p);
		p->err = r;
	}
	return r;
}

int uapi_set_finish(uapi_set_parser *p, wg_config_change *out)
{
	int r = p->err;

	memset(out, 0, sizeof(*out));
	if (r == 0) {
		*out = p->change;
		memset(&p->change, 0, sizeof(p->change));
	}
	uapi_set_clear(p);
	return r;
}

int uapi_parse_set(const char *body, size_t len, uapi_zone_resolver zone, wg_config_change *out)
{
	uapi_set_parser p;
	size_t pos = 0;

	uapi_set_init(&p, zone);
	while (pos < len) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - (body + pos)) : len - pos;
		/* cppcheck-suppress knownConditionTrueFalse ; false positive: nl == body + pos gives 0 */
		if (nl && line_len == 0) {
			if (pos + 1 != len && p.err == 0) {
				uapi_set_clear(&p);
				p.err = -EINVAL; /* data after the terminating blank line */
			}
			break;
		}
		uapi_set_line(&p, body + pos, line_len);
		pos += line_len + (nl ? 1 : 0);
	}
	return uapi_set_finish(&p, out);
}
