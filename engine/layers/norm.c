/* RMSNorm (the reference benchmark's norm) and LayerNorm, eps 1e-5, weight 1 and bias 0 at init.
 * Rows are split over the pool; weight gradients are summed per band of rows in scratch and then
 * reduced in band order (pool_for_bands: one thread gives two threads' numbers). */
#include "config.h"
#include "internal.h"

#include <string.h>

#define NORM_EPS 1e-5f

typedef struct {
    const Layer *l;
    const float *x, *dy;
    float *y, *dx;
    int d;
    bool centre; /* LayerNorm subtracts the mean */
    /* forward: when add is set, the input is x + add, stored in sum */
    const float *add;
    float *sum;
} NormJob;

static size_t rms_params(const LayerCfg *c) { return (size_t)c->width; }
static size_t ln_params(const LayerCfg *c) { return 2 * (size_t)c->width; }
/* acts: (rstd, mean) per row; the mean stays 0 for RMSNorm. */
static size_t norm_acts(const LayerCfg *c, Dims d) { return 2 * (size_t)d.B * d.L; }
static size_t norm_scratch(const LayerCfg *c, Dims d) { return ML_MAX_THREADS * 2 * (size_t)c->width; }
static double no_state(const LayerCfg *c, int L) { return 0; }
static double norm_flops(const LayerCfg *c, int L) { return 4.0 * c->width * L; }

static void norm_init(Layer *l, Rng *r)
{
    init_const(l->params, (size_t)l->cfg.width, 1.0f);
    if (l->kind->n_params(&l->cfg) > (size_t)l->cfg.width)
        init_const(l->params + l->cfg.width, (size_t)l->cfg.width, 0.0f);
}

/* Row sums run in NL double lanes, then a tree: the lanes vectorise where one running sum is a
 * chain of dependent adds. */
#define NL 8
static double lanes(const double *a)
{
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

static void norm_fwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const NormJob *j = ctx;
    int d = j->d;
    const float *w = j->l->params, *b = j->centre ? w + d : NULL;
    float *st = j->l->acts;
    for (size_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d;
        float *y = j->y + r * d;
        if (j->add) { /* the residual sum, row by row while it is in cache */
            float *s = j->sum + r * d;
            const float *a = j->add + r * d;
            for (int i = 0; i < d; i++) s[i] = x[i] + a[i];
            x = s;
        }
        double mu = 0, ss = 0, a[NL] = {0}, q[NL] = {0};
        int dv = d / NL * NL;
        if (j->centre) {
            for (int i = 0; i < dv; i += NL)
                for (int k = 0; k < NL; k++) a[k] += x[i + k];
            for (int i = dv; i < d; i++) a[i - dv] += x[i];
            mu = lanes(a) / d;
        }
        for (int i = 0; i < dv; i += NL)
            for (int k = 0; k < NL; k++) q[k] += ((double)x[i + k] - mu) * ((double)x[i + k] - mu);
        for (int i = dv; i < d; i++) q[i - dv] += ((double)x[i] - mu) * ((double)x[i] - mu);
        ss = lanes(q);
        float rs = 1.0f / sqrtf((float)(ss / d) + NORM_EPS);
        st[2 * r] = rs;
        st[2 * r + 1] = (float)mu;
        if (b)
            for (int i = 0; i < d; i++) y[i] = ((x[i] - (float)mu) * rs) * w[i] + b[i];
        else
            for (int i = 0; i < d; i++) y[i] = ((x[i] - (float)mu) * rs) * w[i] + 0.0f;
    }
}

static void norm_bwd_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const NormJob *j = ctx;
    int d = j->d;
    const float *w = j->l->params;
    const float *st = j->l->acts;
    float *dw = j->l->scratch + (size_t)tid * 2 * d, *db = dw + d;
    for (size_t r = r0; r < r1; r++) {
        const float *x = j->x + r * d, *dy = j->dy + r * d;
        float rs = st[2 * r], mu = st[2 * r + 1];
        double a[NL] = {0}, q[NL] = {0}; /* lanes of the sums of dxhat and dxhat * xhat */
        int dv = d / NL * NL;
        for (int i = 0; i < d; i++) {
            float xh = (x[i] - mu) * rs;
            dw[i] += dy[i] * xh;
            db[i] += dy[i];
        }
        for (int i = 0; i < dv; i += NL)
            for (int k = 0; k < NL; k++) {
                float xh = (x[i + k] - mu) * rs, g = dy[i + k] * w[i + k];
                a[k] += g;
                q[k] += (double)g * xh;
            }
        for (int i = dv; i < d; i++) {
            float xh = (x[i] - mu) * rs, g = dy[i] * w[i];
            a[i - dv] += g;
            q[i - dv] += (double)g * xh;
        }
        double s_g = lanes(a), s_gx = lanes(q);
        if (!j->dx) continue;
        float m_g = j->centre ? (float)(s_g / d) : 0.0f, m_gx = (float)(s_gx / d);
        float *dx = j->dx + r * d;
        for (int i = 0; i < d; i++) {
            float xh = (x[i] - mu) * rs;
            dx[i] = rs * (dy[i] * w[i] - m_g - xh * m_gx);
        }
    }
}

static bool centred(const Layer *l) { return l->kind->n_params(&l->cfg) > (size_t)l->cfg.width; }

void norm_forward_sum(Layer *l, const float *x, const float *add, float *sum, float *y, Dims dm)
{
    size_t rows = (size_t)dm.B * dm.L;
    NormJob j = {.l = l, .x = x, .y = y, .d = l->cfg.width, .centre = centred(l), .add = add,
                 .sum = sum};
    pool_for(rows, norm_fwd_rows, &j);
}

static void norm_forward(Layer *l, const float *x, float *y, Dims dm)
{
    norm_forward_sum(l, x, NULL, NULL, y, dm);
}

static void norm_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    size_t rows = (size_t)dm.B * dm.L;
    int d = l->cfg.width, parts = pool_bands();
    bool centre = centred(l);
    NormJob j = {.l = l, .x = x, .dy = dy, .dx = dx, .d = d, .centre = centre};
    for (int t = 0; t < parts; t++) memset(l->scratch + (size_t)t * 2 * d, 0, sizeof(float) * 2 * d);
    pool_for_bands(rows, norm_bwd_rows, &j);
    parts_add(l->grads, l->scratch, parts, 2 * (size_t)d, (size_t)d, 1.0f);
    if (centre) parts_add(l->grads + d, l->scratch + d, parts, 2 * (size_t)d, (size_t)d, 1.0f);
}

const LayerKind layer_rmsnorm = {
    .name = "rmsnorm",
    .summary = "x / sqrt(mean(x^2) + eps) * w (the default norm)",
    .role = ROLE_NORM,
    .state_formula = "0",
    .page = "Equation: before each block, x / rms(x) * g (RMSNorm) or (x - mean) / std * g + b\n"
             "  (LayerNorm). Pre-norm residual blocks: x + f(norm(x)).\nState: none.",
    .n_params = rms_params,
    .n_acts = norm_acts,
    .n_scratch = norm_scratch,
    .state_size = no_state,
    .flops = norm_flops,
    .init = norm_init,
    .forward = norm_forward,
    .backward = norm_backward,
};

const LayerKind layer_layernorm = {
    .name = "layernorm",
    .summary = "(x - mean) / sqrt(var + eps) * w + b",
    .role = ROLE_NORM,
    .state_formula = "0",
    .page = "Equation: before each block, x / rms(x) * g (RMSNorm) or (x - mean) / std * g + b\n"
             "  (LayerNorm). Pre-norm residual blocks: x + f(norm(x)).\nState: none.",
    .n_params = ln_params,
    .n_acts = norm_acts,
    .n_scratch = norm_scratch,
    .state_size = no_state,
    .flops = norm_flops,
    .init = norm_init,
    .forward = norm_forward,
    .backward = norm_backward,
};
