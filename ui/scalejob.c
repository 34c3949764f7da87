/* The lab's scaling protocol, terminal-free: the IsoFLOP protocol of madlab scale for the lab's
 * stack, in the same directory layout (scale.run, one result file per run, runs.csv and
 * frontier.csv), so madlab scale --collect and the scaling view read it. The lab queues each run
 * on its runner as an ordinary run (live curves, pause, stop) and hands its end here, which writes
 * the run's result file whole (atomically) or not at all; a run stopped half way leaves nothing
 * and is run again when the protocol is queued again. tests/check_ui tests it. */
#include "config.h"
#include "labdata.h"
#include "ui.h"
#include "scaling.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lab_data_dir(char *buf, size_t n, MlError *err)
{
    const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    size_t k;
    if (x && x[0] == '/') k = (size_t)snprintf(buf, n, "%s/madlab", x);
    else if (home && home[0]) k = (size_t)snprintf(buf, n, "%s/.local/share/madlab", home);
    else return ml_fail(err, "no place for the lab's data: set HOME or XDG_DATA_HOME");
    if (k >= n) return ml_fail(err, "the lab's data directory path is too long");
    return 0;
}

/* FNV-1a: a short, stable name for settings that do not fit in a file name. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int scale_job_dir(const char *root, const ScalePlan *pl, const char *corpus, char *buf, size_t n)
{
    char stack[ML_STACK_TEXT_MAX], key[4096], slug[65];
    if (stack_format(&pl->base, stack, sizeof stack) < 0) return -1;
    const ScaleProtocol *p = &pl->p;
    int u = snprintf(key, sizeof key, "%s|%d|%d|%s|%s|%d|%d|%d|%.17g|%s|", stack, pl->base_width,
                     pl->repeat, norm_name(pl->norm), p->name, p->n_sizes, p->seq_len, p->batch,
                     p->lr, corpus ? corpus : "default");
    for (int b = 0; b < p->n_budgets && u < (int)sizeof key; b++)
        u += snprintf(key + u, sizeof key - u, "%.17g,", p->budget[b]);
    /* the stack's words, readable in a listing: letters, digits, '-' and '.'; '_' between */
    size_t k = 0;
    for (const char *c = stack; *c && k < sizeof slug - 1; c++) {
        char ch = *c;
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                   ch == '-' || ch == '.';
        if (!keep) ch = '_';
        if (ch == '_' && (k == 0 || slug[k - 1] == '_')) continue;
        slug[k++] = ch;
    }
    while (k && slug[k - 1] == '_') k--;
    slug[k] = '\0';
    size_t w = (size_t)snprintf(buf, n, "%s/scale/%s_%s_w%d_%08x", root, p->name, slug,
                                pl->base_width, (unsigned)(fnv1a(key) & 0xffffffffu));
    return w < n ? 0 : -1;
}

int scale_job_prepare(ScaleJob *j, const ScaleProtocol *p, const StackSpec *s, int width,
                      NormKind norm, const char *corpus, const char *root, const char *label,
                      MlError *err)
{
    memset(j, 0, sizeof *j);
    j->corpus = corpus;
    snprintf(j->label, sizeof j->label, "%s", label);
    if (scale_plan(p, s, width, norm, 1, &j->plan, err) != 0) return -1;
    if (scale_job_dir(root, &j->plan, corpus, j->dir, sizeof j->dir) != 0)
        return ml_fail(err, "the scaling directory's path under %s is too long", root);
    if (scale_dir_claim(j->dir, &j->plan, corpus, err) != 0) return -1;
    ScaleScan sc;
    if (scale_scan(&j->plan, j->dir, corpus, NULL, NULL, &sc, err) != 0) return -1;
    for (int i = 0; i < sc.n_runs; i++) j->done[i] = sc.done[i];
    j->n_done = sc.n_done;
    scale_scan_free(&sc);
    return 0;
}

void scale_job_spec(const ScaleJob *j, int i, RunSpec *s)
{
    memset(s, 0, sizeof *s);
    scale_train_cfg(&j->plan, i, j->corpus, &s->train);
    snprintf(s->label, sizeof s->label, "%s", j->label);
}

void scale_job_note(const ScaleJob *j, int i, int k, int todo, char *buf, size_t n)
{
    const ScaleRun *r = &j->plan.run[i];
    const ScaleShape *sh = &j->plan.shape[r->shape_i];
    char c[32], pa[32], tk[32];
    scale_budget_text(r->budget, c, sizeof c);
    fmt_count(sh->params, pa, sizeof pa);
    fmt_count(r->tokens, tk, sizeof tk);
    char plan[32] = "";
    if (todo != j->plan.n_runs) snprintf(plan, sizeof plan, " (plan %d)", j->plan.n_runs);
    snprintf(buf, n, "scaling %d/%d%s: C=%s width %d, %s params, %s tokens", k, todo, plan, c,
             sh->width, pa, tk);
}

int scale_job_end(ScaleJob *j, int i, const RunRecord *rec, MlError *err)
{
    if (i < 0 || i >= j->plan.n_runs) return 0;
    j->queued[i] = 0;
    const TrainResult *t = &rec->result;
    /* a finished run, or one that diverged (a result too: its loss is no number), as scale_run */
    int result = rec->state == RUN_DONE || (rec->state == RUN_FAILED && t->diverged);
    if (!result || t->interrupted) return 0;
    ScaleResult r;
    char path[1200];
    scale_result_fill(&j->plan, i, j->corpus, t, &r);
    scale_result_path(path, sizeof path, j->dir, j->plan.run[i].id);
    if (scale_result_write(path, &r, err) != 0) return -1;
    if (!j->done[i]) j->n_done++;
    j->done[i] = 1;
    if (j->n_done < j->plan.n_runs) return 1;
    /* every run is in: the CSVs madlab scale writes at its end */
    ScaleScan sc;
    if (scale_scan(&j->plan, j->dir, j->corpus, NULL, NULL, &sc, err) != 0) return -1;
    ScaleFit f;
    scale_fit(&j->plan, &sc, &f);
    int rc = scale_write_csv(&j->plan, &sc, &f, j->dir, err);
    scale_scan_free(&sc);
    return rc == 0 ? 1 : -1;
}

double scale_results_mad(const LabData *d, const char *label)
{
    double best = NAN;
    for (int r = 0; r < d->nrows; r++) {
        const ResultRow *row = &d->rows[r];
        double m = results_mad(d, row);
        if (strcmp(row->label, label) || isnan(m)) continue;
        if (!strcmp(row->setting, "quick")) return m; /* the quick MAD protocol's, Q's */
        if (isnan(best)) best = m;
    }
    return best;
}
