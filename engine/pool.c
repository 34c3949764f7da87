/* A fixed pool of worker threads that owns the cores. The caller takes chunk 0 itself, so a pool
 * of one thread is a plain function call. OpenBLAS is set to one thread: the pool splits the
 * products instead, so the two never compete for cores. */
#include "config.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef HAVE_CBLAS_H
#include <cblas.h>
#endif

static struct {
    int n; /* threads including the caller */
    pthread_t tid[ML_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen; /* bumped for each job */
    unsigned long gen_at_start; /* gen when the workers were started */
    int pending;       /* workers still running the current job */
    int quit;
    PoolFn fn;
    void *ctx;
    size_t total;
} P = {.n = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER};

static void chunk(size_t n, int parts, int i, size_t *b, size_t *e)
{
    size_t q = n / (size_t)parts, r = n % (size_t)parts;
    *b = (size_t)i * q + ((size_t)i < r ? (size_t)i : r);
    *e = *b + q + ((size_t)i < r ? 1 : 0);
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    pthread_mutex_lock(&P.mu);
    unsigned long seen = P.gen_at_start; /* jobs before pool_init are not this thread's */
    for (;;) {
        while (!P.quit && P.gen == seen) pthread_cond_wait(&P.go, &P.mu);
        if (P.quit) break;
        seen = P.gen;
        PoolFn fn = P.fn;
        void *ctx = P.ctx;
        size_t total = P.total;
        int n = P.n;
        pthread_mutex_unlock(&P.mu);
        size_t b, e;
        chunk(total, n, me, &b, &e);
        if (b < e) fn(ctx, b, e, me);
        pthread_mutex_lock(&P.mu);
        if (--P.pending == 0) pthread_cond_signal(&P.done);
    }
    pthread_mutex_unlock(&P.mu);
    return NULL;
}

void pool_shutdown(void)
{
    pthread_mutex_lock(&P.mu);
    P.quit = 1;
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.n; i++) pthread_join(P.tid[i], NULL);
    P.n = 1;
    P.quit = 0;
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
    P.gen_at_start = P.gen;
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
    pthread_mutex_lock(&P.mu);
    P.fn = fn;
    P.ctx = ctx;
    P.total = n;
    P.pending = parts - 1;
    P.gen++;
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    size_t b, e;
    chunk(n, parts, 0, &b, &e);
    if (b < e) fn(ctx, b, e, 0);
    pthread_mutex_lock(&P.mu);
    while (P.pending > 0) pthread_cond_wait(&P.done, &P.mu);
    pthread_mutex_unlock(&P.mu);
}
