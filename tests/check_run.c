/* The background run queue (engine/run.c): start, pause, resume, stop, queue, error status.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
 * Also run under ThreadSanitizer (./configure --enable-tsan). */
#include "config.h"

#include <check.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "madlab.h"
#include "testutil.h"

static void small_spec(RunSpec *s, int epochs)
{
    memset(s, 0, sizeof *s);
    train_cfg_default(&s->train);
    s->train.task.vocab = 8;
    s->train.task.seq_len = 16;
    s->train.task.n_train = 64;
    s->train.task.n_test = 16;
    s->train.width = 32;
    ck_assert(stack_parse("mh-attention(heads=2) swiglu(inner=64)", "t", 32, &s->train.stack, NULL) == 0);
    s->train.epochs = epochs;
    s->train.batch = 16; /* 4 steps per epoch */
    s->train.lr = 1e-3;
    snprintf(s->label, sizeof s->label, "small");
}

typedef struct {
    uint64_t cursor;
    int steps[8], epochs[8], ended[8];
    RunState end[8];
    int end_order[8], n_end;
} Seen;

/* Reads points until fn says stop or timeout seconds pass; waits on the wake pipe. */
static int pump(Runner *r, Seen *s, double timeout, int (*done)(Seen *, void *), void *arg)
{
    double t0 = ml_now();
    while (ml_now() - t0 < timeout) {
        struct pollfd p = {runner_wake_fd(r), POLLIN, 0};
        poll(&p, 1, 50);
        runner_drain_wake(r);
        MetricPoint pts[64];
        int n;
        while ((n = runner_read(r, &s->cursor, pts, 64, NULL)) > 0)
            for (int i = 0; i < n; i++) {
                int id = pts[i].run;
                ck_assert(id >= 0 && id < 8);
                if (pts[i].kind == MP_STEP) s->steps[id]++;
                else if (pts[i].kind == MP_EPOCH) s->epochs[id]++;
                else {
                    s->ended[id] = 1;
                    s->end[id] = pts[i].end;
                    s->end_order[s->n_end++] = id;
                }
            }
        if (done(s, arg)) return 1;
    }
    return 0;
}

static int ended(Seen *s, void *arg) { return s->ended[*(int *)arg]; }
static int stepped(Seen *s, void *arg) { return s->steps[*(int *)arg] > 0; }

START_TEST(run_completes)
{
    pool_init(1);
    MlError err;
    Runner *r = runner_new(&err);
    ck_assert_ptr_nonnull(r);
    RunSpec s;
    small_spec(&s, 3);
    int id = runner_enqueue(r, &s, &err);
    ck_assert_int_eq(id, 0);
    Seen seen = {0};
    ck_assert(pump(r, &seen, 60, ended, &id));
    ck_assert_int_eq(seen.end[0], RUN_DONE);
    ck_assert_int_eq(seen.epochs[0], 3);
    ck_assert_int_eq(seen.steps[0], 12);
    RunRecord rec;
    ck_assert_int_eq(runner_record(r, 0, &rec), 0);
    ck_assert_int_eq(rec.state, RUN_DONE);
    ck_assert_int_eq(rec.result.epochs_run, 3);
    ck_assert(!runner_busy(r));
    RunSnapshot snap;
    runner_snapshot(r, &snap);
    ck_assert_int_eq(snap.id, 0);
    ck_assert_int_eq(snap.global_step, 12);
    ck_assert(snap.elapsed_s > 0);
    runner_free(r);
    pool_shutdown();
}
END_TEST

START_TEST(pause_resume_stop)
{
    pool_init(1);
    MlError err;
    Runner *r = runner_new(&err);
    RunSpec s;
    small_spec(&s, 10000);
    int id = runner_enqueue(r, &s, &err);
    Seen seen = {0};
    ck_assert(pump(r, &seen, 60, stepped, &id));
    runner_pause(r, 1);
    RunSnapshot a, b;
    double t0 = ml_now();
    do { /* the trainer parks at its next step */
        runner_snapshot(r, &a);
    } while (a.state != RUN_PAUSED && ml_now() - t0 < 30);
    ck_assert_int_eq(a.state, RUN_PAUSED);
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    runner_snapshot(r, &b);
    ck_assert_int_eq(b.global_step, a.global_step); /* no step while paused */
    ck_assert(runner_busy(r));
    runner_pause(r, 0);
    t0 = ml_now();
    do {
        runner_snapshot(r, &b);
    } while (b.global_step <= a.global_step + 2 && ml_now() - t0 < 30);
    ck_assert(b.global_step > a.global_step + 2);
    /* the 0.2 s paused are not elapsed time (a's elapsed was taken as the trainer parked) */
    ck_assert_msg(b.elapsed_s - a.elapsed_s <= ml_now() - t0 + 0.05, "elapsed %.3f -> %.3f over %.3f s",
                  a.elapsed_s, b.elapsed_s, ml_now() - t0);
    runner_stop(r);
    ck_assert(pump(r, &seen, 60, ended, &id));
    ck_assert_int_eq(seen.end[0], RUN_STOPPED);
    ck_assert(!runner_busy(r));
    /* a stop while paused also ends the run */
    id = runner_enqueue(r, &s, &err);
    ck_assert_int_eq(id, 1);
    ck_assert(pump(r, &seen, 60, stepped, &id));
    runner_pause(r, 1);
    runner_stop(r);
    ck_assert(pump(r, &seen, 60, ended, &id));
    ck_assert_int_eq(seen.end[1], RUN_STOPPED);
    runner_pause(r, 0);
    runner_free(r);
    pool_shutdown();
}
END_TEST

START_TEST(queue_runs_in_order)
{
    pool_init(1);
    MlError err;
    Runner *r = runner_new(&err);
    RunSpec s;
    small_spec(&s, 1);
    for (int i = 0; i < 3; i++) {
        s.train.seed = 100 + i;
        ck_assert_int_eq(runner_enqueue(r, &s, &err), i);
    }
    ck_assert_int_eq(runner_count(r), 3);
    Seen seen = {0};
    int last = 2;
    ck_assert(pump(r, &seen, 120, ended, &last));
    ck_assert_int_eq(seen.n_end, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(seen.end_order[i], i);
        ck_assert_int_eq(seen.end[i], RUN_DONE);
        ck_assert_int_eq(seen.epochs[i], 1);
    }
    /* stop_all drops what is queued */
    s.train.epochs = 10000;
    int a = runner_enqueue(r, &s, &err), b = runner_enqueue(r, &s, &err);
    ck_assert(pump(r, &seen, 60, stepped, &a));
    runner_stop_all(r);
    ck_assert(pump(r, &seen, 60, ended, &a));
    ck_assert(pump(r, &seen, 5, ended, &b));
    ck_assert_int_eq(seen.end[a], RUN_STOPPED);
    ck_assert_int_eq(seen.end[b], RUN_STOPPED);
    ck_assert_int_eq(seen.steps[b], 0);
    ck_assert(!runner_busy(r));
    runner_free(r);
    pool_shutdown();
}
END_TEST

START_TEST(errors_come_back_as_status)
{
    pool_init(1);
    MlError err;
    Runner *r = runner_new(&err);
    RunSpec s;
    small_spec(&s, 2);
    s.train.task.seq_len = 15; /* odd: recall refuses it */
    int id = runner_enqueue(r, &s, &err);
    Seen seen = {0};
    ck_assert(pump(r, &seen, 60, ended, &id));
    ck_assert_int_eq(seen.end[id], RUN_FAILED);
    RunRecord rec;
    runner_record(r, id, &rec);
    ck_assert_msg(strstr(rec.error, "seq_len") != NULL, "error: %s", rec.error);

    small_spec(&s, 3);
    s.train.lr = 1e30; /* diverges at once */
    id = runner_enqueue(r, &s, &err);
    ck_assert(pump(r, &seen, 60, ended, &id));
    ck_assert_int_eq(seen.end[id], RUN_FAILED);
    runner_record(r, id, &rec);
    ck_assert_msg(strstr(rec.error, "diverged") != NULL, "error: %s", rec.error);

    /* the queue still works afterwards */
    small_spec(&s, 1);
    id = runner_enqueue(r, &s, &err);
    ck_assert(pump(r, &seen, 60, ended, &id));
    ck_assert_int_eq(seen.end[id], RUN_DONE);

    s.train.task_name = "no-such-task";
    ck_assert_int_eq(runner_enqueue(r, &s, &err), -1);
    ck_assert(strstr(err.msg, "no-such-task") != NULL);
    runner_free(r);
    pool_shutdown();
}
END_TEST

START_TEST(free_while_running)
{
    pool_init(1);
    MlError err;
    Runner *r = runner_new(&err);
    RunSpec s;
    small_spec(&s, 10000);
    int id = runner_enqueue(r, &s, &err);
    runner_enqueue(r, &s, &err);
    Seen seen = {0};
    ck_assert(pump(r, &seen, 60, stepped, &id));
    runner_pause(r, 1);
    runner_free(r); /* must stop, wake the paused trainer and join */
    pool_shutdown();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("run");
    TCase *tc = tcase_create("runner");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, run_completes);
    tcase_add_test(tc, pause_resume_stop);
    tcase_add_test(tc, queue_runs_in_order);
    tcase_add_test(tc, errors_come_back_as_status);
    tcase_add_test(tc, free_while_running);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
