/* Transport data: seal and open in place. */
#include "proto/transport.h"

#include "proto/tunnel.h"

#include <string.h>

#define TRANSPORT_PAD_MULTIPLE 16

static size_t round_up16(size_t n)
{
	return (n + TRANSPORT_PAD_MULTIPLE - 1) & ~(size_t)(TRANSPORT_PAD_MULTIPLE - 1);
}

size_t transport_padded_len(size_t len, uint32_t mtu)
{
	size_t last_unit = len, padded;

	if (mtu == 0)
		return round_up16(len);
	/* wireguard-go's cap: a padded packet plus the 32 bytes of framing stays a 16-bit size. */
	if (mtu > WG_MAX_CONTENT_LEN)
		mtu = WG_MAX_CONTENT_LEN;
	if (last_unit > mtu)
		last_unit %= mtu;
	padded = round_up16(last_unit);
	if (padded > mtu)
		padded = mtu;
	return len + (padded - last_unit);
}

size_t transport_seal_reserve(wg_keypair *kp, uint8_t *buf, size_t len, size_t cap, uint32_t mtu,
			      wg_time_ns now, uint64_t *counter, size_t *body_len)
{
	size_t padded = transport_padded_len(len, mtu);
	size_t total = WG_MSG_DATA_HEADER_LEN + padded + WG_TAG_LEN;
	wg_msg_data_header *h = (wg_msg_data_header *)buf;

	if (padded < len || total > cap || !keypair_can_send(kp, now))
		return 0;
	*counter = kp->send_counter++;
	*body_len = padded;
	memset(buf + WG_MSG_DATA_HEADER_LEN + len, 0, padded - len);
	wg_msg_set_header(h->header, WG_MSG_DATA);
	wg_le32_write(h->receiver_index, kp->remote_index);
	wg_le64_write(h->counter, *counter);
	return total;
}

size_t transport_seal(wg_keypair *kp, uint8_t *buf, size_t len, size_t cap, uint32_t mtu,
		      wg_time_ns now)
{
	uint64_t counter;
	size_t body_len;
	size_t total = transport_seal_reserve(kp, buf, len, cap, mtu, now, &counter, &body_len);

	if (total == 0)
		return 0;
	/* A failure (library out of memory) loses the counter: a gap the receiver tolerates. */
	if (crypto_aead_ctx_seal(kp->send_ctx, buf + WG_MSG_DATA_HEADER_LEN, body_len, counter) != 0)
		return 0;
	return total;
}

int transport_open(wg_keypair *kp, uint64_t counter, uint8_t *body, size_t len,
		   size_t *plain_len, wg_time_ns now)
{
	if (len < WG_TAG_LEN)
		return WG_TUN_ERR_MALFORMED;
	if (!keypair_can_receive(kp, now))
		return WG_TUN_ERR_NO_SESSION;
	/* Authenticate first: an unauthenticated counter must never move the window. */
	if (crypto_aead_ctx_open(kp->recv_ctx, body, len, counter) != 0)
		return WG_TUN_ERR_DECRYPT;
	if (!replay_check(&kp->replay, counter))
		return WG_TUN_ERR_REPLAY;
	*plain_len = len - WG_TAG_LEN;
	return 0;
}

int transport_inner_check(const uint8_t *plain, size_t len, size_t *inner_len)
{
	size_t n;

	if (len == 0) {
		*inner_len = 0;
		return WG_TUN_DONE;
	}
	switch (plain[0] >> 4) {
	case 4:
		if (len < 20)
			return WG_TUN_ERR_MALFORMED;
		n = (size_t)plain[2] << 8 | plain[3]; /* total length, big-endian */
		if (n < 20 || n > len)
			return WG_TUN_ERR_MALFORMED;
		*inner_len = n;
		return WG_TUN_WRITE_TUN_V4;
	case 6:
		if (len < 40)
			return WG_TUN_ERR_MALFORMED;
		n = ((size_t)plain[4] << 8 | plain[5]) + 40; /* payload length + fixed header */
		if (n > len)
			return WG_TUN_ERR_MALFORMED;
		*inner_len = n;
		return WG_TUN_WRITE_TUN_V6;
	default:
		return WG_TUN_ERR_MALFORMED;
	}
}
