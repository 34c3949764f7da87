/* fuzzy-in-context-recall (MAD "FR"), as the reference's generate_fuzzy_in_context_recall_instance
 * defines it (spec 2.3): keys and values are motifs, runs of 1..k_motif (1..v_motif) distinct
 * tokens, and sequences are left-padded to a fixed length.
 *
 * Vocabulary (multi-query; single-query moves the pad to vocab-2 and uses vocab-1 as the copy
 * prefix): ns = vocab - 1 - noise_vocab (single-query: vocab - 2 - noise_vocab); keys
 * 0..ns/2-1, values ns/2..ns-1, noise ns..ns+noise_vocab-1, pad vocab-1. With vocab 16: keys 0-6,
 * values 7-14, pad 15.
 *
 * One sequence: pick the probe (a key of random size, in the test form always of size k_motif,
 * and a value of random size) and a position probe_idx in [0, seq_len - 2*(probe size)). Then,
 * while the sequence is shorter than seq_len - (probe size) - (k_motif + v_motif): draw a key
 * size (test: k_motif) and a value size; once the length reaches probe_idx, insert the probe pair
 * (unscored); otherwise with probability frac_noise insert key size + value size noise tokens,
 * else a key of that size followed by its value: the probe's value if the key is the probe key,
 * the stored value if the key was seen, else a new value of the drawn size. Values of repeated
 * keys are scored in the multi-query test form. Finally the probe pair (its value scored), left
 * padding to seq_len+1 tokens and the shift by one as in in-context-recall: output length seq_len.
 *
 * Choices where the reference leaves a gap or where our code differs:
 *  - The reference draws a motif by shuffling the list of all ordered tuples of distinct tokens
 *    and picking one uniformly; we draw the tuple directly (distinct tokens in order, by
 *    rejection), which has the same distribution without building the lists.
 *  - As in the reference, when probe_idx falls late the body can end before the probe pair is
 *    inserted; the final probe is then usually of a key not presented. We keep that.
 *  - Motifs are limited to FUZZY_MAX_MOTIF tokens and the vocabulary to FUZZY_MAX_VOCAB so that a
 *    motif packs into one 64-bit code; sequences to FUZZY_MAX_LEN so the work space fits on the
 *    stack (the MAD grid uses motifs of 3, vocab <= 128, seq_len <= 1024). */
#include "config.h"
#include "madlab.h"

#include <stdint.h>

extern const TaskKind task_fuzzy_in_context_recall;

#define FUZZY_MAX_MOTIF 5
#define FUZZY_MAX_VOCAB 4096
#define FUZZY_MAX_LEN 4096

typedef struct {
    int ns, n_keys, n_values, noise0, n_noise, pad, copy_prefix;
} Layout;

static long long non_special(const TaskCfg *c)
{
    return (long long)c->vocab - (c->multi_query ? 1 : 2) - c->noise_vocab;
}

static void layout(const TaskCfg *c, Layout *l)
{
    l->ns = (int)non_special(c);
    l->n_keys = l->ns / 2;
    l->n_values = l->ns - l->ns / 2;
    l->noise0 = l->ns;
    l->n_noise = c->noise_vocab;
    l->pad = c->multi_query ? c->vocab - 1 : c->vocab - 2;
    l->copy_prefix = c->vocab - 1;
}

static int fuzzy_validate(const TaskCfg *c, MlError *err)
{
    if (c->n_train < 1) return ml_fail(err, "n_train %d: need at least 1 training sequence", c->n_train);
    if (c->n_test < 1) return ml_fail(err, "n_test %d: need at least 1 test sequence", c->n_test);
    if (c->k_motif < 1 || c->k_motif > FUZZY_MAX_MOTIF)
        return ml_fail(err, "k_motif %d is outside 1..%d: it is the longest key motif in tokens "
                       "(the reference uses 3)", c->k_motif, FUZZY_MAX_MOTIF);
    if (c->v_motif < 1 || c->v_motif > FUZZY_MAX_MOTIF)
        return ml_fail(err, "v_motif %d is outside 1..%d: it is the longest value motif in tokens "
                       "(the reference uses 3)", c->v_motif, FUZZY_MAX_MOTIF);
    if (!(c->frac_noise >= 0.0 && c->frac_noise < 1.0))
        return ml_fail(err, "frac_noise %g is outside [0, 1): it is the chance that a slot holds "
                       "noise (0 = no noise)", c->frac_noise);
    if (c->noise_vocab < 0)
        return ml_fail(err, "noise_vocab %d is negative; use 0 for no noise tokens", c->noise_vocab);
    if (c->frac_noise > 0 && c->noise_vocab == 0)
        return ml_fail(err, "frac_noise %g needs noise tokens but noise_vocab is 0: set "
                       "noise_vocab > 0 or frac_noise 0", c->frac_noise);
    if (c->vocab > FUZZY_MAX_VOCAB)
        return ml_fail(err, "vocab %d is larger than fuzzy-in-context-recall supports; use vocab "
                       "<= %d (the MAD grid goes up to 128)", c->vocab, FUZZY_MAX_VOCAB);
    /* keys ns/2 >= k_motif and values ns - ns/2 >= v_motif, so a motif of distinct tokens exists */
    long long ns_need = 2LL * c->k_motif > 2LL * c->v_motif - 1 ? 2LL * c->k_motif : 2LL * c->v_motif - 1;
    long long v_need = ns_need + (c->multi_query ? 1 : 2) + c->noise_vocab;
    long long ns = non_special(c);
    if (ns < ns_need)
        return ml_fail(err, "vocab %d is too small for motifs of k_motif %d distinct keys and "
                       "v_motif %d distinct values: it leaves %lld key(s) and %lld value(s) after "
                       "the pad%s and %d noise token(s); use vocab >= %lld or smaller motifs",
                       c->vocab, c->k_motif, c->v_motif, ns < 0 ? 0 : ns / 2,
                       ns < 0 ? 0 : ns - ns / 2, c->multi_query ? "" : ", the copy prefix",
                       c->noise_vocab, v_need);
    int need_len = 2 * (c->k_motif + c->v_motif) + 1;
    if (c->seq_len < need_len)
        return ml_fail(err, "seq_len %d is too short for motifs of k_motif %d and v_motif %d: "
                       "fuzzy-in-context-recall needs seq_len >= 2*(k_motif+v_motif)+1 = %d",
                       c->seq_len, c->k_motif, c->v_motif, need_len);
    if (c->seq_len > FUZZY_MAX_LEN)
        return ml_fail(err, "seq_len %d is longer than fuzzy-in-context-recall supports; use "
                       "seq_len <= %d (the MAD grid goes up to 1024)", c->seq_len, FUZZY_MAX_LEN);
    return 0;
}

static int fuzzy_seq_len_out(const TaskCfg *c) { return c->seq_len; }

typedef struct {
    int n;
    int32_t t[FUZZY_MAX_MOTIF];
} Motif;

/* n distinct tokens from [first, first+count), uniformly over ordered tuples. */
static void draw_motif(Rng *r, int n, int first, int count, Motif *m)
{
    m->n = n;
    for (int i = 0; i < n; i++) {
        int32_t t;
        int dup;
        do {
            t = first + (int32_t)rng_below(r, (uint32_t)count);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= m->t[j] == t;
        } while (dup);
        m->t[i] = t;
    }
}

/* Tokens < 4096 and at most 5 of them: base 4097 digits (token+1) fit in 64 bits, and motifs
 * of different lengths get different codes. */
static uint64_t motif_code(const Motif *m)
{
    uint64_t c = 0;
    for (int i = 0; i < m->n; i++) c = c * 4097u + (uint64_t)m->t[i] + 1u;
    return c;
}

typedef struct {
    uint64_t key;
    Motif value;
    int next; /* next entry with the same first key token, -1 at the end */
} Entry;

typedef struct {
    int32_t tok[FUZZY_MAX_LEN + 1], tg[FUZZY_MAX_LEN + 1];
    int len;
} Seq;

static void put(Seq *s, int32_t tok, int32_t target)
{
    s->tok[s->len] = tok;
    s->tg[s->len] = target;
    s->len++;
}

static void fuzzy_instance(const TaskCfg *c, uint64_t seed, Rng *r, Rng *aux, int test,
                           int32_t *inputs, int32_t *targets)
{
    Layout lay;
    layout(c, &lay);
    int km = c->k_motif, vm = c->v_motif;
    static _Thread_local Seq s; /* 32 KB; these work spaces are kept off the stack */
    static _Thread_local Entry map[FUZZY_MAX_LEN / 2 + 2]; /* 80 KB */
    int head[FUZZY_MAX_VOCAB / 2], n_map = 0;
    for (int k = 0; k < lay.n_keys; k++) head[k] = -1;
    s.len = 0;

    int kps = test ? km : 1 + (int)rng_below(r, (uint32_t)km);
    int vps = 1 + (int)rng_below(r, (uint32_t)vm);
    Motif kp, vp;
    draw_motif(r, kps, 0, lay.n_keys, &kp);
    draw_motif(r, vps, lay.n_keys, lay.n_values, &vp);
    uint64_t kp_code = motif_code(&kp);
    int kvps = kps + vps;
    int probe_idx = (int)rng_below(r, (uint32_t)(c->seq_len - 2 * kvps));
    int probe_added = 0;

    while (s.len < c->seq_len - kvps - (km + vm)) {
        int ks = test ? km : 1 + (int)rng_below(r, (uint32_t)km);
        int vs = 1 + (int)rng_below(r, (uint32_t)vm);
        Motif k, v;
        if (s.len >= probe_idx && !probe_added) {
            for (int i = 0; i < kp.n; i++) put(&s, kp.t[i], ML_IGNORE);
            for (int i = 0; i < vp.n; i++) put(&s, vp.t[i], ML_IGNORE);
            map[n_map] = (Entry){kp_code, vp, head[kp.t[0]]};
            head[kp.t[0]] = n_map++;
            probe_added = 1;
            continue;
        }
        if (c->frac_noise > 0 && rng_uniform(r) < c->frac_noise) {
            for (int i = 0; i < ks + vs; i++)
                put(&s, lay.noise0 + (int32_t)rng_below(r, (uint32_t)lay.n_noise), ML_IGNORE);
            continue;
        }
        draw_motif(r, ks, 0, lay.n_keys, &k);
        uint64_t code = motif_code(&k);
        int found = -1;
        for (int e = head[k.t[0]]; e >= 0; e = map[e].next)
            if (map[e].key == code) {
                found = e;
                break;
            }
        if (code == kp_code) {
            v = vp;
            probe_added = 1;
        } else if (found >= 0) {
            v = map[found].value;
        } else {
            draw_motif(r, vs, lay.n_keys, lay.n_values, &v);
        }
        for (int i = 0; i < k.n; i++) put(&s, k.t[i], ML_IGNORE);
        for (int i = 0; i < v.n; i++) put(&s, v.t[i], found >= 0 && c->multi_query ? v.t[i] : ML_IGNORE);
        if (found < 0) {
            map[n_map] = (Entry){code, v, head[k.t[0]]};
            head[k.t[0]] = n_map++;
        }
    }
    if (!c->multi_query) put(&s, lay.copy_prefix, ML_IGNORE);
    for (int i = 0; i < kp.n; i++) put(&s, kp.t[i], ML_IGNORE);
    for (int i = 0; i < vp.n; i++) put(&s, vp.t[i], vp.t[i]);

    /* left-pad to seq_len+1 tokens, then shift by one */
    int pad = c->seq_len + 1 - s.len;
    for (int p = 0; p < c->seq_len; p++) {
        int q = p - pad; /* index into s of token p; token p+1 is at q+1 */
        inputs[p] = q < 0 ? lay.pad : s.tok[q];
        int32_t next_tok = q + 1 < 0 ? lay.pad : s.tok[q + 1];
        int32_t next_tg = q + 1 < 0 ? ML_IGNORE : s.tg[q + 1];
        targets[p] = test ? next_tg : next_tok;
    }
}

static TokenClass fuzzy_token_class(const TaskCfg *c, int32_t t)
{
    Layout lay;
    layout(c, &lay);
    if (t < lay.n_keys) return TOK_KEY;
    if (t < lay.noise0) return TOK_VALUE;
    if (t < lay.noise0 + lay.n_noise) return TOK_NOISE;
    if (t == lay.pad) return TOK_FILLER;
    if (!c->multi_query && t == lay.copy_prefix) return TOK_SPECIAL;
    return TOK_OTHER;
}

const TaskKind task_fuzzy_in_context_recall = {
    .name = "fuzzy-in-context-recall",
    .summary = "in-context recall where keys and values are motifs of 1..k (1..v) tokens",
    .shorthand = "FR",
    .defaults = {.vocab = 16, .seq_len = 128, .n_train = 12800, .n_test = 1280,
                 .frac_noise = 0, .noise_vocab = 0, .k_motif = 3, .v_motif = 3, .n_copy = 0,
                 .multi_query = 1},
    .knobs = TASK_KNOB_FRAC_NOISE | TASK_KNOB_NOISE_VOCAB | TASK_KNOB_K_MOTIF | TASK_KNOB_V_MOTIF,
    .backbone = BACKBONE_LM,
    .validate = fuzzy_validate,
    .seq_len_out = fuzzy_seq_len_out,
    .instance = fuzzy_instance,
    .token_class = fuzzy_token_class,
};
