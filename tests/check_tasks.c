/* Task generators: in-context-recall against the rules of the reference (spec 2.1), checked by an
 * independent scan of every generated sequence; data set generation, determinism and leakage. */
#include "config.h"
#include "madlab.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Check records every passing ck_assert (a write per call), far too slow for per-token loops:
 * inner loops use this, which only calls into Check on failure. */
#define REQUIRE(cond, ...)                          \
    do {                                            \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);     \
    } while (0)

static const TaskKind *CR;
static TaskCfg dcfg; /* the reference defaults */
static Dataset dtrain, dtest;

static void setup_default(void)
{
    MlError err;
    CR = task_find("in-context-recall");
    if (!CR) abort();
    dcfg = CR->defaults;
    if (task_generate(CR, &dcfg, 12345, &dtrain, &dtest, &err) != 0) {
        fprintf(stderr, "default generation failed: %s\n", err.msg);
        abort();
    }
}

static void teardown_default(void)
{
    dataset_free(&dtrain);
    dataset_free(&dtest);
}

/* Vocabulary, recomputed here from the spec rather than taken from the generator. */
typedef struct {
    int ns, n_keys, noise0, noise_end;
} Vocab;

static Vocab vocab_of(const TaskCfg *c)
{
    Vocab v;
    v.ns = c->vocab - (c->multi_query ? 0 : 1) - c->noise_vocab;
    v.n_keys = v.ns / 2;
    v.noise0 = v.ns;
    v.noise_end = v.ns + c->noise_vocab;
    return v;
}

static int is_key(const Vocab *v, int32_t t) { return t >= 0 && t < v->n_keys; }
static int is_value(const Vocab *v, int32_t t) { return t >= v->n_keys && t < v->ns; }
static int is_noise(const Vocab *v, int32_t t) { return t >= v->noise0 && t < v->noise_end; }

static Dataset gen_task(const TaskKind *t, const TaskCfg *c, uint64_t seed, Dataset *test)
{
    Dataset train;
    MlError err;
    int rc = task_generate(t, c, seed, &train, test, &err);
    ck_assert_msg(rc == 0, "%s: task_generate failed: %s", t->name, err.msg);
    return train;
}

static Dataset gen(const TaskCfg *c, uint64_t seed, Dataset *test) { return gen_task(CR, c, seed, test); }

/* Every token in range; every pair slot is key+value or noise+noise; the value after a key is the
 * same each time that key appears in the sequence. Returns the number of noise slots. */
static long check_structure(const TaskCfg *c, const Dataset *d)
{
    Vocab v = vocab_of(c);
    int slots = c->seq_len / 2 - 1;
    long noise = 0;
    int32_t *stored = malloc(sizeof(int32_t) * (size_t)c->vocab);
    ck_assert_ptr_nonnull(stored);
    for (int s = 0; s < d->n; s++) {
        const int32_t *in = d->inputs + (size_t)s * d->len;
        for (int t = 0; t < d->len; t++)
            REQUIRE(in[t] >= 0 && in[t] < c->vocab, "seq %d pos %d: token %d outside [0,%d)",
                          s, t, in[t], c->vocab);
        for (int k = 0; k < c->vocab; k++) stored[k] = -1;
        for (int j = 0; j < slots; j++) {
            int32_t a = in[2 * j], b = in[2 * j + 1];
            if (is_noise(&v, a)) {
                REQUIRE(is_noise(&v, b), "seq %d slot %d: half-noise pair %d %d", s, j, a, b);
                noise++;
                continue;
            }
            REQUIRE(is_key(&v, a), "seq %d slot %d: %d is not a key (keys 0..%d)", s, j, a,
                          v.n_keys - 1);
            REQUIRE(is_value(&v, b), "seq %d slot %d: %d is not a value (values %d..%d)", s,
                          j, b, v.n_keys, v.ns - 1);
            if (stored[a] < 0) stored[a] = b;
            REQUIRE(stored[a] == b, "seq %d slot %d: key %d has value %d, earlier %d", s, j,
                          a, b, stored[a]);
        }
        if (!c->multi_query)
            REQUIRE(in[2 * slots] == c->vocab - 1, "seq %d: no copy prefix before the probe", s);
    }
    free(stored);
    return noise;
}

/* Test form: scored exactly where the input is a key seen earlier in the sequence (every such
 * position in multi-query mode, only the last in single-query mode), with that key's value. */
static void check_test_targets(const TaskCfg *c, const Dataset *d)
{
    Vocab v = vocab_of(c);
    int32_t *stored = malloc(sizeof(int32_t) * (size_t)c->vocab);
    ck_assert_ptr_nonnull(stored);
    for (int s = 0; s < d->n; s++) {
        const int32_t *in = d->inputs + (size_t)s * d->len, *tg = d->targets + (size_t)s * d->len;
        for (int k = 0; k < c->vocab; k++) stored[k] = -1;
        for (int t = 0; t < d->len; t++) {
            int last = t == d->len - 1;
            if (!is_key(&v, in[t])) {
                REQUIRE(tg[t] == ML_IGNORE, "seq %d pos %d: input %d is no key but target %d",
                              s, t, in[t], tg[t]);
                continue;
            }
            int32_t seen = stored[in[t]];
            if (seen >= 0 && (c->multi_query || last))
                REQUIRE(tg[t] == seen, "seq %d pos %d: key %d should score value %d, got %d",
                              s, t, in[t], seen, tg[t]);
            else
                REQUIRE(tg[t] == ML_IGNORE, "seq %d pos %d: key %d (%s) scored %d", s, t,
                              in[t], seen >= 0 ? "repeated, single-query" : "first seen", tg[t]);
            if (seen < 0 && !last) stored[in[t]] = in[t + 1];
            if (last) REQUIRE(seen >= 0, "seq %d: probe key %d never presented", s, in[t]);
        }
        REQUIRE(tg[d->len - 1] != ML_IGNORE, "seq %d: the last position is not scored", s);
    }
    free(stored);
}

/* Training form: next token everywhere; the last target is the probe key's value. */
static void check_train_targets(const TaskCfg *c, const Dataset *d)
{
    Vocab v = vocab_of(c);
    for (int s = 0; s < d->n; s++) {
        const int32_t *in = d->inputs + (size_t)s * d->len, *tg = d->targets + (size_t)s * d->len;
        for (int t = 0; t + 1 < d->len; t++)
            REQUIRE(tg[t] == in[t + 1], "seq %d pos %d: target %d, next input %d", s, t,
                          tg[t], in[t + 1]);
        int32_t probe = in[d->len - 1], want = -1;
        REQUIRE(is_key(&v, probe), "seq %d: last input %d is no key", s, probe);
        for (int t = 0; t + 1 < d->len && want < 0; t++)
            if (in[t] == probe) want = in[t + 1];
        REQUIRE(tg[d->len - 1] == want, "seq %d: last target %d, probe value %d", s,
                      tg[d->len - 1], want);
    }
}

START_TEST(test_registry)
{
    ck_assert_ptr_nonnull(task_kinds[0]);
    ck_assert_ptr_eq(task_find("in-context-recall"), task_kinds[0]);
    ck_assert_ptr_null(task_find("no-such-task"));
    ck_assert_ptr_null(task_find(NULL));
    int n = 0;
    while (task_kinds[n]) n++;
    ck_assert_int_ge(n, 1);
    TaskCfg d = CR->defaults;
    ck_assert_int_eq(d.vocab, 16);
    ck_assert_int_eq(d.seq_len, 128);
    ck_assert_int_eq(d.n_train, 12800);
    ck_assert_int_eq(d.n_test, 1280);
    ck_assert(d.frac_noise == 0 && d.noise_vocab == 0 && d.n_copy == 0);
    ck_assert(d.multi_query && d.k_motif == 1 && d.v_motif == 1);
    ck_assert_int_eq(CR->seq_len_out(&d), 127);
    d.multi_query = 0;
    ck_assert_int_eq(CR->seq_len_out(&d), 128);
}
END_TEST

START_TEST(test_default_shapes)
{
    ck_assert_int_eq(dtrain.n, 12800);
    ck_assert_int_eq(dtest.n, 1280);
    ck_assert_int_eq(dtrain.len, 127);
    ck_assert_int_eq(dtest.len, 127);
}
END_TEST

START_TEST(test_default_structure)
{
    ck_assert_int_eq(check_structure(&dcfg, &dtrain), 0);
    ck_assert_int_eq(check_structure(&dcfg, &dtest), 0);
    /* keys 0-7 and values 8-15 with V=16: keys uniform, every value used */
    long count[16] = {0};
    for (size_t i = 0; i < (size_t)dtrain.n * dtrain.len; i++) count[dtrain.inputs[i]]++;
    long keys = 0;
    for (int k = 0; k < 8; k++) keys += count[k];
    for (int k = 0; k < 8; k++)
        REQUIRE(count[k] * 800 > keys * 97 && count[k] * 800 < keys * 103,
                      "key %d drawn %ld times of %ld", k, count[k], keys);
    for (int t = 8; t < 16; t++) ck_assert_int_gt(count[t], 0);
}
END_TEST

START_TEST(test_default_train_targets) { check_train_targets(&dcfg, &dtrain); }
END_TEST

START_TEST(test_default_test_targets)
{
    check_test_targets(&dcfg, &dtest);
    /* and the scored positions are many: 63 slots over 8 keys repeat most keys */
    long scored = 0;
    for (size_t i = 0; i < (size_t)dtest.n * dtest.len; i++) scored += dtest.targets[i] != ML_IGNORE;
    ck_assert_int_gt(scored, 50L * dtest.n);
}
END_TEST

START_TEST(test_leakage_default) { ck_assert(dataset_leakage(&dtrain, &dtest) < 0.001); }
END_TEST

START_TEST(test_leakage_counts)
{
    TaskCfg c = CR->defaults;
    c.n_train = 200;
    c.n_test = 10;
    Dataset te, tr = gen(&c, 3, &te);
    ck_assert(dataset_leakage(&tr, &te) == 0.0);
    for (int i = 0; i < 3; i++) /* copy three train inputs into the test set */
        memcpy(te.inputs + (size_t)(2 * i) * te.len, tr.inputs + (size_t)(50 * i + 7) * tr.len,
               sizeof(int32_t) * (size_t)tr.len);
    ck_assert_double_eq_tol(dataset_leakage(&tr, &te), 0.3, 1e-12);
    memcpy(te.inputs + (size_t)9 * te.len, te.inputs, sizeof(int32_t) * (size_t)te.len);
    ck_assert_double_eq_tol(dataset_leakage(&tr, &te), 0.4, 1e-12);
    dataset_free(&tr);
    dataset_free(&te);
    ck_assert_ptr_null(tr.inputs);
}
END_TEST

START_TEST(test_determinism)
{
    TaskCfg c = CR->defaults;
    c.n_train = 300;
    c.n_test = 100;
    Dataset te1, te2, te3, te4;
    Dataset tr1 = gen(&c, 42, &te1), tr2 = gen(&c, 42, &te2), tr3 = gen(&c, 43, &te3);
    size_t btr = sizeof(int32_t) * (size_t)tr1.n * tr1.len, bte = sizeof(int32_t) * (size_t)te1.n * te1.len;
    ck_assert(memcmp(tr1.inputs, tr2.inputs, btr) == 0 && memcmp(tr1.targets, tr2.targets, btr) == 0);
    ck_assert(memcmp(te1.inputs, te2.inputs, bte) == 0 && memcmp(te1.targets, te2.targets, bte) == 0);
    ck_assert(memcmp(tr1.inputs, tr3.inputs, btr) != 0);
    ck_assert(memcmp(te1.inputs, te3.inputs, bte) != 0);
    /* one stream, train first: the test size does not change the train set */
    c.n_test = 7;
    Dataset tr4 = gen(&c, 42, &te4);
    ck_assert(memcmp(tr1.inputs, tr4.inputs, btr) == 0);
    Dataset *all[] = {&tr1, &tr2, &tr3, &tr4, &te1, &te2, &te3, &te4};
    for (int i = 0; i < 8; i++) dataset_free(all[i]);
}
END_TEST

/* Another vocabulary (odd ns, so one more value than keys) and longer sequences. */
START_TEST(test_other_sizes)
{
    int vocabs[] = {17, 64, 4, 2}, lens[] = {256, 128, 10, 4};
    for (int i = 0; i < 4; i++) {
        TaskCfg c = CR->defaults;
        c.vocab = vocabs[i];
        c.seq_len = lens[i];
        c.n_train = 200;
        c.n_test = 200;
        Dataset te, tr = gen(&c, (uint64_t)i, &te);
        ck_assert_int_eq(tr.len, c.seq_len - 1);
        check_structure(&c, &tr);
        check_structure(&c, &te);
        check_train_targets(&c, &tr);
        check_test_targets(&c, &te);
        dataset_free(&tr);
        dataset_free(&te);
    }
}
END_TEST

START_TEST(test_single_query)
{
    TaskCfg c = CR->defaults;
    c.multi_query = 0;
    c.n_train = 300;
    c.n_test = 300;
    Dataset te, tr = gen(&c, 5, &te);
    ck_assert_int_eq(tr.len, 128);
    Vocab v = vocab_of(&c); /* ns 15: keys 0-6, values 7-14, copy prefix 15 */
    ck_assert_int_eq(v.n_keys, 7);
    ck_assert_int_eq(v.ns, 15);
    check_structure(&c, &tr);
    check_structure(&c, &te);
    check_train_targets(&c, &tr);
    check_test_targets(&c, &te);
    for (int s = 0; s < te.n; s++)
        for (int t = 0; t < te.len - 1; t++)
            REQUIRE(te.targets[(size_t)s * te.len + t] == ML_IGNORE, "seq %d pos %d scored", s, t);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

START_TEST(test_noise)
{
    TaskCfg c = CR->defaults;
    c.vocab = 32;
    c.noise_vocab = 16;
    c.frac_noise = 0.2;
    c.n_train = 2000;
    c.n_test = 500;
    Dataset te, tr = gen(&c, 9, &te);
    Vocab v = vocab_of(&c); /* keys 0-7, values 8-15, noise 16-31 */
    ck_assert_int_eq(v.n_keys, 8);
    ck_assert_int_eq(v.noise0, 16);
    ck_assert_int_eq(v.noise_end, 32);
    long noise = check_structure(&c, &tr);
    double frac = (double)noise / ((double)tr.n * (c.seq_len / 2 - 1));
    ck_assert_msg(frac > 0.18 && frac < 0.215, "noise slot fraction %g, expected about 0.197", frac);
    check_structure(&c, &te);
    check_train_targets(&c, &tr); /* noise is in the shifted training targets */
    check_test_targets(&c, &te);  /* and never scored in the test form */
    long seen[32] = {0};
    for (size_t i = 0; i < (size_t)te.n * te.len; i++) {
        int32_t x = te.inputs[i];
        seen[x]++;
        REQUIRE(!is_noise(&v, x) || te.targets[i] == ML_IGNORE, "noise input scored at %zu", i);
        REQUIRE(te.targets[i] == ML_IGNORE || is_value(&v, te.targets[i]), "target %d at %zu",
                te.targets[i], i);
    }
    for (int t = 16; t < 32; t++) ck_assert_int_gt(seen[t], 0);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

/* Mostly noise on the shortest sequences: the case where every slot can be noise terminates and
 * still yields a presented probe key. */
START_TEST(test_heavy_noise_short)
{
    TaskCfg c = CR->defaults;
    c.vocab = 8;
    c.noise_vocab = 4;
    c.frac_noise = 0.95;
    c.seq_len = 4;
    c.n_train = 2000;
    c.n_test = 2000;
    Dataset te, tr = gen(&c, 11, &te);
    check_structure(&c, &tr);
    check_train_targets(&c, &tr);
    check_test_targets(&c, &te);
    dataset_free(&tr);
    dataset_free(&te);
}
END_TEST

static void expect_refused(TaskCfg c, const char *knob, const char *also)
{
    MlError err = {""};
    ck_assert_int_eq(CR->validate(&c, &err), -1);
    ck_assert_msg(strstr(err.msg, knob) != NULL, "message does not name %s: %s", knob, err.msg);
    if (also) ck_assert_msg(strstr(err.msg, also) != NULL, "message lacks '%s': %s", also, err.msg);
    Dataset tr, te;
    ck_assert_int_eq(task_generate(CR, &c, 1, &tr, &te, &err), -1);
    ck_assert_msg(strstr(err.msg, "in-context-recall") && strstr(err.msg, knob), "%s", err.msg);
    ck_assert_ptr_null(tr.inputs);
    ck_assert_ptr_null(te.inputs);
}

START_TEST(test_validation)
{
    MlError err;
    TaskCfg ok = CR->defaults, c;
    ck_assert_int_eq(CR->validate(&ok, &err), 0);

    c = ok, c.seq_len = 127, expect_refused(c, "seq_len", "odd");
    c = ok, c.seq_len = 2, expect_refused(c, "seq_len", "at least 4");
    c = ok, c.seq_len = -8, expect_refused(c, "seq_len", NULL);
    c = ok, c.vocab = 1, expect_refused(c, "vocab", "vocab >= 2");
    c = ok, c.vocab = 2, c.multi_query = 0, expect_refused(c, "vocab", "vocab >= 3");
    c = ok, c.vocab = 17, c.noise_vocab = 16, expect_refused(c, "vocab", "vocab >= 18");
    c = ok, c.noise_vocab = 16, expect_refused(c, "noise_vocab", "vocab >= 18");
    c = ok, c.noise_vocab = -1, expect_refused(c, "noise_vocab", NULL);
    c = ok, c.vocab = 5000, expect_refused(c, "vocab", "4096");
    c = ok, c.frac_noise = 1.0, c.noise_vocab = 4, expect_refused(c, "frac_noise", "[0, 1)");
    c = ok, c.frac_noise = -0.1, c.noise_vocab = 4, expect_refused(c, "frac_noise", NULL);
    c = ok, c.frac_noise = NAN, c.noise_vocab = 4, expect_refused(c, "frac_noise", NULL);
    c = ok, c.frac_noise = 0.2, expect_refused(c, "noise_vocab", "frac_noise");
    c = ok, c.n_train = 0, expect_refused(c, "n_train", NULL);
    c = ok, c.n_test = -3, expect_refused(c, "n_test", NULL);

    /* the edges that do work */
    c = ok, c.vocab = 2, c.seq_len = 4;
    ck_assert_int_eq(CR->validate(&c, &err), 0);
    c = ok, c.vocab = 32, c.noise_vocab = 16, c.frac_noise = 0.8;
    ck_assert_int_eq(CR->validate(&c, &err), 0);
    c = ok, c.noise_vocab = 8; /* noise tokens reserved but never drawn: allowed, as the reference */
    ck_assert_int_eq(CR->validate(&c, &err), 0);
}
END_TEST

/* ======================= the other five tasks ======================= */

static const TaskKind *need_task(const char *name)
{
    const TaskKind *t = task_find(name);
    ck_assert_msg(t != NULL, "task %s is not registered", name);
    return t;
}

static void free2(Dataset *a, Dataset *b)
{
    dataset_free(a);
    dataset_free(b);
}

/* Every token in [0, vocab), every target ignored or in [0, vocab), lengths as the kind says. */
static void check_ranges(const TaskKind *t, const TaskCfg *c, const Dataset *d)
{
    ck_assert_int_eq(d->len, t->seq_len_out(c));
    for (size_t i = 0; i < (size_t)d->n * d->len; i++) {
        REQUIRE(d->inputs[i] >= 0 && d->inputs[i] < c->vocab, "%s: input %d at %zu", t->name,
                d->inputs[i], i);
        REQUIRE(d->targets[i] == ML_IGNORE || (d->targets[i] >= 0 && d->targets[i] < c->vocab),
                "%s: target %d at %zu", t->name, d->targets[i], i);
    }
}

/* Same seed, same sets; another seed, other sets; the test size does not change the train set. */
static void check_determinism(const TaskKind *t, TaskCfg c)
{
    Dataset te1, te2, te3, te4;
    Dataset tr1 = gen_task(t, &c, 42, &te1), tr2 = gen_task(t, &c, 42, &te2);
    Dataset tr3 = gen_task(t, &c, 43, &te3);
    size_t btr = sizeof(int32_t) * (size_t)tr1.n * tr1.len, bte = sizeof(int32_t) * (size_t)te1.n * te1.len;
    ck_assert(memcmp(tr1.inputs, tr2.inputs, btr) == 0 && memcmp(tr1.targets, tr2.targets, btr) == 0);
    ck_assert(memcmp(te1.inputs, te2.inputs, bte) == 0 && memcmp(te1.targets, te2.targets, bte) == 0);
    ck_assert_msg(memcmp(tr1.inputs, tr3.inputs, btr) != 0, "%s: seed ignored", t->name);
    ck_assert(memcmp(te1.inputs, te3.inputs, bte) != 0);
    c.n_test = 3;
    Dataset tr4 = gen_task(t, &c, 42, &te4);
    ck_assert(memcmp(tr1.inputs, tr4.inputs, btr) == 0);
    free2(&tr1, &te1), free2(&tr2, &te2), free2(&tr3, &te3), free2(&tr4, &te4);
}

/* The reference's check: under 0.1% of test inputs also in train, at the default settings. */
static void check_leakage_default(const TaskKind *t)
{
    TaskCfg c = t->defaults;
    Dataset te, tr = gen_task(t, &c, 12345, &te);
    double leak = dataset_leakage(&tr, &te);
    ck_assert_msg(leak < 0.001, "%s: leakage %g", t->name, leak);
    free2(&tr, &te);
}

static void expect_refused_by(const TaskKind *t, TaskCfg c, const char *knob, const char *also)
{
    MlError err = {""};
    ck_assert_msg(t->validate(&c, &err) == -1, "%s accepted a bad %s", t->name, knob);
    ck_assert_msg(strstr(err.msg, knob) != NULL, "message does not name %s: %s", knob, err.msg);
    if (also) ck_assert_msg(strstr(err.msg, also) != NULL, "message lacks '%s': %s", also, err.msg);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "not one line: %s", err.msg);
    Dataset tr, te;
    ck_assert_int_eq(task_generate(t, &c, 1, &tr, &te, &err), -1);
    ck_assert_msg(strstr(err.msg, t->name) != NULL, "%s", err.msg);
}

START_TEST(test_registry_all)
{
    const char *names[] = {"in-context-recall", "noisy-in-context-recall", "fuzzy-in-context-recall",
                           "selective-copying", "compression", "memorization"};
    const char *shorts[] = {"CR", "NR", "FR", "SC", "C", "M"};
    int n = 0;
    while (task_kinds[n]) n++;
    ck_assert_int_eq(n, 6);
    for (int i = 0; i < 6; i++) {
        const TaskKind *t = need_task(names[i]);
        ck_assert_str_eq(t->shorthand, shorts[i]);
        ck_assert_int_eq(t->defaults.n_test, 1280);
        ck_assert(t->validate && t->seq_len_out && t->instance && t->token_class && t->summary);
        MlError err;
        ck_assert_msg(t->validate(&t->defaults, &err) == 0, "%s defaults refused: %s", t->name, err.msg);
        ck_assert_int_eq(t->backbone, i == 4 ? BACKBONE_AUTOENCODER : BACKBONE_LM);
    }
    TaskCfg d = need_task("noisy-in-context-recall")->defaults;
    ck_assert(d.vocab == 32 && d.noise_vocab == 16 && d.frac_noise == 0.2 && d.seq_len == 128);
    d = need_task("fuzzy-in-context-recall")->defaults;
    ck_assert(d.vocab == 16 && d.seq_len == 128 && d.k_motif == 3 && d.v_motif == 3 && d.multi_query);
    d = need_task("selective-copying")->defaults;
    ck_assert(d.vocab == 16 && d.seq_len == 256 && d.n_copy == 16 && d.n_train == 12800);
    d = need_task("compression")->defaults;
    ck_assert(d.vocab == 16 && d.seq_len == 32 && d.n_train == 12800);
    d = need_task("memorization")->defaults;
    ck_assert(d.vocab == 256 && d.seq_len == 32 && d.n_train == 256);
    ck_assert_str_eq(token_class_name(TOK_KEY), "key");
    ck_assert_int_eq(task_token_class(CR, &CR->defaults, -1), TOK_OTHER);
    ck_assert_int_eq(task_token_class(CR, &CR->defaults, 16), TOK_OTHER);
}
END_TEST

/* ---- noisy-in-context-recall: the recall generator with the noise defaults ---- */
START_TEST(test_noisy_default)
{
    const TaskKind *NR = need_task("noisy-in-context-recall");
    TaskCfg c = NR->defaults;
    c.n_train = 1000;
    c.n_test = 300;
    Dataset te, tr = gen_task(NR, &c, 7, &te);
    check_ranges(NR, &c, &tr);
    check_ranges(NR, &c, &te);
    ck_assert_int_eq(tr.len, 127);
    long noise = check_structure(&c, &tr);
    double frac = (double)noise / ((double)tr.n * (c.seq_len / 2 - 1));
    ck_assert_msg(frac > 0.18 && frac < 0.215, "noise slot fraction %g", frac);
    check_structure(&c, &te);
    check_train_targets(&c, &tr);
    check_test_targets(&c, &te);
    ck_assert_int_eq(task_token_class(NR, &c, 0), TOK_KEY);
    ck_assert_int_eq(task_token_class(NR, &c, 7), TOK_KEY);
    ck_assert_int_eq(task_token_class(NR, &c, 8), TOK_VALUE);
    ck_assert_int_eq(task_token_class(NR, &c, 15), TOK_VALUE);
    ck_assert_int_eq(task_token_class(NR, &c, 16), TOK_NOISE);
    ck_assert_int_eq(task_token_class(NR, &c, 31), TOK_NOISE);
    free2(&tr, &te);
    c = NR->defaults;
    c.n_train = 300, c.n_test = 50;
    check_determinism(NR, c);
}
END_TEST

START_TEST(test_noisy_leakage) { check_leakage_default(need_task("noisy-in-context-recall")); }
END_TEST

/* ---- fuzzy-in-context-recall ---- */

typedef struct {
    int n;
    int32_t t[8];
} TestMotif;

/* Parses one sequence of the full stream (inputs plus the last target) into pad, runs of keys,
 * values and noise; checks runs alternate key/value with legal sizes and distinct tokens, that a
 * key motif keeps its value, and that the scored positions of the test form are exactly the value
 * runs of keys seen before plus the final value run. Returns the number of noise tokens. */
static long check_fuzzy_seq(const TaskCfg *c, const int32_t *in, const int32_t *tg, int len,
                            int test)
{
    int ns = c->vocab - (c->multi_query ? 1 : 2) - c->noise_vocab, nk = ns / 2;
    int pad = c->multi_query ? c->vocab - 1 : c->vocab - 2;
    int32_t full[4200];
    ck_assert_int_le(len + 1, 4200);
    for (int p = 0; p < len; p++) full[p] = in[p];
    full[len] = tg[len - 1];
    REQUIRE(full[0] == pad, "sequence does not start with padding: %d", full[0]);
    int p = 0;
    while (p <= len && full[p] == pad) p++;
    for (int q = p; q <= len; q++) REQUIRE(full[q] != pad, "pad token inside the body at %d", q);
    /* the scored flag of full position q is tg[q-1] != ignore */
    TestMotif keys[2100], vals[2100];
    int n_seen = 0;
    long noise = 0;
    int expect_key = 1, runs = 0;
    TestMotif cur_key = {0};
    int prefixes = 0;
    while (p <= len) {
        int q = p;
        if (!c->multi_query && full[p] == c->vocab - 1) { /* the copy prefix, before the probe */
            REQUIRE(expect_key, "copy prefix between a key and its value at %d", p);
            prefixes++;
            p++;
            continue;
        }
        int cls = full[p] < nk ? 0 : full[p] < ns ? 1 : 2;
        while (q <= len && (full[q] < nk ? 0 : full[q] < ns ? 1 : 2) == cls) q++;
        int n = q - p;
        if (cls == 2) {
            REQUIRE(expect_key, "noise between a key and its value at %d", p);
            for (int i = p; i < q; i++) REQUIRE(tg[i - 1] == ML_IGNORE || !test, "noise scored");
            noise += n;
            p = q;
            continue;
        }
        REQUIRE(cls == (expect_key ? 0 : 1), "run of %s at %d where a %s was expected",
                cls ? "values" : "keys", p, expect_key ? "key" : "value");
        TestMotif m = {n, {0}};
        if (cls == 0) {
            REQUIRE(n >= 1 && n <= c->k_motif, "key motif of %d tokens at %d", n, p);
            if (test) REQUIRE(n == c->k_motif, "test key motif of %d tokens", n);
        } else {
            REQUIRE(n >= 1 && n <= c->v_motif, "value motif of %d tokens at %d", n, p);
        }
        for (int i = 0; i < n; i++) {
            m.t[i] = full[p + i];
            for (int j = 0; j < i; j++) REQUIRE(m.t[j] != m.t[i], "repeated token in a motif at %d", p);
        }
        if (cls == 0) {
            cur_key = m;
        } else {
            int last = q == len + 1, found = -1;
            for (int e = 0; e < n_seen && found < 0; e++)
                if (keys[e].n == cur_key.n && !memcmp(keys[e].t, cur_key.t, sizeof(int32_t) * cur_key.n))
                    found = e;
            if (found >= 0)
                REQUIRE(vals[found].n == m.n && !memcmp(vals[found].t, m.t, sizeof(int32_t) * m.n),
                        "a key motif changed its value at %d", p);
            if (test) {
                int want = last || (found >= 0 && c->multi_query);
                for (int i = p; i < q; i++)
                    REQUIRE(want ? tg[i - 1] == full[i] : tg[i - 1] == ML_IGNORE,
                            "value at %d: scored %d, expected %s", i, tg[i - 1], want ? "scored" : "ignored");
            }
            if (found < 0) {
                keys[n_seen] = cur_key;
                vals[n_seen++] = m;
            }
        }
        expect_key = !expect_key;
        runs++;
        p = q;
    }
    REQUIRE(prefixes == (c->multi_query ? 0 : 1), "%d copy prefixes", prefixes);
    REQUIRE(expect_key && runs >= 2, "the sequence does not end on a value motif (V%d L%d k%d v%d)", c->vocab, c->seq_len, c->k_motif, c->v_motif);
    if (test)
        for (int q = 1; q <= len; q++) /* nothing but value tokens is ever scored */
            REQUIRE(tg[q - 1] == ML_IGNORE || (full[q] >= nk && full[q] < ns), "scored non-value at %d", q);
    else
        for (int q = 0; q < len; q++) REQUIRE(tg[q] == full[q + 1], "train target at %d", q);
    return noise;
}

static long check_fuzzy(const TaskCfg *c, const Dataset *d, int test)
{
    long noise = 0;
    for (int s = 0; s < d->n; s++)
        noise += check_fuzzy_seq(c, d->inputs + (size_t)s * d->len, d->targets + (size_t)s * d->len,
                                 d->len, test);
    return noise;
}

START_TEST(test_fuzzy)
{
    const TaskKind *FR = need_task("fuzzy-in-context-recall");
    TaskCfg c = FR->defaults;
    c.n_train = 1000;
    c.n_test = 500;
    Dataset te, tr = gen_task(FR, &c, 3, &te);
    ck_assert_int_eq(tr.len, 128);
    check_ranges(FR, &c, &tr);
    check_ranges(FR, &c, &te);
    ck_assert_int_eq(check_fuzzy(&c, &tr, 0), 0);
    ck_assert_int_eq(check_fuzzy(&c, &te, 1), 0);
    /* V16: keys 0-6, values 7-14, pad 15 */
    ck_assert_int_eq(task_token_class(FR, &c, 6), TOK_KEY);
    ck_assert_int_eq(task_token_class(FR, &c, 7), TOK_VALUE);
    ck_assert_int_eq(task_token_class(FR, &c, 14), TOK_VALUE);
    ck_assert_int_eq(task_token_class(FR, &c, 15), TOK_FILLER);
    /* the test form scores the probe value (2 tokens on average) and the rare repeated key motifs
     * (210 motifs of 3 keys, about 20 pairs a sequence) */
    long scored = 0;
    for (size_t i = 0; i < (size_t)te.n * te.len; i++) scored += te.targets[i] != ML_IGNORE;
    ck_assert_int_gt(scored, 3L * te.n);
    free2(&tr, &te);

    /* other motif sizes, a larger vocabulary, noise, single-query */
    struct { int V, L, k, v, nv, mq; double fn; } cases[] = {
        {16, 64, 1, 1, 0, 1, 0}, {32, 256, 2, 4, 0, 1, 0}, {40, 128, 3, 3, 8, 1, 0.3},
        {16, 128, 3, 3, 0, 0, 0}, {8, 15, 2, 2, 0, 1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        c = FR->defaults;
        c.vocab = cases[i].V, c.seq_len = cases[i].L, c.k_motif = cases[i].k, c.v_motif = cases[i].v;
        c.noise_vocab = cases[i].nv, c.multi_query = cases[i].mq, c.frac_noise = cases[i].fn;
        c.n_train = 300, c.n_test = 300;
        tr = gen_task(FR, &c, 100 + i, &te);
        check_ranges(FR, &c, &tr);
        check_ranges(FR, &c, &te);
        long n1 = check_fuzzy(&c, &tr, 0), n2 = check_fuzzy(&c, &te, 1);
        if (cases[i].fn > 0) ck_assert(n1 > 0 && n2 > 0);
        else ck_assert(n1 == 0 && n2 == 0);
        free2(&tr, &te);
    }
    c = FR->defaults;
    c.n_train = 200, c.n_test = 50;
    check_determinism(FR, c);
}
END_TEST

START_TEST(test_fuzzy_leakage) { check_leakage_default(need_task("fuzzy-in-context-recall")); }
END_TEST

START_TEST(test_fuzzy_validation)
{
    const TaskKind *FR = need_task("fuzzy-in-context-recall");
    TaskCfg ok = FR->defaults, c;
    MlError err;
    ck_assert_int_eq(FR->validate(&ok, &err), 0);
    c = ok, c.k_motif = 0, expect_refused_by(FR, c, "k_motif", NULL);
    c = ok, c.v_motif = 9, expect_refused_by(FR, c, "v_motif", NULL);
    c = ok, c.vocab = 8, c.v_motif = 5, expect_refused_by(FR, c, "v_motif", "vocab >= 10");
    c = ok, c.vocab = 8, c.k_motif = 4, expect_refused_by(FR, c, "k_motif", "vocab >= 9");
    c = ok, c.seq_len = 12, expect_refused_by(FR, c, "seq_len", "= 13");
    c = ok, c.frac_noise = 0.2, expect_refused_by(FR, c, "noise_vocab", NULL);
    c = ok, c.frac_noise = 1.0, c.noise_vocab = 2, expect_refused_by(FR, c, "frac_noise", NULL);
    c = ok, c.vocab = 14, c.noise_vocab = 8, expect_refused_by(FR, c, "vocab", "vocab >= 15");
    c = ok, c.vocab = 5000, expect_refused_by(FR, c, "vocab", NULL);
    c = ok, c.n_train = 0, expect_refused_by(FR, c, "n_train", NULL);
    c = ok, c.seq_len = 13;
    ck_assert_int_eq(FR->validate(&c, &err), 0);
}
END_TEST

/* ---- selective-copying ---- */

static void check_copy(const TaskCfg *c, const Dataset *d, long *before_first)
{
    int L = c->seq_len, n = c->n_copy, blank = c->vocab - 2, copy = c->vocab - 1;
    for (int s = 0; s < d->n; s++) {
        const int32_t *in = d->inputs + (size_t)s * L, *tg = d->targets + (size_t)s * L;
        int k = 0, first = -1;
        for (int p = 0; p < L - n - 1; p++) {
            if (in[p] == blank) continue;
            REQUIRE(in[p] < c->vocab - 2, "seq %d pos %d: %d in the body", s, p, in[p]);
            REQUIRE(k < n, "seq %d: more than %d tokens to copy", s, n);
            REQUIRE(tg[L - n + k] == in[p], "seq %d: copy target %d is %d, token %d", s, k,
                    tg[L - n + k], in[p]);
            if (first < 0) first = p;
            k++;
        }
        REQUIRE(k == n, "seq %d: %d tokens to copy, not %d", s, k, n);
        REQUIRE(in[L - n - 2] != blank, "seq %d: a blank follows the last token to copy", s);
        REQUIRE(in[L - n - 1] == copy, "seq %d: no copy token at %d", s, L - n - 1);
        for (int p = L - n; p < L; p++) REQUIRE(in[p] == blank, "seq %d: %d after the copy token", s, in[p]);
        for (int p = 0; p < L - n; p++) REQUIRE(tg[p] == ML_IGNORE, "seq %d: pos %d scored", s, p);
        *before_first += first;
    }
}

START_TEST(test_copying)
{
    const TaskKind *SC = need_task("selective-copying");
    TaskCfg c = SC->defaults;
    c.n_train = 2000;
    c.n_test = 500;
    Dataset te, tr = gen_task(SC, &c, 5, &te);
    ck_assert_int_eq(tr.len, 256);
    check_ranges(SC, &c, &tr);
    check_ranges(SC, &c, &te);
    long b = 0;
    check_copy(&c, &tr, &b);
    /* blanks before token j: binomial(223, 1/16), mean 13.9 */
    double mean = (double)b / tr.n;
    ck_assert_msg(mean > 13.0 && mean < 14.9, "mean blanks before the first token %g", mean);
    b = 0;
    check_copy(&c, &te, &b);
    long count[16] = {0};
    for (int s = 0; s < tr.n; s++)
        for (int p = 0; p < 16; p++) count[tr.targets[(size_t)s * 256 + 240 + p]]++;
    for (int t = 0; t < 14; t++) /* uniform over 0..13 */
        REQUIRE(count[t] > 2000 * 16 / 14 * 0.9 && count[t] < 2000 * 16 / 14 * 1.1, "token %d: %ld", t, count[t]);
    ck_assert_int_eq(count[14] + count[15], 0);
    ck_assert_int_eq(task_token_class(SC, &c, 13), TOK_VALUE);
    ck_assert_int_eq(task_token_class(SC, &c, 14), TOK_FILLER);
    ck_assert_int_eq(task_token_class(SC, &c, 15), TOK_SPECIAL);
    free2(&tr, &te);

    int sizes[][3] = {{32, 512, 32}, {16, 34, 16}, {3, 8, 2}, {16, 1024, 96}};
    for (int i = 0; i < 4; i++) {
        c = SC->defaults;
        c.vocab = sizes[i][0], c.seq_len = sizes[i][1], c.n_copy = sizes[i][2];
        c.n_train = 100, c.n_test = 100;
        tr = gen_task(SC, &c, (uint64_t)i, &te);
        check_ranges(SC, &c, &tr);
        check_copy(&c, &tr, &b);
        check_copy(&c, &te, &b);
        free2(&tr, &te);
    }
    c = SC->defaults;
    c.n_train = 200, c.n_test = 50;
    check_determinism(SC, c);
}
END_TEST

START_TEST(test_copying_leakage) { check_leakage_default(need_task("selective-copying")); }
END_TEST

START_TEST(test_copying_validation)
{
    const TaskKind *SC = need_task("selective-copying");
    TaskCfg ok = SC->defaults, c;
    MlError err = {""};
    c = ok, c.seq_len = 32;
    ck_assert_int_eq(SC->validate(&c, &err), -1);
    ck_assert_str_eq(err.msg, "seq_len 32 is too short to copy 16 tokens: selective-copying needs "
                              "seq_len > 2*n_copy+1 = 33");
    c = ok, c.seq_len = 33, expect_refused_by(SC, c, "seq_len", "= 33");
    c = ok, c.n_copy = 0, expect_refused_by(SC, c, "n_copy", NULL);
    c = ok, c.vocab = 2, expect_refused_by(SC, c, "vocab", "vocab >= 3");
    c = ok, c.n_test = 0, expect_refused_by(SC, c, "n_test", NULL);
    c = ok, c.seq_len = 34;
    ck_assert_int_eq(SC->validate(&c, &err), 0);
}
END_TEST

/* ---- compression ---- */

START_TEST(test_compression)
{
    const TaskKind *C = need_task("compression");
    TaskCfg c = C->defaults;
    c.n_train = 1000;
    c.n_test = 200;
    Dataset te, tr = gen_task(C, &c, 9, &te);
    ck_assert_int_eq(tr.len, 32);
    Dataset *both[] = {&tr, &te};
    long count[16] = {0};
    for (int k = 0; k < 2; k++) {
        Dataset *d = both[k];
        check_ranges(C, &c, d);
        for (int s = 0; s < d->n; s++)
            for (int p = 0; p < 32; p++) {
                int32_t x = d->inputs[(size_t)s * 32 + p];
                REQUIRE(d->targets[(size_t)s * 32 + p] == x, "target is not the input");
                REQUIRE(p == 31 ? x == 15 : x < 15, "pos %d token %d", p, x);
                count[x]++;
            }
    }
    for (int t = 0; t < 15; t++) ck_assert_int_gt(count[t], 1000);
    ck_assert_int_eq(task_token_class(C, &c, 14), TOK_VALUE);
    ck_assert_int_eq(task_token_class(C, &c, 15), TOK_SPECIAL);
    free2(&tr, &te);
    /* with noise: noise tokens replace data, and are the targets too */
    c.vocab = 24, c.noise_vocab = 8, c.frac_noise = 0.25, c.n_train = 500, c.n_test = 10;
    tr = gen_task(C, &c, 10, &te);
    long noise = 0;
    for (size_t i = 0; i < (size_t)tr.n * tr.len; i++) {
        noise += tr.inputs[i] >= 15 && tr.inputs[i] < 23;
        REQUIRE(tr.targets[i] == tr.inputs[i], "noisy target");
    }
    double frac = (double)noise / (tr.n * 31.0);
    ck_assert_msg(frac > 0.22 && frac < 0.28, "noise fraction %g", frac);
    ck_assert_int_eq(task_token_class(C, &c, 15), TOK_NOISE);
    ck_assert_int_eq(task_token_class(C, &c, 23), TOK_SPECIAL);
    free2(&tr, &te);
    c = C->defaults;
    c.n_train = 200, c.n_test = 50;
    check_determinism(C, c);
    /* validation */
    TaskCfg ok = C->defaults;
    c = ok, c.seq_len = 1, expect_refused_by(C, c, "seq_len", ">= 2");
    c = ok, c.vocab = 4, c.noise_vocab = 3, expect_refused_by(C, c, "vocab", "vocab >= 5");
    c = ok, c.frac_noise = 0.5, expect_refused_by(C, c, "noise_vocab", NULL);
    c = ok, c.frac_noise = 1.5, c.noise_vocab = 2, expect_refused_by(C, c, "frac_noise", NULL);
}
END_TEST

START_TEST(test_compression_leakage) { check_leakage_default(need_task("compression")); }
END_TEST

/* ---- memorization ---- */

/* Checks the pair structure and that every key maps to one value across all sequences seen (map
 * holds what was seen so far, -1 for unseen keys). Returns the number of noise pairs. */
static long check_memo(const TaskCfg *c, const Dataset *d, int32_t *map)
{
    int ns = c->vocab - 1 - c->noise_vocab, nk = ns / 2;
    long noise = 0;
    for (int s = 0; s < d->n; s++) {
        const int32_t *in = d->inputs + (size_t)s * d->len, *tg = d->targets + (size_t)s * d->len;
        for (int p = 0; p < d->len; p += 2) {
            if (in[p] >= ns && in[p] < ns + c->noise_vocab) {
                REQUIRE(in[p + 1] >= ns && in[p + 1] < ns + c->noise_vocab, "half-noise pair");
                REQUIRE(tg[p] == ML_IGNORE && tg[p + 1] == ML_IGNORE, "noise scored");
                noise++;
                continue;
            }
            REQUIRE(in[p] < nk, "seq %d pos %d: %d is no key", s, p, in[p]);
            REQUIRE(in[p + 1] == c->vocab - 1, "seq %d pos %d: no insert token", s, p + 1);
            REQUIRE(tg[p] == ML_IGNORE, "key position scored");
            REQUIRE(tg[p + 1] >= nk && tg[p + 1] < ns, "target %d is no value", tg[p + 1]);
            if (map[in[p]] < 0) map[in[p]] = tg[p + 1];
            REQUIRE(map[in[p]] == tg[p + 1], "key %d maps to %d and %d", in[p], map[in[p]], tg[p + 1]);
        }
    }
    return noise;
}

START_TEST(test_memorization)
{
    const TaskKind *M = need_task("memorization");
    TaskCfg c = M->defaults;
    Dataset te, tr = gen_task(M, &c, 12345, &te);
    ck_assert_int_eq(tr.n, 256);
    ck_assert_int_eq(te.n, 1280);
    ck_assert_int_eq(tr.len, 32);
    check_ranges(M, &c, &tr);
    check_ranges(M, &c, &te);
    int32_t map[8192], map2[8192];
    for (int k = 0; k < 8192; k++) map[k] = map2[k] = -1;
    ck_assert_int_eq(check_memo(&c, &tr, map), 0);
    ck_assert_int_eq(check_memo(&c, &te, map), 0);
    /* the map comes from the run's seed, as the reference's generate_kv_map(seed=config.seed):
     * another seed gives another map; each is one-to-one over the 127 keys */
    Dataset te2, tr2 = gen_task(M, &c, 999, &te2);
    check_memo(&c, &tr2, map2);
    check_memo(&c, &te2, map2);
    int used[256] = {0}, used2[256] = {0}, n_keys = 0, n_keys2 = 0, differ = 0;
    for (int k = 0; k < 127; k++) {
        if (map[k] >= 0 && map2[k] >= 0 && map[k] != map2[k]) differ++;
        if (map[k] >= 0) {
            ck_assert_int_eq(used[map[k]]++, 0);
            n_keys++;
        }
        if (map2[k] >= 0) {
            ck_assert_int_eq(used2[map2[k]]++, 0);
            n_keys2++;
        }
    }
    ck_assert_int_eq(n_keys, 127); /* 1536 x 16 draws cover 127 keys */
    ck_assert_int_eq(n_keys2, 127);
    ck_assert_msg(differ > 100, "seeds 12345 and 999 share %d of 127 values", 127 - differ);
    /* the same seed gives the same map, whatever ran in between (the map is cached per seed) */
    Dataset te3, tr3 = gen_task(M, &c, 12345, &te3);
    int32_t map3[8192];
    memcpy(map3, map, sizeof map3);
    check_memo(&c, &tr3, map3);
    check_memo(&c, &te3, map3);
    for (int k = 0; k < 127; k++) ck_assert_int_eq(map3[k], map[k]);
    free2(&tr3, &te3);
    ck_assert(memcmp(tr.inputs, tr2.inputs, sizeof(int32_t) * 256 * 32) != 0);
    ck_assert_int_eq(task_token_class(M, &c, 126), TOK_KEY);
    ck_assert_int_eq(task_token_class(M, &c, 127), TOK_VALUE);
    ck_assert_int_eq(task_token_class(M, &c, 255), TOK_SPECIAL);
    free2(&tr, &te), free2(&tr2, &te2);

    /* the largest vocabulary of the grid */
    c.vocab = 8192, c.n_test = 300;
    tr = gen_task(M, &c, 1, &te);
    check_ranges(M, &c, &tr);
    for (int k = 0; k < 8192; k++) map[k] = -1;
    check_memo(&c, &tr, map);
    check_memo(&c, &te, map);
    free2(&tr, &te);
    /* noise */
    c = M->defaults;
    c.vocab = 64, c.noise_vocab = 8, c.frac_noise = 0.5, c.n_train = 500, c.n_test = 10;
    tr = gen_task(M, &c, 2, &te);
    for (int k = 0; k < 8192; k++) map[k] = -1;
    long noise = check_memo(&c, &tr, map);
    double frac = (double)noise / (500.0 * 16);
    ck_assert_msg(frac > 0.44 && frac < 0.5, "noise pairs %g (one pair in 16 is protected)", frac);
    free2(&tr, &te);
    c = M->defaults;
    c.n_train = 100, c.n_test = 50;
    check_determinism(M, c);
}
END_TEST

START_TEST(test_memorization_leakage) { check_leakage_default(need_task("memorization")); }
END_TEST

START_TEST(test_memorization_validation)
{
    const TaskKind *M = need_task("memorization");
    TaskCfg ok = M->defaults, c;
    c = ok, c.seq_len = 31, expect_refused_by(M, c, "seq_len", "odd");
    c = ok, c.vocab = 2, expect_refused_by(M, c, "vocab", "vocab >= 3");
    c = ok, c.vocab = 20000, expect_refused_by(M, c, "vocab", "16384");
    c = ok, c.frac_noise = 0.3, expect_refused_by(M, c, "noise_vocab", NULL);
    c = ok, c.noise_vocab = -2, expect_refused_by(M, c, "noise_vocab", NULL);
    MlError err;
    c = ok, c.vocab = 8192;
    ck_assert_int_eq(M->validate(&c, &err), 0);
}
END_TEST

static Suite *tasks_suite(void)
{
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("in-context-recall");
    tcase_add_unchecked_fixture(tc, setup_default, teardown_default);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_registry);
    tcase_add_test(tc, test_default_shapes);
    tcase_add_test(tc, test_default_structure);
    tcase_add_test(tc, test_default_train_targets);
    tcase_add_test(tc, test_default_test_targets);
    tcase_add_test(tc, test_leakage_default);
    tcase_add_test(tc, test_leakage_counts);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_other_sizes);
    tcase_add_test(tc, test_single_query);
    tcase_add_test(tc, test_noise);
    tcase_add_test(tc, test_heavy_noise_short);
    tcase_add_test(tc, test_validation);
    suite_add_tcase(s, tc);

    TCase *o = tcase_create("other tasks");
    tcase_set_timeout(o, 60);
    tcase_add_test(o, test_registry_all);
    tcase_add_test(o, test_noisy_default);
    tcase_add_test(o, test_noisy_leakage);
    tcase_add_test(o, test_fuzzy);
    tcase_add_test(o, test_fuzzy_leakage);
    tcase_add_test(o, test_fuzzy_validation);
    tcase_add_test(o, test_copying);
    tcase_add_test(o, test_copying_leakage);
    tcase_add_test(o, test_copying_validation);
    tcase_add_test(o, test_compression);
    tcase_add_test(o, test_compression_leakage);
    tcase_add_test(o, test_memorization);
    tcase_add_test(o, test_memorization_leakage);
    tcase_add_test(o, test_memorization_validation);
    suite_add_tcase(s, o);
    return s;
}

int main(void) { return run_suite(tasks_suite()); }
