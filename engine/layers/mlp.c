/* Channel mixers: mlp (GELU, tanh form) and swiglu. Weights are stored (in x out), row-major,
 * with no biases, as the reference configures them. */
#include "config.h"
#include "internal.h"

#include <string.h>

enum { K_INNER };

/* ---------------- mlp: y = W2 gelu(W1 x) ---------------- */

static const KnobDesc mlp_knobs[] = {{"inner", 512, 8, 8192, "hidden width", NULL}};

static size_t mlp_params(const LayerCfg *c) { return 2 * (size_t)c->width * c->knob[K_INNER]; }
static size_t mlp_acts(const LayerCfg *c, Dims d) { return (size_t)d.B * d.L * c->knob[K_INNER]; }
static size_t mlp_scratch(const LayerCfg *c, Dims d) { return (size_t)d.B * d.L * c->knob[K_INNER]; }
static double no_state(const LayerCfg *c, int L) { (void)c; (void)L; return 0; }
static double mlp_flops(const LayerCfg *c, int L)
{
    return 2.0 * 2.0 * c->width * c->knob[K_INNER] * L;
}

static void mlp_init(Layer *l, Rng *r)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER];
    init_uniform(l->params, (size_t)d * h, 1.0f / sqrtf((float)d), r);
    init_uniform(l->params + (size_t)d * h, (size_t)h * d, 1.0f / sqrtf((float)h), r);
}

/* Elementwise passes over (rows x h), split over the pool by rows. */
typedef struct {
    const float *u, *v;
    float *a, *b;
    int h;
} Elem;

static void gelu_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Elem *e = ctx;
    for (size_t i = r0 * e->h; i < r1 * e->h; i++) e->a[i] = gelu_tanh(e->u[i]);
}

static void gelu_grad_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Elem *e = ctx;
    for (size_t i = r0 * e->h; i < r1 * e->h; i++) e->a[i] *= gelu_tanh_grad(e->u[i]);
}

/* acts: pre-activation u = x W1 (rows x h). scratch: gelu(u), then its gradient. */
static void mlp_forward(Layer *l, const float *x, float *y, Dims dm)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER], rows = dm.B * dm.L;
    const float *W1 = l->params, *W2 = W1 + (size_t)d * h;
    float *u = l->acts, *a = l->scratch;
    Elem e = {.u = u, .a = a, .h = h};
    linear_fwd(x, W1, NULL, u, rows, d, h);
    pool_for(rows, gelu_rows, &e);
    linear_fwd(a, W2, NULL, y, rows, h, d);
}

static void mlp_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER], rows = dm.B * dm.L;
    const float *W1 = l->params, *W2 = W1 + (size_t)d * h;
    float *dW1 = l->grads, *dW2 = dW1 + (size_t)d * h;
    float *a = l->scratch;
    Elem e = {.u = l->acts, .a = a, .h = h};
    pool_for(rows, gelu_rows, &e);
    mm(true, false, h, d, rows, 1.0f, a, h, dy, d, 1.0f, dW2, d); /* dW2 += a^T dy */
    mm(false, true, rows, h, d, 1.0f, dy, d, W2, d, 0.0f, a, h);  /* da = dy W2^T */
    pool_for(rows, gelu_grad_rows, &e);
    linear_bwd(x, W1, a, dx, dW1, NULL, rows, d, h);
}

const LayerKind layer_mlp = {
    .name = "mlp",
    .summary = "two-layer perceptron with GELU, inner width 512",
    .role = ROLE_CHANNEL,
    .knobs = mlp_knobs,
    .n_knobs = ML_COUNT(mlp_knobs),
    .state_formula = "0 (no state across positions)",
    .page = "Equation: y = gelu(x W1 + b1) W2 + b2, position by position (inner width 4 x width).\n"
             "On MAD: mixes channels, not positions; carries the memorization task (facts in\n"
             "  its weights); useless alone for recall.\n"
             "State: none; each position is computed on its own.",
    .n_params = mlp_params,
    .n_acts = mlp_acts,
    .n_scratch = mlp_scratch,
    .state_size = no_state,
    .flops = mlp_flops,
    .init = mlp_init,
    .forward = mlp_forward,
    .backward = mlp_backward,
};

/* ---------------- swiglu: y = W3 (silu(W1 x) * (W2 x)) ---------------- */
/* W1 and W2 share one (d x 2h) matrix so one product computes both; column j < h is W1. */

static const KnobDesc swiglu_knobs[] = {{"inner", 352, 8, 8192, "hidden width", NULL}};

static size_t swiglu_params(const LayerCfg *c) { return 3 * (size_t)c->width * c->knob[K_INNER]; }
/* acts: g = x [W1 W2] (rows x 2h), then the gated product a and sigmoid(g1) (rows x h each),
 * kept so that the backward neither recomputes the gate nor takes the exponential again. */
static size_t swiglu_acts(const LayerCfg *c, Dims d)
{
    return 4 * (size_t)d.B * d.L * c->knob[K_INNER];
}
/* scratch: da (rows x h) and dg (rows x 2h), backward only. */
static size_t swiglu_scratch(const LayerCfg *c, Dims d)
{
    return 3 * (size_t)d.B * d.L * c->knob[K_INNER];
}
static double swiglu_flops(const LayerCfg *c, int L)
{
    return 2.0 * 3.0 * c->width * c->knob[K_INNER] * L;
}

static void swiglu_init(Layer *l, Rng *r)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER];
    init_uniform(l->params, (size_t)d * 2 * h, 1.0f / sqrtf((float)d), r);
    init_uniform(l->params + (size_t)d * 2 * h, (size_t)h * d, 1.0f / sqrtf((float)h), r);
}

/* Elem.u = g (rows x 2h), Elem.a = gated product, Elem.b = sigmoid(g1) (rows x h each). */
static void swiglu_gate_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Elem *e = ctx;
    int h = e->h;
    for (size_t r = r0; r < r1; r++) {
        const float *u = e->u + r * 2 * h, *v = u + h;
        float *o = e->a + r * h, *sg = e->b + r * h;
        for (int j = 0; j < h; j++) {
            float s = sigmoidf(u[j]);
            sg[j] = s;
            o[j] = u[j] * s * v[j]; /* silu(u) v */
        }
    }
}

/* Elem.u = g, Elem.v = da (rows x h), Elem.a = sigmoid(g1), Elem.b = dg (rows x 2h). */
static void swiglu_grad_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const Elem *e = ctx;
    int h = e->h;
    for (size_t r = r0; r < r1; r++) {
        const float *u = e->u + r * 2 * h, *v = u + h, *da = e->v + r * h, *sg = e->a + r * h;
        float *du = e->b + r * 2 * h, *dv = du + h;
        for (int j = 0; j < h; j++) {
            float s = sg[j];
            dv[j] = da[j] * u[j] * s;
            du[j] = da[j] * v[j] * s * (1.0f + u[j] * (1.0f - s));
        }
    }
}

static void swiglu_forward(Layer *l, const float *x, float *y, Dims dm)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER], rows = dm.B * dm.L;
    const float *W12 = l->params, *W3 = W12 + (size_t)d * 2 * h;
    float *g = l->acts, *a = g + (size_t)rows * 2 * h, *sg = a + (size_t)rows * h;
    Elem e = {.u = g, .a = a, .b = sg, .h = h};
    linear_fwd(x, W12, NULL, g, rows, d, 2 * h);
    pool_for(rows, swiglu_gate_rows, &e);
    linear_fwd(a, W3, NULL, y, rows, h, d);
}

static void swiglu_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER], rows = dm.B * dm.L;
    const float *W12 = l->params, *W3 = W12 + (size_t)d * 2 * h;
    float *dW12 = l->grads, *dW3 = dW12 + (size_t)d * 2 * h;
    const float *g = l->acts, *a = g + (size_t)rows * 2 * h, *sg = a + (size_t)rows * h;
    float *da = l->scratch, *dg = da + (size_t)rows * h;
    Elem e = {.u = g, .v = da, .a = (float *)sg, .b = dg, .h = h};
    mm(true, false, h, d, rows, 1.0f, a, h, dy, d, 1.0f, dW3, d); /* dW3 += a^T dy */
    mm(false, true, rows, h, d, 1.0f, dy, d, W3, d, 0.0f, da, h);  /* da = dy W3^T */
    pool_for(rows, swiglu_grad_rows, &e);
    linear_bwd(x, W12, dg, dx, dW12, NULL, rows, d, 2 * h);
}

const LayerKind layer_swiglu = {
    .name = "swiglu",
    .summary = "gated linear unit with SiLU, inner width 352",
    .role = ROLE_CHANNEL,
    .knobs = swiglu_knobs,
    .n_knobs = ML_COUNT(swiglu_knobs),
    .state_formula = "0 (no state across positions)",
    .page = "Equation: y = (silu(x W1) * (x W3)) W2, position by position (a gated MLP).\n"
             "On MAD: the default channel mixer of the paper; helps memorization and gives\n"
             "  sequence mixers a per-token nonlinearity.\n"
             "State: none; each position is computed on its own.",
    .n_params = swiglu_params,
    .n_acts = swiglu_acts,
    .n_scratch = swiglu_scratch,
    .state_size = no_state,
    .flops = swiglu_flops,
    .init = swiglu_init,
    .forward = swiglu_forward,
    .backward = swiglu_backward,
};
