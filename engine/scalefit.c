/* madlab scale's fits: per budget a parabola of loss over log parameters through the lowest run
 * and its neighbours (N_opt, L_opt, the loss at half and twice N_opt); across budgets power laws
 * N_opt ~ C^a and L_opt ~ C^b (fit.c's least squares); runs.csv and frontier.csv. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "scaling.h"
#include "fileio.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
