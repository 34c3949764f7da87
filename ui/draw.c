/* Drawing primitives and the theme: semantic styles (loss, accuracy, attention, recurrence,
 * warning...) mapped to colours, or to monochrome attributes when there are none. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "config.h"
#include "labui.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { short fg, bg; attr_t extra; attr_t mono; } theme[S_N] = {
    [S_NORMAL] = {-1, -1, 0, 0},
    [S_TITLE] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [S_TAB] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [S_TAB_ON] = {COLOR_BLACK, COLOR_GREEN, A_BOLD, A_BOLD},
    [S_KEY] = {-1, -1, A_BOLD, A_BOLD},
    [S_KEYLABEL] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [S_SEL] = {COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE},
    [S_ATTN] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [S_RECUR] = {COLOR_MAGENTA, -1, A_BOLD, A_UNDERLINE},
    [S_CHAN] = {COLOR_GREEN, -1, 0, 0},
    [S_FIXED] = {COLOR_BLUE, -1, 0, A_DIM},
    [S_LOSS] = {COLOR_YELLOW, -1, 0, 0},
    [S_TEST] = {COLOR_MAGENTA, -1, A_BOLD, A_BOLD},
    [S_ACC] = {COLOR_GREEN, -1, A_BOLD, A_BOLD},
    [S_SERIES2] = {COLOR_CYAN, -1, 0, A_UNDERLINE},
    [S_WARN] = {COLOR_RED, -1, A_BOLD, A_BOLD},
    [S_OK] = {COLOR_GREEN, -1, 0, 0},
    [S_DIM] = {COLOR_BLUE, -1, 0, A_DIM},
    [S_SCORED] = {COLOR_BLACK, COLOR_YELLOW, 0, A_REVERSE},
    [S_NOISE] = {COLOR_RED, -1, 0, A_DIM},
    [S_SPECIAL] = {COLOR_MAGENTA, -1, A_BOLD, A_UNDERLINE},
    [S_HEADER] = {-1, -1, A_BOLD, A_BOLD},
    [S_KEYTOK] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [S_VALTOK] = {COLOR_GREEN, -1, 0, 0},
    [S_FILLER] = {COLOR_BLUE, -1, A_DIM, A_DIM},
};

void theme_init(void)
{
    lab.color = has_colors() && !getenv("NO_COLOR");
    if (!lab.color) return;
    start_color();
    use_default_colors();
    for (int s = 1; s < S_N && s < COLOR_PAIRS; s++) init_pair((short)s, theme[s].fg, theme[s].bg);
}

static attr_t at(int s)
{
    if (!lab.color) return theme[s].mono;
    return COLOR_PAIR(s) | theme[s].extra;
}

int put(int y, int x, int w, int s, const char *fmt, ...)
{
    if (w <= 0) return 0;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int n = (int)strlen(buf);
    if (n > w) n = w;
    attrset(at(s));
    mvaddnstr(y, x, buf, n);
    attrset(A_NORMAL);
    return n;
}

void fill(int y, int x, int w, int s)
{
    attrset(at(s));
    for (int i = 0; i < w; i++) mvaddch(y, x + i, ' ');
    attrset(A_NORMAL);
}

static void utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) out[0] = (char)c, out[1] = 0;
    else if (c < 0x800) out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3F)), out[2] = 0;
    else {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        out[3] = 0;
    }
}

void glyph(int y, int x, int s, uint32_t c)
{
    char b[8];
    if (!lab.utf8 && c >= 0x80) c = '#';
    utf8_encode(c, b);
    attrset(at(s));
    mvaddstr(y, x, b);
    attrset(A_NORMAL);
}

void vline_at(Rect r, int x)
{
    for (int y = r.y; y < r.y + r.h; y++) glyph(y, x, S_DIM, lab.utf8 ? 0x2502 : '|');
}

void hline_at(int y, int x, int w)
{
    for (int i = 0; i < w; i++) glyph(y, x + i, S_DIM, lab.utf8 ? 0x2500 : '-');
}

/* A log axis along row y from column x, w wide: the line, then its tick marks and labels left
 * to right, a label skipped where the previous one still takes the room; ticks only when asked. */
void log_axis_draw(const LogAxis *a, int y, int x, int w, int ticks)
{
    hline_at(y, x, w);
    int free_x = 0;
    for (int i = 0; ticks && i < a->nt; i++) {
        int c = x + log_axis_col(a, a->tick[i], w);
        char t[16];
        fmt_count(a->tick[i], t, sizeof t);
        int tw = (int)strlen(t), at = c - tw / 2;
        if (at < 0) at = 0;
        if (at < free_x) continue;
        if (at + tw > x + w) at = x + w - tw;
        put(y, c, 1, S_DIM, "+");
        put(y + 1, at, tw, S_DIM, "%s", t);
        free_x = at + tw + 1;
    }
}

void box_at(Rect r, const char *title)
{
    if (r.w < 4 || r.h < 2) return;
    for (int y = r.y; y < r.y + r.h; y++) fill(y, r.x, r.w, S_NORMAL);
    uint32_t h = lab.utf8 ? 0x2500 : '-', v = lab.utf8 ? 0x2502 : '|';
    uint32_t tl = lab.utf8 ? 0x250C : '+', tr = lab.utf8 ? 0x2510 : '+';
    uint32_t bl = lab.utf8 ? 0x2514 : '+', br = lab.utf8 ? 0x2518 : '+';
    for (int x = r.x + 1; x < r.x + r.w - 1; x++) {
        glyph(r.y, x, S_DIM, h);
        glyph(r.y + r.h - 1, x, S_DIM, h);
    }
    for (int y = r.y + 1; y < r.y + r.h - 1; y++) {
        glyph(y, r.x, S_DIM, v);
        glyph(y, r.x + r.w - 1, S_DIM, v);
    }
    glyph(r.y, r.x, S_DIM, tl);
    glyph(r.y, r.x + r.w - 1, S_DIM, tr);
    glyph(r.y + r.h - 1, r.x, S_DIM, bl);
    glyph(r.y + r.h - 1, r.x + r.w - 1, S_DIM, br);
    if (title) put(r.y, r.x + 2, r.w - 4, S_HEADER, " %s ", title);
}

int text_at(Rect r, const char *text, int skip, int s)
{
    int line = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        /* wrap long lines at the rect's width, at a space when there is one */
        int off = 0;
        do {
            int n = len - off < r.w ? len - off : r.w;
            if (off + n < len) {
                int b = n;
                while (b > r.w / 2 && p[off + b] != ' ') b--;
                if (p[off + b] == ' ') n = b;
            }
            if (line >= skip && line - skip < r.h) {
                attrset(at(s));
                mvaddnstr(r.y + line - skip, r.x, p + off, n);
                attrset(A_NORMAL);
            }
            line++;
            off += n;
            while (off < len && p[off] == ' ' && off + 1 < len && 1) off++;
        } while (off < len && r.w > 0);
        if (!e) break;
        p = e + 1;
    }
    return line;
}

int kind_style(const LayerKind *k)
{
    if (k->role == ROLE_CHANNEL) return S_CHAN;
    if (k->role != ROLE_SEQUENCE) return S_FIXED;
    return strstr(k->name, "attention") ? S_ATTN : S_RECUR;
}


/* A chart in r: title line, y labels at the left, series coloured by styles[]. */
void draw_chart(Rect r, const char *title, const Series *s, int ns, const int *styles,
                       const char *const *names, int zero_floor)
{
    if (r.h < 3 || r.w < 16) return;
    int x = r.x + 1;
    x += put(r.y, x, r.w - 1, S_HEADER, "%s", title) + 2;
    /* the legend shows each series as drawn: its mark, or a solid or dashed stroke */
    for (int i = 0; i < ns && names && x < r.x + r.w - 3; i++) {
        uint32_t g = s[i].mark ? s[i].mark : s[i].dashed ? (lab.utf8 ? 0x2504 : ':') : (lab.utf8 ? 0x2500 : '-');
        glyph(r.y, x, styles[i], g);
        glyph(r.y, x + 1, styles[i], s[i].mark ? ' ' : g);
        x += 2;
        x += put(r.y, x, r.x + r.w - x, styles[i], "%s", names[i]) + 1;
    }
    int lw = 6, cw = r.w - lw - 2, ch = r.h - 2;
    if (cw < 4 || ch < 1) return;
    ChartScale sc;
    chart_scale(s, ns, zero_floor, &sc);
    if (sc.xmin > 0) sc.xmin = 0; /* both charts share the step axis from 0 */
    ChartCell *cells = calloc((size_t)cw * ch, sizeof *cells);
    if (!cells) return;
    chart_render(s, ns, &sc, cw, ch, lab.utf8, cells);
    char label[16];
    chart_label(sc.ymax, label, sizeof label);
    put(r.y + 1, r.x, lw, S_DIM, "%*s", lw - 1, label);
    chart_label(sc.ymin, label, sizeof label);
    put(r.y + ch, r.x, lw, S_DIM, "%*s", lw - 1, label);
    for (int yy = 0; yy < ch; yy++) {
        glyph(r.y + 1 + yy, r.x + lw, S_DIM, lab.utf8 ? 0x2502 : '|');
        for (int xx = 0; xx < cw; xx++) {
            ChartCell *c = &cells[yy * cw + xx];
            if (c->series >= 0) glyph(r.y + 1 + yy, r.x + lw + 1 + xx, styles[c->series], c->ch);
        }
    }
    chart_label(sc.xmin, label, sizeof label);
    put(r.y + r.h - 1, r.x + lw + 1, 8, S_DIM, "%s", label);
    chart_label(sc.xmax, label, sizeof label);
    put(r.y + r.h - 1, r.x + r.w - 1 - (int)strlen(label) - 6, (int)strlen(label) + 6, S_DIM, "%s steps", label);
    free(cells);
}

static void draw_title(void)
{
    Rect r = lab.lay.title;
    fill(r.y, 0, r.w, S_TITLE);
    char right[128];
    if (lab.snap.id >= 0)
        snprintf(right, sizeof right, "%s#%d %s  epoch %d/%d  queue %d ", r.w >= 100 ? "run " : "",
                 lab.snap.id + 1, run_state_name(lab.snap.state), lab.snap.epoch, lab.snap.epochs,
                 lab.snap.queued);
    else
        snprintf(right, sizeof right, "idle ");
    if (lab.demo) snprintf(right + strlen(right), sizeof right - strlen(right), "[demo] ");
    int rw = (int)strlen(right);
    /* the tabs as " 1 Stack " when there is room beside the run state, else "1 Stack" */
    int tabs = 0, nv = 0;
    for (const View *const *v = lab_views; *v; v++, nv++) tabs += (int)strlen((*v)->tab);
    int roomy = 8 + tabs + 3 * nv + rw <= r.w;
    int x = put(r.y, 0, r.w, S_TITLE, roomy ? " madlab " : "madlab ");
    for (const View *const *v = lab_views; *v; v++)
        x += put(r.y, x, r.w - rw - x, lab.view == (*v)->id ? S_TAB_ON : S_TAB, roomy ? " %s " : "%s",
                 (*v)->tab) + 1;
    put(r.y, r.w - rw, rw, S_TITLE, "%s", right);
}

static void draw_keybar(void)
{
    Rect r = lab.lay.keybar;
    fill(r.y, 0, r.w, S_NORMAL);
    int x = 0;
    for (int i = 0; i < key_table_n && x < r.w; i++) {
        if (!key_table[i].bar || !(key_table[i].views & lab.view)) continue;
        int k = key_table[i].keys[1] ? key_table[i].keys[1] : key_table[i].keys[0];
        char name[16];
        ui_key_name(k, name, sizeof name);
        x += put(r.y, x, r.w - x, S_KEY, "%s", name);
        x += put(r.y, x, r.w - x, S_KEYLABEL, "%-8s", key_table[i].bar);
    }
    if (x < r.w) fill(r.y, x, r.w - x, S_KEYLABEL);
}

/* What to do next in this view: the first step first. */
static void view_hint(char *buf, size_t n)
{
    const char *task = lab_task()->name;
    switch (lab.view) {
    case V_STACK:
        snprintf(buf, n, "r trains this stack on %s  a add  s stripe  l load  ? help", task);
        break;
    case V_TASK:
        snprintf(buf, n, "r trains the stack on %s  Enter difficulty  i explains  ? help", task);
        break;
    case V_RUN:
        snprintf(buf, n, lab.snap.id >= 0 ? "p pauses  x stops  4 results  e exports  ? help"
                                          : "r trains the stack on the task  1 stack  2 task  ? help");
        break;
    case V_STATE:
        snprintf(buf, n, "Up/Down a stack  t/T (Left/Right) the task  c exports CSV  ? help");
        break;
    case V_SCALE:
        snprintf(buf, n, "Up/Down a directory  a adds one  L runs the scaling protocol  ? help");
        break;
    default: snprintf(buf, n, "Space marks rows to overlay  < > sort  e exports CSV  ? help"); break;
    }
}

static void draw_status(void)
{
    Rect r = lab.lay.status;
    fill(r.y, 0, r.w, S_NORMAL);
    if (lab.status[0]) {
        put(r.y, 1, r.w - 2, lab.status_err ? S_WARN : S_NORMAL, "%s", lab.status);
        return;
    }
    char hint[256];
    view_hint(hint, sizeof hint);
    put(r.y, 1, r.w - 2, S_DIM, "%s", hint);
}

void draw_frame(void)
{
    draw_title();
    draw_status();
    draw_keybar();
}
