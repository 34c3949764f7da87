/* Recall against state, terminal-free: each results row's stack at its total inference state
 * (from its last run: stack, width, the task's length), the chosen task's accuracy, a log axis
 * for the state, and the same data as CSV. The state view (view_state.c) draws it. */
#include "config.h"
#include "labdata.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int state_point_of_row(const LabData *d, int row, StatePoint *p)
{
    if (row < 0 || row >= d->nrows) return -1;
    const ResultRow *r = &d->rows[row];
    int id = r->last_run;
    if (id < 0 || id >= d->nruns || !d->runs[id].used) return -1;
    const TrainCfg *t = &d->runs[id].spec.train;
    int ti = labdata_task_index(d, t->task_name);
    if (ti < 0) return -1;
    memset(p, 0, sizeof *p);
    p->row = row;
    p->seq_len = task_kinds[ti]->seq_len_out(&t->task);
    stack_size(&t->stack, t->width, p->seq_len, &p->state, &p->params);
    for (int i = 0; i < t->stack.n; i++) p->grows |= stack_layer_grows(&t->stack, i, t->width, p->seq_len);
    p->acc = NAN;
    return 0;
}

void log_axis(const double *v, int n, LogAxis *a)
{
    double mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > 0) {
            if (v[i] < mn) mn = v[i];
            if (v[i] > mx) mx = v[i];
        }
    if (!(mn <= mx)) mn = 1, mx = 10;
    a->lo = floor(log10(mn));
    a->hi = ceil(log10(mx));
    if (a->hi <= a->lo) a->hi = a->lo + 1;
    /* decades; within a single decade also 2x and 5x so the axis has more than its ends */
    static const double sub[] = {1, 2, 5};
    int subs = a->hi - a->lo <= 1 ? 3 : 1;
    a->nt = 0;
    for (double e = a->lo; e <= a->hi && a->nt < LOG_AXIS_MAX_TICKS; e++)
        for (int k = 0; k < subs && a->nt < LOG_AXIS_MAX_TICKS; k++) {
            double t = sub[k] * pow(10, e);
            if (log10(t) <= a->hi + 1e-9) a->tick[a->nt++] = t;
        }
}

int log_axis_col(const LogAxis *a, double v, int cols)
{
    if (cols <= 1 || !(v > 0)) return 0;
    int c = (int)lround((log10(v) - a->lo) / (a->hi - a->lo) * (cols - 1));
    return c < 0 ? 0 : c >= cols ? cols - 1 : c;
}

int acc_row(double acc, int rows)
{
    if (rows <= 1 || !isfinite(acc)) return rows - 1 > 0 ? rows - 1 : 0;
    int r = (int)lround((1 - acc) * (rows - 1));
    return r < 0 ? 0 : r >= rows ? rows - 1 : r;
}

static int by_state(const void *x, const void *y)
{
    const StatePoint *a = x, *b = y;
    if (a->state != b->state) return a->state < b->state ? -1 : 1;
    return a->row - b->row;
}

void state_plot(const LabData *d, int task, StatePlot *p)
{
    double v[LAB_MAX_ROWS];
    int nv = 0;
    p->task = task;
    p->n = p->no_state = 0;
    for (int r = 0; r < d->nrows; r++) {
        StatePoint q;
        if (state_point_of_row(d, r, &q) != 0) continue;
        if (!(q.state > 0)) {
            p->no_state++;
            continue;
        }
        v[nv++] = q.state;
        if (task < 0 || task >= d->n_tasks || isnan(d->rows[r].acc[task])) continue;
        q.acc = d->rows[r].acc[task];
        p->pt[p->n++] = q;
    }
    p->n_state = nv;
    qsort(p->pt, (size_t)p->n, sizeof p->pt[0], by_state);
    log_axis(v, nv, &p->x);
}

void export_state_rows(const LabData *d, CsvOut *c)
{
    static const char *const names[] = {"stack", "setting", "seq_len", "state", "params", "state_fixed"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) csv_out_text(c, names[i]);
    for (int t = 0; t < d->n_tasks; t++) csv_out_text(c, task_kinds[t]->name);
    csv_out_end_row(c);
    for (int r = 0; r < d->nrows; r++) {
        StatePoint q;
        if (state_point_of_row(d, r, &q) != 0) continue;
        csv_out_text(c, d->rows[r].label);
        csv_out_text(c, d->rows[r].setting);
        csv_out_int(c, q.seq_len);
        csv_out_num(c, q.state);
        csv_out_num(c, q.params);
        csv_out_int(c, !q.grows);
        for (int t = 0; t < d->n_tasks; t++) csv_num_or_empty(c, d->rows[r].acc[t]);
        csv_out_end_row(c);
    }
}

void export_state_path(const char *prefix, char *buf, size_t n) { snprintf(buf, n, "%s-state.csv", prefix); }

int export_state_write(const LabData *d, const char *prefix, MlError *err)
{
    char path[EXPORT_PATH_MAX];
    export_state_path(prefix, path, sizeof path);
    CsvOut *c = csv_out_open(path, err);
    if (!c) return -1;
    export_state_rows(d, c);
    return csv_out_commit(c, err);
}
