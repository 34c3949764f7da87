/* The MAD protocol: the grid as the reference defines it, run ids, result files (round trip,
 * truncated and malformed ones reported by name and counted as missing), the aggregation of
 * spec 3.4 on hand-made results, the directory claim, and resume with a stand-in trainer. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "madlab.h"
#include "testutil.h"
#include "protocol.h"
#include "fileio.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const ProtoSetting *find(const Protocol *p, const char *task, const char *name)
{
    for (int i = 0; i < p->n_settings; i++)
        if (!strcmp(p->settings[i].task, task) && !strcmp(p->settings[i].name, name))
            return &p->settings[i];
    return NULL;
}

/* Settings pass their task's validation, and the knobs a task does not read are at its
 * defaults: madlab run (and so an --emit-jobs line) can only set the knobs a task reads. */
static void check_against_tasks(const Protocol *p)
{
    for (int i = 0; i < p->n_settings; i++) {
        const ProtoSetting *s = &p->settings[i];
        const TaskKind *t = task_find(s->task);
        ck_assert_msg(t != NULL, "task %s is not registered", s->task);
        MlError err;
        ck_assert_msg(t->validate(&s->cfg, &err) == 0, "%s %s: %s", s->task, s->name, err.msg);
        const TaskCfg *c = &s->cfg, *d = &t->defaults;
        ck_assert(c->multi_query == d->multi_query);
        if (!(t->knobs & TASK_KNOB_FRAC_NOISE)) ck_assert(c->frac_noise == d->frac_noise);
        if (!(t->knobs & TASK_KNOB_NOISE_VOCAB)) ck_assert(c->noise_vocab == d->noise_vocab);
        if (!(t->knobs & TASK_KNOB_K_MOTIF)) ck_assert(c->k_motif == d->k_motif);
        if (!(t->knobs & TASK_KNOB_V_MOTIF)) ck_assert(c->v_motif == d->v_motif);
        if (!(t->knobs & TASK_KNOB_N_COPY)) ck_assert(c->n_copy == d->n_copy);
    }
}

START_TEST(full_grid_is_the_reference)
{
    const Protocol *p = protocol_find("full");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->n_settings, 66);
    ck_assert_int_eq(protocol_n_runs(p), 396);
    ck_assert_int_eq(p->epochs, 200);
    ck_assert_int_eq(p->batch, 128);
    ck_assert(p->stop_acc == 0.999 && p->seed == 12345);
    ck_assert(p->lr[0] == 1e-4 && p->lr[1] == 5e-4 && p->lr[2] == 1e-3);
    ck_assert(p->wd[0] == 0.0 && p->wd[1] == 0.1);

    const char *tasks[] = {"in-context-recall", "fuzzy-in-context-recall", "noisy-in-context-recall",
                           "selective-copying", "compression", "memorization"};
    int want[] = {11, 11, 14, 13, 11, 6};
    for (int t = 0; t < 6; t++) {
        int n = 0;
        for (int i = 0; i < p->n_settings; i++) n += !strcmp(p->settings[i].task, tasks[t]);
        ck_assert_msg(n == want[t], "%s has %d settings, want %d", tasks[t], n, want[t]);
    }
    for (int i = 0; i < p->n_settings; i++) {
        ck_assert_int_eq(p->settings[i].cfg.n_test, 1280);
        ck_assert_int_eq(p->settings[i].cfg.multi_query, 1);
    }

    const ProtoSetting *s = &p->settings[0];
    ck_assert_str_eq(s->task, "in-context-recall");
    ck_assert_str_eq(s->name, "baseline");
    ck_assert(s->cfg.vocab == 16 && s->cfg.seq_len == 128 && s->cfg.n_train == 12800);
    ck_assert(s->cfg.frac_noise == 0 && s->cfg.noise_vocab == 0);

    s = find(p, "in-context-recall", "seq-len-1024");
    ck_assert(s && s->cfg.vocab == 16 && s->cfg.seq_len == 1024 && s->cfg.n_train == 12800);
    s = find(p, "fuzzy-in-context-recall", "train-800");
    ck_assert(s && s->cfg.k_motif == 3 && s->cfg.v_motif == 3 && s->cfg.n_train == 800 &&
              s->cfg.seq_len == 128);
    s = find(p, "noisy-in-context-recall", "baseline");
    ck_assert(s && s->cfg.vocab == 32 && s->cfg.noise_vocab == 16 && s->cfg.frac_noise == 0.2);
    s = find(p, "noisy-in-context-recall", "vocab-144");
    ck_assert(s && s->cfg.vocab == 144 && s->cfg.noise_vocab == 16 && s->cfg.frac_noise == 0.2);
    s = find(p, "noisy-in-context-recall", "frac-noise-0.8");
    ck_assert(s && s->cfg.vocab == 32 && s->cfg.frac_noise == 0.8 && s->cfg.seq_len == 128);
    s = find(p, "selective-copying", "baseline");
    ck_assert(s && s->cfg.vocab == 16 && s->cfg.seq_len == 256 && s->cfg.n_copy == 16);
    s = find(p, "selective-copying", "n-copy-96");
    ck_assert(s && s->cfg.seq_len == 256 && s->cfg.n_copy == 96);
    ck_assert_ptr_null(find(p, "selective-copying", "seq-len-256")); /* the baseline's own length */
    ck_assert_ptr_nonnull(find(p, "selective-copying", "seq-len-512"));
    s = find(p, "compression", "seq-len-256");
    ck_assert(s && s->cfg.vocab == 16 && s->cfg.n_train == 12800);
    s = find(p, "memorization", "baseline");
    ck_assert(s && s->cfg.vocab == 256 && s->cfg.seq_len == 32 && s->cfg.n_train == 256);
    s = find(p, "memorization", "vocab-8192");
    ck_assert(s && s->cfg.n_train == 256);
    ck_assert_ptr_null(find(p, "memorization", "train-800"));

    /* ids: stable, as documented, and distinct over all 396 runs */
    char id[256];
    protocol_run_id(find(p, "in-context-recall", "vocab-32"), 5e-4, 0.1, id, sizeof id);
    ck_assert_str_eq(id, "in-context-recall_vocab-32_lr-5e-4_wd-0.1");
    protocol_run_id(find(p, "noisy-in-context-recall", "frac-noise-0.4"), 1e-4, 0, id, sizeof id);
    ck_assert_str_eq(id, "noisy-in-context-recall_frac-noise-0.4_lr-1e-4_wd-0");
    int n = protocol_n_runs(p);
    char(*ids)[256] = calloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        int si;
        double lr, wd;
        protocol_run_at(p, i, &si, &lr, &wd);
        ck_assert(si == i / 6);
        protocol_run_id(&p->settings[si], lr, wd, ids[i], sizeof ids[i]);
        for (int j = 0; j < i; j++) ck_assert_str_ne(ids[i], ids[j]);
    }
    free(ids);

    check_against_tasks(p);
}
END_TEST

START_TEST(quick_protocol_is_small)
{
    const Protocol *p = protocol_find("quick");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->n_settings, 6);
    ck_assert_int_le(protocol_n_runs(p), 12);
    ck_assert_int_le(p->epochs, 50);
    ck_assert_ptr_null(protocol_find("fast"));
    check_against_tasks(p);
}
END_TEST

/* ---- a tiny protocol on disk ---- */

static const ProtoSetting tiny_settings[] = {
    {"in-context-recall", "a", {.vocab = 8, .seq_len = 16, .n_train = 64, .n_test = 32,
                                .k_motif = 1, .v_motif = 1, .multi_query = 1}},
    {"in-context-recall", "b", {.vocab = 16, .seq_len = 16, .n_train = 64, .n_test = 32,
                                .k_motif = 1, .v_motif = 1, .multi_query = 1}},
    {"memorization", "c", {.vocab = 32, .seq_len = 8, .n_train = 16, .n_test = 32, .k_motif = 1,
                           .v_motif = 1, .multi_query = 1}},
};
static const Protocol tiny = {.name = "tiny", .summary = "test", .n_settings = 3,
                              .settings = tiny_settings, .n_lr = 2, .n_wd = 1, .lr = {1e-3, 5e-4},
                              .wd = {0.1}, .epochs = 3, .batch = 8, .stop_acc = 0.999, .seed = 12345};
#define STACK_TEXT "mh-attention swiglu"

static char g_dir[256];

static void make_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/check_protocol.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static TrainCfg cfg_of(int i)
{
    StackSpec st;
    ck_assert(stack_parse(STACK_TEXT, "t", 32, &st, NULL) == 0);
    TrainCfg c;
    protocol_train_cfg(&tiny, i, &st, 32, NORM_RMS, &c);
    return c;
}

static void path_of(int i, char *buf, size_t n)
{
    int si;
    double lr, wd;
    char id[256];
    protocol_run_at(&tiny, i, &si, &lr, &wd);
    protocol_run_id(&tiny.settings[si], lr, wd, id, sizeof id);
    snprintf(buf, n, "%.200s/%.200s.result", g_dir, id);
}

static void write_result(int i, double acc)
{
    TrainCfg c = cfg_of(i);
    TrainResult t = {.epochs_run = 3, .best_epoch = 2, .best_test_acc = acc, .max_test_acc = acc,
                     .max_epoch = 2, .best_test_loss = 0.5, .seconds = 1};
    int si;
    double lr, wd;
    protocol_run_at(&tiny, i, &si, &lr, &wd);
    RunResult r;
    run_result_fill(&r, &c, &t, tiny.settings[si].name);
    char path[512];
    path_of(i, path, sizeof path);
    MlError err;
    ck_assert_msg(run_result_write(path, &r, &err) == 0, "%s", err.msg);
}

typedef struct {
    int n;
    char msg[8][600];
} Warnings;

static void collect_warn(void *ctx, const char *msg)
{
    Warnings *w = ctx;
    if (w->n < 8) snprintf(w->msg[w->n], sizeof w->msg[0], "%s", msg);
    w->n++;
}

START_TEST(result_round_trip)
{
    make_dir();
    write_result(1, 0.75);
    char path[512];
    path_of(1, path, sizeof path);
    RunResult r;
    MlError err;
    ck_assert_msg(run_result_read(path, &r, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(r.task, "in-context-recall");
    ck_assert_str_eq(r.setting, "a");
    ck_assert_str_eq(r.stack, STACK_TEXT);
    ck_assert(r.lr == 5e-4 && r.wd == 0.1 && r.best_test_acc == 0.75 && r.epochs == 3);
    ck_assert(r.cfg.vocab == 8 && r.cfg.seq_len == 16 && r.width == 32 && r.norm == NORM_RMS);
    ck_assert_int_eq(count_temps(g_dir, strrchr(path, '/') + 1, NULL, 0), 0);
    ck_assert_int_eq(access(strcat(path, ".tmp"), F_OK), -1); /* the temporary is gone */
    remove_dir();
}
END_TEST

START_TEST(aggregation_of_known_numbers)
{
    make_dir();
    /* runs: setting a (0.6, 0.8), b (0.9, 0.5), c (0.2, only one run) */
    write_result(0, 0.6);
    write_result(1, 0.8);
    write_result(2, 0.9);
    write_result(3, 0.5);
    write_result(4, 0.2);
    Warnings w = {0};
    ProtoScan s;
    MlError err;
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, collect_warn, &w, &s, &err) == 0);
    ck_assert_int_eq(w.n, 0);
    ck_assert_int_eq(s.n_runs, 6);
    ck_assert_int_eq(s.n_done, 5);
    ck_assert_int_eq(s.done[5], 0);
    ck_assert_double_eq_tol(s.setting[0].acc, 0.8, 1e-12);
    ck_assert(s.setting[0].lr == 5e-4);
    ck_assert_double_eq_tol(s.setting[1].acc, 0.9, 1e-12);
    ck_assert(s.setting[1].lr == 1e-3);
    ck_assert_double_eq_tol(s.setting[2].acc, 0.2, 1e-12);
    ck_assert_int_eq(s.n_tasks, 2);
    ck_assert_str_eq(s.task[0].task, "in-context-recall");
    ck_assert_double_eq_tol(s.task[0].score, 0.85, 1e-12);
    ck_assert_double_eq_tol(s.task[1].score, 0.2, 1e-12);
    ck_assert_double_eq_tol(s.mad, 0.525, 1e-12);

    ck_assert_msg(proto_write_csv(&s, g_dir, &err) == 0, "%s", err.msg);
    char path[512], line[256];
    snprintf(path, sizeof path, "%s/mad.csv", g_dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "task,score,settings\n");
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "in-context-recall,0.85,2\n");
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "memorization,0.2,1\n");
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "mad,0.525,3\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/settings.csv", g_dir);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert(fgets(line, sizeof line, f));
    ck_assert(strstr(line, "task,setting,vocab,seq_len") == line);
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "in-context-recall,a,8,16,64,32,0,0,1,1,0,1,0.0005,0.1,0.8,2\n");
    fclose(f);
    proto_scan_free(&s);
    remove_dir();
}
END_TEST

/* Writes text to the run's result path as is. */
static void write_raw(int i, const char *text)
{
    char path[512];
    path_of(i, path, sizeof path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *read_all(int i)
{
    char path[512];
    path_of(i, path, sizeof path);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = calloc(1, 8192);
    ck_assert(fread(buf, 1, 8191, f) > 0);
    fclose(f);
    return buf;
}

START_TEST(broken_results_are_named_and_missing)
{
    make_dir();
    for (int i = 0; i < 6; i++) write_result(i, 0.5);
    /* 0: cut before its end; 1: a bad number; 2: an unknown key; 3: another model's result;
     * 4: empty */
    char *t = read_all(0);
    *strstr(t, "best_test_acc ") = '\0';
    write_raw(0, t);
    free(t);
    t = read_all(1);
    memcpy(strstr(t, "best_test_acc 0.5"), "best_test_acc 0x5", 17);
    write_raw(1, t);
    free(t);
    t = read_all(2);
    char *e = strstr(t, "end\n");
    strcpy(e, "colour blue\nend\n");
    write_raw(2, t);
    free(t);
    t = read_all(3);
    char *sp = strstr(t, "stack mh-attention swiglu");
    memcpy(sp, "stack mh-attention swigly", 25);
    write_raw(3, t);
    free(t);
    write_raw(4, "");

    Warnings w = {0};
    ProtoScan s;
    MlError err;
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, collect_warn, &w, &s, &err) == 0);
    ck_assert_int_eq(s.n_done, 1);
    ck_assert_int_eq(s.n_bad, 5);
    ck_assert_int_eq(w.n, 5);
    for (int i = 0; i < 5; i++) {
        char path[512];
        path_of(i, path, sizeof path);
        ck_assert_msg(strstr(w.msg[i], path), "warning '%s' does not name %s", w.msg[i], path);
        ck_assert_int_eq(s.done[i], 0);
    }
    ck_assert(strstr(w.msg[0], "truncated"));
    ck_assert(strstr(w.msg[1], "malformed") && strstr(w.msg[1], "best_test_acc"));
    ck_assert(strstr(w.msg[2], "unknown key 'colour'"));
    ck_assert(strstr(w.msg[3], "model"));
    ck_assert(strstr(w.msg[4], "truncated"));
    /* only the good run counts: setting c has lr 5e-4 only */
    ck_assert_double_eq_tol(s.mad, 0.5, 1e-12);
    ck_assert_int_eq(s.task[0].settings_scored, 0);
    proto_scan_free(&s);
    remove_dir();
}
END_TEST

START_TEST(directory_claim)
{
    make_dir();
    MlError err;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/runs/out", g_dir); /* made with its parent */
    ck_assert_msg(proto_dir_claim(sub, "quick", STACK_TEXT, 32, NORM_RMS, &err) == 0, "%s", err.msg);
    ck_assert(proto_dir_claim(sub, "quick", STACK_TEXT, 32, NORM_RMS, &err) == 0);
    ck_assert(proto_dir_claim(sub, "full", STACK_TEXT, 32, NORM_RMS, &err) != 0);
    ck_assert(strstr(err.msg, "quick") && strstr(err.msg, "another --out"));
    ck_assert(proto_dir_claim(sub, "quick", "hyena swiglu", 32, NORM_RMS, &err) != 0);
    ck_assert(proto_dir_claim(sub, "quick", STACK_TEXT, 64, NORM_RMS, &err) != 0);
    ck_assert(proto_dir_claim(sub, "quick", STACK_TEXT, 32, NORM_LAYER, &err) != 0);
    char p[32], st[1024];
    int width;
    NormKind norm;
    ck_assert(proto_dir_read(sub, p, sizeof p, st, sizeof st, &width, &norm, &err) == 0);
    ck_assert_str_eq(p, "quick");
    ck_assert_str_eq(st, STACK_TEXT);
    ck_assert(width == 32 && norm == NORM_RMS);
    ck_assert(proto_dir_read(g_dir, p, sizeof p, st, sizeof st, &width, &norm, &err) != 0);
    ck_assert(strstr(err.msg, "mad.run"));
    remove_dir();
}
END_TEST

/* ---- resume, with a stand-in for train_run ---- */

static int g_calls, g_interrupt_at, g_stop;
static char g_trained[16][256];

static int fake_train(const TrainCfg *c, const TrainHooks *h, TrainResult *r, MlError *err)
{
    (void)h, (void)err;
    memset(r, 0, sizeof *r);
    if (++g_calls == g_interrupt_at) {
        g_stop = 1; /* as Ctrl-C would: the run ends without a result */
        r->interrupted = 1;
        return 0;
    }
    snprintf(g_trained[g_calls % 16], sizeof g_trained[0], "%s/%d/%g", c->task_name, c->task.vocab,
             c->lr);
    r->epochs_run = r->best_epoch = r->max_epoch = 1;
    r->best_test_acc = r->max_test_acc = c->task.vocab / 100.0 + c->lr * 100; /* recognisable */
    return 0;
}

static int run_missing(int interrupt_at)
{
    StackSpec st;
    ck_assert(stack_parse(STACK_TEXT, "t", 32, &st, NULL) == 0);
    ProtoScan s;
    MlError err;
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s, &err) == 0);
    g_calls = 0;
    g_stop = 0;
    g_interrupt_at = interrupt_at;
    TrainHooks h = {.stop = &g_stop};
    ProtoDriver d = {.train = fake_train, .hooks = &h};
    int rc = proto_run(&tiny, g_dir, &st, 32, NORM_RMS, &s, &d, &err);
    ck_assert_msg(rc >= 0, "%s", err.msg);
    proto_scan_free(&s);
    return rc;
}

START_TEST(resume_skips_done_runs)
{
    make_dir();
    write_result(0, 0.6); /* one run finished earlier */
    /* first call: stopped (Ctrl-C) during its third run: two results written, that one lost */
    ck_assert_int_eq(run_missing(3), 1);
    ck_assert_int_eq(g_calls, 3);
    ProtoScan s;
    MlError err;
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s, &err) == 0);
    ck_assert_int_eq(s.n_done, 3);
    ck_assert(s.done[0] && s.done[1] && s.done[2] && !s.done[3]);
    proto_scan_free(&s);
    /* second call: only the three missing runs, in order */
    ck_assert_int_eq(run_missing(0), 0);
    ck_assert_int_eq(g_calls, 3);
    ck_assert_str_eq(g_trained[1], "in-context-recall/16/0.0005");
    ck_assert_str_eq(g_trained[2], "memorization/32/0.001");
    ck_assert_str_eq(g_trained[3], "memorization/32/0.0005");
    /* a result that appears after the scan (another process) is not run again */
    {
        StackSpec st;
        ck_assert(stack_parse(STACK_TEXT, "t", 32, &st, NULL) == 0);
        char path[512];
        for (int i = 3; i < 6; i++) {
            path_of(i, path, sizeof path);
            ck_assert_int_eq(remove(path), 0);
        }
        ProtoScan s2;
        ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s2, &err) == 0);
        ck_assert_int_eq(s2.n_done, 3);
        write_result(4, 0.7); /* finished elsewhere meanwhile */
        g_calls = 0;
        g_stop = 0;
        g_interrupt_at = 0;
        TrainHooks h = {.stop = &g_stop};
        ProtoDriver d = {.train = fake_train, .hooks = &h};
        ck_assert_int_eq(proto_run(&tiny, g_dir, &st, 32, NORM_RMS, &s2, &d, &err), 0);
        ck_assert_int_eq(g_calls, 2);
        ck_assert_int_eq(s2.n_done, 6);
        ck_assert(s2.results[4].best_test_acc == 0.7);
        proto_scan_free(&s2);
    }
    /* third call: nothing left */
    ck_assert_int_eq(run_missing(0), 0);
    ck_assert_int_eq(g_calls, 0);
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s, &err) == 0);
    ck_assert_int_eq(s.n_done, 6);
    ck_assert_double_eq_tol(s.setting[0].acc, 0.6, 1e-12); /* the earlier result was kept */
    ck_assert_double_eq_tol(s.setting[2].acc, 0.7, 1e-12); /* the other process's result */
    proto_scan_free(&s);
    remove_dir();
}
END_TEST

/* ---- several runs at once (lanes), with a stand-in that waits for the other lane ---- */

static pthread_mutex_t g_lane_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_lane_cv = PTHREAD_COND_INITIALIZER;
static int g_lane_calls, g_in_flight, g_max_in_flight, g_lane_stop_at, g_starts, g_ends;
static int g_runs_of[6];
static volatile sig_atomic_t g_lane_stop;

static int lane_index(const TrainCfg *c)
{
    for (int i = 0; i < protocol_n_runs(&tiny); i++) {
        TrainCfg o = cfg_of(i);
        if (!strcmp(o.task_name, c->task_name) && o.task.vocab == c->task.vocab && o.lr == c->lr)
            return i;
    }
    return -1;
}

static int lane_train(const TrainCfg *c, const TrainHooks *h, TrainResult *r, MlError *err)
{
    (void)err;
    memset(r, 0, sizeof *r);
    pthread_mutex_lock(&g_lane_mu);
    int call = ++g_lane_calls, i = lane_index(c);
    ck_assert_int_ge(i, 0);
    g_runs_of[i]++;
    if (++g_in_flight > g_max_in_flight) g_max_in_flight = g_in_flight;
    pthread_cond_broadcast(&g_lane_cv);
    /* the first two runs each wait (up to 5 s) until both are in flight: proof of two at once */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (call <= 2 && g_max_in_flight < 2 &&
           pthread_cond_timedwait(&g_lane_cv, &g_lane_mu, &until) == 0) {
    }
    if (__atomic_load_n(h->stop, __ATOMIC_SEQ_CST)) {
        r->interrupted = 1; /* as train_run ends at its first step once stop is set */
    } else {
        r->epochs_run = r->best_epoch = r->max_epoch = 1;
        r->best_test_acc = r->max_test_acc = c->task.vocab / 100.0 + c->lr * 100;
    }
    g_in_flight--;
    pthread_mutex_unlock(&g_lane_mu);
    return 0;
}

static void lane_on_start(void *ctx, int k, int todo, const TrainCfg *c, const char *id)
{
    (void)ctx, (void)k, (void)todo, (void)c, (void)id;
    /* proto_run holds its lock around on_start and on_end; Ctrl-C as this run starts */
    if (++g_starts == g_lane_stop_at) __atomic_store_n(&g_lane_stop, 1, __ATOMIC_SEQ_CST);
}

static void lane_on_end(void *ctx, int k, int todo, const char *id, const RunResult *r,
                        const MlError *failed)
{
    (void)ctx, (void)k, (void)todo, (void)id, (void)failed;
    ck_assert_ptr_nonnull(r);
    g_ends++;
}

static int run_lanes(int lanes, int stop_at, MlError *err)
{
    StackSpec st;
    ck_assert(stack_parse(STACK_TEXT, "t", 32, &st, NULL) == 0);
    ProtoScan s;
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s, err) == 0);
    g_lane_calls = g_in_flight = g_max_in_flight = g_starts = g_ends = 0;
    g_lane_stop_at = stop_at;
    memset(g_runs_of, 0, sizeof g_runs_of);
    g_lane_stop = 0;
    TrainHooks h = {.stop = &g_lane_stop};
    ProtoDriver d = {.train = lane_train, .hooks = &h, .lanes = lanes, .on_start = lane_on_start,
                     .on_end = lane_on_end};
    int rc = proto_run(&tiny, g_dir, &st, 32, NORM_RMS, &s, &d, err);
    proto_scan_free(&s);
    return rc;
}

START_TEST(lanes_run_two_at_once)
{
    make_dir();
    MlError err;
    /* the pool is the process's: two lanes cannot share two threads */
    ck_assert_int_eq(pool_init(2), 0);
    ck_assert_int_eq(run_lanes(2, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "pool of one thread"), "%s", err.msg);
    ck_assert_int_eq(g_lane_calls, 0);
    ck_assert_int_eq(pool_init(1), 0);

    /* stopped as the third run starts: what finished is kept, that run is lost */
    ck_assert_int_eq(run_lanes(2, 3, &err), 1);
    ck_assert_int_eq(g_max_in_flight, 2);
    ProtoScan s;
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s, &err) == 0);
    ck_assert_int_eq(s.n_done, g_ends);
    ck_assert_int_ge(s.n_done, 2);
    ck_assert_int_lt(s.n_done, 6);
    proto_scan_free(&s);

    /* resumed with two lanes: each missing run trained once, all six results as one lane gives */
    int before = 0;
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s, &err) == 0);
    before = s.n_done;
    proto_scan_free(&s);
    ck_assert_int_eq(run_lanes(2, 0, &err), 0);
    ck_assert_int_eq(g_lane_calls, 6 - before);
    ck_assert_int_eq(g_starts, 6 - before);
    ck_assert_int_eq(g_ends, 6 - before);
    for (int i = 0; i < 6; i++) ck_assert_int_le(g_runs_of[i], 1);
    ck_assert(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, &s, &err) == 0);
    ck_assert_int_eq(s.n_done, 6);
    for (int i = 0; i < 6; i++) {
        TrainCfg c = cfg_of(i);
        ck_assert_double_eq_tol(s.results[i].best_test_acc, c.task.vocab / 100.0 + c.lr * 100, 1e-12);
    }
    proto_scan_free(&s);

    /* more lanes than runs: as many lanes as runs, no harm */
    remove_dir();
    make_dir();
    ck_assert_int_eq(run_lanes(16, 0, &err), 0);
    ck_assert_int_eq(g_lane_calls, 6);
    ck_assert_int_ge(g_max_in_flight, 2);
    for (int i = 0; i < 6; i++) ck_assert_int_eq(g_runs_of[i], 1);
    remove_dir();
}
END_TEST

/* ---- the key-value file format itself (engine/kvfile.c), with a record of its own ---- */

typedef struct {
    char name[16];
    int count;
    uint64_t big;
    double x;
    NormKind norm;
} Rec;
static const KvField rec_fields[] = {
    KV_FIELD(Rec, "name", KV_STR, name, 0, 0),  KV_FIELD(Rec, "count", KV_INT, count, -5, 5),
    KV_FIELD(Rec, "big", KV_U64, big, 0, 0),    KV_FIELD(Rec, "x", KV_DBL, x, 0, 0),
    KV_FIELD(Rec, "norm", KV_NORM, norm, 0, 0),
};
#define N_REC 5

static void write_text_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Real training in two lanes of one thread each (what madlab mad does on two cores): every run of
 * the tiny protocol gives the numbers of the same run on a pool of two threads, one after
 * another. CI also runs this under ThreadSanitizer, two train_run calls at once. */
static void train_tiny(int lanes, int threads, ProtoScan *s)
{
    StackSpec st;
    MlError err;
    ck_assert(stack_parse(STACK_TEXT, "t", 32, &st, NULL) == 0);
    ck_assert_int_eq(pool_init(threads), 0);
    make_dir();
    ck_assert_msg(proto_scan(&tiny, g_dir, STACK_TEXT, 32, NORM_RMS, NULL, NULL, s, &err) == 0,
                  "%s", err.msg);
    volatile sig_atomic_t stop = 0;
    TrainHooks h = {.stop = &stop};
    ProtoDriver d = {.train = train_run, .hooks = &h, .lanes = lanes};
    ck_assert_msg(proto_run(&tiny, g_dir, &st, 32, NORM_RMS, s, &d, &err) == 0, "%s", err.msg);
    remove_dir();
    ck_assert_int_eq(s->n_done, s->n_runs);
}

START_TEST(lanes_train_for_real)
{
    ProtoScan a, b;
    train_tiny(2, 1, &a);
    train_tiny(1, 2, &b);
    pool_init(1);
    for (int i = 0; i < a.n_runs; i++) {
        const RunResult *x = &a.results[i], *y = &b.results[i];
        ck_assert_msg(x->best_test_loss == y->best_test_loss && x->best_test_acc == y->best_test_acc &&
                          x->epochs_run == y->epochs_run,
                      "run %d: loss %.9g in a lane, %.9g on two threads", i, x->best_test_loss,
                      y->best_test_loss);
    }
    proto_scan_free(&a);
    proto_scan_free(&b);
}
END_TEST

START_TEST(kv_file_round_trip_and_errors)
{
    make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/rec.kv", g_dir);
    Rec a = {.name = "two words", .count = -3, .big = 18446744073709551615ull, .x = 0.1,
             .norm = NORM_LAYER}, b;
    MlError err;
    ck_assert_msg(kv_write(path, "test-rec 7", rec_fields, N_REC, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(count_temps(g_dir, "rec.kv", NULL, 0), 0);
    int missing = -1;
    memset(&b, 0, sizeof b);
    ck_assert_msg(kv_read(path, 4096, "test-rec 7", rec_fields, N_REC, &b, &missing, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(missing, 0);
    ck_assert_str_eq(b.name, "two words");
    ck_assert_int_eq(b.count, -3);
    ck_assert(b.big == a.big);
    ck_assert(b.x == 0.1); /* exact: %.17g */
    ck_assert_int_eq(b.norm, NORM_LAYER);

    /* the text is what the format says */
    char *text = file_read_small(path, 4096, NULL, &err);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "test-rec 7\nname two words\ncount -3\nbig 18446744073709551615\n"
                           "x 0.10000000000000001\nnorm layernorm\nend\n");
    free(text);

    /* another magic line (another format or version) */
    ck_assert_int_eq(kv_read(path, 4096, "test-rec 8", rec_fields, N_REC, &b, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, ":1: malformed"), "%s", err.msg);
    /* absent */
    char none[600];
    snprintf(none, sizeof none, "%s/none.kv", g_dir);
    ck_assert_int_eq(kv_read(none, 4096, "test-rec 7", rec_fields, N_REC, &b, &missing, &err), -1);
    ck_assert_int_eq(missing, 1);
    ck_assert_msg(strstr(err.msg, none), "%s", err.msg);
    /* larger than allowed */
    ck_assert_int_eq(kv_read(path, 20, "test-rec 7", rec_fields, N_REC, &b, &missing, &err), -1);
    ck_assert_int_eq(missing, 0);
    ck_assert_msg(strstr(err.msg, "larger than 20 bytes"), "%s", err.msg);

    /* broken files: each named with its line and what is wrong */
    static const struct {
        const char *text, *says;
    } broken[] = {
        {"test-rec 7\nname a\ncount 1\nbig 1\nx 1\nnorm rmsnorm\n", "truncated: no \"end\""},
        {"test-rec 7\nname a\ncount 1\nbig 1\nx 1\nnorm rmsnorm\nend", "no newline"},
        {"test-rec 7\nname a\ncount 9\nbig 1\nx 1\nnorm rmsnorm\nend\n", ":3: malformed: bad value '9'"},
        {"test-rec 7\nname a\ncount 1\nbig -1\nx 1\nnorm rmsnorm\nend\n", ":4: malformed: bad value"},
        {"test-rec 7\nname a\ncount 1\nbig 1\nx nan\nnorm rmsnorm\nend\n", ":5: malformed: bad value"},
        {"test-rec 7\nname a\ncount 1\nbig 1\nx 1\nnorm batchnorm\nend\n", ":6: malformed: bad value"},
        {"test-rec 7\nname a name far too long\ncount 1\nbig 1\nx 1\nnorm rmsnorm\nend\n", ":2: malformed"},
        {"test-rec 7\nname a\nname b\ncount 1\nbig 1\nx 1\nnorm rmsnorm\nend\n", "'name' given twice"},
        {"test-rec 7\nname a\ncount 1\nbig 1\nx 1\nend\n", "no 'norm' line"},
        {"test-rec 7\nname a\ncount 1\nbig 1\nx 1\nnorm rmsnorm\ncolour red\nend\n", "unknown key 'colour'"},
        {"test-rec 7\nname a\ncount 1\nbig 1\nx 1\nnorm rmsnorm\nend\nmore\n", "after the \"end\" line"},
        {"", "empty"},
        /* edits the writer never makes: a second space, a sign, control characters (escaped
         * in the message, never shown raw) */
        {"test-rec 7\nname a\ncount 1\nbig  1\nx 1\nnorm rmsnorm\nend\n", ":4: malformed: bad value"},
        {"test-rec 7\nname a\ncount 1\nbig  -1\nx 1\nnorm rmsnorm\nend\n", ":4: malformed: bad value"},
        {"test-rec 7\nname a\ncount +1\nbig 1\nx 1\nnorm rmsnorm\nend\n", ":3: malformed: bad value '+1'"},
        {"test-rec 7\nname  a\ncount 1\nbig 1\nx 1\nnorm rmsnorm\nend\n", ":2: malformed: bad value"},
        {"test-rec 7\nname a\x1b[2J\ncount 1\nbig 1\nx 1\nnorm rmsnorm\nend\n", "bad value 'a\\x1b[2J'"},
        {"test-rec 7\nname a\ncount \x1b]0;x\x07\nbig 1\nx 1\nnorm rmsnorm\nend\n", "bad value '\\x1b]0;x\\x07'"},
    };
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        write_text_file(path, broken[i].text);
        ck_assert_int_eq(kv_read(path, 4096, "test-rec 7", rec_fields, N_REC, &b, NULL, &err), -1);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, broken[i].says), "case %zu: %s", i,
                      err.msg);
    }

    /* a line break in a string cannot be stored: refused, nothing written */
    snprintf(a.name, sizeof a.name, "a\nb");
    char other[600];
    snprintf(other, sizeof other, "%s/other.kv", g_dir);
    ck_assert_int_eq(kv_write(other, "test-rec 7", rec_fields, N_REC, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, other) && strstr(err.msg, "'name'"), "%s", err.msg);
    ck_assert_int_eq(access(other, F_OK), -1);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("protocol");
    TCase *tc = tcase_create("protocol");
    tcase_add_test(tc, full_grid_is_the_reference);
    tcase_add_test(tc, quick_protocol_is_small);
    tcase_add_test(tc, result_round_trip);
    tcase_add_test(tc, aggregation_of_known_numbers);
    tcase_add_test(tc, broken_results_are_named_and_missing);
    tcase_add_test(tc, directory_claim);
    tcase_add_test(tc, resume_skips_done_runs);
    tcase_add_test(tc, lanes_run_two_at_once);
    tcase_add_test(tc, lanes_train_for_real);
    tcase_add_test(tc, kv_file_round_trip_and_errors);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
