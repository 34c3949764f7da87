/* The task view: the tasks, the current one's difficulty, and a test sequence with its token
 * classes and scored positions. */
#include "config.h"
#include "labui.h"
#include "fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test sequence of the current task at its difficulty, drawn with seed s_seed. */
void task_sample_draw(void)
{
    const TaskKind *t = lab_task();
    TaskCfg c = lab.task_cfg[lab.cur_task];
    c.n_train = 1;
    c.n_test = 1;
    Dataset tr = {0}, te = {0};
    MlError err;
    lab.s_err[0] = 0;
    if (task_generate(t, &c, lab.s_seed, &tr, &te, &err) != 0) {
        snprintf(lab.s_err, sizeof lab.s_err, "%s", err.msg);
        lab.s_len = 0;
        return;
    }
    free(lab.s_in);
    free(lab.s_tg);
    lab.s_len = te.len;
    lab.s_in = malloc(sizeof(int32_t) * te.len);
    lab.s_tg = malloc(sizeof(int32_t) * te.len);
    if (lab.s_in && lab.s_tg) {
        memcpy(lab.s_in, te.inputs, sizeof(int32_t) * te.len);
        memcpy(lab.s_tg, te.targets, sizeof(int32_t) * te.len);
    } else {
        lab.s_len = 0;
    }
    dataset_free(&tr);
    dataset_free(&te);
}

/* A token as the sample shows it: its number, or for the text task (bytes) the character, with
 * '_' for a space and \n for a line break, so the sample reads as text. */
static void tok_text(int32_t v, char *buf, size_t n)
{
    if (!lab_task()->generate) snprintf(buf, n, "%d", v);
    else if (v == ' ') snprintf(buf, n, "_");
    else if (v == '\n') snprintf(buf, n, "\\n");
    else if (v > 32 && v < 127) snprintf(buf, n, "%c", (char)v);
    else snprintf(buf, n, "%d", v);
}

static void draw_task_view(void)
{
    Rect l = lab.lay.list;
    put(l.y, 1, l.w - 1, S_HEADER, "Tasks (Enter sets the difficulty, i explains, n another sample)");
    int y = l.y + 1;
    for (int i = 0; i < lab_n_tasks() && y < l.y + l.h; i++, y++) {
        int sel = i == lab.cur_task;
        if (sel) fill(y, 0, l.w, S_SEL);
        put(y, 1, l.w - 1, sel ? S_SEL : S_NORMAL, "%-26s %s", task_all[i]->name,
            task_all[i]->summary);
    }
    /* the current task's description and setting in full, wrapped */
    const TaskCfg *c = &lab.task_cfg[lab.cur_task];
    char text[768], set[256];
    task_setting_text(lab_task(), c, set, sizeof set);
    snprintf(text, sizeof text, "%s: %s", lab_task()->name, lab_task()->summary);
    y += text_at((Rect){1, y, l.w - 2, 2}, text, 0, S_DIM) > 1 ? 2 : 1;
    snprintf(text, sizeof text, "Difficulty: %s", set);
    y += text_at((Rect){1, y, l.w - 2, 2}, text, 0, S_HEADER) > 1 ? 2 : 1;
    if (lab_task()->generate) { /* the text task: what it reads, and how its score reads */
        snprintf(text, sizeof text, "Corpus: %s%s (Enter changes it); scored in bits per byte and "
                 "per-byte perplexity; L queues the scaling protocol on it",
                 c->corpus ? c->corpus : CORPUS_DEFAULT_PATH, c->corpus ? "" : ", the default");
        y += text_at((Rect){1, y, l.w - 2, 2}, text, 0, S_HEADER) > 1 ? 2 : 1;
    }
    int side = lab.lay.side.w > 0 && lab.lay.side.h > 0;
    Rect sr = side ? lab.lay.side : (Rect){0, y, l.w, l.y + l.h - y};
    if (side) vline_at(sr, sr.x - 1);
    int sy = sr.y;
    put(sy++, sr.x + 1, sr.w - 1, S_HEADER, "A test sequence (seed %llu)", (unsigned long long)lab.s_seed);
    /* the classes by mark as well as colour: ~ noise, . filler (its token shown once in the
     * legend), ! special, [x] scored */
    int x = sr.x + 1, xe = sr.x + sr.w;
    x += put(sy, x, xe - x, S_KEYTOK, "key") + 1;
    x += put(sy, x, xe - x, S_VALTOK, "value") + 1;
    x += put(sy, x, xe - x, S_NOISE, "~noise") + 1;
    x += put(sy, x, xe - x, S_SPECIAL, "special!") + 1;
    x += put(sy, x, xe - x, S_FILLER, ".filler") + 1;
    x += put(sy, x, xe - x, S_SCORED, "[x]") + 1;
    put(sy++, x, xe - x, S_NORMAL, "= scored");
    if (lab.s_err[0]) {
        put(sy, sr.x + 1, sr.w - 1, S_WARN, "%s", lab.s_err);
        return;
    }
    /* scored positions in brackets too, so they read without colour */
    x = sr.x + 1;
    for (int i = 0; i < lab.s_len && sy < sr.y + sr.h; i++) {
        char tok[16];
        int scored = lab.s_tg[i] != ML_IGNORE;
        UiTokenClass tc = ui_token_class(lab_task(), c, lab.s_in[i], lab.s_tg[i]);
        const char *pre = tc == TC_NOISE ? "~" : "";
        const char *post = tc == TC_SPECIAL ? "!" : "";
        char tt[16];
        tok_text(lab.s_in[i], tt, sizeof tt);
        int n = tc == TC_FILLER && !scored
                    ? snprintf(tok, sizeof tok, ".")
                    : snprintf(tok, sizeof tok, scored ? "[%s%s%s]" : "%s%s%s", pre, tt, post);
        if (x + n + 1 > sr.x + sr.w) {
            x = sr.x + 1;
            sy++;
            if (sy >= sr.y + sr.h) break;
        }
        static const int style[] = {[TC_PLAIN] = S_NORMAL, [TC_SPECIAL] = S_SPECIAL,
                                    [TC_NOISE] = S_NOISE, [TC_KEY] = S_KEYTOK,
                                    [TC_VALUE] = S_VALTOK, [TC_FILLER] = S_FILLER};
        int st = scored ? S_SCORED : style[tc];
        put(sy, x, n, st, "%s", tok);
        x += n + 1;
    }
    sy += 2;
    if (sy < sr.y + sr.h) put(sy++, sr.x + 1, sr.w - 1, S_DIM, "targets at scored positions (position:target):");
    x = sr.x + 1;
    for (int i = 0; i < lab.s_len && sy < sr.y + sr.h; i++) {
        if (lab.s_tg[i] == ML_IGNORE) continue;
        char t[32];
        char tt[16];
        tok_text(lab.s_tg[i], tt, sizeof tt);
        int n = snprintf(t, sizeof t, "%d:%s", i, tt);
        if (x + n + 1 > sr.x + sr.w) {
            x = sr.x + 1;
            if (++sy >= sr.y + sr.h) break;
        }
        put(sy, x, n, S_SCORED, "%s", t);
        x += n + 1;
    }
}

static void task_key(Action a)
{
    switch (a) {
    case ACT_UP:
    case ACT_DOWN:
    case ACT_TOP:
    case ACT_BOTTOM: {
        int old = lab.cur_task;
        list_move(&lab.cur_task, lab_n_tasks(), a);
        if (old != lab.cur_task) task_sample_draw();
        break;
    }
    case ACT_EDIT: form_open(&form_task, lab.cur_task); break;
    case ACT_TEACH:
        lab.teach_task = 1;
        lab_open(&modal_teach);
        break;
    case ACT_RESAMPLE:
        lab.s_seed++;
        task_sample_draw();
        break;
    default: break;
    }
}

const View view_task = {V_TASK, "2 Task", draw_task_view, task_key};
