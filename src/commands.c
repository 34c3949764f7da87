/* madlab run, layers and bench: the engine from the shell. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "madlab.h"
#include "lab.h"
#include "ui.h"

void usage(FILE *to)
{
    fputs("usage: madlab [COMMAND] [OPTIONS]\n"
          "\n"
          "Train small sequence models on the MAD synthetic tasks, on the CPU.\n"
          "\n"
          "commands:\n"
          "  (none)   open the lab: compose stacks, train them live, compare (needs a terminal)\n"
          "  lab      the same, with options: madlab [lab] [--demo] [--threads N]\n"
          "  keys     list the lab's keys\n"
          "  run      train one stack on one task:\n"
          "           madlab run --stack \"LAYERS\" | --preset NAME|FILE  --task NAME\n"
          "             [--vocab N --seq-len N --train N --test N] [--width N --norm rmsnorm|layernorm]\n"
          "             [--frac-noise X --noise-vocab N --k-motif N --v-motif N --n-copy N]\n"
          "             [--epochs N --batch N --lr X --wd X --seed N --threads N --csv FILE]\n"
          "             [--result FILE]   (the run's result file, as madlab mad reads it)\n"
          "             [--corpus FILE]   (the text task's corpus)\n"
          "  mad      the MAD protocol: every task setting x (lr, wd), then the MAD score:\n"
          "           madlab mad --stack \"LAYERS\" | --preset NAME  --out DIR\n"
          "             [--protocol full|quick] [--width N --norm X --threads N] [--emit-jobs]\n"
          "           madlab mad --collect DIR   (score what has finished, list what is missing)\n"
          "  scale    scaling laws: IsoFLOP ladders of a stack trained on text, then fits:\n"
          "           madlab scale --stack \"LAYERS\" | --preset NAME  --out DIR\n"
          "             [--protocol quick|full] [--budgets 1e12,3e12,...] [--sizes N]\n"
          "             [--corpus FILE] [--repeat N --width N --norm X --threads N] [--emit-jobs]\n"
          "           madlab scale --stack ... | --preset NAME --plan   (print the ladder)\n"
          "           madlab scale --collect DIR   (fit what has finished)\n"
          "           madlab scale --compare DIR [--mad MADDIR] DIR [--mad MADDIR]... [--csv FILE]\n"
          "  tasks    the six MAD tasks and the text task, their knobs and defaults\n"
          "  sample   print generated sequences: madlab sample --task NAME [task options]\n"
          "             [--n N --seed N --test --color auto|always|never]\n"
          "             (--test: the test form, as scored; task options as for run, but no --test N)\n"
          "  layers   table of layer kinds: madlab layers [--width N --seq-len N]\n"
          "  bench    time training steps: madlab bench --stack \"LAYERS\" | --preset NAME\n"
          "             [--batch N --seq-len N --steps N --warmup N --threads N --width N --vocab N]\n"
          "             [--task NAME [--corpus FILE]]   (batches of that task's data)\n"
          "\n"
          "  --help, --version\n"
          "\n"
          "See madlab(1) for details and madlab(5) for the preset format.\n",
          to);
}

/* ---- option values: whole strings only, with ranges, errors naming the option ---- */

const char *g_cmd = "madlab";

/* The two ways a command line goes wrong after getopt_long, said the same way by every command. */
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

static int bad(const char *fmt, const char *opt, const char *val)
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
    if (!*s || *end || errno) return bad("%s: '%s' is not a whole number", opt, s);
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
    if (!*s || *end || errno || !isfinite(v)) return bad("%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi) {
        fprintf(stderr, "madlab %s: %s: %g is out of range (%g to %g)\n", g_cmd, opt, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-') return bad("%s: '%s' is not a whole number", opt, s);
    *out = v;
    return 0;
}

/* ---- task options shared by run and sample: a knob given on the command line replaces the
 * task's default; one the task does not read is refused ---- */

enum { OPT_FRAC_NOISE = 1000, OPT_NOISE_VOCAB, OPT_K_MOTIF, OPT_V_MOTIF, OPT_N_COPY, OPT_CORPUS };

/* sample uses --test as a flag (show the test form), so --test N is listed apart. */
#define TASK_LONG_OPTS TASK_LONG_OPTS_BUT_TEST, {"test", required_argument, 0, 'T'}
#define TASK_LONG_OPTS_BUT_TEST                                                          \
    {"vocab", required_argument, 0, 'V'}, {"seq-len", required_argument, 0, 'L'},        \
    {"train", required_argument, 0, 'N'},                                               \
    {"frac-noise", required_argument, 0, OPT_FRAC_NOISE},                               \
    {"noise-vocab", required_argument, 0, OPT_NOISE_VOCAB},                             \
    {"k-motif", required_argument, 0, OPT_K_MOTIF},                                     \
    {"v-motif", required_argument, 0, OPT_V_MOTIF},                                     \
    {"n-copy", required_argument, 0, OPT_N_COPY},                                       \
    {"corpus", required_argument, 0, OPT_CORPUS}

typedef struct {
    int vocab, seq_len, n_train, n_test, noise_vocab, k_motif, v_motif, n_copy;
    double frac_noise;
    const char *corpus; /* --corpus FILE (the text task) */
    unsigned given; /* TASK_KNOB_* bits of the knob options given */
} TaskOpts;

/* 1 if o is a task option (parsed into t, or -1 on a bad value), 0 if not. */
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
    case OPT_CORPUS:
        t->corpus = arg;
        r = 0;
        break;
    default: return 0;
    }
    return r ? -1 : 1;
}

static const struct {
    unsigned bit;
    const char *opt;
} knob_opts[] = {{TASK_KNOB_FRAC_NOISE, "--frac-noise"}, {TASK_KNOB_NOISE_VOCAB, "--noise-vocab"},
                 {TASK_KNOB_K_MOTIF, "--k-motif"},       {TASK_KNOB_V_MOTIF, "--v-motif"},
                 {TASK_KNOB_N_COPY, "--n-copy"}};

/* "--frac-noise 0.2 --noise-vocab 16": the task's own knobs with their defaults. */
static void knob_defaults(const TaskKind *t, char *buf, size_t n)
{
    const TaskCfg *d = &t->defaults;
    size_t u = (size_t)snprintf(buf, n, "--vocab %d --seq-len %d --train %d --test %d", d->vocab,
                                d->seq_len, d->n_train, d->n_test);
    for (size_t i = 0; i < sizeof knob_opts / sizeof *knob_opts && u < n; i++) {
        if (!(t->knobs & knob_opts[i].bit)) continue;
        unsigned b = knob_opts[i].bit;
        if (b == TASK_KNOB_FRAC_NOISE) u += (size_t)snprintf(buf + u, n - u, " %s %g", knob_opts[i].opt, d->frac_noise);
        else
            u += (size_t)snprintf(buf + u, n - u, " %s %d", knob_opts[i].opt,
                                  b == TASK_KNOB_NOISE_VOCAB ? d->noise_vocab
                                  : b == TASK_KNOB_K_MOTIF   ? d->k_motif
                                  : b == TASK_KNOB_V_MOTIF   ? d->v_motif
                                                             : d->n_copy);
    }
}

static const TaskKind *find_task_or_say(const char *name)
{
    const TaskKind *task = name ? task_find(name) : NULL;
    if (task) return task;
    if (name) fprintf(stderr, "madlab %s: unknown task '%s' (tasks:", g_cmd, name);
    else fprintf(stderr, "madlab %s: no task: give --task NAME (tasks:", g_cmd);
    for (const TaskKind *const *t = task_all; *t; t++) fprintf(stderr, " %s", (*t)->name);
    fprintf(stderr, ")\n");
    return NULL;
}

/* The task's defaults, then the options given; validated. */
static int task_cfg_from_opts(const TaskKind *task, const TaskOpts *o, TaskCfg *c)
{
    unsigned stray = o->given & ~task->knobs;
    for (size_t i = 0; i < sizeof knob_opts / sizeof *knob_opts; i++)
        if (stray & knob_opts[i].bit) {
            char d[256];
            knob_defaults(task, d, sizeof d);
            fprintf(stderr, "madlab %s: %s does not apply to %s (its options: %s)\n", g_cmd,
                    knob_opts[i].opt, task->name, d);
            return -1;
        }
    if (o->corpus && !task->generate) {
        fprintf(stderr, "madlab %s: --corpus applies to the text task only, not %s\n", g_cmd,
                task->name);
        return -1;
    }
    *c = task->defaults;
    c->corpus = o->corpus;
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

/* ---- the model options shared by run, bench and mad ---- */

/* Resolves --stack / --preset / --width / --norm into a stack, a width and a norm. */
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
    if (o->norm) {
        if (!strcmp(o->norm, "rmsnorm")) *norm = NORM_RMS;
        else if (!strcmp(o->norm, "layernorm")) *norm = NORM_LAYER;
        else return bad("%s: '%s' is not a norm (rmsnorm or layernorm)", "--norm", o->norm);
    }
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
    if (o->stack) snprintf(label, label_n, "%s", o->stack);
    return 0;
}

int start_threads(int threads)
{
    if (pool_init(threads) != 0) {
        fprintf(stderr, "madlab %s: could not start %d threads\n", g_cmd, threads);
        return -1;
    }
    return 0;
}

/* ---- run ---- */

static volatile int g_stop;
static void on_stop_signal(int sig) { g_stop = 1; }

typedef struct {
    CsvOut *csv;
    const char *csv_path;
    int epochs, tty, failed;
    double t0;
    MlError err;
} RunView;

static void run_on_step(void *ctx, int epoch, int step, int steps, double loss)
{
    RunView *v = ctx;
    if (!v->tty) return;
    double done = (double)(epoch - 1) * steps + step, total = (double)v->epochs * steps;
    double el = ml_now() - v->t0;
    char eta[32];
    format_duration(el / done * (total - done), eta, sizeof eta);
    int width = 24, fill = (int)(width * step / steps);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] epoch %d/%d step %d/%d loss %.4f  ETA %s (at most)   ", bar, epoch,
            v->epochs, step, steps, loss, eta);
    fflush(stderr);
}

static int run_on_epoch(void *ctx, const EpochStats *s)
{
    RunView *v = ctx;
    if (v->tty) fputs("\r\033[K", stderr);
    printf("epoch %3d  train_loss %.4f  test_loss %.4f  train_acc %.4f  test_acc %.4f  "
           "test_acc_micro %.4f  lr %.2e  %.1fs  %.0f tok/s\n",
           s->epoch, s->train_loss, s->test_loss, s->train_acc, s->test_acc, s->test_acc_micro,
           s->lr, s->seconds, s->tokens_per_s);
    /* Per-layer statistics of the last forward pass (the test set's last batch), e.g. how the
     * routers of mixtures of experts spread tokens. */
    for (int i = 0; s->model && i < model_n_blocks(s->model); i++) {
        const Layer *l = model_block(s->model, i);
        char line[512];
        if (l->kind->report && l->kind->report(l, line, sizeof line) > 0)
            printf("           layer %d %s: %s\n", i + 1, l->kind->name, line);
    }
    fflush(stdout);
    if (v->csv) {
        epoch_csv_row(v->csv, s);
        if (csv_out_flush(v->csv, &v->err) != 0) {
            v->failed = 1;
            return 1; /* stop: the log can no longer be written */
        }
    }
    return 0;
}

/* The result file of madlab mad (see protocol.c), named by the setting of the full or quick
 * protocol these knobs are, or "custom". */
static int write_run_result(const char *path, const TrainCfg *c, const TrainResult *res)
{
    const char *setting = "custom";
    for (const char *const *n = protocol_names; *n; n++) {
        const ProtoSetting *s = protocol_match(protocol_find(*n), c->task_name, &c->task);
        if (s) {
            setting = s->name;
            break;
        }
    }
    RunResult r;
    MlError err;
    run_result_fill(&r, c, res, setting);
    if (run_result_write(path, &r, &err) != 0) {
        fprintf(stderr, "madlab run: --result: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int cmd_run(int argc, char **argv)
{
    g_cmd = "run";
    static const struct option opts[] = {
        {"stack", required_argument, 0, 's'}, {"preset", required_argument, 0, 'p'},
        {"task", required_argument, 0, 't'},  TASK_LONG_OPTS,
        {"epochs", required_argument, 0, 'e'},
        {"batch", required_argument, 0, 'b'}, {"lr", required_argument, 0, 'l'},
        {"wd", required_argument, 0, 'w'},    {"seed", required_argument, 0, 'S'},
        {"threads", required_argument, 0, 'j'}, {"csv", required_argument, 0, 'c'},
        {"width", required_argument, 0, 'W'}, {"norm", required_argument, 0, 'n'},
        {"result", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    TrainCfg c;
    train_cfg_default(&c);
    ModelOpts mo = {0};
    const char *task_name = NULL, *csv_path = NULL, *result_path = NULL;
    TaskOpts to = {0};
    int threads = 0;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = task_opt(o, optarg, &to);
        if (r) {
            if (r < 0) return 2;
            continue;
        }
        switch (o) {
        case 's': mo.stack = optarg; break;
        case 'p': mo.preset = optarg; break;
        case 't': task_name = optarg; break;
        case 'e': r = get_int("--epochs", optarg, 1, 100000, &c.epochs); break;
        case 'b': r = get_int("--batch", optarg, 1, 1 << 16, &c.batch); break;
        case 'l': r = get_double("--lr", optarg, 1e-12, 10, &c.lr); break;
        case 'w': r = get_double("--wd", optarg, 0, 10, &c.wd); break;
        case 'S': r = get_u64("--seed", optarg, &c.seed); break;
        case 'j': r = get_int("--threads", optarg, 1, ML_MAX_THREADS, &threads); break;
        case 'c': csv_path = optarg; break;
        case 'R': result_path = optarg; break;
        case 'W': r = get_int("--width", optarg, 8, 4096, &mo.width); break;
        case 'n': mo.norm = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    const TaskKind *task = find_task_or_say(task_name);
    if (!task) return 2;
    c.task_name = task->name;
    if (task_cfg_from_opts(task, &to, &c.task) != 0) return 2;
    MlError err;
    char label[1024] = "";
    if (resolve_model(&mo, &c.stack, &c.width, &c.norm, label, sizeof label) != 0) return 2;
    if (start_threads(threads) != 0) return 1;

    RunView v = {.epochs = c.epochs, .tty = isatty(2), .csv_path = csv_path};
    if (csv_path) {
        if (!(v.csv = csv_out_open(csv_path, &err))) {
            fprintf(stderr, "madlab run: --csv: %s\n", err.msg);
            return 1;
        }
        epoch_csv_header(v.csv);
    }
    printf("task %s  vocab %d  seq_len %d  train %d  test %d", task->name, c.task.vocab,
           c.task.seq_len, c.task.n_train, c.task.n_test);
    if (task->knobs & TASK_KNOB_FRAC_NOISE) printf("  frac_noise %g", c.task.frac_noise);
    if (task->knobs & TASK_KNOB_NOISE_VOCAB) printf("  noise_vocab %d", c.task.noise_vocab);
    if (task->knobs & TASK_KNOB_K_MOTIF) printf("  k_motif %d", c.task.k_motif);
    if (task->knobs & TASK_KNOB_V_MOTIF) printf("  v_motif %d", c.task.v_motif);
    if (task->knobs & TASK_KNOB_N_COPY) printf("  n_copy %d", c.task.n_copy);
    if (task->backbone == BACKBONE_AUTOENCODER) printf("  backbone autoencoder");
    if (task->generate) printf("  corpus %s", c.task.corpus ? c.task.corpus : CORPUS_DEFAULT_PATH);
    printf("\n");
    printf("stack %s  width %d  norm %s  epochs %d  batch %d  lr %g  wd %g  seed %llu  threads %d\n",
           label, c.width, c.norm == NORM_LAYER ? "layernorm" : "rmsnorm", c.epochs, c.batch, c.lr,
           c.wd, (unsigned long long)c.seed, pool_size());
    fflush(stdout);

    /* Ctrl-C and kill stop between steps, so the epochs done and the CSV are kept. */
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    v.t0 = ml_now();
    TrainHooks h = {.ctx = &v, .on_step = run_on_step, .on_epoch = run_on_epoch, .stop = &g_stop};
    TrainResult res;
    int rc = train_run(&c, &h, &res, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (v.tty) fputs("\r\033[K", stderr);

    int status = 0;
    if (v.failed) {
        fprintf(stderr, "madlab run: --csv: %s\n", v.err.msg);
        csv_out_abort(v.csv);
        v.csv = NULL;
        status = 1;
    }
    if (rc != 0) {
        fprintf(stderr, "madlab run: %s\n", err.msg);
        status = 1;
    }
    if (v.csv && csv_out_commit(v.csv, &err) != 0) {
        fprintf(stderr, "madlab run: --csv: %s\n", err.msg);
        status = 1;
    }
    const char *why = res.diverged ? "diverged" : res.interrupted ? "interrupted"
                      : res.stopped_early ? "reached_stop_acc" : "max_epochs";
    if (res.epochs_run > 0 || rc == 0) {
        printf("summary task=%s best_test_acc=%.4f best_test_acc_micro=%.4f best_epoch=%d "
               "max_test_acc=%.4f epochs=%d final_test_loss=%.4f seconds=%.1f stop=%s",
               task->name, res.best_test_acc, res.best_test_acc_micro, res.best_epoch,
               res.max_test_acc, res.epochs_run, res.final_test_loss, res.seconds, why);
        /* language modelling: the best epoch's validation loss (nats per byte) in bits per byte
         * and as a perplexity */
        if (task->generate && res.epochs_run > 0)
            printf(" bits_per_byte=%.4f perplexity=%.4f", res.best_test_loss / log(2.0),
                   exp(res.best_test_loss));
        printf("\n");
    }
    if (!status && res.interrupted && g_stop) status = 130;
    /* --result: only a finished (or diverged) run leaves one; an interrupted run has none. */
    if (result_path && !res.interrupted && (rc == 0 || res.diverged) &&
        write_run_result(result_path, &c, &res) != 0)
        status = 1;
    pool_shutdown();
    return status;
}

/* madlab [lab] [--demo] [--threads N]: the interactive lab (ui/lab.c). */
int cmd_lab(int argc, char **argv)
{
    g_cmd = "lab";
    int demo = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "lab") && i == 1) continue;
        if (!strcmp(argv[i], "--demo")) demo = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (get_int("--threads", argv[++i], 1, ML_MAX_THREADS, &threads)) return 2;
        } else {
            fprintf(stderr, "madlab: unknown lab option '%s' (the lab takes --demo and --threads N)\n",
                    argv[i]);
            return 2;
        }
    }
    return lab_main(demo, threads);
}

/* madlab keys: the lab's keys, from the table that dispatches them. */
int cmd_keys(void)
{
    size_t n = keys_help(NULL, 0) + 1;
    char *buf = malloc(n);
    if (!buf) return 1;
    keys_help(buf, n);
    fputs(buf, stdout);
    free(buf);
    return 0;
}

/* ---- layers ---- */

static void human(char *buf, size_t n, double v)
{
    if (v >= 1e9) snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e4) snprintf(buf, n, "%.1fk", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

int cmd_layers(int argc, char **argv)
{
    g_cmd = "layers";
    static const struct option opts[] = {{"width", required_argument, 0, 'W'},
                                         {"seq-len", required_argument, 0, 'L'},
                                         {"vocab", required_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int width = 128, L = 128, vocab = 16, o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case 'W': r = get_int("--width", optarg, 8, 4096, &width); break;
        case 'L': r = get_int("--seq-len", optarg, 1, 1 << 16, &L); break;
        case 'V': r = get_int("--vocab", optarg, 2, 1 << 20, &vocab); break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    printf("layer kinds at width %d, sequence length %d (vocab %d for embedding and head)\n\n",
           width, L, vocab);
    printf("%-26s %-9s %10s %12s %12s  %s\n", "kind", "role", "params", "state", "flops/token",
           "knobs");
    for (const LayerKind *const *k = layer_kinds; *k; k++) {
        LayerCfg cfg;
        layer_cfg_default(*k, width, vocab, L, &cfg);
        char p[32], s[32], f[32], knobs[128] = "";
        human(p, sizeof p, (double)(*k)->n_params(&cfg));
        human(s, sizeof s, (*k)->state_size(&cfg, L));
        human(f, sizeof f, (*k)->flops(&cfg, L) / L);
        for (int i = 0; i < (*k)->n_knobs; i++) {
            size_t used = strlen(knobs);
            snprintf(knobs + used, sizeof knobs - used, "%s%s=%d", i ? "," : "", (*k)->knobs[i].name,
                     cfg.knob[i]);
        }
        printf("%-26s %-9s %10s %12s %12s  %s\n", (*k)->name, role_name((*k)->role), p, s, f, knobs);
    }
    printf("\nstate: floats of inference state per layer at length %d\n", L);
    for (const LayerKind *const *k = layer_kinds; *k; k++)
        if ((*k)->role == ROLE_SEQUENCE || (*k)->role == ROLE_CHANNEL)
            printf("  %-20s %s\n", (*k)->name, (*k)->state_formula);
    printf("\n");
    for (const LayerKind *const *k = layer_kinds; *k; k++)
        printf("  %-20s %s\n", (*k)->name, (*k)->summary);
    return 0;
}

/* ---- bench ---- */

int cmd_bench(int argc, char **argv)
{
    g_cmd = "bench";
    static const struct option opts[] = {
        {"stack", required_argument, 0, 's'},   {"preset", required_argument, 0, 'p'},
        {"batch", required_argument, 0, 'b'},   {"seq-len", required_argument, 0, 'L'},
        {"steps", required_argument, 0, 'n'},   {"warmup", required_argument, 0, 'u'},
        {"threads", required_argument, 0, 'j'}, {"width", required_argument, 0, 'W'},
        {"vocab", required_argument, 0, 'V'},   {"norm", required_argument, 0, 'N'},
        {"task", required_argument, 0, 't'},    {"corpus", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    BenchCfg c = {.batch = 128, .seq_len = 128, .steps = 10, .warmup = 2, .vocab = 16};
    ModelOpts mo = {0};
    const char *task_name = NULL, *corpus = NULL;
    int threads = 0, o, vocab_given = 0;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case 's': mo.stack = optarg; break;
        case 'p': mo.preset = optarg; break;
        case 'b': r = get_int("--batch", optarg, 1, 1 << 16, &c.batch); break;
        case 'L': r = get_int("--seq-len", optarg, 2, 1 << 16, &c.seq_len); break;
        case 'n': r = get_int("--steps", optarg, 1, 100000, &c.steps); break;
        case 'u': r = get_int("--warmup", optarg, 0, 100000, &c.warmup); break;
        case 'j': r = get_int("--threads", optarg, 1, ML_MAX_THREADS, &threads); break;
        case 'W': r = get_int("--width", optarg, 8, 4096, &mo.width); break;
        case 'V': r = get_int("--vocab", optarg, 2, 1 << 20, &c.vocab), vocab_given = 1; break;
        case 'N': mo.norm = optarg; break;
        case 't': task_name = optarg; break;
        case 'C': corpus = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    if (task_name) { /* batches of a task's data, at its vocab */
        if (!(c.task = find_task_or_say(task_name))) return 2;
        TaskOpts to = {.seq_len = c.seq_len, .vocab = vocab_given ? c.vocab : 0, .corpus = corpus};
        if (task_cfg_from_opts(c.task, &to, &c.task_cfg) != 0) return 2;
        c.vocab = c.task_cfg.vocab;
    } else if (corpus) {
        fprintf(stderr, "madlab bench: --corpus needs --task text\n");
        return 2;
    }
    char label[1024] = "";
    if (resolve_model(&mo, &c.stack, &c.width, &c.norm, label, sizeof label) != 0) return 2;
    if (start_threads(threads) != 0) return 1;
    printf("bench stack %s  width %d  batch %d  seq_len %d  steps %d (+%d warm-up)  threads %d",
           label, c.width, c.batch, c.seq_len, c.steps, c.warmup, pool_size());
    if (c.task) printf("  task %s  vocab %d", c.task->name, c.vocab);
    printf("\n");
    fflush(stdout);
    BenchResult r;
    MlError err;
    if (bench_run(&c, &r, &err) != 0) {
        fprintf(stderr, "madlab bench: %s\n", err.msg);
        pool_shutdown();
        return 1;
    }
    printf("ms_per_step=%.1f tokens_per_s=%.0f gflops=%.2f peak_gflops=%.2f mfu=%.3f "
           "gflop_per_step=%.2f threads=%d\n",
           r.ms_per_step, r.tokens_per_s, r.gflops, r.peak_gflops, r.mfu, r.flops_per_step / 1e9,
           pool_size());
    pool_shutdown();
    return 0;
}

/* ---- tasks ---- */

int cmd_tasks(int argc, char **argv)
{
    g_cmd = "tasks";
    if (argc > 1) {
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "madlab tasks: unexpected argument '%s' (tasks takes no options)\n", argv[1]);
        return 2;
    }
    printf("MAD synthetic tasks, then language modelling (madlab run --task NAME; options override "
           "the defaults shown)\n");
    for (const TaskKind *const *t = task_all; *t; t++) {
        char d[256];
        knob_defaults(*t, d, sizeof d);
        printf("\n%-24s %s\n", (*t)->name, (*t)->summary);
        printf("  %-22s %s\n", "defaults:", d);
        printf("  %-22s %s, model input %d tokens%s\n", "shorthand, length:", (*t)->shorthand,
               (*t)->seq_len_out(&(*t)->defaults),
               (*t)->backbone == BACKBONE_AUTOENCODER ? ", trains the autoencoder backbone" : "");
    }
    printf("\ntext reads --corpus FILE, by default %s (Debian package %s).\n",
           CORPUS_DEFAULT_PATH, CORPUS_DEFAULT_PACKAGE);
    printf("madlab sample --task NAME shows generated sequences with their scored positions.\n");
    return 0;
}

/* ---- sample ---- */

static const char *const class_mark[TOK_N_CLASSES] = {"k", "v", "~", "#", "_", "?"};
/* ANSI colours: key blue, value green, noise grey, special magenta, filler dim, other red */
static const char *const class_colour[TOK_N_CLASSES] = {"\033[1;34m", "\033[32m", "\033[90m",
                                                        "\033[35m", "\033[2m", "\033[31m"};

/* "key 0-7, value 8-15, noise 16-31": runs of equal class over the vocabulary. */
static void print_layout(const TaskKind *t, const TaskCfg *c)
{
    printf("vocabulary:");
    int start = 0;
    for (int tok = 1; tok <= c->vocab; tok++) {
        TokenClass k = task_token_class(t, c, start);
        if (tok < c->vocab && task_token_class(t, c, tok) == k) continue;
        if (start == tok - 1) printf(" %s %d", token_class_name(k), start);
        else printf(" %s %d-%d", token_class_name(k), start, tok - 1);
        printf(tok < c->vocab ? "," : "\n");
        start = tok;
    }
}

static void print_sequence(const TaskKind *t, const TaskCfg *c, const int32_t *in,
                           const int32_t *tg, int len, int colour)
{
    const int wrap = 96;
    int col = 0;
    char cell[64];
    for (int p = 0; p < len; p++) {
        TokenClass k = task_token_class(t, c, in[p]);
        int n;
        if (tg[p] != ML_IGNORE) n = snprintf(cell, sizeof cell, "%s%d[=%d]", class_mark[k], in[p], tg[p]);
        else n = snprintf(cell, sizeof cell, "%s%d", class_mark[k], in[p]);
        if (col == 0 || col + 1 + n > wrap) {
            if (col) putchar('\n');
            col = printf("  %4d:", p);
        }
        putchar(' ');
        if (colour) {
            printf("%s%s%d\033[0m", class_colour[k], class_mark[k], in[p]);
            if (tg[p] != ML_IGNORE) printf("\033[1;33m[=%d]\033[0m", tg[p]);
        } else {
            fputs(cell, stdout);
        }
        col += 1 + n;
    }
    putchar('\n');
}

int cmd_sample(int argc, char **argv)
{
    g_cmd = "sample";
    static const struct option opts[] = {
        {"task", required_argument, 0, 't'}, TASK_LONG_OPTS_BUT_TEST,
        {"n", required_argument, 0, 'n'},    {"seed", required_argument, 0, 'S'},
        {"test", no_argument, 0, 'f'},       {"test-form", no_argument, 0, 'f'},  {"color", required_argument, 0, 'c'},
        {"colour", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    TaskOpts to = {0};
    const char *task_name = NULL, *when = "auto";
    int n = 3, test_form = 0, o;
    uint64_t seed = 12345;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = task_opt(o, optarg, &to);
        if (r) {
            if (r < 0) return 2;
            continue;
        }
        switch (o) {
        case 't': task_name = optarg; break;
        case 'n': r = get_int("--n", optarg, 1, 1000, &n); break;
        case 'S': r = get_u64("--seed", optarg, &seed); break;
        case 'f': test_form = 1; break;
        case 'c': when = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    int colour;
    if (!strcmp(when, "always")) colour = 1;
    else if (!strcmp(when, "never")) colour = 0;
    else if (!strcmp(when, "auto")) colour = isatty(1) && !getenv("NO_COLOR");
    else {
        bad("%s: '%s' is not auto, always or never", "--color", when);
        return 2;
    }
    const TaskKind *task = find_task_or_say(task_name);
    if (!task) return 2;
    TaskCfg c;
    if (task_cfg_from_opts(task, &to, &c) != 0) return 2;
    /* The same sequences a run with this seed trains and tests on: the test set follows the whole
     * training set in the stream, so --test generates that first. */
    if (test_form) c.n_test = n;
    else c.n_train = n, c.n_test = 1;
    Dataset tr, te;
    MlError err;
    if (task_generate(task, &c, seed, &tr, &te, &err) != 0) {
        fprintf(stderr, "madlab sample: %s\n", err.msg);
        return 1;
    }
    const Dataset *d = test_form ? &te : &tr;
    printf("task %s  vocab %d  seq_len %d", task->name, c.vocab, c.seq_len);
    if (task->knobs & TASK_KNOB_FRAC_NOISE) printf("  frac_noise %g", c.frac_noise);
    if (task->knobs & TASK_KNOB_NOISE_VOCAB) printf("  noise_vocab %d", c.noise_vocab);
    if (task->knobs & TASK_KNOB_K_MOTIF) printf("  k_motif %d", c.k_motif);
    if (task->knobs & TASK_KNOB_V_MOTIF) printf("  v_motif %d", c.v_motif);
    if (task->knobs & TASK_KNOB_N_COPY) printf("  n_copy %d", c.n_copy);
    printf("  seed %llu\n", (unsigned long long)seed);
    print_layout(task, &c);
    printf("%s form: the first %d of %d %s sequences, %d input tokens each\n",
           test_form ? "test" : "training", n, test_form ? c.n_test : c.n_train,
           test_form ? "test" : "training", d->len);
    printf("legend: kN key  vN value  ~N noise  #N special  _N padding/blank  ?N other;\n"
           "        N[=T]: a scored position, where the model must predict T\n");
    int32_t *in = malloc(sizeof(int32_t) * 2 * (size_t)d->len), *tg = in + d->len;
    for (int s = 0; in && s < d->n; s++) {
        dataset_row(d, s, in, tg); /* the text task's training set is a view of its corpus */
        int scored = 0;
        for (int p = 0; p < d->len; p++) scored += tg[p] != ML_IGNORE;
        printf("\nsequence %d (%d scored)\n", s + 1, scored);
        print_sequence(task, &c, in, tg, d->len, colour);
    }
    free(in);
    dataset_free(&tr);
    dataset_free(&te);
    return 0;
}
