/* The two backbones of the reference.
 *
 * LanguageModel: embedding, pre-norm residual layers x + f(norm(x)), final norm, untied head.
 *
 * AutoEncoder (compression): the same embedding and residual layers as encoder, without a final
 * norm; the encoding is the stream at the last position (x[:, -1], the compression token). The
 * decoder adds a fixed sin/cos position code to the encoding for every position p < L and runs
 * one MLP shared by all positions: norm, Linear(d,d), GELU (erf), norm, Linear(d,d), GELU, then
 * the unembedding norm and Linear(d,V). Init as the reference: every decoder and head Linear
 * weight N(0, 0.02), biases 0, embedding N(0, 0.02). The reference also re-draws the Linear
 * weights inside the encoder's layers N(0, 0.02); our layer kinds do not expose which of their
 * parameters are Linear weights, so encoder layers keep their own init (a documented deviation).
 *
 *  Memory follows llm.c: one arena each for parameters, gradients and
 * the two AdamW moments (same offsets), one for activations sized for max_batch x max_len, and
 * one scratch area shared by all layers. Nothing is allocated after model_new. */
#include "config.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct Model {
    ModelCfg cfg;
    int n;          /* blocks */
    Layer *layers;  /* embed, (norm, mixer) x n, final norm, head */
    size_t n_layers, n_params;
    float *params, *grads, *m, *v, *acts, *scratch;
    /* views into acts */
    float *res;     /* (n+1) x rows x d: the residual stream before each block, and after the last */
    float *normed;  /* (n+1) x rows x d: norm outputs, the last for the head */
    float *tmp, *dres, *dtmp, *logits, *dlogits;
    /* autoencoder decoder: inputs and outputs of its steps, and the position code (max_len x d) */
    float *h0, *n1, *a1, *g1, *n2, *a2, *g2, *n3, *posemb;
    double *row_loss;
    /* the batch of the last forward */
    const int32_t *tokens, *targets;
    int B, L;
};

static Layer *embed_of(Model *m) { return &m->layers[0]; }
static Layer *norm_of(Model *m, int i) { return &m->layers[1 + 2 * i]; }
static Layer *mixer_of(Model *m, int i) { return &m->layers[2 + 2 * i]; }
static Layer *final_norm_of(Model *m) { return &m->layers[1 + 2 * m->n]; }
static Layer *head_of(Model *m) { return &m->layers[2 + 2 * m->n]; }
/* autoencoder only: the decoder's first norm, Linear, second norm, Linear (the third norm and
 * the unembedding are final_norm_of and head_of) */
static Layer *dec_of(Model *m, int i) { return &m->layers[3 + 2 * m->n + i]; }

/* ---- the decoder's Linear(d, d) with bias, as a layer kind private to the model ---- */
static size_t lin_params(const LayerCfg *c) { return (size_t)c->width * c->width + c->width; }
static size_t lin_zero(const LayerCfg *c, Dims d) { return 0; }
static double lin_state(const LayerCfg *c, int L) { return 0; }
static double lin_flops(const LayerCfg *c, int L) { return 2.0 * c->width * c->width * L; }
static void lin_init(Layer *l, Rng *r)
{
    size_t dd = (size_t)l->cfg.width * l->cfg.width;
    init_normal(l->params, dd, 0.02f, r);
    init_const(l->params + dd, (size_t)l->cfg.width, 0.0f);
}
static void lin_forward(Layer *l, const float *x, float *y, Dims dm)
{
    int d = l->cfg.width;
    linear_fwd(x, l->params, l->params + (size_t)d * d, y, dm.B * dm.L, d, d);
}
static void lin_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    int d = l->cfg.width;
    linear_bwd(x, l->params, dy, dx, l->grads, l->grads + (size_t)d * d, dm.B * dm.L, d, d);
}
static const LayerKind decoder_linear = {
    .name = "decoder-linear",
    .summary = "the autoencoder decoder's Linear(d, d) with bias",
    .role = ROLE_CHANNEL,
    .state_formula = "0",
    .n_params = lin_params,
    .n_acts = lin_zero,
    .n_scratch = lin_zero,
    .state_size = lin_state,
    .flops = lin_flops,
    .init = lin_init,
    .forward = lin_forward,
    .backward = lin_backward,
};

/* GELU with the exact erf, as torch.nn.GELU() */
static inline float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
static inline float gelu_erf_grad(float x)
{
    return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) +
           x * 0.39894228040143268f * expf(-0.5f * x * x);
}

void model_free(Model *m)
{
    if (!m) return;
    arena_free(m->params);
    arena_free(m->grads);
    arena_free(m->m);
    arena_free(m->v);
    arena_free(m->acts);
    arena_free(m->scratch);
    free(m->row_loss);
    free(m->layers);
    free(m);
}

int model_width_check(int width, Backbone backbone, MlError *err)
{
    if (backbone == BACKBONE_AUTOENCODER && (width < 4 || width % 2 != 0))
        return ml_fail(err, "the autoencoder's sin/cos position code needs an even width >= 4 "
                            "(got %d)", width);
    return 0;
}

Model *model_new(const ModelCfg *cfg, MlError *err)
{
    if (cfg->stack.n < 1) return ml_fail(err, "the stack is empty"), NULL;
    if (cfg->width < 1 || cfg->vocab < 2 || cfg->max_batch < 1 || cfg->max_len < 1)
        return ml_fail(err, "model: width, vocab, batch and length must be positive"), NULL;
    Model *m = calloc(1, sizeof *m);
    if (!m) return ml_fail(err, "out of memory for the model"), NULL;
    m->cfg = *cfg;
    m->n = cfg->stack.n;
    bool ae = cfg->backbone == BACKBONE_AUTOENCODER;
    if (model_width_check(cfg->width, cfg->backbone, err) != 0) {
        free(m);
        return NULL;
    }
    m->n_layers = 2 * (size_t)m->n + 3 + (ae ? 4 : 0);
    m->layers = calloc(m->n_layers, sizeof *m->layers);
    if (!m->layers) goto oom;

    const LayerKind *norm = cfg->norm == NORM_LAYER ? layer_kind_find("layernorm")
                                                    : layer_kind_find("rmsnorm");
    int d = cfg->width, V = cfg->vocab;
    layer_cfg_default(layer_kind_find("embedding"), d, V, cfg->max_len, &embed_of(m)->cfg);
    embed_of(m)->kind = layer_kind_find("embedding");
    for (int i = 0; i < m->n; i++) {
        norm_of(m, i)->kind = norm;
        layer_cfg_default(norm, d, V, cfg->max_len, &norm_of(m, i)->cfg);
        Layer *x = mixer_of(m, i);
        x->kind = cfg->stack.kind[i];
        layer_cfg_default(x->kind, d, V, cfg->max_len, &x->cfg);
        memcpy(x->cfg.knob, cfg->stack.knob[i], sizeof x->cfg.knob);
        char vm[256];
        if (x->kind->validate && x->kind->validate(&x->cfg, vm, sizeof vm) != 0) {
            ml_fail(err, "%s", vm);
            model_free(m);
            return NULL;
        }
    }
    final_norm_of(m)->kind = norm;
    layer_cfg_default(norm, d, V, cfg->max_len, &final_norm_of(m)->cfg);
    head_of(m)->kind = layer_kind_find("head");
    layer_cfg_default(head_of(m)->kind, d, V, cfg->max_len, &head_of(m)->cfg);
    if (ae)
        for (int i = 0; i < 4; i++) {
            Layer *l = dec_of(m, i);
            l->kind = i % 2 ? &decoder_linear : norm;
            layer_cfg_default(norm, d, V, cfg->max_len, &l->cfg); /* width is all either reads */
        }

    Dims dm = {cfg->max_batch, cfg->max_len, NULL};
    size_t rows = (size_t)dm.B * dm.L, stream = round_up(rows * d, ML_ALIGN_FLOATS);
    size_t np = 0, na = 0, ns = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        np += round_up(l->kind->n_params(&l->cfg), ML_ALIGN_FLOATS);
        na += round_up(l->kind->n_acts(&l->cfg, dm), ML_ALIGN_FLOATS);
        size_t s = l->kind->n_scratch(&l->cfg, dm);
        ns = s > ns ? s : ns;
    }
    size_t nlog = round_up(rows * V, ML_ALIGN_FLOATS);
    size_t npos = round_up((size_t)cfg->max_len * d, ML_ALIGN_FLOATS);
    size_t nbuf = 2 * (size_t)(m->n + 1) * stream + 3 * stream + 2 * nlog + (ae ? 8 * stream + npos : 0);
    /* params, grads and the two moments; activations and buffers; scratch; per-row losses */
    double bytes = sizeof(float) * (4.0 * (double)np + (double)na + (double)nbuf + (double)ns) +
                   sizeof(double) * (double)rows, have = ml_memory_bytes();
    if (have > 0 && bytes > have) {
        ml_fail(err, "out of memory building the model (batch %d x length %d, width %d): it needs "
                     "%.1f GiB, the machine has %.1f GiB", cfg->max_batch, cfg->max_len,
                cfg->width, bytes / (1u << 30), have / (1u << 30));
        model_free(m);
        return NULL;
    }
    m->n_params = np;
    m->params = arena_alloc_floats(np);
    m->grads = arena_alloc_floats(np);
    m->m = arena_alloc_floats(np);
    m->v = arena_alloc_floats(np);
    m->acts = arena_alloc_floats(na + nbuf);
    m->scratch = arena_alloc_floats(ns);
    m->row_loss = calloc(rows, sizeof(double));
    if (!m->params || !m->grads || !m->m || !m->v || !m->acts || !m->scratch || !m->row_loss)
        goto oom;

    size_t po = 0, ao = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        l->params = m->params + po;
        l->grads = m->grads + po;
        l->acts = m->acts + ao;
        l->scratch = m->scratch;
        po += round_up(l->kind->n_params(&l->cfg), ML_ALIGN_FLOATS);
        ao += round_up(l->kind->n_acts(&l->cfg, dm), ML_ALIGN_FLOATS);
    }
    float *p = m->acts + ao;
    m->res = p, p += (size_t)(m->n + 1) * stream;
    m->normed = p, p += (size_t)(m->n + 1) * stream;
    m->tmp = p, p += stream;
    m->dres = p, p += stream;
    m->dtmp = p, p += stream;
    m->logits = p, p += nlog;
    m->dlogits = p, p += nlog;
    if (ae) {
        float **dec[] = {&m->h0, &m->n1, &m->a1, &m->g1, &m->n2, &m->a2, &m->g2, &m->n3};
        for (int i = 0; i < 8; i++) *dec[i] = p, p += stream;
        m->posemb = p;
        /* sin(p w_i) for the first d/2 entries, cos(p w_i) for the last, w_i = 10000^(-i/(d/2-1)) */
        int half = d / 2;
        for (int pos = 0; pos < cfg->max_len; pos++)
            for (int i = 0; i < half; i++) {
                double w = pow(10000.0, -(double)i / (half - 1)), a = pos * w;
                m->posemb[(size_t)pos * d + i] = (float)sin(a);
                m->posemb[(size_t)pos * d + half + i] = (float)cos(a);
            }
    }
    return m;
oom:
    ml_fail(err, "out of memory building the model (batch %d x length %d, width %d)",
            cfg->max_batch, cfg->max_len, cfg->width);
    model_free(m);
    return NULL;
}

void model_init(Model *m, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    memset(m->params, 0, sizeof(float) * m->n_params);
    for (size_t i = 0; i < m->n_layers; i++) m->layers[i].kind->init(&m->layers[i], &r);
    if (m->cfg.backbone == BACKBONE_AUTOENCODER) { /* the reference's N(0, 0.02) unembedding */
        Layer *h = head_of(m);
        size_t dv = (size_t)m->cfg.width * m->cfg.vocab;
        init_normal(h->params, dv, 0.02f, &r);
        init_const(h->params + dv, (size_t)m->cfg.vocab, 0.0f);
    }
    memset(m->m, 0, sizeof(float) * m->n_params);
    memset(m->v, 0, sizeof(float) * m->n_params);
    model_zero_grad(m);
}

static size_t count_params(const Model *m, bool with_embed)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        if (!with_embed && (l->kind->role == ROLE_EMBED || l->kind->role == ROLE_HEAD)) continue;
        n += l->kind->n_params(&l->cfg);
    }
    return n;
}

size_t model_n_params(const Model *m) { return count_params(m, true); }
size_t model_n_params_no_embed(const Model *m) { return count_params(m, false); }

double model_flops(const Model *m, int L)
{
    double f = 0;
    for (size_t i = 0; i < m->n_layers; i++) f += m->layers[i].kind->flops(&m->layers[i].cfg, L);
    return f;
}

double model_state_size(const Model *m, int L)
{
    double s = 0;
    for (int i = 0; i < m->n; i++) {
        const Layer *l = &m->layers[2 + 2 * i];
        s += l->kind->state_size(&l->cfg, L);
    }
    return s;
}

int model_n_blocks(const Model *m) { return m->n; }
const Layer *model_block(const Model *m, int i) { return &m->layers[2 + 2 * i]; }
const float *model_logits(const Model *m) { return m->logits; }

void model_zero_grad(Model *m) { memset(m->grads, 0, sizeof(float) * m->n_params); }

/* out = a + b over n floats, split over the pool (out may be a). */
typedef struct {
    float *out;
    const float *a, *b;
} AddJob;

static void add_range(void *ctx, size_t i0, size_t i1, int tid)
{
    const AddJob *j = ctx;
    for (size_t i = i0; i < i1; i++) j->out[i] = j->a[i] + j->b[i];
}

static void add(float *out, const float *a, const float *b, size_t n)
{
    AddJob j = {out, a, b};
    pool_for(n, add_range, &j);
}

/* ---- autoencoder decoder steps, split over the pool ---- */
typedef struct {
    Model *m;
    int L;
    float *out;
    const float *in, *pre;
} DecJob;

/* h0[b, p] = encoding of sequence b (its stream at the last position) + posemb[p] */
static void dec_h0_rows(void *ctx, size_t r0, size_t r1, int tid)
{
    const DecJob *j = ctx;
    int d = j->m->cfg.width, L = j->L;
    for (size_t r = r0; r < r1; r++) {
        size_t b = r / L, p = r % L;
        const float *e = j->in + (b * L + L - 1) * d, *pe = j->m->posemb + p * d;
        float *h = j->out + r * d;
        for (int i = 0; i < d; i++) h[i] = e[i] + pe[i];
    }
}

static void gelu_range(void *ctx, size_t i0, size_t i1, int tid)
{
    const DecJob *j = ctx;
    for (size_t i = i0; i < i1; i++) j->out[i] = gelu_erf(j->in[i]);
}

/* out = dy * gelu'(pre), in place allowed */
static void gelu_bwd_range(void *ctx, size_t i0, size_t i1, int tid)
{
    const DecJob *j = ctx;
    for (size_t i = i0; i < i1; i++) j->out[i] = j->in[i] * gelu_erf_grad(j->pre[i]);
}

/* d encoding of sequence b = sum over positions of dh0[b, p]; it lands on the stream at the
 * last position, every other position gets 0. Rows here are sequences. */
static void dec_pool_bwd(void *ctx, size_t b0, size_t b1, int tid)
{
    const DecJob *j = ctx;
    int d = j->m->cfg.width, L = j->L;
    for (size_t b = b0; b < b1; b++) {
        float *o = j->out + b * L * d;
        memset(o, 0, sizeof(float) * (size_t)L * d);
        float *e = o + (size_t)(L - 1) * d;
        for (int p = 0; p < L; p++) {
            const float *g = j->in + (b * L + p) * d;
            for (int i = 0; i < d; i++) e[i] += g[i];
        }
    }
}

double model_forward(Model *m, const int32_t *tokens, const int32_t *targets, int B, int L)
{
    int d = m->cfg.width;
    size_t rows = (size_t)B * L, stream = round_up((size_t)m->cfg.max_batch * m->cfg.max_len * d,
                                                   ML_ALIGN_FLOATS);
    Dims dm = {B, L, tokens};
    m->tokens = tokens;
    m->targets = targets;
    m->B = B;
    m->L = L;
    bool ae = m->cfg.backbone == BACKBONE_AUTOENCODER;
    embed_of(m)->kind->forward(embed_of(m), NULL, m->res, dm);
    norm_forward_sum(norm_of(m, 0), m->res, NULL, NULL, m->normed, dm);
    /* Each block's residual addition is fused with the norm that reads its result: the next
     * block's, or the final norm (the autoencoder has none). */
    for (int i = 0; i < m->n; i++) {
        float *x = m->res + i * stream, *xn = m->normed + i * stream;
        float *sum = x + stream, *sum_n = xn + stream;
        Layer *f = mixer_of(m, i), *next = i + 1 < m->n ? norm_of(m, i + 1) : final_norm_of(m);
        f->kind->forward(f, xn, m->tmp, dm);
        if (i + 1 == m->n && ae)
            add(sum, x, m->tmp, rows * d);
        else
            norm_forward_sum(next, x, m->tmp, sum, sum_n, dm);
    }
    float *xf = m->res + m->n * stream;
    if (ae) {
        DecJob j = {m, L, m->h0, xf, NULL};
        pool_for(rows, dec_h0_rows, &j);
        dec_of(m, 0)->kind->forward(dec_of(m, 0), m->h0, m->n1, dm);
        dec_of(m, 1)->kind->forward(dec_of(m, 1), m->n1, m->a1, dm);
        j = (DecJob){m, L, m->g1, m->a1, NULL};
        pool_for(rows * d, gelu_range, &j);
        dec_of(m, 2)->kind->forward(dec_of(m, 2), m->g1, m->n2, dm);
        dec_of(m, 3)->kind->forward(dec_of(m, 3), m->n2, m->a2, dm);
        j = (DecJob){m, L, m->g2, m->a2, NULL};
        pool_for(rows * d, gelu_range, &j);
        final_norm_of(m)->kind->forward(final_norm_of(m), m->g2, m->n3, dm);
        head_of(m)->kind->forward(head_of(m), m->n3, m->logits, dm);
    } else {
        head_of(m)->kind->forward(head_of(m), m->normed + m->n * stream, m->logits, dm);
    }
    if (!targets) return 0.0;
    return cross_entropy(m->logits, targets, rows, m->cfg.vocab, NULL, m->row_loss);
}

/* Autoencoder: from dlogits back to the gradient of the encoder's output stream, in m->dres. */
static void decoder_backward(Model *m, Dims dm)
{
    size_t rows = (size_t)dm.B * dm.L, n = rows * m->cfg.width;
    head_of(m)->kind->backward(head_of(m), m->n3, m->dlogits, m->dtmp, dm);
    final_norm_of(m)->kind->backward(final_norm_of(m), m->g2, m->dtmp, m->tmp, dm);
    DecJob j = {m, dm.L, m->tmp, m->tmp, m->a2};
    pool_for(n, gelu_bwd_range, &j);
    dec_of(m, 3)->kind->backward(dec_of(m, 3), m->n2, m->tmp, m->dtmp, dm);
    dec_of(m, 2)->kind->backward(dec_of(m, 2), m->g1, m->dtmp, m->tmp, dm);
    j = (DecJob){m, dm.L, m->tmp, m->tmp, m->a1};
    pool_for(n, gelu_bwd_range, &j);
    dec_of(m, 1)->kind->backward(dec_of(m, 1), m->n1, m->tmp, m->dtmp, dm);
    dec_of(m, 0)->kind->backward(dec_of(m, 0), m->h0, m->dtmp, m->tmp, dm);
    j = (DecJob){m, dm.L, m->dres, m->tmp, NULL};
    pool_for((size_t)dm.B, dec_pool_bwd, &j);
}

void model_backward(Model *m)
{
    int d = m->cfg.width, B = m->B, L = m->L;
    size_t rows = (size_t)B * L, stream = round_up((size_t)m->cfg.max_batch * m->cfg.max_len * d,
                                                   ML_ALIGN_FLOATS);
    Dims dm = {B, L, m->tokens};
    cross_entropy(m->logits, m->targets, rows, m->cfg.vocab, m->dlogits, m->row_loss);
    if (m->cfg.backbone == BACKBONE_AUTOENCODER) {
        decoder_backward(m, dm);
    } else {
        float *xf = m->res + m->n * stream, *xfn = m->normed + m->n * stream;
        head_of(m)->kind->backward(head_of(m), xfn, m->dlogits, m->dtmp, dm);
        final_norm_of(m)->kind->backward(final_norm_of(m), xf, m->dtmp, m->dres, dm);
    }
    for (int i = m->n - 1; i >= 0; i--) {
        float *x = m->res + i * stream, *xn = m->normed + i * stream;
        Layer *nl = norm_of(m, i), *f = mixer_of(m, i);
        f->kind->backward(f, xn, m->dres, m->tmp, dm);
        nl->kind->backward(nl, x, m->tmp, m->dtmp, dm);
        add(m->dres, m->dres, m->dtmp, rows * d);
    }
    embed_of(m)->kind->backward(embed_of(m), NULL, m->dres, NULL, dm);
}

typedef struct {
    float *p, *g, *m, *v;
    float lr, wd, b1, b2, eps, c1, c2;
} AdamJob;

/* In blocks of ADAM_BLOCK: the loops without sqrtf vectorise (sqrtf may set errno, so a loop
 * that calls it stays scalar); the square roots of the block run in a loop of their own. */
#define ADAM_BLOCK 256
static void adamw_range(void *ctx, size_t i0, size_t i1, int tid)
{
    const AdamJob *j = ctx;
    float *restrict p = j->p, *restrict m = j->m, *restrict v = j->v;
    const float *restrict g = j->g;
    const float lr = j->lr, lrwd = j->lr * j->wd, b1 = j->b1, b2 = j->b2, eps = j->eps;
    const float c1 = j->c1, c2 = j->c2;
    float rt[ADAM_BLOCK];
    for (size_t b = i0; b < i1; b += ADAM_BLOCK) {
        int n = i1 - b < ADAM_BLOCK ? (int)(i1 - b) : ADAM_BLOCK;
        for (int k = 0; k < n; k++) {
            size_t i = b + (size_t)k;
            p[i] -= lrwd * p[i]; /* decoupled decay, as torch.optim.AdamW */
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            rt[k] = v[i] / c2;
        }
        for (int k = 0; k < n; k++) rt[k] = sqrtf(rt[k]);
        for (int k = 0; k < n; k++) p[b + k] -= lr * (m[b + k] / c1) / (rt[k] + eps);
    }
}

void model_adamw(Model *m, float lr, float wd, float beta1, float beta2, float eps, int t)
{
    AdamJob j = {m->params, m->grads, m->m, m->v, lr, wd, beta1, beta2, eps,
                 1.0f - powf(beta1, (float)t), 1.0f - powf(beta2, (float)t)};
    pool_for(m->n_params, adamw_range, &j);
}

size_t model_arena(Model *m, float **params, float **grads)
{
    if (params) *params = m->params;
    if (grads) *grads = m->grads;
    return m->n_params;
}
