/* RWKV-5 and RWKV-6 time mixers, in float32 (the reference runs bf16 CUDA
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
 * The projections are sgemms over all B*L rows; the WKV recurrence is rwkv_wkv.c's scan. Its
 * per-token gradients of u and the log decay are summed over rows here. The channel mixers are
 * in rwkv_channel.c, the token shift they share with RWKV-5 in rwkv_shift.c. */
#include "config.h"
#include "rwkv_time.h"

#include <string.h>

#define HS RWKV_HS
#define GN_EPS 64e-5f

static int n_heads(int d) { return rwkv_heads(d); }
static int head_size(int d, int h) { return rwkv_head_size(d, h); }

enum { K_MIXR, K_DECR };
static const KnobDesc rwkv6_knobs[] = {
    {"mix_rank", 32, 1, 1024, "rank of the data-dependent token-shift mixing", NULL},
    {"decay_rank", 64, 1, 1024, "rank of the data-dependent decay", NULL},
};

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
    return g;
}

/* Parameters. mu: ns blocks of d in the order r, k, v, g (, w); W: r, k, v, g (d x d each).
 * RWKV-6 adds mu_x, W1 (d x 5M, blocks in the order of mu), W2 (5 blocks of M x d), D1 (d x Dr),
 * D2 (Dr x d). */
typedef struct { size_t mu_x, mu, W1, W2, D1, D2, W, decay, u, gnw, gnb, Wo, total; } TPMap;

static TPMap tp_map(const Geo *g)
{
    size_t d = (size_t)g->d, M5 = 5 * (size_t)g->M, Dr = (size_t)g->Dr;
    TPMap m;
    m.mu_x = 0;
    m.mu = m.mu_x + (g->v6 ? d : 0);
    m.W1 = m.mu + (size_t)g->ns * d; /* W1 .. D2: RWKV-6 only */
    m.W2 = m.W1 + d * M5;
    m.D1 = m.W2 + M5 * d;
    m.D2 = m.D1 + d * Dr;
    m.W = m.D2 + Dr * d;
    m.decay = m.W + 4 * d * d;
    m.u = m.decay + d;
    m.gnw = m.u + d;
    m.gnb = m.gnw + d;
    m.Wo = m.gnb + d;
    m.total = m.Wo + d * d;
    return m;
}

static TP tp_at(float *p, const Geo *g)
{
    TPMap m = tp_map(g);
    TP q = {0};
    if (g->v6) {
        q.mu_x = p + m.mu_x;
        q.W1 = p + m.W1, q.W2 = p + m.W2, q.D1 = p + m.D1, q.D2 = p + m.D2;
    }
    q.mu = p + m.mu, q.W = p + m.W, q.decay = p + m.decay, q.u = p + m.u;
    q.gnw = p + m.gnw, q.gnb = p + m.gnb, q.Wo = p + m.Wo;
    return q;
}

/* acts: RKVG (4 blocks of rows x d; G before silu), Y (WKV output), stats (rows x H: mean and
 * rstd), ck (the scan's stored states, rwkv_wkv_ck_floats); RWKV-6: M (rows x 5M, after tanh),
 * MS (5 blocks of rows x d), WW (rows x Dr, after tanh), LW (rows x d, log of the decay). */
typedef struct { size_t rkvg, y, stats, ck, m, ms, ww, lw, total; } TAct;

static TAct tact(const Geo *g)
{
    TAct a = {0};
    size_t o = 0;
    a.rkvg = o, o += 4 * g->rd;
    a.y = o, o += g->rd;
    a.stats = o, o += r16(g->rows * g->H * 2);
    a.ck = o, o += rwkv_wkv_ck_floats(g->B, g->L, g->d);
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
    return tp_map(&g).total;
}
static size_t tm6_params(const LayerCfg *c)
{
    Geo g = geo(NULL, c, (Dims){1, 1, NULL}, true);
    return tp_map(&g).total;
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

/* Fills X (the mixed inputs) from x: RWKV-5 directly; RWKV-6 through the low-rank mixing
 * (rwkv6_mix.c), which also (re)computes XX and XXX and, when fresh, M, MS, WW and LW. */
static void tm_mix_forward(TJob *j, bool fresh)
{
    const Geo *g = &j->g;
    if (g->v6) {
        tm6_mix_forward(j, fresh);
        return;
    }
    RwkvMix m = {.x = j->x, .alpha = j->p.mu, .X = j->X, .rows = g->rows, .stride = g->rd, .n = 4,
                 .d = g->d, .L = g->L};
    rwkv_mix_forward(&m);
}

/* The WKV scan's view of this call: R, K, V and the log decay in; Y, or in backward the
 * gradients dR, dK, dV (D4's first three blocks), DLW and DU, out. */
static RwkvWkv wkv_of(const TJob *j)
{
    const Geo *g = &j->g;
    return (RwkvWkv){.B = g->B, .L = g->L, .d = g->d, .R = j->R, .K = j->K, .V = j->V,
                     .lw = j->lw, .lws = j->lws, .u = j->p.u, .DY = j->DY, .Y = j->Y, .ck = j->ck,
                     .dR = j->D4, .dK = j->D4 + g->rd, .dV = j->D4 + 2 * g->rd, .DLW = j->DLW,
                     .DU = j->DU};
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
    RwkvWkv w = wkv_of(&j);
    rwkv_wkv_fwd(&w);
    pool_for(g->rows, gn_gate_rows, &j);
    linear_fwd(j.O, j.p.Wo, NULL, y, rows, d, d);
}

static void tm_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm, bool v6)
{
    TJob j = tjob(l, x, dm, v6);
    const Geo *g = &j.g;
    int d = g->d, rows = (int)g->rows, T = pool_bands();
    size_t d16 = r16((size_t)d);
    memset(j.parts, 0, sizeof(float) * (size_t)T * 8 * d16);
    /* out = O Wo */
    pool_for(g->rows, gn_gate_rows, &j);
    mm(true, false, d, d, rows, 1.0f, j.O, d, dy, d, 1.0f, j.gp.Wo, d);
    mm(false, true, rows, d, d, 1.0f, dy, d, j.p.Wo, d, 0.0f, j.O, d);
    pool_for_bands(g->rows, gn_gate_bwd_rows, &j);
    parts_add(j.gp.gnw, j.parts, T, 8 * d16, (size_t)d, 1.0f);
    parts_add(j.gp.gnb, j.parts + d16, T, 8 * d16, (size_t)d, 1.0f);
    memset(j.parts, 0, sizeof(float) * (size_t)T * 8 * d16);
    /* the WKV scan */
    RwkvWkv w = wkv_of(&j);
    rwkv_wkv_bwd(&w);
    colsum_add(j.DU, g->rows, d, d, j.gp.u);
    tm_mix_forward(&j, false); /* X (and XX, XXX) again */
    if (!v6) {
        /* log w = -exp(decay): d decay = d(log w) * log w */
        memset(j.tmp, 0, sizeof(float) * d);
        colsum_add(j.DLW, g->rows, d, d, j.tmp);
        for (int c = 0; c < d; c++) j.gp.decay[c] += j.tmp[c] * j.lw5[c];
    } else {
        tm6_decay_backward(&j);
    }
    /* r, k, v, g projections */
    for (int s = 0; s < 4; s++) {
        const float *Xs = j.X + s * g->rd, *Ds = j.D4 + s * g->rd, *Ws = j.p.W + (size_t)s * d * d;
        mm(true, false, d, d, rows, 1.0f, Xs, d, Ds, d, 1.0f, j.gp.W + (size_t)s * d * d, d);
        mm(false, true, rows, d, d, 1.0f, Ds, d, Ws, d, 0.0f, j.DX + s * g->rd, d);
    }
    if (!v6) {
        RwkvMix m = {.x = x, .alpha = j.p.mu, .dX = j.DX, .dx = dx ? dx : j.DY, .part = j.parts,
                     .rows = g->rows, .stride = g->rd, .pstride = 8 * d16, .n = 4, .d = d, .L = g->L};
        rwkv_mix_backward(&m);
        parts_add(j.gp.mu, j.parts, T, 8 * d16, 4 * (size_t)d, 1.0f);
        return;
    }
    tm6_mix_backward(&j, dx);
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
    .n_knobs = ML_COUNT(rwkv6_knobs),
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

