/* End to end: a small attention stack learns a small in-context-recall setting; runs repeat
 * exactly for a seed and thread count; a diverging run stops and says so. */
#include "config.h"
#include "internal.h"
#include "testutil.h"

#include <math.h>
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

/* One thread computes what two do, bit for bit, so madlab mad's one-thread lanes reproduce a
 * two-thread run. The compression task at batch 32, length 16, width 128: its head's weight
 * gradient (128 x 16 over 512 rows) is where OpenBLAS takes another kernel for a half-sized
 * product, and its norms' weight gradients are summed in bands. */
/* One thread gives two threads' numbers: every reduction is cut into the same two bands
 * (pool_for_bands), for every kind of layer. */
static const char *const band_stacks[] = {
    "mh-attention swiglu", "mamba swiglu", "gated-linear-attention mlp",
    "linear-attention swiglu", "rwkv5-time-mixer rwkv5-channel-mixer",
    "rwkv6-time-mixer rwkv6-channel-mixer", "hyena moe-mlp", "mh-hyena moe-mlp(routing=topk)",
    "hyena-experts(routing=topk) sliding-attention", "mh-sliding-attention swiglu",
    "mh-linear-attention swiglu", "mh-gated-linear-attention swiglu", "attention mlp",
};

START_TEST(one_thread_gives_two_threads_numbers)
{
    const char *stack = band_stacks[_i];
    Log log[2] = {{.n = 0}, {.n = 0}};
    for (int threads = 1; threads <= 2; threads++) {
        pool_init(threads);
        TrainCfg c;
        train_cfg_default(&c);
        c.task_name = "compression";
        c.task = task_find("compression")->defaults;
        c.task.seq_len = 16;
        c.task.n_train = 128;
        c.task.n_test = 32;
        c.width = 32;
        MlError err;
        ck_assert_msg(stack_parse(stack, "t", c.width, &c.stack, &err) == 0, "%s", err.msg);
        c.epochs = 2;
        c.batch = 32;
        c.lr = 1e-3;
        TrainResult r;
        TrainHooks h = {.ctx = &log[threads - 1], .on_epoch = log_epoch};
        ck_assert_msg(train_run(&c, &h, &r, &err) == 0, "%s", err.msg);
    }
    pool_init(1);
    ck_assert_int_eq(log[0].n, 2);
    ck_assert_int_eq(log[1].n, 2);
    for (int e = 0; e < 2; e++) {
        ck_assert_msg(log[0].s[e].train_loss == log[1].s[e].train_loss, "%s: epoch %d train loss "
                      "%.9g on 1 thread, %.9g on 2", stack, e + 1, log[0].s[e].train_loss,
                      log[1].s[e].train_loss);
        ck_assert_msg(log[0].s[e].test_loss == log[1].s[e].test_loss, "%s: test loss", stack);
        ck_assert(log[0].s[e].test_acc == log[1].s[e].test_acc);
    }
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

/* The reported epoch is the one with the lowest test perplexity as the reference logs it (the
 * mean over test batches of each batch's exp(mean cross-entropy)); max_test_acc is the highest
 * accuracy; the early stop needs test accuracy strictly above stop_acc. */
START_TEST(reports_lowest_perplexity_epoch)
{
    pool_init(2);
    TrainCfg c;
    small_recall(&c);
    c.epochs = 6;
    c.task.n_train = 512;
    c.stop_acc = 2; /* never */
    Log a = {.n = 0};
    TrainHooks h = {.ctx = &a, .on_epoch = log_epoch};
    TrainResult r;
    MlError err;
    ck_assert_msg(train_run(&c, &h, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(a.n, 6);
    int best = 0, top = 0;
    for (int e = 0; e < a.n; e++) {
        /* 8 test batches: a mean of exps is at least the exp of the mean (equal only if every
         * batch had the same loss) */
        ck_assert_msg(a.s[e].test_ppl > exp(a.s[e].test_loss) * (1 + 1e-9),
                      "epoch %d: ppl %g, exp(loss) %g", e + 1, a.s[e].test_ppl, exp(a.s[e].test_loss));
        if (a.s[e].test_ppl < a.s[best].test_ppl) best = e;
        if (a.s[e].test_acc > a.s[top].test_acc) top = e;
    }
    ck_assert_int_eq(r.best_epoch, best + 1);
    ck_assert(r.best_test_ppl == a.s[best].test_ppl);
    ck_assert(r.best_test_acc == a.s[best].test_acc);
    ck_assert(r.best_test_loss == a.s[best].test_loss);
    ck_assert(r.max_test_acc == a.s[top].test_acc);
    ck_assert_int_eq(r.max_epoch, top + 1);
    ck_assert(!r.stopped_early);

    /* stop_acc equal to an epoch's accuracy does not stop there; the first epoch above it does */
    int at = 0; /* stop_acc = the first epoch's accuracy: the run stops at the first above it */
    int want = -1;
    for (int e = 0; e < a.n && want < 0; e++)
        if (a.s[e].test_acc > a.s[at].test_acc) want = e + 1;
    ck_assert_msg(want > 0, "no epoch beats epoch %d's accuracy", at + 1);
    c.stop_acc = a.s[at].test_acc;
    Log b = {.n = 0};
    TrainHooks hb = {.ctx = &b, .on_epoch = log_epoch};
    ck_assert(train_run(&c, &hb, &r, &err) == 0);
    ck_assert(b.s[at].test_acc == a.s[at].test_acc); /* the same run so far */
    ck_assert(r.stopped_early);
    ck_assert_int_eq(r.epochs_run, want);
    pool_init(1);
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
    tcase_add_loop_test(tc, one_thread_gives_two_threads_numbers, 0,
                        (int)(sizeof band_stacks / sizeof *band_stacks));
    tcase_add_test(tc, divergence_is_reported);
    tcase_add_test(tc, hooks_can_stop_a_run);
    tcase_add_test(tc, reports_lowest_perplexity_epoch);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
