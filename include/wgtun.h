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
	 * to read the MTU and to tell that the interface was deleted. May be NULL then. */
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
} wgtun_device_config;

/* Zeroes cfg, sets struct_size, tun_fd = uapi_fd = -1. Thread-safe. */
WGTUN_API void wgtun_device_config_init(wgtun_device_config *cfg);

/* Creates a device (down, no key, no peers) and starts serving uapi_fd if given. 0 or
 * -errno (-EINVAL bad config, -EPERM no CAP_NET_ADMIN, -ENOMEM ...); *out = NULL on error. */
WGTUN_API int wgtun_device_new(const wgtun_device_config *cfg, wgtun_device **out);

/* The TUN interface name ("" if the device was made from a bare fd without ifname). */
WGTUN_API const char *wgtun_device_name(const wgtun_device *dev);

/* Brings the device up: binds the UDP port (listen_port, 0 = random), starts the event loop
 * and the peers. 0, -EADDRINUSE, -EALREADY, -ESHUTDOWN (stopped). Call once. */
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
 * tun_write_error, under_load_batches, loop_wakeups), monotonically increasing; for
 * monitoring and tests. *out is malloc'd: release it with wgtun_string_free(). 0, -ENOMEM,
 * -ESHUTDOWN. Thread-safe. */
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

/* Opens (creates) the TUN interface `name` (IFF_TUN|IFF_NO_PI, non-blocking, close-on-exec);
 * actual_name receives the kernel's name (for patterns like "wg%d"). fd or -errno. */
WGTUN_API int wgtun_tun_open(const char *name, char actual_name[16]);

/* Creates the UAPI socket /var/run/wireguard/IFNAME.sock (dir NULL) or DIR/IFNAME.sock: the
 * directory with mode 0755, the socket 0700; a stale socket is replaced, a live one (another
 * instance) gives -EADDRINUSE. path_out (cap bytes, >= 108) receives the path. Returns the
 * listening fd (close-on-exec) or -errno. */
WGTUN_API int wgtun_uapi_listen(const char *dir, const char *ifname, char *path_out, size_t cap);
/* ==== Device (end) ================================================================== */

#ifdef __cplusplus
}
#endif
#endif
