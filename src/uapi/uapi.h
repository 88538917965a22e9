/* The `wg` cross-platform configuration protocol (UAPI), pure and buffer-driven:
 *   - a `set=1` body parser producing a wg_config_change (applied by the device atomically),
 *   - a serializer of a wg_config_info into the `get=1` response lines,
 *   - a framing state machine for one stream connection (several requests in sequence).
 * No I/O, no clock, no global state: everything here can be fed arbitrary bytes (fuzzed).
 * Facts: protocol-checklist §14 and wireguard-go's device/uapi.go behaviour. */
#ifndef WGTUN_UAPI_UAPI_H
#define WGTUN_UAPI_UAPI_H

#include "device/config.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest line accepted, '\n' excluded. The longest valid line is an endpoint with a zone
 * (< 128 bytes); wg never sends more. Over it: the request fails with -EINVAL and the
 * connection is closed (the rest of the stream can no longer be framed). */
#define UAPI_MAX_LINE 1024
/* Largest set request in bytes, "set=1\n" to the blank line. 1M allowed IPs of ~45 bytes
 * fit (WG_CONFIG_MAX_ALLOWED_IPS). Over it: -ENOMEM, connection closed. */
#define UAPI_MAX_REQUEST (64u * 1024u * 1024u)

/* Maps an IPv6 zone name ("eth0" in "[fe80::1%eth0]:51820") to an interface index, 0 if
 * unknown. The parser itself accepts only numeric zones; the socket server passes
 * if_nametoindex so that `wg`'s named zones work. */
typedef unsigned (*uapi_zone_resolver)(const char *name);

/* ---- value parsers (exposed for tests and the public API); 0 or -EINVAL ---- */
/* Strict decimal: digits only (leading zeros allowed, as Go's ParseUint), value <= max. */
int uapi_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out);
/* "a.b.c.d:port", "[v6]:port", "[v6%zone]:port"; numeric addresses only. IPv4-mapped IPv6
 * becomes AF_INET (as wireguard-go 0.0.20220316 does). */
int uapi_parse_endpoint(const char *s, size_t len, uapi_zone_resolver zone, wg_endpoint *out);
/* "addr/cidr" or "-addr/cidr" (removal). The address is kept as written (not masked). */
int uapi_parse_allowed_ip(const char *s, size_t len, wg_allowed_ip *out);

/* ---- set=1 body parser, line by line ---- */
typedef struct {
	wg_config_change change;
	size_t cap_peers;      /* allocated entries in change.peers */
	size_t cap_ips;        /* allocated entries in the last peer's allowed_ips */
	size_t total_ips;      /* allowed_ip lines kept so far, all peers */
	bool in_peer;          /* a public_key line was seen: every later key is a peer key */
	int err;               /* first error (negative errno), sticky; 0 = none */
	uapi_zone_resolver zone;
} uapi_set_parser;

void uapi_set_init(uapi_set_parser *p, uapi_zone_resolver zone);
/* One line without its '\n' (may contain any byte). After the first error the parser keeps
 * that error and ignores further lines. Returns the parser's error state (0 or -errno):
 * -EPROTO = no '=', -EINVAL = unknown key or bad value or over a WG_CONFIG_MAX_* bound,
 * -ENOMEM. */
int uapi_set_line(uapi_set_parser *p, const char *line, size_t len);
/* Ends the request: on success moves the change into *out (caller clears it) and returns 0;
 * on error returns the first error and *out is left empty. The parser is reset either way. */
int uapi_set_finish(uapi_set_parser *p, wg_config_change *out);
/* Frees whatever the parser holds (wipes keys). */
void uapi_set_clear(uapi_set_parser *p);

/* Parses a whole body ("key=value\n" lines, optionally ended by one blank line; the last line
 * may lack its '\n'). Bytes after the blank line are an error (-EINVAL). 0 or -errno; on
 * error *out is empty. */
int uapi_parse_set(const char *body, size_t len, uapi_zone_resolver zone, wg_config_change *out);

/* ---- get=1 serializer ---- */
/* Writes the response lines for info in wireguard-go's order and omission rules (without the
 * final "errno=0" and blank line, see uapi_format_errno). *out is malloc'd and
 * NUL-terminated (may contain keys: wipe before free). 0 or -ENOMEM. */
int uapi_format_get(const wg_config_info *info, char **out, size_t *out_len);
/* "errno=N\n\n" into buf (N = err, 0 or negative). Returns the length. */
size_t uapi_format_errno(char buf[32], int err);
/* Go-style text of an address (IPv6 as RFC 5952 like netip: "::ffff:a.b.c.d" for mapped).
 * buf must hold 46 bytes. */
void uapi_format_addr(char buf[46], int family, const uint8_t *addr);

/* ---- framing of one stream connection ---- */
typedef enum {
	UAPI_EV_NONE = 0, /* all input consumed, need more */
	UAPI_EV_GET,      /* a complete get=1: reply lines + "errno=0\n\n" */
	UAPI_EV_SET,      /* a complete set=1 without error: apply ev.change, reply errno */
	UAPI_EV_ERROR,    /* a complete request that failed: reply errno=ev.err, keep going */
	UAPI_EV_CLOSE,    /* close the connection; first reply errno=ev.err if ev.err != 0 */
} uapi_event_type;

typedef struct {
	uapi_event_type type;
	int err;                 /* negative errno for UAPI_EV_ERROR / UAPI_EV_CLOSE */
	wg_config_change change; /* UAPI_EV_SET: owned by the caller (wg_config_change_clear) */
} uapi_event;

typedef struct {
	int state;
	size_t line_len;
	size_t request_bytes;
	size_t max_line;    /* <= UAPI_MAX_LINE */
	size_t max_request; /* <= UAPI_MAX_REQUEST */
	uapi_set_parser set;
	char line[UAPI_MAX_LINE];
} uapi_conn;

/* max_line / max_request: 0 = the UAPI_MAX_* defaults; larger values are capped to them. */
void uapi_conn_init(uapi_conn *c, size_t max_line, size_t max_request, uapi_zone_resolver zone);
/* Consumes input up to and including the byte that completes an event, fills *ev and returns
 * the bytes consumed; call again with the rest. ev->type == UAPI_EV_NONE means all of data was
 * consumed. After UAPI_EV_CLOSE every call returns UAPI_EV_CLOSE (err 0) consuming nothing. */
size_t uapi_conn_feed(uapi_conn *c, const void *data, size_t len, uapi_event *ev);
/* The peer closed its side: a pending set request (even a last line without '\n') completes
 * as wireguard-go does at EOF; anything else just closes. ev->type is UAPI_EV_SET,
 * UAPI_EV_ERROR or UAPI_EV_CLOSE; the caller closes after replying. */
void uapi_conn_eof(uapi_conn *c, uapi_event *ev);
/* Frees a pending request (wiping keys and the line buffer). */
void uapi_conn_clear(uapi_conn *c);

#endif
