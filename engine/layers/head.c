/* Output head: logits = x W + b, untied from the embedding (as the reference). */
#include "config.h"
#include "internal.h"

static size_t head_params(const LayerCfg *c) { return (size_t)c->width * c->vocab + c->vocab; }
static size_t zero_floats(const LayerCfg *c, Dims d) { return 0; }
static double no_state(const LayerCfg *c, int L) { return 0; }
static double head_flops(const LayerCfg *c, int L) { return 2.0 * c->width * c->vocab * L; }

static void head_init(Layer *l, Rng *r)
{
    int d = l->cfg.width, V = l->cfg.vocab;
    init_uniform(l->params, (size_t)d * V, 1.0f / sqrtf((float)d), r);
    init_const(l->params + (size_t)d * V, V, 0.0f);
}

static void head_forward(Layer *l, const float *x, float *y, Dims dm)
{
    int d = l->cfg.width, V = l->cfg.vocab;
    linear_fwd(x, l->params, l->params + (size_t)d * V, y, dm.B * dm.L, d, V);
}

static void head_backward(Layer *l, const float *x, const float *dy, float *dx, Dims dm)
{
    int d = l->cfg.width, V = l->cfg.vocab;
    linear_bwd(x, l->params, dy, dx, l->grads, l->grads + (size_t)d * V, dm.B * dm.L, d, V);
}

const LayerKind layer_head = {
    .name = "head",
    .summary = "output projection to vocabulary logits, with bias",
    .role = ROLE_HEAD,
    .state_formula = "0",
    .page = "Equation: logits_t = norm(x_t) W + b (vocab outputs), trained with cross-entropy on\n"
             "  the scored positions. Added by the model after every stack.\nState: none.",
    .n_params = head_params,
    .n_acts = zero_floats,
    .n_scratch = zero_floats,
    .state_size = no_state,
    .flops = head_flops,
    .init = head_init,
    .forward = head_forward,
    .backward = head_backward,
};
