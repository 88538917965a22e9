/* The data path's buffers: allocated once at start, and their pages given back to the kernel
 * when the device has been idle for a while after a burst (docs/memory.md). Nothing here runs
 * per packet. */
#define _GNU_SOURCE
#include "device/device_impl.h"

#include "io/linux/tun.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The GRO batch's packet arrays only: its settings and counters stay (it is empty between
 * rounds, so nothing in the arrays is live). */
static size_t gro_give_back(device *dev)
{
	return device_mem_give_back(dev, dev->gro->items,
				    offsetof(offload_gro, coalesced) - offsetof(offload_gro, items));
}

/* The two batch descriptor arrays (2 x 22 KiB inside the device struct) hold one round's
 * scratch: what udp_recv_batch and device_tx_queue fill before each use. Only the receive
 * iovecs (first in udp_batch: they point at the slots for good) must survive. */
static size_t batch_give_back(device *dev)
{
	_Static_assert(offsetof(udp_batch, iov) == 0, "udp_batch: iov must come first");
	size_t n = device_mem_give_back(dev, (uint8_t *)&dev->rx + sizeof(dev->rx.iov),
					sizeof(dev->rx) - sizeof(dev->rx.iov)) +
		   device_mem_give_back(dev, &dev->tx, sizeof(dev->tx));

	/* The headers went back (zero pages); the count may sit in iov's page, which stayed.
	 * Written only if set: a write would take a given-back page again. */
	if (dev->rx.hdr_ready)
		dev->rx.hdr_ready = 0;
	return n;
}

int device_datapath_init(device *dev)
{
	dev->rx_mem = malloc((size_t)DEVICE_BATCH * DEVICE_SLOT_SIZE);
	dev->tx_mem = malloc((size_t)DEVICE_BATCH * DEVICE_SLOT_SIZE);
	dev->seal = calloc(DEVICE_BATCH, sizeof(*dev->seal));
	dev->seal_slot = calloc(DEVICE_BATCH, sizeof(*dev->seal_slot));
	dev->rx_jobs = calloc(DEVICE_RX_JOBS, sizeof(*dev->rx_jobs));
	if (!dev->rx_mem || !dev->tx_mem || !dev->seal || !dev->seal_slot || !dev->rx_jobs ||
	    crypto_pool_init(&dev->crypto, dev->params.crypto_workers) != 0)
		return -ENOMEM;
	if (dev->tun_vnet) {
		dev->tun_buf = malloc(DEVICE_TUN_BUF);
		dev->gro = malloc(sizeof(*dev->gro));
		if (!dev->tun_buf || !dev->gro)
			return -ENOMEM;
		offload_gro_init(dev->gro, (dev->tun_offload & TUN_OFFLOAD_TSO) != 0,
				 (dev->tun_offload & TUN_OFFLOAD_USO) != 0);
		/* The init's memset touched the packet arrays (40 KB): untouched until a batch. */
		(void)gro_give_back(dev);
	}
	for (unsigned i = 0; i < DEVICE_BATCH; i++) {
		dev->rx.iov[i].iov_base = dev->rx_mem + (size_t)i * DEVICE_SLOT_SIZE;
		dev->rx.iov[i].iov_len = DEVICE_SLOT_SIZE;
	}
	/* The device struct's calloc zeroed the descriptor arrays (44 KB): untouched until used. */
	(void)batch_give_back(dev);
	return 0;
}

void device_datapath_free(device *dev)
{
	free(dev->rx_mem);
	free(dev->tx_mem);
	free(dev->tun_buf);
	free(dev->gro);
	crypto_pool_free(&dev->crypto);
	/* The jobs' keys are wiped after each use; wipe anyway (an interrupted batch). */
	if (dev->seal)
		crypto_wipe(dev->seal, DEVICE_BATCH * sizeof(*dev->seal));
	if (dev->rx_jobs)
		crypto_wipe(dev->rx_jobs, DEVICE_RX_JOBS * sizeof(*dev->rx_jobs));
	free(dev->seal);
	free(dev->seal_slot);
	free(dev->rx_jobs);
	dev->seal = NULL;
	dev->seal_slot = NULL;
	dev->rx_jobs = NULL;
	dev->rx_mem = dev->tx_mem = dev->tun_buf = NULL;
	dev->gro = NULL;
}

/* ---- giving memory back when idle ---- */

/* The allocator's own bytes around the block stay untouched: only whole pages inside it go. */
size_t device_mem_give_back(device *dev, void *p, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~(page - 1);

	if (!p || b <= a)
		return 0;
	if (madvise((void *)a, b - a, MADV_DONTNEED) != 0) {
		device_log(dev, DEVICE_LOG_DEBUG, "madvise failed (%d)", errno);
		return 0;
	}
	return b - a;
}

void device_mem_idle(device *dev, wg_time_ns now, wg_time_ns deadline)
{
	size_t bytes = 0;

	if (dev->mem_busy_round) {
		dev->mem_busy_round = false;
		dev->mem_busy = true;
		dev->mem_busy_at = now;
		return;
	}
	/* Not while the loop is about to wake again soon anyway (the next round may be busy). */
	if (!dev->mem_busy || now - dev->mem_busy_at < DEVICE_MEM_IDLE ||
	    (deadline != WG_TIME_NEVER && deadline < now + DEVICE_MEM_IDLE))
		return;
	bytes += device_mem_give_back(dev, dev->tx_mem, (size_t)dev->mem_tx_hwm * DEVICE_SLOT_SIZE);
	bytes += device_mem_give_back(dev, dev->rx_mem, dev->mem_rx_bytes);
	bytes += device_mem_give_back(dev, dev->rx_jobs, (size_t)dev->mem_jobs_hwm * sizeof(*dev->rx_jobs));
	bytes += device_mem_give_back(dev, dev->seal, DEVICE_BATCH * sizeof(*dev->seal));
	if (dev->tun_buf) {
		bytes += device_mem_give_back(dev, dev->tun_buf, DEVICE_TUN_BUF);
		bytes += gro_give_back(dev);
	}
	bytes += device_handshake_give_back(dev);
	bytes += batch_give_back(dev);
	dev->mem_tx_hwm = dev->mem_rx_hwm = dev->mem_jobs_hwm = dev->mem_hsq_hwm = 0;
	dev->mem_rx_bytes = 0;
	dev->mem_busy = false;
	DEVICE_STAT_INC(dev, mem_releases);
	__atomic_fetch_add(&dev->stats.mem_released_bytes, bytes, __ATOMIC_RELAXED);
	device_log(dev, DEVICE_LOG_DEBUG, "idle: gave %zu bytes of buffers back", bytes);
}
