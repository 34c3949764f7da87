/* The scaling view's data, terminal-free: finished `madlab scale` directories (also ones
 * collected from other machines) with their per-budget fits, the plot's axes and each budget's
 * fitted parabola sampled for drawing, and MAD score against compute-optimal perplexity. The
 * scaling view (view_scale.c) draws it; tests/check_ui tests it. */
#include "config.h"
#include "labdata.h"
#include "protocol.h"
#include "scaling.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void no_warn(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg; /* a damaged result counts as not done; the view shows n_done of n_runs */
}

static int load_mad(const char *mad_dir, ScaleSet *s, MlError *err)
{
    char pname[32], stack[1024];
    int width;
    NormKind norm;
    if (proto_dir_read(mad_dir, pname, sizeof pname, stack, sizeof stack, &width, &norm, err) != 0)
        return -1;
    const Protocol *p = protocol_find(pname);
    if (!p) {
        return ml_fail(err, "%s: unknown MAD protocol '%s'", mad_dir, pname);
    }
    ProtoScan ps;
    if (proto_scan(p, mad_dir, stack, width, norm, no_warn, NULL, &ps, err) != 0) return -1;
    s->mad = ps.mad >= 0 ? ps.mad : NAN;
    proto_scan_free(&ps);
    return 0;
}

int scale_set_load(const char *dir, const char *mad_dir, ScaleSet *s, MlError *err)
{
    memset(s, 0, sizeof *s);
    s->mad = NAN;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->mad_dir, sizeof s->mad_dir, "%s", mad_dir ? mad_dir : "");
    if (scale_dir_read(dir, &s->info, err) != 0) return -1;
    StackSpec base;
    char where[1100];
    snprintf(where, sizeof where, "%s/scale.run", dir);
    if (stack_parse(s->info.stack, where, s->info.width, &base, err) != 0 ||
        scale_plan(&s->info.p, &base, s->info.width, s->info.norm, s->info.repeat, &s->plan, err) != 0)
        return -1;
    ScaleScan sc;
    if (scale_scan(&s->plan, dir, s->info.corpus, no_warn, NULL, &sc, err) != 0) return -1;
    scale_fit(&s->plan, &sc, &s->fit);
    s->n_runs = sc.n_runs;
    s->n_done = sc.n_done;
    for (int i = 0; i < sc.n_runs; i++) {
        const ScaleResult *r = &sc.results[i];
        if (!sc.done[i] || r->diverged || !isfinite(r->val_loss) || !(r->params > 0)) continue;
        s->params[s->n] = r->params;
        s->loss[s->n] = r->val_loss;
        s->budget_i[s->n] = s->plan.run[i].budget_i;
        s->n++;
    }
    scale_scan_free(&sc);
    return mad_dir ? load_mad(mad_dir, s, err) : 0;
}

void scale_plot(const ScaleSet *s, ScalePlot *p)
{
    memset(p, 0, sizeof *p);
    log_axis(s->params, s->n, &p->x);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < s->n; i++) {
        if (s->loss[i] < lo) lo = s->loss[i];
        if (s->loss[i] > hi) hi = s->loss[i];
    }
    for (int b = 0; b < s->fit.n_budgets; b++) {
        const ScaleBudgetFit *f = &s->fit.b[b];
        /* a parabola only where the fit found a minimum inside the ladder (vertex form holds) */
        if (!f->ok || f->at_edge || !(f->curvature > 0)) continue;
        double x0 = INFINITY, x1 = -INFINITY;
        for (int i = 0; i < s->n; i++)
            if (s->budget_i[i] == b) {
                double x = log(s->params[i]);
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
            }
        if (!(x0 < x1)) continue;
        p->has_curve[b] = 1;
        for (int k = 0; k < SCALE_CURVE_SAMPLES; k++) {
            double x = x0 + (x1 - x0) * k / (SCALE_CURVE_SAMPLES - 1), d = x - f->log_n_opt;
            p->cx[b][k] = x;
            p->cy[b][k] = f->l_opt + f->curvature * d * d;
        }
        if (f->l_opt < lo) lo = f->l_opt;
    }
    if (!(lo <= hi)) lo = 0, hi = 1;
    double m = (hi - lo) * 0.05;
    if (!(m > 0)) m = 0.05;
    p->ylo = lo - m;
    p->yhi = hi + m;
}

int scale_loss_row(const ScalePlot *p, double loss, int rows)
{
    if (rows < 1 || !(loss >= p->ylo && loss <= p->yhi)) return -1;
    int r = (int)lround((p->yhi - loss) / (p->yhi - p->ylo) * (rows - 1));
    return r < 0 ? 0 : r >= rows ? rows - 1 : r;
}

static const ScaleBudgetFit *fit_at(const ScaleSet *s, double budget)
{
    for (int k = 0; k < s->fit.n_budgets; k++)
        if (fabs(s->fit.b[k].budget - budget) <= 1e-9 * budget && s->fit.b[k].ok) return &s->fit.b[k];
    return NULL;
}

void scale_mad_compare(const ScaleSet *sets, int n, ScaleMadCompare *c)
{
    memset(c, 0, sizeof *c);
    c->rho = NAN;
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) c->ppl[i] = NAN;
    int first = -1;
    for (int i = 0; i < n && first < 0; i++)
        if (isfinite(sets[i].mad)) first = i;
    if (first < 0) return;
    /* the largest budget of the first scored set that every scored set has a fit at */
    for (int b = sets[first].fit.n_budgets - 1; b >= 0 && c->budget == 0; b--) {
        double budget = sets[first].fit.b[b].budget;
        int all = 1;
        for (int i = 0; i < n && all; i++)
            if (isfinite(sets[i].mad) && !fit_at(&sets[i], budget)) all = 0;
        if (all) c->budget = budget;
    }
    if (c->budget == 0) return;
    double mad[64], ppl[64];
    for (int i = 0; i < n; i++)
        if (isfinite(sets[i].mad)) {
            c->ppl[i] = exp(fit_at(&sets[i], c->budget)->l_opt);
            mad[c->n] = sets[i].mad;
            ppl[c->n++] = c->ppl[i];
        }
    if (c->n >= 3) c->rho = spearman(mad, ppl, c->n);
}

/* ---- export: what the view shows, for a spreadsheet ---- */

void export_scale_paths(const char *prefix, char *runs, char *frontier, size_t n)
{
    snprintf(runs, n, "%s-scaling-runs.csv", prefix);
    snprintf(frontier, n, "%s-scaling-frontier.csv", prefix);
}

static int write_runs(const ScaleSet *sets, int n, const char *path, MlError *err)
{
    CsvOut *c = csv_out_open(path, err);
    if (!c) return -1;
    static const char *const head[] = {"dir", "stack", "budget", "params", "val_loss", "bits_per_byte",
                                       "mad"};
    for (size_t k = 0; k < sizeof head / sizeof *head; k++) csv_out_text(c, head[k]);
    csv_out_end_row(c);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < sets[i].n; r++) {
            const ScaleSet *s = &sets[i];
            csv_out_text(c, s->dir);
            csv_out_text(c, s->info.stack);
            csv_out_num(c, s->plan.p.budget[s->budget_i[r]]);
            csv_out_num(c, s->params[r]);
            csv_out_num(c, s->loss[r]);
            csv_out_num(c, bits_per_byte(s->loss[r]));
            csv_num_or_empty(c, s->mad);
            csv_out_end_row(c);
        }
    return csv_out_commit(c, err);
}

static int write_frontier(const ScaleSet *sets, int n, const char *path, MlError *err)
{
    CsvOut *c = csv_out_open(path, err);
    if (!c) return -1;
    static const char *const head[] = {"dir", "stack", "budget", "points", "n_opt", "l_opt",
                                       "ppl_opt", "d_opt", "state_opt", "at_edge", "mad"};
    for (size_t k = 0; k < sizeof head / sizeof *head; k++) csv_out_text(c, head[k]);
    csv_out_end_row(c);
    for (int i = 0; i < n; i++)
        for (int b = 0; b < sets[i].fit.n_budgets; b++) {
            const ScaleBudgetFit *f = &sets[i].fit.b[b];
            int ok = f->ok != 0; /* no fit: its cells are empty */
            csv_out_text(c, sets[i].dir);
            csv_out_text(c, sets[i].info.stack);
            csv_out_num(c, f->budget);
            csv_out_int(c, f->points);
            csv_num_or_empty(c, ok ? f->n_opt : NAN);
            csv_num_or_empty(c, ok ? f->l_opt : NAN);
            csv_num_or_empty(c, ok ? exp(f->l_opt) : NAN);
            csv_num_or_empty(c, ok ? f->d_opt : NAN);
            csv_num_or_empty(c, ok ? f->state_opt : NAN);
            csv_out_int(c, f->at_edge);
            csv_num_or_empty(c, sets[i].mad);
            csv_out_end_row(c);
        }
    return csv_out_commit(c, err);
}

int export_scale_write(const ScaleSet *sets, int n, const char *prefix, MlError *err)
{
    char runs[EXPORT_PATH_MAX], frontier[EXPORT_PATH_MAX];
    export_scale_paths(prefix, runs, frontier, sizeof runs);
    if (write_runs(sets, n, runs, err) != 0) return -1;
    return write_frontier(sets, n, frontier, err);
}
