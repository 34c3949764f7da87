/* The scaling work: the text task on a generated corpus (deterministic batches, never across the
 * split, clear errors), the width/depth rule, the IsoFLOP plan's checks, result files, and the
 * fits recovering known minima and exponents from noisy synthetic points. */
#include "config.h"
#include "madlab.h"
#include "testutil.h"
#include "scaling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static void make_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/madlab-check-scale-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* n bytes of pseudo-text: words of letters from a fixed stream, so bytes differ by position. */
static void write_corpus(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    Rng r;
    rng_seed(&r, 99);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = rng_below(&r, 32);
        fputc(k < 26 ? 'a' + (int)k : k < 30 ? ' ' : '\n', f);
    }
    fclose(f);
}

static const TaskKind *text_task(void)
{
    const TaskKind *t = task_find("text");
    ck_assert_ptr_nonnull(t);
    return t;
}

/* ---- the text task ---- */

START_TEST(text_batches_deterministic_and_split)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/corpus.txt", g_dir);
    write_corpus(path, 50000);
    const TaskKind *t = text_task();
    TaskCfg c = t->defaults;
    c.corpus = path;
    c.seq_len = 32;
    c.n_train = 500;
    c.n_test = 40;
    Dataset a, at, b, bt, d, dt;
    MlError err;
    ck_assert_msg(task_generate(t, &c, 7, &a, &at, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(task_generate(t, &c, 7, &b, &bt, &err), 0);
    ck_assert_int_eq(task_generate(t, &c, 8, &d, &dt, &err), 0);
    const Corpus *k = corpus_open(path, &err);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->size, 50000);
    ck_assert_uint_eq(k->split, 45000);
    /* the training set is a view of the mapped corpus, not a copy */
    ck_assert_ptr_null(a.inputs);
    ck_assert_ptr_eq(a.bytes, k->bytes);
    int differ = 0;
    int32_t in[32], tg[32], in2[32], tg2[32];
    for (int i = 0; i < a.n; i++) {
        ck_assert_int_eq(a.start[i], b.start[i]); /* same seed, same batches */
        differ += a.start[i] != d.start[i];
        ck_assert(a.start[i] >= 0 && a.start[i] + 32 < (int64_t)k->split); /* never a validation byte */
        dataset_row(&a, i, in, tg);
        for (int p = 0; p < 32; p++) {
            ck_assert_int_eq(in[p], k->bytes[a.start[i] + p]);
            ck_assert_int_eq(tg[p], k->bytes[a.start[i] + p + 1]); /* the next byte */
            if (p) ck_assert_int_eq(in[p], tg[p - 1]);
        }
    }
    ck_assert_int_gt(differ, a.n / 2); /* another seed, other batches */
    /* validation windows lie in the last tenth, and do not depend on the training length */
    TaskCfg c2 = c;
    c2.n_train = 123;
    Dataset e, et;
    ck_assert_int_eq(task_generate(t, &c2, 7, &e, &et, &err), 0);
    for (int i = 0; i < at.n; i++) {
        dataset_row(&at, i, in, tg);
        dataset_row(&et, i, in2, tg2);
        ck_assert(memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0);
        /* find the window in the corpus: it must start at or after the split */
        int found = 0;
        for (size_t s = k->split; s + 32 < k->size && !found; s++) {
            int same = 1;
            for (int p = 0; p < 32 && same; p++) same = k->bytes[s + p] == (uint8_t)in[p] &&
                                                       k->bytes[s + p + 1] == (uint8_t)tg[p];
            found = same;
        }
        ck_assert_msg(found, "validation window %d is not in the validation part", i);
    }
    dataset_free(&a), dataset_free(&at), dataset_free(&b), dataset_free(&bt);
    dataset_free(&d), dataset_free(&dt), dataset_free(&e), dataset_free(&et);
    remove_dir();
}
END_TEST

static void expect_generate_error(const char *corpus, int seq_len, const char *want1,
                                  const char *want2)
{
    const TaskKind *t = text_task();
    TaskCfg c = t->defaults;
    c.corpus = corpus;
    c.seq_len = seq_len;
    c.n_train = 4;
    c.n_test = 2;
    Dataset a, b;
    MlError err = {""};
    ck_assert_int_eq(task_generate(t, &c, 1, &a, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, want1) != NULL, "'%s' lacks '%s'", err.msg, want1);
    if (want2) ck_assert_msg(strstr(err.msg, want2) != NULL, "'%s' lacks '%s'", err.msg, want2);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "not one line: %s", err.msg);
}

START_TEST(text_corpus_errors)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/missing.txt", g_dir);
    expect_generate_error(path, 32, "missing.txt", "No such file");
    snprintf(path, sizeof path, "%s/empty.txt", g_dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    expect_generate_error(path, 32, "empty.txt", "empty");
    snprintf(path, sizeof path, "%s/small.txt", g_dir);
    write_corpus(path, 200);
    expect_generate_error(path, 32, "has 200 bytes", "need at least 330");
    expect_generate_error(g_dir, 32, g_dir, "not a regular file");
    snprintf(path, sizeof path, "%s/bad.gz", g_dir); /* gzip magic, then garbage */
    f = fopen(path, "wb");
    fputs("\x1f\x8b\x08garbage that is not deflate data", f);
    fclose(f);
    expect_generate_error(path, 32, "bad.gz", NULL);
    /* the task's own knobs */
    const TaskKind *t = text_task();
    TaskCfg c = t->defaults;
    c.vocab = 16;
    MlError err;
    ck_assert_int_eq(t->validate(&c, &err), -1);
    ck_assert(strstr(err.msg, "vocab") && strstr(err.msg, "256"));
    remove_dir();
}
END_TEST

/* A gzip file (the default corpus is one) reads as its decompressed text. */
START_TEST(text_gzip_corpus)
{
    make_dir();
    char path[128], cmd[300];
    snprintf(path, sizeof path, "%s/c.txt", g_dir);
    write_corpus(path, 20000);
    snprintf(cmd, sizeof cmd, "gzip -k '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    MlError err;
    const Corpus *plain = corpus_open(path, &err);
    snprintf(path, sizeof path, "%s/c.txt.gz", g_dir);
    const Corpus *gz = corpus_open(path, &err);
    ck_assert_ptr_nonnull(plain);
    ck_assert_msg(gz != NULL, "%s", err.msg);
    ck_assert_uint_eq(gz->size, plain->size);
    ck_assert(memcmp(gz->bytes, plain->bytes, plain->size) == 0);
    ck_assert_ptr_eq(corpus_open(path, &err), gz); /* opened once per process */
    remove_dir();
}
END_TEST

/* A scaling run's schedule: cosine over the run's own steps, down to lr_min at its last step;
 * the same seed gives the same losses (the same batches from the mapped corpus). */
static double g_last_lr;
static int on_epoch_lr(void *ctx, const EpochStats *s)
{
    (void)ctx;
    g_last_lr = s->lr;
    return 0;
}

START_TEST(text_training_per_step_schedule)
{
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/corpus.txt", g_dir);
    write_corpus(path, 20000);
    pool_init(1);
    TrainCfg c;
    train_cfg_default(&c);
    c.task_name = "text";
    c.task = text_task()->defaults;
    c.task.corpus = path;
    c.task.seq_len = 16;
    c.task.n_train = 80;
    c.task.n_test = 8;
    MlError err;
    ck_assert(stack_parse("mlp(inner=16)", "t", 8, &c.stack, &err) == 0);
    c.width = 8;
    c.epochs = 1;
    c.batch = 8;
    c.lr = 1e-2;
    c.lr_min = 1e-3;
    c.stop_acc = 2;
    c.lr_per_step = 1;
    c.warmup_frac = 0.2;
    TrainHooks h = {.on_epoch = on_epoch_lr};
    TrainResult a, b;
    ck_assert_msg(train_run(&c, &h, &a, &err) == 0, "%s", err.msg);
    ck_assert_double_eq_tol(g_last_lr, 1e-3, 1e-12);
    ck_assert(isfinite(a.final_test_loss) && a.final_test_loss > 0 && a.final_test_loss < log(256.0));
    ck_assert_int_eq(train_run(&c, NULL, &b, &err), 0);
    ck_assert(a.final_test_loss == b.final_test_loss);
    c.warmup_frac = 1;
    ck_assert_int_eq(train_run(&c, NULL, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, "warmup_frac") != NULL, "%s", err.msg);
    pool_shutdown();
    remove_dir();
}
END_TEST

/* ---- sizes ---- */

START_TEST(resize_rule)
{
    StackSpec base, s;
    MlError err;
    ck_assert(stack_parse("mh-attention swiglu hyena mh-hyena", "t", 128, &base, &err) == 0);
    ck_assert_msg(stack_resize(&base, 128, 64, 2, &s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.n, 8);
    ck_assert_int_eq(s.knob[0][0], 8);   /* heads 16 -> 8: head size 8 kept */
    ck_assert_int_eq(s.knob[1][0], 176); /* inner 352 -> 176: ratio to width kept */
    ck_assert_int_eq(s.knob[3][0], 16);  /* mh-hyena's channels per head stay */
    ck_assert_int_eq(s.knob[2][0], base.knob[2][0]); /* hyena's expand ratio stays */
    ck_assert_ptr_eq(s.kind[4], s.kind[0]);
    ck_assert_int_eq(s.knob[5][0], 176);
    /* a width the stack cannot take is refused with the parser's message */
    ck_assert_int_eq(stack_resize(&base, 128, 24, 1, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "width 24") != NULL, "%s", err.msg);
    ck_assert_int_eq(stack_resize(&base, 128, 64, 40, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "--repeat 40") != NULL, "%s", err.msg);
    ScaleShape a, b;
    ck_assert(scale_shape(&base, 128, NORM_RMS, 64, 1, 128, &a, NULL, &err) == 0);
    ck_assert(scale_shape(&base, 128, NORM_RMS, 64, 2, 128, &b, NULL, &err) == 0);
    /* twice the blocks; the final norm is counted once */
    ck_assert(b.params < 2 * a.params && b.params >= 2 * a.params - 2 * 64);
    ck_assert(a.params_all > a.params && a.flops_per_token > 6 * a.params && a.state > 0);
}
END_TEST

START_TEST(plan_checks)
{
    StackSpec base;
    MlError err;
    ck_assert(stack_parse("mh-attention swiglu mh-attention swiglu", "t", 128, &base, &err) == 0);
    ScaleProtocol p = *scale_protocol_find("quick");
    ScalePlan *pl = malloc(sizeof *pl);
    ck_assert_msg(scale_plan(&p, &base, 128, NORM_RMS, 1, pl, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(pl->n_runs, p.n_budgets * p.n_sizes);
    for (int i = 0; i < pl->n_runs; i++) {
        const ScaleRun *r = &pl->run[i];
        /* each run spends its budget (to within one sequence) */
        ck_assert(r->flops <= r->budget && r->flops > r->budget - 128 * pl->shape[r->shape_i].flops_per_token);
        if (i % p.n_sizes) ck_assert_int_gt(r->shape_i, pl->run[i - 1].shape_i);
    }
    ck_assert_str_eq(pl->run[0].id, "C-3e10_w-4_r-1");
    /* a ladder of one size */
    ScaleProtocol q = p;
    q.n_sizes = 1;
    ck_assert_int_eq(scale_plan(&q, &base, 128, NORM_RMS, 1, pl, &err), -1);
    ck_assert_msg(strstr(err.msg, "ladder of 1 size") != NULL, "%s", err.msg);
    /* a budget too small for the smallest model */
    q = p;
    ck_assert(scale_parse_budgets("1e6", &q, &err) == 0);
    ck_assert_int_eq(scale_plan(&q, &base, 128, NORM_RMS, 1, pl, &err), -1);
    ck_assert_msg(strstr(err.msg, "too small") && strstr(err.msg, "budget 1e06"), "%s", err.msg);
    ck_assert_int_eq(scale_parse_budgets("1e12,5e11", &q, &err), -1);
    ck_assert_int_eq(scale_parse_budgets("1e12,x", &q, &err), -1);
    ck_assert_int_eq(scale_parse_budgets("", &q, &err), -1);
    ck_assert_int_eq(scale_parse_budgets("1e12,", &q, &err), -1);
    free(pl);
}
END_TEST

START_TEST(result_round_trip)
{
    make_dir();
    ScaleResult r = {.protocol = "quick", .id = "C-1e11_w-8_r-1", .stack = "mh-attention swiglu",
                     .corpus = "default", .budget = 1e11, .width = 8, .repeat = 1,
                     .norm = NORM_RMS, .seq_len = 128, .batch = 16, .n_train = 100, .n_test = 4,
                     .lr = 2e-3, .wd = 0.1, .seed = 5, .params = 1800, .params_all = 5000,
                     .flops_per_token = 35000, .state = 4096, .tokens = 12800, .flops = 4.5e8,
                     .val_loss = 2.25, .val_acc = 0.3, .seconds = 1.5};
    char path[128];
    snprintf(path, sizeof path, "%s/x.result", g_dir);
    MlError err;
    ck_assert(scale_result_write(path, &r, &err) == 0);
    ScaleResult b;
    ck_assert_msg(scale_result_read(path, &b, &err) == 0, "%s", err.msg);
    ck_assert(memcmp(&r, &b, sizeof r) == 0);
    FILE *f = fopen(path, "r+"); /* cut: no "end" line */
    ck_assert_int_eq(ftruncate(fileno(f), 40), 0);
    fclose(f);
    ck_assert_int_eq(scale_result_read(path, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, "x.result") != NULL, "%s", err.msg);
    remove_dir();
}
END_TEST

/* ---- fits ---- */

START_TEST(parabola_and_line_exact)
{
    double x[] = {-1, 0, 1, 2, 3}, y[5], c[3];
    for (int i = 0; i < 5; i++) y[i] = 2 - 3 * x[i] + 0.5 * x[i] * x[i];
    ck_assert(fit_parabola(x, y, 5, c) == 0);
    ck_assert_double_eq_tol(c[0], 2, 1e-9);
    ck_assert_double_eq_tol(c[1], -3, 1e-9);
    ck_assert_double_eq_tol(c[2], 0.5, 1e-9);
    double s, k;
    ck_assert(fit_line(x, y, 2, &s, &k) == 0);
    ck_assert_double_eq_tol(s, y[1] - y[0], 1e-12);
    ck_assert_int_eq(fit_parabola(x, y, 2, c), -1);
    double same[] = {1, 1, 1};
    ck_assert_int_eq(fit_line(same, y, 3, &s, &k), -1);
    double a[] = {0.66, 0.73, 0.77, 0.77, 0.78}, p[] = {11.0, 9.9, 8.6, 8.4, 8.2};
    ck_assert_double_eq_tol(spearman(a, p, 5), -0.9746794344808964, 1e-12); /* a tie in a */
    double q[] = {1, 2, 3, 4, 5};
    ck_assert_double_eq_tol(spearman(q, q, 5), 1, 1e-12);
    ck_assert(isnan(spearman(q, q, 1)));
}
END_TEST

/* Loss curves from a known law L(N, D) = E + A / N^alpha + B / D^beta with D = C / (6 N), plus
 * noise: per budget the parabola finds the minimum, across budgets the power law recovers
 * a = beta / (alpha + beta), the known compute-optimal exponent. */
START_TEST(fits_recover_known_exponents)
{
    const double E = 1.0, A = 40, B = 60, alpha = 0.34, beta = 0.28;
    const double a_true = beta / (alpha + beta);
    Rng r;
    rng_seed(&r, 3);
    double lc[5], ln[5];
    for (int b = 0; b < 5; b++) {
        double C = 1e12 * pow(4, b);
        /* the exact optimum of this law, by dense search */
        double best_n = 0, best_l = INFINITY;
        for (double x = log(1e3); x < log(1e9); x += 1e-4) {
            double N = exp(x), l = E + A / pow(N, alpha) + B / pow(C / (6 * N), beta);
            if (l < best_l) best_l = l, best_n = N;
        }
        /* a ladder of 7 sizes 2x apart around it, off-centre by a factor 1.3 */
        double P[7], L[7];
        for (int i = 0; i < 7; i++) {
            P[i] = best_n * 1.3 * pow(2, i - 3);
            L[i] = E + A / pow(P[i], alpha) + B / pow(C / (6 * P[i]), beta) +
                   0.002 * rng_normal(&r);
        }
        ScaleBudgetFit f;
        ck_assert(scale_fit_budget(P, L, 7, &f) == 0);
        ck_assert(!f.at_edge);
        ck_assert_msg(fabs(log(f.n_opt / best_n)) < 0.25, "budget %g: N_opt %g, true %g", C, f.n_opt, best_n);
        ck_assert_msg(fabs(f.l_opt - best_l) < 0.01, "L_opt %g, true %g", f.l_opt, best_l);
        ck_assert(f.rise_half > 0 && f.rise_double > 0);
        lc[b] = log(C);
        ln[b] = log(f.n_opt);
    }
    double a, k;
    ck_assert(fit_line(lc, ln, 5, &a, &k) == 0);
    ck_assert_msg(fabs(a - a_true) < 0.04, "a %g, true %g", a, a_true);
    /* a ladder whose losses keep falling has its minimum at an end */
    double P[] = {1e4, 2e4, 4e4, 8e4}, L[] = {3.0, 2.8, 2.7, 2.65};
    ScaleBudgetFit f;
    ck_assert(scale_fit_budget(P, L, 4, &f) == 0);
    ck_assert(f.at_edge);
    ck_assert_double_eq_tol(f.n_opt, 8e4, 1e-6);
    ck_assert_int_eq(scale_fit_budget(P, L, 2, &f), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scale");
    TCase *tc = tcase_create("scale");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, text_batches_deterministic_and_split);
    tcase_add_test(tc, text_corpus_errors);
    tcase_add_test(tc, text_gzip_corpus);
    tcase_add_test(tc, text_training_per_step_schedule);
    tcase_add_test(tc, resize_rule);
    tcase_add_test(tc, plan_checks);
    tcase_add_test(tc, result_round_trip);
    tcase_add_test(tc, parabola_and_line_exact);
    tcase_add_test(tc, fits_recover_known_exponents);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
