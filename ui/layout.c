/* Where everything goes, as a pure function of the terminal size (tests call it for many sizes). */
#include "config.h"
#include "ui.h"

#include <string.h>

static Rect rect(int x, int y, int w, int h)
{
    Rect r = {x, y, w < 0 ? 0 : w, h < 0 ? 0 : h};
    return r;
}

void layout_compute(int cols, int rows, Layout *l)
{
    memset(l, 0, sizeof *l);
    if (cols < UI_MIN_COLS || rows < UI_MIN_ROWS) {
        l->too_small = 1;
        return;
    }
    l->title = rect(0, 0, cols, 1);
    l->body = rect(0, 1, cols, rows - 3);
    l->status = rect(0, rows - 2, cols, 1);
    l->keybar = rect(0, rows - 1, cols, 1);

    /* Stack and task views: a list, and beside it a panel when there is room for both. */
    if (cols >= 100) {
        int lw = cols * 58 / 100;
        l->list = rect(0, l->body.y, lw, l->body.h);
        l->side = rect(lw + 1, l->body.y, cols - lw - 1, l->body.h);
    } else {
        l->list = l->body;
        l->side = rect(0, l->body.y + l->body.h, 0, 0);
    }

    /* Run and results views: progress, charts, then the state counters. */
    int bh = l->body.h;
    /* the state table: room for a few layers, less on a short terminal so the charts keep 5
     * plotted rows each at 80x24 */
    int ch = bh >= 30 ? 11 : bh >= 24 ? 7 : bh >= 20 ? 5 : 4;
    int charts = bh - 2 - ch;
    l->progress = rect(0, l->body.y, cols, 2);
    int cy = l->body.y + 2;
    if (cols >= 100) {
        int lw = cols * 6 / 10;
        l->chart_loss = rect(0, cy, lw, charts);
        l->chart_acc = rect(lw, cy, cols - lw, charts);
    } else {
        int top = charts - charts / 2;
        l->chart_loss = rect(0, cy, cols, top);
        l->chart_acc = rect(0, cy + top, cols, charts - top);
    }
    /* wide terminals: the state table keeps the width it reads at, the run's details beside it */
    int tw = cols >= 150 ? 100 : cols;
    l->counters = rect(0, cy + charts, tw, ch);
    l->details = tw < cols ? rect(tw + 1, cy + charts, cols - tw - 1, ch) : rect(0, cy + charts, 0, 0);
}
