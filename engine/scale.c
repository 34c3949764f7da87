/* Scaling laws on the CPU: model sizes (a stack at another width and depth), the IsoFLOP
 * protocol (per compute budget a ladder of sizes around the expected optimum, each trained on the
 * tokens its budget leaves), its result files and directory, and the fits (a parabola of loss
 * over log parameters per budget; power laws across budgets).
 *
 * FLOPs are the layer table's: a training token costs 3 x the forward FLOPs per token at the
 * context length (forward, and a backward of twice the forward), embedding and head included.
 * Parameters are counted without the embedding and the head (the MAD paper's and Kaplan's
 * count). Result files use protocol.c's "key value" format and are written atomically. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- sizes ---- */

/* The one rule for width-dependent knobs: a knob named here counts heads or hidden units and
 * grows in proportion to the width (so a head's size and an inner width's ratio to the model
 * width stay as in the base stack); every other knob (a size per head, an expansion ratio, a
 * window, a filter or state size, a number of experts) stays as it is. */
static const struct {
    const char *knob;
    int multiple; /* rounded to a multiple of this, at least one multiple */
} proportional[] = {{"heads", 1}, {"inner", 8}};

static int scaled_knob(const char *name, int v, int base_width, int width, const KnobDesc *d)
{
    for (size_t i = 0; i < sizeof proportional / sizeof *proportional; i++) {
        if (strcmp(proportional[i].knob, name)) continue;
        int m = proportional[i].multiple;
        long r = lround((double)v * width / base_width / m) * m;
        if (r < m) r = m;
        if (r < d->min) r = d->min;
        if (r > d->max) r = d->max;
        return (int)r;
    }
    return v;
}

int stack_resize(const StackSpec *base, int base_width, int width, int repeat, StackSpec *out,
                 MlError *err)
{
    if (repeat < 1 || base->n * repeat > ML_MAX_LAYERS)
        return ml_fail(err, "--repeat %d: the stack's %d layers repeated make more than %d layers",
                       repeat, base->n, ML_MAX_LAYERS);
    StackSpec s = {.n = base->n * repeat};
    for (int r = 0; r < repeat; r++)
        for (int i = 0; i < base->n; i++) {
            int j = r * base->n + i;
            const LayerKind *k = base->kind[i];
            s.kind[j] = k;
            for (int q = 0; q < k->n_knobs && q < ML_MAX_KNOBS; q++)
                s.knob[j][q] = scaled_knob(k->knobs[q].name, base->knob[i][q], base_width, width,
                                           &k->knobs[q]);
        }
    /* the stack parser holds every check of knobs against each other and the width */
    char text[2048], where[64];
    if (stack_format(&s, text, sizeof text) < 0)
        return ml_fail(err, "the stack at width %d, %d repeats, is too long to write", width, repeat);
    snprintf(where, sizeof where, "the stack at width %d", width);
    if (stack_parse(text, where, width, out, err) != 0) return -1;
    return 0;
}

int scale_shape(const StackSpec *base, int base_width, NormKind norm, int width, int repeat,
                int seq_len, ScaleShape *sh, StackSpec *resized, MlError *err)
{
    StackSpec s;
    if (stack_resize(base, base_width, width, repeat, &s, err) != 0) return -1;
    ModelCfg mc = {.width = width, .vocab = 256, .max_batch = 1, .max_len = seq_len, .norm = norm,
                   .stack = s};
    Model *m = model_new(&mc, err);
    if (!m) return -1;
    memset(sh, 0, sizeof *sh);
    sh->width = width;
    sh->repeat = repeat;
    sh->params = (double)model_n_params_no_embed(m);
    sh->params_all = (double)model_n_params(m);
    sh->flops_per_token = 3.0 * model_flops(m, seq_len) / seq_len;
    sh->state = model_state_size(m, seq_len);
    model_free(m);
    if (resized) *resized = s;
    return 0;
}

/* ---- protocols ---- */

static const ScaleProtocol protocols[] = {
    {.name = "quick",
     .summary = "3 budgets x 5 sizes at context 128, at most 15 minutes a stack on 2 cores",
     .n_budgets = 3, .budget = {3e10, 6e10, 1.2e11},
     .n_sizes = 5, .tokens_per_param = 100,
     .n_widths = 12, .widths = {4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384},
     .seq_len = 128, .batch = 8, .n_test = 256, .min_steps = 20,
     .lr = 5e-3, .wd = 0.1, .warmup_frac = 0.05, .lr_min_frac = 0.1, .seed = 12345},
    {.name = "full",
     .summary = "5 budgets x 7 sizes at context 128, hours a stack",
     .n_budgets = 5, .budget = {1e12, 3e12, 1e13, 3e13, 1e14},
     .n_sizes = 7, .tokens_per_param = 100,
     .n_widths = 12, .widths = {4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384},
     .seq_len = 128, .batch = 16, .n_test = 1024, .min_steps = 20,
     .lr = 5e-3, .wd = 0.1, .warmup_frac = 0.05, .lr_min_frac = 0.1, .seed = 12345},
};
const char *const scale_protocol_names[] = {"quick", "full", NULL};

const ScaleProtocol *scale_protocol_find(const char *name)
{
    for (size_t i = 0; i < sizeof protocols / sizeof *protocols; i++)
        if (name && !strcmp(protocols[i].name, name)) return &protocols[i];
    return NULL;
}

/* "2e11", "1.8e12": the budget as run ids and the directory claim write it. */
void scale_budget_text(double c, char *buf, size_t n)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.3g", c);
    char *e = strstr(tmp, "e+");
    if (e) memmove(e + 1, e + 2, strlen(e + 2) + 1);
    snprintf(buf, n, "%s", tmp);
}

/* Optimizer steps a size gets from budget C. */
static long steps_of(const ScaleProtocol *p, const ScaleShape *sh, double C)
{
    double seqs = C / sh->flops_per_token / p->seq_len;
    return (long)(seqs / p->batch);
}

int scale_plan(const ScaleProtocol *p, const StackSpec *base, int base_width, NormKind norm,
               int repeat, ScalePlan *pl, MlError *err)
{
    memset(pl, 0, sizeof *pl);
    pl->p = *p;
    pl->base = *base;
    pl->base_width = base_width;
    pl->repeat = repeat;
    pl->norm = norm;
    if (p->n_sizes < 3)
        return ml_fail(err, "a ladder of %d size%s cannot locate a minimum: it needs at least 3 "
                       "sizes", p->n_sizes, p->n_sizes == 1 ? "" : "s");
    if (p->n_budgets < 1 || p->n_budgets > SCALE_MAX_BUDGETS)
        return ml_fail(err, "%d budgets: give 1 to %d", p->n_budgets, SCALE_MAX_BUDGETS);
    for (int b = 0; b < p->n_budgets; b++)
        if (!(p->budget[b] > 0) || (b > 0 && !(p->budget[b] > p->budget[b - 1])))
            return ml_fail(err, "budgets must be positive and increasing (budget %d is %g)", b + 1,
                           p->budget[b]);
    /* the widths the stack can take (mh-hyena's heads of 16 channels need a multiple of 16) */
    MlError first = {""};
    for (int w = 0; w < p->n_widths && w < SCALE_MAX_SIZES; w++) {
        MlError e;
        int k = pl->n_shapes;
        if (scale_shape(base, base_width, norm, p->widths[w], repeat, p->seq_len, &pl->shape[k],
                        &pl->shape_stack[k], &e) == 0)
            pl->n_shapes++;
        else if (!first.msg[0])
            first = e;
    }
    if (p->n_sizes > pl->n_shapes)
        return ml_fail(err, "a ladder of %d sizes is longer than the %d widths the stack can take%s%s",
                       p->n_sizes, pl->n_shapes, first.msg[0] ? "; " : "", first.msg);
    for (int b = 0; b < p->n_budgets; b++) {
        double C = p->budget[b];
        /* the expected optimum: the size whose tokens per parameter come nearest the target */
        int centre = 0;
        double best = INFINITY;
        for (int w = 0; w < pl->n_shapes; w++) {
            double D = C / pl->shape[w].flops_per_token;
            double d = fabs(log(D / pl->shape[w].params / p->tokens_per_param));
            if (d < best) best = d, centre = w;
        }
        int lo = centre - p->n_sizes / 2;
        if (lo < 0) lo = 0;
        if (lo + p->n_sizes > pl->n_shapes) lo = pl->n_shapes - p->n_sizes;
        /* the largest sizes of a small budget may get too few steps: shift the ladder down,
         * then drop them while three sizes remain */
        int n = p->n_sizes;
        while (n > 0 && steps_of(p, &pl->shape[lo + n - 1], C) < p->min_steps) {
            if (lo > 0) lo--;
            else if (n > 3) n--;
            else break;
        }
        for (int k = 0; k < n; k++) {
            ScaleRun *r = &pl->run[pl->n_runs++];
            r->budget_i = b;
            r->budget = C;
            r->shape_i = lo + k;
            const ScaleShape *sh = &pl->shape[r->shape_i];
            double seqs = C / sh->flops_per_token / p->seq_len;
            r->n_train = seqs > 1e9 ? 1000000000 : (int)seqs;
            r->tokens = (double)r->n_train * p->seq_len;
            r->flops = r->tokens * sh->flops_per_token;
            char ct[32];
            scale_budget_text(C, ct, sizeof ct);
            snprintf(r->id, sizeof r->id, "C-%s_w-%d_r-%d", ct, sh->width, sh->repeat);
            long steps = (r->n_train + p->batch - 1) / p->batch;
            if (r->n_train < p->batch * p->min_steps) {
                double need = (double)p->batch * p->min_steps * p->seq_len * sh->flops_per_token;
                return ml_fail(err, "budget %s is too small for width %d (%.3g parameters): it "
                               "leaves %ld steps of %d x %d bytes and a run needs at least %d; "
                               "give budgets of at least %.2g", ct, sh->width, sh->params, steps,
                               p->batch, p->seq_len, p->min_steps, need);
            }
        }
    }
    return 0;
}

void scale_train_cfg(const ScalePlan *pl, int i, const char *corpus, TrainCfg *c)
{
    const ScaleProtocol *p = &pl->p;
    const ScaleRun *r = &pl->run[i];
    train_cfg_default(c);
    const TaskKind *t = task_find("text");
    c->task_name = t->name;
    c->task = t->defaults;
    c->task.seq_len = p->seq_len;
    c->task.n_train = r->n_train;
    c->task.n_test = p->n_test;
    c->task.corpus = corpus;
    c->stack = pl->shape_stack[r->shape_i];
    c->width = pl->shape[r->shape_i].width;
    c->norm = pl->norm;
    c->epochs = 1;
    c->batch = p->batch;
    c->lr = p->lr;
    c->wd = p->wd;
    c->lr_min = p->lr * p->lr_min_frac;
    c->stop_acc = 2; /* never: a language model trains for its whole budget */
    c->seed = p->seed;
    c->lr_per_step = 1;
    c->warmup_frac = p->warmup_frac;
}

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

static void fill_result(const ScalePlan *pl, int i, const char *corpus, const TrainResult *t,
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
    fill_result(pl, i, corpus, NULL, &want);
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

static void result_path(char *buf, size_t n, const char *dir, const char *id)
{
    snprintf(buf, n, "%s/%s.result", dir, id);
}

/* 1 when DIR holds run i's valid result (read into r), 0 when absent; -1 when a file is there
 * but is not it (why in err). */
static int read_done(const ScalePlan *pl, const char *dir, int i, const char *corpus, ScaleResult *r,
                     MlError *err)
{
    char path[4096];
    result_path(path, sizeof path, dir, pl->run[i].id);
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
        fill_result(pl, i, corpus, &tr, &r);
        char path[4096];
        result_path(path, sizeof path, dir, pl->run[i].id);
        if (scale_result_write(path, &r, err) != 0) return -1;
        s->done[i] = 1;
        s->results[i] = r;
        s->n_done++;
        if (d->on_end) d->on_end(d->ctx, k, todo, pl, i, &r, NULL);
    }
    return 0;
}

/* ---- fits ---- */

/* y at x by straight lines through the points (xs ascending), extended past the ends. */
static double interp(const double *xs, const double *ys, int n, double x)
{
    if (n == 1) return ys[0];
    int j = 0;
    while (j < n - 2 && x > xs[j + 1]) j++;
    double t = (x - xs[j]) / (xs[j + 1] - xs[j]);
    return ys[j] + t * (ys[j + 1] - ys[j]);
}

int scale_fit_budget(const double *params, const double *loss, int n, ScaleBudgetFit *f)
{
    memset(f, 0, sizeof *f);
    f->points = n;
    if (n < 3) return -1;
    double x[SCALE_MAX_SIZES], y[SCALE_MAX_SIZES];
    int best = 0;
    for (int i = 0; i < n; i++) {
        x[i] = log(params[i]);
        y[i] = loss[i];
        if (y[i] < y[best]) best = i;
    }
    /* The parabola through the lowest point and its two neighbours: over a whole wide ladder the
     * curve is not a parabola (it rises faster on the large side, whose runs get few steps), and
     * a fit to every point pulls the vertex away from the measured minimum. At an end of the
     * ladder there is no minimum to fit: every point, and the warning. */
    double c[3];
    int lo = best > 0 && best < n - 1 ? best - 1 : 0, m = best > 0 && best < n - 1 ? 3 : n;
    int ok = fit_parabola(x + lo, y + lo, m, c) == 0 && c[2] > 0;
    double xo = ok ? -c[1] / (2 * c[2]) : x[best];
    /* the minimum must lie within the ladder, and not at its first or last size */
    f->at_edge = !ok || best == 0 || best == n - 1 || xo < x[0] || xo > x[n - 1];
    if (!ok || xo < x[0] || xo > x[n - 1]) xo = x[best];
    f->log_n_opt = xo;
    f->n_opt = exp(xo);
    f->l_opt = ok ? c[0] + c[1] * xo + c[2] * xo * xo : y[best];
    f->curvature = ok ? c[2] : 0;
    /* off the optimum: the measured losses at half and twice N_opt (straight lines between the
     * ladder's points in log N; past its ends the parabola), less L_opt */
    for (int s = 0; s < 2; s++) {
        double xs = xo + (s ? log(2.0) : -log(2.0)), l;
        if (xs >= x[0] && xs <= x[n - 1]) l = interp(x, y, n, xs);
        else l = ok && !f->at_edge ? c[0] + c[1] * xs + c[2] * xs * xs : NAN; /* no curve there */
        if (s) f->rise_double = l - f->l_opt;
        else f->rise_half = l - f->l_opt;
    }
    return 0;
}

int scale_fit(const ScalePlan *pl, const ScaleScan *s, ScaleFit *f)
{
    memset(f, 0, sizeof *f);
    f->n_budgets = pl->p.n_budgets;
    double lc[SCALE_MAX_BUDGETS], ln[SCALE_MAX_BUDGETS], ld[SCALE_MAX_BUDGETS], ll[SCALE_MAX_BUDGETS];
    int m = 0;
    for (int b = 0; b < pl->p.n_budgets; b++) {
        double P[SCALE_MAX_SIZES], L[SCALE_MAX_SIZES], lx[SCALE_MAX_SIZES], lf[SCALE_MAX_SIZES],
            st[SCALE_MAX_SIZES];
        int n = 0;
        for (int i = 0; i < pl->n_runs; i++) {
            if (pl->run[i].budget_i != b || !s->done[i] || s->results[i].diverged) continue;
            const ScaleShape *sh = &pl->shape[pl->run[i].shape_i];
            P[n] = sh->params;
            L[n] = s->results[i].val_loss;
            lx[n] = log(sh->params);
            lf[n] = log(sh->flops_per_token);
            st[n] = sh->state;
            n++;
        }
        ScaleBudgetFit *bf = &f->b[b];
        int bad = scale_fit_budget(P, L, n, bf);
        bf->budget = pl->p.budget[b];
        if (bad) continue;
        bf->ok = 1;
        bf->d_opt = bf->budget / exp(interp(lx, lf, n, bf->log_n_opt));
        bf->state_opt = interp(lx, st, n, bf->log_n_opt);
        f->edges += bf->at_edge;
        lc[m] = log(bf->budget);
        ln[m] = bf->log_n_opt;
        ld[m] = log(bf->d_opt);
        ll[m] = log(bf->l_opt);
        m++;
    }
    f->budgets_fitted = m;
    f->a = f->b_exp = f->loss_exp = NAN;
    if (m >= 2) {
        double k;
        fit_line(lc, ln, m, &f->a, &k);
        fit_line(lc, ld, m, &f->b_exp, &k);
        fit_line(lc, ll, m, &f->loss_exp, &k);
        f->loss_coef = exp(k);
    }
    return 0;
}

/* ---- CSV ---- */

int scale_write_csv(const ScalePlan *pl, const ScaleScan *s, const ScaleFit *f, const char *dir,
                    MlError *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/runs.csv", dir);
    CsvOut *c = csv_out_open(path, err);
    if (!c) return -1;
    static const char *const rh[] = {"id", "budget", "width", "repeat", "params", "params_all",
                                     "flops_per_token", "tokens", "flops", "state", "val_loss",
                                     "bits_per_byte", "perplexity", "val_acc", "diverged",
                                     "seconds"};
    for (size_t i = 0; i < sizeof rh / sizeof *rh; i++) csv_out_text(c, rh[i]);
    csv_out_end_row(c);
    for (int i = 0; i < pl->n_runs; i++) {
        if (!s->done[i]) continue;
        const ScaleResult *r = &s->results[i];
        csv_out_text(c, r->id);
        csv_out_num(c, r->budget);
        csv_out_int(c, r->width);
        csv_out_int(c, r->repeat);
        double v[] = {r->params, r->params_all, r->flops_per_token, r->tokens, r->flops, r->state};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++) csv_out_num(c, v[k]);
        csv_out_num(c, r->diverged ? NAN : r->val_loss);
        csv_out_num(c, r->diverged ? NAN : r->val_loss / log(2.0));
        csv_out_num(c, r->diverged ? NAN : exp(r->val_loss));
        csv_out_num(c, r->val_acc);
        csv_out_int(c, r->diverged);
        csv_out_num(c, r->seconds);
        csv_out_end_row(c);
    }
    if (csv_out_commit(c, err) != 0) return -1;

    snprintf(path, sizeof path, "%s/frontier.csv", dir);
    if (!(c = csv_out_open(path, err))) return -1;
    static const char *const fh[] = {"row", "budget", "n_opt", "d_opt", "l_opt", "bits_per_byte",
                                     "perplexity", "state_opt", "at_edge", "rise_half",
                                     "rise_double", "runs"};
    for (size_t i = 0; i < sizeof fh / sizeof *fh; i++) csv_out_text(c, fh[i]);
    csv_out_end_row(c);
    for (int b = 0; b < f->n_budgets; b++) {
        const ScaleBudgetFit *bf = &f->b[b];
        csv_out_text(c, "budget");
        csv_out_num(c, bf->budget);
        double v[] = {bf->n_opt, bf->d_opt, bf->l_opt, bf->l_opt / log(2.0), exp(bf->l_opt),
                      bf->state_opt};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++) csv_out_num(c, bf->ok ? v[k] : NAN);
        csv_out_int(c, bf->at_edge);
        csv_out_num(c, bf->ok ? bf->rise_half : NAN);
        csv_out_num(c, bf->ok ? bf->rise_double : NAN);
        csv_out_int(c, bf->points);
        csv_out_end_row(c);
    }
    /* the fitted exponents: row name, then the value in the budget column */
    const struct {
        const char *name;
        double v;
    } ex[] = {{"a", f->a}, {"b", f->b_exp}, {"loss_exp", f->loss_exp}}; /* N_opt, D_opt, L_opt ~ C^x */
    for (size_t k = 0; k < sizeof ex / sizeof *ex; k++) {
        csv_out_text(c, ex[k].name);
        csv_out_num(c, ex[k].v);
        for (int j = 0; j < 10; j++) csv_out_text(c, "");
        csv_out_end_row(c);
    }
    return csv_out_commit(c, err);
}
