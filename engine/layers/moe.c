/* moe-mlp: the reference's MoeMlp with sparse routing.
 *   h = (x W1) * gelu_tanh(x W2)   (shared up projections, C = inner x experts channels)
 *   z_e = h Wd_e                    (expert e's down projection, C x width)
 *   y = sum over the token's top-k experts of p_e z_e, p = softmax over the k selected scores
 * The reference computes every expert and takes a softmax over all E scores with the others set
 * to 0; here only the selected experts are computed (tokens are grouped by expert so each
 * expert is one sgemm), and unselected experts get weight exactly 0, so the down projection
 * costs k/E of the dense one. */
#include "config.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>

enum { K_EXPERTS, K_TOPK, K_INNER };

static const KnobDesc moe_knobs[] = {
    {"experts", 8, 1, ML_MAX_EXPERTS, "experts"},
    {"top_k", 2, 1, ML_MAX_EXPERTS, "experts per token (at most experts)"},
    {"inner", 16, 1, 1024, "hidden channels per expert; the up projection has inner x experts"},
};

typedef struct { int d, E, k, C; } Moe;

static Moe geo(const LayerCfg *c)
{
    Moe g = {c->width, c->knob[K_EXPERTS], c->knob[K_TOPK], 0};
    g.C = c->knob[K_INNER] * g.E;
    return g;
}


/* params: Wup (d x 2C: W1 | W2), Wd (E x C x d), Wr (d x E), br (E) */
static size_t moe_params(const LayerCfg *c)
{
    Moe g = geo(c);
    return (size_t)g.d * 2 * g.C + (size_t)g.E * g.C * g.d + (size_t)g.d * g.E + g.E;
}

/* acts: load (E, first: read by report), U (rows x 2C), p (rows x k), Z (rows*k x d), then
 * int32 idx, pos (rows x k), rowof (rows*k), start (E+1). */
typedef struct { size_t load, U, p, Z, idx, pos, rowof, start, total; } AMap;
static AMap amap(const Moe *g, Dims dm)
{
    AMap m;
    size_t rows = (size_t)dm.B * dm.L, n = rows * g->k, o = 0;
    m.load = o, o += r16((size_t)g->E);
    m.U = o, o += r16(rows * 2 * g->C);
    m.p = o, o += r16(n);
    m.Z = o, o += r16(n * g->d);
    m.idx = o, o += r16(n);
    m.pos = o, o += r16(n);
    m.rowof = o, o += r16(n);
    m.start = o, o += r16((size_t)g->E + 1);
    m.total = o;
    return m;
}

/* scratch: H (rows x C), Hg and dHg (rows*k x C), dZ (rows*k x d), dU (rows x 2C), scores/ds
 * (rows x E), dp (rows x k). */
typedef struct { size_t H, Hg, dHg, dZ, dU, sc, dp, total; } SMap;
static SMap smap(const Moe *g, Dims dm)
{
    SMap m;
    size_t rows = (size_t)dm.B * dm.L, n = rows * g->k, o = 0;
    m.H = o, o += r16(rows * g->C);
    m.Hg = o, o += r16(n * g->C);
    m.dHg = o, o += r16(n * g->C);
    m.dZ = o, o += r16(n * g->d);
    m.dU = o, o += r16(rows * 2 * g->C);
    m.sc = o, o += r16(rows * g->E);
    m.dp = o, o += r16(n);
    m.total = o;
    return m;
}

static size_t moe_acts(const LayerCfg *c, Dims d) { Moe g = geo(c); return amap(&g, d).total; }
static size_t moe_scratch(const LayerCfg *c, Dims d) { Moe g = geo(c); return smap(&g, d).total; }
static double no_state(const LayerCfg *c, int L) { return 0; }

/* Up projections, router, the k selected down projections, and the weighted sum. */
static double moe_flops(const LayerCfg *c, int L)
{
    Moe g = geo(c);
    return (double)L * (2.0 * g.d * 2 * g.C + 2.0 * g.C + 2.0 * g.d * g.E +
                        (double)g.k * 2.0 * g.C * g.d + 2.0 * g.k * g.d);
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
    const float *U, *Hsrc, *Z, *p, *dy, *dHg;
    float *H, *Hg, *y, *dZ, *dp, *dU;
    const int32_t *pos, *rowof;
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
    size_t c = 0;
    for (; c + VCH <= C; c += VCH)
        for (int v = 0; v < VCH; v++) {
            float dh = d1[c + v];
            d1[c + v] = dh * gelu_tanh(u2[c + v]);
            d2[c + v] = dh * u1[c + v] * gelu_tanh_grad(u2[c + v]);
        }
    for (; c < C; c++) {
        float dh = d1[c];
        d1[c] = dh * gelu_tanh(u2[c]);
        d2[c] = dh * u1[c] * gelu_tanh_grad(u2[c]);
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

static void moe_forward(Layer *l, const float *x, float *y, Dims dm)
{
    Moe g = geo(&l->cfg);
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
    router_topk(S + sm.sc, rows, g.E, g.k, idx, A + am.p);
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
    router_topk_bwd(idx, A + am.p, S + sm.dp, rows, g.E, g.k, ds);
    linear_bwd(x, P, S + sm.dU, dx, G, NULL, rows, g.d, 2 * g.C);
    mm(true, false, g.d, g.E, rows, 1.0f, x, g.d, ds, g.E, 1.0f, dWr, g.E);
    for (int r = 0; r < rows; r++)
        for (int e = 0; e < g.E; e++) dbr[e] += ds[(size_t)r * g.E + e];
    if (dx) mm(false, true, rows, g.d, g.E, 1.0f, ds, g.E, Wr, g.E, 1.0f, dx, g.d);
}

static int moe_report(const Layer *l, char *buf, size_t n)
{
    return router_load_text(l->acts, l->cfg.knob[K_EXPERTS], buf, n);
}

const LayerKind layer_moe_mlp = {
    .name = "moe-mlp",
    .summary = "mixture of 8 experts over a shared GELU-gated hidden layer, top-2 sparse routing",
    .role = ROLE_CHANNEL,
    .knobs = moe_knobs,
    .n_knobs = ML_COUNT(moe_knobs),
    .state_formula = "0 (no state across positions)",
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
