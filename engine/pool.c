/* A fixed pool of worker threads that owns the cores. The caller takes chunk 0 itself, so a pool
 * of one thread is a plain function call. OpenBLAS is set to one thread: the pool splits the
 * products instead, so the two never compete for cores.
 *
 * A training step hands the pool dozens of jobs, some of a few microseconds at small shapes, so
 * waking a sleeping thread for each (a futex call and a reschedule) would cost as much as the
 * job. Workers and the caller therefore spin on atomics for a short while (POOL_SPIN pauses,
 * some tens of microseconds) before they sleep on the condition variables; the sleeper counts
 * tell the other side when it must take the mutex and signal. */
#include "config.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef HAVE_CBLAS_H
#include <cblas.h>
#endif

#define POOL_SPIN 1000 /* pauses before sleeping: some tens of microseconds */

static struct {
    int n; /* threads including the caller */
    pthread_t tid[ML_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_ulong gen;         /* bumped for each job */
    unsigned long gen_at_start; /* gen when the workers were started */
    atomic_int pending;       /* workers still running the current job */
    atomic_int sleepers;      /* workers asleep on go (or about to be) */
    atomic_int caller_asleep; /* the caller sleeps on done (or is about to) */
    atomic_int quit;
    PoolFn fn;
    void *ctx;
    size_t total;
} P = {.n = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void chunk(size_t n, int parts, int i, size_t *b, size_t *e)
{
    size_t q = n / (size_t)parts, r = n % (size_t)parts;
    *b = (size_t)i * q + ((size_t)i < r ? (size_t)i : r);
    *e = *b + q + ((size_t)i < r ? 1 : 0);
}

/* Waits until gen differs from seen (or quit) and returns it. */
static unsigned long wait_job(unsigned long seen)
{
    for (int s = 0; s < POOL_SPIN; s++) {
        unsigned long g = atomic_load_explicit(&P.gen, memory_order_acquire);
        if (g != seen || atomic_load(&P.quit)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&P.mu);
    atomic_fetch_add(&P.sleepers, 1); /* then read gen: pool_for bumps gen, then reads sleepers */
    unsigned long g;
    while ((g = atomic_load(&P.gen)) == seen && !atomic_load(&P.quit))
        pthread_cond_wait(&P.go, &P.mu);
    atomic_fetch_sub(&P.sleepers, 1);
    pthread_mutex_unlock(&P.mu);
    return g;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned long seen = P.gen_at_start; /* jobs before pool_init are not this thread's */
    for (;;) {
        seen = wait_job(seen);
        if (atomic_load(&P.quit)) break;
        size_t b, e;
        chunk(P.total, P.n, me, &b, &e);
        if (b < e) P.fn(P.ctx, b, e, me);
        if (atomic_fetch_sub(&P.pending, 1) == 1 && atomic_load(&P.caller_asleep)) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.done);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

void pool_shutdown(void)
{
    pthread_mutex_lock(&P.mu);
    atomic_store(&P.quit, 1);
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.n; i++) pthread_join(P.tid[i], NULL);
    P.n = 1;
    atomic_store(&P.quit, 0);
}

int pool_init(int nthreads)
{
    if (nthreads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = c > 0 ? (int)c : 1;
    }
    if (nthreads > ML_MAX_THREADS) nthreads = ML_MAX_THREADS;
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(1);
#endif
    if (nthreads == P.n) return 0;
    pool_shutdown();
    P.n = nthreads;
    P.gen_at_start = atomic_load(&P.gen);
    for (int i = 1; i < nthreads; i++) {
        if (pthread_create(&P.tid[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            P.n = i; /* keep the ones that started */
            pool_shutdown();
            return -1;
        }
    }
    return 0;
}

int pool_size(void) { return P.n; }

void pool_for(size_t n, PoolFn fn, void *ctx)
{
    if (n == 0) return;
    int parts = P.n;
    if (parts == 1 || n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    P.fn = fn;
    P.ctx = ctx;
    P.total = n;
    atomic_store(&P.pending, parts - 1);
    atomic_fetch_add(&P.gen, 1); /* publishes the job; then read sleepers (see wait_job) */
    if (atomic_load(&P.sleepers) > 0) {
        pthread_mutex_lock(&P.mu);
        pthread_cond_broadcast(&P.go);
        pthread_mutex_unlock(&P.mu);
    }
    size_t b, e;
    chunk(n, parts, 0, &b, &e);
    if (b < e) fn(ctx, b, e, 0);
    for (int s = 0; s < POOL_SPIN && atomic_load_explicit(&P.pending, memory_order_acquire) > 0; s++)
        cpu_relax();
    if (atomic_load(&P.pending) > 0) {
        pthread_mutex_lock(&P.mu);
        atomic_store(&P.caller_asleep, 1); /* then read pending: workers do the reverse */
        while (atomic_load(&P.pending) > 0) pthread_cond_wait(&P.done, &P.mu);
        atomic_store(&P.caller_asleep, 0);
        pthread_mutex_unlock(&P.mu);
    }
}

int pool_bands(void) { return P.n < 2 ? 2 : P.n; }

/* Two threads' chunks, one after the other, on a pool of one thread. */
void pool_for_bands(size_t n, PoolFn fn, void *ctx)
{
    if (P.n >= 2) {
        pool_for(n, fn, ctx);
        return;
    }
    for (int part = 0; part < 2; part++) {
        size_t b, e;
        chunk(n, 2, part, &b, &e);
        if (b < e) fn(ctx, b, e, part);
    }
}
