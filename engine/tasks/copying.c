/* selective-copying (MAD "SC"), as the reference's generate_copying_instance(selective=True)
 * defines it (spec 2.4).
 *
 * Vocabulary: tokens to copy 0..vocab-3, blank vocab-2, copy token vocab-1.
 * One sequence of seq_len tokens: n_copy tokens drawn uniformly with replacement, with
 * seq_len - 2*n_copy - 1 blanks scattered before them (each blank goes before token j, j uniform
 * in [0, n_copy), so no blank follows the last token to copy), then the copy token and n_copy
 * blanks. Targets: ignored on the first seq_len - n_copy positions, then the tokens to copy in
 * order, aligned with the trailing blanks. Train and test have the same form; no shift.
 *
 * The reference draws the blank positions from numpy's GLOBAL generator (np.random.randint,
 * seeded once per run), not from the data generator. We keep the two apart the same way: the
 * tokens come from the data stream r, the blank positions from the second stream aux that
 * task_generate seeds from the same seed and shares between train and test. */
#include "config.h"
#include "madlab.h"

#include <stdint.h>

extern const TaskKind task_selective_copying;

static int copy_validate(const TaskCfg *c, MlError *err)
{
    if (c->n_train < 1) return ml_fail(err, "n_train %d: need at least 1 training sequence", c->n_train);
    if (c->n_test < 1) return ml_fail(err, "n_test %d: need at least 1 test sequence", c->n_test);
    if (c->n_copy < 1)
        return ml_fail(err, "n_copy %d: selective-copying needs at least 1 token to copy (the "
                       "reference uses 16)", c->n_copy);
    long long need = 2LL * c->n_copy + 1;
    if (c->seq_len <= need)
        return ml_fail(err, "seq_len %d is too short to copy %d tokens: selective-copying needs "
                       "seq_len > 2*n_copy+1 = %lld", c->seq_len, c->n_copy, need);
    if (c->vocab < 3)
        return ml_fail(err, "vocab %d is too small: selective-copying uses vocab-1 as the copy "
                       "token and vocab-2 as the blank, so it needs vocab >= 3", c->vocab);
    return 0;
}

static int copy_seq_len_out(const TaskCfg *c) { return c->seq_len; }

static void copy_instance(const TaskCfg *c, uint64_t seed, Rng *r, Rng *aux, int test,
                          int32_t *inputs, int32_t *targets)
{
    int L = c->seq_len, n = c->n_copy, n_blank = L - 2 * n - 1;
    int32_t blank = c->vocab - 2, copy = c->vocab - 1;
    /* The tokens go straight to their place in the targets; targets[0..n) holds, meanwhile, the
     * number of blanks before each token (n <= L - n, so the two never overlap). */
    int32_t *tok = targets + (L - n), *before = targets;
    for (int j = 0; j < n; j++) tok[j] = (int32_t)rng_below(r, (uint32_t)(c->vocab - 2));
    for (int j = 0; j < n; j++) before[j] = 0;
    for (int i = 0; i < n_blank; i++) before[rng_below(aux, (uint32_t)n)]++;
    int p = 0;
    for (int j = 0; j < n; j++) {
        for (int b = 0; b < before[j]; b++) inputs[p++] = blank;
        inputs[p++] = tok[j];
    }
    inputs[p++] = copy;
    while (p < L) inputs[p++] = blank;
    for (int i = 0; i < L - n; i++) targets[i] = ML_IGNORE;
}

static TokenClass copy_token_class(const TaskCfg *c, int32_t t)
{
    if (t < c->vocab - 2) return TOK_VALUE;
    if (t == c->vocab - 2) return TOK_FILLER;
    return TOK_SPECIAL;
}

const TaskKind task_selective_copying = {
    .name = "selective-copying",
    .summary = "copy the tokens scattered among blanks, in order, after the copy token",
    .shorthand = "SC",
    .defaults = {.vocab = 16, .seq_len = 256, .n_train = 12800, .n_test = 1280,
                 .frac_noise = 0, .noise_vocab = 0, .k_motif = 1, .v_motif = 1, .n_copy = 16,
                 .multi_query = 1},
    .knobs = TASK_KNOB_N_COPY,
    .backbone = BACKBONE_LM,
    .validate = copy_validate,
    .seq_len_out = copy_seq_len_out,
    .instance = copy_instance,
    .token_class = copy_token_class,
};
