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
    Rect cr = {box.x, b.y + b.h / 2 - 2, box.w, 4};
    box_at(cr, "Confirm");
    put(cr.y + 1, cr.x + 2, cr.w - 4, S_WARN, "%s", lab.confirm_q);
    put(cr.y + 2, cr.x + 2, cr.w - 4, S_DIM, "y confirms, any other key cancels");
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
