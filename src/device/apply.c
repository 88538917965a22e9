/* device_apply: a parsed `set=1` applied as one transaction. Phase 1 (prepare) validates
 * everything and does every allocation and every fallible system call on copies: a new
 * identity, the new peers with their tunnels, a new allowed-IPs table, the new sockets.
 * Phase 2 (commit) cannot fail: it swaps the copies in and frees what was replaced. */
#define _GNU_SOURCE
#include "device/device_impl.h"

#include "crypto/crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Where one public key of the request stands while the request is planned. */
typedef struct {
	const uint8_t *key;
	peer *current; /* what the key refers to at this point of the request (NULL = absent) */
} key_state;

typedef struct {
	peer *target; /* the peer entry i acts on; NULL = the entry is skipped */
	bool remove;
} plan_step;

typedef struct {
	device *dev;
	const wg_config_change *c;
	wg_time_ns now;
	wg_identity id;  /* the identity after the request */
	bool key_changed;
	plan_step *steps;
	key_state *keys; /* open addressing, nkeys_cap a power of two */
	size_t nkeys_cap;
	peer **created;  /* new peers, in creation order */
	size_t ncreated;
	peer **removed;  /* existing peers the request removes */
	size_t nremoved;
	size_t npeers;   /* peer count after the request */
	allowedips aips; /* the table after the request */
	bool aips_init;
	udp_bind bind;   /* new sockets, if the request rebinds */
	bool rebind;
	bool go_up;      /* the rebind ends a stalled up (docs/linkstate.md) */
	bool mark_set;   /* fwmark changed on the live sockets (already applied) */
} apply_plan;

static bool allowed_ip_valid(const wg_allowed_ip *a)
{
	return (a->family == AF_INET && a->cidr <= 32) || (a->family == AF_INET6 && a->cidr <= 128);
}

static bool endpoint_valid(const wg_endpoint *e)
{
	return e->sa.sa_family == AF_INET || e->sa.sa_family == AF_INET6;
}

static int change_validate(const wg_config_change *c)
{
	size_t total = 0;

	if (c->n_peers > WG_CONFIG_MAX_PEERS || (c->n_peers && !c->peers))
		return -EINVAL;
	for (size_t i = 0; i < c->n_peers; i++) {
		const wg_peer_change *pc = &c->peers[i];
		if (pc->n_allowed_ips && !pc->allowed_ips)
			return -EINVAL;
		if (pc->n_allowed_ips > WG_CONFIG_MAX_ALLOWED_IPS - total)
			return -EINVAL;
		total += pc->n_allowed_ips;
		if (pc->has_endpoint && !endpoint_valid(&pc->endpoint))
			return -EINVAL;
		for (size_t k = 0; k < pc->n_allowed_ips; k++)
			if (!allowed_ip_valid(&pc->allowed_ips[k]))
				return -EINVAL;
	}
	return 0;
}

static size_t key_slot_hash(const uint8_t *key)
{
	size_t h;

	memcpy(&h, key, sizeof(h));
	return h;
}

/* The state of key; on first sight it starts as the device's peer (unless replaced). */
static key_state *plan_key(apply_plan *pl, const uint8_t *key)
{
	size_t m = pl->nkeys_cap - 1, i = key_slot_hash(key) & m;

	while (pl->keys[i].key && !crypto_equal(pl->keys[i].key, key, 32))
		i = (i + 1) & m;
	if (!pl->keys[i].key) {
		pl->keys[i].key = key;
		pl->keys[i].current = pl->c->replace_peers ? NULL : device_peer_find(pl->dev, key);
	}
	return &pl->keys[i];
}

static int copy_prefix(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	void **a = ctx;

	return allowedips_insert(a[0], family, addr, cidr, a[1]);
}

/* The new table starts as a copy of the current one (empty with replace_peers). */
static int plan_copy_allowedips(apply_plan *pl)
{
	allowedips_init(&pl->aips);
	pl->aips_init = true;
	if (pl->c->replace_peers)
		return 0;
	for (peer *p = pl->dev->first; p; p = p->next) {
		void *ctx[2] = { &pl->aips, p };
		int ret = allowedips_walk_by_peer(&pl->dev->aips, p, copy_prefix, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

static int plan_identity(apply_plan *pl)
{
	const wg_config_change *c = pl->c;
	const wg_identity *cur = &pl->dev->identity;

	pl->id = *cur;
	if (!c->has_private_key)
		return 0;
	if (crypto_is_zero(c->private_key, 32)) {
		pl->key_changed = cur->has_private_key;
		wg_identity_clear(&pl->id);
		return 0;
	}
	if (wg_identity_set(&pl->id, c->private_key) != 0)
		return -EINVAL;
	pl->key_changed = !cur->has_private_key ||
			  !crypto_equal(pl->id.private_key, cur->private_key, 32);
	return 0;
}

static void plan_mark_removed(apply_plan *pl, peer *p)
{
	allowedips_remove_by_peer(&pl->aips, p);
	pl->npeers--;
	p->doomed = true;
	if (p->linked)
		pl->removed[pl->nremoved++] = p;
}

static int plan_allowed_ips(apply_plan *pl, const wg_peer_change *pc, peer *p)
{
	if (pc->replace_allowed_ips)
		allowedips_remove_by_peer(&pl->aips, p);
	for (size_t k = 0; k < pc->n_allowed_ips; k++) {
		const wg_allowed_ip *a = &pc->allowed_ips[k];
		int ret;
		if (a->remove) {
			/* Absent or someone else's: nothing to remove, not an error. */
			(void)allowedips_remove(&pl->aips, a->family, a->addr, a->cidr, p);
			continue;
		}
		ret = allowedips_insert(&pl->aips, a->family, a->addr, a->cidr, p);
		if (ret)
			return ret == -ENOSPC ? -ENOMEM : ret;
	}
	return 0;
}

static int plan_peers(apply_plan *pl)
{
	const wg_config_change *c = pl->c;
	device *dev = pl->dev;
	const uint8_t *own = pl->id.has_private_key ? pl->id.public_key : NULL;

	pl->npeers = dev->peers.count;
	if (c->replace_peers)
		for (peer *p = dev->first; p; p = p->next)
			plan_mark_removed(pl, p);
	/* A new key equal to a peer's public key removes that peer (a device cannot be its own
	 * peer). */
	if (pl->key_changed && own) {
		key_state *ks = plan_key(pl, own);
		if (ks->current) {
			plan_mark_removed(pl, ks->current);
			ks->current = NULL;
		}
	}
	for (size_t i = 0; i < c->n_peers; i++) {
		const wg_peer_change *pc = &c->peers[i];
		key_state *ks;
		peer *p;
		int ret;

		if (own && crypto_equal(pc->public_key, own, 32))
			continue; /* our own key as a peer: ignored with all its lines */
		ks = plan_key(pl, pc->public_key);
		if (pc->remove) {
			if (ks->current)
				plan_mark_removed(pl, ks->current);
			pl->steps[i].target = ks->current;
			pl->steps[i].remove = true;
			ks->current = NULL;
			continue;
		}
		if (!ks->current) {
			if (pc->update_only)
				continue;
			if (pl->npeers >= WG_CONFIG_MAX_PEERS)
				return -EINVAL;
			p = device_peer_new(dev, pc->public_key, pl->now);
			if (!p)
				return -EINVAL; /* low-order key (or out of memory) */
			pl->created[pl->ncreated++] = p;
			pl->npeers++;
			ks->current = p;
		}
		pl->steps[i].target = ks->current;
		ret = plan_allowed_ips(pl, pc, ks->current);
		if (ret)
			return ret;
	}
	return 0;
}

/* Sockets and mark: the only live state touched before commit, and only last, when nothing
 * else can fail any more. */
static int plan_sockets(apply_plan *pl)
{
	const wg_config_change *c = pl->c;
	device *dev = pl->dev;
	uint32_t mark = c->has_fwmark ? c->fwmark : dev->fwmark;
	int ret;

	/* Down: stored for the next up. Stalled (the link runs, its up found the port taken):
	 * a listen-port, even the same one, is the retry, and fails as a set while up would. */
	if (!dev->up && !(dev->up_stalled && c->has_listen_port))
		return 0;
	if (!dev->up) {
		ret = device_bind_open(dev, &pl->bind, c->listen_port, mark);
		if (ret)
			return ret;
		pl->rebind = pl->go_up = true;
		return 0;
	}
	if (c->has_listen_port && (c->listen_port == 0 || c->listen_port != dev->bind.port)) {
		ret = device_bind_open(dev, &pl->bind, c->listen_port, mark);
		if (ret)
			return ret;
		pl->rebind = true;
		return 0;
	}
	if (mark != dev->bind.fwmark) {
		ret = udp_bind_set_mark(&dev->bind, mark);
		if (ret)
			return ret;
		pl->mark_set = true;
	}
	return 0;
}

static int plan_prepare(apply_plan *pl)
{
	const wg_config_change *c = pl->c;
	size_t n = c->n_peers;
	int ret;

	pl->nkeys_cap = 16;
	while (pl->nkeys_cap < 2 * (n + 1))
		pl->nkeys_cap <<= 1;
	pl->steps = calloc(n + 1, sizeof(*pl->steps));
	pl->keys = calloc(pl->nkeys_cap, sizeof(*pl->keys));
	pl->created = calloc(n + 1, sizeof(*pl->created));
	pl->removed = calloc(pl->dev->peers.count + n + 1, sizeof(*pl->removed));
	if (!pl->steps || !pl->keys || !pl->created || !pl->removed)
		return -ENOMEM;
	ret = plan_identity(pl);
	if (!ret)
		ret = plan_copy_allowedips(pl);
	if (!ret)
		ret = plan_peers(pl);
	if (!ret)
		ret = device_tables_reserve(pl->dev, pl->npeers);
	if (!ret)
		ret = plan_sockets(pl);
	return ret;
}

/* An IPv4-mapped IPv6 endpoint goes out of the IPv4 socket (the IPv6 one is v6-only). */
static void endpoint_set(wg_endpoint *dst, const wg_endpoint *src)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a = src->in6.sin6_addr.s6_addr;

	if (src->sa.sa_family == AF_INET6 && !memcmp(a, mapped, sizeof(mapped))) {
		memset(dst, 0, sizeof(*dst));
		dst->in4.sin_family = AF_INET;
		dst->in4.sin_port = src->in6.sin6_port;
		memcpy(&dst->in4.sin_addr, a + 12, 4);
		return;
	}
	*dst = *src;
}

/* Same address, port (and IPv6 scope): what a datagram is sent to. */
static bool endpoint_same(const wg_endpoint *a, const wg_endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port &&
		       a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr));
	return true; /* both none */
}

static void apply_peer_fields(device *dev, const wg_peer_change *pc, peer *p, wg_time_ns now)
{
	if (!p->linked)
		device_peer_link(dev, p);
	if (pc->has_preshared_key) {
		memcpy(p->preshared_key, pc->preshared_key, 32);
		wg_tunnel_set_preshared_key(p->tun, pc->preshared_key);
	}
	if (pc->has_endpoint) {
		wg_endpoint was = p->endpoint;

		endpoint_set(&p->endpoint, &pc->endpoint);
		/* An explicit endpoint: the route picks the source until the peer answers. */
		memset(&p->src, 0, sizeof(p->src));
		/* An initiation in flight went to the old address: resend it soon, not in 5 s. */
		if (!endpoint_same(&was, &p->endpoint))
			wg_tunnel_endpoint_changed(p->tun, now);
	}
	if (pc->has_persistent_keepalive && pc->persistent_keepalive != p->persistent_keepalive) {
		p->persistent_keepalive = pc->persistent_keepalive;
		/* Turning it on makes the tunnel send a keepalive at its next tick. */
		wg_tunnel_set_persistent_keepalive(p->tun, now, pc->persistent_keepalive);
	}
	device_peer_update_deadline(dev, p);
}

/* Config lock exclusive. Cannot fail. Removed peers go first (so the tables never hold more
 * than the final count), new peers are linked as their first step is applied. */
static void plan_commit(apply_plan *pl)
{
	const wg_config_change *c = pl->c;
	device *dev = pl->dev;
	allowedips old;

	/* Decide before anything is freed which steps survive to be applied. */
	for (size_t i = 0; i < c->n_peers; i++) {
		plan_step *s = &pl->steps[i];
		if (s->remove || (s->target && s->target->doomed))
			s->target = NULL;
	}
	if (pl->rebind) {
		udp_bind old_bind = dev->bind;
		bool moved = pl->bind.port != old_bind.port;
		dev->bind = pl->bind;
		device_shed_reset(dev); /* the new sockets carry no filter */
		device_forget_sources(dev); /* learned on the old sockets */
		device_bind_close(dev, &old_bind);
		pl->rebind = false;
		/* Peers keep sending to the old port until they hear from the new one (a
		 * stalled device's peers are stopped: their start below says it all). */
		for (peer *p = moved && !pl->go_up ? dev->first : NULL; p; p = p->next) {
			wg_tunnel_local_address_changed(p->tun, pl->now);
			device_peer_update_deadline(dev, p);
		}
	}
	if (c->has_listen_port) {
		dev->listen_port = c->listen_port;
		dev->port_random = false;
	}
	if (c->has_fwmark)
		dev->fwmark = c->fwmark;
	pl->mark_set = false;
	if (pl->nremoved || pl->key_changed)
		atomic_store(&dev->burn_stack, true); /* the loop's stack may hold their keys */
	for (size_t i = 0; i < pl->nremoved; i++)
		device_peer_remove(dev, pl->removed[i]);
	pl->nremoved = 0;
	for (size_t i = 0; i < pl->ncreated; i++) {
		if (pl->created[i]->doomed) {
			device_peer_destroy(pl->created[i]);
			pl->created[i] = NULL;
		}
	}
	old = dev->aips;
	dev->aips = pl->aips;
	pl->aips_init = false;
	allowedips_free(&old);
	for (size_t i = 0; i < c->n_peers; i++)
		if (pl->steps[i].target)
			apply_peer_fields(dev, &c->peers[i], pl->steps[i].target, pl->now);
	pl->ncreated = 0; /* all linked or destroyed now */
	if (pl->key_changed) {
		dev->identity = pl->id;
		cookie_checker_wipe(&dev->cookies); /* the old Rm dies with the old key */
		cookie_checker_init(&dev->cookies, &dev->identity);
		for (peer *p = dev->first; p; p = p->next) {
			wg_tunnel_identity_changed(p->tun, pl->now);
			device_peer_update_deadline(dev, p);
		}
	}
	if (pl->go_up) {
		/* Last: the peers this request made or changed start too. */
		device_up_finish(dev, true);
		DEVICE_STAT_INC(dev, link_up);
		device_log(dev, DEVICE_LOG_INFO, "link up (listen-port set): listening on port %u",
			   dev->bind.port);
	}
}

/* Undo a failed prepare: nothing of the device changed except what is restored here. */
static void plan_abort(apply_plan *pl)
{
	device *dev = pl->dev;

	/* nremoved > 0 only once removed was allocated (the plan starts zeroed) */
	for (size_t i = 0; i < pl->nremoved; i++)
		pl->removed[i]->doomed = false; /* NOLINT(clang-analyzer-core.NullDereference) */
	if (pl->mark_set)
		(void)udp_bind_set_mark(&dev->bind, dev->fwmark);
	if (pl->rebind)
		device_bind_close(dev, &pl->bind);
	if (pl->aips_init)
		allowedips_free(&pl->aips);
	pl->aips_init = false;
	for (size_t i = 0; i < pl->ncreated; i++)
		device_peer_destroy(pl->created[i]);
	pl->ncreated = 0;
}

int device_apply(device *dev, const wg_config_change *c)
{
	apply_plan pl;
	int ret;

	if (!dev || !c)
		return -EINVAL;
	ret = change_validate(c);
	if (ret)
		return ret;
	memset(&pl, 0, sizeof(pl));
	udp_bind_init(&pl.bind);
	pl.dev = dev;
	pl.c = c;
	pl.now = device_now(dev);
	pthread_rwlock_wrlock(&dev->cfg_lock);
	ret = plan_prepare(&pl);
	if (ret == 0)
		plan_commit(&pl);
	else
		plan_abort(&pl);
	pthread_rwlock_unlock(&dev->cfg_lock);
	if (ret == 0)
		io_loop_wake(dev->loop); /* deadlines may have moved */
	else
		device_log(dev, DEVICE_LOG_ERROR, "configuration refused (error %d), nothing changed",
			   ret);
	crypto_wipe(&pl.id, sizeof(pl.id));
	free(pl.steps);
	free(pl.keys);
	free(pl.created);
	free(pl.removed);
	return ret;
}
