/* The results view: one row per stack and task setting, its best test accuracy per task (with
 * the run it comes from) and their mean (MAD),
 * sortable by any column; the marked rows' (or the current row's) curves below. */
#include "config.h"
#include "labui.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* "stack [setting]" in w columns: the stack is cut, never the setting. */
static void row_label(const ResultRow *row, int w, char *buf, size_t n)
{
    int sw = (int)strlen(row->setting) + 3;
    int lw = w - sw > 8 ? w - sw : 8;
    snprintf(buf, n, "%-*.*s [%s]", lw, lw, row->label, row->setting);
}

/* A cell: the score and the run it comes from (#N, as the charts call it). */
static int draw_cell(int y, int x, int cw, int sel, const ResultRow *row, int c)
{
    double v = results_cell(&lab.data, row, c);
    if (isnan(v)) return put(y, x, cw, sel ? S_SEL : S_DIM, "%*s", cw, "-");
    char t[32];
    int text = c == lab.data.n_tasks + 2, id = text ? row->text_run : c <= lab.data.n_tasks ? row->run[c - 1] : -1;
    if (id >= 0) snprintf(t, sizeof t, cw >= 10 ? "%.3f #%d" : "%.2f #%d", v, id + 1);
    else snprintf(t, sizeof t, "%.3f", v);
    return put(y, x, cw, sel ? S_SEL : S_NORMAL, "%*s", cw, t);
}

/* What the current row's cells are: each run, its setting and how it ended. */
static void draw_row_detail(int y, int h, const ResultRow *row)
{
    Rect r = {1, y, lab.lay.body.w - 2, h};
    char text[2048];
    int k = snprintf(text, sizeof text, "%s [%s]:", row->label, row->setting);
    for (int t = 0; t < lab.data.n_tasks && k < (int)sizeof text; t++) {
        int id = row->run[t];
        if (id < 0 || id >= lab.data.nruns) continue;
        const RunHist *hh = &lab.data.runs[id];
        k += snprintf(text + k, sizeof text - k, "  #%d %s %.3f (epoch %d of %d, %s)", id + 1,
                      task_kinds[t]->shorthand ? task_kinds[t]->shorthand : task_kinds[t]->name,
                      row->acc[t], hh->result.best_epoch, hh->result.epochs_run,
                      run_status_word(hh->state, &hh->result));
    }
    int id = row->text_run;
    if (id >= 0 && id < lab.data.nruns && k < (int)sizeof text) {
        const RunHist *hh = &lab.data.runs[id];
        snprintf(text + k, sizeof text - k, "  #%d text %.3f bits/byte, perplexity %.3f (%s)", id + 1,
                 row->text_bpb, exp(hh->result.best_test_loss), run_status_word(hh->state, &hh->result));
    }
    text_at(r, text, 0, S_DIM);
}

static void draw_results_view(void)
{
    Rect b = lab.lay.body;
    int cols = results_cols(&lab.data) + 1;
    /* wide: one line a row; narrow: the stack and setting on a line, the cells below */
    int cw = b.w >= 110 ? 10 : b.w >= 90 ? 9 : 8, need = 16;
    for (int r = 0; r < lab.data.nrows; r++) {
        int n = (int)(strlen(lab.data.rows[r].label) + strlen(lab.data.rows[r].setting) + 3);
        if (n > need) need = n;
    }
    int lw = b.w - 2 - (cw + 1) * (cols - 1);
    if (lw > need) lw = need;
    int wide = lw >= need && b.w >= 110;
    if (!wide) lw = b.w - 2;
    int y = b.y;
    int hl = text_at((Rect){1, y, b.w - 2, 2},
                     "Results per stack and task setting: a cell is the run's best test accuracy "
                     "(at its epoch of lowest test perplexity) and its run #N as on the charts; MAD = "
                     "mean of the MAD tasks; LM = the text task's bits per byte. Space marks, < > sort",
                     0, S_HEADER);
    y += hl > 1 ? 2 : 1;
    int lx = 1;
    for (int t = 0; t < lab.data.n_tasks && task_kinds[t]->shorthand; t++)
        lx += put(b.y + b.h / 2, lx, b.w - lx, S_DIM, "%s %s  ", task_kinds[t]->shorthand,
                  task_kinds[t]->name);
    int x = 1;
    if (wide) x += put(y, x, lw, lab.data.sort_col == 0 ? S_SEL : S_HEADER, "%-*s", lw, "stack [setting]");
    else put(y++, 1, lw, lab.data.sort_col == 0 ? S_SEL : S_HEADER, "%-*s", lw, "stack [setting]");
    for (int c = 1; c < cols && x < b.w; c++) {
        const TaskKind *tk = c <= lab.data.n_tasks ? task_kinds[c - 1] : NULL;
        const char *nm = c == lab.data.n_tasks + 2 ? "LM bpb" : !tk ? "MAD" : tk->shorthand ? tk->shorthand : tk->name;
        char shortn[16];
        snprintf(shortn, sizeof shortn, "%.8s", nm);
        x += put(y, x + 1, cw, lab.data.sort_col == c ? S_SEL : S_HEADER, "%*s", cw, shortn) + 1;
    }
    y++;
    int per = wide ? 1 : 2;
    int detail_y = b.y + b.h / 2 - 2;
    int table_h = (detail_y - y) / per;
    if (table_h < 1) table_h = 1;
    if (lab.data.nrows == 0) put(y, 2, b.w - 2, S_DIM, "no results yet: finished runs fill this table (Q queues the quick protocol)");
    int first = lab.cur_row >= table_h ? lab.cur_row - table_h + 1 : 0;
    for (int r = first; r < lab.data.nrows && r - first < table_h; r++, y += per) {
        const ResultRow *row = &lab.data.rows[r];
        int sel = r == lab.cur_row, mk = r == lab.data.marked[0] ? 1 : r == lab.data.marked[1] ? 2 : 0;
        for (int k = 0; k < per; k++)
            if (sel) fill(y + k, 0, b.w, S_SEL);
        int s0 = sel ? S_SEL : S_NORMAL;
        put(y, 0, 1, mk == 1 ? S_LOSS : S_SERIES2, "%s", mk ? "*" : " ");
        char lab_text[1200];
        row_label(row, lw, lab_text, sizeof lab_text);
        x = 1 + put(y, 1, lw, s0, "%s", lab_text);
        if (!wide) x = 1;
        for (int c = 1; c < cols; c++) x += draw_cell(y + per - 1, x + 1, cw, sel, row, c) + 1;
    }
    if (lab.data.nrows) draw_row_detail(detail_y, 2, &lab.data.rows[lab.cur_row]);
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
    int ncols = results_cols(d) + 1;
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
