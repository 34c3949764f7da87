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

/* Both mixers run in blocks of ROW_BLOCK rows, each block's products and elementwise pass
 * together, so that the pass and the next product find the block's rows in cache (a whole
 * rows x h array is tens of MB). Each block is its own sgemm, which packs the weight matrix
 * again: 256 rows was the best trade at the default's shape (measured against 128 and 512). The
 * weight gradients, whose depth is all rows, stay whole products. */
#define ROW_BLOCK 256

typedef void (*BlockFn)(const void *job, int r0, int n); /* rows [r0, r0 + n) */
typedef struct {
    BlockFn fn;
    const void *job;
    int rows;
} Blocks;

static void run_blocks(void *ctx, size_t b0, size_t b1, int tid)
{
    const Blocks *b = ctx;
    (void)tid;
    for (size_t i = b0; i < b1; i++) {
        int r0 = (int)i * ROW_BLOCK, n = b->rows - r0 < ROW_BLOCK ? b->rows - r0 : ROW_BLOCK;
        b->fn(b->job, r0, n);
    }
}

static void in_row_blocks(int rows, BlockFn fn, const void *job)
{
    Blocks b = {fn, job, rows};
    pool_for((size_t)(rows + ROW_BLOCK - 1) / ROW_BLOCK, run_blocks, &b);
}

/* acts u = x W1 (rows x h); scratch a = gelu(u), then its gradient (rows x h); dy is NULL in
 * the forward. */
typedef struct {
    const float *x, *W1, *W2, *dy;
    float *u, *a, *y, *dx;
    int d, h;
} MlpJob;

static void gelu_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const MlpJob *j = ctx;
    (void)tid;
    for (size_t i = r0 * j->h; i < r1 * j->h; i++) j->a[i] = gelu_tanh(j->u[i]);
}

/* Forward, rows [r0, r0 + n): u = x W1, a = gelu(u), y = a W2. */
static void mlp_fwd_block(const void *job, int r0, int n)
{
    const MlpJob *j = job;
    int d = j->d, h = j->h;
    mm1(false, false, n, h, d, 1.0f, j->x + (size_t)r0 * d, d, j->W1, h, 0.0f,
        j->u + (size_t)r0 * h, h);
    gelu_rows((void *)j, (size_t)r0, (size_t)(r0 + n), 0);
    mm1(false, false, n, d, h, 1.0f, j->a + (size_t)r0 * h, h, j->W2, d, 0.0f,
        j->y + (size_t)r0 * d, d);
}

/* Backward, rows [r0, r0 + n): da = dy W2^T (over a), da *= gelu'(u), dx = da W1^T (if dx). */
static void mlp_bwd_block(const void *job, int r0, int n)
{
    const MlpJob *j = job;
    int d = j->d, h = j->h;
    float *a = j->a + (size_t)r0 * h;
    const float *u = j->u + (size_t)r0 * h;
    mm1(false, true, n, h, d, 1.0f, j->dy + (size_t)r0 * d, d, j->W2, d, 0.0f, a, h);
    for (size_t i = 0; i < (size_t)n * h; i++) a[i] *= gelu_tanh_grad(u[i]);
    if (j->dx)
        mm1(false, true, n, d, h, 1.0f, a, h, j->W1, h, 0.0f, j->dx + (size_t)r0 * d, d);
}

static MlpJob mlp_job(Layer *l)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER];
    MlpJob j = {.W1 = l->params, .u = l->acts, .a = l->scratch, .d = d, .h = h};
    j.W2 = j.W1 + (size_t)d * h;
    return j;
}

static void mlp_forward(Layer *l, const float *x, float *y, Dims dm)
{
    MlpJob j = mlp_job(l);
    j.x = x;
    j.y = y;
    in_row_blocks(dm.B * dm.L, mlp_fwd_block, &j);
}

static void mlp_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    MlpJob j = mlp_job(l);
    int d = j.d, h = j.h, rows = dm.B * dm.L;
    float *dW1 = l->grads, *dW2 = dW1 + (size_t)d * h;
    j.dy = dy;
    j.dx = dx;
    pool_for(rows, gelu_rows, &j);                                   /* a, again */
    mm(true, false, h, d, rows, 1.0f, j.a, h, dy, d, 1.0f, dW2, d); /* dW2 += a^T dy */
    in_row_blocks(rows, mlp_bwd_block, &j);
    mm(true, false, d, h, rows, 1.0f, x, d, j.a, h, 1.0f, dW1, h); /* dW1 += x^T da */
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

/* The gate over rows [r0, r1): a = silu(g1) g2 and sg = sigmoid(g1), from g = [g1 g2]. */
static void swiglu_gate(const float *g, float *a, float *sg, int h, size_t r0, size_t r1)
{
    for (size_t r = r0; r < r1; r++) {
        const float *u = g + r * 2 * h, *v = u + h;
        float *o = a + r * h, *s = sg + r * h;
        for (int j = 0; j < h; j++) {
            float sj = sigmoidf(u[j]);
            s[j] = sj;
            o[j] = u[j] * sj * v[j]; /* silu(u) v */
        }
    }
}

/* The gate's gradient over rows [r0, r1): dg = [dg1 dg2] from da and the forward's g and sg. */
static void swiglu_grad(const float *g, const float *sg, const float *da, float *dg, int h,
                        size_t r0, size_t r1)
{
    for (size_t r = r0; r < r1; r++) {
        const float *u = g + r * 2 * h, *v = u + h, *dar = da + r * h, *s = sg + r * h;
        float *du = dg + r * 2 * h, *dv = du + h;
        for (int j = 0; j < h; j++) {
            dv[j] = dar[j] * u[j] * s[j];
            du[j] = dar[j] * v[j] * s[j] * (1.0f + u[j] * (1.0f - s[j]));
        }
    }
}

/* acts g (rows x 2h), a, sg (rows x h each); scratch da (rows x h), dg (rows x 2h). */
typedef struct {
    const float *x, *W12, *W3, *dy;
    float *g, *a, *sg, *da, *dg, *y, *dx;
    int d, h, rows;
} SwJob;

/* Forward, rows [r0, r0 + n): g = x W12, the gate, y = a W3. */
static void swiglu_fwd_block(const void *job, int r0, int n)
{
    const SwJob *j = job;
    int d = j->d, h = j->h;
    mm1(false, false, n, 2 * h, d, 1.0f, j->x + (size_t)r0 * d, d, j->W12, 2 * h, 0.0f,
        j->g + (size_t)r0 * 2 * h, 2 * h);
    swiglu_gate(j->g, j->a, j->sg, h, (size_t)r0, (size_t)(r0 + n));
    mm1(false, false, n, d, h, 1.0f, j->a + (size_t)r0 * h, h, j->W3, d, 0.0f,
        j->y + (size_t)r0 * d, d);
}

/* Backward, rows [r0, r0 + n): da = dy W3^T, dg, dx = dg W12^T (if dx). */
static void swiglu_bwd_block(const void *job, int r0, int n)
{
    const SwJob *j = job;
    int d = j->d, h = j->h;
    mm1(false, true, n, h, d, 1.0f, j->dy + (size_t)r0 * d, d, j->W3, d, 0.0f,
        j->da + (size_t)r0 * h, h);
    swiglu_grad(j->g, j->sg, j->da, j->dg, h, (size_t)r0, (size_t)(r0 + n));
    if (j->dx)
        mm1(false, true, n, d, 2 * h, 1.0f, j->dg + (size_t)r0 * 2 * h, 2 * h, j->W12, 2 * h,
            0.0f, j->dx + (size_t)r0 * d, d);
}

static SwJob swiglu_job(Layer *l, Dims dm)
{
    int d = l->cfg.width, h = l->cfg.knob[K_INNER], rows = dm.B * dm.L;
    SwJob j = {.W12 = l->params, .d = d, .h = h, .rows = rows};
    j.W3 = j.W12 + (size_t)d * 2 * h;
    j.g = l->acts;
    j.a = j.g + (size_t)rows * 2 * h;
    j.sg = j.a + (size_t)rows * h;
    j.da = l->scratch;
    j.dg = j.da + (size_t)rows * h;
    return j;
}

static void swiglu_forward(Layer *l, const float *x, float *y, Dims dm)
{
    SwJob j = swiglu_job(l, dm);
    j.x = x;
    j.y = y;
    in_row_blocks(j.rows, swiglu_fwd_block, &j);
}

static void swiglu_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    SwJob j = swiglu_job(l, dm);
    int d = j.d, h = j.h, rows = j.rows;
    float *dW12 = l->grads, *dW3 = dW12 + (size_t)d * 2 * h;
    j.dy = dy;
    j.dx = dx;
    mm(true, false, h, d, rows, 1.0f, j.a, h, dy, d, 1.0f, dW3, d); /* dW3 += a^T dy */
    in_row_blocks(rows, swiglu_bwd_block, &j);
    mm(true, false, d, 2 * h, rows, 1.0f, x, d, j.dg, 2 * h, 1.0f, dW12, 2 * h); /* += x^T dg */
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
