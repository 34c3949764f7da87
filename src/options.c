/* Option helpers shared by the commands (see options.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

const char *g_cmd = "madlab";

int option_unknown(char **argv)
{
    fprintf(stderr, "madlab %s: unknown or incomplete option '%s' (see madlab --help)\n", g_cmd,
            argv[optind - 1]);
    return 2;
}

int arguments_left(int argc, char **argv)
{
    if (optind >= argc) return 0;
    fprintf(stderr, "madlab %s: unexpected argument '%s'\n", g_cmd, argv[optind]);
    return 2;
}

int option_bad(const char *fmt, const char *opt, const char *val)
{
    fprintf(stderr, "madlab %s: ", g_cmd);
    fprintf(stderr, fmt, opt, val);
    fputc('\n', stderr);
    return -1;
}

int get_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno) return option_bad("%s: '%s' is not a whole number", opt, s);
    if (v < lo || v > hi) {
        fprintf(stderr, "madlab %s: %s: %ld is out of range (%ld to %ld)\n", g_cmd, opt, v, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int get_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return option_bad("%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi) {
        fprintf(stderr, "madlab %s: %s: %g is out of range (%g to %g)\n", g_cmd, opt, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int get_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-') return option_bad("%s: '%s' is not a whole number", opt, s);
    *out = v;
    return 0;
}

/* ---- task options ---- */

/* 1 if o is a task option (parsed into t), -1 on a bad value, 0 if o is another option. */
static int task_opt(int o, const char *arg, TaskOpts *t)
{
    int r;
    switch (o) {
    case 'V': r = get_int("--vocab", arg, 2, 1 << 20, &t->vocab); break;
    case 'L': r = get_int("--seq-len", arg, 2, 1 << 16, &t->seq_len); break;
    case 'N': r = get_int("--train", arg, 1, 1 << 24, &t->n_train); break;
    case 'T': r = get_int("--test", arg, 1, 1 << 24, &t->n_test); break;
    case OPT_FRAC_NOISE:
        r = get_double("--frac-noise", arg, 0, 1, &t->frac_noise);
        t->given |= TASK_KNOB_FRAC_NOISE;
        break;
    case OPT_NOISE_VOCAB:
        r = get_int("--noise-vocab", arg, 0, 1 << 20, &t->noise_vocab);
        t->given |= TASK_KNOB_NOISE_VOCAB;
        break;
    case OPT_K_MOTIF:
        r = get_int("--k-motif", arg, 1, 64, &t->k_motif);
        t->given |= TASK_KNOB_K_MOTIF;
        break;
    case OPT_V_MOTIF:
        r = get_int("--v-motif", arg, 1, 64, &t->v_motif);
        t->given |= TASK_KNOB_V_MOTIF;
        break;
    case OPT_N_COPY:
        r = get_int("--n-copy", arg, 1, 1 << 15, &t->n_copy);
        t->given |= TASK_KNOB_N_COPY;
        break;
    default: return 0;
    }
    return r ? -1 : 1;
}

/* The task knobs besides vocab, seq_len, n_train and n_test: their option and their name in a
 * settings line. */
static const struct {
    unsigned bit;
    const char *opt, *word;
} knob_opts[] = {{TASK_KNOB_FRAC_NOISE, "--frac-noise", "frac_noise"},
                 {TASK_KNOB_NOISE_VOCAB, "--noise-vocab", "noise_vocab"},
                 {TASK_KNOB_K_MOTIF, "--k-motif", "k_motif"},
                 {TASK_KNOB_V_MOTIF, "--v-motif", "v_motif"},
                 {TASK_KNOB_N_COPY, "--n-copy", "n_copy"}};
#define N_KNOB_OPTS (sizeof knob_opts / sizeof *knob_opts)

/* The knob's value as text: "%g" for the fraction, "%d" for the counts. */
static void knob_value(unsigned bit, const TaskCfg *c, char *buf, size_t n)
{
    if (bit == TASK_KNOB_FRAC_NOISE) snprintf(buf, n, "%g", c->frac_noise);
    else
        snprintf(buf, n, "%d", bit == TASK_KNOB_NOISE_VOCAB ? c->noise_vocab
                               : bit == TASK_KNOB_K_MOTIF   ? c->k_motif
                               : bit == TASK_KNOB_V_MOTIF   ? c->v_motif
                                                            : c->n_copy);
}

void knob_defaults(const TaskKind *t, char *buf, size_t n)
{
    const TaskCfg *d = &t->defaults;
    size_t u = (size_t)snprintf(buf, n, "--vocab %d --seq-len %d --train %d --test %d", d->vocab,
                                d->seq_len, d->n_train, d->n_test);
    for (size_t i = 0; i < N_KNOB_OPTS && u < n; i++) {
        if (!(t->knobs & knob_opts[i].bit)) continue;
        char v[32];
        knob_value(knob_opts[i].bit, d, v, sizeof v);
        u += (size_t)snprintf(buf + u, n - u, " %s %s", knob_opts[i].opt, v);
    }
}

void print_task_knobs(const TaskKind *task, const TaskCfg *c)
{
    for (size_t i = 0; i < N_KNOB_OPTS; i++) {
        if (!(task->knobs & knob_opts[i].bit)) continue;
        char v[32];
        knob_value(knob_opts[i].bit, c, v, sizeof v);
        printf("  %s %s", knob_opts[i].word, v);
    }
}

const TaskKind *find_task_or_say(const char *name)
{
    const TaskKind *task = name ? task_find(name) : NULL;
    if (task) return task;
    if (name) fprintf(stderr, "madlab %s: unknown task '%s' (tasks:", g_cmd, name);
    else fprintf(stderr, "madlab %s: no task: give --task NAME (tasks:", g_cmd);
    for (const TaskKind *const *t = task_kinds; *t; t++) fprintf(stderr, " %s", (*t)->name);
    fprintf(stderr, ")\n");
    return NULL;
}

int task_cfg_from_opts(const TaskKind *task, const TaskOpts *o, TaskCfg *c)
{
    unsigned stray = o->given & ~task->knobs;
    for (size_t i = 0; i < N_KNOB_OPTS; i++)
        if (stray & knob_opts[i].bit) {
            char d[256];
            knob_defaults(task, d, sizeof d);
            fprintf(stderr, "madlab %s: %s does not apply to %s (its options: %s)\n", g_cmd,
                    knob_opts[i].opt, task->name, d);
            return -1;
        }
    *c = task->defaults;
    if (o->vocab) c->vocab = o->vocab;
    if (o->seq_len) c->seq_len = o->seq_len;
    if (o->n_train) c->n_train = o->n_train;
    if (o->n_test) c->n_test = o->n_test;
    if (o->given & TASK_KNOB_FRAC_NOISE) c->frac_noise = o->frac_noise;
    if (o->given & TASK_KNOB_NOISE_VOCAB) c->noise_vocab = o->noise_vocab;
    if (o->given & TASK_KNOB_K_MOTIF) c->k_motif = o->k_motif;
    if (o->given & TASK_KNOB_V_MOTIF) c->v_motif = o->v_motif;
    if (o->given & TASK_KNOB_N_COPY) c->n_copy = o->n_copy;
    MlError err;
    if (task->validate(c, &err) != 0) {
        fprintf(stderr, "madlab %s: %s: %s\n", g_cmd, task->name, err.msg);
        return -1;
    }
    return 0;
}

/* ---- the model ---- */

static int model_opt(int o, const char *arg, ModelOpts *m)
{
    switch (o) {
    case OPT_STACK: m->stack = arg; return 1;
    case OPT_PRESET: m->preset = arg; return 1;
    case OPT_WIDTH: return get_int("--width", arg, 8, 4096, &m->width) ? -1 : 1;
    case OPT_NORM: m->norm = arg; return 1;
    default: return 0;
    }
}

void options_start(void)
{
    optind = 1;
    opterr = 0; /* option_unknown says it, once */
}

int next_option(int argc, char **argv, const struct option *opts, TaskOpts *t, ModelOpts *m)
{
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = t ? task_opt(o, optarg, t) : 0;
        if (!r && m) r = model_opt(o, optarg, m);
        if (r < 0) return OPT_BAD;
        if (r == 0) return o;
    }
    return -1;
}

int resolve_model(const ModelOpts *o, StackSpec *stack, int *width, NormKind *norm, char *label,
                  size_t label_n)
{
    MlError err;
    if (o->stack && o->preset) {
        fprintf(stderr, "madlab %s: give --stack or --preset, not both\n", g_cmd);
        return -1;
    }
    *width = 128;
    *norm = NORM_RMS;
    if (o->preset) {
        Preset p;
        if (preset_load(o->preset, &p, &err) != 0) {
            fprintf(stderr, "madlab %s: %s\n", g_cmd, err.msg);
            return -1;
        }
        *width = p.width;
        *norm = p.norm;
        snprintf(label, label_n, "%s", p.stack_text);
    }
    if (o->width) *width = o->width;
    if (o->norm && norm_parse(o->norm, norm) != 0)
        return option_bad("%s: '%s' is not a norm (rmsnorm or layernorm)", "--norm", o->norm);
    const char *text = o->stack ? o->stack : o->preset ? label : NULL;
    if (!text) {
        fprintf(stderr, "madlab %s: no model: give --stack \"LAYERS\" or --preset NAME\n", g_cmd);
        return -1;
    }
    /* Parse again with the final width: the width decides which knob values are valid. A
     * preset's stack was checked at its own width, so an error here comes from --width. */
    char where[128];
    if (o->stack) snprintf(where, sizeof where, "--stack");
    else snprintf(where, sizeof where, "the stack of preset %s at --width %d", o->preset, *width);
    if (stack_parse(text, where, *width, stack, &err) != 0) {
        fprintf(stderr, "madlab %s: %s\n", g_cmd, err.msg);
        return -1;
    }
    /* one limit for every command: what run --result and mad store must fit */
    char canon[ML_STACK_TEXT_MAX];
    if (stack_text_checked(stack, canon, &err) != 0) {
        fprintf(stderr, "madlab %s: %s\n", g_cmd, err.msg);
        return -1;
    }
    /* the text as given, unless it is longer than its stored form (spaces, default knobs) */
    if (o->stack) snprintf(label, label_n, "%s", strlen(o->stack) < label_n ? o->stack : canon);
    return 0;
}

int stdout_check(void)
{
    static int said;
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    if (!said)
        fprintf(stderr, "madlab: cannot write standard output: %s\n",
                errno == ENOSPC ? "disk full" : errno ? strerror(errno) : "write error");
    said = 1;
    return -1;
}

int start_threads(int threads)
{
    if (pool_init(threads) != 0) {
        fprintf(stderr, "madlab %s: could not start %d threads\n", g_cmd, threads);
        return -1;
    }
    return 0;
}

/* ---- stop signals ---- */

void stop_signals_catch(void (*handler)(int), SavedSignals *saved)
{
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, &saved->old_int);
    sigaction(SIGTERM, &sa, &saved->old_term);
}

void stop_signals_restore(const SavedSignals *saved)
{
    sigaction(SIGINT, &saved->old_int, NULL);
    sigaction(SIGTERM, &saved->old_term, NULL);
}
