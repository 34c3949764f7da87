/* madlab scale --compare: several stacks' compute-optimal frontiers side by side, with their
 * MAD scores, the fit P* ~ M^c across stacks and the Spearman correlation of MAD score against
 * compute-optimal perplexity. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "scale.h"
#include "protocol.h"
#include "scaling.h"
#include "fileio.h"

typedef struct {
    const char *dir, *mad_dir;
    ScaleDirInfo info;
    ScalePlan plan;
    ScaleFit fit;
    double mad; /* -1: none given */
    int mad_runs, mad_all;
} Row;

static int load_row(Row *r)
{
    if (scale_plan_of_dir(r->dir, &r->info, &r->plan) != 0) return -1;
    ScaleScan s;
    MlError err;
    if (scale_scan(&r->plan, r->dir, r->info.corpus, scale_warn_line, NULL, &s, &err) != 0) {
        fprintf(stderr, "madlab scale: %s\n", err.msg);
        return -1;
    }
    scale_fit(&r->plan, &s, &r->fit);
    if (s.n_done < s.n_runs)
        fprintf(stderr, "madlab scale: %s: %d of %d runs done; its fits are partial\n", r->dir,
                s.n_done, s.n_runs);
    scale_scan_free(&s);
    r->mad = -1;
    if (!r->mad_dir) return 0;
    char pname[32], stack[1024];
    int width;
    NormKind norm;
    if (proto_dir_read(r->mad_dir, pname, sizeof pname, stack, sizeof stack, &width, &norm, &err) != 0) {
        fprintf(stderr, "madlab scale: --mad: %s\n", err.msg);
        return -1;
    }
    const Protocol *p = protocol_find(pname);
    ProtoScan ps;
    if (!p || proto_scan(p, r->mad_dir, stack, width, norm, NULL, NULL, &ps, &err) != 0) {
        fprintf(stderr, "madlab scale: --mad %s: %s\n", r->mad_dir,
                p ? err.msg : "unknown MAD protocol");
        return -1;
    }
    if (strcmp(stack, r->info.stack))
        fprintf(stderr, "madlab scale: warning: %s scores stack '%s' but %s scales '%s'\n",
                r->mad_dir, stack, r->dir, r->info.stack);
    r->mad = ps.mad;
    r->mad_runs = ps.n_done;
    r->mad_all = ps.n_runs;
    if (ps.n_done < ps.n_runs)
        fprintf(stderr, "madlab scale: %s: %d of %d MAD runs done; its score is over those only\n",
                r->mad_dir, ps.n_done, ps.n_runs);
    proto_scan_free(&ps);
    return 0;
}

static int compare(int n, Row *rows, const char *csv_path)
{
    for (int i = 0; i < n; i++)
        if (load_row(&rows[i]) != 0) return 1;
    /* the budgets every directory has (the compute-optimal numbers are compared at equal C) */
    const ScaleProtocol *p0 = &rows[0].plan.p;
    double common[SCALE_MAX_BUDGETS];
    int nc = 0;
    for (int b = 0; b < p0->n_budgets; b++) {
        int all = 1;
        for (int i = 1; i < n && all; i++) {
            int has = 0;
            for (int k = 0; k < rows[i].plan.p.n_budgets; k++)
                has |= fabs(rows[i].plan.p.budget[k] - p0->budget[b]) <= 1e-9 * p0->budget[b];
            all = has;
        }
        if (all) common[nc++] = p0->budget[b];
    }
    if (nc == 0) {
        fprintf(stderr, "madlab scale: --compare: the directories share no budget\n");
        return 1;
    }
    const ScaleBudgetFit *at[64][SCALE_MAX_BUDGETS];
    for (int i = 0; i < n; i++)
        for (int c = 0; c < nc; c++) {
            at[i][c] = NULL;
            for (int k = 0; k < rows[i].fit.n_budgets; k++)
                if (fabs(rows[i].fit.b[k].budget - common[c]) <= 1e-9 * common[c] && rows[i].fit.b[k].ok)
                    at[i][c] = &rows[i].fit.b[k];
        }
    CsvOut *csv = NULL;
    MlError err;
    if (!(csv = csv_out_open(csv_path, &err))) {
        fprintf(stderr, "madlab scale: --csv: %s\n", err.msg);
        return 1;
    }
    static const char *const head[] = {"dir", "stack", "mad", "budget", "l_opt", "perplexity",
                                       "n_opt", "state_opt", "rise_half", "rise_double", "at_edge"};
    for (size_t k = 0; k < sizeof head / sizeof *head; k++) csv_out_text(csv, head[k]);
    csv_out_end_row(csv);
    printf("%-28s %6s %-8s %8s %8s %9s %10s %8s %8s\n", "stack", "mad", "budget", "L_opt", "ppl",
           "N_opt", "state", "+L@N/2", "+L@2N");
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < nc; c++) {
            const ScaleBudgetFit *bf = at[i][c];
            char t[32], nn[32], st[32], mad[16];
            scale_budget_text(common[c], t, sizeof t);
            if (rows[i].mad >= 0) snprintf(mad, sizeof mad, "%.3f", rows[i].mad);
            else snprintf(mad, sizeof mad, "-");
            if (!bf) {
                printf("%-28.28s %6s %-8s %8s\n", rows[i].info.stack, c ? "" : mad, t, "-");
            } else {
                human(nn, sizeof nn, bf->n_opt);
                human(st, sizeof st, bf->state_opt);
                printf("%-28.28s %6s %-8s %8.4f %8.3f %9s %10s %8.4f %8.4f%s\n",
                       c ? "" : rows[i].info.stack, c ? "" : mad, t, bf->l_opt, exp(bf->l_opt), nn,
                       st, bf->rise_half, bf->rise_double, bf->at_edge ? " (edge)" : "");
            }
            csv_out_text(csv, rows[i].dir);
            csv_out_text(csv, rows[i].info.stack);
            csv_out_num(csv, rows[i].mad >= 0 ? rows[i].mad : NAN);
            csv_out_num(csv, common[c]);
            double v[] = {bf ? bf->l_opt : NAN, bf ? exp(bf->l_opt) : NAN, bf ? bf->n_opt : NAN,
                          bf ? bf->state_opt : NAN, bf ? bf->rise_half : NAN,
                          bf ? bf->rise_double : NAN};
            for (size_t k = 0; k < sizeof v / sizeof *v; k++) csv_out_num(csv, v[k]);
            csv_out_int(csv, bf ? bf->at_edge : 1);
            csv_out_end_row(csv);
        }
    }
    /* across stacks at the largest common budget: P* ~ M^c, and MAD against P* */
    int cb = nc - 1;
    double lm[64], lp[64], mad[64], ppl[64];
    int nm = 0, nr = 0;
    for (int i = 0; i < n; i++) {
        const ScaleBudgetFit *bf = at[i][cb];
        if (!bf) continue;
        if (bf->state_opt > 0) {
            lm[nm] = log(bf->state_opt);
            lp[nm] = log(exp(bf->l_opt));
            nm++;
        }
        if (rows[i].mad >= 0) {
            mad[nr] = rows[i].mad;
            ppl[nr] = exp(bf->l_opt);
            nr++;
        }
    }
    double c = NAN, k;
    if (nm >= 2 && fit_line(lm, lp, nm, &c, &k) != 0) c = NAN;
    double rho = nr >= 2 ? spearman(mad, ppl, nr) : NAN;
    char t[32];
    scale_budget_text(common[cb], t, sizeof t);
    csv_out_text(csv, "fit");
    csv_out_text(csv, "P* ~ M^c");
    csv_out_num(csv, NAN);
    csv_out_num(csv, common[cb]);
    csv_out_num(csv, c);
    for (int j = 0; j < 6; j++) csv_out_text(csv, "");
    csv_out_end_row(csv);
    csv_out_text(csv, "fit");
    csv_out_text(csv, "spearman(mad, perplexity)");
    csv_out_num(csv, NAN);
    csv_out_num(csv, common[cb]);
    csv_out_num(csv, rho);
    for (int j = 0; j < 6; j++) csv_out_text(csv, "");
    csv_out_end_row(csv);
    if (csv_out_commit(csv, &err) != 0) {
        fprintf(stderr, "madlab scale: --csv: %s\n", err.msg);
        return 1;
    }
    printf("at budget %s: P* ~ M^c over %d stacks; Spearman of MAD against perplexity over %d "
           "stacks with a MAD score (negative: higher MAD, lower perplexity)\n", t, nm, nr);
    printf("wrote %s\n", csv_path);
    printf("summary budget=%s stacks=%d c=%.4f spearman=%.4f mad_stacks=%d\n", t, n, c, rho, nr);
    return 0;
}

static int compare_args(int argc, char **argv, Row *rows, int max_rows);

/* madlab scale --compare DIR [--mad MADDIR] DIR [--mad MADDIR] ... [--csv FILE]: each --mad
 * belongs to the scaling directory just before it. */
int scale_compare(int argc, char **argv)
{
    enum { MAX_ROWS = 64 };
    Row *rows = calloc(MAX_ROWS, sizeof *rows); /* a plan each: too large for the stack */
    if (!rows) {
        fprintf(stderr, "madlab scale: out of memory\n");
        return 1;
    }
    int rc = compare_args(argc, argv, rows, MAX_ROWS);
    free(rows);
    return rc;
}

static int compare_args(int argc, char **argv, Row *rows, int max_rows)
{
    int n = 0;
    const char *csv = "scale-compare.csv";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--compare")) continue;
        if (!strcmp(a, "--mad") || !strcmp(a, "--csv")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "madlab scale: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--csv")) {
                csv = argv[++i];
                continue;
            }
            if (n == 0 || rows[n - 1].mad_dir) {
                fprintf(stderr, "madlab scale: --mad %s must follow the scaling directory it "
                                "belongs to (each once)\n", argv[i + 1]);
                return 2;
            }
            rows[n - 1].mad_dir = argv[++i];
            continue;
        }
        if (a[0] == '-') {
            fprintf(stderr, "madlab scale: --compare takes directories, --mad DIR and --csv FILE, "
                            "not '%s'\n", a);
            return 2;
        }
        if (n == max_rows) {
            fprintf(stderr, "madlab scale: --compare: at most 64 directories\n");
            return 2;
        }
        memset(&rows[n], 0, sizeof rows[n]);
        rows[n++].dir = a;
    }
    if (n == 0) {
        fprintf(stderr, "madlab scale: --compare needs scaling directories (made by madlab scale)\n");
        return 2;
    }
    return compare(n, rows, csv);
}
