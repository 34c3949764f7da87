/* Modals that pick from a list: the layer picker (every kind with its summary) and the preset
 * list. Up/Down move, Enter takes, Escape cancels. */
#include "config.h"
#include "labui.h"

#include <string.h>

static int n_kinds(void)
{
    int n = 0;
    while (layer_kinds[n]) n++;
    return n;
}

static Action list_key(int k)
{
    return k == UK_UP || k == 'k' ? ACT_UP : k == UK_DOWN || k == 'j' ? ACT_DOWN
           : k == UK_HOME || k == 'g' ? ACT_TOP : k == UK_END || k == 'G' ? ACT_BOTTOM : ACT_NONE;
}

static void picker_draw(Rect box, Rect in)
{
    box_at(box, "Add a layer: Enter adds after the cursor, i shows its page, Escape cancels");
    int i = 0;
    for (const LayerKind *const *k = layer_kinds; *k; k++, i++) {
        if (i >= in.h) break;
        int sel = i == lab.m_cur;
        if (sel) fill(in.y + i, in.x, in.w, S_SEL);
        put(in.y + i, in.x, 18, sel ? S_SEL : kind_style(*k), "%-18s", (*k)->name);
        put(in.y + i, in.x + 19, in.w - 19, sel ? S_SEL : S_NORMAL, "%-9s %s",
            role_name((*k)->role), (*k)->summary);
    }
}

static void picker_key(int k)
{
    if (list_key(k)) list_move(&lab.m_cur, n_kinds(), list_key(k));
    else if (k == UK_ESC || k == 'q') lab.modal = NULL;
    else if (k == 'i') {
        lab.teach = layer_kinds[lab.m_cur];
        lab.teach_task = 0;
        lab_open(&modal_teach);
    } else if (k == UK_ENTER) {
        lab.modal = NULL;
        stack_insert(layer_kinds[lab.m_cur]);
    }
}

static void presets_draw(Rect box, Rect in)
{
    const PresetList *l = &lab.presets;
    box_at(box, "Load a preset: Enter loads, Escape cancels");
    if (!l->n) put(in.y, in.x, in.w, S_DIM, "no presets found");
    /* its layers on its line; the file of the one under the cursor at the bottom */
    int rows = in.h - 2, first = lab.m_cur >= rows ? lab.m_cur - rows + 1 : 0;
    for (int i = first; i < l->n && i - first < rows; i++) {
        int sel = i == lab.m_cur, y = in.y + i - first;
        if (sel) fill(y, in.x, in.w, S_SEL);
        put(y, in.x, in.w, sel ? S_SEL : S_NORMAL, "%-20s %s%s", l->name[i], l->stack[i],
            !strcmp(l->name[i], lab.preset) ? "  (loaded)" : "");
    }
    if (l->n) put(in.y + in.h - 1, in.x, in.w, S_DIM, "file: %s", l->path[lab.m_cur]);
}

static void presets_key(int k)
{
    if (list_key(k)) list_move(&lab.m_cur, lab.presets.n, list_key(k));
    else if (k == UK_ESC || k == 'q') lab.modal = NULL;
    else if (k == UK_ENTER && lab.presets.n) {
        lab.modal = NULL;
        load_preset_path(lab.presets.path[lab.m_cur]);
    }
}

const Modal modal_picker = {picker_draw, picker_key};
const Modal modal_presets = {presets_draw, presets_key};
