/* madlab scale's directory: one result file per run (kvfile.c's "key value" format, written
 * atomically), the directory's claim (scale.run: which stack, protocol and corpus it holds),
 * scanning what has finished, and running what has not. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "protocol.h"
#include "scaling.h"
#include "fileio.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- result files ---- */

#define SF(k, t, m, lo, hi) KV_FIELD(ScaleResult, k, t, m, lo, hi)
static const KvField scale_fields[] = {
    SF("protocol", KV_STR, protocol, 0, 0),
    SF("id", KV_STR, id, 0, 0),
    SF("budget", KV_DBL, budget, 0, 0),
    SF("width", KV_INT, width, 1, 1L << 30),
    SF("repeat", KV_INT, repeat, 1, 1L << 30),
    SF("norm", KV_NORM, norm, 0, 0),
    SF("stack", KV_STR, stack, 0, 0),
    SF("corpus", KV_STR, corpus, 0, 0),
    SF("seq_len", KV_INT, seq_len, 1, 1L << 30),
    SF("batch", KV_INT, batch, 1, 1L << 30),
    SF("n_train", KV_INT, n_train, 1, 1L << 30),
    SF("n_test", KV_INT, n_test, 1, 1L << 30),
    SF("lr", KV_DBL, lr, 0, 0),
    SF("wd", KV_DBL, wd, 0, 0),
    SF("seed", KV_U64, seed, 0, 0),
    SF("params", KV_DBL, params, 0, 0),
    SF("params_all", KV_DBL, params_all, 0, 0),
    SF("flops_per_token", KV_DBL, flops_per_token, 0, 0),
    SF("state", KV_DBL, state, 0, 0),
    SF("tokens", KV_DBL, tokens, 0, 0),
    SF("flops", KV_DBL, flops, 0, 0),
    SF("val_loss", KV_DBL, val_loss, 0, 0),
    SF("val_acc", KV_DBL, val_acc, 0, 0),
    SF("diverged", KV_INT, diverged, 0, 1),
    SF("seconds", KV_DBL, seconds, 0, 0),
};
#define N_SCALE_FIELDS (sizeof scale_fields / sizeof *scale_fields)
#define SCALE_RESULT_MAGIC "madlab-scale-result 1"

void scale_result_fill(const ScalePlan *pl, int i, const char *corpus, const TrainResult *t,
                       ScaleResult *r)
{
    const ScaleRun *run = &pl->run[i];
    const ScaleShape *sh = &pl->shape[run->shape_i];
    memset(r, 0, sizeof *r);
    snprintf(r->protocol, sizeof r->protocol, "%s", pl->p.name);
    snprintf(r->id, sizeof r->id, "%s", run->id);
    r->budget = run->budget;
    r->width = sh->width;
    r->repeat = sh->repeat;
    r->norm = pl->norm;
    stack_format(&pl->shape_stack[run->shape_i], r->stack, sizeof r->stack);
    snprintf(r->corpus, sizeof r->corpus, "%s", corpus && *corpus ? corpus : "default");
    r->seq_len = pl->p.seq_len;
    r->batch = pl->p.batch;
    r->n_train = run->n_train;
    r->n_test = pl->p.n_test;
    r->lr = pl->p.lr;
    r->wd = pl->p.wd;
    r->seed = pl->p.seed;
    r->params = sh->params;
    r->params_all = sh->params_all;
    r->flops_per_token = sh->flops_per_token;
    r->state = sh->state;
    r->tokens = run->tokens;
    r->flops = run->flops;
    if (t) {
        r->val_loss = isfinite(t->final_test_loss) && !t->diverged ? t->final_test_loss : 0;
        r->val_acc = t->best_test_acc;
        r->diverged = t->diverged;
        r->seconds = t->seconds;
    }
}

int scale_result_write(const char *path, const ScaleResult *r, MlError *err)
{
    if (strchr(r->stack, '\n') || strchr(r->corpus, '\n'))
        return ml_fail(err, "%s: the result does not fit the file format", path);
    return kv_write(path, SCALE_RESULT_MAGIC, scale_fields, N_SCALE_FIELDS, r, err);
}

int scale_result_read(const char *path, ScaleResult *r, MlError *err)
{
    memset(r, 0, sizeof *r);
    return kv_read(path, 16384, SCALE_RESULT_MAGIC, scale_fields, N_SCALE_FIELDS, r, NULL, err);
}

static int same(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)); }

/* Why r is not run i's result, or NULL if it is. */
static const char *mismatch(const ScalePlan *pl, int i, const char *corpus, const ScaleResult *r)
{
    ScaleResult want;
    scale_result_fill(pl, i, corpus, NULL, &want);
    if (strcmp(r->protocol, want.protocol) || strcmp(r->id, want.id)) return "its protocol or id";
    if (!same(r->budget, want.budget) || r->width != want.width || r->repeat != want.repeat ||
        r->n_train != want.n_train)
        return "its budget, width, repeats or training length";
    if (strcmp(r->stack, want.stack) || r->norm != want.norm) return "its model";
    if (strcmp(r->corpus, want.corpus)) return "its corpus";
    if (r->seq_len != want.seq_len || r->batch != want.batch || r->n_test != want.n_test ||
        !same(r->lr, want.lr) || !same(r->wd, want.wd) || r->seed != want.seed)
        return "its training settings";
    return NULL;
}

/* ---- the directory's claim ---- */

typedef struct {
    char protocol[32], stack[1024], corpus[1024], budgets[256];
    int width, repeat, sizes, seq_len, batch;
    double lr;
    NormKind norm;
} ScaleClaim;

#define CF(k, t, m, lo, hi) KV_FIELD(ScaleClaim, k, t, m, lo, hi)
static const KvField claim_fields[] = {
    CF("protocol", KV_STR, protocol, 0, 0), CF("stack", KV_STR, stack, 0, 0),
    CF("width", KV_INT, width, 1, 1L << 30), CF("repeat", KV_INT, repeat, 1, 1L << 30),
    CF("norm", KV_NORM, norm, 0, 0),        CF("corpus", KV_STR, corpus, 0, 0),
    CF("budgets", KV_STR, budgets, 0, 0),   CF("sizes", KV_INT, sizes, 1, 1L << 30),
    CF("seq_len", KV_INT, seq_len, 2, 1L << 16), CF("batch", KV_INT, batch, 1, 1L << 16),
    CF("lr", KV_DBL, lr, 0, 0),
};
#define N_CLAIM_FIELDS (sizeof claim_fields / sizeof *claim_fields)
#define CLAIM_MAGIC "madlab-scale 1"

static void budgets_text(const ScaleProtocol *p, char *buf, size_t n)
{
    size_t u = 0;
    buf[0] = '\0';
    for (int b = 0; b < p->n_budgets && u < n; b++) {
        char t[32];
        scale_budget_text(p->budget[b], t, sizeof t);
        u += (size_t)snprintf(buf + u, n - u, "%s%s", b ? "," : "", t);
    }
}

int scale_parse_budgets(const char *text, ScaleProtocol *p, MlError *err)
{
    int n = 0;
    const char *s = text;
    while (*s) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || !isfinite(v) || (*end && *end != ','))
            return ml_fail(err, "--budgets: '%s' is not a comma-separated list of FLOP counts "
                           "(e.g. 1e12,3e12,1e13)", text);
        if (n == SCALE_MAX_BUDGETS)
            return ml_fail(err, "--budgets: more than %d budgets", SCALE_MAX_BUDGETS);
        if (!(v > 0)) return ml_fail(err, "--budgets: budget %g is not positive", v);
        if (n > 0 && !(v > p->budget[n - 1]))
            return ml_fail(err, "--budgets: %g after %g: give budgets in increasing order", v,
                           p->budget[n - 1]);
        p->budget[n++] = v;
        s = *end ? end + 1 : end;
        if (*end && !*s) return ml_fail(err, "--budgets: '%s' ends in a comma", text);
    }
    if (n == 0) return ml_fail(err, "--budgets: no budget given");
    p->n_budgets = n;
    return 0;
}

static int claim_of(const ScalePlan *pl, const char *corpus, ScaleClaim *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->protocol, sizeof c->protocol, "%s", pl->p.name);
    if (stack_format(&pl->base, c->stack, sizeof c->stack) < 0) return -1;
    snprintf(c->corpus, sizeof c->corpus, "%s", corpus && *corpus ? corpus : "default");
    budgets_text(&pl->p, c->budgets, sizeof c->budgets);
    c->width = pl->base_width;
    c->repeat = pl->repeat;
    c->sizes = pl->p.n_sizes;
    c->seq_len = pl->p.seq_len;
    c->batch = pl->p.batch;
    c->lr = pl->p.lr;
    c->norm = pl->norm;
    return 0;
}

static int claim_read(const char *dir, ScaleClaim *c, int *missing, MlError *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/scale.run", dir);
    memset(c, 0, sizeof *c);
    return kv_read(path, 8192, CLAIM_MAGIC, claim_fields, N_CLAIM_FIELDS, c, missing, err);
}

int scale_dir_claim(const char *dir, const ScalePlan *pl, const char *corpus, MlError *err)
{
    if (make_dirs(dir, err) != 0) return -1;
    ScaleClaim want, have;
    if (claim_of(pl, corpus, &want) != 0) return ml_fail(err, "the stack is too long to store");
    int missing;
    MlError e2;
    if (claim_read(dir, &have, &missing, &e2) == 0) {
        if (strcmp(have.protocol, want.protocol) || strcmp(have.stack, want.stack) ||
            have.width != want.width || have.repeat != want.repeat || have.norm != want.norm)
            return ml_fail(err, "%s holds the %s scaling protocol for stack '%s' (width %d, "
                           "repeat %d, %s), not the %s protocol for '%s' (width %d, repeat %d, "
                           "%s); use another --out DIR", dir, have.protocol, have.stack,
                           have.width, have.repeat, norm_name(have.norm), want.protocol,
                           want.stack, want.width, want.repeat, norm_name(want.norm));
        if (strcmp(have.corpus, want.corpus) || strcmp(have.budgets, want.budgets) ||
            have.sizes != want.sizes || have.seq_len != want.seq_len ||
            have.batch != want.batch || !same(have.lr, want.lr))
            return ml_fail(err, "%s was made with corpus %s, budgets %s, %d sizes, context %d, "
                           "batch %d and lr %g, not corpus %s, budgets %s, %d sizes, context %d, "
                           "batch %d and lr %g; use another --out DIR", dir, have.corpus,
                           have.budgets, have.sizes, have.seq_len, have.batch, have.lr,
                           want.corpus, want.budgets, want.sizes, want.seq_len, want.batch, want.lr);
        return 0;
    }
    if (!missing) {
        if (err) *err = e2;
        return -1;
    }
    if (strchr(want.stack, '\n') || strchr(want.corpus, '\n'))
        return ml_fail(err, "the stack or corpus path cannot be stored in %s/scale.run", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/scale.run", dir);
    return kv_write(path, CLAIM_MAGIC, claim_fields, N_CLAIM_FIELDS, &want, err);
}

int scale_dir_read(const char *dir, ScaleDirInfo *info, MlError *err)
{
    ScaleClaim c;
    int missing;
    if (claim_read(dir, &c, &missing, err) != 0) {
        if (missing)
            ml_fail(err, "%s/scale.run not found: %s is not a directory made by madlab scale", dir, dir);
        return -1;
    }
    memset(info, 0, sizeof *info);
    const ScaleProtocol *p = scale_protocol_find(c.protocol);
    if (!p)
        return ml_fail(err, "%s/scale.run names protocol '%s', which this madlab does not know", dir,
                       c.protocol);
    info->p = *p;
    info->p.n_sizes = c.sizes;
    info->p.seq_len = c.seq_len;
    info->p.batch = c.batch;
    info->p.lr = c.lr;
    if (scale_parse_budgets(c.budgets, &info->p, err) != 0) return -1;
    snprintf(info->stack, sizeof info->stack, "%s", c.stack);
    snprintf(info->corpus, sizeof info->corpus, "%s", strcmp(c.corpus, "default") ? c.corpus : "");
    info->width = c.width;
    info->repeat = c.repeat;
    info->norm = c.norm;
    return 0;
}

/* ---- scanning and running ---- */

void scale_scan_free(ScaleScan *s)
{
    free(s->done);
    free(s->results);
    memset(s, 0, sizeof *s);
}

void scale_result_path(char *buf, size_t n, const char *dir, const char *id)
{
    snprintf(buf, n, "%s/%s.result", dir, id);
}

/* 1 when DIR holds run i's valid result (read into r), 0 when absent; -1 when a file is there
 * but is not it (why in err). */
static int read_done(const ScalePlan *pl, const char *dir, int i, const char *corpus, ScaleResult *r,
                     MlError *err)
{
    char path[4096];
    scale_result_path(path, sizeof path, dir, pl->run[i].id);
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    if (scale_result_read(path, r, err) != 0) return -1;
    const char *why = mismatch(pl, i, corpus, r);
    if (why) {
        ml_fail(err, "%.300s: not this run's result: %s differ", path, why);
        return -1;
    }
    return 1;
}

int scale_scan(const ScalePlan *pl, const char *dir, const char *corpus,
               void (*warn)(void *ctx, const char *msg), void *ctx, ScaleScan *s, MlError *err)
{
    memset(s, 0, sizeof *s);
    s->n_runs = pl->n_runs;
    s->done = calloc((size_t)pl->n_runs, 1);
    s->results = calloc((size_t)pl->n_runs, sizeof *s->results);
    if (!s->done || !s->results) {
        scale_scan_free(s);
        return ml_fail(err, "out of memory scanning %s", dir);
    }
    for (int i = 0; i < pl->n_runs; i++) {
        MlError e;
        int rc = read_done(pl, dir, i, corpus, &s->results[i], &e);
        if (rc == 1) {
            s->done[i] = 1;
            s->n_done++;
        } else if (rc < 0) {
            s->n_bad++;
            if (warn) warn(ctx, e.msg);
        }
    }
    return 0;
}

int scale_run(const ScalePlan *pl, const char *dir, const char *corpus, int only, ScaleScan *s,
              const ScaleDriver *d, MlError *err)
{
    int todo = 0, k = 0;
    for (int i = 0; i < s->n_runs; i++) todo += !s->done[i] && (only < 0 || i == only);
    const TrainHooks *h = d->hooks;
    for (int i = 0; i < s->n_runs; i++) {
        if (s->done[i] || (only >= 0 && i != only)) continue;
        if (h && h->stop && *h->stop) return 1;
        /* another process on the same DIR (a second madlab scale, or --emit-jobs lines) may have
         * finished it since the scan */
        MlError ignore;
        if (read_done(pl, dir, i, corpus, &s->results[i], &ignore) == 1) {
            s->done[i] = 1;
            s->n_done++;
            continue;
        }
        TrainCfg c;
        scale_train_cfg(pl, i, corpus, &c);
        k++;
        if (d->on_start) d->on_start(d->ctx, k, todo, pl, i);
        TrainResult tr;
        MlError e;
        int rc = d->train(&c, h, &tr, &e);
        if (tr.interrupted) return 1; /* not a result: run again on resume */
        if (rc != 0 && !tr.diverged) {
            if (d->on_end) d->on_end(d->ctx, k, todo, pl, i, NULL, &e);
            continue;
        }
        ScaleResult r;
        scale_result_fill(pl, i, corpus, &tr, &r);
        char path[4096];
        scale_result_path(path, sizeof path, dir, pl->run[i].id);
        if (scale_result_write(path, &r, err) != 0) return -1;
        s->done[i] = 1;
        s->results[i] = r;
        s->n_done++;
        if (d->on_end) d->on_end(d->ctx, k, todo, pl, i, &r, NULL);
    }
    return 0;
}
