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

static Dataset gen(const TaskCfg *c, uint64_t seed, Dataset *test)
{
    Dataset train;
    MlError err;
    int rc = task_generate(CR, c, seed, &train, test, &err);
    ck_assert_msg(rc == 0, "task_generate failed: %s", err.msg);
    return train;
}

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
    return s;
}

int main(void) { return run_suite(tasks_suite()); }
