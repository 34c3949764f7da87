/* Engine internals shared by layers, model and trainer: threads, matrix products, arenas. */
#ifndef MADLAB_INTERNAL_H
#define MADLAB_INTERNAL_H

#include "madlab.h"
#include <math.h>
#include <stdbool.h>
#include <sys/types.h>

/* Every field of the two task settings equal (protocol.c). */
int task_cfg_equal(const TaskCfg *a, const TaskCfg *b);

/* "disk full" for ENOSPC, strerror otherwise: the reason in a write error. */
const char *io_error_text(int e);
/* How atomic_open opens its temporary (open(2) by default); tests point it elsewhere, e.g. at
 * /dev/full, to see a write failure handled. */
extern int (*atomic_temp_open)(const char *path, int flags, mode_t mode);

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
/* out[c] += sum over rows of M[r * ld + c], c < n: over the pool (not from inside a pool task),
 * each column in row order (bias gradients and the like). */
void colsum_add(const float *M, size_t rows, int n, int ld, float *out);
/* out[i] += scale * part_t[i], i < n, for the n_parts per-thread partial sums part_t = parts +
 * t * stride, added in thread order (so the result depends only on the thread count). */
void parts_add(float *out, const float *parts, int n_parts, size_t stride, size_t n, float scale);

/* A residual stream's norm (rmsnorm or layernorm layer) fused with the stream's addition:
 * sum = x + add, y = norm(sum) (plain norm(x) when add is NULL). The backward stays apart: added
 * into the stream's gradient, the product would contract into an FMA and round differently. */
void norm_forward_sum(Layer *l, const float *x, const float *add, float *sum, float *y, Dims dm);

/* Mean cross-entropy over rows whose target is not ML_IGNORE. When dlogits is not NULL it gets
 * the gradient of that mean. row_loss: rows doubles of workspace. */
double cross_entropy(const float *logits, const int32_t *targets, size_t rows, int V,
                     float *dlogits, double *row_loss);

/* n sequences of len tokens, arrays allocated (data.c); which names the set in errors. */
int dataset_alloc(Dataset *d, int n, int len, const char *which, MlError *err);

/* Parameter initialisers. */
void init_uniform(float *w, size_t n, float bound, Rng *r);
void init_normal(float *w, size_t n, float std, Rng *r);
void init_const(float *w, size_t n, float v);

/* fmaf is one instruction where the target has FMA; elsewhere it would be a slow library call. */
#ifdef FP_FAST_FMAF
#define FMA(a, b, c) fmaf(a, b, c)
#else
#define FMA(a, b, c) ((a) * (b) + (c))
#endif

/* e^x with Cephes' expf polynomial, written so that a loop of them vectorises: 0 below -87 (no
 * denormals) and for -inf, NaN stays NaN. Within 1 ulp of exp on [-87, 88]. 2^n is built from
 * the bits of the rounding sum, so no float is converted to an integer. */
static inline float fast_expf(float x)
{
    float xc = x < -87.0f ? -87.0f : x;
    xc = xc > 88.0f ? 88.0f : xc;
    float nb = FMA(xc, 1.44269504088896341f, 12582912.0f); /* 1.5 * 2^23 + round(x / ln 2) */
    float n = nb - 12582912.0f;
    float r = FMA(n, -0.693359375f, xc);
    r = FMA(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = FMA(p, r, 1.3981999507e-3f);
    p = FMA(p, r, 8.3334519073e-3f);
    p = FMA(p, r, 4.1665795894e-2f);
    p = FMA(p, r, 1.6666665459e-1f);
    p = FMA(p, r, 5.0000001201e-1f);
    p = FMA(p, r * r, r) + 1.0f;
    union { float f; uint32_t u; } b = {.f = nb}, e;
    e.u = (b.u - 0x4B400000u + 127u) << 23;
    float y = p * e.f;
    return y * (x < -87.0f ? 0.0f : 1.0f); /* a 0/1 factor, not a branch: see scan.h's sc_log1pf */
}

/* tanh through fast_expf, so that loops of it vectorise (libm's tanhf does not). */
static inline float fast_tanhf(float x) { return 1.0f - 2.0f / (fast_expf(2.0f * x) + 1.0f); }

static inline float gelu_tanh(float x) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + fast_tanhf(c * (x + 0.044715f * x * x * x)));
}
static inline float gelu_tanh_grad(float x) {
    const float c = 0.7978845608028654f;
    float u = c * (x + 0.044715f * x * x * x);
    float t = fast_tanhf(u);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
}
/* through fast_expf, so that loops of it vectorise (libm's expf does not) */
static inline float sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }
static inline float siluf(float x) { return x * sigmoidf(x); }

static inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
#define ML_ALIGN_FLOATS 16 /* 64-byte slices inside arenas */
/* n floats rounded up to whole 64-byte slices: the size of each block carved out of an arena */
static inline size_t r16(size_t n) { return round_up(n, ML_ALIGN_FLOATS); }

/* entries of an array whose size the compiler knows (knob tables and the like) */
#define ML_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

float *arena_alloc_floats(size_t n); /* zeroed, 64-byte aligned; NULL on failure */
/* Physical memory in bytes (0 if unknown). Sizes past it are refused before allocating: such an
 * allocation fails late or not at all (overcommit), and ASan aborts on it. */
double ml_memory_bytes(void);
/* Copies at most len bytes of s (up to a NUL) into out (n bytes, always terminated), each
 * control character (C0, DEL, C1) as \xHH, so user text quoted in a message cannot drive the
 * terminal. Returns out. */
const char *ml_escape(char *out, size_t n, const char *s, size_t len);
void arena_free(float *p);

/* ---- loops in fixed chunks of 16, which -O2's cheap vectoriser accepts (it refuses loops that
 * need a scalar epilogue), then a scalar tail. ---- */
#define VCH 16
static inline void vfill(float *restrict o, float v, size_t n)
{
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] = v;
    for (; i < n; i++) o[i] = v;
}
static inline void vaddc(float *restrict o, float v, size_t n) /* o += v */
{
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] += v;
    for (; i < n; i++) o[i] += v;
}
static inline void vadd(float *restrict o, const float *restrict x, size_t n) /* o += x */
{
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] += x[i + k];
    for (; i < n; i++) o[i] += x[i];
}
static inline void vaxpy(float a, const float *restrict x, float *restrict o, size_t n) /* o += a x */
{
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] = FMA(a, x[i + k], o[i + k]);
    for (; i < n; i++) o[i] = FMA(a, x[i], o[i]);
}
static inline void vscale(float a, const float *restrict x, float *restrict o, size_t n) /* o = a x */
{
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] = a * x[i + k];
    for (; i < n; i++) o[i] = a * x[i];
}
static inline void vmul(const float *restrict a, const float *restrict b, float *restrict o, size_t n)
{
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] = a[i + k] * b[i + k];
    for (; i < n; i++) o[i] = a[i] * b[i];
}
static inline void vmul_in(float *restrict o, const float *restrict b, size_t n) /* o *= b */
{
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] *= b[i + k];
    for (; i < n; i++) o[i] *= b[i];
}
static inline void vfma3(float *restrict o, const float *restrict a, const float *restrict b, size_t n)
{ /* o += a b */
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) o[i + k] = FMA(a[i + k], b[i + k], o[i + k]);
    for (; i < n; i++) o[i] = FMA(a[i], b[i], o[i]);
}
static inline float vdot(const float *restrict a, const float *restrict b, size_t n)
{
    float acc[VCH] = {0}, s = 0;
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) acc[k] = FMA(a[i + k], b[i + k], acc[k]);
    for (; i < n; i++) s = FMA(a[i], b[i], s);
    for (int k = 0; k < VCH; k++) s += acc[k];
    return s;
}
static inline float vsum(const float *a, size_t n)
{
    float acc[VCH] = {0}, s = 0;
    size_t i = 0;
    for (; i + VCH <= n; i += VCH)
        for (int k = 0; k < VCH; k++) acc[k] += a[i + k];
    for (; i < n; i++) s += a[i];
    for (int k = 0; k < VCH; k++) s += acc[k];
    return s;
}

/* ---- long causal convolutions (longconv.c), for Hyena's implicit filters ----
 * y[t] = sum_{s<=t} h[t-s] u[s] + D u[t] over nc channels x B sequences of length L; channel c of
 * sequence b is at x + c*cs + b*L, the filter of channel c at h + c*L (D may be NULL).
 * work: lc_work_floats(L) floats per pool thread (ML_MAX_THREADS of them), 64-byte aligned. */
typedef enum { LC_AUTO, LC_DIRECT, LC_FFT } LcMode;
LcMode lc_choose(int L);      /* the faster exact path at this length (measured) */
int lc_prepare(int L);        /* plans the FFTs for L ahead of the training steps; -1 on failure */
size_t lc_work_floats(int L);
/* Hyena's gates, fused into the convolution's passes so that the gated streams are never
 * written out (laid out as u is): the input is u = a * b, the output gated into g = y * x0.
 * Backward takes dg and the forward's y; it writes dx0 = dg * y, convolves dy = dg * x0 back,
 * and splits the input's gradient du into da = du * b and db = du * a. */
typedef struct {
    const float *a, *b, *x0;
    float *g;              /* forward */
    const float *y, *dg;   /* backward */
    float *dx0, *da, *db;  /* backward */
} LcGates;
/* With gates, u is NULL (it is a * b); y is still written. */
void longconv_fwd(LcMode mode, int nc, int B, int L, size_t cs, const float *u, const float *h,
                  const float *D, float *y, float *work, const LcGates *gates);
/* du = correlation of dy with h + D dy (du may be NULL); dh += correlation of dy with u summed
 * over sequences; dD += sum dy u (dD may be NULL). With gates, u, dy and du are NULL (formed from
 * and written to the gates' arrays). */
void longconv_bwd(LcMode mode, int nc, int B, int L, size_t cs, const float *u, const float *h,
                  const float *D, const float *dy, float *du, float *dh, float *dD, float *work,
                  const LcGates *gates);
double longconv_flops(int L); /* per channel and sequence, on the path lc_choose(L) takes */

/* ---- routing of the mixtures of experts (router.c) ---- */
#define ML_MAX_EXPERTS 64
/* The routing knob's values (moe-mlp, hyena-experts) and their words. */
enum { ROUTING_REFERENCE, ROUTING_TOPK };
extern const char *const routing_words[]; /* "reference", "topk" */
#define ROUTING_KNOB                                                                              \
    {"routing", ROUTING_REFERENCE, ROUTING_REFERENCE, ROUTING_TOPK,                               \
     "reference: every expert, weights = softmax over all experts of the scores with those "      \
     "below the k-th largest set to 0; topk: only the top-k experts, softmax over their scores",  \
     routing_words}
/* The reference's dense routing: p (rows x E) = softmax over all E of the scores, those below the
 * k-th largest replaced by 0 (not -inf: every expert keeps some weight); keep (rows x E) is 1
 * where the score was kept (ties at the k-th largest are all kept), else 0. */
void router_dense(const float *scores, int rows, int E, int k, float *p, float *keep);
/* ds (rows x E) given dp (rows x E): the softmax's gradient, through the kept scores only (a
 * replaced score is the constant 0). */
void router_dense_bwd(const float *p, const float *keep, const float *dp, int rows, int E, float *ds);
/* frac[e] = mean routing weight of expert e over the rows (sums to 1). */
void router_mean_weight(const float *p, int rows, int E, float *frac);
/* idx (rows x k): the k best experts per row, best first, ties to the lower index; p (rows x k):
 * softmax over those k scores. */
void router_topk(const float *scores, int rows, int E, int k, int32_t *idx, float *p);
/* ds (rows x E) = gradient of the scores given dp (rows x k); 0 for unselected experts. */
void router_topk_bwd(const int32_t *idx, const float *p, const float *dp, int rows, int E, int k,
                     float *ds);
void router_load(const int32_t *idx, int rows, int E, int k, float *frac); /* sums to 1 */
int router_load_text(const float *frac, int E, char *buf, size_t n); /* "expert load 0.12 ..." */
/* Groups the rows*k (row, slot) pairs by expert: start (E+1), pos (rows x k), rowof (rows*k). */
void router_group(const int32_t *idx, int rows, int E, int k, int32_t *start, int32_t *pos,
                  int32_t *rowof);

/* ---- speed-conv-moe: helpers added by that branch ---- */
/* The routers above over the pool, in blocks of rows: router_dense (keep) or router_topk (idx),
 * and their backward passes. */
void router_route(bool dense, const float *scores, int rows, int E, int k, int32_t *idx, float *p,
                  float *keep);
void router_route_bwd(bool dense, const int32_t *idx, const float *p, const float *keep,
                      const float *dp, int rows, int E, int k, float *ds);
/* gelu_tanh(x) and its derivative from one tanh, always inlined so that the gated GELU's
 * backward loops vectorise (an out-of-line call in them does not). */
static inline __attribute__((always_inline)) float gelu_tanh_and_grad(float x, float *grad)
{
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    float t = fast_tanhf(c * (x + 0.044715f * x * x * x));
    *grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
    return 0.5f * x * (1.0f + t);
}

#endif
