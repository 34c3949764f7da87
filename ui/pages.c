/* Modals that show a page of text: the help (generated from the key table) and a layer kind's
 * teaching page. Up/Down scroll, Escape closes. */
#include "config.h"
#include "labui.h"

#include <stdio.h>

/* A teaching page steps to the next (or previous) layer of the stack, or task. */
static void teach_step(int d)
{
    if (lab.teach_task) {
        int old = lab.cur_task;
        lab.cur_task += d;
        if (lab.cur_task < 0) lab.cur_task = 0;
        if (lab.cur_task >= lab_n_tasks()) lab.cur_task = lab_n_tasks() - 1;
        if (old != lab.cur_task) task_sample_draw();
    } else if (lab.stack.n && lab.cur_layer < lab.stack.n && lab.teach == lab.stack.kind[lab.cur_layer]) {
        lab.cur_layer += d;
        if (lab.cur_layer < 0) lab.cur_layer = 0;
        if (lab.cur_layer >= lab.stack.n) lab.cur_layer = lab.stack.n - 1;
        lab.teach = lab.stack.kind[lab.cur_layer];
    }
    lab.m_scroll = 0;
}

static void page_key(int k)
{
    if (lab.modal == &modal_teach && (k == 'n' || k == UK_RIGHT || k == 'p' || k == UK_LEFT)) {
        teach_step(k == 'n' || k == UK_RIGHT ? 1 : -1);
        return;
    }
    if (k == UK_UP || k == 'k') lab.m_scroll = lab.m_scroll > 0 ? lab.m_scroll - 1 : 0;
    else if (k == UK_DOWN || k == 'j') lab.m_scroll++;
    else if (k == UK_PGDN || k == ' ') lab.m_scroll += 10;
    else if (k == UK_PGUP) lab.m_scroll = lab.m_scroll > 10 ? lab.m_scroll - 10 : 0;
    else if (k == UK_ESC || k == 'q' || k == '?' || k == UK_F(1) || k == UK_ENTER || k == 'i')
        lab.modal = NULL;
}

static void help_draw(Rect box, Rect in)
{
    static char text[8192];
    keys_help(text, sizeof text);
    box_at(box, "Help: keys (Escape closes; Up/Down scroll)");
    int lines = text_at(in, text, lab.m_scroll, S_NORMAL);
    if (lab.m_scroll > lines - in.h) lab.m_scroll = lines - in.h > 0 ? lines - in.h : 0;
}

static void teach_draw(Rect box, Rect in)
{
    char page[4096], title[128];
    if (lab.teach_task) {
        task_page(lab_task(), &lab.task_cfg[lab.cur_task], page, sizeof page);
        if (lab.cur_task < lab.data.n_tasks) /* the MAD tasks are counted as MAD counts them */
            snprintf(title, sizeof title, "Task %d of %d (n/p next/previous, Escape closes)",
                     lab.cur_task + 1, lab.data.n_tasks);
        else
            snprintf(title, sizeof title, "Task %d, beside the %d MAD tasks (p previous, Escape "
                     "closes)", lab.cur_task + 1, lab.data.n_tasks);
    } else {
        layer_page(lab.teach, page, sizeof page);
        snprintf(title, sizeof title, "Layer %d of %d (n/p next/previous, Escape closes)",
                 lab.cur_layer + 1, lab.stack.n);
    }
    box_at(box, title);
    text_at(in, page, lab.m_scroll, S_NORMAL);
}

const Modal modal_help = {help_draw, page_key};
const Modal modal_teach = {teach_draw, page_key};
