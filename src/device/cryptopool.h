/* Crypto workers of one device: the loop thread hands a batch of independent jobs (seal or
 * open one packet each) to crypto_pool_run, which splits it into chunks taken by the loop
 * thread itself and by up to CRYPTO_POOL_MAX_WORKERS - 1 helper threads, and returns when all
 * are done (the completion barrier; the caller then sends or delivers in batch order).
 *
 * - Small batches (<= CRYPTO_POOL_INLINE_MAX jobs, or < CRYPTO_POOL_PARALLEL_MIN_BYTES) run on the caller alone: a ping never
 *   waits for another thread to wake.
 * - Helpers sleep on a condition variable between batches, never spin: an idle device makes
 *   no wakeups. The loop thread spins briefly (CRYPTO_POOL_SPIN) for a helper's last chunk.
 * - No allocation per batch; each thread has its own AEAD context (crypto_aead_worker).
 * Thread-safety: crypto_pool_run from one thread at a time (the loop thread). */
#ifndef WGTUN_DEVICE_CRYPTOPOOL_H
#define WGTUN_DEVICE_CRYPTOPOOL_H

#include "crypto/crypto.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Threads doing crypto, the loop thread included (the config's 0 = the CPUs the
 * creating thread may run on, capped). */
#define CRYPTO_POOL_MAX_WORKERS 64
/* Batches this small run on the loop thread without waking anyone (a helper's wakeup costs
 * more than sealing a few packets). */
#define CRYPTO_POOL_INLINE_MAX 8
/* ... and so do batches of fewer bytes: small packets cost less to seal than a helper's
 * wakeup, and on a loaded machine the barrier may wait for a helper the scheduler has not
 * run yet (measured: 64-byte UDP lost a third of its rate with helpers on every batch). */
#define CRYPTO_POOL_PARALLEL_MIN_BYTES (32 * 1024)
/* Jobs a thread claims at a time. */
#define CRYPTO_POOL_CHUNK 8
/* Pause steps the loop thread spins for a helper's last chunk before it sleeps on the
 * condition variable (~10-20 us; a chunk of 1420-byte packets takes ~8 us). Only ever at the
 * end of a batch the helpers took part in: an idle device never spins. */
#define CRYPTO_POOL_SPIN 512

/* Runs job i of the batch with w (the running thread's context). */
typedef void (*crypto_pool_fn)(void *ctx, crypto_aead_worker *w, unsigned i);

typedef struct crypto_pool crypto_pool;
typedef struct {
	crypto_pool *pool;
	crypto_aead_worker *aead;
	pthread_t thread;
	bool started;
} crypto_pool_thread;

struct crypto_pool {
	unsigned workers;   /* wanted, the loop thread included (>= 1) */
	unsigned nthreads;  /* helpers running */
	crypto_aead_worker *own; /* the loop thread's context */
	crypto_pool_thread *threads; /* workers - 1 entries */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* helpers wait here for a batch */
	pthread_cond_t idle; /* the loop thread waits here for the last chunk */
	bool stop;
	uint32_t seq; /* batch number, under lock */
	crypto_pool_fn fn;
	void *ctx;
	unsigned n;
	/* (seq << 32) | next unclaimed job, atomic: a helper that wakes late cannot claim jobs of
	 * a later batch with an earlier batch's size. */
	uint64_t claim;
	unsigned done; /* jobs finished in this batch, atomic */
	uint64_t parallel_runs; /* batches handed to helpers (atomic; tests, diagnosis) */
	uint64_t parallel_jobs; /* jobs in those batches (atomic; diagnosis) */
	uint64_t helper_jobs;   /* of them, the ones the helpers ran (atomic; diagnosis) */
	uint64_t waits;         /* batches whose end the loop thread slept for (atomic) */
};

/* workers: 0 = the CPUs this thread may run on (sched_getaffinity). Allocates the contexts; starts no thread. 0 / -ENOMEM. */
int crypto_pool_init(crypto_pool *p, unsigned workers);
/* Starts the helpers; one that cannot start leaves fewer (logged by the caller from
 * crypto_pool_threads). Never fails: the loop thread alone still works. */
void crypto_pool_start(crypto_pool *p);
unsigned crypto_pool_threads(const crypto_pool *p); /* helpers running */
/* Stops and joins the helpers (idempotent). */
void crypto_pool_stop(crypto_pool *p);
/* Stops the helpers and frees (wipes) the contexts. A zeroed pool is fine. */
void crypto_pool_free(crypto_pool *p);
/* Runs fn(ctx, w, i) for every i in [0, n) and returns when all are done. bytes: the batch's
 * payload (decides whether helpers are worth waking). */
void crypto_pool_run(crypto_pool *p, unsigned n, size_t bytes, crypto_pool_fn fn, void *ctx);

#endif
