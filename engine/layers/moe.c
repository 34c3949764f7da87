/* moe-mlp: the reference's MoeMlp, with its routing or a sparse one (the routing knob).
 *   h = (x W1) * gelu_tanh(x W2)   (shared up projections, C = inner x experts channels)
 *   z_e = h Wd_e                    (expert e's down projection, C x width)
 *   y = sum_e p_e z_e
 * routing=reference (default), as the reference computes it: every expert's z_e, and p = softmax
 * over all E of the router's scores with those below the k-th largest set to 0, so the top k get
 * most weight but every expert contributes. Since y = [p_1 h | ... | p_E h] Wd (Wd stacked as
 * (E C) x d), the weighted sum is one sgemm of depth E*C per block of rows. routing=topk: p = softmax over the k selected scores,
 * 0 elsewhere, and only the selected experts are computed (tokens grouped by expert, one sgemm
 * each), so the down projection costs k/E of the dense one. */
#include "config.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>

enum { K_EXPERTS, K_TOPK, K_INNER, K_ROUTING };

static const KnobDesc moe_knobs[] = {
    {"experts", 8, 1, ML_MAX_EXPERTS, "experts", NULL},
    {"top_k", 2, 1, ML_MAX_EXPERTS, "experts per token (at most experts)", NULL},
    {"inner", 16, 1, 1024, "hidden channels per expert; the up projection has inner x experts", NULL},
    ROUTING_KNOB,
};

typedef struct { int d, E, k, C, dense; } Moe;

static Moe geo(const LayerCfg *c)
{
    Moe g = {c->width, c->knob[K_EXPERTS], c->knob[K_TOPK], 0, c->knob[K_ROUTING] == ROUTING_REFERENCE};
    g.C = c->knob[K_INNER] * g.E;
    return g;
}


/* params: Wup (d x 2C: W1 | W2), Wd (E x C x d), Wr (d x E), br (E) */
static size_t moe_params(const LayerCfg *c)
{
    Moe g = geo(c);
    return (size_t)g.d * 2 * g.C + (size_t)g.E * g.C * g.d + (size_t)g.d * g.E + g.E;
}

/* acts: load (E, first: read by report), U (rows x 2C), then
 *   reference: p and keep (rows x E);
 *   topk: p (rows x k), Z (rows*k x d), int32 idx, pos (rows x k), rowof (rows*k), start (E+1). */
typedef struct { size_t load, U, p, keep, Z, idx, pos, rowof, start, total; } AMap;
static AMap amap(const Moe *g, Dims dm)
{
    AMap m = {0};
    size_t rows = (size_t)dm.B * dm.L, n = rows * g->k, o = 0;
    m.load = o, o += r16((size_t)g->E);
    m.U = o, o += r16(rows * 2 * g->C);
    if (g->dense) {
        m.p = o, o += r16(rows * g->E);
        m.keep = o, o += r16(rows * g->E);
    } else {
        m.p = o, o += r16(n);
        m.Z = o, o += r16(n * g->d);
        m.idx = o, o += r16(n);
        m.pos = o, o += r16(n);
        m.rowof = o, o += r16(n);
        m.start = o, o += r16((size_t)g->E + 1);
    }
    m.total = o;
    return m;
}

/* scratch: dU (rows x 2C), scores/ds (rows x E), then
 *   reference: Hp (rows x E*C: p_e h, for Wd's gradient), dp (rows x E), and per block slot
 *              (one per block of DB rows, at most ML_MAX_THREADS) h and Hp or dHp of its rows;
 *   topk: H (rows x C), Hg and dHg (rows*k x C), dZ (rows*k x d), dp (rows x k). */
typedef struct { size_t H, Hg, dHg, dZ, dU, sc, dp, Hp, slots, slot, total; } SMap;
#define DB 128 /* rows per block of the reference routing's passes */
static size_t dense_blocks(Dims dm) { return ((size_t)dm.B * dm.L + DB - 1) / DB; }

static SMap smap(const Moe *g, Dims dm)
{
    SMap m = {0};
    size_t rows = (size_t)dm.B * dm.L, n = rows * g->k, o = 0, EC = (size_t)g->E * g->C;
    m.dU = o, o += r16(rows * 2 * g->C);
    m.sc = o, o += r16(rows * g->E);
    if (g->dense) {
        size_t nb = dense_blocks(dm), ns = nb < ML_MAX_THREADS ? nb : ML_MAX_THREADS;
        m.Hp = o, o += r16(rows * EC);
        m.dp = o, o += r16(rows * g->E);
        m.slot = r16((size_t)DB * g->C) + r16((size_t)DB * EC);
        m.slots = o, o += ns * m.slot;
    } else {
        m.H = o, o += r16(rows * g->C);
        m.Hg = o, o += r16(n * g->C);
        m.dHg = o, o += r16(n * g->C);
        m.dZ = o, o += r16(n * g->d);
        m.dp = o, o += r16(n);
    }
    m.total = o;
    return m;
}

static size_t moe_acts(const LayerCfg *c, Dims d) { Moe g = geo(c); return amap(&g, d).total; }
static size_t moe_scratch(const LayerCfg *c, Dims d) { Moe g = geo(c); return smap(&g, d).total; }
static double no_state(const LayerCfg *c, int L) { return 0; }

/* Up projections, router, the down projections of the experts used (all E for the reference
 * routing, the k selected for topk), and the weighted sum. */
static double moe_flops(const LayerCfg *c, int L)
{
    Moe g = geo(c);
    double used = g.dense ? g.E : g.k;
    return (double)L * (2.0 * g.d * 2 * g.C + 2.0 * g.C + 2.0 * g.d * g.E +
                        used * 2.0 * g.C * g.d + 2.0 * used * g.d);
}

static int moe_validate(const LayerCfg *c, char *msg, size_t n)
{
    if (c->knob[K_TOPK] > c->knob[K_EXPERTS])
        return snprintf(msg, n, "moe-mlp: top_k=%d exceeds experts=%d", c->knob[K_TOPK],
                        c->knob[K_EXPERTS]), -1;
    return 0;
}

static void moe_init(Layer *l, Rng *r)
{
    Moe g = geo(&l->cfg);
    float *P = l->params;
    size_t up = (size_t)g.d * 2 * g.C, down = (size_t)g.E * g.C * g.d;
    init_uniform(P, up, 1.0f / sqrtf((float)g.d), r);
    init_uniform(P + up, down, 1.0f / sqrtf((float)g.C), r);
    init_uniform(P + up + down, (size_t)g.d * g.E, 1.0f / sqrtf((float)g.d), r);
    init_const(P + up + down + (size_t)g.d * g.E, (size_t)g.E, 0.0f); /* Linear biases zeroed */
}

typedef struct {
    const Moe *g;
    const float *U, *Hsrc, *Z, *p, *dy, *dHg, *sc, *Wd, *keep;
    float *H, *Hg, *y, *dZ, *dp, *dU, *pw, *kw, *Hp, *ds, *slots;
    const int32_t *pos, *rowof;
    size_t rows, slot;
} Job;

/* h = u1 gelu(u2); restrict pointers and fixed chunks, so that it vectorises */
static void gelu_gate(const float *restrict u1, const float *restrict u2, float *restrict h,
                      size_t C)
{
    size_t c = 0;
    for (; c + VCH <= C; c += VCH)
        for (int v = 0; v < VCH; v++) h[c + v] = u1[c + v] * gelu_tanh(u2[c + v]);
    for (; c < C; c++) h[c] = u1[c] * gelu_tanh(u2[c]);
}

/* d1 holds dh on entry: d1 = dh gelu(u2), d2 = dh u1 gelu'(u2) */
static void gelu_gate_bwd(const float *restrict u1, const float *restrict u2, float *restrict d1,
                          float *restrict d2, size_t C)
{
    for (size_t c = 0; c < C; c++) {
        float grad, g = gelu_tanh_and_grad(u2[c], &grad), dh = d1[c];
        d1[c] = dh * g;
        d2[c] = dh * u1[c] * grad;
    }
}

static void h_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Job *j = ctx;
    int C = j->g->C;
    for (size_t r = r0; r < r1; r++) {
        const float *u1 = j->U + r * 2 * C;
        gelu_gate(u1, u1 + C, j->H + r * C, (size_t)C);
    }
}

static void gather_rows(void *ctx, size_t q0, size_t q1, int tid)
{
    const Job *j = ctx;
    int C = j->g->C;
    for (size_t q = q0; q < q1; q++)
        memcpy(j->Hg + q * C, j->Hsrc + (size_t)j->rowof[q] * C, sizeof(float) * C);
}

static void combine_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Job *j = ctx;
    int d = j->g->d, k = j->g->k;
    for (size_t r = r0; r < r1; r++) {
        float *y = j->y + r * d;
        vscale(j->p[r * k], j->Z + (size_t)j->pos[r * k] * d, y, (size_t)d);
        for (int s = 1; s < k; s++)
            vaxpy(j->p[r * k + s], j->Z + (size_t)j->pos[r * k + s] * d, y, (size_t)d);
    }
}

/* dZ at each routing = p dy; dp = dy . z */
static void dz_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Job *j = ctx;
    int d = j->g->d, k = j->g->k;
    for (size_t r = r0; r < r1; r++) {
        const float *dy = j->dy + r * d;
        for (int s = 0; s < k; s++) {
            size_t q = (size_t)j->pos[r * k + s];
            j->dp[r * k + s] = vdot(dy, j->Z + q * d, (size_t)d);
            vscale(j->p[r * k + s], dy, j->dZ + q * d, (size_t)d);
        }
    }
}

/* dH = sum of the routings' dHg; dU1 = dH gelu(U2), dU2 = dH U1 gelu'(U2) */
static void du_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Job *j = ctx;
    int C = j->g->C, k = j->g->k;
    for (size_t r = r0; r < r1; r++) {
        const float *u1 = j->U + r * 2 * C, *u2 = u1 + C;
        float *d1 = j->dU + r * 2 * C, *d2 = d1 + C;
        memcpy(d1, j->dHg + (size_t)j->pos[r * k] * C, sizeof(float) * C);
        for (int s = 1; s < k; s++) vadd(d1, j->dHg + (size_t)j->pos[r * k + s] * C, (size_t)C);
        gelu_gate_bwd(u1, u2, d1, d2, (size_t)C);
    }
}

/* ---- reference routing: every expert, in blocks of DB rows ---- */

/* h = u1 gelu(u2) for rows r0..r0+n into h, and hp = [p_1 h | ... | p_E h] */
static void dense_hp(const Job *j, size_t r0, int n, const float *p, float *h, float *hp)
{
    int C = j->g->C, E = j->g->E;
    for (int i = 0; i < n; i++) {
        const float *u1 = j->U + (r0 + i) * 2 * C;
        float *hi = h + (size_t)i * C;
        gelu_gate(u1, u1 + C, hi, (size_t)C);
        for (int e = 0; e < E; e++)
            vscale(p[(r0 + i) * E + e], hi, hp + ((size_t)i * E + e) * C, (size_t)C);
    }
}

/* Per block: the routing weights, then y = Hp Wd (depth E*C). */
static void dense_fwd_blocks(void *ctx, size_t b0, size_t b1, int tid)
{
    const Job *j = ctx;
    const Moe *g = j->g;
    int E = g->E, EC = E * g->C;
    float *h = j->slots + (size_t)tid * j->slot, *hp = h + r16((size_t)DB * g->C);
    for (size_t b = b0; b < b1; b++) {
        size_t r0 = b * DB;
        int n = j->rows - r0 < DB ? (int)(j->rows - r0) : DB;
        router_dense(j->sc + r0 * E, n, E, g->k, j->pw + r0 * E, j->kw + r0 * E);
        dense_hp(j, r0, n, j->pw, h, hp);
        mm1(false, false, n, g->d, EC, 1.0f, hp, EC, j->Wd, g->d, 0.0f, j->y + r0 * g->d, g->d);
    }
}

/* Per block: Hp (kept for Wd's gradient), dHp = dy Wd^T; then per row dp_e = dHp_e . h,
 * dh = sum_e p_e dHp_e, dU = the gated GELU's gradient, and the router's ds. */
static void dense_bwd_blocks(void *ctx, size_t b0, size_t b1, int tid)
{
    const Job *j = ctx;
    const Moe *g = j->g;
    int E = g->E, C = g->C, d = g->d, EC = E * C;
    float *h = j->slots + (size_t)tid * j->slot, *dhp = h + r16((size_t)DB * C);
    for (size_t b = b0; b < b1; b++) {
        size_t r0 = b * DB;
        int n = j->rows - r0 < DB ? (int)(j->rows - r0) : DB;
        dense_hp(j, r0, n, j->p, h, j->Hp + r0 * EC);
        mm1(false, true, n, EC, d, 1.0f, j->dy + r0 * d, d, j->Wd, d, 0.0f, dhp, EC);
        for (int i = 0; i < n; i++) {
            size_t r = r0 + i;
            const float *hi = h + (size_t)i * C, *dz = dhp + (size_t)i * EC, *u1 = j->U + r * 2 * C;
            float *d1 = j->dU + r * 2 * C;
            for (int e = 0; e < E; e++) {
                j->dp[r * E + e] = vdot(dz + (size_t)e * C, hi, (size_t)C);
                if (e == 0) vscale(j->p[r * E], dz, d1, (size_t)C);
                else vaxpy(j->p[r * E + e], dz + (size_t)e * C, d1, (size_t)C);
            }
            gelu_gate_bwd(u1, u1 + C, d1, d1 + C, (size_t)C);
        }
        router_dense_bwd(j->p + r0 * E, j->keep + r0 * E, j->dp + r0 * E, n, E, j->ds + r0 * E);
    }
}

static void dense_forward(Layer *l, const Moe *g, const float *x, float *y, Dims dm)
{
    AMap am = amap(g, dm);
    SMap sm = smap(g, dm);
    int rows = dm.B * dm.L;
    size_t up = (size_t)g->d * 2 * g->C, down = (size_t)g->E * g->C * g->d;
    const float *P = l->params, *Wd = P + up, *Wr = Wd + down, *br = Wr + (size_t)g->d * g->E;
    float *A = l->acts, *S = l->scratch;
    Job j = {.g = g, .U = A + am.U, .sc = S + sm.sc, .pw = A + am.p, .kw = A + am.keep, .Wd = Wd,
             .y = y, .slots = S + sm.slots, .slot = sm.slot, .rows = (size_t)rows};
    linear_fwd(x, P, NULL, A + am.U, rows, g->d, 2 * g->C);
    linear_fwd(x, Wr, br, S + sm.sc, rows, g->d, g->E);
    pool_for(dense_blocks(dm), dense_fwd_blocks, &j);
    router_mean_weight(A + am.p, rows, g->E, A + am.load);
}

static void dense_backward(Layer *l, const Moe *g, const float *x, const float *dy, float *dx,
                           Dims dm)
{
    AMap am = amap(g, dm);
    SMap sm = smap(g, dm);
    int rows = dm.B * dm.L, EC = g->E * g->C;
    size_t up = (size_t)g->d * 2 * g->C, down = (size_t)g->E * g->C * g->d;
    const float *P = l->params, *Wd = P + up, *Wr = Wd + down;
    float *G = l->grads, *dWd = G + up, *dWr = dWd + down, *dbr = dWr + (size_t)g->d * g->E;
    float *A = l->acts, *S = l->scratch, *ds = S + sm.sc;
    Job j = {.g = g, .U = A + am.U, .p = A + am.p, .keep = A + am.keep, .dy = dy, .Wd = Wd,
             .dp = S + sm.dp, .dU = S + sm.dU, .Hp = S + sm.Hp, .ds = ds, .slots = S + sm.slots,
             .slot = sm.slot, .rows = (size_t)rows};
    pool_for(dense_blocks(dm), dense_bwd_blocks, &j);
    mm(true, false, EC, g->d, rows, 1.0f, S + sm.Hp, EC, dy, g->d, 1.0f, dWd, g->d);
    linear_bwd(x, P, S + sm.dU, dx, G, NULL, rows, g->d, 2 * g->C);
    mm(true, false, g->d, g->E, rows, 1.0f, x, g->d, ds, g->E, 1.0f, dWr, g->E);
    colsum_add(ds, (size_t)rows, g->E, g->E, dbr);
    if (dx) mm(false, true, rows, g->d, g->E, 1.0f, ds, g->E, Wr, g->E, 1.0f, dx, g->d);
}

/* ---- topk routing: the selected experts only, tokens grouped by expert ---- */

static void moe_forward(Layer *l, const float *x, float *y, Dims dm)
{
    Moe g = geo(&l->cfg);
    if (g.dense) {
        dense_forward(l, &g, x, y, dm);
        return;
    }
    AMap am = amap(&g, dm);
    SMap sm = smap(&g, dm);
    int rows = dm.B * dm.L;
    size_t up = (size_t)g.d * 2 * g.C, down = (size_t)g.E * g.C * g.d;
    const float *P = l->params, *Wd = P + up, *Wr = Wd + down, *br = Wr + (size_t)g.d * g.E;
    float *A = l->acts, *S = l->scratch;
    int32_t *idx = (int32_t *)(A + am.idx), *pos = (int32_t *)(A + am.pos),
            *rowof = (int32_t *)(A + am.rowof), *start = (int32_t *)(A + am.start);
    Job j = {.g = &g, .U = A + am.U, .H = S + sm.H, .Hsrc = S + sm.H, .Hg = S + sm.Hg,
             .Z = A + am.Z, .p = A + am.p, .y = y, .pos = pos, .rowof = rowof};
    linear_fwd(x, P, NULL, A + am.U, rows, g.d, 2 * g.C);
    pool_for((size_t)rows, h_rows, &j);
    linear_fwd(x, Wr, br, S + sm.sc, rows, g.d, g.E);
    router_route(false, S + sm.sc, rows, g.E, g.k, idx, A + am.p, NULL);
    router_load(idx, rows, g.E, g.k, A + am.load);
    router_group(idx, rows, g.E, g.k, start, pos, rowof);
    pool_for((size_t)rows * g.k, gather_rows, &j);
    for (int e = 0; e < g.E; e++) {
        int n = start[e + 1] - start[e];
        mm(false, false, n, g.d, g.C, 1.0f, S + sm.Hg + (size_t)start[e] * g.C, g.C,
           Wd + (size_t)e * g.C * g.d, g.d, 0.0f, A + am.Z + (size_t)start[e] * g.d, g.d);
    }
    pool_for((size_t)rows, combine_rows, &j);
}

static void moe_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    Moe g = geo(&l->cfg);
    if (g.dense) {
        dense_backward(l, &g, x, dy, dx, dm);
        return;
    }
    AMap am = amap(&g, dm);
    SMap sm = smap(&g, dm);
    int rows = dm.B * dm.L;
    size_t up = (size_t)g.d * 2 * g.C, down = (size_t)g.E * g.C * g.d;
    const float *P = l->params, *Wd = P + up, *Wr = Wd + down;
    float *G = l->grads, *dWd = G + up, *dWr = dWd + down, *dbr = dWr + (size_t)g.d * g.E;
    float *A = l->acts, *S = l->scratch;
    const int32_t *idx = (int32_t *)(A + am.idx), *start = (int32_t *)(A + am.start);
    Job j = {.g = &g, .U = A + am.U, .H = S + sm.H, .Hsrc = S + sm.H, .Hg = S + sm.Hg,
             .Z = A + am.Z, .p = A + am.p, .dy = dy, .dZ = S + sm.dZ, .dp = S + sm.dp,
             .dHg = S + sm.dHg, .dU = S + sm.dU, .pos = (int32_t *)(A + am.pos),
             .rowof = (int32_t *)(A + am.rowof)};
    pool_for((size_t)rows, h_rows, &j);
    pool_for((size_t)rows * g.k, gather_rows, &j);
    pool_for((size_t)rows, dz_rows, &j);
    for (int e = 0; e < g.E; e++) {
        int n = start[e + 1] - start[e];
        if (n == 0) continue;
        const float *Hg = S + sm.Hg + (size_t)start[e] * g.C, *dZ = S + sm.dZ + (size_t)start[e] * g.d;
        mm(true, false, g.C, g.d, n, 1.0f, Hg, g.C, dZ, g.d, 1.0f, dWd + (size_t)e * g.C * g.d, g.d);
        mm(false, true, n, g.C, g.d, 1.0f, dZ, g.d, Wd + (size_t)e * g.C * g.d, g.d, 0.0f,
           S + sm.dHg + (size_t)start[e] * g.C, g.C);
    }
    pool_for((size_t)rows, du_rows, &j);
    float *ds = S + sm.sc;
    router_route_bwd(false, idx, A + am.p, NULL, S + sm.dp, rows, g.E, g.k, ds);
    linear_bwd(x, P, S + sm.dU, dx, G, NULL, rows, g.d, 2 * g.C);
    mm(true, false, g.d, g.E, rows, 1.0f, x, g.d, ds, g.E, 1.0f, dWr, g.E);
    colsum_add(ds, (size_t)rows, g.E, g.E, dbr);
    if (dx) mm(false, true, rows, g.d, g.E, 1.0f, ds, g.E, Wr, g.E, 1.0f, dx, g.d);
}

static int moe_report(const Layer *l, char *buf, size_t n)
{
    return router_load_text(l->acts, l->cfg.knob[K_EXPERTS], buf, n);
}

const LayerKind layer_moe_mlp = {
    .name = "moe-mlp",
    .summary = "mixture of 8 experts over a shared GELU-gated hidden layer, routed by the top 2 "
               "(reference: dense, every expert; topk: sparse)",
    .role = ROLE_CHANNEL,
    .knobs = moe_knobs,
    .n_knobs = ML_COUNT(moe_knobs),
    .state_formula = "0 (no state across positions)",
    .page = "Equation: h = (x W1) * gelu(x W2) (shared, inner x experts channels); expert e's\n"
            "  output z_e = h Wd_e; y = sum_e p_e z_e, p from the router's scores s = x Wr + b.\n"
            "Routing (knob routing): reference, the default and the paper's model: the scores\n"
            "  below the top_k-th largest are set to 0 (not -inf), then p = softmax over all\n"
            "  experts, so every expert is computed and contributes, the top k the most.\n"
            "  topk: p = softmax over the top_k scores only, 0 elsewhere, and only those experts\n"
            "  are computed: top_k/experts of the down projections' FLOPs, but less capacity\n"
            "  per token and not the model the paper measured.\n"
            "On MAD: in the paper, striped MH Hyena with it scores 0.774 against 0.766 with\n"
            "  SwiGLU; more parameters per FLOP for storing facts (memorization).\n"
            "State: none; each position is computed on its own.",
    .n_params = moe_params,
    .n_acts = moe_acts,
    .n_scratch = moe_scratch,
    .state_size = no_state,
    .flops = moe_flops,
    .init = moe_init,
    .forward = moe_forward,
    .backward = moe_backward,
    .validate = moe_validate,
    .report = moe_report,
};
