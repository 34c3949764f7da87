/* The language model of the reference: embedding, pre-norm residual layers x + f(norm(x)),
 * final norm, untied head. Memory follows llm.c: one arena each for parameters, gradients and
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

Model *model_new(const ModelCfg *cfg, MlError *err)
{
    if (cfg->stack.n < 1) return ml_fail(err, "the stack is empty"), NULL;
    if (cfg->width < 1 || cfg->vocab < 2 || cfg->max_batch < 1 || cfg->max_len < 1)
        return ml_fail(err, "model: width, vocab, batch and length must be positive"), NULL;
    Model *m = calloc(1, sizeof *m);
    if (!m) return ml_fail(err, "out of memory for the model"), NULL;
    m->cfg = *cfg;
    m->n = cfg->stack.n;
    m->n_layers = 2 * (size_t)m->n + 3;
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
    size_t nbuf = 2 * (size_t)(m->n + 1) * stream + 3 * stream + 2 * nlog;
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
    m->dlogits = p;
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
    embed_of(m)->kind->forward(embed_of(m), NULL, m->res, dm);
    for (int i = 0; i < m->n; i++) {
        float *x = m->res + i * stream, *xn = m->normed + i * stream;
        Layer *nl = norm_of(m, i), *f = mixer_of(m, i);
        nl->kind->forward(nl, x, xn, dm);
        f->kind->forward(f, xn, m->tmp, dm);
        add(m->res + (i + 1) * stream, x, m->tmp, rows * d);
    }
    float *xf = m->res + m->n * stream, *xfn = m->normed + m->n * stream;
    final_norm_of(m)->kind->forward(final_norm_of(m), xf, xfn, dm);
    head_of(m)->kind->forward(head_of(m), xfn, m->logits, dm);
    if (!targets) return 0.0;
    return cross_entropy(m->logits, targets, rows, m->cfg.vocab, NULL, m->row_loss);
}

void model_backward(Model *m)
{
    int d = m->cfg.width, B = m->B, L = m->L;
    size_t rows = (size_t)B * L, stream = round_up((size_t)m->cfg.max_batch * m->cfg.max_len * d,
                                                   ML_ALIGN_FLOATS);
    Dims dm = {B, L, m->tokens};
    cross_entropy(m->logits, m->targets, rows, m->cfg.vocab, m->dlogits, m->row_loss);
    float *xf = m->res + m->n * stream, *xfn = m->normed + m->n * stream;
    head_of(m)->kind->backward(head_of(m), xfn, m->dlogits, m->dtmp, dm);
    final_norm_of(m)->kind->backward(final_norm_of(m), xf, m->dtmp, m->dres, dm);
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

static void adamw_range(void *ctx, size_t i0, size_t i1, int tid)
{
    const AdamJob *j = ctx;
    for (size_t i = i0; i < i1; i++) {
        float g = j->g[i];
        j->p[i] -= j->lr * j->wd * j->p[i]; /* decoupled decay, as torch.optim.AdamW */
        j->m[i] = j->b1 * j->m[i] + (1.0f - j->b1) * g;
        j->v[i] = j->b2 * j->v[i] + (1.0f - j->b2) * g * g;
        float mh = j->m[i] / j->c1, vh = j->v[i] / j->c2;
        j->p[i] -= j->lr * mh / (sqrtf(vh) + j->eps);
    }
}

void model_adamw(Model *m, float lr, float wd, float beta1, float beta2, float eps, int t)
{
    AdamJob j = {m->params, m->grads, m->m, m->v, lr, wd, beta1, beta2, eps,
                 1.0f - powf(beta1, (float)t), 1.0f - powf(beta2, (float)t)};
    pool_for(m->n_params, adamw_range, &j);
}
