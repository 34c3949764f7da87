/* madlab scale: scaling laws from the shell. The IsoFLOP protocol for one stack (per budget a
 * ladder of sizes, each trained on the text the budget leaves), resumable and distributable like
 * madlab mad (one result file per run in DIR; --emit-jobs; --collect); --plan prints the ladder;
 * --compare sets several stacks' frontiers beside their MAD scores. */
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
#include "scale.h"
#include "scaling.h"
#include "fileio.h"

static volatile sig_atomic_t g_scale_stop;
/* The first Ctrl-C stops between steps; a second one leaves at once (a half-written result is
 * only ever a temporary file, which is never read). */
static void on_scale_signal(int sig)
{
    (void)sig;
    if (g_scale_stop) _exit(130);
    g_scale_stop = 1;
}

void scale_warn_line(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "madlab scale: %s; it counts as not done and will be run again\n", msg);
}


/* ---- --plan ---- */

static void print_plan(const ScalePlan *pl, FILE *to)
{
    const ScaleProtocol *p = &pl->p;
    fprintf(to, "ladder: %d sizes per budget, context %d, batch %d, lr %g (cosine to %g over each "
                "run), wd %g\n", p->n_sizes, p->seq_len, p->batch, p->lr, p->lr * p->lr_min_frac, p->wd);
    fprintf(to, "%6s %6s %10s %12s %10s", "width", "repeat", "params", "flops/token", "state");
    for (int b = 0; b < p->n_budgets; b++) {
        char t[32], h[40];
        scale_budget_text(p->budget[b], t, sizeof t);
        snprintf(h, sizeof h, "tokens@%s", t);
        fprintf(to, " %12s", h);
    }
    fputc('\n', to);
    for (int w = 0; w < pl->n_shapes; w++) {
        int used = 0;
        for (int i = 0; i < pl->n_runs; i++) used |= pl->run[i].shape_i == w;
        if (!used) continue;
        const ScaleShape *sh = &pl->shape[w];
        char a[32], f[32], s[32];
        human(a, sizeof a, sh->params);
        human(f, sizeof f, sh->flops_per_token);
        human(s, sizeof s, sh->state);
        fprintf(to, "%6d %6d %10s %12s %10s", sh->width, sh->repeat, a, f, s);
        for (int b = 0; b < p->n_budgets; b++) {
            const ScaleRun *r = NULL;
            for (int i = 0; i < pl->n_runs; i++)
                if (pl->run[i].shape_i == w && pl->run[i].budget_i == b) r = &pl->run[i];
            char t[32] = "-";
            if (r) human(t, sizeof t, r->tokens);
            fprintf(to, " %12s", t);
        }
        fputc('\n', to);
    }
    double total = 0;
    for (int i = 0; i < pl->n_runs; i++) total += pl->run[i].flops;
    fprintf(to, "%d runs, %.3g training FLOPs in all; params without embedding and head; state: "
                "floats of inference state at length %d\n", pl->n_runs, total, p->seq_len);
}

/* ---- results ---- */

static void print_frontier(const ScalePlan *pl, const ScaleScan *s, const ScaleFit *f, FILE *to)
{
    fprintf(to, "%-8s %5s %10s %10s %9s %7s %8s %10s %9s %9s\n", "budget", "runs", "N_opt", "D_opt",
            "L_opt", "bpb", "ppl", "state_opt", "+L@N/2", "+L@2N");
    for (int b = 0; b < f->n_budgets; b++) {
        const ScaleBudgetFit *bf = &f->b[b];
        char t[32], n[32], d[32], st[32];
        scale_budget_text(bf->budget, t, sizeof t);
        int done = 0, planned = 0;
        for (int i = 0; i < pl->n_runs; i++) {
            planned += pl->run[i].budget_i == b;
            done += pl->run[i].budget_i == b && s->done[i];
        }
        if (!bf->ok) {
            fprintf(to, "%-8s %2d/%-2d %10s (too few finished runs to fit)\n", t, done, planned, "-");
            continue;
        }
        human(n, sizeof n, bf->n_opt);
        human(d, sizeof d, bf->d_opt);
        human(st, sizeof st, bf->state_opt);
        fprintf(to, "%-8s %2d/%-2d %10s %10s %9.4f %7.3f %8.3f %10s %9.4f %9.4f%s\n", t, done,
                planned, n, d, bf->l_opt, bf->l_opt / log(2.0), exp(bf->l_opt), st,
                bf->rise_half, bf->rise_double, bf->at_edge ? "  (at an end of the ladder)" : "");
    }
}

static void edge_warnings(const ScaleFit *f)
{
    for (int b = 0; b < f->n_budgets; b++) {
        if (!f->b[b].ok || !f->b[b].at_edge) continue;
        char t[32];
        scale_budget_text(f->b[b].budget, t, sizeof t);
        fprintf(stderr, "madlab scale: warning: at budget %s the lowest loss is at an end of the "
                        "ladder, so N_opt there is a bound, not a minimum; widen the ladder "
                        "(--sizes) or move the budgets\n", t);
    }
}

static void summary_line(const ScalePlan *pl, const ScaleScan *s, const ScaleFit *f, FILE *to)
{
    const ScaleBudgetFit *last = NULL;
    for (int b = 0; b < f->n_budgets; b++)
        if (f->b[b].ok) last = &f->b[b];
    fprintf(to, "summary protocol=%s budgets=%d runs=%d/%d a=%.4f b=%.4f loss_exp=%.4f edges=%d",
            pl->p.name, f->budgets_fitted, s->n_done, s->n_runs, f->a, f->b_exp, f->loss_exp,
            f->edges);
    if (last)
        fprintf(to, " n_opt=%.4g l_opt=%.4f bits_per_byte=%.4f perplexity=%.4f", last->n_opt,
                last->l_opt, last->l_opt / log(2.0), exp(last->l_opt));
    fputc('\n', to);
}

/* Fits, CSVs, the table and the summary line; 0 when every run is done and the files written. */
static int report(const ScalePlan *pl, ScaleScan *s, const char *dir)
{
    ScaleFit f;
    MlError err;
    scale_fit(pl, s, &f);
    int rc = 0;
    if (scale_write_csv(pl, s, &f, dir, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        rc = 1;
    }
    print_frontier(pl, s, &f, stdout);
    fflush(stdout);
    edge_warnings(&f);
    if (s->n_done < s->n_runs) {
        printf("partial: %d of %d runs done; the fits are over the finished runs only\n", s->n_done,
               s->n_runs);
        rc = 1;
    }
    if (!rc) printf("wrote %s/runs.csv and %s/frontier.csv\n", dir, dir);
    summary_line(pl, s, &f, stdout);
    return rc;
}

/* ---- running ---- */

typedef struct {
    int tty, failed;
    double t0;
} ScaleView;

static void sv_on_step(void *ctx, int epoch, int step, int steps, double loss)
{
    ScaleView *v = ctx;
    (void)epoch;
    if (!v->tty) return;
    fprintf(stderr, "\r  step %d/%d loss %.4f   ", step, steps, loss);
    fflush(stderr);
}

static void sv_on_start(void *ctx, int k, int todo, const ScalePlan *pl, int i)
{
    (void)ctx;
    const ScaleRun *r = &pl->run[i];
    char p[32], t[32];
    human(p, sizeof p, pl->shape[r->shape_i].params);
    human(t, sizeof t, r->tokens);
    printf("[%d/%d] %s (%s params, %s tokens) ...\n", k, todo, r->id, p, t);
    fflush(stdout);
}

static void sv_on_end(void *ctx, int k, int todo, const ScalePlan *pl, int i, const ScaleResult *r,
                      const MlError *failed)
{
    ScaleView *v = ctx;
    if (v->tty) fputs("\r\033[K", stderr);
    if (!r) {
        fprintf(stderr, "madlab scale: %s failed: %s\n", pl->run[i].id, failed->msg);
        v->failed++;
        return;
    }
    char t[32];
    format_duration(r->seconds, t, sizeof t);
    if (r->diverged)
        printf("[%d/%d] %s: diverged, %s\n", k, todo, r->id, t);
    else
        printf("[%d/%d] %s: val_loss %.4f nats/byte (%.4f bits/byte), %s\n", k, todo, r->id,
               r->val_loss, r->val_loss / log(2.0), t);
    fflush(stdout);
}

/* The plan of a directory made by madlab scale (for --collect, --job and --compare). */
int scale_plan_of_dir(const char *dir, ScaleDirInfo *info, ScalePlan *pl)
{
    MlError err;
    if (scale_dir_read(dir, info, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        return -1;
    }
    StackSpec base;
    char where[64];
    snprintf(where, sizeof where, "%s/scale.run", dir);
    if (stack_parse(info->stack, where, info->width, &base, &err) != 0 ||
        scale_plan(&info->p, &base, info->width, info->norm, info->repeat, pl, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        return -1;
    }
    return 0;
}


static int run_all(const ScalePlan *pl, const char *dir, const char *corpus, int only, int threads,
                   ScaleScan *s)
{
    if (start_threads(threads) != 0) return 1;
    ScaleView v = {.tty = isatty(2), .t0 = ml_now()};
    TrainHooks h = {.ctx = &v, .on_step = sv_on_step, .stop = &g_scale_stop};
    ScaleDriver d = {.train = train_run, .hooks = &h, .ctx = &v, .on_start = sv_on_start,
                     .on_end = sv_on_end};
    SavedSignals saved;
    stop_signals_catch(on_scale_signal, &saved);
    int before = s->n_done;
    MlError err;
    int rc = scale_run(pl, dir, corpus, only, s, &d, &err);
    stop_signals_restore(&saved);
    if (v.tty) fputs("\r\033[K", stderr);
    pool_shutdown();
    char t[32];
    format_duration(ml_now() - v.t0, t, sizeof t);
    printf("%d runs finished in %s\n", s->n_done - before, t);
    if (rc < 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        return 1;
    }
    if (rc == 1) {
        printf("stopped: %d of %d runs done; run the same command again to resume\n", s->n_done,
               s->n_runs);
        return 130;
    }
    return v.failed ? 1 : 0;
}

/* ---- the command ---- */

int cmd_scale(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--compare")) return scale_compare(argc, argv);
    enum { O_BUDGETS = 1200, O_SIZES, O_CORPUS, O_PLAN, O_JOB, O_REPEAT, O_SEQ_LEN, O_BATCH, O_LR };
    static const struct option opts[] = {
        MODEL_LONG_OPTS,
        {"repeat", required_argument, 0, O_REPEAT}, {"protocol", required_argument, 0, 'P'},
        {"budgets", required_argument, 0, O_BUDGETS}, {"sizes", required_argument, 0, O_SIZES},
        {"corpus", required_argument, 0, O_CORPUS}, {"out", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 'j'},   {"plan", no_argument, 0, O_PLAN},
        {"emit-jobs", no_argument, 0, 'E'},       {"collect", required_argument, 0, 'C'},
        {"job", required_argument, 0, O_JOB},     {"seq-len", required_argument, 0, O_SEQ_LEN},
        {"batch", required_argument, 0, O_BATCH}, {"lr", required_argument, 0, O_LR},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    ModelOpts mo = {0};
    const char *pname = "quick", *out = NULL, *collect_dir = NULL, *budgets = NULL, *corpus = NULL,
               *job = NULL;
    int threads = 0, emit = 0, plan_only = 0, sizes = 0, repeat = 1, seq_len = 0, batch = 0, o;
    double lr = 0;
    options_start();
    while ((o = next_option(argc, argv, opts, NULL, &mo)) != -1) {
        int r = 0;
        switch (o) {
        case OPT_BAD: return 2;
        case O_REPEAT: r = get_int("--repeat", optarg, 1, ML_MAX_LAYERS, &repeat); break;
        case 'P': pname = optarg; break;
        case O_BUDGETS: budgets = optarg; break;
        case O_SIZES: r = get_int("--sizes", optarg, 1, SCALE_MAX_SIZES, &sizes); break;
        case O_SEQ_LEN: r = get_int("--seq-len", optarg, 2, 1 << 16, &seq_len); break;
        case O_BATCH: r = get_int("--batch", optarg, 1, 1 << 16, &batch); break;
        case O_LR: r = get_double("--lr", optarg, 1e-12, 10, &lr); break;
        case O_CORPUS: corpus = optarg; break;
        case 'o': out = optarg; break;
        case 'j': r = get_int("--threads", optarg, 1, ML_MAX_THREADS, &threads); break;
        case O_PLAN: plan_only = 1; break;
        case 'E': emit = 1; break;
        case 'C': collect_dir = optarg; break;
        case O_JOB: job = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;

    ScaleDirInfo info;
    ScalePlan *pl = malloc(sizeof *pl);
    if (!pl) {
        fprintf(stderr, "madlab scale: out of memory\n");
        return 1;
    }
    int status = 0;
    MlError err;
    if (collect_dir || job) {
        /* everything but --threads comes from DIR/scale.run */
        const char *dir = collect_dir ? collect_dir : out;
        if (mo.stack || mo.preset || emit || plan_only || budgets || sizes || corpus || seq_len || batch || lr ||
            (collect_dir && (out || job)) || !dir) {
            fprintf(stderr, "madlab scale: %s takes no model, protocol or corpus options (they are "
                            "read from DIR/scale.run)%s\n", collect_dir ? "--collect DIR" : "--job ID",
                    collect_dir ? "" : "; give --out DIR");
            free(pl);
            return 2;
        }
        if (scale_plan_of_dir(dir, &info, pl) != 0) {
            free(pl);
            return 1;
        }
        const char *cp = info.corpus[0] ? info.corpus : NULL;
        ScaleScan s;
        if (scale_scan(pl, dir, cp, scale_warn_line, NULL, &s, &err) != 0) {
            fprintf(stderr, "madlab scale: %s\n", err.msg);
            free(pl);
            return 1;
        }
        if (job) {
            int only = -1;
            for (int i = 0; i < pl->n_runs; i++)
                if (!strcmp(pl->run[i].id, job)) only = i;
            if (only < 0) {
                fprintf(stderr, "madlab scale: --job: %s is not a run of %s (see madlab scale "
                                "--collect %s)\n", job, dir, dir);
                status = 2;
            } else if (!s.done[only]) {
                status = run_all(pl, dir, cp, only, threads, &s);
            }
        } else {
            printf("scale: protocol %s  stack %s  width %d  repeat %d  corpus %s\n", pl->p.name,
                   info.stack, info.width, info.repeat, cp ? cp : "default");
            status = report(pl, &s, dir);
            if (s.n_done < s.n_runs) {
                printf("missing (%d):\n", s.n_runs - s.n_done);
                for (int i = 0; i < s.n_runs; i++)
                    if (!s.done[i]) printf("  %s\n", pl->run[i].id);
            }
        }
        scale_scan_free(&s);
        free(pl);
        return status;
    }

    const ScaleProtocol *base_p = scale_protocol_find(pname);
    if (!base_p) {
        fprintf(stderr, "madlab scale: --protocol: unknown protocol '%s' (protocols:", pname);
        for (const char *const *n = scale_protocol_names; *n; n++) fprintf(stderr, " %s", *n);
        fprintf(stderr, ")\n");
        free(pl);
        return 2;
    }
    ScaleProtocol p = *base_p;
    if (budgets && scale_parse_budgets(budgets, &p, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        free(pl);
        return 2;
    }
    if (sizes) p.n_sizes = sizes;
    if (seq_len) p.seq_len = seq_len;
    if (batch) p.batch = batch;
    if (lr) p.lr = lr;
    if (!out && !plan_only) {
        fprintf(stderr, "madlab scale: no output directory: give --out DIR (or --plan to print "
                        "the ladder)\n");
        free(pl);
        return 2;
    }
    StackSpec stack;
    int width;
    NormKind norm;
    char label[1024] = "", text[1024];
    if (resolve_model(&mo, &stack, &width, &norm, label, sizeof label) != 0) {
        free(pl);
        return 2;
    }
    if (stack_format(&stack, text, sizeof text) < 0) {
        fprintf(stderr, "madlab scale: the stack is too long to store\n");
        free(pl);
        return 2;
    }
    if (scale_plan(&p, &stack, width, norm, repeat, pl, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        free(pl);
        return 2;
    }
    if (!emit) { /* with --emit-jobs, stdout holds the job lines only */
        printf("scale: protocol %s (%s)\n", p.name, p.summary);
        printf("stack %s  base width %d  repeat %d  norm %s  corpus %s\n", text, width, repeat,
               norm == NORM_LAYER ? "layernorm" : "rmsnorm", corpus ? corpus : CORPUS_DEFAULT_PATH);
        fflush(stdout);
    }
    if (plan_only) {
        print_plan(pl, stdout);
        free(pl);
        return 0;
    }
    /* the corpus before anything is written: a missing one is one line */
    const Corpus *k = corpus_open(corpus, &err);
    if (!k || corpus_check(k, p.seq_len, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        free(pl);
        return 1;
    }
    if (scale_dir_claim(out, pl, corpus, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        free(pl);
        return 1;
    }
    ScaleScan s;
    if (scale_scan(pl, out, corpus, scale_warn_line, NULL, &s, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        free(pl);
        return 1;
    }
    if (emit) {
        char exe[PATH_MAX], dir[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) exe[n] = '\0';
        else snprintf(exe, sizeof exe, "madlab");
        if (!realpath(out, dir)) snprintf(dir, sizeof dir, "%s", out);
        for (int i = 0; i < s.n_runs; i++) {
            if (s.done[i]) continue;
            sh_word(stdout, exe);
            fputs(" scale --out ", stdout);
            sh_word(stdout, dir);
            printf(" --job %s --threads %d\n", pl->run[i].id, threads ? threads : 1);
        }
        fprintf(stderr, "madlab scale: %d of %d runs to do; when they are done: madlab scale "
                        "--collect %s\n", s.n_runs - s.n_done, s.n_runs, dir);
        scale_scan_free(&s);
        free(pl);
        return 0;
    }
    printf("out %s: %d runs, %d done, %d to run\n", out, s.n_runs, s.n_done, s.n_runs - s.n_done);
    fflush(stdout);
    if (s.n_done < s.n_runs) {
        status = run_all(pl, out, corpus, -1, threads, &s);
        if (status == 130) {
            scale_scan_free(&s);
            free(pl);
            return status;
        }
    }
    int rc = report(pl, &s, out);
    if (!status) status = rc;
    scale_scan_free(&s);
    free(pl);
    return status;
}
