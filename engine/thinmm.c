/* Thin matrix products: one side 64 columns or fewer (Mamba's x_proj and dt_proj, with
 * dt_rank + 2 d_state or dt_rank columns), where sgemm spends more time packing its operands
 * than multiplying. These kernels keep the partial sums of a vector of TV columns per row in
 * registers instead. Each output is summed in index order by one task, so the result does not
 * depend on the thread count. */
#include "config.h"
#include "internal.h"

#include <string.h>

#define TV VCH /* columns per vector */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

size_t thin_pack_floats(int K, int N) { return (size_t)K * ((N + TV - 1) / TV * TV); }

/* Bp[c0 / TV][k][l] = op(B)[k][c0 + l] for the K x N matrix op(B) (B, or B^T when trans), zero
 * past column N, so that the kernel runs whole vectors: thin_pack_floats(K, N) floats. */
static void thin_pack(float *Bp, const float *B, int ldb, bool trans, int K, int N)
{
    for (int c0 = 0; c0 < N; c0 += TV)
        for (int k = 0; k < K; k++)
            for (int l = 0; l < TV; l++) {
                int c = c0 + l;
                *Bp++ = c >= N ? 0.0f : trans ? B[(size_t)c * ldb + k] : B[(size_t)k * ldb + c];
            }
}

typedef struct {
    const float *A, *B; /* A: rows x K; B: packed (thin_nn) or rows x N (thin_tn) */
    float *C;
    size_t rows;
    int lda, ldb, ldc, K, N;
    bool add; /* C += product, else C = product */
} Thin;

/* Loops over a register block's sums, unrolled so that the sums are registers, not an array. */
#define UNROLL _Pragma("GCC unroll 16")

#define THIN_ROWS 8 /* rows per register block: eight independent sums hide the FMA latency */

/* C rows r0 .. r0 + nr - 1 of A op(B) */
ALWAYS_INLINE void thin_nn_blk(const Thin *t, size_t r0, int nr)
{
    for (int c0 = 0; c0 < t->N; c0 += TV) {
        const float *bp = t->B + (size_t)c0 * t->K;
        VecF acc[THIN_ROWS];
        UNROLL for (int i = 0; i < THIN_ROWS; i++) acc[i] = (VecF){0};
        for (int k = 0; k < t->K; k++) {
            VecF b = vecf_load(bp + (size_t)k * TV);
            UNROLL for (int i = 0; i < nr; i++) acc[i] += t->A[(r0 + i) * t->lda + k] * b;
        }
        int w = t->N - c0 < TV ? t->N - c0 : TV;
        UNROLL for (int i = 0; i < nr; i++) {
            float *c = t->C + (r0 + i) * t->ldc + c0, v[TV];
            memcpy(v, &acc[i], sizeof v);
            for (int l = 0; l < w; l++) c[l] = t->add ? c[l] + v[l] : v[l];
        }
    }
}

/* Items are blocks of THIN_ROWS rows. */
static void thin_nn_items(void *ctx, size_t i0, size_t i1, int tid)
{
    const Thin *t = ctx;
    (void)tid;
    for (size_t i = i0; i < i1; i++) {
        size_t r0 = i * THIN_ROWS;
        if (r0 + THIN_ROWS <= t->rows)
            thin_nn_blk(t, r0, THIN_ROWS);
        else
            for (size_t r = r0; r < t->rows; r++) thin_nn_blk(t, r, 1);
    }
}

/* Wider than this, sgemm's packing pays for itself (dt_rank is 64 at width 1024). A product
 * with few inner columns (K) but many output columns is sgemm's too: it writes whole rows, where
 * thin_nn writes a vector of each of THIN_ROWS rows at a time. */
#define THIN_MAX 64

/* C (rows x N) = or += A (rows x K) op(B), op(B) = B (K x N) or B^T (B N x K) when trans; Bp is
 * scratch for thin_pack_floats(K, N) floats. */
void thin_nn(const float *A, int lda, size_t rows, int K, const float *B, int ldb, bool trans,
             int N, float *C, int ldc, bool add, float *Bp)
{
    if (N > THIN_MAX) {
        mm(false, trans, (int)rows, N, K, 1.0f, A, lda, B, ldb, add ? 1.0f : 0.0f, C, ldc);
        return;
    }
    thin_pack(Bp, B, ldb, trans, K, N);
    Thin t = {A, Bp, C, rows, lda, 0, ldc, K, N, add};
    pool_for((rows + THIN_ROWS - 1) / THIN_ROWS, thin_nn_items, &t);
}

/* C[k0 + k][c0 + l] (+)= sum over rows r of A[r][k0 + k] B[r][c0 + l], k < nk, l < w. */
ALWAYS_INLINE void thin_tn_blk(const Thin *t, int k0, int nk, int c0, int w)
{
    VecF acc[TV];
    UNROLL for (int k = 0; k < TV; k++) acc[k] = (VecF){0};
    for (size_t r = 0; r < t->rows; r++) {
        const float *br = t->B + r * t->ldb + c0, *a = t->A + r * t->lda + k0;
        VecF b;
        if (w == TV)
            b = vecf_load(br);
        else { /* the last column block: zeros past N, no read past the row */
            float v[TV] = {0};
            memcpy(v, br, sizeof(float) * w);
            b = vecf_load(v);
        }
        UNROLL for (int k = 0; k < nk; k++) acc[k] += a[k] * b;
    }
    UNROLL for (int k = 0; k < nk; k++) {
        float *c = t->C + (size_t)(k0 + k) * t->ldc + c0, v[TV];
        memcpy(v, &acc[k], sizeof v);
        for (int l = 0; l < w; l++) c[l] = t->add ? c[l] + v[l] : v[l];
    }
}

/* Items are (block of TV rows of C, block of TV columns); the common block shapes are compiled
 * with their sizes fixed, so that the sums stay in registers. */
static void thin_tn_items(void *ctx, size_t i0, size_t i1, int tid)
{
    const Thin *t = ctx;
    int ncb = (t->N + TV - 1) / TV;
    (void)tid;
    for (size_t i = i0; i < i1; i++) {
        int k0 = (int)(i / ncb) * TV, c0 = (int)(i % ncb) * TV;
        int nk = t->K - k0 < TV ? t->K - k0 : TV, w = t->N - c0 < TV ? t->N - c0 : TV;
        if (nk == TV && w == TV)
            thin_tn_blk(t, k0, TV, c0, TV);
        else if (nk == TV / 2 && w == TV)
            thin_tn_blk(t, k0, TV / 2, c0, TV);
        else
            thin_tn_blk(t, k0, nk, c0, w);
    }
}

/* C (K x N) = or += A^T B for A rows x K and B rows x N: a weight gradient summed over rows. */
void thin_tn(const float *A, int lda, size_t rows, int K, const float *B, int ldb, int N,
             float *C, int ldc, bool add)
{
    if (K > THIN_MAX && N > THIN_MAX) {
        mm(true, false, K, N, (int)rows, 1.0f, A, lda, B, ldb, add ? 1.0f : 0.0f, C, ldc);
        return;
    }
    Thin t = {A, B, C, rows, lda, ldb, ldc, K, N, add};
    size_t items = (size_t)((K + TV - 1) / TV) * (size_t)((N + TV - 1) / TV);
    pool_for(items, thin_tn_items, &t);
}
