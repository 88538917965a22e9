/* libwgtun: userspace WireGuard. The one installed header.
 *
 * Conventions: opaque handles, no global state, no global init, no signals, never prints
 * (logs through a callback). Every function says its thread-safety. Only wgtun_* symbols
 * are exported from the shared library. */
#ifndef WGTUN_H
#define WGTUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WGTUN_BUILDING)
#define WGTUN_API __attribute__((visibility("default")))
#else
#define WGTUN_API
#endif

#define WGTUN_KEY_LEN 32

/* Library version as "MAJOR.MINOR.PATCH". Thread-safe. */
WGTUN_API const char *wgtun_version(void);

/* Optional, only for a process that owns all of its OpenSSL use (the wgtun daemon does):
 * initialises OpenSSL without reading its configuration file (openssl.cnf), without
 * loading its error strings and without registering the legacy cipher and digest names (so
 * EVP_get_cipherbyname/EVP_get_digestbyname find nothing afterwards), which keeps about
 * 0.5 MB of OpenSSL's pages out of memory (docs/memory.md). It affects the whole process and
 * cannot be undone, so an app that uses OpenSSL elsewhere, or relies on openssl.cnf (e.g. to
 * load a FIPS provider), must not call it. (The library's own crypto never depends on it: it
 * uses a private OpenSSL library context of its own either way.) Call it before any other wgtun or OpenSSL call. 0, or -1 if OpenSSL refused. */
WGTUN_API int wgtun_crypto_init_lean(void);

/* ==== Keys (begin) ==================================================================
 * WireGuard Curve25519 keys and their two text forms: base64 (wg(8), config files) and
 * lowercase hex (the UAPI socket). All functions return 0 on success and -1 on failure (bad
 * argument, bad input, or the OS RNG failed), in which case the output is wiped. Encoding
 * and decoding run in constant time in the key. Thread-safe; no state. */

#define WGTUN_KEY_B64_LEN 44 /* characters, without the terminating NUL */
#define WGTUN_KEY_HEX_LEN 64 /* characters, without the terminating NUL */

/* A fresh private key from the OS RNG, clamped (like `wg genkey`). */
WGTUN_API int wgtun_key_generate(uint8_t priv[WGTUN_KEY_LEN]);
/* The public key of a private key (clamped internally, like `wg pubkey`). */
WGTUN_API int wgtun_key_public(uint8_t pub[WGTUN_KEY_LEN], const uint8_t priv[WGTUN_KEY_LEN]);
/* out receives 44 characters of padded base64 and a NUL. */
WGTUN_API int wgtun_key_to_base64(char out[WGTUN_KEY_B64_LEN + 1],
				  const uint8_t key[WGTUN_KEY_LEN]);
/* b64 is a NUL-terminated string of exactly 44 characters in canonical padded base64 (no
 * whitespace; strip a trailing newline first). */
WGTUN_API int wgtun_key_from_base64(uint8_t key[WGTUN_KEY_LEN], const char *b64);
/* out receives 64 lowercase hex characters and a NUL. */
WGTUN_API int wgtun_key_to_hex(char out[WGTUN_KEY_HEX_LEN + 1], const uint8_t key[WGTUN_KEY_LEN]);
/* hex is a NUL-terminated string of exactly 64 hex characters (either case). */
WGTUN_API int wgtun_key_from_hex(uint8_t key[WGTUN_KEY_LEN], const char *hex);
/* ==== Keys (end) ==================================================================== */

/* ==== Device (begin) ================================================================
 * A WireGuard device: many peers behind one TUN interface and one UDP port, configured with
 * the text of the `wg` configuration protocol (UAPI: the same keys as `wg set` sends, see
 * https://www.wireguard.com/xplatform/), with callbacks for logs, UDP sockets and events.
 *
 *   wgtun_device_config cfg;
 *   wgtun_device_config_init(&cfg);
 *   cfg.ifname = "wg0";                  // or cfg.tun_fd = fd handed over by the OS
 *   wgtun_device_new(&cfg, &dev);
 *   wgtun_device_set(dev, "private_key=<hex>\nlisten_port=51820\n"
 *                         "public_key=<hex>\nendpoint=192.0.2.1:51820\nallowed_ip=0.0.0.0/0\n");
 *   wgtun_device_start(dev);
 *   wgtun_device_wait(dev, -1, &reason); // or poll(wgtun_device_stop_fd(dev))
 *   wgtun_device_free(dev);
 *
 * Errors are negative errno values (-EINVAL, -ENOMEM, -EADDRINUSE, ...).
 * Threads: the device runs its own event-loop thread (and one for the UAPI socket if given).
 * Every wgtun_device_* call is thread-safe unless its comment says otherwise; callbacks run on
 * the library's threads, must return quickly and must not call wgtun_device_* on the same
 * device (except from another thread of the app). No global state: any number of devices may
 * live in one process. */

typedef struct wgtun_device wgtun_device;

enum {
	WGTUN_LOG_ERROR = 1,
	WGTUN_LOG_INFO = 2,
	WGTUN_LOG_DEBUG = 3,
};

enum {
	WGTUN_EVENT_HANDSHAKE_DONE = 1,   /* a session with peer_public_key was established */
	WGTUN_EVENT_PEER_UNREACHABLE = 2, /* handshake attempts for peer_public_key gave up */
	WGTUN_EVENT_STOPPED = 3,          /* the device stopped on its own; error says why:
					   * -ENODEV the TUN interface vanished, -ENOENT the UAPI
					   * socket file was removed */
	WGTUN_EVENT_FATAL = 4,            /* unrecoverable I/O error (error); the device stops */
};

typedef struct {
	int type;                       /* WGTUN_EVENT_* */
	const uint8_t *peer_public_key; /* WGTUN_KEY_LEN bytes for peer events, else NULL */
	int error;                      /* -errno for STOPPED / FATAL, else 0 */
} wgtun_event;

/* Versioned by struct_size: fill it with wgtun_device_config_init() so that a newer library
 * knows which fields an older app set. */
typedef struct {
	size_t struct_size;
	/* TUN interface name: created (or attached) when tun_fd < 0; with tun_fd >= 0 only used
	 * to read the MTU, to tell that the interface was deleted, and to follow its link going
	 * down and up (docs/linkstate.md). May be NULL then (the device stays up). */
	const char *ifname;
	/* An open TUN fd (IFF_TUN|IFF_NO_PI), e.g. from Android's VpnService or iOS; or anything
	 * that reads/writes one IP packet per read()/write(). Taken over (closed by the device),
	 * also on failure. -1 = open ifname. */
	int tun_fd;
	uint32_t mtu; /* 0 = read from the interface (1420 if it cannot be read) */
	/* Log lines; level WGTUN_LOG_*. NULL = silent. */
	void (*log)(void *ctx, int level, const char *msg);
	/* Called for each UDP socket before it is bound (Android: VpnService.protect()). Return
	 * 0 to go on, nonzero to refuse (the bind then fails with -EPERM). NULL = accept. */
	int (*socket_created)(void *ctx, int fd);
	/* Events (WGTUN_EVENT_*); NULL = none. */
	void (*event)(void *ctx, const wgtun_event *ev);
	void *ctx; /* passed to the callbacks */
	/* A listening unix stream socket to serve the UAPI on (see wgtun_uapi_listen), taken
	 * over; -1 = no socket (configure with wgtun_device_set only). */
	int uapi_fd;
	/* The socket file of uapi_fd: watched (its removal stops the device, as with
	 * wireguard-go) and removed when the device stops. NULL = none. */
	const char *uapi_path;
	/* Added in 0.2 (apps built before leave it 0 through struct_size). Threads that encrypt
	 * and decrypt packets, the data-path thread included: 0 = one per CPU the creating
	 * thread may run on (its affinity, e.g. under taskset; at most 64), 1 = all crypto on
	 * the data-path thread; > 64 is refused (-EINVAL). Each peer's packets keep their order
	 * whatever the count (docs/parallel.md). */
	unsigned crypto_workers;
	/* Added in 0.2 (apps built before leave it 0 through struct_size). Nonzero: no
	 * offloads (docs/offloads.md): a TUN the device creates has no vnet header, a tun_fd
	 * with one is told to send no offloaded packets, the UDP sockets use neither GSO nor
	 * GRO. 0 = use what the kernel offers. */
	int no_offload;
	/* Added in 0.2 (apps built before leave it 0 through struct_size). Busy poll, in
	 * microseconds: after a round of the data-path loop that handled packets, the loop polls
	 * without sleeping for up to this long before it blocks, so the answer to a request (a
	 * ping, an RPC) is taken without a thread wakeup. Trades CPU for round-trip time: the
	 * loop spins for up to the window after every burst of traffic (docs/latency.md has the
	 * figures). The spin ends by the clock, so an idle device still makes no wakeups. 0 =
	 * off (the default); at most 1000, more is refused (-EINVAL). */
	unsigned busy_poll_us;
} wgtun_device_config;

/* Zeroes cfg, sets struct_size, tun_fd = uapi_fd = -1. Thread-safe. */
WGTUN_API void wgtun_device_config_init(wgtun_device_config *cfg);

/* Creates a device (down, no key, no peers) and starts serving uapi_fd if given. 0 or
 * -errno (-EINVAL bad config, -EPERM no CAP_NET_ADMIN, -ENOMEM ...); *out = NULL on error. */
WGTUN_API int wgtun_device_new(const wgtun_device_config *cfg, wgtun_device **out);

/* The TUN interface name ("" if the device was made from a bare fd without ifname). */
WGTUN_API const char *wgtun_device_name(const wgtun_device *dev);

/* Brings the device up: binds the UDP port (listen_port, 0 = random), starts the event loop
 * and the peers. 0, -EADDRINUSE, -EALREADY, -ESHUTDOWN (stopped). Call once. With an ifname
 * whose link is not running yet, only the loop starts: the port opens when the link comes
 * up, and closes again (peers stopped, sessions wiped) whenever it goes down. */
WGTUN_API int wgtun_device_start(wgtun_device *dev);

/* Applies a configuration in UAPI text: the body of a `set=1` request ("key=value" lines as
 * `wg` sends them, hex keys; optionally ended by a blank line). All or nothing: on any error
 * nothing changes. 0, -EINVAL (bad text), -EPROTO (a line without '='), -EADDRINUSE, -ENOMEM,
 * -ESHUTDOWN. */
WGTUN_API int wgtun_device_set(wgtun_device *dev, const char *uapi_text);

/* The current configuration and counters as the `get=1` response lines of the UAPI
 * (private_key, listen_port, ..., public_key, endpoint, last_handshake_time_sec, rx_bytes,
 * allowed_ip, ...), without the final errno line. *out is malloc'd; it holds the private key:
 * release it with wgtun_string_free(). 0, -ENOMEM, -ESHUTDOWN. */
WGTUN_API int wgtun_device_get(wgtun_device *dev, char **out);

/* The device's drop and event counters as "name=value\n" lines (rx_malformed, rx_mac,
 * rx_decrypt, rx_replay, rx_no_session, rx_unknown_peer, rx_allowed_ip, rx_ratelimited,
 * rx_flood, rx_no_key, cookie_replies_sent, tx_no_route, tx_no_endpoint, tx_send_error,
 * tun_write_error, under_load_batches, loop_wakeups, handshake_no_index,
 * rx_handshake_queue_full, rng_error, mem_releases, mem_released_bytes: times the idle
 * device gave its batch buffers' pages back, and the bytes it handed to the kernel,
 * busy_polls, busy_poll_hits: polls made in busy-poll windows and loop rounds whose events a
 * poll found; shed_filter_set, shed_filter_cleared, shed_filter_error, kernel_shed: the
 * kernel-side shedding filter under a handshake flood; tx_src_refused: sends whose sticky
 * source address the kernel refused, resent without it, docs/sticky.md; tx_loop: TUN packets
 * that were the device's own outer datagrams routed back into it, dropped; tx_gso_off: a
 * socket's UDP GSO turned off after a segmented send failed with EIO; tun_split_tcp,
 * tun_split_udp, tun_split_segs: TSO / USO super-packets read from the TUN and cut, and the
 * packets they made; tun_gro_tcp, tun_gro_udp, tun_gro_segs: coalesced super-packets
 * written to the TUN, and the packets they carried; docs/offloads.md), monotonically
 * increasing; for
 * monitoring and tests. *out is malloc'd: release it with
 * wgtun_string_free(). 0, -ENOMEM, -ESHUTDOWN. Thread-safe. */
WGTUN_API int wgtun_device_stats(wgtun_device *dev, char **out);

/* Wipes and frees a string returned by the library. NULL is fine. */
WGTUN_API void wgtun_string_free(char *s);

/* An fd that becomes readable once the device stopped on its own (interface deleted, UAPI
 * socket file removed, fatal error): poll it in the app's loop. Owned by the device. */
WGTUN_API int wgtun_device_stop_fd(const wgtun_device *dev);

/* Blocks until the device stopped on its own or timeout_ms passed (-1 = forever). Returns 1
 * (stopped; *reason = -errno: -ENODEV interface gone, -ENOENT socket file removed) or 0. */
WGTUN_API int wgtun_device_wait(wgtun_device *dev, int timeout_ms, int *reason);

/* Shuts the device down now: stops the UAPI socket (removing its file), closes the TUN
 * (a TUN created by name disappears), closes the UDP sockets, wipes every key. Later calls
 * return -ESHUTDOWN. Idempotent; safe from any thread (e.g. a signal-handling one). */
WGTUN_API void wgtun_device_stop(wgtun_device *dev);

/* Stops (see above) and frees. NULL is fine. Not concurrently with other calls on dev. */
WGTUN_API void wgtun_device_free(wgtun_device *dev);

/* -- helpers for daemons that hand the TUN and the socket to a child process (Linux) -- */

/* Opens (creates) the TUN interface `name` (IFF_TUN|IFF_NO_PI|IFF_VNET_HDR, non-blocking,
 * close-on-exec: the device then negotiates the offloads);
 * actual_name receives the kernel's name (for patterns like "wg%d"). fd or -errno. */
WGTUN_API int wgtun_tun_open(const char *name, char actual_name[16]);
/* As wgtun_tun_open, without the vnet header: a plain TUN (for a device with no_offload). */
WGTUN_API int wgtun_tun_open_plain(const char *name, char actual_name[16]);

/* Creates the UAPI socket /var/run/wireguard/IFNAME.sock (dir NULL) or DIR/IFNAME.sock: the
 * directory with mode 0755, the socket 0700; a stale socket is replaced, a live one (another
 * instance) gives -EADDRINUSE. path_out (cap bytes, >= 108) receives the path. Returns the
 * listening fd (close-on-exec) or -errno. */
WGTUN_API int wgtun_uapi_listen(const char *dir, const char *ifname, char *path_out, size_t cap);
/* ==== Device (end) ================================================================== */

/* ==== Tunnel (begin) ================================================================
 * One WireGuard peer without any I/O (the BoringTun FFI shape): the app owns the sockets,
 * the TUN device and the clock, and moves bytes through the tunnel:
 *
 *   IP packet from the TUN  -> wgtun_tunnel_write() -> datagram for the peer's endpoint
 *   datagram from the peer  -> wgtun_tunnel_read()  -> IP packet for the TUN, or a handshake
 *                                                      message to send back
 *   timers                  -> wgtun_tunnel_tick() when wgtun_tunnel_next_deadline() is due
 *
 * Every call takes now_ns, a monotonic clock in nanoseconds (e.g. wgtun_monotonic_ns(), or a
 * virtual clock in tests); the tunnel never reads a clock itself except through the wall-clock
 * callback (for handshake timestamps) and never sleeps.
 *
 * Results (the return value of write/read/tick/flush/force_handshake):
 *   WGTUN_TUNNEL_DONE           nothing (more) to do; *out_len = 0.
 *   WGTUN_TUNNEL_WRITE_NETWORK  send out[0..*out_len) to the peer. Then call
 *                               wgtun_tunnel_flush() until it returns DONE: after a handshake
 *                               it hands out the packets that waited for the session (and the
 *                               key-confirmation keepalive). Same after tick().
 *   WGTUN_TUNNEL_WRITE_TUN_V4/6 (read only) out[0..*out_len) is an IPv4/IPv6 packet for the
 *                               TUN, padding removed. The app must still check that its inner
 *                               source address is allowed for this peer (cryptokey routing).
 *   negative WGTUN_TUNNEL_ERR_* the input was dropped and counted; never fatal to the tunnel.
 *
 * Buffers: out needs cap >= len + WGTUN_TUNNEL_OVERHEAD for write() and >= 148 (an
 * initiation) wherever a handshake message may come out (write, read, tick, flush,
 * force_handshake); WGTUN_TUNNEL_MIN_OUT. In place is allowed: write() with
 * out == pkt - WGTUN_TUNNEL_HEADROOM, read() with out == dgram + WGTUN_TUNNEL_HEADROOM.
 * Otherwise out must not overlap the input.
 *
 * Threads: a tunnel is not thread-safe; calls on one tunnel must not overlap (different
 * tunnels are independent). The callbacks run inside the calls, on the caller's thread.
 * No global state, no allocation per packet (only while packets wait for a session). */

typedef struct wgtun_tunnel wgtun_tunnel;

enum {
	WGTUN_TUNNEL_DONE = 0,
	WGTUN_TUNNEL_WRITE_NETWORK = 1,
	WGTUN_TUNNEL_WRITE_TUN_V4 = 2,
	WGTUN_TUNNEL_WRITE_TUN_V6 = 3,
	WGTUN_TUNNEL_ERR_MALFORMED = -1,  /* bad type, length, reserved bytes or inner header */
	WGTUN_TUNNEL_ERR_MAC = -2,        /* mac1 invalid (not meant for us) */
	WGTUN_TUNNEL_ERR_DECRYPT = -3,    /* authentication failed (keys, PSK, tampering) */
	WGTUN_TUNNEL_ERR_REPLAY = -4,     /* replayed counter or initiation timestamp */
	WGTUN_TUNNEL_ERR_NO_SESSION = -5, /* unknown receiver index or expired session */
	WGTUN_TUNNEL_ERR_BUFFER = -7,     /* out too small */
	WGTUN_TUNNEL_ERR_FLOOD = -8,      /* initiation < 20 ms after the last accepted one */
	WGTUN_TUNNEL_ERR_NO_KEY = -9,     /* no usable key pair (e.g. low-order peer key) */
	/* Added in 0.2, returned by wgtun_limiter_check() only: */
	WGTUN_TUNNEL_ERR_RATELIMITED = -10, /* too many handshakes from this source */
	WGTUN_TUNNEL_ERR_RANDOM = -11,      /* the random source failed: no cookie reply made */
};

#define WGTUN_TUNNEL_HEADROOM 16 /* data message header */
#define WGTUN_TUNNEL_OVERHEAD (16 + 16 + 15) /* header + tag + padding to 16 */
#define WGTUN_TUNNEL_MIN_OUT 148             /* a handshake initiation */
#define WGTUN_TUNNEL_NEVER UINT64_MAX        /* next_deadline: nothing scheduled */

/* Versioned by struct_size: fill with wgtun_tunnel_config_init() first. */
typedef struct {
	size_t struct_size;
	uint8_t private_key[WGTUN_KEY_LEN];     /* our static private key (clamped internally) */
	uint8_t peer_public_key[WGTUN_KEY_LEN]; /* the peer's static public key */
	uint8_t preshared_key[WGTUN_KEY_LEN];   /* all zero = no preshared key */
	uint16_t persistent_keepalive;          /* seconds, 0 = off; on: a keepalive (and so a
						 * handshake) is due at once */
	uint32_t mtu; /* TUN MTU, for padding (never padded past it); 0 = 1420 */
	/* Fills out with n cryptographically secure random bytes and returns 0; non-zero when
	 * it cannot: the step that wanted them (an initiation, a response, a receiver index)
	 * is not taken and nothing is sent; the next packet (or a due retransmission) tries
	 * again. NULL = the OS CSPRNG (whose failure is handled the same way). */
	int (*random)(void *ctx, void *out, size_t n);
	/* Wall clock, nanoseconds since the Unix epoch (handshake timestamps and the
	 * last-handshake time). NULL = the system's real-time clock. */
	uint64_t (*wall_clock_ns)(void *ctx);
	/* Receiver indices. NULL pair = the tunnel draws random 32-bit indices itself. An app
	 * that demultiplexes many tunnels on one socket registers them in its own table: alloc
	 * picks a fresh random index (0 ok, -1 table full), release forgets it. Both or none. */
	int (*index_alloc)(void *ctx, uint32_t *index);
	void (*index_release)(void *ctx, uint32_t index);
	void *ctx; /* passed to the callbacks */
} wgtun_tunnel_config;

typedef struct {
	size_t struct_size;              /* set by the caller: sizeof(wgtun_tunnel_stats) */
	uint64_t tx_bytes, rx_bytes;     /* whole WireGuard messages, handshakes included */
	uint64_t last_handshake_wall_ns; /* wall clock of the last handshake, 0 = never */
	uint64_t dropped;                /* inputs refused (any WGTUN_TUNNEL_ERR_*) */
	uint32_t handshake_attempts;     /* retries of the handshake under way */
	int has_session;                 /* 1 if data can be sent now (as of the last call) */
	size_t staged;                   /* packets waiting for a session */
} wgtun_tunnel_stats;

/* Zeroes cfg and sets struct_size. Thread-safe. */
WGTUN_API void wgtun_tunnel_config_init(wgtun_tunnel_config *cfg);
/* A monotonic clock in ns for now_ns (CLOCK_MONOTONIC). Thread-safe. */
WGTUN_API uint64_t wgtun_monotonic_ns(void);

/* Creates a tunnel. 0, -EINVAL (NULL, bad struct_size, all-zero private key, low-order peer
 * key, only one index callback), -ENOMEM. *out = NULL on error. The config's keys are copied
 * (the app may wipe its copy). */
WGTUN_API int wgtun_tunnel_new(const wgtun_tunnel_config *cfg, uint64_t now_ns,
			       wgtun_tunnel **out);
/* Wipes every key, releases every index, frees. NULL is fine. */
WGTUN_API void wgtun_tunnel_free(wgtun_tunnel *t);

/* An IP packet from the TUN: encrypted into out, or (no session yet) kept (at most 128, the
 * oldest dropped) while out gets the handshake initiation. */
WGTUN_API int wgtun_tunnel_write(wgtun_tunnel *t, uint64_t now_ns, const uint8_t *pkt,
				 size_t len, uint8_t *out, size_t cap, size_t *out_len);
/* A datagram received from the peer. *authenticated (may be NULL) is set to 1 when it proved
 * to come from the peer: the app may then move the peer's endpoint to its source address
 * (roaming). len == 0 is the same as wgtun_tunnel_flush(). */
WGTUN_API int wgtun_tunnel_read(wgtun_tunnel *t, uint64_t now_ns, const uint8_t *dgram,
				size_t len, uint8_t *out, size_t cap, size_t *out_len,
				int *authenticated);
/* The next datagram owed to the peer after WRITE_NETWORK, or DONE. */
WGTUN_API int wgtun_tunnel_flush(wgtun_tunnel *t, uint64_t now_ns, uint8_t *out, size_t cap,
				 size_t *out_len);
/* Runs the timers due at now_ns (retransmits, keepalives, rekeys, key expiry). Call until it
 * returns DONE. */
WGTUN_API int wgtun_tunnel_tick(wgtun_tunnel *t, uint64_t now_ns, uint8_t *out, size_t cap,
				size_t *out_len);
/* When tick() (or flush()) has work next: a monotonic time in ns (<= now: due now), or
 * WGTUN_TUNNEL_NEVER. An idle tunnel without persistent keepalive returns NEVER, so the app
 * can sleep without wakeups. */
WGTUN_API uint64_t wgtun_tunnel_next_deadline(const wgtun_tunnel *t);
/* Starts a handshake now unless one is under way or one went out < 5 s ago (then DONE). */
WGTUN_API int wgtun_tunnel_force_handshake(wgtun_tunnel *t, uint64_t now_ns, uint8_t *out,
					   size_t cap, size_t *out_len);

/* NULL psk or all zeros = none; used from the next handshake on. */
WGTUN_API void wgtun_tunnel_set_preshared_key(wgtun_tunnel *t,
					      const uint8_t psk[WGTUN_KEY_LEN]);
/* 0 = off; switching it on makes a keepalive due at once. */
WGTUN_API void wgtun_tunnel_set_persistent_keepalive(wgtun_tunnel *t, uint64_t now_ns,
						     uint16_t seconds);
/* 0 = 1420. */
WGTUN_API void wgtun_tunnel_set_mtu(wgtun_tunnel *t, uint32_t mtu);
/* Which peer sent this handshake initiation (type 1)? For apps that demultiplex many tunnels
 * sharing one private key on one socket: t is any of them. Checks type, length and mac1, then
 * decrypts the sender's static public key (one X25519) into peer_public. Does not change t.
 * WGTUN_TUNNEL_DONE or a WGTUN_TUNNEL_ERR_*.
 * prep (may be NULL) keeps that work: pass it with the datagram to the sender's tunnel with
 * wgtun_tunnel_read_initiation(), which then skips the X25519 (about a fifth of a responder's
 * CPU, what matters under a handshake flood). It holds secrets: read_initiation always wipes
 * it; if you drop the datagram instead, call wgtun_tunnel_initiation_wipe(). Wiped on error. */
typedef struct {
	uint64_t opaque[24];
} wgtun_tunnel_initiation;
WGTUN_API int wgtun_tunnel_initiation_sender(const wgtun_tunnel *t, const uint8_t *dgram,
					     size_t len, uint8_t peer_public[WGTUN_KEY_LEN],
					     wgtun_tunnel_initiation *prep);
/* wgtun_tunnel_read() for an initiation whose prep came from initiation_sender on the same
 * datagram. A prep that does not match (other datagram, other key) is ignored: the tunnel
 * then does the work itself. prep is wiped. */
WGTUN_API int wgtun_tunnel_read_initiation(wgtun_tunnel *t, uint64_t now_ns, const uint8_t *dgram,
					   size_t len, wgtun_tunnel_initiation *prep, uint8_t *out,
					   size_t cap, size_t *out_len, int *authenticated);
WGTUN_API void wgtun_tunnel_initiation_wipe(wgtun_tunnel_initiation *prep);
/* st->struct_size must be set by the caller (older apps get the fields they know). 0 or
 * -EINVAL. */
WGTUN_API int wgtun_tunnel_get_stats(const wgtun_tunnel *t, wgtun_tunnel_stats *st);
/* ==== Tunnel (end) ================================================================== */

/* ==== Limiter: under-load protection for tunnels (begin) ============================
 * Added in 0.2. The shield the device puts in front of its handshakes, for apps that expose
 * wgtun_tunnel to the network. One limiter per local static key, shared by all the tunnels
 * of that key: every datagram received on the key's sockets goes through
 * wgtun_limiter_check() before any tunnel sees it (and before the X25519 of
 * wgtun_tunnel_initiation_sender(), which is what a handshake flood aims at):
 *
 *   datagram from addr:port -> wgtun_limiter_check()
 *     WGTUN_LIMITER_PASS          go on: find the tunnel (receiver index for types 2-4,
 *                                 wgtun_tunnel_initiation_sender() for type 1) and read it
 *     WGTUN_TUNNEL_WRITE_NETWORK  send out[0..*out_len) (a 64-byte cookie reply) back to
 *                                 addr:port; the datagram itself is dropped
 *     negative WGTUN_TUNNEL_ERR_* drop the datagram (ERR_MAC: mac1 is not for this key,
 *                                 ERR_RATELIMITED: over this source's rate, ...)
 *
 * Handshake messages (types 1 and 2) are checked in the order of the Linux module and
 * wireguard-go: mac1 first (else ERR_MAC); not under load that is all; under load, mac2
 * next: a message without a valid one (its sender has not shown that it receives at
 * addr:port) is answered with a cookie reply, and only then the per-source rate limiter
 * (20 per second, burst 5, per IPv4 address or IPv6 /64; ERR_RATELIMITED), so that spoofed
 * cookie-less messages cannot spend a real peer's tokens. Cookie replies and data messages
 * (types 3 and 4) pass after their type and length (the tunnel authenticates them); anything
 * else is ERR_MALFORMED.
 *
 * Load: the limiter is under load as soon as more than load_per_second handshake messages
 * with a valid mac1 arrived within a one-second window, until 1 s after the last of them (a
 * count, as BoringTun's limiter keeps; the kernel and wireguard-go look at their queue
 * depth), and for 1 s after each wgtun_limiter_report_load(): an app that queues handshakes
 * calls it when its queue is deep (the kernel's rule: 1/8 of its bound).
 *
 * The initiator side needs nothing new: a tunnel that receives a cookie reply (through
 * wgtun_tunnel_read, found by the reply's receiver index) puts mac2 on its next handshake
 * message; it retries on its own timer (5 s), as in the kernel.
 *
 * Addresses: addr is the datagram's source IP, 4 (IPv4) or 16 (IPv6) bytes in network
 * order, port in host order. The cookie is bound to both, so use the same form for a source
 * every time (a dual-stack socket's IPv4-mapped addresses are fine; the rate limiter counts
 * them as the IPv4 address).
 *
 * Threads: wgtun_limiter_check, _report_load, _under_load and _get_stats are thread-safe:
 * the receive threads of a key may share one limiter (a lock serializes the work on
 * handshake messages; data messages take no lock). The random callback runs with that lock
 * held, on the calling thread. Time (now_ns, monotonic) may come from any thread; an earlier
 * now_ns than one seen before counts as that one. No global state. */

typedef struct wgtun_limiter wgtun_limiter;

#define WGTUN_LIMITER_PASS 0              /* check: hand the datagram to its tunnel */
#define WGTUN_LIMITER_REPLY_LEN 64        /* a cookie reply; check() needs cap >= this */
#define WGTUN_LIMITER_DEFAULT_LOAD 1000   /* load_per_second when 0 */
#define WGTUN_LIMITER_MAX_SOURCES 65536   /* the largest (and default) max_sources */

/* Versioned by struct_size: fill with wgtun_limiter_config_init() first. */
typedef struct {
	size_t struct_size;
	uint8_t public_key[WGTUN_KEY_LEN]; /* our static public key (wgtun_key_public of the
					    * tunnels' private key); no private key needed */
	/* Handshake messages per second (with a valid mac1) above which the limiter goes under
	 * load. 0 = WGTUN_LIMITER_DEFAULT_LOAD; UINT32_MAX = never by count (only
	 * wgtun_limiter_report_load). Lower protects the CPU sooner; higher sends fewer
	 * legitimate bursts (many peers reconnecting at once) to cookie replies, which cost
	 * each of them a retry 5 s later (docs/tunnel-api.md "Load"). */
	uint32_t load_per_second;
	/* Bound of the per-source table (about 40 bytes a source, reserved at its first use
	 * under load, pages touched as it fills): 0 = WGTUN_LIMITER_MAX_SOURCES, more
	 * is refused. When full of sources active within the last second, a new source is
	 * treated as rate limited; known sources keep their buckets. */
	uint32_t max_sources;
	/* As in wgtun_tunnel_config: n random bytes into out, 0; non-zero when it cannot (the
	 * cookie reply is then not made: ERR_RANDOM). Drawn for the cookie secret (renewed every
	 * 2 minutes), each reply's nonce and, once, the rate limiter's hash key. NULL = the OS
	 * CSPRNG. */
	int (*random)(void *ctx, void *out, size_t n);
	void *ctx; /* passed to random */
} wgtun_limiter_config;

typedef struct {
	size_t struct_size;       /* set by the caller: sizeof(wgtun_limiter_stats) */
	uint64_t handshakes;      /* handshake messages with a valid mac1 */
	uint64_t passed;          /* of those, passed (WGTUN_LIMITER_PASS) */
	uint64_t cookie_replies;  /* of those, answered with a cookie reply */
	uint64_t ratelimited;     /* of those, dropped by the per-source rate limiter */
	uint64_t random_errors;   /* of those, dropped because the random source failed */
	uint64_t bad_mac;         /* handshake messages with an invalid mac1 */
	uint64_t malformed;       /* datagrams of no WireGuard type and length */
	uint32_t sources;         /* sources the rate limiter tracks now */
	int under_load;           /* 1 if under load as of the latest time seen */
} wgtun_limiter_stats;

/* Zeroes cfg and sets struct_size. Thread-safe. */
WGTUN_API void wgtun_limiter_config_init(wgtun_limiter_config *cfg);
/* Creates a limiter (not under load). 0, -EINVAL (NULL, bad struct_size or unknown fields,
 * all-zero public key, max_sources too large), -ENOMEM, -EIO (the random source failed).
 * *out = NULL on error. */
WGTUN_API int wgtun_limiter_new(const wgtun_limiter_config *cfg, uint64_t now_ns,
				wgtun_limiter **out);
/* Wipes the cookie secret and frees. NULL is fine. Not concurrently with other calls. */
WGTUN_API void wgtun_limiter_free(wgtun_limiter *l);
/* A datagram received from addr:port (see above for the results). out needs cap >=
 * WGTUN_LIMITER_REPLY_LEN (else WGTUN_TUNNEL_ERR_BUFFER); out may be dgram itself (the
 * reply then overwrites it). NULL arguments or an addr_len other than 4 or 16 give
 * WGTUN_TUNNEL_ERR_MALFORMED without touching the limiter. *out_len is 0 unless a reply is
 * made. */
WGTUN_API int wgtun_limiter_check(wgtun_limiter *l, uint64_t now_ns, const uint8_t *dgram,
				  size_t len, const uint8_t *addr, size_t addr_len,
				  uint16_t port, uint8_t *out, size_t cap, size_t *out_len);
/* The app's own measure says it is overloaded (e.g. its handshake queue is 1/8 full): under
 * load for 1 s from now_ns (extended by each call). */
WGTUN_API void wgtun_limiter_report_load(wgtun_limiter *l, uint64_t now_ns);
/* 1 if under load at now_ns, else 0 (also for NULL). */
WGTUN_API int wgtun_limiter_under_load(wgtun_limiter *l, uint64_t now_ns);
/* st->struct_size must be set by the caller (older apps get the fields they know). 0 or
 * -EINVAL. */
WGTUN_API int wgtun_limiter_get_stats(wgtun_limiter *l, wgtun_limiter_stats *st);
/* ==== Limiter (end) ================================================================= */

#ifdef __cplusplus
}
#endif
#endif
