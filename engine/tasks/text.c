/* text: language modelling on a corpus, one byte per token (vocabulary 256). A sequence is a
 * window of seq_len + 1 consecutive bytes: the model reads the first seq_len and predicts each
 * next byte, so every position is scored (train and test alike) and the test loss is the
 * validation loss in nats per byte.
 *
 * The corpus (engine/corpus.c) is mapped once per process; its last tenth validates, the rest
 * trains, and a window never crosses that split. Training windows start at offsets drawn from the
 * run's seed, so the same seed gives the same batches; the training set is a view of the corpus
 * (offsets only), never a copy. Validation windows are drawn from a second stream seeded by the
 * seed alone, so every run with the same seed and test count is scored on the same bytes,
 * whatever its training length. */
#include "config.h"
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>

extern const TaskKind task_text;

#define VALIDATION_SALT 0x7e47e47e47e47e47ull

static int text_validate(const TaskCfg *c, MlError *err)
{
    if (c->vocab != 256)
        return ml_fail(err, "vocab %d: the text task reads bytes, so its vocab is 256", c->vocab);
    if (c->seq_len < 2)
        return ml_fail(err, "seq_len %d is too short: a context needs at least 2 bytes", c->seq_len);
    if (c->n_train < 1) return ml_fail(err, "n_train %d: need at least 1 training sequence", c->n_train);
    if (c->n_test < 1) return ml_fail(err, "n_test %d: need at least 1 test sequence", c->n_test);
    return 0;
}

static int text_seq_len_out(const TaskCfg *c) { return c->seq_len; }

/* Start of a random window of len + 1 bytes inside the training or the validation part. */
static int64_t window(const Corpus *k, int len, int test, Rng *r)
{
    size_t lo = test ? k->split : 0, hi = test ? k->size : k->split; /* part [lo, hi) */
    uint64_t n = hi - lo - (size_t)len; /* starts s with s + len < hi */
    return (int64_t)(lo + rng_u64(r) % n);
}

static void fill(const Corpus *k, int64_t s, int len, int32_t *in, int32_t *tg)
{
    for (int t = 0; t < len; t++) {
        in[t] = k->bytes[s + t];
        tg[t] = k->bytes[s + t + 1];
    }
}

static void text_instance(const TaskCfg *c, uint64_t seed, Rng *r, Rng *aux, int test, int32_t *in,
                          int32_t *tg)
{
    (void)aux;
    const Corpus *k = corpus_open(c->corpus, NULL);
    if (!k || corpus_check(k, c->seq_len, NULL) != 0) { /* task_generate reports this; stay defined */
        for (int t = 0; t < c->seq_len; t++) in[t] = 0, tg[t] = ML_IGNORE;
        return;
    }
    fill(k, window(k, c->seq_len, test, r), c->seq_len, in, tg);
}

static int text_generate(const TaskCfg *c, uint64_t seed, Dataset *train, Dataset *test,
                         MlError *err)
{
    const Corpus *k = corpus_open(c->corpus, err);
    if (!k || corpus_check(k, c->seq_len, err) != 0) return -1;
    int len = c->seq_len;
    train->n = c->n_train;
    train->len = len;
    train->bytes = k->bytes;
    train->start = malloc(sizeof(int64_t) * (size_t)c->n_train);
    if (!train->start) return ml_fail(err, "out of memory for %d window offsets", c->n_train);
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < train->n; i++) train->start[i] = window(k, len, 0, &r);
    if (dataset_alloc(test, c->n_test, len, "test", err) != 0) return -1;
    rng_seed(&r, seed ^ VALIDATION_SALT);
    for (int i = 0; i < test->n; i++)
        fill(k, window(k, len, 1, &r), len, test->inputs + (size_t)i * len,
             test->targets + (size_t)i * len);
    return 0;
}

static TokenClass text_token_class(const TaskCfg *c, int32_t t)
{
    (void)c;
    if (t < 128 && isalnum(t)) return TOK_VALUE;
    if (t == ' ' || t == '\n' || t == '\t') return TOK_FILLER;
    if (t < 128 && ispunct(t)) return TOK_SPECIAL;
    return TOK_NOISE; /* control bytes and the bytes of multi-byte characters */
}

const TaskKind task_text = {
    .name = "text",
    .summary = "next-byte prediction on a text corpus (language modelling, vocab 256)",
    .shorthand = "LM",
    .defaults = {.vocab = 256, .seq_len = 128, .n_train = 4096, .n_test = 256, .frac_noise = 0,
                 .noise_vocab = 0, .k_motif = 1, .v_motif = 1, .n_copy = 0, .multi_query = 1},
    .knobs = 0,
    .backbone = BACKBONE_LM,
    .validate = text_validate,
    .seq_len_out = text_seq_len_out,
    .instance = text_instance,
    .token_class = text_token_class,
    .generate = text_generate,
};
