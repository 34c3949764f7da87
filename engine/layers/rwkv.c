/* RWKV-5 and RWKV-6 time mixers and channel mixers, in float32 (the reference runs bf16 CUDA
 * kernels; n_layer = 1 and layer_id = 0 fix its init ratios).
 *
 * Time mixer, per head of 16 channels (the last head takes what is left of the width):
 *   token shift xs_t = x_{t-1} (0 at t = 0); mixed inputs x_s for s in r, k, v, g (and w, RWKV-6)
 *     RWKV-5: x_s = x mu_s + xs (1 - mu_s)
 *     RWKV-6: xx = xs - x;  m = tanh((x + xx mu_x) W1) W2 (five low-rank blocks);
 *             x_s = x + xx (mu_s + m_s)
 *   r, k, v = x_s W_s;  g = silu(x_g W_g)
 *   decay w = exp(-exp(decay)) per channel (RWKV-5), or per token
 *     w_t = exp(-exp(decay + tanh(x_w D1) D2)) (RWKV-6)
 *   WKV: y_t = r_t (S + diag(u) k_t^T v_t),  S <- diag(w_t) S + k_t^T v_t  (16 x 16 per head)
 *   out = (GroupNorm(y) * g) W_o, one group per head.
 * RWKV-5 normalises y / 8 with eps 1e-5 and RWKV-6 y with eps 64e-5: the same function, so both
 * use GroupNorm(y) with eps 64e-5.
 *
 * Channel mixer: sigmoid(x_r W_r) * (relu(x_k W_k)^2 W_v), x_k and x_r token-shift mixed (RWKV-5
 * x mu + xs (1 - mu), RWKV-6 x + (xs - x) mu), inner width 4 x width.
 *
 * The projections are sgemms over all B*L rows; the WKV recurrence is a scan per (sequence,
 * head) over the pool, the 16 x 16 state in cache. Forward stores the state every CH steps; the
 * backward walks the checkpoints in reverse, recomputes the CH states of a chunk, and runs the
 * chunk in reverse time with the adjoint state. Per-token gradients of u and the log-decay are
 * written out and summed over rows afterwards, so no two tasks write the same place. */
#include "config.h"
#include "internal.h"
#include "recurrent.h"

#include <string.h>

#define HS 16 /* head size */
#define CH 16 /* steps between stored states */
#define GN_EPS 64e-5f

static size_t r16(size_t n) { return round_up(n, ML_ALIGN_FLOATS); }
static int n_heads(int d) { return (d + HS - 1) / HS; }
static int head_size(int d, int h) { return d - h * HS < HS ? d - h * HS : HS; }

/* ---------------- shared helpers ---------------- */

/* Linear token-shift mixing: X_s = x alpha_s + xs (1 - alpha_s), s < n, and its backward:
 * dx[t] = sum_s dX_s[t] alpha_s + dX_s[t+1] (1 - alpha_s); dalpha_s += dX_s (x - xs), per thread. */
typedef struct {
    const float *x, *alpha, *dX;
    float *X, *dx, *part; /* part: per-thread n x d partial sums of dalpha */
    size_t rows, stride, pstride; /* stride: floats between the n blocks of X and dX */
    int n, d, L;
} Mix;

static void mix_fwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Mix *m = ctx;
    int d = m->d;
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
    const Mix *m = ctx;
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

/* ---------------- time mixers ---------------- */

enum { K_MIXR, K_DECR };
static const KnobDesc rwkv6_knobs[] = {
    {"mix_rank", 32, 1, 1024, "rank of the data-dependent token-shift mixing", NULL},
    {"decay_rank", 64, 1, 1024, "rank of the data-dependent decay", NULL},
};

typedef struct {
    int B, L, d, H, M, Dr, ns; /* ns: mixed inputs, 4 (r k v g) or 5 (+ w) */
    bool v6;
    size_t rows, rd;
    int nch; /* stored states per (sequence, head) */
} Geo;

static Geo geo(const Layer *l, const LayerCfg *c, Dims dm, bool v6)
{
    (void)l;
    Geo g;
    g.B = dm.B;
    g.L = dm.L;
    g.d = c->width;
    g.H = n_heads(g.d);
    g.v6 = v6;
    g.M = v6 ? c->knob[K_MIXR] : 0;
    g.Dr = v6 ? c->knob[K_DECR] : 0;
    g.ns = v6 ? 5 : 4;
    g.rows = (size_t)g.B * g.L;
    g.rd = r16(g.rows * g.d);
    g.nch = (g.L + CH - 1) / CH;
    return g;
}

/* Parameters. mu: ns blocks of d in the order r, k, v, g (, w); W: r, k, v, g (d x d each).
 * RWKV-6 adds mu_x, W1 (d x 5M, blocks in the order of mu), W2 (5 blocks of M x d), D1 (d x Dr),
 * D2 (Dr x d). */
typedef struct { float *mu_x, *mu, *W1, *W2, *D1, *D2, *W, *decay, *u, *gnw, *gnb, *Wo; } TP;

static TP tp_at(float *p, const Geo *g)
{
    size_t d = (size_t)g->d;
    TP q = {0};
    if (g->v6) q.mu_x = p, p += d;
    q.mu = p, p += (size_t)g->ns * d;
    if (g->v6) {
        q.W1 = p, p += d * 5 * g->M;
        q.W2 = p, p += (size_t)5 * g->M * d;
        q.D1 = p, p += d * g->Dr;
        q.D2 = p, p += (size_t)g->Dr * d;
    }
    q.W = p, p += 4 * d * d;
    q.decay = p, p += d;
    q.u = p, p += d;
    q.gnw = p, p += d;
    q.gnb = p, p += d;
    q.Wo = p, p += d * d;
    return q;
}

static size_t tp_size(const Geo *g)
{
    size_t d = (size_t)g->d, n = (size_t)g->ns * d + 4 * d * d + 4 * d + d * d;
    if (g->v6) n += d + 2 * d * 5 * g->M + 2 * d * g->Dr;
    return n;
}

/* acts: RKVG (4 blocks of rows x d; G before silu), Y (WKV output), stats (rows x H: mean and
 * rstd), states (B x H x nch x 256); RWKV-6: M (rows x 5M, after tanh), MS (5 blocks of rows x
 * d), WW (rows x Dr, after tanh), LW (rows x d, log of the decay). */
typedef struct { size_t rkvg, y, stats, ck, m, ms, ww, lw, total; } TAct;

static TAct tact(const Geo *g)
{
    TAct a = {0};
    size_t o = 0;
    a.rkvg = o, o += 4 * g->rd;
    a.y = o, o += g->rd;
    a.stats = o, o += r16(g->rows * g->H * 2);
    a.ck = o, o += (size_t)g->B * g->H * g->nch * HS * HS;
    if (g->v6) {
        a.m = o, o += r16(g->rows * 5 * g->M);
        a.ms = o, o += 5 * g->rd;
        a.ww = o, o += r16(g->rows * g->Dr);
        a.lw = o, o += g->rd;
    }
    a.total = o;
    return a;
}

/* scratch: X (ns blocks: mixed inputs), DX (ns blocks), D4 (dR, dK, dV, dG), O (gate output,
 * then its gradient), DY, DLW, DU (per-token gradients), lw5 (d: RWKV-5 log decay), tmp (d),
 * alpha (4 x d), parts (per thread 8 x d); RWKV-6: XX, XXX, DXX, DXD (rows x d), dM (rows x 5M),
 * dWW (rows x Dr). */
typedef struct { size_t X, DX, D4, O, DY, DLW, DU, lw5, tmp, parts, XX, XXX, DXX, DXD, dM, dWW, total; } TScr;

static TScr tscr(const Geo *g)
{
    TScr s = {0};
    size_t o = 0, d16 = r16((size_t)g->d);
    s.X = o, o += (size_t)g->ns * g->rd;
    s.DX = o, o += (size_t)g->ns * g->rd;
    s.D4 = o, o += 4 * g->rd;
    s.O = o, o += g->rd;
    s.DY = o, o += g->rd;
    s.DLW = o, o += g->rd;
    s.DU = o, o += g->rd;
    s.lw5 = o, o += d16;
    s.tmp = o, o += d16;
    s.parts = o, o += (size_t)ML_MAX_THREADS * 8 * d16;
    if (g->v6) {
        s.XX = o, o += g->rd;
        s.XXX = o, o += g->rd;
        s.DXX = o, o += g->rd;
        s.DXD = o, o += g->rd;
        s.dM = o, o += r16(g->rows * 5 * g->M);
        s.dWW = o, o += r16(g->rows * g->Dr);
    }
    s.total = o;
    return s;
}

static size_t tm5_params(const LayerCfg *c)
{
    Geo g = geo(NULL, c, (Dims){1, 1, NULL}, false);
    return tp_size(&g);
}
static size_t tm6_params(const LayerCfg *c)
{
    Geo g = geo(NULL, c, (Dims){1, 1, NULL}, true);
    return tp_size(&g);
}
static size_t tm5_acts(const LayerCfg *c, Dims d) { Geo g = geo(NULL, c, d, false); return tact(&g).total; }
static size_t tm6_acts(const LayerCfg *c, Dims d) { Geo g = geo(NULL, c, d, true); return tact(&g).total; }
static size_t tm5_scr(const LayerCfg *c, Dims d) { Geo g = geo(NULL, c, d, false); return tscr(&g).total; }
static size_t tm6_scr(const LayerCfg *c, Dims d) { Geo g = geo(NULL, c, d, true); return tscr(&g).total; }

/* heads x 16 x 16 (the last head hs x hs when 16 does not divide the width) */
static double tm_state(const LayerCfg *c, int L)
{
    (void)L;
    double s = 0;
    for (int h = 0; h < n_heads(c->width); h++) s += (double)head_size(c->width, h) * head_size(c->width, h);
    return s;
}

static double tm_flops_common(const LayerCfg *c)
{
    double d = c->width;
    double proj = 2.0 * 5 * d * d;   /* r, k, v, g, out */
    double wkv = 6.0 * HS * d;       /* per channel row of the state: y, u-term, update */
    double rest = 10.0 * d + 5 * d;  /* GroupNorm and gate */
    return proj + wkv + rest;
}
static double tm5_flops(const LayerCfg *c, int L)
{
    return L * (tm_flops_common(c) + 3.0 * 4 * c->width);
}
static double tm6_flops(const LayerCfg *c, int L)
{
    double d = c->width, M = c->knob[K_MIXR], Dr = c->knob[K_DECR];
    double lora = 2.0 * d * 5 * M + 2.0 * 5 * M * d + 2.0 * d * Dr + 2.0 * Dr * d;
    double mix = 3.0 * d + 4.0 * 5 * d + 5 * M + Dr + 3.0 * d; /* xx, x_s, tanh, decay exp */
    return L * (tm_flops_common(c) + lora + mix);
}

static void tm_init(Layer *l, Rng *r, bool v6)
{
    Geo g = geo(l, &l->cfg, (Dims){1, 1, NULL}, v6);
    TP p = tp_at(l->params, &g);
    int d = g.d;
    for (int i = 0; i < d; i++) {
        double ddd = (double)i / d;                       /* i / width */
        double dn = d > 1 ? (double)i / (d - 1) : 0.0;     /* n / (dim_att - 1) */
        float lin = (float)ddd, sq = (float)sqrt(ddd);
        if (v6) { /* 1 - ddd^1, and 1 - ddd^0.5 for r and g */
            p.mu_x[i] = 1.0f - lin;
            p.mu[0 * d + i] = 1.0f - sq;  /* r */
            p.mu[1 * d + i] = 1.0f - lin; /* k */
            p.mu[2 * d + i] = 1.0f - lin; /* v */
            p.mu[3 * d + i] = 1.0f - sq;  /* g */
            p.mu[4 * d + i] = 1.0f - lin; /* w */
        } else {
            p.mu[0 * d + i] = sq;
            p.mu[1 * d + i] = lin;
            p.mu[2 * d + i] = lin;
            p.mu[3 * d + i] = sq;
        }
        p.decay[i] = (float)(-6.0 + 5.0 * pow(dn, 0.7));
        p.u[i] = (float)(((i + 1) % 3 - 1) * 0.1);
    }
    if (v6) {
        /* the spec's U(+-1e-4) for the mixing low-rank maps; the decay's low-rank maps are not
         * given there and take the same (a choice, see madlab(1)) */
        init_uniform(p.W1, (size_t)d * 5 * g.M, 1e-4f, r);
        init_uniform(p.W2, (size_t)5 * g.M * d, 1e-4f, r);
        init_uniform(p.D1, (size_t)d * g.Dr, 1e-4f, r);
        init_uniform(p.D2, (size_t)g.Dr * d, 1e-4f, r);
    }
    init_uniform(p.W, 4 * (size_t)d * d, 1.0f / sqrtf((float)d), r);
    init_const(p.gnw, (size_t)d, 1.0f);
    init_const(p.gnb, (size_t)d, 0.0f);
    init_uniform(p.Wo, (size_t)d * d, 1.0f / sqrtf((float)d), r);
}
static void tm5_init(Layer *l, Rng *r) { tm_init(l, r, false); }
static void tm6_init(Layer *l, Rng *r) { tm_init(l, r, true); }

/* Everything one call of a time mixer touches. */
typedef struct {
    Geo g;
    TP p, gp;
    const float *x;
    float *R, *K, *V, *G, *Y, *stats, *ck, *Mt, *MS, *WW, *LW;
    float *X, *DX, *D4, *O, *DY, *DLW, *DU, *lw5, *tmp, *parts, *XX, *XXX, *DXX, *DXD, *dM, *dWW;
    float *dx;
    const float *lw; /* log decay: LW (per token) or lw5 (per channel) */
    size_t lws;      /* its row stride: d or 0 */
} TJob;

static TJob tjob(Layer *l, const float *x, Dims dm, bool v6)
{
    TJob j;
    memset(&j, 0, sizeof j);
    j.g = geo(l, &l->cfg, dm, v6);
    const Geo *g = &j.g;
    TAct a = tact(g);
    TScr s = tscr(g);
    j.p = tp_at(l->params, g);
    j.gp = tp_at(l->grads, g);
    j.x = x;
    float *A = l->acts, *S = l->scratch;
    j.R = A + a.rkvg, j.K = j.R + g->rd, j.V = j.K + g->rd, j.G = j.V + g->rd;
    j.Y = A + a.y, j.stats = A + a.stats, j.ck = A + a.ck;
    j.X = S + s.X, j.DX = S + s.DX, j.D4 = S + s.D4, j.O = S + s.O, j.DY = S + s.DY;
    j.DLW = S + s.DLW, j.DU = S + s.DU, j.lw5 = S + s.lw5, j.tmp = S + s.tmp, j.parts = S + s.parts;
    if (v6) {
        j.Mt = A + a.m, j.MS = A + a.ms, j.WW = A + a.ww, j.LW = A + a.lw;
        j.XX = S + s.XX, j.XXX = S + s.XXX, j.DXX = S + s.DXX, j.DXD = S + s.DXD;
        j.dM = S + s.dM, j.dWW = S + s.dWW;
        j.lw = j.LW, j.lws = (size_t)g->d;
    } else {
        for (int c = 0; c < g->d; c++) j.lw5[c] = -expf(j.p.decay[c]);
        j.lw = j.lw5, j.lws = 0;
    }
    return j;
}

/* -- RWKV-6 mixing passes -- */

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

/* Fills X (the mixed inputs) from x: RWKV-5 directly; RWKV-6 through the low-rank mixing, which
 * also (re)computes XX and XXX and, when fresh, M, MS, WW and LW. */
static void tm_mix_forward(TJob *j, bool fresh)
{
    const Geo *g = &j->g;
    int d = g->d, rows = (int)g->rows;
    if (!g->v6) {
        Mix m = {.x = j->x, .alpha = j->p.mu, .X = j->X, .rows = g->rows, .stride = g->rd,
                 .n = 4, .d = d, .L = g->L};
        pool_for(g->rows, mix_fwd_rows, &m);
        return;
    }
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

/* -- WKV scan -- */

static void wkv_fwd_pairs(void *ctx, size_t p0, size_t p1, int tid)
{
    const TJob *j = ctx;
    const Geo *g = &j->g;
    int d = g->d;
    for (size_t p = p0; p < p1; p++) {
        int b = (int)(p / g->H), h = (int)(p % g->H), c0 = h * HS, hs = head_size(d, h);
        float S[HS][HS], uu[HS] = {0};
        memset(S, 0, sizeof S);
        for (int i = 0; i < hs; i++) uu[i] = j->p.u[c0 + i];
        float *ck = j->ck + p * g->nch * HS * HS;
        for (int t = 0; t < g->L; t++) {
            size_t row = (size_t)b * g->L + t, o = row * d + c0;
            if (t % CH == 0) memcpy(ck + (size_t)(t / CH) * HS * HS, S, sizeof S);
            float r[HS] = {0}, k[HS] = {0}, v[HS] = {0}, w[HS] = {0}, y[HS] = {0};
            const float *lw = j->lw + row * j->lws + c0;
            for (int i = 0; i < hs; i++) {
                r[i] = j->R[o + i], k[i] = j->K[o + i], v[i] = j->V[o + i];
                w[i] = fast_expf(lw[i]);
            }
            for (int i = 0; i < HS; i++) {
                float ri = r[i], a = ri * uu[i] * k[i], ki = k[i], wi = w[i];
                for (int c = 0; c < HS; c++) y[c] = FMA(ri, S[i][c], FMA(a, v[c], y[c]));
                for (int c = 0; c < HS; c++) S[i][c] = FMA(wi, S[i][c], ki * v[c]);
            }
            for (int c = 0; c < hs; c++) j->Y[o + c] = y[c];
        }
    }
}

/* Reverse time. With A the adjoint of the state after step t (from later steps):
 *   dr_t = S_{t-1} dy_t + u k_t (v_t . dy_t)        dk_t = A v_t + r_t u (v_t . dy_t)
 *   dv_t = A^T k_t + dy_t (r_t . u k_t)             d(log w_t) = w_t rowsum(A * S_{t-1})
 *   du  += r_t k_t (v_t . dy_t)                     A <- diag(w_t) A + r_t^T dy_t */
static void wkv_bwd_pairs(void *ctx, size_t p0, size_t p1, int tid)
{
    const TJob *j = ctx;
    const Geo *g = &j->g;
    int d = g->d;
    float *dR = j->D4, *dK = dR + g->rd, *dV = dK + g->rd;
    for (size_t p = p0; p < p1; p++) {
        int b = (int)(p / g->H), h = (int)(p % g->H), c0 = h * HS, hs = head_size(d, h);
        float Adj[HS][HS], Sb[CH][HS][HS], uu[HS] = {0};
        memset(Adj, 0, sizeof Adj);
        for (int i = 0; i < hs; i++) uu[i] = j->p.u[c0 + i];
        const float *ck = j->ck + p * g->nch * HS * HS;
        for (int c = g->nch - 1; c >= 0; c--) {
            int t0 = c * CH, t1 = t0 + CH < g->L ? t0 + CH : g->L;
            float S[HS][HS];
            memcpy(S, ck + (size_t)c * HS * HS, sizeof S);
            for (int t = t0; t < t1; t++) {
                size_t row = (size_t)b * g->L + t, o = row * d + c0;
                const float *lw = j->lw + row * j->lws + c0;
                float k[HS] = {0}, v[HS] = {0}, w[HS] = {0};
                for (int i = 0; i < hs; i++) k[i] = j->K[o + i], v[i] = j->V[o + i], w[i] = fast_expf(lw[i]);
                memcpy(Sb[t - t0], S, sizeof S);
                for (int i = 0; i < HS; i++)
                    for (int q = 0; q < HS; q++) S[i][q] = FMA(w[i], S[i][q], k[i] * v[q]);
            }
            for (int t = t1 - 1; t >= t0; t--) {
                size_t row = (size_t)b * g->L + t, o = row * d + c0;
                const float *lw = j->lw + row * j->lws + c0;
                float r[HS] = {0}, k[HS] = {0}, v[HS] = {0}, w[HS] = {0}, dy[HS] = {0}, dv[HS] = {0};
                for (int i = 0; i < hs; i++) {
                    r[i] = j->R[o + i], k[i] = j->K[o + i], v[i] = j->V[o + i];
                    w[i] = fast_expf(lw[i]);
                    dy[i] = j->DY[o + i];
                }
                float vdy = 0.0f, ruk = 0.0f;
                for (int i = 0; i < HS; i++) vdy = FMA(v[i], dy[i], vdy), ruk = FMA(r[i] * uu[i], k[i], ruk);
                float (*Sp)[HS] = Sb[t - t0];
                for (int i = 0; i < hs; i++) {
                    float sdy = 0.0f, av = 0.0f, as = 0.0f;
                    for (int q = 0; q < HS; q++) {
                        sdy = FMA(Sp[i][q], dy[q], sdy);
                        av = FMA(Adj[i][q], v[q], av);
                        as = FMA(Adj[i][q], Sp[i][q], as);
                    }
                    dR[o + i] = FMA(uu[i] * k[i], vdy, sdy);
                    dK[o + i] = FMA(r[i] * uu[i], vdy, av);
                    j->DLW[o + i] = w[i] * as;
                    j->DU[o + i] = r[i] * k[i] * vdy;
                }
                for (int i = 0; i < HS; i++) {
                    float ki = k[i], wi = w[i], ri = r[i];
                    for (int q = 0; q < HS; q++) {
                        dv[q] = FMA(Adj[i][q], ki, dv[q]);
                        Adj[i][q] = FMA(wi, Adj[i][q], ri * dy[q]);
                    }
                }
                for (int q = 0; q < hs; q++) dV[o + q] = FMA(dy[q], ruk, dv[q]);
            }
        }
    }
}

/* -- GroupNorm and gate -- */

/* O = (GroupNorm(Y) w + b) * silu(G); with fresh, stores each group's mean and rstd. */
static void gn_gate_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    const Geo *g = &j->g;
    int d = g->d;
    for (size_t r = r0; r < r1; r++) {
        const float *y = j->Y + r * d, *gr = j->G + r * d;
        float *o = j->O + r * d, *st = j->stats + r * g->H * 2;
        for (int h = 0; h < g->H; h++) {
            int c0 = h * HS, hs = head_size(d, h);
            float mean = 0.0f, var = 0.0f;
            for (int c = c0; c < c0 + hs; c++) mean += y[c];
            mean /= hs;
            for (int c = c0; c < c0 + hs; c++) var += (y[c] - mean) * (y[c] - mean);
            float rstd = 1.0f / sqrtf(var / hs + GN_EPS);
            st[2 * h] = mean, st[2 * h + 1] = rstd;
            for (int c = c0; c < c0 + hs; c++) {
                float yn = FMA((y[c] - mean) * rstd, j->p.gnw[c], j->p.gnb[c]);
                o[c] = yn * gr[c] / (1.0f + fast_expf(-gr[c]));
            }
        }
    }
}

/* From dO (in O): dG into D4[3], dY into DY; GroupNorm weight and bias gradients per thread. */
static void gn_gate_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const TJob *j = ctx;
    const Geo *g = &j->g;
    int d = g->d;
    float *dw = j->parts + (size_t)tid * 8 * r16((size_t)d), *db = dw + r16((size_t)d);
    for (size_t r = r0; r < r1; r++) {
        const float *y = j->Y + r * d, *gr = j->G + r * d, *dO = j->O + r * d;
        const float *st = j->stats + r * g->H * 2;
        float *dG = j->D4 + 3 * g->rd + r * d, *dY = j->DY + r * d;
        for (int h = 0; h < g->H; h++) {
            int c0 = h * HS, hs = head_size(d, h);
            float mean = st[2 * h], rstd = st[2 * h + 1], s1 = 0.0f, s2 = 0.0f;
            float dyh[HS], yh[HS];
            for (int c = c0; c < c0 + hs; c++) {
                float s = 1.0f / (1.0f + fast_expf(-gr[c]));
                float xh = (y[c] - mean) * rstd, yn = FMA(xh, j->p.gnw[c], j->p.gnb[c]);
                dG[c] = dO[c] * yn * s * (1.0f + gr[c] * (1.0f - s));
                float dyn = dO[c] * gr[c] * s;
                dw[c] = FMA(dyn, xh, dw[c]);
                db[c] += dyn;
                dyh[c - c0] = dyn * j->p.gnw[c];
                yh[c - c0] = xh;
                s1 += dyh[c - c0];
                s2 = FMA(dyh[c - c0], xh, s2);
            }
            s1 /= hs, s2 /= hs;
            for (int c = 0; c < hs; c++) dY[c0 + c] = rstd * (dyh[c] - s1 - yh[c] * s2);
        }
    }
}

/* -- RWKV-6 mixing backward -- */

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

/* -- forward and backward -- */

static void tm_forward(Layer *l, const float *x, float *y, Dims dm, bool v6)
{
    TJob j = tjob(l, x, dm, v6);
    const Geo *g = &j.g;
    int d = g->d, rows = (int)g->rows;
    tm_mix_forward(&j, true);
    for (int s = 0; s < 4; s++)
        mm(false, false, rows, d, d, 1.0f, j.X + s * g->rd, d, j.p.W + (size_t)s * d * d, d, 0.0f,
           j.R + s * g->rd, d);
    pool_for((size_t)g->B * g->H, wkv_fwd_pairs, &j);
    pool_for(g->rows, gn_gate_rows, &j);
    linear_fwd(j.O, j.p.Wo, NULL, y, rows, d, d);
}

static void tm_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm, bool v6)
{
    TJob j = tjob(l, x, dm, v6);
    const Geo *g = &j.g;
    int d = g->d, rows = (int)g->rows, T = pool_size();
    size_t d16 = r16((size_t)d);
    memset(j.parts, 0, sizeof(float) * (size_t)T * 8 * d16);
    /* out = O Wo */
    pool_for(g->rows, gn_gate_rows, &j);
    mm(true, false, d, d, rows, 1.0f, j.O, d, dy, d, 1.0f, j.gp.Wo, d);
    mm(false, true, rows, d, d, 1.0f, dy, d, j.p.Wo, d, 0.0f, j.O, d);
    pool_for(g->rows, gn_gate_bwd_rows, &j);
    for (int t = 0; t < T; t++) {
        const float *pw = j.parts + (size_t)t * 8 * d16, *pb = pw + d16;
        for (int c = 0; c < d; c++) j.gp.gnw[c] += pw[c], j.gp.gnb[c] += pb[c];
    }
    memset(j.parts, 0, sizeof(float) * (size_t)T * 8 * d16);
    /* the WKV scan */
    pool_for((size_t)g->B * g->H, wkv_bwd_pairs, &j);
    colsum_add(j.DU, g->rows, d, d, j.gp.u);
    tm_mix_forward(&j, false); /* X (and XX, XXX) again */
    if (!v6) {
        /* log w = -exp(decay): d decay = d(log w) * log w */
        memset(j.tmp, 0, sizeof(float) * d);
        colsum_add(j.DLW, g->rows, d, d, j.tmp);
        for (int c = 0; c < d; c++) j.gp.decay[c] += j.tmp[c] * j.lw5[c];
    } else {
        pool_for(g->rows, v6_dlw_rows, &j); /* to the gradient of decay + tanh(x_w D1) D2 */
        colsum_add(j.DLW, g->rows, d, d, j.gp.decay);
        mm(true, false, g->Dr, d, rows, 1.0f, j.WW, g->Dr, j.DLW, d, 1.0f, j.gp.D2, d);
        mm(false, true, rows, g->Dr, d, 1.0f, j.DLW, d, j.p.D2, d, 0.0f, j.dWW, g->Dr);
        tanh_bwd(j.dWW, j.WW, g->rows * g->Dr);
        const float *Xw = j.X + 4 * g->rd;
        mm(true, false, d, g->Dr, rows, 1.0f, Xw, d, j.dWW, g->Dr, 1.0f, j.gp.D1, g->Dr);
        mm(false, true, rows, d, g->Dr, 1.0f, j.dWW, g->Dr, j.p.D1, g->Dr, 0.0f, j.DX + 4 * g->rd, d);
    }
    /* r, k, v, g projections */
    for (int s = 0; s < 4; s++) {
        const float *Xs = j.X + s * g->rd, *Ds = j.D4 + s * g->rd, *Ws = j.p.W + (size_t)s * d * d;
        mm(true, false, d, d, rows, 1.0f, Xs, d, Ds, d, 1.0f, j.gp.W + (size_t)s * d * d, d);
        mm(false, true, rows, d, d, 1.0f, Ds, d, Ws, d, 0.0f, j.DX + s * g->rd, d);
    }
    if (!v6) {
        Mix m = {.x = x, .alpha = j.p.mu, .dX = j.DX, .dx = dx ? dx : j.DY, .part = j.parts,
                 .rows = g->rows, .stride = g->rd, .pstride = 8 * d16, .n = 4, .d = d, .L = g->L};
        pool_for(g->rows, mix_bwd_rows, &m);
        for (int t = 0; t < T; t++)
            for (int s = 0; s < 4; s++) {
                const float *pp = j.parts + (size_t)t * 8 * d16 + (size_t)s * d;
                for (int c = 0; c < d; c++) j.gp.mu[(size_t)s * d + c] += pp[c];
            }
        return;
    }
    int M5 = 5 * g->M;
    pool_for(g->rows, v6_mix_bwd_rows, &j);
    for (int s = 0; s < 5; s++) {
        const float *dMS = j.DX + s * g->rd;
        colsum_add(dMS, g->rows, d, d, j.gp.mu + (size_t)s * d);
        mm(true, false, g->M, d, rows, 1.0f, j.Mt + s * g->M, M5, dMS, d, 1.0f,
           j.gp.W2 + (size_t)s * g->M * d, d);
        mm(false, true, rows, g->M, d, 1.0f, dMS, d, j.p.W2 + (size_t)s * g->M * d, d, 0.0f,
           j.dM + s * g->M, M5);
    }
    tanh_bwd(j.dM, j.Mt, g->rows * M5);
    mm(true, false, d, M5, rows, 1.0f, j.XXX, d, j.dM, M5, 1.0f, j.gp.W1, M5);
    mm(false, true, rows, d, M5, 1.0f, j.dM, M5, j.p.W1, M5, 0.0f, j.XXX, d);
    pool_for(g->rows, v6_xxx_bwd_rows, &j);
    colsum_add(j.XXX, g->rows, d, d, j.gp.mu_x);
    if (dx) {
        j.dx = dx;
        pool_for(g->rows, v6_dx_rows, &j);
    }
}

static void tm5_forward(Layer *l, const float *x, float *y, Dims dm) { tm_forward(l, x, y, dm, false); }
static void tm6_forward(Layer *l, const float *x, float *y, Dims dm) { tm_forward(l, x, y, dm, true); }
static void tm5_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    tm_backward(l, x, dy, dx, dm, false);
}
static void tm6_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    tm_backward(l, x, dy, dx, dm, true);
}

const LayerKind layer_rwkv5_time_mixer = {
    .name = "rwkv5-time-mixer",
    .summary = "RWKV-5 time mixing: token shift, WKV heads of 16 with bonus u and decay w",
    .role = ROLE_SEQUENCE,
    .state_formula = "heads x 16 x 16 (the WKV state; heads = width / 16)",
    .n_params = tm5_params,
    .n_acts = tm5_acts,
    .n_scratch = tm5_scr,
    .state_size = tm_state,
    .flops = tm5_flops,
    .init = tm5_init,
    .forward = tm5_forward,
    .backward = tm5_backward,
};

const LayerKind layer_rwkv6_time_mixer = {
    .name = "rwkv6-time-mixer",
    .summary = "RWKV-6 time mixing: data-dependent token shift and per-token decay, heads of 16",
    .role = ROLE_SEQUENCE,
    .knobs = rwkv6_knobs,
    .n_knobs = 2,
    .state_formula = "heads x 16 x 16 (the WKV state; heads = width / 16)",
    .n_params = tm6_params,
    .n_acts = tm6_acts,
    .n_scratch = tm6_scr,
    .state_size = tm_state,
    .flops = tm6_flops,
    .init = tm6_init,
    .forward = tm6_forward,
    .backward = tm6_backward,
};

/* ---------------- channel mixers ---------------- */

enum { K_EXPAND };
static const KnobDesc cm_knobs[] = {{"expand", 4, 1, 16, "inner width = expand x width", NULL}};

/* params: mu_k, mu_r (d each), Wk (d x h), Wv (h x d), Wr (d x d) */
static size_t cm_params(const LayerCfg *c)
{
    size_t d = (size_t)c->width, h = d * c->knob[K_EXPAND];
    return 2 * d + 2 * d * h + d * d;
}
/* acts: KP (rows x h, before relu), KV (rows x d), RP (rows x d, before sigmoid) */
static size_t cm_acts(const LayerCfg *c, Dims dm)
{
    size_t rows = (size_t)dm.B * dm.L, d = (size_t)c->width, h = d * c->knob[K_EXPAND];
    return r16(rows * h) + 2 * r16(rows * d);
}
/* scratch: X (2 blocks: x_k, x_r), DX (2 blocks), A (rows x h), DKV, DRP (rows x d), alpha (2d),
 * parts (per thread 2d) */
static size_t cm_scratch(const LayerCfg *c, Dims dm)
{
    size_t rows = (size_t)dm.B * dm.L, d = (size_t)c->width, h = d * c->knob[K_EXPAND];
    return 6 * r16(rows * d) + r16(rows * h) + r16(2 * d) + (size_t)ML_MAX_THREADS * r16(2 * d);
}
static double cm_state(const LayerCfg *c, int L) { (void)L; return c->width; }
static double cm_flops(const LayerCfg *c, int L)
{
    double d = c->width, h = d * c->knob[K_EXPAND];
    return L * (2.0 * (2 * d * h + d * d) + 2 * 3.0 * d + 2.0 * h + 6.0 * d);
}

static void cm_init(Layer *l, Rng *r, bool v6)
{
    size_t d = (size_t)l->cfg.width, h = d * l->cfg.knob[K_EXPAND];
    float *mu = l->params, *Wk = mu + 2 * d, *Wv = Wk + d * h, *Wr = Wv + h * d;
    for (size_t i = 0; i < d; i++) {
        float a = (float)i / (float)d; /* ddd^ratio_1_to_almost0, the ratio 1 at layer 0 */
        mu[i] = mu[d + i] = v6 ? 1.0f - a : a;
    }
    init_uniform(Wk, d * h, 1.0f / sqrtf((float)d), r);
    init_uniform(Wv, h * d, 1.0f / sqrtf((float)h), r);
    init_uniform(Wr, d * d, 1.0f / sqrtf((float)d), r);
}
static void cm5_init(Layer *l, Rng *r) { cm_init(l, r, false); }
static void cm6_init(Layer *l, Rng *r) { cm_init(l, r, true); }

typedef struct {
    size_t rows, rd;
    int d, h;
    float *KP, *KV, *RP, *X, *DX, *A, *DKV, *DRP, *alpha, *parts;
    const float *dy;
    float *y;
} CJob;

static CJob cjob(Layer *l, Dims dm, bool v6)
{
    CJob j = {0};
    j.d = l->cfg.width;
    j.h = j.d * l->cfg.knob[K_EXPAND];
    j.rows = (size_t)dm.B * dm.L;
    j.rd = r16(j.rows * j.d);
    j.KP = l->acts;
    j.KV = j.KP + r16(j.rows * j.h);
    j.RP = j.KV + j.rd;
    j.X = l->scratch;
    j.DX = j.X + 2 * j.rd;
    j.DKV = j.DX + 2 * j.rd;
    j.DRP = j.DKV + j.rd;
    j.A = j.DRP + j.rd;
    j.alpha = j.A + r16(j.rows * j.h);
    j.parts = j.alpha + r16(2 * (size_t)j.d);
    /* RWKV-6 mixes x + (xs - x) mu = x (1 - mu) + xs mu: alpha = 1 - mu */
    const float *mu = l->params;
    for (int i = 0; i < 2 * j.d; i++) j.alpha[i] = v6 ? 1.0f - mu[i] : mu[i];
    return j;
}

static void relu2_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const CJob *j = ctx;
    for (size_t i = r0 * j->h; i < r1 * j->h; i++) {
        float v = j->KP[i] > 0.0f ? j->KP[i] : 0.0f;
        j->A[i] = v * v;
    }
}

static void cm_out_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const CJob *j = ctx;
    for (size_t i = r0 * j->d; i < r1 * j->d; i++) j->y[i] = j->KV[i] / (1.0f + expf(-j->RP[i]));
}

static void cm_out_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const CJob *j = ctx;
    for (size_t i = r0 * j->d; i < r1 * j->d; i++) {
        float s = 1.0f / (1.0f + expf(-j->RP[i]));
        j->DKV[i] = j->dy[i] * s;
        j->DRP[i] = j->dy[i] * j->KV[i] * s * (1.0f - s);
    }
}

/* dA (in A) *= 2 relu(KP) */
static void relu2_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const CJob *j = ctx;
    for (size_t i = r0 * j->h; i < r1 * j->h; i++)
        j->A[i] *= j->KP[i] > 0.0f ? 2.0f * j->KP[i] : 0.0f;
}

static void cm_forward(Layer *l, const float *x, float *y, Dims dm, bool v6)
{
    CJob j = cjob(l, dm, v6);
    int d = j.d, h = j.h, rows = (int)j.rows;
    const float *Wk = l->params + 2 * (size_t)d, *Wv = Wk + (size_t)d * h, *Wr = Wv + (size_t)h * d;
    Mix m = {.x = x, .alpha = j.alpha, .X = j.X, .rows = j.rows, .stride = j.rd, .n = 2, .d = d,
             .L = dm.L};
    pool_for(j.rows, mix_fwd_rows, &m);
    linear_fwd(j.X, Wk, NULL, j.KP, rows, d, h);
    pool_for(j.rows, relu2_rows, &j);
    linear_fwd(j.A, Wv, NULL, j.KV, rows, h, d);
    linear_fwd(j.X + j.rd, Wr, NULL, j.RP, rows, d, d);
    j.y = y;
    pool_for(j.rows, cm_out_rows, &j);
}

static void cm_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm, bool v6)
{
    CJob j = cjob(l, dm, v6);
    int d = j.d, h = j.h, rows = (int)j.rows, T = pool_size();
    const float *Wk = l->params + 2 * (size_t)d, *Wv = Wk + (size_t)d * h, *Wr = Wv + (size_t)h * d;
    float *dmu = l->grads, *dWk = dmu + 2 * (size_t)d, *dWv = dWk + (size_t)d * h,
          *dWr = dWv + (size_t)h * d;
    size_t ps = r16(2 * (size_t)d);
    Mix m = {.x = x, .alpha = j.alpha, .X = j.X, .dX = j.DX, .dx = dx, .part = j.parts,
             .rows = j.rows, .stride = j.rd, .pstride = ps, .n = 2, .d = d, .L = dm.L};
    pool_for(j.rows, mix_fwd_rows, &m);
    pool_for(j.rows, relu2_rows, &j);
    j.dy = dy;
    pool_for(j.rows, cm_out_bwd_rows, &j);
    mm(true, false, h, d, rows, 1.0f, j.A, h, j.DKV, d, 1.0f, dWv, d);
    mm(false, true, rows, h, d, 1.0f, j.DKV, d, Wv, d, 0.0f, j.A, h);
    pool_for(j.rows, relu2_bwd_rows, &j);
    linear_bwd(j.X, Wk, j.A, j.DX, dWk, NULL, rows, d, h);
    linear_bwd(j.X + j.rd, Wr, j.DRP, j.DX + j.rd, dWr, NULL, rows, d, d);
    memset(j.parts, 0, sizeof(float) * (size_t)T * ps);
    if (!dx) m.dx = j.DKV; /* the mixing backward still yields dmu */
    pool_for(j.rows, mix_bwd_rows, &m);
    float sign = v6 ? -1.0f : 1.0f; /* d alpha / d mu */
    for (int t = 0; t < T; t++)
        for (int i = 0; i < 2 * d; i++) dmu[i] += sign * j.parts[(size_t)t * ps + i];
}

static void cm5_forward(Layer *l, const float *x, float *y, Dims dm) { cm_forward(l, x, y, dm, false); }
static void cm6_forward(Layer *l, const float *x, float *y, Dims dm) { cm_forward(l, x, y, dm, true); }
static void cm5_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    cm_backward(l, x, dy, dx, dm, false);
}
static void cm6_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    cm_backward(l, x, dy, dx, dm, true);
}

const LayerKind layer_rwkv5_channel_mixer = {
    .name = "rwkv5-channel-mixer",
    .summary = "RWKV-5 channel mixing: sigmoid(W_r x_r) * W_v relu(W_k x_k)^2, inner 4 x width",
    .role = ROLE_CHANNEL,
    .knobs = cm_knobs,
    .n_knobs = 1,
    .state_formula = "width (the token-shift state)",
    .n_params = cm_params,
    .n_acts = cm_acts,
    .n_scratch = cm_scratch,
    .state_size = cm_state,
    .flops = cm_flops,
    .init = cm5_init,
    .forward = cm5_forward,
    .backward = cm5_backward,
};

const LayerKind layer_rwkv6_channel_mixer = {
    .name = "rwkv6-channel-mixer",
    .summary = "RWKV-6 channel mixing: as RWKV-5 with the x + (xs - x) mu token shift",
    .role = ROLE_CHANNEL,
    .knobs = cm_knobs,
    .n_knobs = 1,
    .state_formula = "width (the token-shift state)",
    .n_params = cm_params,
    .n_acts = cm_acts,
    .n_scratch = cm_scratch,
    .state_size = cm_state,
    .flops = cm_flops,
    .init = cm6_init,
    .forward = cm6_forward,
    .backward = cm6_backward,
};

/* ---------------- the WKV scan alone, for tests (recurrent.h) ---------------- */

static TJob wkv_job(int B, int L, int d, const float *r, const float *k, const float *v,
                    const float *lw, size_t lws, const float *u, float **mem)
{
    TJob j;
    memset(&j, 0, sizeof j);
    j.g = geo(NULL, &(LayerCfg){.width = d}, (Dims){B, L, NULL}, false);
    TAct a = tact(&j.g);
    j.R = (float *)r, j.K = (float *)k, j.V = (float *)v;
    j.lw = lw, j.lws = lws;
    j.p.u = (float *)u;
    *mem = arena_alloc_floats(a.total + 3 * j.g.rd);
    if (*mem) j.ck = *mem, j.D4 = *mem + a.total;
    return j;
}

int rwkv_wkv_forward(int B, int L, int d, const float *r, const float *k, const float *v,
                     const float *lw, size_t lws, const float *u, float *y)
{
    float *mem;
    TJob j = wkv_job(B, L, d, r, k, v, lw, lws, u, &mem);
    if (!mem) return -1;
    j.Y = y;
    pool_for((size_t)B * j.g.H, wkv_fwd_pairs, &j);
    arena_free(mem);
    return 0;
}

int rwkv_wkv_backward(int B, int L, int d, const float *r, const float *k, const float *v,
                      const float *lw, size_t lws, const float *u, const float *dy, float *dr,
                      float *dk, float *dv, float *dlw, float *du)
{
    float *mem;
    TJob j = wkv_job(B, L, d, r, k, v, lw, lws, u, &mem);
    if (!mem) return -1;
    float *y = arena_alloc_floats(j.g.rows * d);
    if (!y) return arena_free(mem), -1;
    j.Y = y;
    pool_for((size_t)B * j.g.H, wkv_fwd_pairs, &j); /* the stored states */
    j.DY = (float *)dy, j.DLW = dlw, j.DU = du;
    pool_for((size_t)B * j.g.H, wkv_bwd_pairs, &j);
    size_t n = j.g.rows * d;
    memcpy(dr, j.D4, sizeof(float) * n);
    memcpy(dk, j.D4 + j.g.rd, sizeof(float) * n);
    memcpy(dv, j.D4 + 2 * j.g.rd, sizeof(float) * n);
    arena_free(y);
    arena_free(mem);
    return 0;
}
