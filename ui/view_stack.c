/* The stack view: the layers of the stack being composed, their parameters, state size and
 * knobs, and the teaching page of the layer under the cursor. */
#include "config.h"
#include "labui.h"

#include <stdio.h>
#include <string.h>

static void draw_stack_view(void)
{
    Rect l = lab.lay.list;
    const TaskKind *t = lab_task();
    int L = t->seq_len_out(&lab.task_cfg[lab.cur_task]);
    int V = lab.task_cfg[lab.cur_task].vocab;
    double tot_p = 0, tot_s = 0;
    for (int i = 0; i < lab.stack.n; i++) {
        LayerCfg c;
        layer_cfg_of(&lab.stack, i, lab.width, V, L, &c);
        tot_p += (double)lab.stack.kind[i]->n_params(&c);
        tot_s += lab.stack.kind[i]->state_size(&c, L);
    }
    char p[32], s[32], b[32];
    fmt_count(tot_p, p, sizeof p);
    fmt_count(tot_s, s, sizeof s);
    fmt_bytes(tot_s * 4, b, sizeof b);
    /* the task first: what r will train this stack on */
    int x = 1 + put(l.y, 1, l.w - 1, S_HEADER, "Task %s", t->name);
    put(l.y, x, l.w - x, S_DIM, "  stack: %s%s width %d, %s", lab.preset[0] ? "preset " : "",
        lab.preset[0] ? lab.preset : "", lab.width, norm_name(lab.norm));
    put(l.y + l.h - 1, 1, l.w - 1, S_HEADER, "total %s params, state %s floats = %s at L=%d", p, s, b, L);
    /* numbers before knobs: the knob list is the one column whose length varies */
    put(l.y + 1, 1, l.w - 1, S_DIM, "%3s  %-25s %7s %7s  %s", "#", "kind", "params", "state", "knobs");
    int rows = l.h - 5; /* header, column names, the current layer's knobs, total */
    if (lab.stack.n == 0)
        put(l.y + 3, 3, l.w - 3, S_DIM, "empty stack: a adds a layer, s builds one from a pattern, l loads a preset");
    int first = lab.cur_layer >= rows ? lab.cur_layer - rows + 1 : 0;
    for (int i = first; i < lab.stack.n && i - first < rows; i++) {
        int y = l.y + 2 + i - first;
        const LayerKind *k = lab.stack.kind[i];
        LayerCfg c;
        layer_cfg_of(&lab.stack, i, lab.width, V, L, &c);
        char knobs[256] = "";
        for (int j = 0; j < k->n_knobs; j++) {
            size_t u = strlen(knobs);
            char v[48];
            knob_text(&k->knobs[j], c.knob[j], v, sizeof v);
            snprintf(knobs + u, sizeof knobs - u, "%s%s=%s", j ? "," : "", k->knobs[j].name, v);
        }
        /* a list that does not fit ends in '+'; the current layer's is shown whole below */
        int kw = l.w - 49;
        if (kw > 1 && (int)strlen(knobs) > kw) knobs[kw - 1] = '+', knobs[kw] = 0;
        fmt_count((double)k->n_params(&c), p, sizeof p);
        double st = k->state_size(&c, L);
        fmt_count(st, s, sizeof s);
        fmt_bytes(st * 4, b, sizeof b);
        int sel = i == lab.cur_layer && lab.view == V_STACK;
        if (sel) fill(y, 0, l.w, S_SEL);
        put(y, 1, 4, sel ? S_SEL : S_DIM, "%3d", i + 1);
        put(y, 6, 25, sel ? S_SEL : kind_style(k), "%-25s", k->name);
        put(y, 32, l.w - 32, sel ? S_SEL : S_NORMAL, "%7s %7s  %s", p, s, knobs);
    }
    if (lab.stack.n > 0) {
        const LayerKind *k = lab.stack.kind[lab.cur_layer];
        LayerCfg c;
        layer_cfg_of(&lab.stack, lab.cur_layer, lab.width, V, L, &c);
        char line[512];
        int u = snprintf(line, sizeof line, "layer %d %s:", lab.cur_layer + 1, k->name);
        for (int j = 0; j < k->n_knobs && u < (int)sizeof line; j++) {
            char v[64];
            knob_text(&k->knobs[j], c.knob[j], v, sizeof v);
            u += snprintf(line + u, sizeof line - u, " %s=%s", k->knobs[j].name, v);
        }
        if (u < (int)sizeof line)
            snprintf(line + u, sizeof line - u, "%s", k->n_knobs ? "  (Enter edits, i explains)" : "  (no knobs; i explains)");
        put(l.y + l.h - 2, 1, l.w - 1, S_DIM, "%s", line);
    }
    if (lab.lay.side.w > 0 && lab.lay.side.h > 0) {
        Rect sd = lab.lay.side;
        vline_at(sd, sd.x - 1);
        if (lab.stack.n > 0) {
            char page[4096];
            layer_page(lab.stack.kind[lab.cur_layer], page, sizeof page);
            Rect tr = {sd.x + 1, sd.y, sd.w - 2, sd.h};
            text_at(tr, page, 0, S_NORMAL);
        }
    }
}

void stack_insert(const LayerKind *k)
{
    if (k->role != ROLE_SEQUENCE && k->role != ROLE_CHANNEL) {
        lab_status(1, "%s (%s) is added by the model itself; a stack holds sequence and channel mixers",
               k->name, role_name(k->role));
        return;
    }
    if (lab.stack.n >= ML_MAX_LAYERS) {
        lab_status(1, "a stack holds at most %d layers", ML_MAX_LAYERS);
        return;
    }
    StackSpec s = lab.stack;
    int at_i = s.n ? lab.cur_layer + 1 : 0;
    memmove(&s.kind[at_i + 1], &s.kind[at_i], sizeof s.kind[0] * (s.n - at_i));
    memmove(&s.knob[at_i + 1], &s.knob[at_i], sizeof s.knob[0] * (s.n - at_i));
    s.kind[at_i] = k;
    for (int j = 0; j < ML_MAX_KNOBS; j++) s.knob[at_i][j] = j < k->n_knobs ? k->knobs[j].def : 0;
    s.n++;
    MlError err;
    if (stack_validate(&s, lab.width, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return;
    }
    lab.stack = s;
    lab.cur_layer = at_i;
    lab.preset[0] = 0, lab.demo_stack = 0;
    lab_status(0, "added %s as layer %d", k->name, at_i + 1);
}

static void swap_layers(int a, int b)
{
    if (a < 0 || b < 0 || a >= lab.stack.n || b >= lab.stack.n) return;
    const LayerKind *k = lab.stack.kind[a];
    lab.stack.kind[a] = lab.stack.kind[b];
    lab.stack.kind[b] = k;
    int t[ML_MAX_KNOBS];
    memcpy(t, lab.stack.knob[a], sizeof t);
    memcpy(lab.stack.knob[a], lab.stack.knob[b], sizeof t);
    memcpy(lab.stack.knob[b], t, sizeof t);
    lab.cur_layer = b;
    lab.preset[0] = 0, lab.demo_stack = 0;
}

static void delete_layer(void)
{
    if (!lab.stack.n) return;
    const LayerKind *gone = lab.stack.kind[lab.cur_layer];
    StackSpec s = lab.stack;
    memmove(&s.kind[lab.cur_layer], &s.kind[lab.cur_layer + 1], sizeof s.kind[0] * (s.n - lab.cur_layer - 1));
    memmove(&s.knob[lab.cur_layer], &s.knob[lab.cur_layer + 1], sizeof s.knob[0] * (s.n - lab.cur_layer - 1));
    s.n--;
    lab.stack = s;
    if (lab.cur_layer >= s.n && s.n) lab.cur_layer = s.n - 1;
    lab.preset[0] = 0;
    lab_status(0, "deleted %s", gone->name);
}

static void stack_key(Action a)
{
    switch (a) {
    case ACT_UP:
    case ACT_DOWN:
    case ACT_TOP:
    case ACT_BOTTOM: list_move(&lab.cur_layer, lab.stack.n, a); break;
    case ACT_ADD: lab_open(&modal_picker); break;
    case ACT_DELETE: delete_layer(); break;
    case ACT_MOVE_UP: swap_layers(lab.cur_layer, lab.cur_layer - 1); break;
    case ACT_MOVE_DOWN: swap_layers(lab.cur_layer, lab.cur_layer + 1); break;
    case ACT_EDIT:
        if (lab.cur_layer < 0 || lab.cur_layer >= lab.stack.n) break;
        if (lab.stack.kind[lab.cur_layer]->n_knobs == 0) lab_status(0, "%s has no knobs", lab.stack.kind[lab.cur_layer]->name);
        else form_open(&form_knobs, lab.cur_layer);
        break;
    case ACT_WIDTH: form_open(&form_width, 0); break;
    case ACT_STRIPE: form_open(&form_stripe, 0); break;
    case ACT_FIT_STATE:
        if (lab.stack.n) form_open(&form_fit_state, 0);
        else lab_status(1, "empty stack: add layers before fitting their state");
        break;
    case ACT_TEACH:
        if (lab.stack.n) {
            lab.teach = lab.stack.kind[lab.cur_layer];
            lab.teach_task = 0;
            lab_open(&modal_teach);
        }
        break;
    default: break;
    }
}

const View view_stack = {V_STACK, "1 Stack", draw_stack_view, stack_key};
