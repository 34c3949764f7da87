/* in-context-recall (MAD "CR"), and with its noise knobs the generator of noisy-in-context-recall
 * ("NR"), as the reference's generate_in_context_recall_instance defines them.
 *
 * Vocabulary (ns = tokens left for keys and values):
 *   multi-query:  ns = vocab - noise_vocab          keys 0..ns/2-1, values ns/2..ns-1,
 *   single-query: ns = vocab - 1 - noise_vocab      noise ns..ns+noise_vocab-1,
 *                                                    copy prefix vocab-1 (single-query only).
 * A sequence is seq_len/2 - 1 two-token slots and a final probe. Each slot is, with probability
 * frac_noise (never at one protected slot index), two noise tokens; otherwise a key drawn
 * uniformly, followed by its value: drawn uniformly from the values when the key is new in this
 * sequence (values need not be unique), the stored one when it repeats. The probe is a key drawn
 * uniformly from the distinct keys presented, then its value; single-query mode puts the copy
 * prefix before it.
 *
 * The model sees the stream without its last token. Training targets are the stream shifted by
 * one (next-token prediction everywhere, noise and copy prefix included). Test targets score only
 * the value of a repeated key (multi-query) and the probe's value, each at the position whose
 * input is the key; everything else is ML_IGNORE. Output length: seq_len-1 (multi-query) or
 * seq_len (single-query).
 *
 * Choices where the reference leaves a gap:
 *  - The protected slot index is drawn from [0, seq_len/2) but only slots 0..seq_len/2-2 exist,
 *    so with probability (1/P) * frac_noise^(P-1) every slot is noise and the reference fails
 *    (rng.choice of an empty list). We redraw the whole sequence in that case, which keeps the
 *    distribution of the sequences the reference does produce. It never happens without noise.
 *  - Our Rng is not numpy's PCG64, so the numbers differ from the reference's; the draws are made
 *    in the same order and with the same distributions.
 *  - k_motif, v_motif and n_copy do not apply to this task and are ignored, as the reference
 *    ignores them. */
#include "config.h"
#include "madlab.h"

#include <stdint.h>

extern const TaskKind task_in_context_recall, task_noisy_in_context_recall;

/* Keys are token ids below n_keys, so a plain table indexed by key holds a sequence's map;
 * bounding the vocabulary keeps that table on the stack. */
#define RECALL_MAX_VOCAB 4096

typedef struct {
    int n_keys;      /* keys 0..n_keys-1 */
    int n_values;    /* values n_keys..n_keys+n_values-1 */
    int noise0;      /* first noise token (= ns) */
    int n_noise;
    int copy_prefix; /* vocab-1, emitted in single-query mode only */
} Layout;

/* Tokens left for keys and values; long long so that no int config can overflow it. */
static long long non_special(const TaskCfg *c)
{
    return (long long)c->vocab - (c->multi_query ? 0 : 1) - c->noise_vocab;
}

static void layout(const TaskCfg *c, Layout *l)
{
    int ns = (int)non_special(c);
    l->n_keys = ns / 2;
    l->n_values = ns - ns / 2;
    l->noise0 = ns;
    l->n_noise = c->noise_vocab;
    l->copy_prefix = c->vocab - 1;
}

static int recall_validate(const TaskCfg *c, MlError *err)
{
    if (c->n_train < 1) return ml_fail(err, "n_train %d: need at least 1 training sequence", c->n_train);
    if (c->n_test < 1) return ml_fail(err, "n_test %d: need at least 1 test sequence", c->n_test);
    if (c->seq_len < 4)
        return ml_fail(err, "seq_len %d is too short: recall needs an even seq_len of at least 4 "
                       "(one key-value pair, then the probe pair)", c->seq_len);
    if (c->seq_len % 2 != 0)
        return ml_fail(err, "seq_len %d is odd: recall sequences are made of 2-token key-value "
                       "pairs; use an even seq_len such as %d or %d",
                       c->seq_len, c->seq_len - 1, c->seq_len + 1);
    if (!(c->frac_noise >= 0.0 && c->frac_noise < 1.0))
        return ml_fail(err, "frac_noise %g is outside [0, 1): it is the chance that a pair slot "
                       "holds noise (0 = no noise; the noisy-recall reference uses 0.2)", c->frac_noise);
    if (c->noise_vocab < 0)
        return ml_fail(err, "noise_vocab %d is negative; use 0 for no noise tokens", c->noise_vocab);
    if (c->frac_noise > 0 && c->noise_vocab == 0)
        return ml_fail(err, "frac_noise %g needs noise tokens but noise_vocab is 0: set noise_vocab "
                       "> 0 (the noisy-recall reference uses vocab 32, noise_vocab 16) or frac_noise 0",
                       c->frac_noise);
    long long need = (long long)c->noise_vocab + 2 + (c->multi_query ? 0 : 1);
    if (c->noise_vocab >= c->vocab)
        return ml_fail(err, "noise_vocab %d must be smaller than vocab %d (noise tokens are carved "
                       "out of the vocabulary): with noise_vocab %d use vocab >= %lld",
                       c->noise_vocab, c->vocab, c->noise_vocab, need);
    if (c->vocab > RECALL_MAX_VOCAB)
        return ml_fail(err, "vocab %d is larger than recall supports; use vocab <= %d (the MAD "
                       "grid goes up to 144)", c->vocab, RECALL_MAX_VOCAB);
    long long ns = non_special(c);
    if (ns < 2)
        return ml_fail(err, "vocab %d is too small: after %d noise token(s)%s it leaves %lld token(s) "
                       "for keys and values, and recall needs at least one key and one value; use "
                       "vocab >= %lld", c->vocab, c->noise_vocab,
                       c->multi_query ? "" : " and the copy prefix", ns < 0 ? 0 : ns, need);
    return 0;
}

static int recall_seq_len_out(const TaskCfg *c) { return c->multi_query ? c->seq_len - 1 : c->seq_len; }

/* ---- the stream: token p of the unshifted sequence lands at inputs[p] (all but the last) and,
 * shifted, at targets[p-1] (all but the first) ---- */
typedef struct {
    int32_t *in, *tg;
    int len, pos, test;
} Out;

static void emit(Out *o, int32_t tok, int32_t test_target)
{
    if (o->pos < o->len) o->in[o->pos] = tok;
    if (o->pos >= 1) o->tg[o->pos - 1] = o->test ? test_target : tok;
    o->pos++;
}

static void recall_instance(const TaskCfg *c, uint64_t seed, Rng *r, Rng *aux, int test,
                            int32_t *inputs, int32_t *targets)
{
    Layout lay;
    layout(c, &lay);
    int P = c->seq_len / 2, slots = P - 1;
    int32_t value_of[RECALL_MAX_VOCAB / 2]; /* the key's value in this sequence, -1 if unseen */
    int32_t seen[RECALL_MAX_VOCAB / 2];     /* distinct keys in order of first appearance */

    for (;;) {
        Out o = {.in = inputs, .tg = targets, .len = recall_seq_len_out(c), .pos = 0, .test = test};
        int n_seen = 0;
        for (int k = 0; k < lay.n_keys; k++) value_of[k] = -1;
        int protected_slot = (int)rng_below(r, (uint32_t)P);
        for (int i = 0; i < slots; i++) {
            if (c->frac_noise > 0 && i != protected_slot && rng_uniform(r) < c->frac_noise) {
                for (int t = 0; t < 2; t++)
                    emit(&o, lay.noise0 + (int32_t)rng_below(r, (uint32_t)lay.n_noise), ML_IGNORE);
                continue;
            }
            int32_t k = (int32_t)rng_below(r, (uint32_t)lay.n_keys), v = value_of[k];
            int repeated = v >= 0;
            if (!repeated) {
                v = lay.n_keys + (int32_t)rng_below(r, (uint32_t)lay.n_values);
                value_of[k] = v;
                seen[n_seen++] = k;
            }
            emit(&o, k, ML_IGNORE);
            emit(&o, v, repeated && c->multi_query ? v : ML_IGNORE);
        }
        if (n_seen == 0) continue; /* every slot was noise: redraw (see the top of the file) */

        int32_t k = seen[rng_below(r, (uint32_t)n_seen)], v = value_of[k];
        if (!c->multi_query) emit(&o, lay.copy_prefix, ML_IGNORE);
        emit(&o, k, ML_IGNORE);
        emit(&o, v, v);
        return;
    }
}

static TokenClass recall_token_class(const TaskCfg *c, int32_t t)
{
    Layout lay;
    layout(c, &lay);
    if (t < lay.n_keys) return TOK_KEY;
    if (t < lay.noise0) return TOK_VALUE;
    if (t < lay.noise0 + lay.n_noise) return TOK_NOISE;
    if (!c->multi_query && t == lay.copy_prefix) return TOK_SPECIAL;
    return TOK_OTHER; /* reserved but never drawn */
}

const TaskKind task_in_context_recall = {
    .name = "in-context-recall",
    .summary = "recall the value paired with a key earlier in the sequence",
    .shorthand = "CR",
    .defaults = {.vocab = 16, .seq_len = 128, .n_train = 12800, .n_test = 1280,
                 .frac_noise = 0, .noise_vocab = 0, .k_motif = 1, .v_motif = 1, .n_copy = 0,
                 .multi_query = 1},
    .knobs = TASK_KNOB_FRAC_NOISE | TASK_KNOB_NOISE_VOCAB,
    .backbone = BACKBONE_LM,
    .validate = recall_validate,
    .seq_len_out = recall_seq_len_out,
    .instance = recall_instance,
    .token_class = recall_token_class,
};

/* The same generator with noise: with the defaults (vocab 32, noise_vocab 16) keys are 0-7,
 * values 8-15 and noise 16-31, and a fifth of the pair slots are two noise tokens (spec 2.2). */
const TaskKind task_noisy_in_context_recall = {
    .name = "noisy-in-context-recall",
    .summary = "in-context recall with pairs of noise tokens between the key-value pairs",
    .shorthand = "NR",
    .defaults = {.vocab = 32, .seq_len = 128, .n_train = 12800, .n_test = 1280,
                 .frac_noise = 0.2, .noise_vocab = 16, .k_motif = 1, .v_motif = 1, .n_copy = 0,
                 .multi_query = 1},
    .knobs = TASK_KNOB_FRAC_NOISE | TASK_KNOB_NOISE_VOCAB,
    .backbone = BACKBONE_LM,
    .validate = recall_validate,
    .seq_len_out = recall_seq_len_out,
    .instance = recall_instance,
    .token_class = recall_token_class,
};
