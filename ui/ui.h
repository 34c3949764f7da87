/* The lab's terminal-free parts: layout, charts, striping, the key table and its help text,
 * number formatting (labdata.h has the lab's data). Nothing here includes curses, so
 * tests/check_ui links it without a terminal; the curses side is declared in labui.h. */
#ifndef MADLAB_UI_H
#define MADLAB_UI_H

#include <stddef.h>
#include <stdint.h>

#include "madlab.h"

/* ---- layout: a pure function of the terminal size ---- */
typedef struct { int x, y, w, h; } Rect;

#define UI_MIN_COLS 60
#define UI_MIN_ROWS 18

typedef struct {
    int too_small;     /* below UI_MIN_COLS x UI_MIN_ROWS: only a message is drawn */
    Rect title;        /* top line: name, views, run state */
    Rect body;         /* between title and status */
    Rect status;       /* message line */
    Rect keybar;       /* bottom line: the main keys */
    /* stack and task views: a list and a side panel (side.w == 0 when narrow) */
    Rect list, side;
    /* run and results views */
    Rect progress;     /* 2 lines of progress */
    Rect chart_loss, chart_acc;
    Rect counters;     /* state-size table */
    Rect details;      /* beside it on wide terminals: the run's settings (w 0 when none) */
} Layout;

void layout_compute(int cols, int rows, Layout *out);

/* ---- charts: series scaled into a grid of cells of braille dots (2x4 per cell) or, when the
 * locale is not UTF-8, ASCII dots (1x2 per cell: ' . : ) ---- */
typedef struct {
    const double *x, *y; /* n points; non-finite y leaves a gap */
    int n;
    int dashed;    /* drawn in dashes (two cells on, two off), so it reads without colour */
    uint32_t mark; /* a glyph at each point (per-epoch series), 0 for none */
} Series;

typedef struct { double xmin, xmax, ymin, ymax; } ChartScale;

typedef struct {
    uint32_t ch; /* code point, ' ' when empty */
    int series;  /* the series that set the last dot in this cell, -1 when empty */
} ChartCell;

/* Range over the finite points of all series; the y range gets 5% padding and is never empty.
 * zero_floor: start y at 0 when all values are >= 0 (losses, accuracies). */
void chart_scale(const Series *s, int ns, int zero_floor, ChartScale *out);
uint32_t braille_char(unsigned bits); /* U+2800 + bits */
unsigned braille_bit(int dx, int dy); /* the bit of the dot at column dx (0..1), row dy (0..3) */
char ascii_dot_char(unsigned bits);   /* bit 0 upper dot, bit 1 lower dot */
/* cells: cols*rows, row-major, row 0 at the top. */
void chart_render(const Series *s, int ns, const ChartScale *sc, int cols, int rows, int utf8,
                  ChartCell *cells);
/* A y-axis label: 4 significant characters ("0.25", "1.3k"). */
void chart_label(double v, char *buf, size_t n);

/* ---- striping: build a stack from a pattern over depth ---- */
typedef struct {
    char letter;
    const char *kind; /* a sequence mixer, looked up by name when used */
} StripeLetter;
extern const StripeLetter stripe_letters[]; /* ends with letter 0 */
const LayerKind *stripe_letter_kind(char letter, const char **tried, size_t n);
/* pattern: "1A:3H" (counts of letters, one period, repeated until depth sequence mixers; depth 0
 * = one period) or a list of sequence mixer names "mh-attention hyena/mlp" (a name may carry its
 * own channel mixer after '/'). Each sequence mixer is followed by the channel mixer (channel, or
 * none when channel is NULL or empty). Writes the stack text. */
int stripe_build(const char *pattern, int depth, const char *channel, char *out, size_t n,
                 MlError *err);

/* ---- keys: one table dispatches keys and generates the help ---- */
enum {
    UK_UP = 0x1000, UK_DOWN, UK_LEFT, UK_RIGHT, UK_PGUP, UK_PGDN, UK_HOME, UK_END, UK_DEL,
    UK_INS, UK_BACKSPACE, UK_RESIZE,
    UK_F0 = 0x1100 /* UK_F0 + n is Fn */
};
#define UK_F(n) (UK_F0 + (n))
#define UK_ESC 27
#define UK_ENTER '\n'
#define UK_CTRL(c) ((c) & 0x1f)

typedef enum {
    V_STACK = 1, V_TASK = 2, V_RUN = 4, V_RESULTS = 8, V_STATE = 32, V_SCALE = 64, V_ALL = 15 | 32 | 64,
    V_DEMO = 16 /* the demo's keys, before the view's while it plays */
} ViewMask;

typedef enum {
    ACT_NONE, ACT_HELP, ACT_QUIT, ACT_VIEW_STACK, ACT_VIEW_TASK, ACT_VIEW_RUN, ACT_VIEW_RESULTS, ACT_VIEW_STATE, ACT_VIEW_SCALE, ACT_NEXT_VIEW,
    ACT_RUN, ACT_PAUSE, ACT_STOP, ACT_STOP_ALL, ACT_QUEUE_TASKS, ACT_OPTIONS, ACT_LOAD, ACT_SAVE, ACT_EXPORT,
    ACT_UP, ACT_DOWN, ACT_TOP, ACT_BOTTOM, ACT_ADD, ACT_DELETE, ACT_MOVE_UP, ACT_MOVE_DOWN, ACT_EDIT, ACT_WIDTH,
    ACT_STRIPE, ACT_FIT_STATE, ACT_TEACH, ACT_RESAMPLE, ACT_MARK, ACT_SORT_NEXT, ACT_SORT_PREV, ACT_SORT_REVERSE, ACT_NEXT_TASK, ACT_PREV_TASK, ACT_EXPORT_STATE, ACT_REDRAW,
    ACT_QUEUE_SCALE, ACT_ADD_SCALE_DIR, ACT_EXPORT_SCALE,
    ACT_DEMO_NEXT, ACT_DEMO_BACK, ACT_DEMO_TIMER, ACT_DEMO_END,
    ACT_N
} Action;

typedef struct {
    int keys[3];       /* up to three keys, 0-terminated */
    Action action;
    int views;         /* ViewMask where it applies */
    const char *bar;   /* short label for the key bar, or NULL */
    const char *help;
} KeyBinding;

extern const KeyBinding key_table[];
extern const int key_table_n;
Action key_action(int key, int view);           /* ACT_NONE when unbound in view */
void ui_key_name(int key, char *buf, size_t n);    /* "r", "F5", "Up", "Enter", "^L" */
/* The help text: one line per binding, grouped by view, '\n'-separated. Returns its length
 * (like snprintf). */
size_t keys_help(char *buf, size_t n);

/* ---- numbers ---- */
void fmt_count(double v, char *buf, size_t n);   /* 1234 -> "1.2k", 2.5e6 -> "2.50M" */
void fmt_bytes(double v, char *buf, size_t n);   /* "12.0 KiB" */

/* ---- teaching pages ---- */
/* The kind's page, or one built from its summary, role, knobs and state formula. */
void layer_page(const LayerKind *k, char *buf, size_t n);
/* A task's page: what it asks, its setting against its defaults, what is scored, MAD. */
void task_page(const TaskKind *t, const TaskCfg *c, char *buf, size_t n);

/* ---- token classes for the task sample (the one place that maps the engine's classes) ---- */
typedef enum { TC_PLAIN, TC_SPECIAL, TC_NOISE, TC_KEY, TC_VALUE, TC_FILLER } UiTokenClass;
UiTokenClass ui_token_class(const TaskKind *t, const TaskCfg *c, int32_t input, int32_t target);

#endif
