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
#include <stdlib.h>

extern const TaskKind task_in_context_recall;

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

/* ---- keys presented so far in this sequence: distinct keys in order of first appearance with
 * their values, indexed by an open-addressing table at load <= 1/2. Small tables (seq_len up to
 * about 2000) live on the stack; larger ones on the heap. If that allocation fails, lookups scan
 * the slots already written to inputs instead: slower, same result. ---- */
#define STACK_INTS 4096

typedef struct {
    int32_t *index;       /* cap slots: position in keys[]/vals[], -1 if empty; NULL = scan mode */
    int32_t *keys, *vals; /* up to max_distinct */
    size_t mask;
    int bits, n;
    const int32_t *in; /* for scan mode: the slots written so far */
} KeyMap;

static size_t km_hash(const KeyMap *m, int32_t k)
{
    return (size_t)(((uint64_t)(uint32_t)k * 0x9e3779b97f4a7c15ull) >> (64 - m->bits));
}

static void km_clear(KeyMap *m)
{
    m->n = 0;
    if (m->index)
        for (size_t i = 0; i <= m->mask; i++) m->index[i] = -1;
}

/* Value of key k if it was presented in the first `slots` slots, else -1. */
static int32_t km_get(const KeyMap *m, int32_t k, int slots)
{
    if (!m->index) {
        for (int j = 0; j < slots; j++)
            if (m->in[2 * j] == k) return m->in[2 * j + 1]; /* noise tokens are never keys */
        return -1;
    }
    for (size_t h = km_hash(m, k); m->index[h] >= 0; h = (h + 1) & m->mask)
        if (m->keys[m->index[h]] == k) return m->vals[m->index[h]];
    return -1;
}

static void km_put(KeyMap *m, int32_t k, int32_t v)
{
    if (m->index) {
        size_t h = km_hash(m, k);
        while (m->index[h] >= 0) h = (h + 1) & m->mask;
        m->index[h] = m->n;
        m->keys[m->n] = k;
        m->vals[m->n] = v;
    }
    m->n++;
}

/* The r-th distinct key (order of first appearance) among the first `slots` slots. */
static void km_nth(const KeyMap *m, int r, int slots, int n_keys, int32_t *k, int32_t *v)
{
    if (m->index) {
        *k = m->keys[r];
        *v = m->vals[r];
        return;
    }
    for (int j = 0; j < slots; j++) {
        int32_t kj = m->in[2 * j];
        if (kj < n_keys && km_get(m, kj, j) < 0 && r-- == 0) {
            *k = kj;
            *v = m->in[2 * j + 1];
            return;
        }
    }
}

static void recall_instance(const TaskCfg *c, Rng *r, int test, int32_t *inputs, int32_t *targets)
{
    Layout lay;
    layout(c, &lay);
    int P = c->seq_len / 2, slots = P - 1;

    /* At most min(slots, n_keys) distinct keys; the table has at least twice that many cells. */
    size_t max_distinct = (size_t)(slots < lay.n_keys ? slots : lay.n_keys), cap = 2;
    int bits = 1;
    while (cap < 2 * max_distinct) cap <<= 1, bits++;
    size_t need = cap + 2 * max_distinct;
    int32_t stack_buf[STACK_INTS], *heap = NULL, *buf = stack_buf;
    if (need > STACK_INTS) buf = heap = malloc(need * sizeof(int32_t));
    KeyMap m = {.index = buf, .mask = cap - 1, .bits = bits, .in = inputs};
#ifdef RECALL_FORCE_SCAN /* test builds only: exercise the scan fallback */
    m.index = NULL;
#endif
    if (m.index) {
        m.keys = buf + cap;
        m.vals = m.keys + max_distinct;
    }

    for (;;) {
        Out o = {.in = inputs, .tg = targets, .len = recall_seq_len_out(c), .pos = 0, .test = test};
        km_clear(&m);
        int protected_slot = (int)rng_below(r, (uint32_t)P);
        for (int i = 0; i < slots; i++) {
            if (c->frac_noise > 0 && i != protected_slot && rng_uniform(r) < c->frac_noise) {
                for (int t = 0; t < 2; t++)
                    emit(&o, lay.noise0 + (int32_t)rng_below(r, (uint32_t)lay.n_noise), ML_IGNORE);
                continue;
            }
            int32_t k = (int32_t)rng_below(r, (uint32_t)lay.n_keys), v = km_get(&m, k, i);
            int repeated = v >= 0;
            if (!repeated) {
                v = lay.n_keys + (int32_t)rng_below(r, (uint32_t)lay.n_values);
                km_put(&m, k, v);
            }
            emit(&o, k, ML_IGNORE);
            emit(&o, v, repeated && c->multi_query ? v : ML_IGNORE);
        }
        if (m.n == 0) continue; /* every slot was noise: redraw (see the top of the file) */

        int32_t k = 0, v = 0;
        km_nth(&m, (int)rng_below(r, (uint32_t)m.n), slots, lay.n_keys, &k, &v);
        if (!c->multi_query) emit(&o, lay.copy_prefix, ML_IGNORE);
        emit(&o, k, ML_IGNORE);
        emit(&o, v, v);
        break;
    }
    free(heap);
}

const TaskKind task_in_context_recall = {
    .name = "in-context-recall",
    .summary = "recall the value paired with a key earlier in the sequence",
    .defaults = {.vocab = 16, .seq_len = 128, .n_train = 12800, .n_test = 1280,
                 .frac_noise = 0, .noise_vocab = 0, .k_motif = 1, .v_motif = 1, .n_copy = 0,
                 .multi_query = 1},
    .validate = recall_validate,
    .seq_len_out = recall_seq_len_out,
    .instance = recall_instance,
};

/* noisy-in-context-recall will be a second TaskKind here with the same three functions and the
 * defaults vocab 32, noise_vocab 16, frac_noise 0.2 (spec 2.2). */
