/* Modals that show a page of text: the help (generated from the key table) and a layer kind's
 * teaching page. Up/Down scroll, Escape closes. */
#include "config.h"
#include "labui.h"

static void page_key(int k)
{
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
    char page[4096];
    layer_page(lab.teach, page, sizeof page);
    box_at(box, "Layer kind (Escape closes)");
    text_at(in, page, lab.m_scroll, S_NORMAL);
}

const Modal modal_help = {help_draw, page_key};
const Modal modal_teach = {teach_draw, page_key};
