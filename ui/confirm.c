/* The confirm modal: one yes/no question; y runs the action it was asked for. */
#include "config.h"
#include "labui.h"

#include <stdio.h>

void confirm_ask(const char *question, void (*yes)(void))
{
    snprintf(lab.confirm_q, sizeof lab.confirm_q, "%s", question);
    lab.confirm_yes = yes;
    lab_open(&modal_confirm);
}

static void confirm_draw(Rect box, Rect in)
{
    (void)in;
    Rect b = lab.lay.body;
    /* the question wrapped to the box (a fit's before and after take several lines) */
    int lines = text_at((Rect){box.x + 2, 0, box.w - 4, 0}, lab.confirm_q, 0, S_WARN);
    if (lines > b.h - 3) lines = b.h - 3;
    if (lines < 1) lines = 1;
    Rect cr = {box.x, b.y + (b.h - lines - 3) / 2, box.w, lines + 3};
    box_at(cr, "Confirm");
    text_at((Rect){cr.x + 2, cr.y + 1, cr.w - 4, lines}, lab.confirm_q, 0, S_WARN);
    put(cr.y + 1 + lines, cr.x + 2, cr.w - 4, S_DIM, "y confirms, any other key cancels");
}

static void confirm_key(int k)
{
    lab.modal = NULL;
    if (k == 'y' || k == 'Y') {
        if (lab.confirm_yes) lab.confirm_yes();
    } else {
        lab_status(0, "cancelled");
    }
}

const Modal modal_confirm = {confirm_draw, confirm_key};
