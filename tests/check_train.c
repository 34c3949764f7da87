/* End to end: a small attention stack learns a small in-context-recall setting; runs repeat
 * exactly for a seed and thread count; a diverging run stops and says so. */
#include "config.h"
#include "internal.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define MAX_EPOCHS 40

typedef struct {
    EpochStats s[MAX_EPOCHS];
    int n;
} Log;

static int log_epoch(void *ctx, const EpochStats *s)
{
    Log *l = ctx;
    if (l->n < MAX_EPOCHS) l->s[l->n++] = *s;
    return 0;
}

/* Small enough for a few seconds per run, hard enough that a broken gradient cannot pass: with
 * 4 keys and 4 values, guessing the commonest value of the context scores about 0.5, and only an
 * induction circuit across both attention layers gets past it (here after about 5 epochs). */
static void small_recall(TrainCfg *c)
{
    train_cfg_default(c);
    c->task.vocab = 8;
    c->task.seq_len = 32;
    c->task.n_train = 2048;
    c->task.n_test = 256;
    c->width = 64;
    ck_assert(stack_parse("mh-attention swiglu(inner=128) mh-attention swiglu(inner=128)", "t",
                          c->width, &c->stack, NULL) == 0);
    c->epochs = 12;
    c->batch = 32;
    c->lr = 2e-3;
    c->wd = 0.1;
}

START_TEST(attention_stack_learns_recall)
{
    pool_init(2);
    TrainCfg c;
    small_recall(&c);
    Log log = {.n = 0};
    TrainHooks h = {.ctx = &log, .on_epoch = log_epoch};
    TrainResult r;
    MlError err;
    ck_assert_msg(train_run(&c, &h, &r, &err) == 0, "%s", err.msg);
    fprintf(stderr, "learned in %d epochs: best test acc %.4f (micro %.4f)\n", r.epochs_run,
            r.best_test_acc, r.best_test_acc_micro);
    ck_assert_msg(r.best_test_acc >= 0.95, "best test accuracy %.3f after %d epochs",
                  r.best_test_acc, r.epochs_run);
    /* The loss fell, and the first epoch was still below what recall needs. */
    ck_assert(log.s[log.n - 1].train_loss < log.s[0].train_loss);
    ck_assert(log.s[0].test_acc < 0.7);
    pool_init(1);
}
END_TEST

START_TEST(same_seed_same_numbers)
{
    for (int threads = 1; threads <= 2; threads++) {
        pool_init(threads);
        Log a = {.n = 0}, b = {.n = 0};
        TrainCfg c;
        small_recall(&c);
        c.epochs = 2;
        c.task.n_train = 512;
        TrainResult r;
        MlError err;
        TrainHooks ha = {.ctx = &a, .on_epoch = log_epoch}, hb = {.ctx = &b, .on_epoch = log_epoch};
        ck_assert(train_run(&c, &ha, &r, &err) == 0);
        ck_assert(train_run(&c, &hb, &r, &err) == 0);
        ck_assert_int_eq(a.n, 2);
        ck_assert_int_eq(b.n, 2);
        for (int e = 0; e < a.n; e++) {
            ck_assert(a.s[e].train_loss == b.s[e].train_loss);
            ck_assert(a.s[e].test_loss == b.s[e].test_loss);
            ck_assert(a.s[e].test_acc == b.s[e].test_acc);
        }
        c.seed++;
        TrainHooks hc = {.ctx = &b, .on_epoch = log_epoch};
        b.n = 0;
        ck_assert(train_run(&c, &hc, &r, &err) == 0);
        ck_assert(a.s[0].train_loss != b.s[0].train_loss);
    }
    pool_init(1);
}
END_TEST

START_TEST(divergence_is_reported)
{
    TrainCfg c;
    small_recall(&c);
    c.epochs = 3;
    c.task.n_train = 256;
    c.lr = 1e30; /* the first update overflows the weights */
    TrainResult r;
    MlError err = {{0}};
    ck_assert_int_eq(train_run(&c, NULL, &r, &err), -1);
    ck_assert(r.diverged);
    ck_assert_msg(strstr(err.msg, "diverged") != NULL, "%s", err.msg);
}
END_TEST

static int stop_after_first(void *ctx, const EpochStats *s) { return 1; }

START_TEST(hooks_can_stop_a_run)
{
    TrainCfg c;
    small_recall(&c);
    c.task.n_train = 256;
    TrainHooks h = {.on_epoch = stop_after_first};
    TrainResult r;
    MlError err;
    ck_assert(train_run(&c, &h, &r, &err) == 0);
    ck_assert(r.interrupted);
    ck_assert_int_eq(r.epochs_run, 1);
    volatile sig_atomic_t stop = 1;
    TrainHooks h2 = {.stop = &stop};
    ck_assert(train_run(&c, &h2, &r, &err) == 0);
    ck_assert(r.interrupted);
    ck_assert_int_eq(r.epochs_run, 0);
}
END_TEST

int main(void)
{
    pool_init(1);
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, attention_stack_learns_recall);
    tcase_add_test(tc, same_seed_same_numbers);
    tcase_add_test(tc, divergence_is_reported);
    tcase_add_test(tc, hooks_can_stop_a_run);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
