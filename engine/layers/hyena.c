/* Hyena sequence mixers (order 2): hyena, mh-hyena and hyena-experts, as the reference's
 * HyenaOperator, MultiHeadHyenaOperator and HyenaExpertsOperator.
 *
 * All three share a front end and a back end:
 *   u = x Win + bin (Pin channels), tiled `tile` times to 3C channels (channel j reads u[j % Pin]),
 *   a causal depthwise short convolution (kernel K, bias) per channel, split into three streams
 *   of C channels; ... ; y = g Wout + bout.
 * and an implicit long filter h (F channels, truncated to L): positional features z (trainable,
 * max_len x 3) -> Linear(3,w) Sin [Linear(w,w) Sin] x2 -> Linear(w,F), Sin(a) = sin(f a) with one
 * trainable f shared by the three, then h[c][n] *= exp(-t_n |delta_c|).
 *
 * Between them:
 *   hyena          y-stream = x0 * (longconv(v * x1, h) + D (v * x1))    (engine/longconv.c)
 *   hyena-experts  the same over experts x inner channels, then the router's weighted sum of
 *                  each token's experts (channel i*E + e) before out_proj: over all E with the
 *                  reference routing (softmax of the scores with those below the k-th largest
 *                  set to 0, see router.c), over the top k with routing=topk; the convolutions
 *                  run densely either way, since every expert is needed at some position
 *   mh-hyena       per head of `head` channels, linear attention with the head's filter as a
 *                  Toeplitz decay: o_t = sum_{s<=t} (h[t-s] + D [s=t]) (q_t . k_s) v_s,
 *                  computed in that quadratic form in blocks of HY_QB queries (sgemms of head
 *                  width; the causal upper part past each block is skipped)
 *
 * Activations are channel-major (channel c of all B*L positions is one run of floats), so the
 * convolutions run along contiguous positions and the projections are single sgemms that
 * transpose on the way in and out. */
#include "config.h"
#include "hyena.h"

#include <stdio.h>
#include <string.h>

/* ---------------- knobs and geometry ---------------- */

static const KnobDesc hyena_knobs[] = {
    {"expand", 4, 1, 16, "channels per stream = expand x width (x width must be a multiple of 4)", NULL},
    {"filter", 4, 1, 256, "hidden width of the implicit filter's MLP", NULL},
    {"short", 3, 1, 16, "kernel of the short causal convolution", NULL},
};
static const KnobDesc mh_knobs[] = {
    {"head", 16, 1, 1024, "channels per head; divides the width, which must be a multiple of 4", NULL},
    {"filter", 2, 1, 256, "hidden width of the implicit filter's MLP", NULL},
    {"short", 3, 1, 16, "kernel of the short causal convolution", NULL},
};
static const KnobDesc ex_knobs[] = {
    {"experts", 8, 1, ML_MAX_EXPERTS, "experts (channel groups the router mixes)", NULL},
    {"top_k", 2, 1, ML_MAX_EXPERTS, "experts per token (at most experts)", NULL},
    {"inner", 16, 1, 1024, "channels per expert", NULL},
    {"filter", 16, 1, 256, "hidden width of the implicit filter's MLP", NULL},
    ROUTING_KNOB,
};

static Hy hy_geo(const LayerCfg *c, int kind)
{
    Hy g = {.kind = kind, .d = c->width, .Lmax = c->max_len > 0 ? c->max_len : 1};
    switch (kind) {
    case HY_PLAIN:
        g.C = c->knob[0] * g.d, g.tile = 4, g.w = c->knob[1], g.K = c->knob[2], g.F = g.C;
        g.cin = g.C;
        break;
    case HY_MH:
        g.C = g.d, g.tile = 4, g.hs = c->knob[0], g.w = c->knob[1], g.K = c->knob[2];
        g.G = g.hs > 0 ? g.d / g.hs : 1;
        g.F = g.G, g.cin = g.C;
        break;
    default:
        g.E = c->knob[0], g.k = c->knob[1], g.inner = c->knob[2], g.w = c->knob[3];
        g.dense = c->knob[4] == ROUTING_REFERENCE, g.ks = g.dense ? g.E : g.k;
        g.C = g.E * g.inner, g.tile = 1, g.K = 3, g.F = g.C, g.cin = g.inner;
        break;
    }
    g.Pin = 3 * g.C / g.tile;
    return g;
}

static int hy_validate_kind(const LayerCfg *c, int kind, char *msg, size_t n)
{
    Hy g = hy_geo(c, kind);
    if (kind == HY_PLAIN && g.C % 4 != 0)
        return snprintf(msg, n, "hyena: expand=%d x width %d must be a multiple of 4 (the input "
                        "projection is tiled 4 times)", c->knob[0], g.d), -1;
    if (kind == HY_MH && (g.d % g.hs != 0 || g.d % 4 != 0))
        return snprintf(msg, n, "mh-hyena: width %d must be a multiple of 4 and of head=%d",
                        g.d, g.hs), -1;
    if (kind == HY_EXPERTS && g.k > g.E)
        return snprintf(msg, n, "hyena-experts: top_k=%d exceeds experts=%d", g.k, g.E), -1;
    return 0;
}
static int hyena_validate(const LayerCfg *c, char *m, size_t n) { return hy_validate_kind(c, HY_PLAIN, m, n); }
static int mh_validate(const LayerCfg *c, char *m, size_t n) { return hy_validate_kind(c, HY_MH, m, n); }
static int ex_validate(const LayerCfg *c, char *m, size_t n) { return hy_validate_kind(c, HY_EXPERTS, m, n); }


static PMap pmap(const Hy *g)
{
    PMap m;
    size_t o = 0, w = (size_t)g->w;
    m.Win = o, o += (size_t)g->d * g->Pin;
    m.bin = o, o += (size_t)g->Pin;
    m.cw = o, o += 3 * (size_t)g->C * g->K;
    m.cb = o, o += 3 * (size_t)g->C;
    m.z = o, o += 3 * (size_t)g->Lmax;
    m.W1 = o, o += 3 * w;
    m.b1 = o, o += w;
    m.W2 = o, o += w * w;
    m.b2 = o, o += w;
    m.W3 = o, o += w * w;
    m.b3 = o, o += w;
    m.W4 = o, o += w * g->F;
    m.f = o, o += w;
    m.D = o, o += (size_t)g->F;
    m.Wr = o, o += g->kind == HY_EXPERTS ? (size_t)g->d * g->E : 0;
    m.br = o, o += g->kind == HY_EXPERTS ? (size_t)g->E : 0;
    m.Wout = o, o += (size_t)g->cin * g->d;
    m.bout = o, o += (size_t)g->d;
    m.total = o;
    return m;
}

/* acts: uT (Pin x rows), sT (3C x rows), the filter's a1..a3 and s1..s3 (L x w each) and hT
 * (F x L), qT (C x rows: the long convolution's output, or mh-hyena's heads' output), and for
 * experts the expert load (E, first), p (rows x ks), idx (topk: rows x k) or keep (reference:
 * rows x E), and pT (E x rows: each expert's weight at every row, 0 where topk did not select
 * it, so that the mix runs along rows for both routings). */
typedef struct { size_t uT, sT, fa, hT, qT, idx, p, keep, pT, load, total; } AMap;

static AMap amap(const Hy *g, Dims dm)
{
    AMap m;
    size_t rows = (size_t)dm.B * dm.L, o = 0, L = (size_t)dm.L;
    m.load = o, o += g->kind == HY_EXPERTS ? r16((size_t)g->E) : 0; /* first: read by report */
    m.uT = o, o += r16(g->Pin * rows);
    m.sT = o, o += r16(3 * (size_t)g->C * rows);
    m.fa = o, o += r16(6 * L * g->w);
    m.hT = o, o += r16((size_t)g->F * L);
    m.qT = o, o += r16((size_t)g->C * rows);
    m.idx = o, o += g->kind == HY_EXPERTS && !g->dense ? r16(rows * g->k) : 0;
    m.keep = o, o += g->kind == HY_EXPERTS && g->dense ? r16(rows * g->E) : 0;
    m.pT = o, o += g->kind == HY_EXPERTS ? r16(rows * g->E) : 0;
    m.p = o, o += g->kind == HY_EXPERTS ? r16(rows * g->ks) : 0;
    m.total = o;
    return m;
}

/* scratch: gT (C x rows), dgT (C x rows), dsT (3C x rows), duT (Pin x rows), dhT (F x L), two
 * (L x w) filter buffers, then per kind: the long convolution's per-thread work (hyena,
 * experts); per-pair filter gradients (B*G x L) and per-slot blocks (mh); router buffers
 * (experts: oT and doT (inner x rows), scores and ds (rows x E), dp (rows x ks), and for the
 * reference routing dpT (E x rows)). */
typedef struct { size_t gT, dgT, dsT, duT, dhT, fb, work, dhp, oT, doT, sc, dp, dpT, total; } SMap;

static int mh_slots(const Hy *g, Dims dm)
{
    int n = dm.B * g->G;
    return n < ML_MAX_THREADS ? n : ML_MAX_THREADS;
}

static SMap smap(const Hy *g, Dims dm)
{
    SMap m = {0};
    size_t rows = (size_t)dm.B * dm.L, o = 0, L = (size_t)dm.L;
    m.gT = o, o += r16((size_t)g->C * rows);
    m.dgT = o, o += r16((size_t)g->C * rows);
    m.dsT = o, o += r16(3 * (size_t)g->C * rows);
    m.duT = o, o += r16((size_t)g->Pin * rows);
    m.dhT = o, o += r16((size_t)g->F * L);
    m.fb = o, o += 2 * r16(L * g->w);
    if (g->kind == HY_MH) {
        m.dhp = o, o += r16((size_t)dm.B * g->G * L);
        m.work = o, o += (size_t)mh_slots(g, dm) * r16(3 * (size_t)HY_QB * L);
    } else {
        m.work = o, o += ML_MAX_THREADS * lc_work_floats(dm.L);
    }
    if (g->kind == HY_EXPERTS) {
        m.oT = o, o += r16((size_t)g->inner * rows);
        m.doT = o, o += r16((size_t)g->inner * rows);
        m.sc = o, o += r16(rows * g->E);
        m.dp = o, o += r16(rows * g->ks);
        m.dpT = o, o += r16(rows * g->E);
    }
    m.total = o;
    return m;
}

#define KIND_FNS(pfx, K)                                                                          \
    static size_t pfx##_params(const LayerCfg *c) { Hy g = hy_geo(c, K); return pmap(&g).total; } \
    static size_t pfx##_acts(const LayerCfg *c, Dims d) { Hy g = hy_geo(c, K); return amap(&g, d).total; } \
    static size_t pfx##_scratch(const LayerCfg *c, Dims d) { Hy g = hy_geo(c, K); return smap(&g, d).total; }
KIND_FNS(hyena, HY_PLAIN)
KIND_FNS(mh, HY_MH)
KIND_FNS(ex, HY_EXPERTS)

/* ---------------- state and FLOPs ---------------- */

/* hyena, hyena-experts: C channels x L (the filter is a finite impulse response over the whole
 * sequence). mh-hyena: G heads x head x head (its recurrent form is linear attention per head). */
static double hyena_state(const LayerCfg *c, int L) { Hy g = hy_geo(c, HY_PLAIN); return (double)g.C * L; }
static double ex_state(const LayerCfg *c, int L) { Hy g = hy_geo(c, HY_EXPERTS); return (double)g.C * L; }
static double mh_state(const LayerCfg *c, int L)
{
    Hy g = hy_geo(c, HY_MH);
    return (double)g.G * g.hs * g.hs;
}

/* Shared parts per sequence: projections, short convolution, gates. Work done once per batch
 * (the filter network, the filter's transforms) is left out. */
static double front_back_flops(const Hy *g, int L)
{
    return 2.0 * L * g->d * g->Pin + 2.0 * L * 3 * g->C * g->K + 2.0 * L * g->cin * g->d +
           2.0 * L * g->C; /* the two gating products */
}

static double hyena_flops_g(const Hy *g, int L)
{
    return front_back_flops(g, L) + g->C * (longconv_flops(L) + 2.0 * L);
}
static double hyena_flops(const LayerCfg *c, int L) { Hy g = hy_geo(c, HY_PLAIN); return hyena_flops_g(&g, L); }

static double ex_flops(const LayerCfg *c, int L)
{
    Hy g = hy_geo(c, HY_EXPERTS);
    /* plus the router's product and the mix of the experts used (all E, or the top k) */
    return hyena_flops_g(&g, L) + 2.0 * L * g.d * g.E + 2.0 * L * g.ks * g.inner;
}

/* Blocks of HY_QB queries against the keys up to the block's end: scores, mask, output. */
static double mh_flops(const LayerCfg *c, int L)
{
    Hy g = hy_geo(c, HY_MH);
    double core = 0;
    for (int t0 = 0; t0 < L; t0 += HY_QB) {
        double nq = L - t0 < HY_QB ? L - t0 : HY_QB, nk = t0 + nq;
        core += 4.0 * nq * nk * g.hs + nq * nk;
    }
    return front_back_flops(&g, L) - 2.0 * L * g.C + g.G * core;
}

/* ---------------- init ---------------- */

static void hy_init(Layer *l, int kind, Rng *r)
{
    Hy g = hy_geo(&l->cfg, kind);
    PMap m = pmap(&g);
    float *P = l->params;
    init_uniform(P + m.Win, (size_t)g.d * g.Pin, 1.0f / sqrtf((float)g.d), r);
    init_const(P + m.bin, (size_t)g.Pin, 0.0f); /* the model zeroes every Linear bias */
    float cb = 1.0f / sqrtf((float)g.K);        /* Conv1d default: fan_in = kernel (depthwise) */
    init_uniform(P + m.cw, 3 * (size_t)g.C * g.K, cb, r);
    init_uniform(P + m.cb, 3 * (size_t)g.C, cb, r);
    float den = g.Lmax > 1 ? (float)(g.Lmax - 1) : 1.0f;
    for (int n = 0; n < g.Lmax; n++) {
        double a = 2.0 * M_PI * 1e-4 * n / g.Lmax;
        P[m.z + 3 * (size_t)n] = (float)n / den;
        P[m.z + 3 * (size_t)n + 1] = (float)cos(a);
        P[m.z + 3 * (size_t)n + 2] = (float)-sin(a);
    }
    init_uniform(P + m.W1, 3 * (size_t)g.w, 1.0f / sqrtf(3.0f), r);
    init_uniform(P + m.W2, (size_t)g.w * g.w, 1.0f / sqrtf((float)g.w), r);
    init_uniform(P + m.W3, (size_t)g.w * g.w, 1.0f / sqrtf((float)g.w), r);
    init_uniform(P + m.W4, (size_t)g.w * g.F, 1.0f / sqrtf((float)g.w), r);
    init_const(P + m.b1, (size_t)g.w, 0.0f);
    init_const(P + m.b2, (size_t)g.w, 0.0f);
    init_const(P + m.b3, (size_t)g.w, 0.0f);
    init_const(P + m.f, (size_t)g.w, 1.0f);
    init_normal(P + m.D, (size_t)g.F, 1.0f, r);
    if (kind == HY_EXPERTS) {
        init_uniform(P + m.Wr, (size_t)g.d * g.E, 1.0f / sqrtf((float)g.d), r);
        init_const(P + m.br, (size_t)g.E, 0.0f);
    }
    init_uniform(P + m.Wout, (size_t)g.cin * g.d, 1.0f / sqrtf((float)g.cin), r);
    init_const(P + m.bout, (size_t)g.d, 0.0f);
    /* Plan the FFTs now, outside the training steps. */
    if (kind != HY_MH) lc_prepare(g.Lmax);
}
static void hyena_init(Layer *l, Rng *r) { hy_init(l, HY_PLAIN, r); }
static void mh_init(Layer *l, Rng *r) { hy_init(l, HY_MH, r); }
static void ex_init(Layer *l, Rng *r) { hy_init(l, HY_EXPERTS, r); }

/* ---------------- forward and backward ---------------- */

static void hy_forward(Layer *l, int kind, const float *x, float *y, Dims dm)
{
    Hy g = hy_geo(&l->cfg, kind);
    PMap m = pmap(&g);
    AMap am = amap(&g, dm);
    SMap sm = smap(&g, dm);
    size_t rows = (size_t)dm.B * dm.L, cs = (size_t)g.C * rows;
    const float *P = l->params;
    float *A = l->acts, *W = l->scratch;
    float *uT = A + am.uT, *sT = A + am.sT, *hT = A + am.hT, *qT = A + am.qT, *gT = W + sm.gT;
    hy_front_fwd(&g, &m, l, x, dm, uT, sT);
    hy_filter_fwd(&g, &m, P, dm.L, A + am.fa, hT);
    if (kind == HY_MH) {
        /* streams: q (x1), k (v), v (x2); qT holds the heads' output */
        hy_reverse_filters(hT, W + sm.dhT, g.F, dm.L);
        MhJob j = {.g = &g, .sT = sT, .hT = W + sm.dhT, .D = P + m.D, .oT = qT, .work = W + sm.work,
                   .B = dm.B, .L = dm.L, .rows = rows, .slot = r16(3 * (size_t)HY_QB * dm.L)};
        pool_for((size_t)dm.B * g.G, hy_mh_pair_fwd, &j);
        hy_back_fwd(&g, &m, P, qT, y, rows);
        return;
    }
    /* streams x0, x1, v: q = longconv(v * x1) + D (v * x1); g = q * x0 */
    LcGates gates = {.a = sT + 2 * cs, .b = sT + cs, .x0 = sT, .g = gT};
    longconv_fwd(LC_AUTO, g.C, dm.B, dm.L, rows, NULL, hT, P + m.D, qT, W + sm.work, &gates);
    if (kind == HY_PLAIN) {
        hy_back_fwd(&g, &m, P, gT, y, rows);
        return;
    }
    float *sc = W + sm.sc, *oT = W + sm.oT, *p = A + am.p;
    int32_t *idx = g.dense ? NULL : (int32_t *)(A + am.idx);
    linear_fwd(x, P + m.Wr, P + m.br, sc, (int)rows, g.d, g.E);
    router_route(g.dense, sc, (int)rows, g.E, g.k, idx, p, A + am.keep);
    if (g.dense) router_mean_weight(p, (int)rows, g.E, A + am.load);
    else router_load(idx, (int)rows, g.E, g.k, A + am.load);
    hy_weights_by_expert(p, idx, rows, g.E, g.ks, A + am.pT);
    Job j = {.g = &g, .gT = gT, .out = oT, .rows = rows, .pT = A + am.pT};
    pool_for((size_t)g.inner, hy_mix_fwd, &j);
    hy_back_fwd(&g, &m, P, oT, y, rows);
}

static void hy_backward(Layer *l, int kind, const float *x, const float *dy, float *dx, Dims dm)
{
    Hy g = hy_geo(&l->cfg, kind);
    PMap m = pmap(&g);
    AMap am = amap(&g, dm);
    SMap sm = smap(&g, dm);
    size_t rows = (size_t)dm.B * dm.L, cs = (size_t)g.C * rows;
    const float *P = l->params;
    float *A = l->acts, *W = l->scratch, *G = l->grads;
    float *uT = A + am.uT, *sT = A + am.sT, *hT = A + am.hT, *qT = A + am.qT;
    float *gT = W + sm.gT, *dgT = W + sm.dgT, *dsT = W + sm.dsT, *dhT = W + sm.dhT;
    memset(dhT, 0, sizeof(float) * (size_t)g.F * dm.L);
    if (kind == HY_MH) {
        float *doT = dgT;
        hy_back_bwd(&g, &m, l, qT, dy, doT, rows);
        float *hr = gT; /* free in mh-hyena's backward */
        hy_reverse_filters(hT, hr, g.F, dm.L);
        MhJob j = {.g = &g, .sT = sT, .hT = hr, .D = P + m.D, .doT = doT, .dsT = dsT,
                   .dhp = W + sm.dhp, .work = W + sm.work, .B = dm.B, .L = dm.L, .rows = rows,
                   .slot = r16(3 * (size_t)HY_QB * dm.L)};
        pool_for((size_t)dm.B * g.G, hy_mh_pair_bwd, &j);
        for (int b = 0; b < dm.B; b++) /* in sequence order, so results repeat */
            for (int hd = 0; hd < g.G; hd++) {
                const float *s = j.dhp + ((size_t)b * g.G + hd) * dm.L;
                float *d = dhT + (size_t)hd * dm.L;
                for (int n = 0; n < dm.L; n++) d[n] += s[dm.L - 1 - n];
                G[m.D + hd] += s[dm.L - 1];
            }
    } else {
        if (kind == HY_PLAIN) {
            hy_gate(qT, sT, gT, g.C, rows);
            hy_back_bwd(&g, &m, l, gT, dy, dgT, rows);
        } else {
            float *oT = W + sm.oT, *doT = W + sm.doT, *sc = W + sm.sc, *dp = W + sm.dp;
            const float *p = A + am.p;
            const int32_t *idx = g.dense ? NULL : (const int32_t *)(A + am.idx);
            hy_gate(qT, sT, gT, g.C, rows);
            Job j = {.g = &g, .gT = gT, .out = oT, .rows = rows, .pT = A + am.pT};
            pool_for((size_t)g.inner, hy_mix_fwd, &j);
            hy_back_bwd(&g, &m, l, oT, dy, doT, rows);
            j.a = doT, j.out = dgT;
            pool_for((size_t)g.inner, hy_mix_bwd_g, &j);
            j.out = W + sm.dpT;
            pool_for((size_t)g.E, hy_mix_bwd_p, &j);
            hy_dp_by_slot(W + sm.dpT, idx, rows, g.ks, dp);
            router_route_bwd(g.dense, idx, p, A + am.keep, dp, (int)rows, g.E, g.k, sc);
            /* the router reads x: its input gradient is added after the front end's */
            mm(true, false, g.d, g.E, (int)rows, 1.0f, x, g.d, sc, g.E, 1.0f, G + m.Wr, g.E);
            colsum_add(sc, rows, g.E, g.E, G + m.br);
        }
        /* dg -> dx0 = dg * q and dq = dg * x0; p = v * x1 recomputed; dp split to v and x1 */
        LcGates gates = {.a = sT + 2 * cs, .b = sT + cs, .x0 = sT, .y = qT, .dg = dgT,
                         .dx0 = dsT, .da = dsT + 2 * cs, .db = dsT + cs};
        longconv_bwd(LC_AUTO, g.C, dm.B, dm.L, rows, NULL, hT, P + m.D, NULL, NULL, dhT, G + m.D,
                     W + sm.work, &gates);
    }
    hy_filter_bwd(&g, &m, l, dm.L, A + am.fa, dhT, W + sm.fb);
    hy_front_bwd(&g, &m, l, x, dm, uT, dsT, W + sm.duT, dx);
    if (kind == HY_EXPERTS && dx)
        mm(false, true, (int)rows, g.d, g.E, 1.0f, W + sm.sc, g.E, P + m.Wr, g.E, 1.0f, dx, g.d);
}

static void hyena_forward(Layer *l, const float *x, float *y, Dims d) { hy_forward(l, HY_PLAIN, x, y, d); }
static void mh_forward(Layer *l, const float *x, float *y, Dims d) { hy_forward(l, HY_MH, x, y, d); }
static void ex_forward(Layer *l, const float *x, float *y, Dims d) { hy_forward(l, HY_EXPERTS, x, y, d); }
static void hyena_backward(Layer *l, const float *x, const float *dy, float *dx, Dims d) { hy_backward(l, HY_PLAIN, x, dy, dx, d); }
static void mh_backward(Layer *l, const float *x, const float *dy, float *dx, Dims d) { hy_backward(l, HY_MH, x, dy, dx, d); }
static void ex_backward(Layer *l, const float *x, const float *dy, float *dx, Dims d) { hy_backward(l, HY_EXPERTS, x, dy, dx, d); }

/* Expert load of the last forward pass (kept at the start of acts, whatever the batch shape). */
static int ex_report(const Layer *l, char *buf, size_t n)
{
    Hy g = hy_geo(&l->cfg, HY_EXPERTS);
    return router_load_text(l->acts, g.E, buf, n);
}

const LayerKind layer_hyena = {
    .name = "hyena",
    .summary = "Hyena order 2: gated short and implicit long convolutions, inner 4 x width",
    .role = ROLE_SEQUENCE,
    .knobs = hyena_knobs,
    .n_knobs = ML_COUNT(hyena_knobs),
    .state_formula = "channels x L = expand x width x L (the long filter is a FIR over the sequence)",
    .page = "Equation: x0, x1, v = short causal convolutions of x Win, C = expand x width channels\n"
            "  each; y_t = x0_t * (sum_{s<=t} h_{t-s} (v * x1)_s + D (v * x1)_t), then y Wout. The\n"
            "  long filter h is implicit: a small MLP (filter) of the position, decaying with t.\n"
            "On MAD: a gated convolution of the whole sequence, with no attention pattern. On\n"
            "  madlab's quick protocol hyena swiglu hyena swiglu scores 0.69 (recall 0.91, noisy\n"
            "  recall 0.76, selective copying 0.73) against 0.94 for mh-hyena striped with\n"
            "  mh-attention (1.00 on all three): see madlab(1).\n"
            "State: at inference the filter spans the sequence, channels x L floats (C x L),\n"
            "  growing with L like attention's KV cache; mh-hyena keeps a fixed state instead.",
    .n_params = hyena_params,
    .n_acts = hyena_acts,
    .n_scratch = hyena_scratch,
    .state_size = hyena_state,
    .flops = hyena_flops,
    .init = hyena_init,
    .forward = hyena_forward,
    .backward = hyena_backward,
    .validate = hyena_validate,
};

const LayerKind layer_mh_hyena = {
    .name = "mh-hyena",
    .summary = "multi-head Hyena: heads of 16 channels by default, one long filter per head",
    .role = ROLE_SEQUENCE,
    .knobs = mh_knobs,
    .n_knobs = ML_COUNT(mh_knobs),
    .state_formula = "heads x head x head = (width / head) x head^2 (linear attention form)",
    .page = "Equation: per head of `head` channels, q, k, v from short convolutions of x Win;\n"
            "  o_t = sum_{s<=t} (h_{t-s} + D [s=t]) (q_t . k_s) v_s, the head's long filter h\n"
            "  acting as a decay over distance (linear attention with a Toeplitz mask); o Wout.\n"
            "On MAD: the multi-head form recalls in context far better than hyena; striped with\n"
            "  mh-attention it scores 0.94 on madlab's quick protocol (recall, noisy recall and\n"
            "  selective copying 1.00), against 0.69 for hyena alone (madlab(1)).\n"
            "State: heads x head x head floats, fixed: it does not grow with L.",
    .n_params = mh_params,
    .n_acts = mh_acts,
    .n_scratch = mh_scratch,
    .state_size = mh_state,
    .flops = mh_flops,
    .init = mh_init,
    .forward = mh_forward,
    .backward = mh_backward,
    .validate = mh_validate,
};

const LayerKind layer_hyena_experts = {
    .name = "hyena-experts",
    .summary = "Hyena over 8 experts of 16 channels, routed by the top 2 per token "
               "(reference: dense, every expert; topk: sparse)",
    .role = ROLE_SEQUENCE,
    .knobs = ex_knobs,
    .n_knobs = ML_COUNT(ex_knobs),
    .state_formula = "experts x inner x L (the long filter is a FIR over the sequence)",
    .page = "Equation: a Hyena operator over experts x inner channels, y_c = x0_c *\n"
            "  (h_c conv (v_c * x1_c) + D_c v_c x1_c); then the router's weighted sum over the\n"
            "  experts of each inner channel, o_i = sum_e p_e y_(i,e), and o Wout.\n"
            "Routing (knob routing): reference, the default and the paper's model: scores below\n"
            "  the top_k-th largest set to 0, softmax over all experts, every expert mixed in.\n"
            "  topk: softmax over the top_k scores only. The convolutions run over every\n"
            "  channel either way, so the two cost about the same here.\n"
            "On MAD: striped with attention and moe-mlp, the paper's best Hyena design (0.783\n"
            "  against 0.774 with mh-hyena in its place).\n"
            "State: experts x inner x L (a long FIR filter, as hyena).",
    .n_params = ex_params,
    .n_acts = ex_acts,
    .n_scratch = ex_scratch,
    .state_size = ex_state,
    .flops = ex_flops,
    .init = ex_init,
    .forward = ex_forward,
    .backward = ex_backward,
    .validate = ex_validate,
    .report = ex_report,
};
