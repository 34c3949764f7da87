/* The lab's forms, each one table: its fields (with where each value lives in the form's record)
 * next to the load that fills the record and the apply that takes it back. The form modal
 * (form.c) builds the fields from the same table it reads them back into, so the two cannot get
 * out of step. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "config.h"
#include "labui.h"
#include "protocol.h"
#include "scaling.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define N_FIELDS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define RECORD_FITS(T) _Static_assert(sizeof(T) <= FORM_REC_MAX, #T " is too big for a form")

/* ---------------- a layer's knobs ---------------- */

typedef struct { int knob[ML_MAX_KNOBS]; } KnobRec;
RECORD_FITS(KnobRec);

static int knob_fields(int layer, FieldDef *out, int max)
{
    const LayerKind *k = lab.stack.kind[layer];
    int n = 0;
    for (int j = 0; j < k->n_knobs && j < ML_MAX_KNOBS && n < max; j++, n++)
        out[n] = (FieldDef){k->knobs[j].name, FT_INT, offsetof(KnobRec, knob) + sizeof(int) * j,
                            k->knobs[j].min, k->knobs[j].max, k->knobs[j].help, k->knobs[j].words};
    return n;
}

static void knob_load(void *rec, int layer, char *title, size_t tn)
{
    KnobRec *r = rec;
    memcpy(r->knob, lab.stack.knob[layer], sizeof r->knob);
    snprintf(title, tn, "layer %d: %s", layer + 1, lab.stack.kind[layer]->name);
}

static int knob_apply(void *rec, int layer)
{
    const KnobRec *r = rec;
    StackSpec s = lab.stack;
    MlError err;
    memcpy(s.knob[layer], r->knob, sizeof r->knob);
    if (stack_validate(&s, lab.width, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    lab.stack = s;
    lab_status(0, "knobs of layer %d set", layer + 1);
    return 0;
}

const FormDef form_knobs = {"knobs", NULL, 0, knob_fields, knob_load, knob_apply};

/* ---------------- a task's difficulty ---------------- */

/* The form's record: the task's settings and, for the text task, its corpus path as text
 * (TaskCfg holds a pointer: corpus_intern keeps the path for the runs that read it). */
typedef struct {
    TaskCfg c; /* first: the fields below are at their offsets in TaskCfg */
    char corpus[FORM_TEXT_MAX];
} TaskRec;
RECORD_FITS(TaskRec);
#define KNOB_CORPUS (1u << 31) /* read by a task that reads a corpus (text) */

/* The knobs only some tasks read carry their TASK_KNOB_* bit; 0: every task reads it. */
static const struct { FieldDef f; unsigned knob; } task_fields[] = {
    {{"corpus", FT_TEXT, offsetof(TaskRec, corpus), 0, 0,
      "the text file (or .gz) to predict the next byte of; empty: " CORPUS_DEFAULT_PATH
      " (Debian package " CORPUS_DEFAULT_PACKAGE ")", NULL}, KNOB_CORPUS},
    {{"vocab", FT_INT, offsetof(TaskCfg, vocab), 2, 4096, "tokens in the vocabulary", NULL}, 0},
    {{"seq_len", FT_INT, offsetof(TaskCfg, seq_len), 2, 65536, "sequence length", NULL}, 0},
    {{"n_train", FT_INT, offsetof(TaskCfg, n_train), 1, 1e7, "training sequences", NULL}, 0},
    {{"n_test", FT_INT, offsetof(TaskCfg, n_test), 1, 1e7, "test sequences", NULL}, 0},
    {{"frac_noise", FT_NUM, offsetof(TaskCfg, frac_noise), 0, 0.99, "fraction of noise", NULL},
     TASK_KNOB_FRAC_NOISE},
    {{"noise_vocab", FT_INT, offsetof(TaskCfg, noise_vocab), 0, 4096, "noise tokens", NULL},
     TASK_KNOB_NOISE_VOCAB},
    {{"k_motif", FT_INT, offsetof(TaskCfg, k_motif), 1, 64, "tokens per key", NULL}, TASK_KNOB_K_MOTIF},
    {{"v_motif", FT_INT, offsetof(TaskCfg, v_motif), 1, 64, "tokens per value", NULL}, TASK_KNOB_V_MOTIF},
    {{"n_copy", FT_INT, offsetof(TaskCfg, n_copy), 0, 65536, "tokens to copy", NULL}, TASK_KNOB_N_COPY},
    {{"multi_query", FT_INT, offsetof(TaskCfg, multi_query), 0, 1, "1: every repeated key is scored", NULL}, 0},
};

static int task_unread(int task, int i)
{
    unsigned reads = task_all[task]->knobs | (task_all[task]->generate ? KNOB_CORPUS : 0);
    return task_fields[i].knob && !(reads & task_fields[i].knob);
}

/* The fields the task reads first, then those it does not (shown, so the form's shape stays). */
static int task_form_fields(int task, FieldDef *out, int max)
{
    int n = 0;
    for (int unread = 0; unread < 2; unread++)
        for (int i = 0; i < N_FIELDS(task_fields) && n < max; i++) {
            if (task_unread(task, i) != unread) continue;
            out[n] = task_fields[i].f;
            if (unread) out[n].help = "(not read by this task)";
            n++;
        }
    return n;
}

static void task_load(void *rec, int task, char *title, size_t tn)
{
    TaskRec *r = rec;
    r->c = lab.task_cfg[task];
    snprintf(r->corpus, sizeof r->corpus, "%s", r->c.corpus ? r->c.corpus : "");
    snprintf(title, tn, "difficulty of %s", task_all[task]->name);
}

static int task_apply(void *rec, int task)
{
    TaskRec *r = rec;
    TaskCfg *c = &r->c;
    const TaskCfg *o = &lab.task_cfg[task];
    MlError err;
    /* as the command line does: a knob the task does not read is refused, not ignored */
    for (int i = 0; i < N_FIELDS(task_fields); i++) {
        const FieldDef *d = &task_fields[i].f;
        const char *a = (const char *)r + d->off, *b = (const char *)o + d->off;
        int changed = d->type == FT_TEXT ? strcmp(a, o->corpus ? o->corpus : "") != 0
                      : d->type == FT_NUM ? *(const double *)a != *(const double *)b
                                          : *(const int *)a != *(const int *)b;
        if (task_unread(task, i) && changed) {
            lab_status(1, "%s does not read %s; leave it at its value", task_all[task]->name, d->label);
            return -1;
        }
    }
    c->corpus = corpus_intern(r->corpus);
    if (r->corpus[0] && !c->corpus) {
        lab_status(1, "corpus %s: too many corpus paths in one session (or the path is too long)",
                   r->corpus);
        return -1;
    }
    if (task_all[task]->validate(c, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    if (task_all[task]->generate) { /* the corpus now, not at the first run: one line if bad */
        const Corpus *k = corpus_open(c->corpus, &err);
        if (!k || corpus_check(k, c->seq_len, &err) != 0) {
            lab_status(1, "%s", err.msg);
            return -1;
        }
    }
    lab.task_cfg[task] = *c;
    task_sample_draw();
    lab_status(0, "%s: difficulty set", task_all[task]->name);
    return 0;
}

const FormDef form_task = {"difficulty", NULL, 0, task_form_fields, task_load, task_apply};

/* ---------------- run options ---------------- */

typedef struct {
    int epochs, batch;
    double lr, wd;
    long long seed;
} OptionsRec;
RECORD_FITS(OptionsRec);

static const FieldDef options_fields[] = {
    {"epochs", FT_INT, offsetof(OptionsRec, epochs), 1, 100000, "epochs per run (the cap for Q)", NULL},
    {"batch", FT_INT, offsetof(OptionsRec, batch), 1, 65536, "sequences per step", NULL},
    {"lr", FT_NUM, offsetof(OptionsRec, lr), 1e-7, 1, "peak learning rate (cosine decay)", NULL},
    {"wd", FT_NUM, offsetof(OptionsRec, wd), 0, 10, "AdamW weight decay", NULL},
    {"seed", FT_LONG, offsetof(OptionsRec, seed), 0, 1e15, "data and init seed", NULL},
};

static void options_load(void *rec, int arg, char *title, size_t tn)
{
    (void)arg, (void)title, (void)tn;
    *(OptionsRec *)rec = (OptionsRec){lab.epochs, lab.batch, lab.lr, lab.wd, lab.seed};
}

static int options_apply(void *rec, int arg)
{
    const OptionsRec *r = rec;
    (void)arg;
    lab.epochs = r->epochs, lab.batch = r->batch, lab.lr = r->lr, lab.wd = r->wd, lab.seed = r->seed;
    lab_status(0, "run options: %d epochs, batch %d, lr %g, wd %g, seed %lld", lab.epochs, lab.batch,
               lab.lr, lab.wd, lab.seed);
    return 0;
}

const FormDef form_options = {"run options", options_fields, N_FIELDS(options_fields), NULL,
                              options_load, options_apply};

/* ---------------- model width ---------------- */

static const FieldDef width_fields[] = {
    {"width", FT_INT, 0, 8, 4096, "channels per position", NULL},
};

static void width_load(void *rec, int arg, char *title, size_t tn)
{
    (void)arg, (void)title, (void)tn;
    *(int *)rec = lab.width;
}

static int width_apply(void *rec, int arg)
{
    int w = *(int *)rec;
    MlError err;
    (void)arg;
    if (stack_validate(&lab.stack, w, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    if (w != lab.width) lab.preset[0] = 0, lab.demo_stack = 0; /* no longer the preset */
    lab.width = w;
    lab_status(0, "width %d", lab.width);
    return 0;
}

const FormDef form_width = {"model width", width_fields, N_FIELDS(width_fields), NULL, width_load,
                            width_apply};

/* ---------------- striping ---------------- */

typedef struct {
    char pattern[FORM_TEXT_MAX];
    int depth;
    char channel[FORM_TEXT_MAX];
} StripeRec;
RECORD_FITS(StripeRec);

static const FieldDef stripe_fields[] = {
    {"pattern", FT_TEXT, offsetof(StripeRec, pattern), 0, 0,
     "1A:3H = 1 attention per 3 Hyena; or names: mh-attention hyena/mlp", NULL},
    {"depth", FT_INT, offsetof(StripeRec, depth), 0, ML_MAX_LAYERS / 2, "blocks (0: one period)", NULL},
    {"channel", FT_TEXT, offsetof(StripeRec, channel), 0, 0, "channel mixer after each (empty: none)", NULL},
};

/* The pattern's help: what the letters stand for, from stripe_letters. */
static int stripe_form_fields(int arg, FieldDef *out, int max)
{
    static char help[512];
    int u = snprintf(help, sizeof help, "1A:3H = 1 attention per 3 Hyena, or names: mh-attention hyena/mlp. Letters:");
    for (const StripeLetter *l = stripe_letters; l->letter && u < (int)sizeof help; l++)
        u += snprintf(help + u, sizeof help - u, " %c %s%s", l->letter, l->kind, l[1].letter ? "," : "");
    int n = 0;
    (void)arg;
    for (; n < N_FIELDS(stripe_fields) && n < max; n++) out[n] = stripe_fields[n];
    out[0].help = help;
    return n;
}

static void stripe_load(void *rec, int arg, char *title, size_t tn)
{
    StripeRec *r = rec;
    (void)arg, (void)title, (void)tn;
    snprintf(r->pattern, sizeof r->pattern, "1A:3H");
    r->depth = 4;
    snprintf(r->channel, sizeof r->channel, "swiglu");
}

static int stripe_apply(void *rec, int arg)
{
    const StripeRec *r = rec;
    char text[1024];
    StackSpec s;
    MlError err;
    (void)arg;
    if (stripe_build(r->pattern, r->depth, r->channel, text, sizeof text, &err) != 0 ||
        stack_parse(text, "striping", lab.width, &s, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    lab.stack = s;
    lab.cur_layer = 0;
    lab.preset[0] = 0, lab.demo_stack = 0;
    lab_status(0, "striped stack: %s", text);
    return 0;
}

const FormDef form_stripe = {"striping: a stack from a pattern or a list", stripe_fields,
                             N_FIELDS(stripe_fields), stripe_form_fields, stripe_load, stripe_apply};

/* ---------------- save the stack as a preset ---------------- */

static const FieldDef save_fields[] = {
    {"name", FT_TEXT, 0, 0, 0, "saved in $XDG_CONFIG_HOME (absolute) or ~/.config: madlab/presets", NULL},
};

static void save_load(void *rec, int arg, char *title, size_t tn)
{
    (void)arg, (void)title, (void)tn;
    snprintf(rec, FORM_TEXT_MAX, "%s", lab.preset[0] ? lab.preset : "my-stack");
}

static int save_apply(void *rec, int arg)
{
    (void)arg;
    return save_preset(rec);
}

const FormDef form_save = {"save the stack as a preset", save_fields, N_FIELDS(save_fields), NULL,
                           save_load, save_apply};

/* ---------------- export ---------------- */

static const FieldDef export_fields[] = {
    {"path prefix", FT_TEXT, 0, 0, 0, "writes PREFIX-results.csv, PREFIX-runN.csv", NULL},
};

static void export_load(void *rec, int arg, char *title, size_t tn)
{
    time_t now = time(NULL);
    struct tm tmv;
    (void)arg, (void)title, (void)tn;
    localtime_r(&now, &tmv);
    strftime(rec, FORM_TEXT_MAX, "madlab-%Y%m%d-%H%M%S", &tmv);
}

/* The export forms' one field: a path prefix, which must not be empty. */
static int export_prefix(const char *prefix, void (*export)(const char *))
{
    if (!prefix[0]) {
        lab_status(1, "export: give a path prefix");
        return -1;
    }
    export(prefix);
    return 0;
}

static int export_apply(void *rec, int arg) { return (void)arg, export_prefix(rec, export_to); }

const FormDef form_export = {"export run logs and results to CSV", export_fields,
                             N_FIELDS(export_fields), NULL, export_load, export_apply};

static const FieldDef export_state_fields[] = {
    {"path prefix", FT_TEXT, 0, 0, 0, "writes PREFIX-state.csv: stack, setting, state, params, a column per task", NULL},
};

static int export_state_apply(void *rec, int arg) { return (void)arg, export_prefix(rec, export_state_to); }

const FormDef form_export_state = {"export recall against state to CSV", export_state_fields,
                                   N_FIELDS(export_state_fields), NULL, export_load, export_state_apply};

static const FieldDef export_scale_fields[] = {
    {"path prefix", FT_TEXT, 0, 0, 0,
     "writes PREFIX-scaling-runs.csv (every run: budget, params, loss) and "
     "PREFIX-scaling-frontier.csv (per budget: N_opt, L_opt, perplexity)", NULL},
};

static int export_scale_apply(void *rec, int arg) { return (void)arg, export_prefix(rec, export_scale_to); }

const FormDef form_export_scale = {"export the scaling view to CSV", export_scale_fields,
                                   N_FIELDS(export_scale_fields), NULL, export_load,
                                   export_scale_apply};

/* ---------------- fit the stack to a state budget ---------------- */

static const FieldDef fit_fields[] = {
    {"state budget", FT_NUM, 0, 1, 1e12,
     "total floats of inference state; the paper compares fixed-state stacks at 4096", NULL},
};

static void fit_load(void *rec, int arg, char *title, size_t tn)
{
    (void)arg, (void)title, (void)tn;
    *(double *)rec = lab.fit_budget > 0 ? lab.fit_budget : 4096;
}

static void fit_yes(void)
{
    lab.stack = lab.fitted;
    lab.preset[0] = 0, lab.demo_stack = 0;
    double st;
    stack_size(&lab.stack, lab.width, lab_task()->seq_len_out(&lab.task_cfg[lab.cur_task]), &st, NULL);
    lab_status(0, "state knobs set: total state %.0f floats (budget %.0f)", st, lab.fit_budget);
}

/* Fits at the current task's length, as the stack view counts state; asks before applying. */
static int fit_apply(void *rec, int arg)
{
    double budget = *(double *)rec, s0, p0, s1, p1;
    int L = lab_task()->seq_len_out(&lab.task_cfg[lab.cur_task]);
    MlError err;
    (void)arg;
    if (stack_fit_state(&lab.stack, lab.width, L, budget, &lab.fitted, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    lab.fit_budget = budget;
    stack_size(&lab.stack, lab.width, L, &s0, &p0);
    stack_size(&lab.fitted, lab.width, L, &s1, &p1);
    if (memcmp(lab.fitted.knob, lab.stack.knob, sizeof lab.stack.knob) == 0) {
        lab_status(0, "the stack is already as near %.0f floats as its knobs go: state %.0f", budget, s0);
        return 0;
    }
    char before[ML_STACK_TEXT_MAX], after[ML_STACK_TEXT_MAX], pb[32], pa[32], q[sizeof lab.confirm_q];
    stack_text(&lab.stack, before, sizeof before);
    stack_text(&lab.fitted, after, sizeof after);
    fmt_count(p0, pb, sizeof pb);
    fmt_count(p1, pa, sizeof pa);
    snprintf(q, sizeof q,
             "state budget %.0f floats (width %d, L=%d)\n"
             "before: state %.0f, params %s: %s\n"
             "after:  state %.0f, params %s: %s\napply?",
             budget, lab.width, L, s0, pb, before, s1, pa, after);
    confirm_ask(q, fit_yes);
    return 0;
}

const FormDef form_fit_state = {"fit the stack to a state budget", fit_fields, N_FIELDS(fit_fields),
                                NULL, fit_load, fit_apply};

/* ---------------- the scaling protocol for the stack (L) ---------------- */

typedef struct {
    char budgets[FORM_TEXT_MAX];
    int sizes, seq_len;
} ScaleProtoRec;
RECORD_FITS(ScaleProtoRec);

static const FieldDef scale_proto_fields[] = {
    {"budgets", FT_TEXT, offsetof(ScaleProtoRec, budgets), 0, 0,
     "training FLOPs per ladder, comma-separated, increasing. The quick protocol's take up to a "
     "quarter of an hour on 2 cores; 1e9,2e9 with 3 sizes and context 32 take seconds. The runs "
     "read the text task's corpus (2, the text task, Enter)", NULL},
    {"sizes", FT_INT, offsetof(ScaleProtoRec, sizes), 3, SCALE_MAX_SIZES,
     "widths per budget around the expected optimum", NULL},
    {"context", FT_INT, offsetof(ScaleProtoRec, seq_len), 2, 4096, "bytes of context per sequence", NULL},
};

static void scale_proto_load(void *rec, int arg, char *title, size_t tn)
{
    ScaleProtoRec *r = rec;
    const ScaleProtocol *q = scale_protocol_find("quick");
    char text[ML_STACK_TEXT_MAX];
    (void)arg;
    if (lab.scale_budgets[0]) snprintf(r->budgets, sizeof r->budgets, "%s", lab.scale_budgets);
    else
        for (int b = 0, u = 0; b < q->n_budgets && u < (int)sizeof r->budgets; b++) {
            char t[32];
            scale_budget_text(q->budget[b], t, sizeof t);
            u += snprintf(r->budgets + u, sizeof r->budgets - u, "%s%s", b ? "," : "", t);
        }
    r->sizes = lab.scale_sizes ? lab.scale_sizes : q->n_sizes;
    r->seq_len = lab.scale_seq_len ? lab.scale_seq_len : q->seq_len;
    stack_text(&lab.stack, text, sizeof text);
    snprintf(title, tn, "quick scaling protocol for %s", text);
}

static int scale_proto_apply(void *rec, int arg)
{
    const ScaleProtoRec *r = rec;
    ScaleProtocol p = *scale_protocol_find("quick");
    MlError err;
    (void)arg;
    if (scale_parse_budgets(r->budgets, &p, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    p.n_sizes = r->sizes;
    p.seq_len = r->seq_len;
    snprintf(lab.scale_budgets, sizeof lab.scale_budgets, "%s", r->budgets);
    lab.scale_sizes = r->sizes;
    lab.scale_seq_len = r->seq_len;
    return queue_scale(&p);
}

const FormDef form_scale_protocol = {"quick scaling protocol", scale_proto_fields,
                                     N_FIELDS(scale_proto_fields), NULL, scale_proto_load,
                                     scale_proto_apply};

/* ---------------- a scaling directory for the scaling view (a) ---------------- */

typedef struct {
    char dir[FORM_TEXT_MAX], mad[FORM_TEXT_MAX];
} ScaleDirRec;
RECORD_FITS(ScaleDirRec);

static const FieldDef scale_dir_fields[] = {
    {"directory", FT_TEXT, offsetof(ScaleDirRec, dir), 0, 0,
     "made by madlab scale --out DIR (or collected from other machines)", NULL},
    {"MAD directory", FT_TEXT, offsetof(ScaleDirRec, mad), 0, 0,
     "optional: made by madlab mad for the same stack, for its MAD score", NULL},
};

static void scale_dir_load(void *rec, int arg, char *title, size_t tn)
{
    (void)rec, (void)arg, (void)title, (void)tn;
}

/* A path as typed: a leading ~/ is the home directory. */
static void typed_path(const char *in, char *out, size_t n)
{
    const char *home = getenv("HOME");
    if (in[0] == '~' && in[1] == '/' && home) snprintf(out, n, "%s%s", home, in + 1);
    else snprintf(out, n, "%s", in);
}

/* 0 when path is a directory; else one line naming it and what is wrong. */
static int is_dir(const char *what, const char *path, MlError *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ml_fail(err, "%s %s: %s", what, path, errno == ENOENT ? "no such directory" : strerror(errno));
    if (!S_ISDIR(st.st_mode)) return ml_fail(err, "%s %s: not a directory", what, path);
    return 0;
}

static int scale_dir_apply(void *rec, int arg)
{
    const ScaleDirRec *r = rec;
    char dir[FORM_TEXT_MAX + 1024], mad[FORM_TEXT_MAX + 1024];
    MlError err;
    (void)arg;
    typed_path(r->dir, dir, sizeof dir);
    typed_path(r->mad, mad, sizeof mad);
    if (!dir[0]) {
        lab_status(1, "scaling directory: give the directory madlab scale --out wrote");
        return -1;
    }
    int at;
    if (is_dir("scaling directory", dir, &err) != 0 || (mad[0] && is_dir("MAD directory", mad, &err) != 0) ||
        (at = lab_scale_add(dir, mad[0] ? mad : NULL, &err)) < 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    lab.scale_cur = at;
    lab_status(0, "added %s: %d of %d runs%s", dir, lab.scale[at].n_done, lab.scale[at].n_runs,
               isfinite(lab.scale[at].mad) ? ", with its MAD score" : "");
    return 0;
}

const FormDef form_scale_dir = {"add a scaling directory", scale_dir_fields,
                                N_FIELDS(scale_dir_fields), NULL, scale_dir_load, scale_dir_apply};
