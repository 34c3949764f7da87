/* RWKV-5 and RWKV-6 channel mixers: sigmoid(x_r W_r) * (relu(x_k W_k)^2 W_v), x_k and x_r
 * token-shift mixed (RWKV-5 x mu + xs (1 - mu), RWKV-6 x + (xs - x) mu), inner width expand x
 * width (4 by default). The projections are sgemms over all B*L rows. */
#include "config.h"
#include "rwkv.h"

#include <string.h>

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
    for (size_t i = r0 * j->d; i < r1 * j->d; i++) j->y[i] = j->KV[i] / (1.0f + fast_expf(-j->RP[i]));
}

static void cm_out_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const CJob *j = ctx;
    for (size_t i = r0 * j->d; i < r1 * j->d; i++) {
        float s = 1.0f / (1.0f + fast_expf(-j->RP[i]));
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
    RwkvMix m = {.x = x, .alpha = j.alpha, .X = j.X, .rows = j.rows, .stride = j.rd, .n = 2, .d = d,
             .L = dm.L};
    rwkv_mix_forward(&m);
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
    int d = j.d, h = j.h, rows = (int)j.rows, T = pool_bands();
    const float *Wk = l->params + 2 * (size_t)d, *Wv = Wk + (size_t)d * h, *Wr = Wv + (size_t)h * d;
    float *dmu = l->grads, *dWk = dmu + 2 * (size_t)d, *dWv = dWk + (size_t)d * h,
          *dWr = dWv + (size_t)h * d;
    size_t ps = r16(2 * (size_t)d);
    RwkvMix m = {.x = x, .alpha = j.alpha, .X = j.X, .dX = j.DX, .dx = dx, .part = j.parts,
             .rows = j.rows, .stride = j.rd, .pstride = ps, .n = 2, .d = d, .L = dm.L};
    rwkv_mix_forward(&m);
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
    rwkv_mix_backward(&m);
    parts_add(dmu, j.parts, T, ps, 2 * (size_t)d, v6 ? -1.0f : 1.0f); /* d alpha / d mu */
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
    .n_knobs = ML_COUNT(cm_knobs),
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
    .n_knobs = ML_COUNT(cm_knobs),
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
