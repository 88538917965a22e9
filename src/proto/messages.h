/* WireGuard wire formats and protocol constants (protocol-checklist.md sections 2, 3, 8).
 *
 * Layouts are structs made only of uint8_t arrays: alignment 1, no padding (asserted below),
 * so a received buffer of the right length can be viewed through them at any address.
 * Multi-byte integers are little-endian on the wire; use wg_le32_read/wg_le32_write. */
#ifndef WGTUN_PROTO_MESSAGES_H
#define WGTUN_PROTO_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/common.h"

/* ---- Noise construction ---- */
#define WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_CONSTRUCTION_LEN 37
/* The Noise prologue. */
#define WG_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define WG_IDENTIFIER_LEN 34
#define WG_LABEL_MAC1 "mac1----"
#define WG_LABEL_COOKIE "cookie--"
#define WG_LABEL_LEN 8

#define WG_KEY_LEN 32
#define WG_HASH_LEN 32
#define WG_MAC_LEN 16
#define WG_TAG_LEN 16
#define WG_COOKIE_LEN 16
#define WG_COOKIE_NONCE_LEN 24
#define WG_TIMESTAMP_LEN 12 /* TAI64N */

/* ---- message types (first byte; the next 3 bytes must be zero) ---- */
enum wg_message_type {
	WG_MSG_INITIATION = 1,
	WG_MSG_RESPONSE = 2,
	WG_MSG_COOKIE_REPLY = 3,
	WG_MSG_DATA = 4,
};

/* ---- layouts ---- */
typedef struct {
	uint8_t header[4]; /* type = 1, 3 zero bytes */
	uint8_t sender_index[4];
	uint8_t ephemeral[WG_KEY_LEN];
	uint8_t encrypted_static[WG_KEY_LEN + WG_TAG_LEN];
	uint8_t encrypted_timestamp[WG_TIMESTAMP_LEN + WG_TAG_LEN];
	uint8_t mac1[WG_MAC_LEN];
	uint8_t mac2[WG_MAC_LEN];
} wg_msg_initiation;

typedef struct {
	uint8_t header[4]; /* type = 2 */
	uint8_t sender_index[4];
	uint8_t receiver_index[4];
	uint8_t ephemeral[WG_KEY_LEN];
	uint8_t encrypted_nothing[WG_TAG_LEN];
	uint8_t mac1[WG_MAC_LEN];
	uint8_t mac2[WG_MAC_LEN];
} wg_msg_response;

typedef struct {
	uint8_t header[4]; /* type = 3 */
	uint8_t receiver_index[4];
	uint8_t nonce[WG_COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[WG_COOKIE_LEN + WG_TAG_LEN];
} wg_msg_cookie_reply;

/* Header of a transport data message; ciphertext (>= 16 bytes: tag) follows. */
typedef struct {
	uint8_t header[4]; /* type = 4 */
	uint8_t receiver_index[4];
	uint8_t counter[8]; /* LE64, also the AEAD nonce counter */
} wg_msg_data_header;

#define WG_MSG_INITIATION_LEN 148
#define WG_MSG_RESPONSE_LEN 92
#define WG_MSG_COOKIE_REPLY_LEN 64
#define WG_MSG_DATA_HEADER_LEN 16
#define WG_MSG_DATA_MIN_LEN 32 /* header + tag: a keepalive */
#define WG_MSG_MAX_HANDSHAKE_LEN WG_MSG_INITIATION_LEN

/* Byte offsets (for code that works on raw buffers). */
#define WG_INIT_OFF_SENDER offsetof(wg_msg_initiation, sender_index)             /* 4 */
#define WG_INIT_OFF_EPHEMERAL offsetof(wg_msg_initiation, ephemeral)           /* 8 */
#define WG_INIT_OFF_STATIC offsetof(wg_msg_initiation, encrypted_static)       /* 40 */
#define WG_INIT_OFF_TIMESTAMP offsetof(wg_msg_initiation, encrypted_timestamp) /* 88 */
#define WG_INIT_OFF_MAC1 offsetof(wg_msg_initiation, mac1)                     /* 116 */
#define WG_INIT_OFF_MAC2 offsetof(wg_msg_initiation, mac2)                     /* 132 */
#define WG_RESP_OFF_SENDER offsetof(wg_msg_response, sender_index)             /* 4 */
#define WG_RESP_OFF_RECEIVER offsetof(wg_msg_response, receiver_index)         /* 8 */
#define WG_RESP_OFF_EPHEMERAL offsetof(wg_msg_response, ephemeral)             /* 12 */
#define WG_RESP_OFF_EMPTY offsetof(wg_msg_response, encrypted_nothing)         /* 44 */
#define WG_RESP_OFF_MAC1 offsetof(wg_msg_response, mac1)                       /* 60 */
#define WG_RESP_OFF_MAC2 offsetof(wg_msg_response, mac2)                       /* 76 */
#define WG_COOKIE_OFF_RECEIVER offsetof(wg_msg_cookie_reply, receiver_index)   /* 4 */
#define WG_COOKIE_OFF_NONCE offsetof(wg_msg_cookie_reply, nonce)               /* 8 */
#define WG_COOKIE_OFF_COOKIE offsetof(wg_msg_cookie_reply, encrypted_cookie)   /* 32 */
#define WG_DATA_OFF_RECEIVER offsetof(wg_msg_data_header, receiver_index)      /* 4 */
#define WG_DATA_OFF_COUNTER offsetof(wg_msg_data_header, counter)              /* 8 */

_Static_assert(sizeof(wg_msg_initiation) == WG_MSG_INITIATION_LEN, "initiation size");
_Static_assert(sizeof(wg_msg_response) == WG_MSG_RESPONSE_LEN, "response size");
_Static_assert(sizeof(wg_msg_cookie_reply) == WG_MSG_COOKIE_REPLY_LEN, "cookie reply size");
_Static_assert(sizeof(wg_msg_data_header) == WG_MSG_DATA_HEADER_LEN, "data header size");
_Static_assert(_Alignof(wg_msg_initiation) == 1 && _Alignof(wg_msg_response) == 1 &&
		       _Alignof(wg_msg_cookie_reply) == 1 && _Alignof(wg_msg_data_header) == 1,
	       "layouts must be byte-aligned");
_Static_assert(offsetof(wg_msg_initiation, sender_index) == 4, "init sender");
_Static_assert(offsetof(wg_msg_initiation, ephemeral) == 8, "init ephemeral");
_Static_assert(offsetof(wg_msg_initiation, encrypted_static) == 40, "init static");
_Static_assert(offsetof(wg_msg_initiation, encrypted_timestamp) == 88, "init timestamp");
_Static_assert(offsetof(wg_msg_initiation, mac1) == 116, "init mac1");
_Static_assert(offsetof(wg_msg_initiation, mac2) == 132, "init mac2");
_Static_assert(offsetof(wg_msg_response, sender_index) == 4, "resp sender");
_Static_assert(offsetof(wg_msg_response, receiver_index) == 8, "resp receiver");
_Static_assert(offsetof(wg_msg_response, ephemeral) == 12, "resp ephemeral");
_Static_assert(offsetof(wg_msg_response, encrypted_nothing) == 44, "resp empty");
_Static_assert(offsetof(wg_msg_response, mac1) == 60, "resp mac1");
_Static_assert(offsetof(wg_msg_response, mac2) == 76, "resp mac2");
_Static_assert(offsetof(wg_msg_cookie_reply, receiver_index) == 4, "cookie receiver");
_Static_assert(offsetof(wg_msg_cookie_reply, nonce) == 8, "cookie nonce");
_Static_assert(offsetof(wg_msg_cookie_reply, encrypted_cookie) == 32, "cookie payload");
_Static_assert(offsetof(wg_msg_data_header, counter) == 8, "data counter");

/* ---- protocol constants (section 8; times in wg_time_ns) ---- */
#define WG_REKEY_AFTER_MESSAGES (1ULL << 60)
/* wireguard-go / whitepaper value: 2^64 - 2^13 - 1. */
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ULL << 13))
#define WG_REKEY_AFTER_TIME WG_SEC(120)
#define WG_REJECT_AFTER_TIME WG_SEC(180)
#define WG_REKEY_ATTEMPT_TIME WG_SEC(90)
#define WG_REKEY_TIMEOUT WG_SEC(5)
#define WG_REKEY_TIMEOUT_JITTER_MAX WG_MS(333) /* random 0..333 ms added to REKEY_TIMEOUT */
#define WG_KEEPALIVE_TIMEOUT WG_SEC(10)
#define WG_COOKIE_REFRESH_TIME WG_SEC(120) /* cookie freshness and responder secret max age */
#define WG_MAX_TIMER_HANDSHAKES 18         /* REKEY_ATTEMPT_TIME / REKEY_TIMEOUT */
#define WG_INITIATIONS_PER_SECOND 50
#define WG_INITIATION_MIN_INTERVAL (WG_NS_PER_SEC / WG_INITIATIONS_PER_SECOND) /* 20 ms */
/* Initiator on time-based rekey of a received session: REJECT - KEEPALIVE - REKEY_TIMEOUT. */
#define WG_REKEY_ON_RECV_AGE (WG_REJECT_AFTER_TIME - WG_KEEPALIVE_TIMEOUT - WG_REKEY_TIMEOUT)
#define WG_ZERO_KEY_MATERIAL_TIME (3 * WG_REJECT_AFTER_TIME) /* 540 s */
#define WG_DEFAULT_MTU 1420
/* Largest padded plaintext: a message is at most 65535 bytes, 32 of them framing. */
#define WG_MAX_CONTENT_LEN (65535 - WG_MSG_DATA_MIN_LEN)

/* ---- little-endian helpers ---- */
static inline uint32_t wg_le32_read(const uint8_t p[4])
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void wg_le32_write(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t wg_le64_read(const uint8_t p[8])
{
	return (uint64_t)wg_le32_read(p) | (uint64_t)wg_le32_read(p + 4) << 32;
}

static inline void wg_le64_write(uint8_t p[8], uint64_t v)
{
	wg_le32_write(p, (uint32_t)v);
	wg_le32_write(p + 4, (uint32_t)(v >> 32));
}

/* Writes the 4-byte header (type + 3 zero bytes). */
static inline void wg_msg_set_header(uint8_t p[4], enum wg_message_type type)
{
	wg_le32_write(p, (uint32_t)type);
}

/* ---- input checks ---- */
/* The message type if the first 4 bytes are a known type with zero reserved bytes AND len is
 * valid for it (exact for types 1-3, >= 32 for data); 0 otherwise (drop the packet). */
static inline int wg_msg_classify(const uint8_t *p, size_t len)
{
	uint32_t h;

	if (len < 4)
		return 0;
	h = wg_le32_read(p); /* reserved bytes non-zero => h is no valid type */
	switch (h) {
	case WG_MSG_INITIATION:
		return len == WG_MSG_INITIATION_LEN ? WG_MSG_INITIATION : 0;
	case WG_MSG_RESPONSE:
		return len == WG_MSG_RESPONSE_LEN ? WG_MSG_RESPONSE : 0;
	case WG_MSG_COOKIE_REPLY:
		return len == WG_MSG_COOKIE_REPLY_LEN ? WG_MSG_COOKIE_REPLY : 0;
	case WG_MSG_DATA:
		return len >= WG_MSG_DATA_MIN_LEN ? WG_MSG_DATA : 0;
	default:
		return 0;
	}
}

/* true if p[0..len) is a well-formed message of the given type (header + length). */
static inline bool wg_msg_check(const uint8_t *p, size_t len, enum wg_message_type type)
{
	return wg_msg_classify(p, len) == (int)type;
}

/* Offset of mac1 / mac2 for a handshake message type (1 or 2), 0 for anything else. */
static inline size_t wg_msg_mac1_offset(enum wg_message_type type)
{
	return type == WG_MSG_INITIATION ? WG_INIT_OFF_MAC1
	       : type == WG_MSG_RESPONSE ? WG_RESP_OFF_MAC1
					 : 0;
}

static inline size_t wg_msg_mac2_offset(enum wg_message_type type)
{
	return type == WG_MSG_INITIATION ? WG_INIT_OFF_MAC2
	       : type == WG_MSG_RESPONSE ? WG_RESP_OFF_MAC2
					 : 0;
}

#endif
