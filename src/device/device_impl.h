/* Device internals shared by device.c (lifecycle, loop), apply.c (configuration), peer.c
 * (peer tables, receiver indices, timer heap) and datapath.c (packets). Not a public header.
 * Files including it must define _GNU_SOURCE first (struct mmsghdr in io/linux/udp.h). */
#ifndef WGTUN_DEVICE_IMPL_H
#define WGTUN_DEVICE_IMPL_H

#include "device/cryptopool.h"
#include "device/device.h"
#include "io/linux/loop.h"
#include "io/linux/offload.h"
#include "io/linux/udp.h"
#include "proto/allowedips.h"
#include "proto/cookie.h"
#include "proto/identity.h"
#include "proto/ratelimiter.h"
#include "proto/tunnel.h"

#include <pthread.h>
#include <stdatomic.h>

/* Receiver indices one peer may hold at once: a pending handshake plus previous, current
 * and next keypairs need 4; the rest is slack for a tunnel that allocates a new index before
 * releasing an old one. Full: the tunnel's alloc fails (-1) and it drops that handshake. */
#define DEVICE_INDICES_PER_PEER 8
/* Random draws for a fresh receiver index before index_alloc gives up (broken RNG). */
#define DEVICE_INDEX_DRAWS 32
/* Datagrams per recvmmsg / sendmmsg, and TUN packets read per loop iteration (with TSO
 * one read yields many: reading stops once this many packets were handled). */
#define DEVICE_BATCH UDP_BATCH_MAX
#define DEVICE_TUN_BATCH 128
/* The TUN's transmit queue we ask for (packets the kernel holds until the loop reads them;
 * its default is 500, 3.3 ms of 64-byte packets at 150 k/s): the receive side's socket
 * buffer holds thousands, so a loop thread kept off its CPU for a few ms dropped here first
 * (bench/README.md, small packets). About Ethernet's default (1000), and the kernel
 * WireGuard's crypt queue bound. Never lowered: a longer one set by the user stays. */
#define DEVICE_TUN_TXQUEUE 1024
/* The handshake queue (handshake.c): received handshake messages (types 1 and 2) waiting
 * for the loop. Full: the newest is dropped (counted rx_handshake_queue_full). wireguard-go's
 * QueueHandshakeSize. Under load while its depth reached 1/8 of it within the last
 * DEVICE_UNDER_LOAD_TIME (the kernel's and wireguard-go's rule). */
#define DEVICE_HANDSHAKE_QUEUE 1024
/* While a socket's shedding filter is on, its last entries are kept for the filter's
 * always-pass sources (the configured peers' endpoints): a peer's initiation with mac2, 5 s
 * after its cookie, is not dropped as the newest behind a queue full of strangers. */
#define DEVICE_HANDSHAKE_RESERVE 64
#define DEVICE_UNDER_LOAD_THRESHOLD (DEVICE_HANDSHAKE_QUEUE / 8)
#define DEVICE_UNDER_LOAD_TIME WG_SEC(1)
/* Queued handshake messages handled per loop round, after the round's data packets: the
 * share of the loop a flood can take (the rest of it stays queued or is dropped unread). */
#define DEVICE_HANDSHAKE_BUDGET 32
/* Kernel-side shedding (shed.c): under load, a socket filter on each UDP socket passes data
 * and cookie replies, handshake messages from configured endpoints (at most
 * UDP_SHED_MAX_ALLOW per family) and other handshake messages with probability p (in
 * 1/DEVICE_SHED_STEPS): DEVICE_SHED_HEADROOM x what passed the rate limiter / what arrived,
 * rounded up to DEVICE_SHED_ROUND, never below DEVICE_SHED_MIN_STEPS (1/4; why:
 * docs/battery.md) nor above DEVICE_SHED_TOP_STEPS. Only in a period in which the handshake
 * queue overflowed (what passed was dropped after the copy anyway) p may go lower, to
 * DEVICE_SHED_OVER_HEADROOM x what the loop handled / what arrived, never below
 * DEVICE_SHED_OVER_MIN_STEPS (1/64). Re-judged, and re-attached only if p or the endpoints
 * changed, once per DEVICE_SHED_PERIOD. */
#define DEVICE_SHED_PERIOD WG_MS(250)
/* Sources the shedding estimate tracks for cookie-less messages (dev->reply_limiter; a full
 * table counts a new source as not useful). Small: 2 KiB of buckets. */
#define DEVICE_REPLY_ESTIMATE_SOURCES 4096
#define DEVICE_SHED_STEPS 256
#define DEVICE_SHED_ROUND 16 /* sixteenths while nothing overflows (as before) */
#define DEVICE_SHED_MIN_STEPS 64
#define DEVICE_SHED_TOP_STEPS (DEVICE_SHED_STEPS - DEVICE_SHED_ROUND)
#define DEVICE_SHED_HEADROOM 2
#define DEVICE_SHED_OVER_MIN_STEPS 4
/* 2: intake twice what the loop handled keeps the queue overflowing even when the loop gets
 * up to twice as much done in the next period (in a pinned flood with a stream the loop's
 * handled count doubled from one period to the next in 2 of 80 periods, rose by a quarter in
 * 11: with 5/4 the queue ran dry and strangers were answered 20 % less); the copies saved
 * against the floor are nearly the same, since handled is far below what arrives. */
#define DEVICE_SHED_OVER_HEADROOM 2
/* Random bytes drawn at once for cookie-reply nonces (170 replies of 24 bytes per draw). */
#define DEVICE_NONCE_POOL 4096
/* tick()/flush() outputs taken from one tunnel in one go (a runaway guard: a tunnel hands out
 * at most its staged packets plus a keepalive or initiation). */
#define DEVICE_MAX_OUTPUTS_PER_CALL 256
/* Received data messages waiting for their parallel decryption (one UDP batch; with GRO a
 * batch holds more segments than datagrams: a full list is finished before more are taken). */
#define DEVICE_RX_JOBS 256
/* Buffer slot: data header room in front (in-place encryption), tag + padding behind. */
#define DEVICE_SLOT_HEAD WG_DATA_HEADER_LEN
#define DEVICE_SLOT_SIZE (DEVICE_SLOT_HEAD + DEVICE_MAX_PACKET + 64)
/* One TUN read with offloads: vnet header + an IPv6 super-packet (payload length 65535). */
#define DEVICE_TUN_BUF (OFFLOAD_VNET_HDR_LEN + DEVICE_MAX_PACKET + 40)
/* Giving memory back (datapath.c, docs/memory.md): a round that used more than this many
 * slots of a batch buffer (or receive jobs, or handshake queue entries), or received a
 * coalesced (GRO) datagram, marks the buffers busy; a ping, a keepalive or a handshake stays
 * under it and costs no madvise. */
#define DEVICE_MEM_FLOOR_SLOTS 8
/* Busy buffers are given back (madvise MADV_DONTNEED) when the loop is about to sleep at
 * least this long after the last busy round: no timer of its own, so it happens at the next
 * wakeup past it (with no traffic, the passive keepalive's, 10 s after the last data). */
#define DEVICE_MEM_IDLE WG_SEC(1)

/* The monotonic clock every device decision reads (io_now; a test may put a virtual one in
 * before device_start, as it may the rng_source: test_secrets_device advances it by 541 s). */
typedef struct {
	wg_time_ns (*now)(void *ctx);
	void *ctx;
} device_clock;

typedef struct peer peer;
/* A received data message between prepare (in order) and finish (in order), opened in between
 * on any crypto worker. */
typedef struct {
	peer *p;
	uint8_t *dgram; /* in the receive batch; decrypted in place */
	size_t len;
	uint16_t from;  /* index of its datagram in the batch (source address) */
	wg_tunnel_open job;
} device_rx_job;

/* One queued handshake message and where it came from. */
typedef struct {
	uint8_t msg[WG_MSG_MAX_HANDSHAKE_LEN];
	uint16_t len;
	wg_endpoint src;
	udp_src local; /* the local address it arrived on (sticky source for the reply) */
} device_hs_msg;

/* Loop thread only. */
typedef struct {
	device_hs_msg *ring; /* DEVICE_HANDSHAKE_QUEUE entries */
	unsigned head, count;
	uint8_t pool[DEVICE_NONCE_POOL]; /* unused random bytes at the end, wiped when used */
	size_t pool_left;
} device_hs_queue;

/* One UDP socket's shedding state (loop thread; reset under the exclusive config lock when
 * the sockets are replaced, since new sockets carry no filter). */
typedef struct {
	bool on;          /* our filter is attached */
	bool failed;      /* setsockopt failed: no filter (today's behaviour) until load ends */
	unsigned steps;   /* p of the attached filter, in 1/DEVICE_SHED_STEPS */
	/* This socket's own load: the device's rule (the queue reached its threshold while a
	 * message from this socket went in, or the kernel shed that many in a period). */
	wg_time_ns loaded_until;
	wg_time_ns since; /* start of the current period */
	uint32_t in;      /* handshake messages taken off this socket in the period */
	uint32_t useful;  /* of them, under load, passed mac1 and a rate limiter (handshake.c) */
	uint32_t handled; /* of them, taken off the queue by the loop in the period */
	uint32_t overflow; /* of them, dropped at the full queue in the period */
	uint32_t drops0;  /* the socket's kernel drop counter at the period's start */
	unsigned nallow;  /* the attached filter's always-pass source addresses */
	udp_ip allow[UDP_SHED_MAX_ALLOW];
} device_shed;

typedef struct device_index_entry {
	uint32_t key;
	bool used;
	peer *owner;
	struct device_index_entry *next; /* hash chain */
} device_index_entry;

struct peer {
	device *dev;
	uint8_t public_key[32];
	uint8_t preshared_key[32];
	uint16_t persistent_keepalive;
	uint64_t created_seq;
	bool linked; /* in the device's tables */
	bool doomed; /* apply: removed by the request being planned */
	/* Protects tun, endpoint and the event bookkeeping (taken under the config lock). */
	pthread_mutex_t lock;
	wg_tunnel *tun;
	wg_endpoint endpoint;
	/* Sticky source (docs/sticky.md): the local address (and IPv6 interface) the last
	 * authenticated datagram from the peer arrived on, taken with the endpoint; replies go
	 * out from it. None after an explicit endpoint, a rebind, or a refused send. Loop
	 * thread (config lock shared) or config lock exclusive: it needs no peer lock (a
	 * send's refusal is handled in a flush that may run under the peer's lock). */
	udp_src src;
	/* Atomic: bytes of this peer's datagrams that failed to send, still to be taken out of
	 * tun's tx_bytes. A failed send is found in a flush, and a flush may run under this
	 * peer's lock (a full queue while its staged packets or a GSO run are queued), so it
	 * must not take the lock; the readers of tx_bytes fold this in under it. */
	uint64_t unsent;
	uint64_t last_handshake_seen; /* wall ns of the last HANDSHAKE_DONE event */
	bool unreachable_reported;
	/* Tables (changed under the exclusive config lock, or by the loop thread alone). */
	peer *hash_next;
	peer *prev, *next; /* creation order */
	size_t heap_pos;   /* position in the deadline heap */
	wg_time_ns deadline;
	device_index_entry idx[DEVICE_INDICES_PER_PEER];
};

/* Peers by public key: chained hash, power-of-two buckets, never more than
 * WG_CONFIG_MAX_PEERS entries (apply refuses more). */
typedef struct {
	peer **buckets;
	size_t nbuckets;
	size_t count;
} peer_table;

struct device {
	/* Immutable after device_new. */
	device_params params;
	char ifname[16];
	bool has_ifname;
	wg_rng rng;        /* rng_source, failures counted and logged (device.c) */
	wg_rng rng_source; /* the OS CSPRNG (tests inject failing ones) */
	wg_wallclock wall;
	device_clock clock;
	io_loop *loop;
	int stop_fd; /* eventfd, readable once stopped on its own */
	int link_fd; /* rtnetlink link events for ifname, or -1 */
	int ifindex;
	/* The link state the latest link event or query (or device_link_set) reported: 1
	 * running, 0 not, DEVICE_LINK_CYCLE down and running again, -1 nothing new. The loop
	 * takes it after its round and goes down and/or up under the exclusive config lock
	 * (device.c). */
	atomic_int link_request;

	/* The config lock: exclusive for apply/free, shared for the loop batch and get. */
	pthread_rwlock_t cfg_lock;
	wg_identity identity;
	cookie_checker cookies;
	ratelimiter *limiter;       /* gates messages with a valid mac2 (proven sources) */
	ratelimiter *reply_limiter; /* shed.c's estimate only: cookie-less messages per source */
	allowedips aips;
	peer_table peers;
	peer *first, *last; /* creation order */
	uint64_t next_seq;
	peer **heap;        /* min-heap of peers by deadline */
	size_t heap_cap;
	udp_bind bind;
	uint16_t listen_port; /* configured (0 = random); while down, the port to reopen */
	/* listen_port was the kernel's random pick (kept at a down): if someone took it while
	 * we were down, the up takes a new random port instead of staying down. */
	bool port_random;
	uint32_t fwmark;
	/* Sockets open and peers started. Without a link monitor (no interface name, or no
	 * netlink) from device_start on; with one, while started and the link runs (IFF_RUNNING),
	 * as in the kernel's and wireguard-go's device (docs/linkstate.md). */
	bool up;
	bool link_follow; /* device_start found a link monitor: up follows the link */
	/* The link runs, but its up could not open the sockets (the port was taken): down
	 * until the next link event or a listen-port set opens them (docs/linkstate.md). */
	bool up_stalled;
	_Atomic uint32_t mtu;

	/* Receiver indices: buckets change under the exclusive config lock; entries under
	 * index_lock (tunnels allocate from the loop thread while others may look up). */
	pthread_mutex_t index_lock;
	device_index_entry **ibuckets;
	size_t nibuckets;

	/* Loop thread. */
	int tun_fd;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop_requested;
	/* Keys died off the loop thread (peers removed, our key changed): its next round ends
	 * with a deep stack burn, as a round with due timers does (device_loop). */
	atomic_bool burn_stack;
	atomic_bool stopped;
	atomic_int stop_reason;
	wg_time_ns under_load_until;
	device_stats stats; /* updated with __atomic builtins */

	/* TUN offloads (set in device_new, then loop thread only): with a vnet header every TUN
	 * read is split (offload_split) and decrypted packets are coalesced before writing. */
	bool tun_vnet;
	unsigned tun_offload; /* TUN_OFFLOAD_* the kernel granted */
	uint8_t *tun_buf;     /* one TUN read: vnet header + up to 64 KiB super-packet */
	offload_gro *gro;     /* decrypted packets of this UDP batch, waiting for the TUN */

	/* Batch buffers (loop thread only). */
	uint8_t *rx_mem, *tx_mem;
	udp_batch rx, tx;
	unsigned tx_used;
	/* Whose tunnel counted tx slot i in its tx_bytes (NULL: no peer's, e.g. a cookie reply),
	 * and how many bytes: a datagram that is not sent is taken back out. */
	struct peer *tx_peer[DEVICE_BATCH];
	uint32_t tx_len[DEVICE_BATCH];
	device_hs_queue hsq;
	device_shed shed[2]; /* [0] bind.fd4, [1] bind.fd6 */
	/* Crypto workers, and the jobs of the current batch (loop thread only; the workers touch
	 * only the jobs and their buffers during crypto_pool_run). Transmit: seal[k] seals tx
	 * slot seal_slot[k] before the queue is sent. Receive: rx_jobs. */
	crypto_pool crypto;
	wg_tunnel_seal *seal;
	uint16_t *seal_slot;
	unsigned seal_n;
	device_rx_job *rx_jobs;
	unsigned rx_n;
	/* High-water marks since the buffers were last given back (loop thread only): slots of
	 * tx_mem / rx_mem (and bytes of rx_mem: GRO fills a slot deep), receive jobs, handshake
	 * queue entries; busy = this round went over DEVICE_MEM_FLOOR_SLOTS. */
	unsigned mem_tx_hwm, mem_rx_hwm, mem_jobs_hwm, mem_hsq_hwm;
	size_t mem_rx_bytes;
	bool mem_busy_round, mem_busy;
	wg_time_ns mem_busy_at;
	/* Busy poll (device.c): what this loop round did, and when a packet last went to the
	 * TUN (loop thread only). */
	bool round_from_tun; /* read packets from the TUN */
	bool round_to_tun;   /* wrote packets to the TUN */
	wg_time_ns last_to_tun;
};

#define DEVICE_LINK_CYCLE 2

/* Loop tags. */
enum { DEVICE_TAG_TUN = 1, DEVICE_TAG_UDP4 = 2, DEVICE_TAG_UDP6 = 3, DEVICE_TAG_LINK = 4 };

/* device.c: opens the UDP sockets on port and adds them to the loop (no change on failure). */
int device_bind_open(device *dev, udp_bind *out, uint16_t port, uint32_t fwmark);
/* Removes the sockets from the loop and closes them. */
void device_bind_close(device *dev, udp_bind *b);
/* The rest of an up once dev->bind holds the new sockets: peers started (restart: after a
 * down), MTU re-read, up set, the stall over. Config lock exclusive. */
void device_up_finish(device *dev, bool restart);

/* dev->shed[] of the socket a message from src arrived on (v4: 0, v6: 1). */
static inline unsigned device_shed_index(const wg_endpoint *src)
{
	return src->sa.sa_family == AF_INET ? 0 : 1;
}

static inline wg_time_ns device_now(const device *dev)
{
	return dev->clock.now(dev->clock.ctx);
}

#define DEVICE_STAT_INC(dev, field) __atomic_fetch_add(&(dev)->stats.field, 1, __ATOMIC_RELAXED)
#define DEVICE_STAT_ADD(dev, field, n)                                                      \
	__atomic_fetch_add(&(dev)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)

/* ---- peer.c: tables ---- */
/* Grows the peer, index and heap tables so npeers fit (no change on failure). 0/-ENOMEM. */
int device_tables_reserve(device *dev, size_t npeers);
peer *device_peer_find(device *dev, const uint8_t public_key[32]);
/* A fresh peer with its tunnel (not yet in any table). NULL on failure. */
peer *device_peer_new(device *dev, const uint8_t public_key[32], wg_time_ns now);
/* Links a reserved peer into the tables (cannot fail after device_tables_reserve). */
void device_peer_link(device *dev, peer *p);
/* Unlinks (if linked), frees the tunnel (wiping keys, releasing indices) and the peer. */
void device_peer_remove(device *dev, peer *p);
/* Frees a peer that was never linked. */
void device_peer_destroy(peer *p);
/* The peer holding receiver index idx, or NULL. */
peer *device_index_lookup(device *dev, uint32_t idx);
/* Re-reads p's deadline from its tunnel and fixes the heap (loop thread or exclusive). */
void device_peer_update_deadline(device *dev, peer *p);
/* Takes the bytes of p's failed sends out of its tx_bytes. Peer lock held. */
void device_peer_unsent_fold(peer *p);
/* The peer with the earliest deadline, or NULL. */
peer *device_heap_top(device *dev);
/* wg_index_ops for p's tunnel. */
wg_index_ops device_index_ops(peer *p);
void device_log(device *dev, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void device_emit(device *dev, device_event_type type, const uint8_t *pub, int error);

/* ---- datapath.c: the loop's work (called with the config lock held shared) ---- */
/* The data path's buffers, allocated at start (datamem.c). 0 or -ENOMEM. */
int device_datapath_init(device *dev);
void device_datapath_free(device *dev);
/* Reads and handles one batch from the TUN. Returns 0, or a -errno that stops the device. */
int device_handle_tun(device *dev, bool error_reported);
/* Reads and handles one batch from a UDP socket. */
void device_handle_udp(device *dev, int fd);
/* Runs every due timer. */
void device_handle_timers(device *dev, wg_time_ns now);
/* Sends whatever is queued. */
void device_tx_flush(device *dev);
/* ---- datamem.c: the data path's buffers ---- */
/* Once per loop round, before the loop sleeps until deadline: when the buffers were busy and
 * the last busy round is DEVICE_MEM_IDLE old, gives their pages back. */
void device_mem_idle(device *dev, wg_time_ns now, wg_time_ns deadline);
/* Hands the whole pages inside [p, p + len) of a buffer of ours back to the kernel
 * (MADV_DONTNEED: the next touch maps a zero page). Returns the bytes given back. */
size_t device_mem_give_back(device *dev, void *p, size_t len);
/* Marks the round busy when usage went over the floor (called where buffers are taken, per
 * batch: inline). */
static inline void device_mem_note(device *dev, unsigned *hwm, unsigned used)
{
	if (used > *hwm)
		*hwm = used;
	if (used > DEVICE_MEM_FLOOR_SLOTS)
		dev->mem_busy_round = true;
}
/* Writes the decrypted packets waiting for the TUN (vnet TUN only; a no-op otherwise). */
void device_tun_flush(device *dev);
/* The next free transmit slot (sends the queue first when it is full). */
uint8_t *device_tx_slot(device *dev);
/* Queues len bytes at data (inside the current free slot) to dst, from local (NULL or none:
 * the route's source); false if dst is none. */
bool device_tx_queue(device *dev, const uint8_t *data, size_t len, const wg_endpoint *dst,
		     const udp_src *local);
void device_count_tunnel_error(device *dev, wg_tun_result r);
/* Hands one handshake message or cookie reply from src to p's tunnel under p's lock (see
 * datapath.c). */
void device_peer_receive(device *dev, peer *p, uint8_t *buf, size_t len,
			 wg_tunnel_initiation *prep, const wg_endpoint *src, const udp_src *local,
			 wg_time_ns now);

/* ---- handshake.c: the handshake queue and the under-load shield (loop thread) ---- */
int device_handshake_init(device *dev);
void device_handshake_free(device *dev);
/* Copies handshake message msg (type 1 or 2, classified) from src, received on local
 * (NULL: unknown), into the queue. */
void device_handshake_enqueue(device *dev, const uint8_t *msg, size_t len,
			      const wg_endpoint *src, const udp_src *local, wg_time_ns now);
/* Handles up to budget queued messages (config lock shared). Returns how many are left. */
unsigned device_handshake_run(device *dev, wg_time_ns now, unsigned budget);
unsigned device_handshake_pending(const device *dev);
/* Empties the queue (the device went down: its sockets, where replies would go, are gone).
 * Returns how many were dropped. */
unsigned device_handshake_drop_all(device *dev);
/* Gives the queue's touched entries back when it is empty (device_mem_idle). Bytes. */
size_t device_handshake_give_back(device *dev);

/* ---- shed.c: kernel-side load shedding (loop thread, config lock shared) ---- */
/* Attaches, re-judges or removes each socket's filter after a round. Cheap when idle. */
void device_shed_update(device *dev, wg_time_ns now);
/* When the loop must wake to remove a filter (the earliest filtered socket's load end), or
 * WG_TIME_NEVER when none is attached. */
wg_time_ns device_shed_deadline(const device *dev);
/* The sockets were replaced (exclusive config lock): forget their state. */
void device_shed_reset(device *dev);
/* Whether src is one of the always-pass sources of its socket's attached filter. */
bool device_shed_allowed(const device *dev, const wg_endpoint *src);

/* Forgets every peer's sticky source (sockets replaced; exclusive config lock). */
void device_forget_sources(device *dev);

#endif
