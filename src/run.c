/* madlab run: train one stack on one task, print a line per epoch and a summary; optionally the
 * epoch log as CSV (--csv) and the run's result file (--result, as madlab mad reads it). */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "options.h"
#include "protocol.h"
#include "fileio.h"

/* Ctrl-C and kill stop between steps, so the epochs done and the CSV are kept. */
static volatile sig_atomic_t g_stop;
static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct {
    CsvOut *csv;
    const char *csv_path;
    int epochs, tty, failed;
    double t0;
    MlError err;
    EpochStats *ep; /* the epochs for --csv, written once the run's status is known */
    int ne;
} RunView;

/* On a terminal: a progress bar with an upper bound of the time left. */
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
        EpochStats *ep = realloc(v->ep, sizeof *ep * (size_t)(v->ne + 1));
        if (!ep) {
            ml_fail(&v->err, "%s: out of memory", v->csv_path);
            v->failed = 1;
            return 1; /* stop: the log could not be kept */
        }
        v->ep = ep;
        v->ep[v->ne] = *s;
        v->ep[v->ne++].model = NULL;
    }
    return 0;
}

/* The result file of madlab mad (see engine/results.c), named by the setting of the full or
 * quick protocol these knobs are, or "custom". */
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
    static const struct option opts[] = {
        MODEL_LONG_OPTS, {"task", required_argument, 0, 't'}, TASK_LONG_OPTS,
        {"epochs", required_argument, 0, 'e'},
        {"batch", required_argument, 0, 'b'}, {"lr", required_argument, 0, 'l'},
        {"wd", required_argument, 0, 'w'},    {"seed", required_argument, 0, 'S'},
        {"threads", required_argument, 0, 'j'}, {"csv", required_argument, 0, 'c'},
        {"result", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    TrainCfg c;
    train_cfg_default(&c);
    ModelOpts mo = {0};
    const char *task_name = NULL, *csv_path = NULL, *result_path = NULL;
    TaskOpts to = {0};
    int threads = 0;
    int o;
    options_start();
    while ((o = next_option(argc, argv, opts, &to, &mo)) != -1) {
        int r = 0;
        switch (o) {
        case OPT_BAD: return 2;
        case 't': task_name = optarg; break;
        case 'e': r = get_int("--epochs", optarg, 1, 100000, &c.epochs); break;
        case 'b': r = get_int("--batch", optarg, 1, 1 << 16, &c.batch); break;
        case 'l': r = get_double("--lr", optarg, 1e-12, 10, &c.lr); break;
        case 'w': r = get_double("--wd", optarg, 0, 10, &c.wd); break;
        case 'S': r = get_u64("--seed", optarg, &c.seed); break;
        case 'j': r = get_int("--threads", optarg, 1, ML_MAX_THREADS, &threads); break;
        case 'c': csv_path = optarg; break;
        case 'R': result_path = optarg; break;
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
    char label[ML_STACK_TEXT_MAX] = "";
    if (resolve_model(&mo, &c.stack, &c.width, &c.norm, label, sizeof label) != 0) return 2;
    if (model_width_check(c.width, task->backbone, &err) != 0) {
        fprintf(stderr, "madlab run: --width: %s for task %s\n", err.msg, task->name);
        return 2;
    }
    /* outputs before the work: a run is not lost to a path that cannot be written */
    if (result_path && atomic_check(result_path, &err) != 0) {
        fprintf(stderr, "madlab run: --result: %s\n", err.msg);
        return 1;
    }
    if (start_threads(threads) != 0) return 1;

    RunView v = {.epochs = c.epochs, .tty = isatty(2), .csv_path = csv_path};
    if (csv_path) {
        if (!(v.csv = csv_out_open(csv_path, &err))) {
            fprintf(stderr, "madlab run: --csv: %s\n", err.msg);
            return 1;
        }
    }
    printf("task %s  vocab %d  seq_len %d  train %d  test %d", task->name, c.task.vocab,
           c.task.seq_len, c.task.n_train, c.task.n_test);
    print_task_knobs(task, &c.task);
    if (task->backbone == BACKBONE_AUTOENCODER) printf("  backbone autoencoder");
    if (task->generate) printf("  corpus %s", c.task.corpus ? c.task.corpus : CORPUS_DEFAULT_PATH);
    printf("\n");
    printf("stack %s  width %d  norm %s  epochs %d  batch %d  lr %g  wd %g  seed %llu  threads %d\n",
           label, c.width, norm_name(c.norm), c.epochs, c.batch, c.lr, c.wd,
           (unsigned long long)c.seed, pool_size());
    fflush(stdout);

    SavedSignals saved;
    stop_signals_catch(on_stop_signal, &saved);
    v.t0 = ml_now();
    TrainHooks h = {.ctx = &v, .on_step = run_on_step, .on_epoch = run_on_epoch, .stop = &g_stop};
    TrainResult res;
    int rc = train_run(&c, &h, &res, &err);
    stop_signals_restore(&saved);
    if (v.tty) fputs("\r\033[K", stderr);

    int status = 0;
    if (v.failed) {
        fprintf(stderr, "madlab run: --csv: %s\n", v.err.msg);
        csv_out_abort(v.csv);
        v.csv = NULL;
        status = 1;
    }
    /* A diverged run with --result is a result (madlab mad counts it), so a job that wrote it
     * succeeded: status 0. Without --result, divergence is a failure. */
    int counted = result_path && res.diverged && !res.interrupted;
    if (rc != 0) {
        fprintf(stderr, "madlab run: %s\n", err.msg);
        if (!counted) status = 1;
    }
    if (v.csv) {
        /* every row carries the run's status, known only now */
        char stack[1100]; /* named as the lab names it: the width when not the default */
        if (c.width != 128) snprintf(stack, sizeof stack, "%s @%d", label, c.width);
        else snprintf(stack, sizeof stack, "%s", label);
        RunCsvMeta meta = {.id = 1, .stack = stack, .train = &c,
                           .status = res.diverged ? "diverged" : res.interrupted ? "stopped"
                                     : rc != 0 ? "failed" : "done"};
        epoch_csv_header(v.csv);
        for (int e = 0; e < v.ne; e++) epoch_csv_row(v.csv, &meta, &v.ep[e]);
    }
    free(v.ep);
    if (v.csv && csv_out_commit(v.csv, &err) != 0) {
        fprintf(stderr, "madlab run: --csv: %s\n", err.msg);
        status = 1;
    }
    const char *why = res.diverged ? "diverged" : res.interrupted ? "interrupted"
                      : res.stopped_early ? "reached_stop_acc" : "max_epochs";
    if (res.epochs_run > 0 || rc == 0) {
        printf("summary task=%s best_test_acc=%.4f best_test_acc_micro=%.4f best_epoch=%d "
               "best_test_ppl=%.4f max_test_acc=%.4f epochs=%d final_test_loss=%.4f seconds=%.1f "
               "stop=%s",
               task->name, res.best_test_acc, res.best_test_acc_micro, res.best_epoch,
               res.best_test_ppl, res.max_test_acc, res.epochs_run, res.final_test_loss,
               res.seconds, why);
        /* language modelling: the best epoch's validation loss (nats per byte) in bits per byte
         * and as a perplexity */
        if (task->generate && res.epochs_run > 0)
            printf(" bits_per_byte=%.4f perplexity=%.4f", res.best_test_loss / log(2.0),
                   exp(res.best_test_loss));
        printf("\n");
    }
    if (!status && res.interrupted && g_stop) status = 130;
    /* --result: only a finished (or diverged) run leaves one; an interrupted run has none. */
    if (result_path && !res.interrupted && (rc == 0 || res.diverged)) {
        if (write_run_result(result_path, &c, &res) != 0) status = 1;
        else if (res.diverged)
            fprintf(stderr, "madlab run: --result: wrote the diverged run's result (best test "
                            "accuracy %.4f before the loss diverged), which madlab mad counts; "
                            "exit status 0\n", res.best_test_acc);
    }
    pool_shutdown();
    return status;
}
