/* Token embedding: row `token` of a (vocab x width) table, N(0, 0.02) as the reference. */
#include "config.h"
#include "internal.h"

#include <string.h>

static size_t emb_params(const LayerCfg *c) { return (size_t)c->vocab * c->width; }
static size_t zero_floats(const LayerCfg *c, Dims d) { return 0; }
static double no_state(const LayerCfg *c, int L) { return 0; }
static double no_flops(const LayerCfg *c, int L) { return 0; }

static void emb_init(Layer *l, Rng *r) { init_normal(l->params, emb_params(&l->cfg), 0.02f, r); }

static void emb_forward(Layer *l, const float *x, float *y, Dims dm)
{
    int d = l->cfg.width;
    for (size_t i = 0; i < (size_t)dm.B * dm.L; i++)
        memcpy(y + i * d, l->params + (size_t)dm.tokens[i] * d, sizeof(float) * d);
}

/* Serial on purpose: rows of the table collide, and the sum order must not depend on timing. */
static void emb_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    int d = l->cfg.width;
    for (size_t i = 0; i < (size_t)dm.B * dm.L; i++) {
        float *g = l->grads + (size_t)dm.tokens[i] * d;
        const float *s = dy + i * d;
        for (int j = 0; j < d; j++) g[j] += s[j];
    }
}

const LayerKind layer_embedding = {
    .name = "embedding",
    .summary = "token embedding table (vocab x width)",
    .role = ROLE_EMBED,
    .state_formula = "0",
    .page = "Equation: x_t = E[token_t], a row of a vocab x width table.\n"
             "Added by the model in front of every stack.\nState: none.",
    .n_params = emb_params,
    .n_acts = zero_floats,
    .n_scratch = zero_floats,
    .state_size = no_state,
    .flops = no_flops,
    .init = emb_init,
    .forward = emb_forward,
    .backward = emb_backward,
};
