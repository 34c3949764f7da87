/* madlab mad: the MAD protocol from the shell. Runs every (setting, lr, wd) run of a protocol,
 * one after another in this process, writing each run's result file into DIR as it ends; a
 * second call with the same DIR resumes. --emit-jobs prints the runs still to do as shell
 * commands for GNU parallel or a Slurm array instead, and --collect scores whatever is there. */
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
#include "options.h"
#include "protocol.h"
#include "fileio.h"

static volatile sig_atomic_t g_mad_stop;
/* The first Ctrl-C stops between steps; a second one leaves at once (a half-written result is
 * only ever a temporary file, which is never read). */
static void on_mad_signal(int sig)
{
    (void)sig;
    if (g_mad_stop) _exit(130);
    g_mad_stop = 1;
}

static void warn_line(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "madlab mad: %s; it counts as not done and will be run again\n", msg);
}

static void print_table(const ProtoScan *s, FILE *to)
{
    fprintf(to, "%-26s %8s  %s\n", "task", "score", "settings");
    int scored = 0, all = 0;
    for (int t = 0; t < s->n_tasks; t++) {
        const ProtoTaskScore *ts = &s->task[t];
        if (ts->score >= 0) fprintf(to, "%-26s %8.4f  %d/%d\n", ts->task, ts->score, ts->settings_scored, ts->n_settings);
        else fprintf(to, "%-26s %8s  %d/%d\n", ts->task, "-", ts->settings_scored, ts->n_settings);
        scored += ts->settings_scored;
        all += ts->n_settings;
    }
    if (s->mad >= 0) fprintf(to, "%-26s %8.4f  %d/%d\n", "mad", s->mad, scored, all);
    else fprintf(to, "%-26s %8s  %d/%d\n", "mad", "-", scored, all);
}

/* ---- --emit-jobs ---- */


/* The shortest %g form that reads back as the same double. */
static void exact_num(char *buf, size_t n, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void emit_job(FILE *to, const char *exe, const char *dir, const Protocol *p, int i,
                     const char *stack, int width, NormKind norm, int threads)
{
    int si;
    double lr, wd;
    protocol_run_at(p, i, &si, &lr, &wd);
    const ProtoSetting *s = &p->settings[si];
    const TaskKind *tk = task_find(s->task);
    const TaskCfg *c = &s->cfg;
    char id[256], num[64];
    protocol_run_id(s, lr, wd, id, sizeof id);
    sh_word(to, exe);
    fprintf(to, " run --task %s --vocab %d --seq-len %d --train %d --test %d", s->task, c->vocab,
            c->seq_len, c->n_train, c->n_test);
    /* Every knob the task reads, explicitly; madlab run refuses the others, which stay at the
     * task's defaults (the protocol's values too: check_protocol checks that). A task this
     * build does not know gets them all. */
    unsigned k = tk ? tk->knobs : ~0u;
    if (k & TASK_KNOB_FRAC_NOISE) {
        exact_num(num, sizeof num, c->frac_noise);
        fprintf(to, " --frac-noise %s", num);
    }
    if (k & TASK_KNOB_NOISE_VOCAB) fprintf(to, " --noise-vocab %d", c->noise_vocab);
    if (k & TASK_KNOB_K_MOTIF) fprintf(to, " --k-motif %d", c->k_motif);
    if (k & TASK_KNOB_V_MOTIF) fprintf(to, " --v-motif %d", c->v_motif);
    if (k & TASK_KNOB_N_COPY) fprintf(to, " --n-copy %d", c->n_copy);
    fputs(" --stack ", to);
    sh_word(to, stack);
    fprintf(to, " --width %d --norm %s --epochs %d --batch %d", width,
            norm_name(norm), p->epochs, p->batch);
    exact_num(num, sizeof num, lr);
    fprintf(to, " --lr %s", num);
    exact_num(num, sizeof num, wd);
    fprintf(to, " --wd %s --seed %llu --threads %d --result ", num, (unsigned long long)p->seed,
            threads);
    char path[PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/%s.result", dir, id);
    sh_word(to, path);
    fputc('\n', to);
}

/* The protocol's fixed choices must be what `madlab run` does by default, since a job line can
 * only pass the knobs run has options for. */
static int jobs_expressible(const Protocol *p)
{
    TrainCfg def;
    train_cfg_default(&def);
    if (p->stop_acc != def.stop_acc) {
        fprintf(stderr, "madlab mad: --emit-jobs: protocol %s stops at %g but madlab run at %g\n",
                p->name, p->stop_acc, def.stop_acc);
        return -1;
    }
    for (int i = 0; i < p->n_settings; i++) {
        const TaskKind *tk = task_find(p->settings[i].task);
        if (tk && tk->defaults.multi_query != p->settings[i].cfg.multi_query) {
            fprintf(stderr, "madlab mad: --emit-jobs: %s needs multi_query %d, which madlab run "
                            "cannot set\n", p->settings[i].task, p->settings[i].cfg.multi_query);
            return -1;
        }
    }
    return 0;
}

/* ---- running in this process ---- */

typedef struct {
    int tty, failed;
    double t0;
    char id[256];
} MadView;

static void mad_on_step(void *ctx, int epoch, int step, int steps, double loss)
{
    MadView *v = ctx;
    if (!v->tty) return;
    fprintf(stderr, "\r  epoch %d step %d/%d loss %.4f   ", epoch, step, steps, loss);
    fflush(stderr);
}

static int mad_on_epoch(void *ctx, const EpochStats *s)
{
    MadView *v = ctx;
    if (v->tty) {
        fprintf(stderr, "\r\033[K  epoch %d test_acc %.4f test_loss %.4f (%.1fs)\n", s->epoch,
                s->test_acc, s->test_loss, s->seconds);
        fflush(stderr);
    }
    return 0;
}

static void mad_on_start(void *ctx, int k, int todo, const TrainCfg *c, const char *id)
{
    MadView *v = ctx;
    (void)c;
    snprintf(v->id, sizeof v->id, "%s", id);
    printf("[%d/%d] %s ...\n", k, todo, id);
    fflush(stdout);
}

static void mad_on_end(void *ctx, int k, int todo, const char *id, const RunResult *r,
                       const MlError *failed)
{
    MadView *v = ctx;
    (void)k, (void)todo;
    if (v->tty) fputs("\r\033[K", stderr);
    if (!r) {
        fprintf(stderr, "madlab mad: %s failed: %s\n", id, failed->msg);
        v->failed++;
        return;
    }
    char took[32];
    format_duration(r->seconds, took, sizeof took);
    printf("[%d/%d] %s: test_acc %.4f (epoch %d of %d%s), %s\n", k, todo, id, r->best_test_acc,
           r->best_epoch, r->epochs_run,
           r->diverged ? ", diverged" : r->stopped_early ? ", reached stop accuracy" : "", took);
    fflush(stdout);
}

static int collect(const char *dir)
{
    char pname[32], stack[ML_STACK_TEXT_MAX];
    int width;
    NormKind norm;
    MlError err;
    if (proto_dir_read(dir, pname, sizeof pname, stack, sizeof stack, &width, &norm, &err) != 0) {
        fprintf(stderr, "madlab mad: --collect: %s\n", err.msg);
        return 1;
    }
    const Protocol *p = protocol_find(pname);
    if (!p) {
        fprintf(stderr, "madlab mad: --collect: %s/mad.run names protocol '%s', which this madlab "
                        "does not know\n", dir, pname);
        return 1;
    }
    ProtoScan s;
    if (proto_scan(p, dir, stack, width, norm, warn_line, NULL, &s, &err) != 0) {
        fprintf(stderr, "madlab mad: %s\n", err.msg);
        return 1;
    }
    /* Result files that all disagree with mad.run: mad.run is damaged (or was replaced), so
     * scoring against it would replace a good mad.csv with empty rows. */
    if (s.n_done == 0 && s.n_foreign > 0) {
        fprintf(stderr, "madlab mad: --collect: %s/mad.run (protocol %s, stack '%s', width %d, %s) "
                        "matches none of the %d result files in %s; is it damaged? nothing "
                        "written\n", dir, p->name, stack, width, norm_name(norm), s.n_foreign, dir);
        proto_scan_free(&s);
        return 1;
    }
    int rc = 0;
    /* nothing finished: nothing to score, and an existing mad.csv stays as it is */
    if (s.n_done > 0 && proto_write_csv(&s, dir, &err) != 0) {
        fprintf(stderr, "madlab mad: %s\n", err.msg);
        rc = 1;
    }
    printf("protocol %s  stack %s  width %d  norm %s\n", p->name, stack, width,
           norm_name(norm));
    print_table(&s, stdout);
    if (s.n_done < s.n_runs) {
        if (s.n_done > 0)
            printf("partial: %d of %d runs done; scores are over the finished runs only (%s/mad.csv "
                   "and %s/settings.csv are partial)\n", s.n_done, s.n_runs, dir, dir);
        else
            printf("partial: 0 of %d runs done; nothing to score (no CSV written)\n", s.n_runs);
        printf("missing (%d):\n", s.n_runs - s.n_done);
        for (int i = 0; i < s.n_runs; i++) {
            if (s.done[i]) continue;
            int si;
            double lr, wd;
            char id[256];
            protocol_run_at(p, i, &si, &lr, &wd);
            protocol_run_id(&p->settings[si], lr, wd, id, sizeof id);
            printf("  %s\n", id);
        }
    } else {
        printf("complete: %d of %d runs; wrote %s/mad.csv and %s/settings.csv\n", s.n_done,
               s.n_runs, dir, dir);
    }
    proto_scan_free(&s);
    return rc;
}

int cmd_mad(int argc, char **argv)
{
    static const struct option opts[] = {
        MODEL_LONG_OPTS,
        {"protocol", required_argument, 0, 'P'}, {"out", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 'j'}, {"emit-jobs", no_argument, 0, 'E'},
        {"collect", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    ModelOpts mo = {0};
    const char *pname = "full", *out = NULL, *collect_dir = NULL;
    int threads = 0, emit = 0, protocol_given = 0, o;
    options_start();
    while ((o = next_option(argc, argv, opts, NULL, &mo)) != -1) {
        int r = 0;
        switch (o) {
        case OPT_BAD: return 2;
        case 'P': pname = optarg, protocol_given = 1; break;
        case 'o': out = optarg; break;
        case 'j': r = get_int("--threads", optarg, 1, ML_MAX_THREADS, &threads); break;
        case 'E': emit = 1; break;
        case 'C': collect_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    if (collect_dir) {
        if (out || mo.stack || mo.preset || mo.width || mo.norm || emit || threads ||
            protocol_given) {
            fprintf(stderr, "madlab mad: --collect DIR takes no other options (the model and "
                            "protocol are read from DIR/mad.run)\n");
            return 2;
        }
        return collect(collect_dir);
    }
    const Protocol *p = protocol_find(pname);
    if (!p) {
        fprintf(stderr, "madlab mad: --protocol: unknown protocol '%s' (protocols:", pname);
        for (const char *const *n = protocol_names; *n; n++) fprintf(stderr, " %s", *n);
        fprintf(stderr, ")\n");
        return 2;
    }
    if (!out) {
        fprintf(stderr, "madlab mad: no output directory: give --out DIR\n");
        return 2;
    }
    StackSpec stack;
    int width;
    NormKind norm;
    char label[ML_STACK_TEXT_MAX] = "", text[ML_STACK_TEXT_MAX];
    if (resolve_model(&mo, &stack, &width, &norm, label, sizeof label) != 0) return 2;
    stack_format(&stack, text, sizeof text); /* fits: resolve_model checked */
    MlError err;
    if (proto_dir_claim(out, p->name, text, width, norm, &err) != 0) {
        fprintf(stderr, "madlab mad: %s\n", err.msg);
        return 1;
    }
    ProtoScan s;
    if (proto_scan(p, out, text, width, norm, warn_line, NULL, &s, &err) != 0) {
        fprintf(stderr, "madlab mad: %s\n", err.msg);
        return 1;
    }

    if (emit) {
        char exe[PATH_MAX], dir[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) exe[n] = '\0';
        else snprintf(exe, sizeof exe, "madlab");
        if (!realpath(out, dir)) snprintf(dir, sizeof dir, "%s", out);
        int rc = jobs_expressible(p);
        for (int i = 0; rc == 0 && i < s.n_runs; i++)
            if (!s.done[i]) emit_job(stdout, exe, dir, p, i, text, width, norm, threads ? threads : 1);
        if (stdout_check() != 0) { /* not "N runs to do" over a lost job list */
            proto_scan_free(&s);
            return 1;
        }
        fprintf(stderr, "madlab mad: %d of %d runs to do; when they are done: madlab mad --collect %s\n",
                s.n_runs - s.n_done, s.n_runs, dir);
        proto_scan_free(&s);
        return rc ? 1 : 0;
    }

    int todo = s.n_runs - s.n_done, status = 0;
    printf("mad: protocol %s (%s)\n", p->name, p->summary);
    printf("stack %s  width %d  norm %s  out %s: %d runs, %d done, %d to run\n", text, width,
           norm_name(norm), out, s.n_runs, s.n_done, todo);
    fflush(stdout);
    if (todo > 0) {
        if (start_threads(threads) != 0) {
            proto_scan_free(&s);
            return 1;
        }
        MadView v = {.tty = isatty(2), .t0 = ml_now()};
        TrainHooks h = {.ctx = &v, .on_step = mad_on_step, .on_epoch = mad_on_epoch,
                        .stop = &g_mad_stop};
        ProtoDriver d = {.train = train_run, .hooks = &h, .ctx = &v, .on_start = mad_on_start,
                         .on_end = mad_on_end};
        /* Ctrl-C and kill stop between steps; the run in progress is dropped (it has no result
         * file yet), every finished one is kept. */
        SavedSignals saved;
        stop_signals_catch(on_mad_signal, &saved);
        int rc = proto_run(p, out, &stack, width, norm, &s, &d, &err);
        stop_signals_restore(&saved);
        if (v.tty) fputs("\r\033[K", stderr);
        pool_shutdown();
        char took[32];
        format_duration(ml_now() - v.t0, took, sizeof took);
        printf("%d of %d runs finished in %s\n", s.n_done - (s.n_runs - todo), todo, took);
        if (rc < 0) {
            fprintf(stderr, "madlab mad: %s\n", err.msg);
            proto_scan_free(&s);
            return 1;
        }
        if (rc == 1) {
            printf("stopped: %d of %d runs done; run the same command again to resume\n", s.n_done,
                   s.n_runs);
            proto_scan_free(&s);
            return 130;
        }
        if (v.failed) status = 1;
        proto_scan_free(&s);
        if (proto_scan(p, out, text, width, norm, warn_line, NULL, &s, &err) != 0) {
            fprintf(stderr, "madlab mad: %s\n", err.msg);
            return 1;
        }
    }
    if (s.n_done == s.n_runs) {
        if (proto_write_csv(&s, out, &err) != 0) {
            fprintf(stderr, "madlab mad: %s\n", err.msg);
            status = 1;
        }
        print_table(&s, stdout);
        printf("wrote %s/mad.csv and %s/settings.csv\n", out, out);
    } else {
        print_table(&s, stdout);
        fprintf(stderr, "madlab mad: %d of %d runs failed; the table is partial (madlab mad "
                        "--collect %s writes the CSVs from what is there)\n",
                s.n_runs - s.n_done, s.n_runs, out);
        status = 1;
    }
    proto_scan_free(&s);
    return status;
}
