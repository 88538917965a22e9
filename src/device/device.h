/* The device: many peers behind one TUN fd and one UDP port (an IPv4 and an IPv6 socket).
 * Internal API (the public wgtun_* wrappers in src/api/ and the uapi server sit on top).
 *
 * Lifecycle:
 *   dev = device_new(&params);      // takes over params.tun_fd (closed by device_free)
 *   device_apply(dev, &change);     // any number of times, before or after start
 *   device_start(dev);              // "up": binds UDP, starts the event-loop thread
 *   poll(device_stop_fd(dev)) ...   // readable once the device stopped on its own
 *   device_free(dev);               // stops the loop, closes fds, wipes keys
 *
 * Threads and locks:
 * - One event-loop thread per device (started by device_start) reads the TUN and the UDP
 *   sockets, drives every tunnel and all timers. Timers are deadlines: the loop sleeps until
 *   the earliest tunnel deadline; an idle device without persistent keepalive never wakes.
 * - device_apply / device_get_info / device_get_stats may be called from any thread, at any
 *   time (also while the loop runs): they take the device config lock (a rwlock; the loop
 *   holds it shared while it processes a batch, apply holds it exclusive). Lock order:
 *   device config -> peer -> index table. Calls on the same device are serialized by it.
 * - device_start and device_free must not race with each other; device_free must not be
 *   called while another thread is inside a device_* call on the same device.
 * - Callbacks (log, socket, event) run on the loop thread, or on the thread calling
 *   device_apply / device_start, possibly with the config lock held: they must return quickly
 *   and must NOT call back into device_apply / device_get_info / device_free. Poll
 *   device_stop_fd() from another thread to react to a stop.
 * No global state: any number of devices can live in one process.
 */
#ifndef WGTUN_DEVICE_DEVICE_H
#define WGTUN_DEVICE_DEVICE_H

#include "device/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default TUN MTU when it cannot be read from the interface (wireguard-go's default). */
#define DEVICE_DEFAULT_MTU 1420
/* Largest IP packet the device moves (TUN reads are truncated-dropped above it). */
#define DEVICE_MAX_PACKET 65535

typedef struct device device;

typedef enum {
	DEVICE_LOG_ERROR = 1,
	DEVICE_LOG_INFO = 2,
	DEVICE_LOG_DEBUG = 3,
} device_log_level;

typedef enum {
	DEVICE_EVENT_HANDSHAKE_DONE = 1,   /* a session with peer_public_key was established */
	DEVICE_EVENT_PEER_UNREACHABLE = 2, /* handshake attempts for peer_public_key gave up */
	DEVICE_EVENT_STOPPED = 3,          /* the loop stopped on its own; error says why:
					    * -ENODEV = the TUN interface vanished (daemon exits) */
	DEVICE_EVENT_FATAL = 4,            /* unrecoverable I/O error; the device stops; error */
} device_event_type;

typedef struct {
	device_event_type type;
	const uint8_t *peer_public_key; /* 32 bytes for peer events, else NULL */
	int error;                      /* -errno for STOPPED / FATAL, else 0 */
} device_event;

typedef struct {
	/* An open TUN fd (IFF_TUN|IFF_NO_PI) or anything that reads/writes one IP packet per
	 * read()/write() (a SOCK_SEQPACKET/SOCK_DGRAM socketpair end works; that is how tests and
	 * embedders hand packets in). The device owns it from device_new on (also on failure) and
	 * makes it non-blocking. Required (>= 0). */
	int tun_fd;
	/* TUN interface name, or NULL. Used to read the MTU (SIOCGIFMTU) and to tell whether the
	 * interface still exists when the TUN fd reports an error. */
	const char *ifname;
	/* 0 = read from ifname (DEVICE_DEFAULT_MTU if that fails or ifname is NULL). */
	uint32_t mtu;
	/* Log lines (the library never prints). NULL = no logging. level: device_log_level. */
	void (*log)(void *ctx, int level, const char *msg);
	/* Called for every UDP socket the device creates, before it is bound (Android protect()).
	 * Return 0 to go on, nonzero to refuse the socket (the bind then fails with -EPERM). */
	int (*socket_created)(void *ctx, int fd);
	/* Events (see device_event_type). */
	void (*event)(void *ctx, const device_event *ev);
	void *ctx; /* passed to the three callbacks */
	/* Threads that encrypt and decrypt a batch, the loop thread included: 0 = one per online
	 * CPU (at most CRYPTO_POOL_MAX_WORKERS), 1 = the loop thread alone. */
	unsigned crypto_workers;
	/* No offloads: a TUN fd with a vnet header is told to send no offloaded packets, the UDP
	 * sockets use neither GSO nor GRO. */
	bool no_offload;
	/* Busy poll (docs/latency.md): after a loop round that handled packets, poll without
	 * sleeping for up to this many microseconds before blocking, so the answer to a request
	 * is picked up without a wakeup. 0 = off; at most DEVICE_BUSY_POLL_MAX_US (EINVAL). */
	unsigned busy_poll_us;
} device_params;

/* The longest busy-poll window: beyond 1 ms a spinning loop costs a core's worth of CPU per
 * exchange for answers that come later than any wakeup would take. */
#define DEVICE_BUSY_POLL_MAX_US 1000

/* Drop counters by reason (device-wide, monotonically increasing). */
typedef struct {
	uint64_t rx_malformed;      /* bad type/length, short datagram, bad inner packet */
	uint64_t rx_mac;            /* mac1 invalid */
	uint64_t rx_decrypt;        /* AEAD / handshake authentication failed */
	uint64_t rx_replay;         /* replayed counter or initiation timestamp */
	uint64_t rx_no_session;     /* unknown receiver index, expired keypair */
	uint64_t rx_unknown_peer;   /* initiation from a public key we do not know */
	uint64_t rx_allowed_ip;     /* inner source not in the sending peer's allowed IPs */
	uint64_t rx_ratelimited;    /* handshake dropped by the per-source rate limiter */
	uint64_t rx_flood;          /* initiation too soon after the previous one */
	uint64_t rx_no_key;         /* no private key configured */
	uint64_t cookie_replies_sent;
	uint64_t tx_no_route;       /* TUN packet with no matching allowed IP (or bad IP header) */
	uint64_t tx_no_endpoint;    /* peer has no endpoint yet */
	uint64_t tx_send_error;     /* sendmmsg failed for a datagram */
	uint64_t tun_write_error;   /* writing a decrypted packet to the TUN failed */
	uint64_t under_load_batches;/* handshake messages handled while under load */
	uint64_t loop_wakeups;      /* loop rounds: waits that returned (the idle-wakeup test) */
	uint64_t handshake_no_index;/* handshakes dropped: no free receiver index (the peer's
				     * slots full, or DEVICE_INDEX_DRAWS draws all collided) */
	uint64_t rx_handshake_queue_full; /* handshake messages dropped: the queue was full */
	uint64_t rng_error;         /* random source failures (each failed an operation) */
	uint64_t mem_releases;      /* times the idle loop gave its batch buffers back */
	uint64_t mem_released_bytes;/* bytes handed to madvise(MADV_DONTNEED) by those (an upper
				     * bound of the resident pages given back) */
	uint64_t busy_polls;        /* non-blocking polls made in busy-poll windows */
	uint64_t busy_poll_hits;    /* loop rounds whose events a busy poll found (no sleep) */
	/* Kernel-side shedding (shed.c): filters attached or replaced, removed, setsockopt
	 * failures (that socket then runs unfiltered until the load ends), and datagrams the
	 * kernel dropped on a filtered socket (its drop counter's growth while filtered: the
	 * filter's drops plus any receive-buffer overflow in that time). */
	uint64_t shed_filter_set;
	uint64_t shed_filter_cleared;
	uint64_t shed_filter_error;
	uint64_t kernel_shed;
	/* Sticky sources (docs/sticky.md): sends whose remembered source the kernel refused
	 * (the address is gone); each went again without it and the peer forgot it. */
	uint64_t tx_src_refused;
	uint64_t tx_loop;           /* TUN packet that was our own outer datagram (routing loop) */
	/* The TUN link (docs/linkstate.md): times the device went down (sockets closed, peers
	 * stopped) and up again, and TUN packets read and dropped while it was down. */
	uint64_t link_down;
	uint64_t link_up;
	uint64_t tun_while_down;
	/* UDP GSO turned off on a socket: a segmented send failed with EIO (the egress cannot
	 * segment); that run went again datagram by datagram, later sends go unsegmented. */
	uint64_t tx_gso_off;
	/* Link ups whose sockets could not be opened (the device stays down, "stalled", until
	 * the next link up or a listen-port set), and ups that found the remembered random
	 * port taken and took a new random one (docs/linkstate.md). */
	uint64_t link_up_failed;
	uint64_t link_up_new_port;
	/* TUN offloads (docs/offloads.md): super-packets read from the TUN and cut (TCP = TSO,
	 * UDP = USO) and the packets they yielded; coalesced super-packets written to the TUN
	 * and the packets they carried. Counted per super-packet, not per packet. */
	uint64_t tun_split_tcp;
	uint64_t tun_split_udp;
	uint64_t tun_split_segs;
	uint64_t tun_gro_tcp;
	uint64_t tun_gro_udp;
	uint64_t tun_gro_segs;
} device_stats;

/* Creates a device (down, no key, no peers). NULL with errno set on failure (EINVAL: bad
 * params; ENOMEM; EMFILE ...). The tun_fd is closed on failure. Thread-safe (no shared
 * state). */
device *device_new(const device_params *p);

/* Brings the device up: binds the UDP sockets on the configured port (0 = random), starts
 * the event-loop thread, and starts every peer (those with persistent keepalive send one).
 * 0, or -errno (-EADDRINUSE = port taken; -EALREADY = already started). Call once.
 * With a link monitor (params.ifname given) and the link not running, only the loop starts:
 * the rest waits for the link to come up (wg-quick sets it up after the config). */
int device_start(device *dev);

/* The TUN link went down (running = false) or up: what the link monitor reports, and a test's
 * way in. Asks the loop thread, which closes the sockets and stops every peer (keys wiped,
 * staged packets dropped, timers stopped), or opens them on the same port and starts the
 * peers (device_start's work), after its round; apply and get go on meanwhile. No effect
 * when already in that state; before device_start, the loop applies it once it runs. Any
 * thread. */
void device_link_set(device *dev, bool running);
/* (An up whose sockets cannot be opened leaves the device down, counted link_up_failed and
 * logged once; the next up, or a device_apply with a listen port, tries again; the latter
 * fails with the bind's error, nothing changed, if it cannot open them either.) */
/* The sockets are open and the peers started (false before start, and while the link is
 * down). Any thread. */
bool device_is_up(device *dev);

/* Stops the loop (if running), closes the TUN fd and the sockets, frees every peer and wipes
 * all keys. NULL is fine. */
void device_free(device *dev);

/* An fd (eventfd) that becomes readable once the event loop has stopped on its own (TUN
 * interface deleted, fatal I/O error). Owned by the device: do not close or read it. */
int device_stop_fd(const device *dev);

/* Blocks until the loop stopped on its own or timeout_ms passed (-1 = forever).
 * Returns 1 = stopped (*reason = -errno, e.g. -ENODEV), 0 = timeout. */
int device_wait(device *dev, int timeout_ms, int *reason);

/* Applies a parsed `set=1` as one transaction: everything is validated first (and the new
 * port is bound if the device is up), and only then committed; on error nothing changed.
 * Returns 0, -EINVAL (bad value, over a WG_CONFIG_MAX_* bound), -EADDRINUSE (port taken),
 * -ENOMEM, -EPERM (socket refused by socket_created), or another -errno from bind/setsockopt.
 * Semantics (protocol-checklist §14), in this order:
 *   private_key: same as current = no-op; otherwise a peer with the new public key is removed,
 *     every tunnel recomputes and expires its sessions. All-zero = remove the key.
 *   listen_port: rebind both sockets now if up (0 = random free port for v4 and v6).
 *   fwmark: SO_MARK on both sockets now (0 = off).
 *   replace_peers: remove every existing peer first.
 *   peers, in request order: a public key equal to our own is ignored with its lines;
 *     remove = delete (no-op if absent); update_only = act only if it already existed;
 *     otherwise created if absent; then preshared_key, endpoint, persistent_keepalive (turned
 *     on while up sends a keepalive), replace_allowed_ips (drop all first), allowed_ips in
 *     order (insert moves a prefix from another peer; the remove form deletes it only if it
 *     belongs to this peer, exactly). A new peer is started if the device is up.
 * Thread-safe. */
int device_apply(device *dev, const wg_config_change *change);

/* Fills info with a snapshot (for `get=1`); the caller frees it with wg_config_info_clear().
 * Peers are reported in creation order. 0 or -ENOMEM (info then empty). Thread-safe. */
int device_get_info(device *dev, wg_config_info *info);

/* Copies the drop counters. Thread-safe. */
void device_get_stats(device *dev, device_stats *st);

/* The MTU the device pads to (from params or the interface). Thread-safe. */
uint32_t device_mtu(device *dev);

#endif
