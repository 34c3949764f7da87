/* Engine internals shared by layers, model and trainer: threads, matrix products, arenas. */
#ifndef MADLAB_INTERNAL_H
#define MADLAB_INTERNAL_H

#include "madlab.h"
#include <math.h>
#include <stdbool.h>

/* Runs fn(ctx, begin, end, tid) over [0, n) split into pool_size() contiguous chunks, in parallel.
 * The split depends only on n and the thread count, so results are reproducible. */
typedef void (*PoolFn)(void *ctx, size_t begin, size_t end, int tid);
void pool_for(size_t n, PoolFn fn, void *ctx);

/* Row-major C = alpha * op(A) * op(B) + beta * C, with op(A) M x K and op(B) K x N, split over
 * the pool. lda/ldb/ldc are row strides as stored. */
void mm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
        const float *B, int ldb, float beta, float *C, int ldc);
/* The same product on the calling thread only (for work already inside pool_for). */
void mm1(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
         const float *B, int ldb, float beta, float *C, int ldc);
/* Plain triple loop, the oracle for tests. */
void mm_naive(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* y(rows x out) = x(rows x in) * W(in x out) [+ b]; W stored in x out, row-major. */
void linear_fwd(const float *x, const float *W, const float *b, float *y, int rows, int in, int out);
/* dx = dy W^T (if dx), dW += x^T dy, db += colsum(dy) (if db). */
void linear_bwd(const float *x, const float *W, const float *dy, float *dx, float *dW, float *db,
                int rows, int in, int out);

/* Mean cross-entropy over rows whose target is not ML_IGNORE. When dlogits is not NULL it gets
 * the gradient of that mean. row_loss: rows doubles of workspace. */
double cross_entropy(const float *logits, const int32_t *targets, size_t rows, int V,
                     float *dlogits, double *row_loss);

/* Parameter initialisers. */
void init_uniform(float *w, size_t n, float bound, Rng *r);
void init_normal(float *w, size_t n, float std, Rng *r);
void init_const(float *w, size_t n, float v);

static inline float gelu_tanh(float x) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}
static inline float gelu_tanh_grad(float x) {
    const float c = 0.7978845608028654f;
    float u = c * (x + 0.044715f * x * x * x);
    float t = tanhf(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
}
static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float siluf(float x) { return x * sigmoidf(x); }

static inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
#define ML_ALIGN_FLOATS 16 /* 64-byte slices inside arenas */

float *arena_alloc_floats(size_t n); /* zeroed, 64-byte aligned; NULL on failure */
void arena_free(float *p);

#endif
