/* RWKV-6's data-dependent token-shift mixing and decay (rwkv_time.h):
 *   xx = xs - x;  M = tanh((x + xx mu_x) W1);  MS_s = M_s W2_s;  X_s = x + xx (mu_s + MS_s)
 *   log w = -exp(decay + tanh(X_w D1) D2)
 * forward and backward, around the time mixer's projections and WKV scan (rwkv_time.c). */
#include "config.h"
#include "rwkv_time.h"

#include <string.h>

/* XX = xs - x, XXX = x + XX mu_x */
static void v6_shift_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    int d = j->g.d;
    for (size_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d, *xs = r % (size_t)j->g.L ? x - d : NULL;
        float *xx = j->XX + r * d, *xxx = j->XXX + r * d;
        for (int c = 0; c < d; c++) {
            xx[c] = (xs ? xs[c] : 0.0f) - x[c];
            xxx[c] = FMA(xx[c], j->p.mu_x[c], x[c]);
        }
    }
}

typedef struct { float *a; size_t n; } Tanh;
static void tanh_range(void *ctx, size_t i0, size_t i1, int tid)
{
    const Tanh *t = ctx;
    for (size_t i = i0; i < i1; i++) t->a[i] = fast_tanhf(t->a[i]);
}
static void tanh_inplace(float *a, size_t n) { Tanh t = {a, n}; pool_for(n, tanh_range, &t); }

/* X_s = x + XX (mu_s + MS_s), s < 5 */
static void v6_mix_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    int d = j->g.d;
    for (size_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d, *xx = j->XX + r * d;
        for (int s = 0; s < 5; s++) {
            const float *mu = j->p.mu + (size_t)s * d, *ms = j->MS + s * j->g.rd + r * d;
            float *X = j->X + s * j->g.rd + r * d;
            for (int c = 0; c < d; c++) X[c] = FMA(xx[c], mu[c] + ms[c], x[c]);
        }
    }
}

/* LW = -exp(decay + LW) */
static void v6_decay_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    int d = j->g.d;
    for (size_t r = r0; r < r1; r++) {
        float *lw = j->LW + r * d;
        for (int c = 0; c < d; c++) lw[c] = -fast_expf(j->p.decay[c] + lw[c]);
    }
}

void tm6_mix_forward(TJob *j, bool fresh)
{
    const Geo *g = &j->g;
    int d = g->d, rows = (int)g->rows;
    pool_for(g->rows, v6_shift_rows, j);
    if (fresh) {
        int M5 = 5 * g->M;
        mm(false, false, rows, M5, d, 1.0f, j->XXX, d, j->p.W1, M5, 0.0f, j->Mt, M5);
        tanh_inplace(j->Mt, g->rows * M5);
        for (int s = 0; s < 5; s++)
            mm(false, false, rows, d, g->M, 1.0f, j->Mt + s * g->M, M5,
               j->p.W2 + (size_t)s * g->M * d, d, 0.0f, j->MS + s * g->rd, d);
    }
    pool_for(g->rows, v6_mix_rows, j);
    if (fresh) {
        const float *Xw = j->X + 4 * g->rd;
        mm(false, false, rows, g->Dr, d, 1.0f, Xw, d, j->p.D1, g->Dr, 0.0f, j->WW, g->Dr);
        tanh_inplace(j->WW, g->rows * g->Dr);
        mm(false, false, rows, d, g->Dr, 1.0f, j->WW, g->Dr, j->p.D2, d, 0.0f, j->LW, d);
        pool_for(g->rows, v6_decay_rows, j);
    }
}

/* DXX = sum_s DX_s (mu_s + MS_s), DXD = sum_s DX_s, then DX_s *= XX (the gradient of MS_s,
 * whose column sums are also dmu_s). */
static void v6_mix_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    int d = j->g.d;
    for (size_t r = r0; r < r1; r++) {
        const float *xx = j->XX + r * d;
        float *dxx = j->DXX + r * d, *dxd = j->DXD + r * d;
        memset(dxx, 0, sizeof(float) * d);
        memset(dxd, 0, sizeof(float) * d);
        for (int s = 0; s < 5; s++) {
            const float *mu = j->p.mu + (size_t)s * d, *ms = j->MS + s * j->g.rd + r * d;
            float *dX = j->DX + s * j->g.rd + r * d;
            for (int c = 0; c < d; c++) {
                dxx[c] = FMA(dX[c], mu[c] + ms[c], dxx[c]);
                dxd[c] += dX[c];
                dX[c] *= xx[c];
            }
        }
    }
}

typedef struct { float *a; const float *t; size_t n; } TanhBwd;
static void tanh_bwd_range(void *ctx, size_t i0, size_t i1, int tid)
{
    const TanhBwd *b = ctx;
    for (size_t i = i0; i < i1; i++) b->a[i] *= 1.0f - b->t[i] * b->t[i];
}
static void tanh_bwd(float *a, const float *t, size_t n)
{
    TanhBwd b = {a, t, n};
    pool_for(n, tanh_bwd_range, &b);
}

/* dXXX in XXX: DXX += dXXX mu_x, DXD += dXXX, XXX = dXXX * XX (for dmu_x) */
static void v6_xxx_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    int d = j->g.d;
    for (size_t i = r0 * d; i < r1 * d; i++) {
        float g = j->XXX[i];
        j->DXX[i] = FMA(g, j->p.mu_x[i % (size_t)d], j->DXX[i]);
        j->DXD[i] += g;
        j->XXX[i] = g * j->XX[i];
    }
}

/* dx = DXD - DXX + DXX of the next row (xx = xs - x) */
static void v6_dx_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    int d = j->g.d;
    for (size_t r = r0; r < r1; r++) {
        int t = (int)(r % (size_t)j->g.L);
        const float *dxx = j->DXX + r * d, *dxd = j->DXD + r * d;
        float *o = j->dx + r * d;
        for (int c = 0; c < d; c++) o[c] = dxd[c] - dxx[c] + (t + 1 < j->g.L ? dxx[c + d] : 0.0f);
    }
}

/* DLW *= LW: log w = -exp(p) gives d p = d(log w) log w */
static void v6_dlw_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    int d = j->g.d;
    for (size_t i = r0 * d; i < r1 * d; i++) j->DLW[i] *= j->LW[i];
}

void tm6_decay_backward(TJob *j)
{
    const Geo *g = &j->g;
    int d = g->d, rows = (int)g->rows;
    pool_for(g->rows, v6_dlw_rows, j); /* to the gradient of decay + tanh(x_w D1) D2 */
    colsum_add(j->DLW, g->rows, d, d, j->gp.decay);
    mm(true, false, g->Dr, d, rows, 1.0f, j->WW, g->Dr, j->DLW, d, 1.0f, j->gp.D2, d);
    mm(false, true, rows, g->Dr, d, 1.0f, j->DLW, d, j->p.D2, d, 0.0f, j->dWW, g->Dr);
    tanh_bwd(j->dWW, j->WW, g->rows * g->Dr);
    const float *Xw = j->X + 4 * g->rd;
    mm(true, false, d, g->Dr, rows, 1.0f, Xw, d, j->dWW, g->Dr, 1.0f, j->gp.D1, g->Dr);
    mm(false, true, rows, d, g->Dr, 1.0f, j->dWW, g->Dr, j->p.D1, g->Dr, 0.0f, j->DX + 4 * g->rd,
       d);
}

void tm6_mix_backward(TJob *j, float *dx)
{
    const Geo *g = &j->g;
    int d = g->d, rows = (int)g->rows;
    int M5 = 5 * g->M;
    pool_for(g->rows, v6_mix_bwd_rows, j);
    for (int s = 0; s < 5; s++) {
        const float *dMS = j->DX + s * g->rd;
        colsum_add(dMS, g->rows, d, d, j->gp.mu + (size_t)s * d);
        mm(true, false, g->M, d, rows, 1.0f, j->Mt + s * g->M, M5, dMS, d, 1.0f,
           j->gp.W2 + (size_t)s * g->M * d, d);
        mm(false, true, rows, g->M, d, 1.0f, dMS, d, j->p.W2 + (size_t)s * g->M * d, d, 0.0f,
           j->dM + s * g->M, M5);
    }
    tanh_bwd(j->dM, j->Mt, g->rows * M5);
    mm(true, false, d, M5, rows, 1.0f, j->XXX, d, j->dM, M5, 1.0f, j->gp.W1, M5);
    mm(false, true, rows, d, M5, 1.0f, j->dM, M5, j->p.W1, M5, 0.0f, j->XXX, d);
    pool_for(g->rows, v6_xxx_bwd_rows, j);
    colsum_add(j->XXX, g->rows, d, d, j->gp.mu_x);
    if (dx) {
        j->dx = dx;
        pool_for(g->rows, v6_dx_rows, j);
    }
}
