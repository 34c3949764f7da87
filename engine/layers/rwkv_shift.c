/* RWKV's linear token shift: each mixed input is a per-channel blend of a row and the row
 * before it (rwkv.h). The RWKV-5 time mixer and both channel mixers use it. */
#include "config.h"
#include "rwkv.h"

#include <string.h>

static void mix_fwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const RwkvMix *m = ctx;
    int d = m->d;
    (void)tid;
    for (size_t r = r0; r < r1; r++) {
        const float *x = m->x + r * d, *xs = r % (size_t)m->L ? x - d : NULL;
        for (int s = 0; s < m->n; s++) {
            const float *a = m->alpha + (size_t)s * d;
            float *X = m->X + s * m->stride + r * d;
            if (xs)
                for (int c = 0; c < d; c++) X[c] = xs[c] + (x[c] - xs[c]) * a[c];
            else
                for (int c = 0; c < d; c++) X[c] = x[c] * a[c];
        }
    }
}

static void mix_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const RwkvMix *m = ctx;
    int d = m->d;
    float *part = m->part + (size_t)tid * m->pstride;
    for (size_t r = r0; r < r1; r++) {
        int t = (int)(r % (size_t)m->L);
        const float *x = m->x + r * d, *xs = t ? x - d : NULL;
        float *dx = m->dx + r * d;
        memset(dx, 0, sizeof(float) * d);
        for (int s = 0; s < m->n; s++) {
            const float *a = m->alpha + (size_t)s * d, *dX = m->dX + s * m->stride + r * d;
            float *da = part + (size_t)s * d;
            for (int c = 0; c < d; c++) dx[c] = FMA(dX[c], a[c], dx[c]);
            if (t + 1 < m->L)
                for (int c = 0; c < d; c++) dx[c] = FMA(dX[c + d], 1.0f - a[c], dx[c]);
            if (xs)
                for (int c = 0; c < d; c++) da[c] = FMA(dX[c], x[c] - xs[c], da[c]);
            else
                for (int c = 0; c < d; c++) da[c] = FMA(dX[c], x[c], da[c]);
        }
    }
}

void rwkv_mix_forward(const RwkvMix *m) { pool_for(m->rows, mix_fwd_rows, (void *)m); }
void rwkv_mix_backward(const RwkvMix *m) { pool_for_bands(m->rows, mix_bwd_rows, (void *)m); }
