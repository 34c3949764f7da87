/* The results view: one row per stack, its best test accuracy per task and their mean (MAD),
 * sortable by any column; the marked rows' (or the current row's) curves below. */
#include "config.h"
#include "labui.h"

#include <math.h>
#include <stdio.h>

static void draw_results_view(void)
{
    Rect b = lab.lay.body;
    int cols = lab.data.n_tasks + 2;
    int lw = b.w - 2 - 9 * (cols - 1);
    if (lw > 60) lw = 60;
    if (lw < 16) lw = 16;
    int y = b.y;
    put(y++, 1, b.w - 1, S_HEADER, "Results: best test accuracy per task; MAD = mean of all %d tasks "
        "(Space marks two rows to overlay, < > sort)", lab.data.n_tasks);
    int lx = 1;
    for (int t = 0; t < lab.data.n_tasks && task_kinds[t]->shorthand; t++)
        lx += put(b.y + b.h / 2, lx, b.w - lx, S_DIM, "%s %s  ", task_kinds[t]->shorthand,
                  task_kinds[t]->name);
    int x = 1;
    x += put(y, x, lw, lab.data.sort_col == 0 ? S_SEL : S_HEADER, "%-*s", lw, "stack");
    for (int c = 1; c < cols && x < b.w; c++) {
        const TaskKind *tk = c <= lab.data.n_tasks ? task_kinds[c - 1] : NULL;
        const char *nm = !tk ? "MAD" : tk->shorthand ? tk->shorthand : tk->name;
        char shortn[16];
        snprintf(shortn, sizeof shortn, "%.8s", nm);
        x += put(y, x + 1, 8, lab.data.sort_col == c ? S_SEL : S_HEADER, "%8s", shortn) + 1;
    }
    y++;
    int table_h = b.h / 2 - 2;
    if (lab.data.nrows == 0) put(y, 2, b.w - 2, S_DIM, "no results yet: finished runs fill this table (Q queues the quick protocol)");
    int first = lab.cur_row >= table_h ? lab.cur_row - table_h + 1 : 0;
    for (int r = first; r < lab.data.nrows && r - first < table_h; r++, y++) {
        int sel = r == lab.cur_row, mk = r == lab.data.marked[0] ? 1 : r == lab.data.marked[1] ? 2 : 0;
        if (sel) fill(y, 0, b.w, S_SEL);
        int s0 = sel ? S_SEL : S_NORMAL;
        put(y, 0, 1, mk == 1 ? S_LOSS : S_SERIES2, "%s", mk ? "*" : " ");
        x = 1 + put(y, 1, lw, s0, "%-*.*s", lw, lw, lab.data.rows[r].label);
        for (int c = 1; c < cols; c++) {
            double v = results_cell(&lab.data, &lab.data.rows[r], c);
            if (isnan(v)) x += put(y, x + 1, 8, sel ? S_SEL : S_DIM, "%8s", "-") + 1;
            else x += put(y, x + 1, 8, s0, "%8.3f", v) + 1;
        }
    }
    int ids[2], n = 0;
    for (int i = 0; i < 2; i++)
        if (lab.data.marked[i] >= 0 && lab.data.marked[i] < lab.data.nrows) ids[n++] = lab.data.rows[lab.data.marked[i]].last_run;
    if (n == 0 && lab.data.nrows) ids[n++] = lab.data.rows[lab.cur_row].last_run;
    int cy = b.y + b.h / 2 + 1, chh = b.y + b.h - cy;
    if (n && chh >= 4) {
        Rect lr = {0, cy, b.w * 6 / 10, chh}, ar = {b.w * 6 / 10, cy, b.w - b.w * 6 / 10, chh};
        run_charts(lr, ar, ids, n);
    }
}

static void results_key(Action a)
{
    LabData *d = &lab.data;
    int ncols = d->n_tasks + 2;
    switch (a) {
    case ACT_UP:
    case ACT_DOWN:
    case ACT_TOP:
    case ACT_BOTTOM: list_move(&lab.cur_row, d->nrows, a); break;
    case ACT_MARK: results_toggle_mark(d, lab.cur_row); break;
    case ACT_SORT_NEXT:
        d->sort_col = (d->sort_col + 1) % ncols;
        results_sort(d);
        break;
    case ACT_SORT_PREV:
        d->sort_col = (d->sort_col + ncols - 1) % ncols;
        results_sort(d);
        break;
    case ACT_SORT_REVERSE:
        d->sort_rev = !d->sort_rev;
        results_sort(d);
        break;
    default: break;
    }
}

const View view_results = {V_RESULTS, "4 Results", draw_results_view, results_key};
