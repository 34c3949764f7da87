/* Matrix products on OpenBLAS, split over the pool, and the dense (linear) layer they serve. */
#include "config.h"
#include "internal.h"

#include <cblas.h>
#include <string.h>

void mm1(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
         const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void mm_naive(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

typedef struct {
    bool ta, tb, split_rows;
    int M, N, K, lda, ldb, ldc, block;
    float alpha, beta;
    const float *A, *B;
    float *C;
} MmJob;

/* Each thread computes a band of C's rows or columns: no shared output, no reduction, so the
 * result does not depend on timing. Bands are whole multiples of `block`. */
static void mm_band(void *ctx, size_t b, size_t e, int tid)
{
    const MmJob *j = ctx;
    (void)tid;
    int lo = (int)b * j->block, hi = (int)e * j->block;
    if (j->split_rows) {
        if (hi > j->M) hi = j->M;
        const float *A = j->ta ? j->A + lo : j->A + (size_t)lo * j->lda;
        mm1(j->ta, j->tb, hi - lo, j->N, j->K, j->alpha, A, j->lda, j->B, j->ldb, j->beta,
            j->C + (size_t)lo * j->ldc, j->ldc);
    } else {
        if (hi > j->N) hi = j->N;
        const float *B = j->tb ? j->B + (size_t)lo * j->ldb : j->B + lo;
        mm1(j->ta, j->tb, j->M, hi - lo, j->K, j->alpha, j->A, j->lda, B, j->ldb, j->beta,
            j->C + lo, j->ldc);
    }
}

void mm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
        const float *B, int ldb, float beta, float *C, int ldc)
{
    double work = (double)M * N * K;
    if (work < 2e5) {
        mm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* in bands even on one thread: a band's numbers depend on its size (OpenBLAS takes another
     * kernel for some small products) */
    MmJob j = {ta, tb, M >= N, M, N, K, lda, ldb, ldc, 16, alpha, beta, A, B, C};
    int span = j.split_rows ? M : N;
    pool_for_bands((size_t)(span + j.block - 1) / j.block, mm_band, &j);
}

void linear_fwd(const float *x, const float *W, const float *b, float *y, int rows, int in, int out)
{
    if (b)
        for (int r = 0; r < rows; r++) memcpy(y + (size_t)r * out, b, sizeof(float) * out);
    mm(false, false, rows, out, in, 1.0f, x, in, W, out, b ? 1.0f : 0.0f, y, out);
}

void linear_bwd(const float *x, const float *W, const float *dy, float *dx, float *dW, float *db,
                int rows, int in, int out)
{
    if (dx) mm(false, true, rows, in, out, 1.0f, dy, out, W, out, 0.0f, dx, in);
    mm(true, false, in, out, rows, 1.0f, x, in, dy, out, 1.0f, dW, out);
    if (db) colsum_add(dy, (size_t)rows, out, out, db);
}

/* Blocks of COLSUM_BLOCK columns, one task each; every column is summed in row order, so the
 * result is the same for any thread count. */
#define COLSUM_BLOCK 16
typedef struct { const float *M; size_t rows; int n, ld; float *out; } Colsum;

static void colsum_cols(void *ctx, size_t b0, size_t b1, int tid)
{
    const Colsum *a = ctx;
    for (size_t blk = b0; blk < b1; blk++) {
        int lo = (int)blk * COLSUM_BLOCK, w = a->n - lo < COLSUM_BLOCK ? a->n - lo : COLSUM_BLOCK;
        float acc[COLSUM_BLOCK] = {0};
        for (size_t r = 0; r < a->rows; r++) {
            const float *m = a->M + r * a->ld + lo;
            if (w == COLSUM_BLOCK)
                for (int k = 0; k < COLSUM_BLOCK; k++) acc[k] += m[k];
            else
                for (int k = 0; k < w; k++) acc[k] += m[k];
        }
        for (int k = 0; k < w; k++) a->out[lo + k] += acc[k];
    }
}

void colsum_add(const float *M, size_t rows, int n, int ld, float *out)
{
    Colsum a = {M, rows, n, ld, out};
    pool_for((size_t)(n + COLSUM_BLOCK - 1) / COLSUM_BLOCK, colsum_cols, &a);
}

void parts_add(float *out, const float *parts, int n_parts, size_t stride, size_t n, float scale)
{
    for (int t = 0; t < n_parts; t++) {
        const float *p = parts + (size_t)t * stride;
        if (scale == 1.0f)
            vadd(out, p, n);
        else
            for (size_t i = 0; i < n; i++) out[i] += scale * p[i];
    }
}
