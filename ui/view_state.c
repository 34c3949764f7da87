/* The recall-against-state view: for every stack in the results table, its accuracy on one task
 * (t/T choose it) against its total inference state on a log axis, one marker per stack; the
 * stack under the cursor is named. The data and the axis come from statedata.c. */
#include "config.h"
#include "labui.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MARK_FIXED 0x25CF /* ● */
#define MARK_GROWS 0x25B2 /* ▲ */

static StatePlot plot; /* rebuilt at each draw: the table changes as runs end */

static void mark(int y, int x, int s, int grows)
{
    if (lab.utf8) glyph(y, x, s, grows ? MARK_GROWS : MARK_FIXED);
    else put(y, x, 1, s, "%c", grows ? '^' : 'o');
}

static void draw_state_view(void)
{
    Rect b = lab.lay.body;
    int nt = lab.data.n_tasks;
    if (lab.state_task < 0 || lab.state_task >= nt) lab.state_task = 0;
    state_plot(&lab.data, lab.state_task, &plot);
    if (lab.state_cur >= plot.n) lab.state_cur = plot.n - 1;
    if (lab.state_cur < 0) lab.state_cur = 0;
    const TaskKind *tk = task_kinds[lab.state_task];

    int x = 1 + put(b.y, 1, b.w - 2, S_HEADER, "Recall against state: %s", tk->name);
    put(b.y, x, b.w - 1 - x, S_DIM, "  (%d of %d, t/T)  test accuracy against total inference state "
        "(floats, log axis)", lab.state_task + 1, nt);
    /* the plot: y labels, a frame line, tick labels; then the legend and the cursor's stack */
    int yl = 6, px = yl + 1, pw = b.w - px - 2, py = b.y + 2, ph = b.h - 7;
    if (pw < 10 || ph < 3) return;
    for (int r = 0; r < ph; r++) put(py + r, yl - 1, 1, S_DIM, "|");
    put(py, 0, yl - 1, S_DIM, "%4.2f", 1.0);
    put(py + acc_row(0.5, ph), 0, yl - 1, S_DIM, "%4.2f", 0.5);
    put(py + ph - 1, 0, yl - 1, S_DIM, "%4.2f", 0.0);
    log_axis_draw(&plot.x, py + ph, px, pw, plot.n_state > 0); /* no ticks on an axis of nothing */
    if (plot.n == 0)
        put(py + ph / 2, px + 2, pw - 2, S_DIM, "%s", lab.data.nrows
            ? "no stack with a state has run this task yet: t shows another, Q queues the quick protocol"
            : "no results yet: finished runs fill the results table, and each stack shows here");
    for (int pass = 0; pass < 2; pass++) /* the cursor's marker last, over any it shares a cell with */
        for (int i = 0; i < plot.n; i++) {
            const StatePoint *p = &plot.pt[i];
            int sel = i == lab.state_cur;
            if (sel != pass) continue;
            mark(py + acc_row(p->acc, ph), px + log_axis_col(&plot.x, p->state, pw),
                 sel ? S_SEL : p->grows ? S_ATTN : S_ACC, p->grows);
        }
    int ly = py + ph + 2;
    x = 1;
    mark(ly, x, S_ACC, 0);
    x += 2 + put(ly, x + 2, b.w - x - 3, S_DIM, "fixed state");
    mark(ly, x + 1, S_ATTN, 1);
    x += 3 + put(ly, x + 3, b.w - x - 4, S_DIM, "grows with the length (counted at the run's)");
    if (plot.no_state)
        put(ly, x + 2, b.w - x - 3, S_DIM, "  %d without state not shown", plot.no_state);
    if (plot.n) {
        const StatePoint *p = &plot.pt[lab.state_cur];
        const ResultRow *row = &lab.data.rows[p->row];
        char st[32], pa[32], text[1400];
        fmt_count(p->state, st, sizeof st);
        fmt_count(p->params, pa, sizeof pa);
        snprintf(text, sizeof text, "%d/%d %s [%s]: state %s floats at L=%d%s, %s params, %s %.3f (#%d)",
                 lab.state_cur + 1, plot.n, row->label, row->setting, st, p->seq_len,
                 p->grows ? " (grows)" : "", pa, tk->shorthand ? tk->shorthand : tk->name, p->acc,
                 row->run[lab.state_task] + 1);
        text_at((Rect){1, ly + 1, b.w - 2, 2}, text, 0, S_HEADER);
    }
}

static void state_key(Action a)
{
    int nt = lab.data.n_tasks;
    switch (a) {
    case ACT_UP:
    case ACT_DOWN:
    case ACT_TOP:
    case ACT_BOTTOM: {
        StatePlot *p = &plot;
        state_plot(&lab.data, lab.state_task, p);
        list_move(&lab.state_cur, p->n, a);
        break;
    }
    case ACT_NEXT_TASK: lab.state_task = nt ? (lab.state_task + 1) % nt : 0; break;
    case ACT_PREV_TASK: lab.state_task = nt ? (lab.state_task + nt - 1) % nt : 0; break;
    case ACT_EXPORT_STATE: form_open(&form_export_state, 0); break;
    default: break;
    }
}

const View view_state = {V_STATE, "5 State", draw_state_view, state_key};
