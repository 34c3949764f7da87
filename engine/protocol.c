/* The MAD protocols: the difficulty grid of the reference (spec 3.1: each task's baseline and
 * each change of one knob alone) and the quick protocol, each with its (lr, wd) grid; one
 * training run per (setting, lr, wd), with a stable id that names its result file.
 *
 * Elsewhere: result files and mad.run in results.c (key-value files, kvfile.c), the directory
 * scan, the aggregation of spec 3.4 and running what is missing in protoscan.c. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "protocol.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- the grid ---- */

enum { K_VOCAB, K_SEQ_LEN, K_TRAIN, K_FRAC_NOISE, K_N_COPY };
static const char *const knob_word[] = {"vocab", "seq-len", "train", "frac-noise", "n-copy"};

typedef struct {
    int knob, n;
    double v[5];
} Change;

typedef struct {
    const char *task;
    TaskCfg base;
    Change ch[5];
} TaskGrid;

#define N_SIZES {K_TRAIN, 4, {6400, 3200, 1600, 800}}
/* The reference's MADConfig defaults fill the knobs a task ignores (noise 0, motifs 1, copy 0,
 * multi-query); the test set is always 1280 sequences and the seed 12345. */
#define CFG(V, L, N, T, FN, NV, KM, VM, NC) {.vocab = V, .seq_len = L, .n_train = N, .n_test = T, \
    .frac_noise = FN, .noise_vocab = NV, .k_motif = KM, .v_motif = VM, .n_copy = NC, .multi_query = 1}
#define BASE(V, L, N) CFG(V, L, N, 1280, 0, 0, 1, 1, 0)

static const TaskGrid full_grid[] = {
    {"in-context-recall", BASE(16, 128, 12800),
     {{K_VOCAB, 3, {32, 64, 128}}, {K_SEQ_LEN, 3, {256, 512, 1024}}, N_SIZES}},
    {"fuzzy-in-context-recall", CFG(16, 128, 12800, 1280, 0, 0, 3, 3, 0),
     {{K_VOCAB, 3, {32, 64, 128}}, {K_SEQ_LEN, 3, {256, 512, 1024}}, N_SIZES}},
    {"noisy-in-context-recall", CFG(32, 128, 12800, 1280, 0.2, 16, 1, 1, 0),
     {{K_VOCAB, 3, {48, 80, 144}}, {K_SEQ_LEN, 3, {256, 512, 1024}}, N_SIZES,
      {K_FRAC_NOISE, 3, {0.4, 0.6, 0.8}}}},
    {"selective-copying", CFG(16, 256, 12800, 1280, 0, 0, 1, 1, 16),
     {{K_VOCAB, 3, {32, 64, 128}}, {K_SEQ_LEN, 2, {512, 1024}}, N_SIZES,
      {K_N_COPY, 3, {32, 64, 96}}}},
    {"compression", BASE(16, 32, 12800),
     {{K_VOCAB, 3, {32, 64, 128}}, {K_SEQ_LEN, 3, {64, 128, 256}}, N_SIZES}},
    {"memorization", BASE(256, 32, 256), {{K_VOCAB, 5, {512, 1024, 2048, 4096, 8192}}}},
};
#define N_FULL_SETTINGS 66

static ProtoSetting full_settings[N_FULL_SETTINGS];
static pthread_once_t full_once = PTHREAD_ONCE_INIT;

static void apply(TaskCfg *c, int knob, double v)
{
    switch (knob) {
    case K_VOCAB: c->vocab = (int)v; break;
    case K_SEQ_LEN: c->seq_len = (int)v; break;
    case K_TRAIN: c->n_train = (int)v; break;
    case K_FRAC_NOISE: c->frac_noise = v; break;
    case K_N_COPY: c->n_copy = (int)v; break;
    }
}

/* One-at-a-time: each task's baseline, then each change applied alone to it. */
static void build_full(void)
{
    int n = 0;
    for (size_t t = 0; t < sizeof full_grid / sizeof *full_grid; t++) {
        const TaskGrid *g = &full_grid[t];
        ProtoSetting *s = &full_settings[n++];
        s->task = g->task;
        s->cfg = g->base;
        snprintf(s->name, sizeof s->name, "baseline");
        for (int c = 0; c < 5 && g->ch[c].n; c++)
            for (int i = 0; i < g->ch[c].n; i++) {
                s = &full_settings[n++];
                s->task = g->task;
                s->cfg = g->base;
                apply(&s->cfg, g->ch[c].knob, g->ch[c].v[i]);
                snprintf(s->name, sizeof s->name, "%s-%g", knob_word[g->ch[c].knob], g->ch[c].v[i]);
            }
    }
}

/* The quick protocol: one reduced setting per task, lr 1e-3, wd 0.1, batch 32, at most 25
 * epochs with the early stop, 256 test sequences. The pilots behind it (madlab(1), QUICK
 * PROTOCOL): induction heads form after a number of optimizer steps more than of examples (in
 * half the tokens, batch 32 reached 1.0 on recall where batch 128 had not left 0.42), so the
 * quick protocol takes small batches, short sequences and a few thousand sequences per task,
 * about 12M training tokens at most in all. */
static const ProtoSetting quick_settings[] = {
    /* CFG(vocab, seq_len, train, test, frac_noise, noise_vocab, k_motif, v_motif, n_copy) */
    {"in-context-recall", "quick", CFG(16, 32, 3200, 256, 0, 0, 1, 1, 0)},
    {"fuzzy-in-context-recall", "quick", CFG(16, 32, 3200, 256, 0, 0, 2, 2, 0)},
    {"noisy-in-context-recall", "quick", CFG(32, 32, 3200, 256, 0.2, 16, 1, 1, 0)},
    {"selective-copying", "quick", CFG(16, 48, 2048, 256, 0, 0, 1, 1, 8)},
    {"compression", "quick", CFG(16, 16, 3200, 256, 0, 0, 1, 1, 0)},
    {"memorization", "quick", CFG(2048, 32, 256, 256, 0, 0, 1, 1, 0)},
};

static const Protocol protocols[] = {
    {.name = "full",
     .summary = "the reference grid: 66 settings x lr {1e-4,5e-4,1e-3} x wd {0,0.1}, 200 epochs",
     .n_settings = N_FULL_SETTINGS, .settings = full_settings, .n_lr = 3, .n_wd = 2,
     .lr = {1e-4, 5e-4, 1e-3}, .wd = {0.0, 0.1}, .epochs = 200, .batch = 128, .stop_acc = 0.999,
     .seed = 12345},
    {.name = "quick",
     .summary = "one reduced setting per task, lr 1e-3, wd 0.1, batch 32, at most 25 epochs",
     .n_settings = sizeof quick_settings / sizeof *quick_settings, .settings = quick_settings,
     .n_lr = 1, .n_wd = 1, .lr = {1e-3}, .wd = {0.1}, .epochs = 25, .batch = 32,
     .stop_acc = 0.999, .seed = 12345},
};

const char *const protocol_names[] = {"full", "quick", NULL};

const Protocol *protocol_find(const char *name)
{
    pthread_once(&full_once, build_full);
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof protocols / sizeof *protocols; i++)
        if (!strcmp(protocols[i].name, name)) return &protocols[i];
    return NULL;
}

int protocol_n_runs(const Protocol *p) { return p->n_settings * p->n_lr * p->n_wd; }

void protocol_run_at(const Protocol *p, int i, int *setting, double *lr, double *wd)
{
    int per = p->n_lr * p->n_wd, j = i % per;
    *setting = i / per;
    *lr = p->lr[j / p->n_wd];
    *wd = p->wd[j % p->n_wd];
}

/* 5e-4 and 1e-3 as written in the reference's tables; 0.1 and 0 plainly. */
static void short_num(char *buf, size_t n, double v)
{
    if (v > 0 && v < 0.01) {
        for (int e = -3; e >= -12; e--) {
            double m = v * pow(10, -e);
            if (fabs(m - nearbyint(m)) < 1e-9 && nearbyint(m) >= 1 && nearbyint(m) <= 9) {
                snprintf(buf, n, "%de%d", (int)nearbyint(m), e);
                return;
            }
        }
    }
    snprintf(buf, n, "%g", v);
}

void protocol_run_id(const ProtoSetting *s, double lr, double wd, char *buf, size_t n)
{
    char l[32], w[32];
    short_num(l, sizeof l, lr);
    short_num(w, sizeof w, wd);
    snprintf(buf, n, "%s_%s_lr-%s_wd-%s", s->task, s->name, l, w);
}

int task_cfg_equal(const TaskCfg *a, const TaskCfg *b)
{
    return a->vocab == b->vocab && a->seq_len == b->seq_len && a->n_train == b->n_train &&
           a->n_test == b->n_test && a->frac_noise == b->frac_noise &&
           a->noise_vocab == b->noise_vocab && a->k_motif == b->k_motif &&
           a->v_motif == b->v_motif && a->n_copy == b->n_copy && a->multi_query == b->multi_query;
}

const ProtoSetting *protocol_match(const Protocol *p, const char *task, const TaskCfg *cfg)
{
    for (int i = 0; i < p->n_settings; i++)
        if (!strcmp(p->settings[i].task, task) && task_cfg_equal(&p->settings[i].cfg, cfg))
            return &p->settings[i];
    return NULL;
}

void protocol_train_cfg(const Protocol *p, int i, const StackSpec *stack, int width, NormKind norm,
                        TrainCfg *c)
{
    int si;
    double lr, wd;
    protocol_run_at(p, i, &si, &lr, &wd);
    train_cfg_default(c);
    c->task_name = p->settings[si].task;
    c->task = p->settings[si].cfg;
    c->stack = *stack;
    c->width = width;
    c->norm = norm;
    c->epochs = p->epochs;
    c->batch = p->batch;
    c->lr = lr;
    c->wd = wd;
    c->stop_acc = p->stop_acc;
    c->seed = p->seed;
}

