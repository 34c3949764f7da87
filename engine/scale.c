/* Scaling laws on the CPU: model sizes (a stack at another width and depth), the IsoFLOP
 * protocol (per compute budget a ladder of sizes around the expected optimum, each trained on the
 * tokens its budget leaves) and the training settings of each run. Its result files and
 * directory are in scaledir.c, the fits and CSVs in scalefit.c.
 *
 * FLOPs are the layer table's: a training token costs 3 x the forward FLOPs per token at the
 * context length (forward, and a backward of twice the forward), embedding and head included.
 * Parameters are counted without the embedding and the head (the MAD paper's and Kaplan's
 * count). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "scaling.h"

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
