/* `get=1` serializer: wg_config_info -> text, in wireguard-go's key order and omission rules
 * (protocol-checklist §14), with Go's address formatting so raw output matches byte for byte. */
#include "uapi/uapi.h"

#include "crypto/crypto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for the longest formatted line ("endpoint=[v6%4294967295]:65535", a 64-hex key line). */
#define FORMAT_LINE_MAX 160

typedef struct {
	char *buf;
	size_t len, cap;
	int err;
} strbuf;

static void sb_grow(strbuf *sb, size_t need)
{
	size_t cap;
	char *nb;

	if (sb->err || sb->len + need + 1 <= sb->cap)
		return;
	cap = sb->cap ? sb->cap : 1024;
	while (cap < sb->len + need + 1)
		cap *= 2;
	nb = malloc(cap);
	if (!nb) {
		sb->err = -ENOMEM;
		return;
	}
	/* Copy and wipe instead of realloc: the old buffer may hold the private key. */
	if (sb->buf) {
		memcpy(nb, sb->buf, sb->len);
		crypto_wipe(sb->buf, sb->cap);
		free(sb->buf);
	}
	sb->buf = nb;
	sb->cap = cap;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *sb, const char *fmt, ...)
{
	char line[FORMAT_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		sb->err = sb->err ? sb->err : -EINVAL;
		return;
	}
	sb_grow(sb, (size_t)n);
	if (sb->err == 0) {
		memcpy(sb->buf + sb->len, line, (size_t)n + 1);
		sb->len += (size_t)n;
	}
	crypto_wipe(line, sizeof(line));
}

static void sb_key(strbuf *sb, const char *name, const uint8_t key[32])
{
	char hex[CRYPTO_KEY_HEX_LEN + 1];

	crypto_key_to_hex(hex, key);
	sb_printf(sb, "%s=%s\n", name, hex);
	crypto_wipe(hex, sizeof(hex));
}

void uapi_format_addr(char buf[46], int family, const uint8_t *a)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint16_t w[8];
	int zs = -1, ze = -1; /* longest run of >= 2 zero groups, first one on a tie */
	size_t n = 0;

	if (family == AF_INET) {
		snprintf(buf, 46, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	if (memcmp(a, mapped, 12) == 0) {
		snprintf(buf, 46, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
		return;
	}
	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
	for (int i = 0; i < 8; i++) {
		int j = i;
		while (j < 8 && w[j] == 0)
			j++;
		if (j - i >= 2 && j - i > ze - zs) {
			zs = i;
			ze = j;
		}
	}
	for (int i = 0; i < 8; i++) {
		if (i == zs) {
			buf[n++] = ':';
			buf[n++] = ':';
			i = ze - 1;
			continue;
		}
		if (i > 0 && i != ze)
			buf[n++] = ':';
		n += (size_t)snprintf(buf + n, 46 - n, "%x", w[i]);
	}
	buf[n] = '\0';
}

static void sb_endpoint(strbuf *sb, const wg_endpoint *ep)
{
	char a[46];

	if (ep->sa.sa_family == AF_INET) {
		uapi_format_addr(a, AF_INET, (const uint8_t *)&ep->in4.sin_addr);
		sb_printf(sb, "endpoint=%s:%u\n", a, ntohs(ep->in4.sin_port));
	} else if (ep->sa.sa_family == AF_INET6) {
		uapi_format_addr(a, AF_INET6, ep->in6.sin6_addr.s6_addr);
		if (ep->in6.sin6_scope_id)
			sb_printf(sb, "endpoint=[%s%%%" PRIu32 "]:%u\n", a, ep->in6.sin6_scope_id,
				  ntohs(ep->in6.sin6_port));
		else
			sb_printf(sb, "endpoint=[%s]:%u\n", a, ntohs(ep->in6.sin6_port));
	}
}

static void sb_peer(strbuf *sb, const wg_peer_info *p)
{
	char a[46];

	sb_key(sb, "public_key", p->public_key);
	sb_key(sb, "preshared_key", p->preshared_key);
	sb_printf(sb, "protocol_version=1\n");
	sb_endpoint(sb, &p->endpoint);
	sb_printf(sb, "last_handshake_time_sec=%" PRIu64 "\n", p->last_handshake_sec);
	sb_printf(sb, "last_handshake_time_nsec=%" PRIu64 "\n", p->last_handshake_nsec);
	sb_printf(sb, "tx_bytes=%" PRIu64 "\n", p->tx_bytes);
	sb_printf(sb, "rx_bytes=%" PRIu64 "\n", p->rx_bytes);
	sb_printf(sb, "persistent_keepalive_interval=%u\n", p->persistent_keepalive);
	for (size_t i = 0; i < p->n_allowed_ips; i++) {
		const wg_allowed_ip *ip = &p->allowed_ips[i];
		if (ip->family != AF_INET && ip->family != AF_INET6)
			continue;
		uapi_format_addr(a, ip->family, ip->addr);
		sb_printf(sb, "allowed_ip=%s/%u\n", a, ip->cidr);
	}
}

int uapi_format_get(const wg_config_info *info, char **out, size_t *out_len)
{
	static const uint8_t zero[32];
	strbuf sb = {0};

	*out = NULL;
	*out_len = 0;
	sb_grow(&sb, 0); /* an empty config still yields an empty string, not NULL */
	if (info->has_private_key && !crypto_equal(info->private_key, zero, 32))
		sb_key(&sb, "private_key", info->private_key);
	if (info->listen_port)
		sb_printf(&sb, "listen_port=%u\n", info->listen_port);
	if (info->fwmark)
		sb_printf(&sb, "fwmark=%" PRIu32 "\n", info->fwmark);
	for (size_t i = 0; i < info->n_peers; i++)
		sb_peer(&sb, &info->peers[i]);
	if (sb.err) {
		if (sb.buf) {
			crypto_wipe(sb.buf, sb.cap);
			free(sb.buf);
		}
		return sb.err;
	}
	sb.buf[sb.len] = '\0';
	*out = sb.buf;
	*out_len = sb.len;
	return 0;
}

size_t uapi_format_errno(char buf[32], int err)
{
	int n = snprintf(buf, 32, "errno=%d\n\n", err);
	return n > 0 ? (size_t)n : 0;
}
