/* The parts the hyena kinds are built from: the front end (in_proj, tiling, short convolution),
 * the back end (out_proj), the implicit long filter, the output gate's recompute (the gates are
 * otherwise fused into longconv.c's passes), the experts' mix, and mh-hyena's per-head core.
 * See hyena.c for how the kinds chain them. */
#include "config.h"
#include "hyena.h"

#include <string.h>

/* ---------------- front end: in_proj, tiling, short convolution ---------------- */

static void bias_rows(void *ctx, size_t c0, size_t c1, int tid)
{
    const Job *j = ctx;
    for (size_t c = c0; c < c1; c++) {
        vaddc(j->out + c * j->rows, j->P[j->m->bin + c], j->rows);
    }
}

/* sT[jc] = cb + causal conv of u[jc % Pin] with cw[jc], per sequence. */
static void short_fwd(void *ctx, size_t c0, size_t c1, int tid)
{
    const Job *j = ctx;
    const Hy *g = j->g;
    int L = j->L, K = g->K;
    for (size_t c = c0; c < c1; c++) {
        const float *w = j->P + j->m->cw + c * K, *u0 = j->uT + (c % g->Pin) * j->rows;
        float bias = j->P[j->m->cb + c];
        for (int b = 0; b < j->B; b++) {
            const float *u = u0 + (size_t)b * L;
            float *s = j->out + c * j->rows + (size_t)b * L;
            vfill(s, bias, (size_t)L);
            for (int k = 0; k < K; k++) {
                int sh = K - 1 - k;
                if (sh < L) vaxpy(w[k], u, s + sh, (size_t)(L - sh));
            }
        }
    }
}

/* Per input channel c: the gradients of the tiled channels reading it, and du[c]. */
static void short_bwd(void *ctx, size_t c0, size_t c1, int tid)
{
    const Job *j = ctx;
    const Hy *g = j->g;
    int L = j->L, K = g->K;
    for (size_t c = c0; c < c1; c++) {
        float *du0 = j->out + c * j->rows;
        memset(du0, 0, sizeof(float) * j->rows);
        for (int t = 0; t < g->tile; t++) {
            size_t jc = (size_t)t * g->Pin + c;
            const float *w = j->P + j->m->cw + jc * K;
            float *dw = j->grads + j->m->cw + jc * K;
            const float *ds0 = j->dsT + jc * j->rows;
            j->grads[j->m->cb + jc] += vsum(ds0, j->rows);
            for (int b = 0; b < j->B; b++) {
                const float *ds = ds0 + (size_t)b * L, *u = j->uT + c * j->rows + (size_t)b * L;
                float *du = du0 + (size_t)b * L;
                for (int k = 0; k < K; k++) {
                    int sh = K - 1 - k;
                    if (sh >= L) continue;
                    dw[k] += vdot(ds + sh, u, (size_t)(L - sh));
                    vaxpy(w[k], ds + sh, du, (size_t)(L - sh));
                }
            }
        }
        j->grads[j->m->bin + c] += vsum(du0, j->rows);
    }
}

void hy_front_fwd(const Hy *g, const PMap *m, Layer *l, const float *x, Dims dm, float *uT,
                  float *sT)
{
    size_t rows = (size_t)dm.B * dm.L;
    const float *P = l->params;
    mm(true, true, g->Pin, (int)rows, g->d, 1.0f, P + m->Win, g->Pin, x, g->d, 0.0f, uT, (int)rows);
    Job j = {.g = g, .P = P, .m = m, .B = dm.B, .L = dm.L, .rows = rows, .out = uT, .uT = uT};
    pool_for((size_t)g->Pin, bias_rows, &j);
    j.out = sT;
    pool_for(3 * (size_t)g->C, short_fwd, &j);
}

/* From dsT (3C x rows): parameter gradients of the front end and dx (if not NULL). */
void hy_front_bwd(const Hy *g, const PMap *m, Layer *l, const float *x, Dims dm,
                  const float *uT, const float *dsT, float *duT, float *dx)
{
    size_t rows = (size_t)dm.B * dm.L;
    Job j = {.g = g, .P = l->params, .m = m, .B = dm.B, .L = dm.L, .rows = rows, .out = duT,
             .uT = uT, .dsT = dsT, .grads = l->grads};
    pool_for((size_t)g->Pin, short_bwd, &j);
    mm(true, true, g->d, g->Pin, (int)rows, 1.0f, x, g->d, duT, (int)rows, 1.0f,
       l->grads + m->Win, g->Pin);
    if (dx)
        mm(true, true, (int)rows, g->d, g->Pin, 1.0f, duT, (int)rows, l->params + m->Win, g->Pin,
           0.0f, dx, g->d);
}

/* ---------------- back end: out_proj from channel-major gT (cin x rows) ---------------- */

typedef struct { const float *b; float *y; int d; } Fill;
static void fill_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Fill *f = ctx;
    for (size_t r = r0; r < r1; r++) memcpy(f->y + r * f->d, f->b, sizeof(float) * f->d);
}

void hy_back_fwd(const Hy *g, const PMap *m, const float *P, const float *gT, float *y,
                 size_t rows)
{
    Fill f = {P + m->bout, y, g->d};
    pool_for(rows, fill_rows, &f);
    mm(true, false, (int)rows, g->d, g->cin, 1.0f, gT, (int)rows, P + m->Wout, g->d, 1.0f, y, g->d);
}

void hy_back_bwd(const Hy *g, const PMap *m, Layer *l, const float *gT, const float *dy,
                 float *dgT, size_t rows)
{
    float *db = l->grads + m->bout;
    mm(false, false, g->cin, g->d, (int)rows, 1.0f, gT, (int)rows, dy, g->d, 1.0f,
       l->grads + m->Wout, g->d);
    colsum_add(dy, rows, g->d, g->d, db);
    mm(false, true, g->cin, (int)rows, g->d, 1.0f, l->params + m->Wout, g->d, dy, g->d, 0.0f, dgT,
       (int)rows);
}

/* ---------------- the implicit filter ---------------- */

static void sin_fwd(const float *a, const float *f, float *s, int L, int w)
{
    for (int n = 0; n < L; n++)
        for (int i = 0; i < w; i++) s[n * w + i] = sinf(f[i] * a[n * w + i]);
}

static float decay_rate(const Hy *g, int c)
{
    double lo = log(0.01) / 1.5, hi = log(0.01) / 0.3;
    double dl = g->F > 1 ? lo + (hi - lo) * c / (g->F - 1) : lo;
    return (float)fabs(dl);
}

/* hT (F x L) from the positional features; a1..a3, s1..s3 saved in fa. */
void hy_filter_fwd(const Hy *g, const PMap *m, const float *P, int L, float *fa, float *hT)
{
    int w = g->w;
    size_t blk = (size_t)L * w;
    float *a[3] = {fa, fa + blk, fa + 2 * blk}, *s[3] = {fa + 3 * blk, fa + 4 * blk, fa + 5 * blk};
    const float *in = P + m->z, *W[3] = {P + m->W1, P + m->W2, P + m->W3},
                *bb[3] = {P + m->b1, P + m->b2, P + m->b3};
    int nin = 3;
    for (int i = 0; i < 3; i++) {
        for (int n = 0; n < L; n++) memcpy(a[i] + (size_t)n * w, bb[i], sizeof(float) * w);
        mm1(false, false, L, w, nin, 1.0f, in, nin, W[i], w, 1.0f, a[i], w);
        sin_fwd(a[i], P + m->f, s[i], L, w);
        in = s[i], nin = w;
    }
    mm1(true, true, g->F, L, w, 1.0f, P + m->W4, g->F, s[2], w, 0.0f, hT, L);
    float den = g->Lmax > 1 ? (float)(g->Lmax - 1) : 1.0f;
    for (int c = 0; c < g->F; c++) {
        float rate = decay_rate(g, c), *h = hT + (size_t)c * L;
        for (int n = 0; n < L; n++) h[n] *= expf(-(float)n / den * rate);
    }
}

/* Gradients of the filter's parameters from dhT (F x L, overwritten). */
void hy_filter_bwd(const Hy *g, const PMap *m, Layer *l, int L, const float *fa, float *dhT,
                   float *fb)
{
    int w = g->w;
    size_t blk = (size_t)L * w;
    const float *P = l->params;
    float *G = l->grads;
    const float *a[3] = {fa, fa + blk, fa + 2 * blk}, *s[3] = {fa + 3 * blk, fa + 4 * blk, fa + 5 * blk};
    float den = g->Lmax > 1 ? (float)(g->Lmax - 1) : 1.0f;
    for (int c = 0; c < g->F; c++) {
        float rate = decay_rate(g, c), *h = dhT + (size_t)c * L;
        for (int n = 0; n < L; n++) h[n] *= expf(-(float)n / den * rate);
    }
    float *ds = fb, *da = fb + r16(blk);
    mm1(true, true, w, g->F, L, 1.0f, s[2], w, dhT, L, 1.0f, G + m->W4, g->F);
    mm1(true, true, L, w, g->F, 1.0f, dhT, L, P + m->W4, g->F, 0.0f, ds, w);
    const float *f = P + m->f;
    size_t Wo[3] = {m->W1, m->W2, m->W3}, bo[3] = {m->b1, m->b2, m->b3};
    for (int i = 2; i >= 0; i--) {
        for (int n = 0; n < L; n++)
            for (int q = 0; q < w; q++) {
                size_t e = (size_t)n * w + q;
                float cs = cosf(f[q] * a[i][e]);
                G[m->f + q] += ds[e] * a[i][e] * cs;
                da[e] = ds[e] * f[q] * cs;
            }
        for (int n = 0; n < L; n++)
            for (int q = 0; q < w; q++) G[bo[i] + q] += da[(size_t)n * w + q];
        int nin = i ? w : 3;
        const float *in = i ? s[i - 1] : P + m->z;
        mm1(true, false, nin, w, L, 1.0f, in, nin, da, w, 1.0f, G + Wo[i], w);
        if (i) mm1(false, true, L, w, w, 1.0f, da, w, P + Wo[i], w, 0.0f, ds, w);
        else mm1(false, true, L, 3, w, 1.0f, da, w, P + Wo[0], w, 1.0f, G + m->z, 3);
    }
}

/* ---------------- the output gate, recomputed for the backward ---------------- */

typedef struct {
    const float *a, *b;
    float *o;
    size_t rows;
} Gate;

static void mul_ch(void *ctx, size_t c0, size_t c1, int tid)
{
    const Gate *q = ctx;
    size_t o = c0 * q->rows;
    vmul(q->a + o, q->b + o, q->o + o, (c1 - c0) * q->rows);
}

void hy_gate(const float *a, const float *b, float *o, int nc, size_t rows)
{
    Gate q = {.a = a, .b = b, .o = o, .rows = rows};
    pool_for((size_t)nc, mul_ch, &q);
}

/* ---------------- experts: the router's mix of channel groups ---------------- */

/* pT (E x rows): the weight of expert e at row r, from p (rows x ks: all E in order for the
 * reference routing; the k selected, named by idx, for topk) */
void hy_weights_by_expert(const float *p, const int32_t *idx, size_t rows, int E, int ks,
                          float *pT)
{
    if (idx) memset(pT, 0, sizeof(float) * E * rows);
    for (size_t r = 0; r < rows; r++)
        for (int q = 0; q < ks; q++) pT[(size_t)(idx ? idx[r * ks + q] : q) * rows + r] = p[r * ks + q];
}

/* oT[i] = sum_e pT[e] * gT[i*E + e], along rows */
void hy_mix_fwd(void *ctx, size_t i0, size_t i1, int tid)
{
    const Job *j = ctx;
    const Hy *g = j->g;
    for (size_t i = i0; i < i1; i++) {
        float *o = j->out + i * j->rows;
        const float *g0 = j->gT + i * g->E * j->rows;
        vmul(j->pT, g0, o, j->rows);
        for (int e = 1; e < g->E; e++)
            vfma3(o, j->pT + (size_t)e * j->rows, g0 + (size_t)e * j->rows, j->rows);
    }
}

/* dgT[i*E + e] = pT[e] * doT[i] (j->a = doT) */
void hy_mix_bwd_g(void *ctx, size_t i0, size_t i1, int tid)
{
    const Job *j = ctx;
    const Hy *g = j->g;
    for (size_t i = i0; i < i1; i++)
        for (int e = 0; e < g->E; e++)
            vmul(j->pT + (size_t)e * j->rows, j->a + i * j->rows, j->out + (i * g->E + e) * j->rows,
                 j->rows);
}

/* dpT[e] = sum_i doT[i] * gT[i*E + e], along rows (j->a = doT, j->out = dpT) */
void hy_mix_bwd_p(void *ctx, size_t e0, size_t e1, int tid)
{
    const Job *j = ctx;
    const Hy *g = j->g;
    for (size_t e = e0; e < e1; e++) {
        float *o = j->out + e * j->rows;
        vmul(j->a, j->gT + e * j->rows, o, j->rows);
        for (int i = 1; i < g->inner; i++)
            vfma3(o, j->a + (size_t)i * j->rows, j->gT + ((size_t)i * g->E + e) * j->rows, j->rows);
    }
}

/* dp (rows x ks) from dpT: the selected experts' entries */
void hy_dp_by_slot(const float *dpT, const int32_t *idx, size_t rows, int ks, float *dp)
{
    for (size_t r = 0; r < rows; r++)
        for (int q = 0; q < ks; q++) dp[r * ks + q] = dpT[(size_t)(idx ? idx[r * ks + q] : q) * rows + r];
}

/* ---------------- mh-hyena core: per (sequence, head) blocks of HY_QB queries ---------------- */

/* A = S * M with M[t][tau] = h[t - tau] (+ D on the diagonal) for tau <= t, else 0. hr is h
 * reversed (hr[L-1-n] = h[n]), so that row t reads it forwards from L-1-t. */
static void apply_mask(float *A, const float *S, int nq, int nk, int t0, const float *hr, int L,
                       float D)
{
    for (int i = 0; i < nq; i++) {
        int t = t0 + i;
        const float *s = S + (size_t)i * nk;
        float *a = A + (size_t)i * nk;
        vmul(s, hr + (L - 1 - t), a, (size_t)t + 1);
        a[t] += s[t] * D;
        vfill(a + t + 1, 0.0f, (size_t)(nk - t - 1));
    }
}

/* hr (F x L): each filter reversed. */
void hy_reverse_filters(const float *hT, float *hr, int F, int L)
{
    for (int c = 0; c < F; c++)
        for (int n = 0; n < L; n++) hr[(size_t)c * L + L - 1 - n] = hT[(size_t)c * L + n];
}

void hy_mh_pair_fwd(void *ctx, size_t p0, size_t p1, int tid)
{
    const MhJob *j = ctx;
    const Hy *g = j->g;
    int L = j->L, hs = g->hs, R = (int)j->rows;
    float *S = j->work + (size_t)tid * j->slot, *A = S + (size_t)HY_QB * L;
    for (size_t pr = p0; pr < p1; pr++) {
        int b = (int)(pr / g->G), hd = (int)(pr % g->G);
        size_t off = (size_t)hd * hs * j->rows + (size_t)b * L;
        const float *QT = j->sT + off, *KT = QT + (size_t)g->C * j->rows,
                    *VT = KT + (size_t)g->C * j->rows;
        float *OT = j->oT + off;
        for (int t0 = 0; t0 < L; t0 += HY_QB) {
            int nq = L - t0 < HY_QB ? L - t0 : HY_QB, nk = t0 + nq;
            mm1(true, false, nq, nk, hs, 1.0f, QT + t0, R, KT, R, 0.0f, S, nk);
            apply_mask(A, S, nq, nk, t0, j->hT + (size_t)hd * L, L, j->D[hd]);
            mm1(false, true, hs, nq, nk, 1.0f, VT, R, A, nk, 0.0f, OT + t0, R);
        }
    }
}

void hy_mh_pair_bwd(void *ctx, size_t p0, size_t p1, int tid)
{
    const MhJob *j = ctx;
    const Hy *g = j->g;
    int L = j->L, hs = g->hs, R = (int)j->rows;
    float *S = j->work + (size_t)tid * j->slot, *A = S + (size_t)HY_QB * L, *dA = A + (size_t)HY_QB * L;
    for (size_t pr = p0; pr < p1; pr++) {
        int b = (int)(pr / g->G), hd = (int)(pr % g->G);
        size_t off = (size_t)hd * hs * j->rows + (size_t)b * L, cs = (size_t)g->C * j->rows;
        const float *QT = j->sT + off, *KT = QT + cs, *VT = KT + cs, *dOT = j->doT + off;
        float *dQT = j->dsT + off, *dKT = dQT + cs, *dVT = dKT + cs;
        const float *hr = j->hT + (size_t)hd * L;
        float D = j->D[hd], *dh = j->dhp + pr * L; /* reversed, as hr */
        memset(dh, 0, sizeof(float) * L);
        for (int c = 0; c < hs; c++) {
            memset(dKT + (size_t)c * j->rows, 0, sizeof(float) * L);
            memset(dVT + (size_t)c * j->rows, 0, sizeof(float) * L);
        }
        for (int t0 = 0; t0 < L; t0 += HY_QB) {
            int nq = L - t0 < HY_QB ? L - t0 : HY_QB, nk = t0 + nq;
            mm1(true, false, nq, nk, hs, 1.0f, QT + t0, R, KT, R, 0.0f, S, nk);
            apply_mask(A, S, nq, nk, t0, hr, L, D);
            mm1(true, false, nq, nk, hs, 1.0f, dOT + t0, R, VT, R, 0.0f, dA, nk);
            mm1(false, false, hs, nk, nq, 1.0f, dOT + t0, R, A, nk, 1.0f, dVT, R);
            for (int i = 0; i < nq; i++) { /* filter gradient by lag; dS = dA * M in place */
                int t = t0 + i;
                const float *s = S + (size_t)i * nk;
                float *da = dA + (size_t)i * nk;
                vfma3(dh + (L - 1 - t), da, s, (size_t)t + 1);
                float dd = da[t];
                vmul_in(da, hr + (L - 1 - t), (size_t)t + 1);
                da[t] += dd * D;
                vfill(da + t + 1, 0.0f, (size_t)(nk - t - 1));
            }
            mm1(false, true, hs, nq, nk, 1.0f, KT, R, dA, nk, 0.0f, dQT + t0, R);
            mm1(false, false, hs, nk, nq, 1.0f, QT + t0, R, dA, nk, 1.0f, dKT, R);
        }
    }
}
