/* Crypto workers: see cryptopool.h. */
#define _GNU_SOURCE
#include "device/cryptopool.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One step of a spin wait (the CPU's pause hint where there is one). */
static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* The CPUs this thread may run on (its affinity, e.g. under taskset or a cgroup cpuset), else
 * the online ones: more workers than CPUs only take turns on them. */
static unsigned pool_default_workers(void)
{
	cpu_set_t set;
	long n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
							       : sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > CRYPTO_POOL_MAX_WORKERS ? CRYPTO_POOL_MAX_WORKERS : (unsigned)n;
}

int crypto_pool_init(crypto_pool *p, unsigned workers)
{
	memset(p, 0, sizeof(*p));
	p->workers = workers ? workers : pool_default_workers();
	if (p->workers > CRYPTO_POOL_MAX_WORKERS)
		p->workers = CRYPTO_POOL_MAX_WORKERS;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->own = crypto_aead_worker_new();
	if (p->workers > 1)
		p->threads = calloc(p->workers - 1, sizeof(*p->threads));
	if (!p->own || (p->workers > 1 && !p->threads))
		return -ENOMEM;
	for (unsigned i = 0; i + 1 < p->workers; i++) {
		p->threads[i].pool = p;
		p->threads[i].aead = crypto_aead_worker_new();
		if (!p->threads[i].aead)
			return -ENOMEM;
	}
	return 0;
}

/* Claims the next chunk of batch seq: its first job in *first and its size, or 0 when the
 * batch is fully claimed (or over). */
static unsigned pool_claim(crypto_pool *p, uint32_t seq, unsigned n, unsigned *first)
{
	uint64_t c = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);

	for (;;) {
		unsigned next = (unsigned)(c & 0xffffffffu), take;
		if ((uint32_t)(c >> 32) != seq || next >= n)
			return 0;
		take = n - next < CRYPTO_POOL_CHUNK ? n - next : CRYPTO_POOL_CHUNK;
		if (__atomic_compare_exchange_n(&p->claim, &c, c + take, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			*first = next;
			return take;
		}
	}
}

/* Runs chunks of batch seq until none is left. */
static void pool_work(crypto_pool *p, crypto_aead_worker *w, uint32_t seq, unsigned n,
		      crypto_pool_fn fn, void *ctx, bool helper)
{
	unsigned first, take;

	while ((take = pool_claim(p, seq, n, &first)) != 0) {
		for (unsigned i = first; i < first + take; i++)
			fn(ctx, w, i);
		if (helper)
			__atomic_fetch_add(&p->helper_jobs, take, __ATOMIC_RELAXED);
		if (__atomic_add_fetch(&p->done, take, __ATOMIC_ACQ_REL) == n && helper) {
			/* The last chunk: the loop thread may be waiting. */
			pthread_mutex_lock(&p->lock);
			pthread_cond_signal(&p->idle);
			pthread_mutex_unlock(&p->lock);
		}
	}
	/* The cached key is a copy: it must not outlive its keypair in an idle worker
	 * (tests/battery secrets). Rekeying once per batch costs ~0.1 us. */
	crypto_aead_worker_forget(w);
}

static void *pool_thread(void *arg)
{
	crypto_pool_thread *t = arg;
	crypto_pool *p = t->pool;
	uint32_t seen;

	pthread_mutex_lock(&p->lock);
	seen = p->seq;
	for (;;) {
		uint32_t seq;
		unsigned n;
		crypto_pool_fn fn;
		void *ctx;

		while (p->seq == seen && !p->stop)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stop)
			break;
		seen = seq = p->seq;
		n = p->n;
		fn = p->fn;
		ctx = p->ctx;
		pthread_mutex_unlock(&p->lock);
		pool_work(p, t->aead, seq, n, fn, ctx, true);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void crypto_pool_start(crypto_pool *p)
{
	sigset_t all, old;

	if (!p->threads || p->nthreads)
		return;
	/* Helpers take no signals: the embedding process handles them on its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->stop = false;
	for (unsigned i = 0; i + 1 < p->workers; i++) {
		crypto_pool_thread *t = &p->threads[i];
		if (pthread_create(&t->thread, NULL, pool_thread, t) != 0)
			break;
		t->started = true;
		p->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

unsigned crypto_pool_threads(const crypto_pool *p)
{
	return p->nthreads;
}

void crypto_pool_stop(crypto_pool *p)
{
	if (!p->threads)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i + 1 < p->workers; i++) {
		if (p->threads[i].started)
			pthread_join(p->threads[i].thread, NULL);
		p->threads[i].started = false;
	}
	p->nthreads = 0;
}

void crypto_pool_free(crypto_pool *p)
{
	if (!p->workers)
		return; /* never initialized */
	crypto_pool_stop(p);
	if (p->threads)
		for (unsigned i = 0; i + 1 < p->workers; i++)
			crypto_aead_worker_free(p->threads[i].aead);
	free(p->threads);
	crypto_aead_worker_free(p->own);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->idle);
	memset(p, 0, sizeof(*p));
}

void crypto_pool_run(crypto_pool *p, unsigned n, size_t bytes, crypto_pool_fn fn, void *ctx)
{
	unsigned chunks, helpers;
	uint32_t seq;

	if (n == 0)
		return;
	if (n <= CRYPTO_POOL_INLINE_MAX || bytes < CRYPTO_POOL_PARALLEL_MIN_BYTES ||
	    p->nthreads == 0) {
		for (unsigned i = 0; i < n; i++)
			fn(ctx, p->own, i);
		/* a worker's cached key must not outlive the batch (tests/battery secrets) */
		crypto_aead_worker_forget(p->own);
		return;
	}
	__atomic_fetch_add(&p->parallel_runs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->parallel_jobs, n, __ATOMIC_RELAXED);
	chunks = (n + CRYPTO_POOL_CHUNK - 1) / CRYPTO_POOL_CHUNK;
	helpers = chunks - 1 < p->nthreads ? chunks - 1 : p->nthreads;
	pthread_mutex_lock(&p->lock);
	seq = ++p->seq;
	p->fn = fn;
	p->ctx = ctx;
	p->n = n;
	__atomic_store_n(&p->done, 0, __ATOMIC_RELAXED);
	/* Publishes the batch (the jobs were written before): helpers claim from here. */
	__atomic_store_n(&p->claim, (uint64_t)seq << 32, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&p->lock);
	/* After the unlock: a helper woken while we still held the lock would only block on
	 * it again (a second futex round trip and context switch per batch). It rechecks seq
	 * under the lock, so no wakeup is lost. */
	for (unsigned i = 0; i < helpers; i++)
		pthread_cond_signal(&p->wake);
	pool_work(p, p->own, seq, n, fn, ctx, false);
	/* A helper still on its last chunk (at most CRYPTO_POOL_CHUNK jobs, a few us) is
	 * waited for spinning, briefly: sleeping costs a futex wait here plus a wake there. */
	for (unsigned i = 0; i < CRYPTO_POOL_SPIN && __atomic_load_n(&p->done, __ATOMIC_ACQUIRE) != n;
	     i++)
		pool_relax();
	if (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) != n) {
		__atomic_fetch_add(&p->waits, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&p->lock);
		while (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) != n)
			pthread_cond_wait(&p->idle, &p->lock);
		pthread_mutex_unlock(&p->lock);
	}
}
