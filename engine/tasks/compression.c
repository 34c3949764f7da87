/* compression (MAD "C"), as the reference's generate_compression_instance defines it (spec 2.5).
 *
 * Vocabulary: ns = vocab - 1 - noise_vocab data tokens 0..ns-1, noise ns..ns+noise_vocab-1,
 * compression token vocab-1. One sequence: seq_len-1 data tokens drawn uniformly, then the
 * compression token. The target is the whole input, every position scored, in train and test.
 * With frac_noise > 0 each data position is, with that probability, overwritten by a noise token;
 * as in the reference the noisy inputs are also the targets.
 *
 * The model must squeeze the sequence into the vector at its last position and rebuild it: the
 * task trains the AutoEncoder backbone (engine/autoencoder.c), chosen through .backbone. */
#include "config.h"
#include "madlab.h"

#include <stdint.h>

extern const TaskKind task_compression;

static int comp_validate(const TaskCfg *c, MlError *err)
{
    if (c->n_train < 1) return ml_fail(err, "n_train %d: need at least 1 training sequence", c->n_train);
    if (c->n_test < 1) return ml_fail(err, "n_test %d: need at least 1 test sequence", c->n_test);
    if (c->seq_len < 2)
        return ml_fail(err, "seq_len %d is too short: compression needs seq_len >= 2 (data "
                       "tokens, then the compression token)", c->seq_len);
    if (!(c->frac_noise >= 0.0 && c->frac_noise < 1.0))
        return ml_fail(err, "frac_noise %g is outside [0, 1): it is the chance that a data token "
                       "is replaced by noise (0 = no noise)", c->frac_noise);
    if (c->noise_vocab < 0)
        return ml_fail(err, "noise_vocab %d is negative; use 0 for no noise tokens", c->noise_vocab);
    if (c->frac_noise > 0 && c->noise_vocab == 0)
        return ml_fail(err, "frac_noise %g needs noise tokens but noise_vocab is 0: set "
                       "noise_vocab > 0 or frac_noise 0", c->frac_noise);
    if ((long long)c->vocab - 1 - c->noise_vocab < 1)
        return ml_fail(err, "vocab %d is too small: after the compression token and %d noise "
                       "token(s) no data token is left; use vocab >= %lld", c->vocab,
                       c->noise_vocab, (long long)c->noise_vocab + 2);
    return 0;
}

static int comp_seq_len_out(const TaskCfg *c) { return c->seq_len; }

static void comp_instance(const TaskCfg *c, uint64_t seed, Rng *r, Rng *aux, int test,
                          int32_t *inputs, int32_t *targets)
{
    int L = c->seq_len, ns = c->vocab - 1 - c->noise_vocab;
    for (int i = 0; i < L - 1; i++) inputs[i] = (int32_t)rng_below(r, (uint32_t)ns);
    inputs[L - 1] = c->vocab - 1;
    if (c->frac_noise > 0)
        for (int i = 0; i < L - 1; i++)
            if (rng_uniform(r) < c->frac_noise)
                inputs[i] = ns + (int32_t)rng_below(r, (uint32_t)c->noise_vocab);
    for (int i = 0; i < L; i++) targets[i] = inputs[i];
}

static TokenClass comp_token_class(const TaskCfg *c, int32_t t)
{
    int ns = c->vocab - 1 - c->noise_vocab;
    if (t < ns) return TOK_VALUE;
    if (t == c->vocab - 1) return TOK_SPECIAL;
    return TOK_NOISE;
}

const TaskKind task_compression = {
    .name = "compression",
    .summary = "rebuild the whole sequence from the model's vector at the last position",
    .shorthand = "C",
    .defaults = {.vocab = 16, .seq_len = 32, .n_train = 12800, .n_test = 1280,
                 .frac_noise = 0, .noise_vocab = 0, .k_motif = 1, .v_motif = 1, .n_copy = 0,
                 .multi_query = 1},
    .knobs = TASK_KNOB_FRAC_NOISE | TASK_KNOB_NOISE_VOCAB,
    .backbone = BACKBONE_AUTOENCODER,
    .validate = comp_validate,
    .seq_len_out = comp_seq_len_out,
    .instance = comp_instance,
    .token_class = comp_token_class,
};
