/* Finite-difference gradient check over every registered layer kind, the loss, and a whole
 * model. Backward passes must match central differences of the forward pass. */
#include "config.h"
#include "internal.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define GC_WIDTH 32
#define GC_VOCAB 7
#define GC_B 2
#define GC_L 5

typedef struct {
    Layer l;
    Dims dm;
    int32_t tokens[GC_B * GC_L];
    float *x, *y, *r, *dx;
    size_t nx, ny, np;
} Probe;

static float *fvec(size_t n) { return arena_alloc_floats(n); }

/* knobs: the layer's knob values, or NULL for its defaults */
static void probe_new(Probe *p, const LayerKind *k, const int *knobs, uint64_t seed)
{
    Rng rng;
    rng_seed(&rng, seed);
    memset(p, 0, sizeof *p);
    p->l.kind = k;
    layer_cfg_default(k, GC_WIDTH, GC_VOCAB, GC_L, &p->l.cfg);
    if (knobs) memcpy(p->l.cfg.knob, knobs, sizeof p->l.cfg.knob);
    for (int i = 0; i < GC_B * GC_L; i++) p->tokens[i] = (int32_t)rng_below(&rng, GC_VOCAB);
    p->dm = (Dims){GC_B, GC_L, p->tokens};
    p->np = k->n_params(&p->l.cfg);
    p->l.params = fvec(p->np);
    p->l.grads = fvec(p->np);
    p->l.acts = fvec(k->n_acts(&p->l.cfg, p->dm));
    p->l.scratch = fvec(k->n_scratch(&p->l.cfg, p->dm));
    p->nx = (size_t)GC_B * GC_L * GC_WIDTH;
    p->ny = (size_t)GC_B * GC_L * layer_out_width(&p->l);
    p->x = fvec(p->nx);
    p->dx = fvec(p->nx);
    p->y = fvec(p->ny);
    p->r = fvec(p->ny);
    k->init(&p->l, &rng);
    /* Move parameters off their initial constants (norm weights 1, biases 0) so that a
     * gradient that ignores them would show. */
    for (size_t i = 0; i < p->np; i++) p->l.params[i] += 0.1f * rng_normal(&rng);
    for (size_t i = 0; i < p->nx; i++) p->x[i] = rng_normal(&rng);
    for (size_t i = 0; i < p->ny; i++) p->r[i] = (float)(2 * rng_uniform(&rng) - 1);
}

static void probe_free(Probe *p)
{
    arena_free(p->l.params);
    arena_free(p->l.grads);
    arena_free(p->l.acts);
    arena_free(p->l.scratch);
    arena_free(p->x);
    arena_free(p->dx);
    arena_free(p->y);
    arena_free(p->r);
}

static double probe_loss(Probe *p)
{
    p->l.kind->forward(&p->l, p->x, p->y, p->dm);
    double s = 0;
    for (size_t i = 0; i < p->ny; i++) s += (double)p->r[i] * p->y[i];
    return s;
}

/* Compares analytic d(loss)/dv with a central difference at up to `samples` entries of v. */
static int compare(Probe *p, float *v, const float *analytic, size_t n, const char *what,
                   int samples, Rng *rng)
{
    int bad = 0, unsure = 0;
    const float eps = 1e-2f;
    for (int s = 0; s < samples && s < (int)n; s++) {
        size_t i = n <= (size_t)samples ? (size_t)s : rng_below(rng, (uint32_t)n);
        float keep = v[i];
        double D[2];
        for (int h = 0; h < 2; h++) { /* steps eps and eps / 2 */
            float e = h ? eps / 2 : eps;
            v[i] = keep + e;
            double up = probe_loss(p);
            v[i] = keep - e;
            double down = probe_loss(p);
            D[h] = (up - down) / (2.0 * e);
        }
        v[i] = keep;
        /* The plain difference, or Richardson's (4 D(eps/2) - D(eps)) / 3, which cancels the
         * step's h^2 error where a layer is sharply curved (a per-head norm of a small output). */
        double num = D[0], rich = (4 * D[1] - D[0]) / 3, ana = analytic[i];
        double tol = 5e-3 + 2e-2 * fmax(fabs(num), fabs(ana));
        double tol_r = 5e-3 + 2e-2 * fmax(fabs(rich), fabs(ana));
        if (fabs(num - ana) <= tol || fabs(rich - ana) <= tol_r) continue;
        /* Where the two steps disagree the difference has not converged (near a singular
         * point, e.g. a linear-attention denominator close to 0): no reference there. A few
         * such entries are allowed; naive references in double check those layers closely. */
        if (fabs(D[0] - D[1]) > 5e-3 + 2e-2 * fabs(D[1]) && ++unsure <= samples / 8) continue;
        {
            if (bad < 5)
                fprintf(stderr, "%s: d/d%s[%zu] analytic %.6g numeric %.6g\n", p->l.kind->name,
                        what, i, ana, num);
            bad++;
        }
    }
    return bad;
}

static void check_kind_knobs(const LayerKind *k, const int *knobs)
{
    Probe p;
    probe_new(&p, k, knobs, 1234);
    Rng rng;
    rng_seed(&rng, 99);
    probe_loss(&p);
    memset(p.l.grads, 0, sizeof(float) * p.np);
    for (size_t i = 0; i < p.nx; i++) p.dx[i] = 1e9f; /* backward must overwrite dx */
    k->backward(&p.l, p.x, p.r, k->role == ROLE_EMBED ? NULL : p.dx, p.dm);
    int bad = compare(&p, p.l.params, p.l.grads, p.np, "param", 80, &rng);
    if (k->role != ROLE_EMBED) bad += compare(&p, p.x, p.dx, p.nx, "x", 60, &rng);
    ck_assert_msg(bad == 0, "%s: %d gradient entries disagree with finite differences", k->name, bad);

    /* Parameter gradients accumulate: a second backward doubles them. */
    float *g1 = fvec(p.np);
    memcpy(g1, p.l.grads, sizeof(float) * p.np);
    probe_loss(&p);
    k->backward(&p.l, p.x, p.r, k->role == ROLE_EMBED ? NULL : p.dx, p.dm);
    for (size_t i = 0; i < p.np; i++)
        ck_assert_msg(fabsf(p.l.grads[i] - 2 * g1[i]) <= 1e-4f * (1 + fabsf(g1[i])),
                      "%s: gradients do not accumulate at %zu", k->name, i);
    arena_free(g1);
    probe_free(&p);
}

static void check_kind(const LayerKind *k) { check_kind_knobs(k, NULL); }

START_TEST(every_layer_kind)
{
    int n = 0;
    for (const LayerKind *const *k = layer_kinds; *k; k++, n++) check_kind(*k);
    ck_assert_int_ge(n, 8);
}
END_TEST

/* The same check on two threads: the pool's split must not change the gradients. */
START_TEST(every_layer_kind_two_threads)
{
    pool_init(2);
    for (const LayerKind *const *k = layer_kinds; *k; k++) check_kind(*k);
    pool_init(1);
}
END_TEST

/* Both routings of the mixtures of experts (the loop above checks the default, reference). */
START_TEST(every_routing)
{
    const char *stacks[] = {"moe-mlp(routing=reference)", "moe-mlp(routing=topk)",
                            "hyena-experts(routing=reference)", "hyena-experts(routing=topk)",
                            "moe-mlp(routing=reference,top_k=1)", "hyena-experts(routing=topk,top_k=3)"};
    for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++) {
        StackSpec sp;
        MlError err;
        ck_assert_msg(stack_parse(stacks[i], "test", GC_WIDTH, &sp, &err) == 0, "%s", err.msg);
        check_kind_knobs(sp.kind[0], sp.knob[0]);
    }
}
END_TEST

START_TEST(cross_entropy_gradient)
{
    enum { R = 6, V = 5 };
    Rng rng;
    rng_seed(&rng, 5);
    float z[R * V], dz[R * V];
    double work[R];
    int32_t t[R] = {0, ML_IGNORE, 4, 2, ML_IGNORE, 1};
    for (int i = 0; i < R * V; i++) z[i] = 2 * rng_normal(&rng);
    double loss = cross_entropy(z, t, R, V, dz, work);
    ck_assert(loss > 0);
    for (int i = 0; i < R * V; i++) {
        float keep = z[i];
        z[i] = keep + 1e-2f;
        double up = cross_entropy(z, t, R, V, NULL, work);
        z[i] = keep - 1e-2f;
        double down = cross_entropy(z, t, R, V, NULL, work);
        z[i] = keep;
        double num = (up - down) / 2e-2;
        ck_assert_msg(fabs(num - dz[i]) < 1e-3, "dlogit %d: %g vs %g", i, dz[i], num);
    }
    /* Ignored rows get no gradient; all-ignored gives loss 0. */
    for (int v = 0; v < V; v++) ck_assert(dz[1 * V + v] == 0.0f);
    int32_t none[R] = {ML_IGNORE, ML_IGNORE, ML_IGNORE, ML_IGNORE, ML_IGNORE, ML_IGNORE};
    ck_assert(cross_entropy(z, none, R, V, dz, work) == 0.0);
}
END_TEST

/* Whole model: embedding, norms, residuals and head wired correctly. */
START_TEST(whole_model_gradient)
{
    const char *stacks[] = {"mh-attention swiglu mh-attention(heads=4) mlp(inner=16)",
                            "attention swiglu(inner=24)"};
    for (int s = 0; s < 2; s++) {
        for (int norm = 0; norm < 2; norm++) {
            MlError err;
            ModelCfg mc = {.width = GC_WIDTH, .vocab = GC_VOCAB, .max_batch = 3, .max_len = 6,
                           .norm = norm ? NORM_LAYER : NORM_RMS};
            ck_assert_msg(stack_parse(stacks[s], "test", GC_WIDTH, &mc.stack, &err) == 0, "%s",
                          err.msg);
            Model *m = model_new(&mc, &err);
            ck_assert_msg(m != NULL, "%s", err.msg);
            model_init(m, 7);
            Rng rng;
            rng_seed(&rng, 3);
            int32_t tok[12], tgt[12];
            for (int i = 0; i < 12; i++) {
                tok[i] = (int32_t)rng_below(&rng, GC_VOCAB);
                tgt[i] = i % 3 == 0 ? ML_IGNORE : (int32_t)rng_below(&rng, GC_VOCAB);
            }
            /* B=2, L=6 within the max shape, then a smaller batch. */
            for (int shape = 0; shape < 2; shape++) {
                int B = shape ? 1 : 2, L = shape ? 5 : 6;
                model_zero_grad(m);
                model_forward(m, tok, tgt, B, L);
                model_backward(m);
                /* Reach into the arenas through the blocks: check the first mixer's params and
                 * every layer via the model's own forward. */
                for (int bi = 0; bi < model_n_blocks(m); bi++) {
                    Layer *l = (Layer *)model_block(m, bi);
                    size_t np = l->kind->n_params(&l->cfg);
                    for (int k = 0; k < 10; k++) {
                        size_t i = rng_below(&rng, (uint32_t)np);
                        float keep = l->params[i];
                        l->params[i] = keep + 1e-2f;
                        double up = model_forward(m, tok, tgt, B, L);
                        l->params[i] = keep - 1e-2f;
                        double down = model_forward(m, tok, tgt, B, L);
                        l->params[i] = keep;
                        double num = (up - down) / 2e-2, ana = l->grads[i];
                        ck_assert_msg(fabs(num - ana) <= 2e-3 + 3e-2 * fabs(num),
                                      "%s block %d param %zu: analytic %g numeric %g", stacks[s],
                                      bi, i, ana, num);
                    }
                }
            }
            model_free(m);
        }
    }
}
END_TEST

/* The autoencoder backbone: every parameter of the model, decoder and encoder, against central
 * differences; its loss reaches the encoder only through the last position. */
START_TEST(autoencoder_gradient)
{
    const char *stacks[] = {"mh-attention swiglu", "attention mlp(inner=16)"};
    for (int s = 0; s < 2; s++) {
        for (int norm = 0; norm < 2; norm++) {
            MlError err;
            ModelCfg mc = {.width = GC_WIDTH, .vocab = GC_VOCAB, .max_batch = 3, .max_len = 6,
                           .norm = norm ? NORM_LAYER : NORM_RMS, .backbone = BACKBONE_AUTOENCODER};
            ck_assert_msg(stack_parse(stacks[s], "test", GC_WIDTH, &mc.stack, &err) == 0, "%s",
                          err.msg);
            Model *m = model_new(&mc, &err);
            ck_assert_msg(m != NULL, "%s", err.msg);
            model_init(m, 11);
            /* larger weights than the N(0, 0.02) init, so every path carries a visible gradient */
            float *p, *g;
            size_t np = model_arena(m, &p, &g);
            Rng rng;
            rng_seed(&rng, 5);
            for (size_t i = 0; i < np; i++) p[i] += 0.2f * rng_normal(&rng);
            int32_t tok[18], tgt[18];
            for (int i = 0; i < 18; i++) {
                tok[i] = (int32_t)rng_below(&rng, GC_VOCAB);
                tgt[i] = i % 4 == 1 ? ML_IGNORE : (int32_t)rng_below(&rng, GC_VOCAB);
            }
            for (int shape = 0; shape < 2; shape++) {
                int B = shape ? 2 : 3, L = shape ? 4 : 6;
                model_zero_grad(m);
                double base = model_forward(m, tok, tgt, B, L);
                ck_assert(isfinite(base));
                model_backward(m);
                int checked = 0;
                for (int k = 0; k < 400; k++) {
                    size_t i = rng_below(&rng, (uint32_t)np);
                    float keep = p[i];
                    p[i] = keep + 1e-2f;
                    double up = model_forward(m, tok, tgt, B, L);
                    p[i] = keep - 1e-2f;
                    double down = model_forward(m, tok, tgt, B, L);
                    p[i] = keep;
                    double num = (up - down) / 2e-2, ana = g[i];
                    checked += num != 0;
                    ck_assert_msg(fabs(num - ana) <= 2e-3 + 3e-2 * fabs(num),
                                  "autoencoder %s norm %d param %zu of %zu: analytic %g numeric %g",
                                  stacks[s], norm, i, np, ana, num);
                }
                ck_assert_int_gt(checked, 100);
            }
            model_free(m);
        }
    }
    /* an odd width cannot carry the sin/cos code */
    MlError err;
    ModelCfg bad = {.width = 33, .vocab = GC_VOCAB, .max_batch = 1, .max_len = 4,
                    .backbone = BACKBONE_AUTOENCODER};
    ck_assert(stack_parse("mlp", "test", 33, &bad.stack, &err) == 0);
    ck_assert_ptr_null(model_new(&bad, &err));
    ck_assert_msg(strstr(err.msg, "even width") != NULL, "%s", err.msg);
}
END_TEST

int main(void)
{
    pool_init(1);
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, every_layer_kind);
    tcase_add_test(tc, every_layer_kind_two_threads);
    tcase_add_test(tc, every_routing);
    tcase_add_test(tc, cross_entropy_gradient);
    tcase_add_test(tc, whole_model_gradient);
    tcase_add_test(tc, autoencoder_gradient);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
