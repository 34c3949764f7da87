/* memorization (MAD "M"), as the reference's generate_memorization_instance defines it
 * (spec 2.6): a fixed key-to-value map, the same for every sequence of a run, that the model
 * must store in its weights.
 *
 * Vocabulary: ns = vocab - 1 - noise_vocab; keys 0..ns/2-1, values ns/2..ns-1, noise
 * ns..ns+noise_vocab-1, insert token vocab-1. The map pairs a shuffled list of the keys with a
 * shuffled list of the values (one value is unused when ns is odd), both shuffled by a generator
 * of its own seeded with the run's seed, apart from the data stream: the reference's MADConfig
 * calls generate_kv_map(seed=self.seed), its task config's seed, which is 12345 in the
 * benchmark, so the benchmark's map is the same for every run, and another seed gives another
 * map.
 *
 * One sequence: seq_len/2 pairs, each a key drawn uniformly followed by the insert token; the
 * target at the insert token is the key's value, everything else is ignored. With frac_noise > 0
 * each pair but one protected pair is, with that probability, two noise tokens. Train and test
 * have the same form and distribution; keys never drawn in training cannot be learned.
 *
 * Choices: the reference's MADConfig builds the map from vocab-1 tokens even when noise tokens
 * are reserved, so its keys could collide with noise; we build it from the ns non-noise tokens
 * (the two agree when noise_vocab is 0, as in the benchmark). */
#include "config.h"
#include "madlab.h"

#include <stdint.h>

extern const TaskKind task_memorization;

#define MEMO_MAX_VOCAB 16384 /* the MAD grid goes up to 8192 */

static int memo_validate(const TaskCfg *c, MlError *err)
{
    if (c->n_train < 1) return ml_fail(err, "n_train %d: need at least 1 training sequence", c->n_train);
    if (c->n_test < 1) return ml_fail(err, "n_test %d: need at least 1 test sequence", c->n_test);
    if (c->seq_len < 2)
        return ml_fail(err, "seq_len %d is too short: memorization needs an even seq_len of at "
                       "least 2 (one key and its insert token)", c->seq_len);
    if (c->seq_len % 2 != 0)
        return ml_fail(err, "seq_len %d is odd: memorization sequences are made of key, insert "
                       "pairs; use an even seq_len such as %d or %d",
                       c->seq_len, c->seq_len - 1, c->seq_len + 1);
    if (!(c->frac_noise >= 0.0 && c->frac_noise <= 1.0))
        return ml_fail(err, "frac_noise %g is outside [0, 1]: it is the chance that a pair is "
                       "noise (0 = no noise)", c->frac_noise);
    if (c->noise_vocab < 0)
        return ml_fail(err, "noise_vocab %d is negative; use 0 for no noise tokens", c->noise_vocab);
    if (c->frac_noise > 0 && c->noise_vocab == 0)
        return ml_fail(err, "frac_noise %g needs noise tokens but noise_vocab is 0: set "
                       "noise_vocab > 0 or frac_noise 0", c->frac_noise);
    if (c->vocab > MEMO_MAX_VOCAB)
        return ml_fail(err, "vocab %d is larger than memorization supports; use vocab <= %d (the "
                       "MAD grid goes up to 8192)", c->vocab, MEMO_MAX_VOCAB);
    if ((long long)c->vocab - 1 - c->noise_vocab < 2)
        return ml_fail(err, "vocab %d is too small: after the insert token and %d noise token(s) "
                       "memorization needs at least one key and one value; use vocab >= %lld",
                       c->vocab, c->noise_vocab, (long long)c->noise_vocab + 3);
    return 0;
}

static int memo_seq_len_out(const TaskCfg *c) { return c->seq_len; }

static void shuffle(int32_t *a, int n, Rng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The value of every key for ns non-special tokens. It depends on ns and the seed only, so each
 * thread keeps the last one it built (thread-local: no lock, and generation on several threads
 * is safe). */
static const int32_t *kv_map(int ns, uint64_t seed)
{
    static _Thread_local int32_t map[MEMO_MAX_VOCAB / 2], vals[MEMO_MAX_VOCAB / 2];
    static _Thread_local int32_t keys[MEMO_MAX_VOCAB / 2];
    static _Thread_local int built_ns = -1;
    static _Thread_local uint64_t built_seed;
    if (built_ns == ns && built_seed == seed) return map;
    int nk = ns / 2, nv = ns - ns / 2;
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < nk; i++) keys[i] = i;
    for (int i = 0; i < nv; i++) vals[i] = nk + i;
    shuffle(keys, nk, &r);
    shuffle(vals, nv, &r);
    for (int i = 0; i < nk; i++) map[keys[i]] = vals[i];
    built_ns = ns, built_seed = seed;
    return map;
}

static void memo_instance(const TaskCfg *c, uint64_t seed, Rng *r, Rng *aux, int test,
                          int32_t *inputs, int32_t *targets)
{
    int ns = c->vocab - 1 - c->noise_vocab, nk = ns / 2, pairs = c->seq_len / 2;
    int32_t insert = c->vocab - 1;
    const int32_t *map = kv_map(ns, seed);
    int protected_pair = (int)rng_below(r, (uint32_t)pairs);
    for (int i = 0; i < pairs; i++) {
        int32_t *in = inputs + 2 * i, *tg = targets + 2 * i;
        if (c->frac_noise > 0 && i != protected_pair && rng_uniform(r) < c->frac_noise) {
            for (int t = 0; t < 2; t++) {
                in[t] = ns + (int32_t)rng_below(r, (uint32_t)c->noise_vocab);
                tg[t] = ML_IGNORE;
            }
            continue;
        }
        int32_t k = (int32_t)rng_below(r, (uint32_t)nk);
        in[0] = k;
        in[1] = insert;
        tg[0] = ML_IGNORE;
        tg[1] = map[k];
    }
}

static TokenClass memo_token_class(const TaskCfg *c, int32_t t)
{
    int ns = c->vocab - 1 - c->noise_vocab;
    if (t < ns / 2) return TOK_KEY;
    if (t < ns) return TOK_VALUE;
    if (t == c->vocab - 1) return TOK_SPECIAL;
    return TOK_NOISE;
}

const TaskKind task_memorization = {
    .name = "memorization",
    .summary = "recall a fixed key-value map (the same in every sequence) from the weights",
    .shorthand = "M",
    .defaults = {.vocab = 256, .seq_len = 32, .n_train = 256, .n_test = 1280,
                 .frac_noise = 0, .noise_vocab = 0, .k_motif = 1, .v_motif = 1, .n_copy = 0,
                 .multi_query = 1},
    .knobs = TASK_KNOB_FRAC_NOISE | TASK_KNOB_NOISE_VOCAB,
    .backbone = BACKBONE_LM,
    .validate = memo_validate,
    .seq_len_out = memo_seq_len_out,
    .instance = memo_instance,
    .token_class = memo_token_class,
};
