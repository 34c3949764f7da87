/* The lab: compose a stack, pick a task, train on a background thread, watch it live.
 *
 * This is the only file that calls curses, and only from the main (UI) thread. The trainer runs
 * on the engine's Runner thread and publishes into its monitor; this loop poll()s the terminal,
 * the runner's wake pipe and a self-pipe for signals, copies what was published, and redraws.
 * Signal handlers only set a flag and write to the self-pipe; every exit path calls endwin(). */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"
#include "ui.h"

/* Messages and labels are cut to fit the screen anyway. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#define MAX_TASKS 16
#define MAX_ROWS 256

/* ---------------- semantic colours ---------------- */
enum {
    S_NORMAL, S_TITLE, S_TAB, S_TAB_ON, S_KEY, S_KEYLABEL, S_SEL, S_ATTN, S_RECUR, S_CHAN,
    S_FIXED, S_LOSS, S_TEST, S_ACC, S_SERIES2, S_WARN, S_OK, S_DIM, S_SCORED, S_NOISE, S_SPECIAL,
    S_HEADER, S_KEYTOK, S_VALTOK, S_N
};

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
    [S_NOISE] = {COLOR_BLUE, -1, 0, A_DIM},
    [S_SPECIAL] = {COLOR_MAGENTA, -1, A_BOLD, A_UNDERLINE},
    [S_HEADER] = {-1, -1, A_BOLD, A_BOLD},
    [S_KEYTOK] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [S_VALTOK] = {COLOR_GREEN, -1, 0, 0},
};

/* ---------------- run history kept by the UI ---------------- */
typedef struct {
    int used;
    RunSpec spec;
    RunState state;
    char error[512];
    TrainResult result;
    double *sx, *sy; /* per step: global step, train loss */
    int ns, cs;
    double *ex, *etl, *etr, *eacc; /* per epoch: step, test loss, train loss, test acc */
    EpochStats *ep;
    int ne, ce;
} Hist;

typedef struct {
    char label[1040];
    int last_run;
    double acc[MAX_TASKS]; /* NaN when not run */
    int run[MAX_TASKS];
} Row;

typedef enum { M_NONE, M_HELP, M_PICKER, M_FORM, M_CONFIRM, M_PRESETS, M_TEACH } ModalKind;
typedef enum { F_KNOBS, F_TASK, F_OPTIONS, F_WIDTH, F_STRIPE, F_SAVE, F_EXPORT } FormPurpose;
typedef enum { C_QUIT, C_EXPORT, C_SAVE } ConfirmPurpose;
typedef enum { FT_INT, FT_NUM, FT_TEXT } FieldType;

typedef struct {
    char label[32];
    FieldType type;
    double min, max;
    char text[256];
    const char *help;
} Field;
/* Typing into a field just moved to replaces its text, as in a selected input box. */

typedef struct {
    FormPurpose purpose;
    int arg;
    char title[128];
    Field f[12];
    int nf, cur;
    int fresh; /* no key typed since the cursor came to this field */
} Form;

static struct {
    int quit, rc;
    int view;
    Layout lay;
    int utf8, color;
    /* stack */
    StackSpec stack;
    int width;
    NormKind norm;
    char preset[64];
    int cur_layer;
    /* tasks */
    int n_tasks, cur_task;
    TaskCfg task_cfg[MAX_TASKS];
    int32_t *s_in, *s_tg;
    int s_len;
    uint64_t s_seed;
    char s_err[256];
    /* run options */
    int epochs, batch;
    double lr, wd;
    long long seed;
    /* runs */
    Runner *runner;
    uint64_t cursor;
    Hist *hist;
    int nhist;
    RunSnapshot snap;
    int overlay[2];
    Row rows[MAX_ROWS];
    int nrows, cur_row, sort_col, sort_rev, marked[2];
    /* modal */
    ModalKind modal;
    int m_cur, m_scroll;
    Form form;
    ConfirmPurpose confirm;
    char confirm_q[256];
    char pending[512];
    char presets[64][64];
    char preset_paths[64][512];
    int npresets;
    const LayerKind *teach;
    /* status line */
    char status[512];
    int status_err;
    /* demo */
    int demo;
    double demo_t0;
    int demo_step;
    double last_draw;
    int dirty;
} A;

static volatile sig_atomic_t g_signal;
static int g_sigpipe[2] = {-1, -1};
static int g_curses_on;

static void on_signal(int sig)
{
    g_signal = sig;
    if (g_sigpipe[1] >= 0) {
        char c = (char)sig;
        ssize_t w = write(g_sigpipe[1], &c, 1);
        (void)w;
    }
}

static void restore_terminal(void)
{
    if (g_curses_on && !isendwin()) endwin();
    g_curses_on = 0;
}

static void status(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(A.status, sizeof A.status, fmt, ap);
    va_end(ap);
    A.status_err = err;
    A.dirty = 1;
}

/* ---------------- drawing helpers ---------------- */

static attr_t at(int s)
{
    if (!A.color) return theme[s].mono;
    return COLOR_PAIR(s) | theme[s].extra;
}

/* Formatted ASCII text at (y, x), at most w columns. Returns columns written. */
static int put(int y, int x, int w, int s, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int put(int y, int x, int w, int s, const char *fmt, ...)
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

static void fill(int y, int x, int w, int s)
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

static void glyph(int y, int x, int s, uint32_t c)
{
    char b[8];
    if (!A.utf8 && c >= 0x80) c = '#';
    utf8_encode(c, b);
    attrset(at(s));
    mvaddstr(y, x, b);
    attrset(A_NORMAL);
}

static void hline_at(int y, int x, int w)
{
    for (int i = 0; i < w; i++) glyph(y, x + i, S_DIM, A.utf8 ? 0x2500 : '-');
}

/* A box with a title, cleared inside. */
static void box_at(Rect r, const char *title)
{
    if (r.w < 4 || r.h < 2) return;
    for (int y = r.y; y < r.y + r.h; y++) fill(y, r.x, r.w, S_NORMAL);
    uint32_t h = A.utf8 ? 0x2500 : '-', v = A.utf8 ? 0x2502 : '|';
    uint32_t tl = A.utf8 ? 0x250C : '+', tr = A.utf8 ? 0x2510 : '+';
    uint32_t bl = A.utf8 ? 0x2514 : '+', br = A.utf8 ? 0x2518 : '+';
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

/* Multi-line text inside a rect, from line `skip`. Returns the number of lines of text. */
static int text_at(Rect r, const char *text, int skip, int s)
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

static int kind_style(const LayerKind *k)
{
    if (k->role == ROLE_CHANNEL) return S_CHAN;
    if (k->role != ROLE_SEQUENCE) return S_FIXED;
    return strstr(k->name, "attention") ? S_ATTN : S_RECUR;
}

/* ---------------- model facts from the stack ---------------- */

static void layer_cfg_of(const StackSpec *s, int i, int width, int vocab, int L, LayerCfg *c)
{
    layer_cfg_default(s->kind[i], width, vocab, L, c);
    for (int j = 0; j < s->kind[i]->n_knobs && j < ML_MAX_KNOBS; j++) c->knob[j] = s->knob[i][j];
}

static const TaskKind *cur_task(void) { return task_kinds[A.cur_task]; }

static int task_len(const TaskKind *t, const TaskCfg *c) { return t->seq_len_out(c); }

static void stack_text(const StackSpec *s, char *buf, size_t n)
{
    if (stack_format(s, buf, n) != 0 && n) snprintf(buf, n, "(stack too long to show)");
}

/* ---------------- history ---------------- */

static Hist *hist_get(int id)
{
    if (id < 0) return NULL;
    if (id >= A.nhist) {
        int n = id + 16;
        Hist *h = realloc(A.hist, sizeof *h * n);
        if (!h) return NULL;
        memset(h + A.nhist, 0, sizeof *h * (n - A.nhist));
        A.hist = h;
        A.nhist = n;
    }
    Hist *h = &A.hist[id];
    if (!h->used) {
        RunRecord rec;
        if (runner_record(A.runner, id, &rec) != 0) return NULL;
        h->used = 1;
        h->spec = rec.spec;
        h->state = rec.state;
    }
    return h;
}

static void hist_free_all(void)
{
    for (int i = 0; i < A.nhist; i++) {
        Hist *h = &A.hist[i];
        free(h->sx), free(h->sy), free(h->ex), free(h->etl), free(h->etr), free(h->eacc), free(h->ep);
    }
    free(A.hist);
    A.hist = NULL;
    A.nhist = 0;
}

static int task_index(const char *name)
{
    for (int i = 0; i < A.n_tasks; i++)
        if (!strcmp(task_kinds[i]->name, name)) return i;
    return -1;
}

static void results_add(int id, const Hist *h)
{
    if (h->ne == 0) return; /* nothing measured */
    int t = task_index(h->spec.train.task_name);
    if (t < 0) return;
    int r;
    for (r = 0; r < A.nrows; r++)
        if (!strcmp(A.rows[r].label, h->spec.label)) break;
    if (r == A.nrows) {
        if (A.nrows == MAX_ROWS) return;
        Row *n = &A.rows[A.nrows++];
        memset(n, 0, sizeof *n);
        snprintf(n->label, sizeof n->label, "%s", h->spec.label);
        for (int i = 0; i < MAX_TASKS; i++) n->acc[i] = NAN, n->run[i] = -1;
    }
    A.rows[r].acc[t] = h->result.best_test_acc;
    A.rows[r].run[t] = id;
    A.rows[r].last_run = id;
}

static double row_mad(const Row *r)
{
    double s = 0;
    for (int i = 0; i < A.n_tasks; i++) {
        if (isnan(r->acc[i])) return NAN;
        s += r->acc[i];
    }
    return s / A.n_tasks;
}

/* Copies what the runner published since the last call. */
static void pull(void)
{
    MetricPoint pts[256];
    uint64_t lost = 0;
    int n;
    while ((n = runner_read(A.runner, &A.cursor, pts, 256, &lost)) > 0) {
        for (int i = 0; i < n; i++) {
            const MetricPoint *p = &pts[i];
            Hist *h = hist_get(p->run);
            if (!h) continue;
            if (p->kind == MP_STEP) {
                if (h->ns == h->cs) {
                    int c = h->cs ? 2 * h->cs : 256;
                    double *a = realloc(h->sx, sizeof(double) * c);
                    if (a) h->sx = a;
                    double *b = a ? realloc(h->sy, sizeof(double) * c) : NULL;
                    if (!b) continue;
                    h->sy = b;
                    h->cs = c;
                }
                h->sx[h->ns] = (double)p->step;
                h->sy[h->ns] = p->loss;
                h->ns++;
                h->state = RUN_RUNNING;
            } else if (p->kind == MP_EPOCH) {
                if (h->ne == h->ce) {
                    int c = h->ce ? 2 * h->ce : 64;
                    double **arr[4] = {&h->ex, &h->etl, &h->etr, &h->eacc};
                    int ok = 1;
                    for (int j = 0; j < 4 && ok; j++) {
                        double *q = realloc(*arr[j], sizeof(double) * c);
                        if (q) *arr[j] = q;
                        else ok = 0;
                    }
                    EpochStats *q = ok ? realloc(h->ep, sizeof(EpochStats) * c) : NULL;
                    if (!q) continue;
                    h->ep = q;
                    h->ce = c;
                }
                h->ex[h->ne] = (double)p->step;
                h->etl[h->ne] = p->epoch.test_loss;
                h->etr[h->ne] = p->epoch.train_loss;
                h->eacc[h->ne] = p->epoch.test_acc;
                h->ep[h->ne] = p->epoch;
                h->ne++;
            } else {
                RunRecord rec;
                if (runner_record(A.runner, p->run, &rec) == 0) {
                    h->state = rec.state;
                    h->result = rec.result;
                    snprintf(h->error, sizeof h->error, "%s", rec.error);
                }
                if (h->state == RUN_FAILED) status(1, "run #%d failed: %s", p->run + 1, h->error);
                else if (h->state == RUN_DONE)
                    status(0, "run #%d (%s) done: best test accuracy %.3f after %d epochs",
                           p->run + 1, h->spec.train.task_name, h->result.best_test_acc,
                           h->result.epochs_run);
                else if (h->ne || h->ns)
                    status(0, "run #%d stopped after %d epochs", p->run + 1, h->result.epochs_run);
                results_add(p->run, h);
            }
        }
        A.dirty = 1;
    }
    if (lost) status(1, "the display missed %llu points (the ring was full)", (unsigned long long)lost);
    RunSnapshot s;
    runner_snapshot(A.runner, &s);
    if (memcmp(&s, &A.snap, sizeof s)) A.dirty = 1;
    A.snap = s;
}

/* ---------------- actions ---------------- */

static void sample_draw(void)
{
    const TaskKind *t = cur_task();
    TaskCfg c = A.task_cfg[A.cur_task];
    c.n_train = 1;
    c.n_test = 1;
    Dataset tr = {0}, te = {0};
    MlError err;
    A.s_err[0] = 0;
    if (task_generate(t, &c, A.s_seed, &tr, &te, &err) != 0) {
        snprintf(A.s_err, sizeof A.s_err, "%s", err.msg);
        A.s_len = 0;
        return;
    }
    free(A.s_in);
    free(A.s_tg);
    A.s_len = te.len;
    A.s_in = malloc(sizeof(int32_t) * te.len);
    A.s_tg = malloc(sizeof(int32_t) * te.len);
    if (A.s_in && A.s_tg) {
        memcpy(A.s_in, te.inputs, sizeof(int32_t) * te.len);
        memcpy(A.s_tg, te.targets, sizeof(int32_t) * te.len);
    } else {
        A.s_len = 0;
    }
    dataset_free(&tr);
    dataset_free(&te);
}

static int make_spec(RunSpec *s, int task, int epochs)
{
    if (A.stack.n == 0) {
        status(1, "the stack is empty: add a layer with a (or build one with s) first");
        return -1;
    }
    memset(s, 0, sizeof *s);
    train_cfg_default(&s->train);
    const TaskKind *t = task_kinds[task];
    s->train.task_name = t->name;
    s->train.task = A.task_cfg[task];
    s->train.width = A.width;
    s->train.norm = A.norm;
    s->train.stack = A.stack;
    s->train.epochs = epochs;
    s->train.batch = A.batch;
    s->train.lr = A.lr;
    s->train.wd = A.wd;
    s->train.seed = (uint64_t)A.seed;
    char text[1024];
    stack_text(&A.stack, text, sizeof text);
    if (A.width != 128) snprintf(s->label, sizeof s->label, "%s @%d", text, A.width);
    else snprintf(s->label, sizeof s->label, "%s", text);
    return 0;
}

static void enqueue(RunSpec *s)
{
    MlError err;
    int id = runner_enqueue(A.runner, s, &err);
    if (id < 0) {
        status(1, "cannot start the run: %s", err.msg);
        return;
    }
    hist_get(id);
    status(0, "run #%d queued: %s on %s, %d epochs", id + 1, s->label, s->train.task_name,
           s->train.epochs);
}

static void act_run(void)
{
    RunSpec s;
    if (make_spec(&s, A.cur_task, A.epochs) != 0) return;
    int busy = runner_busy(A.runner);
    A.overlay[0] = A.overlay[1] = -1;
    enqueue(&s);
    if (!busy) A.view = V_RUN;
}

/* The quick MAD protocol (engine/protocol.c) for the current stack: its six runs fill one row
 * of the results table, whose MAD column is then the quick protocol's MAD score. */
static void act_queue_tasks(void)
{
    const Protocol *p = protocol_find("quick");
    int n = 0, busy = runner_busy(A.runner);
    for (int i = 0; p && i < protocol_n_runs(p); i++) {
        RunSpec s;
        if (make_spec(&s, 0, p->epochs)) return; /* the label and checks; train is set below */
        protocol_train_cfg(p, i, &A.stack, A.width, A.norm, &s.train);
        enqueue(&s);
        n++;
    }
    status(0, "queued the quick MAD protocol for the stack: %d runs (see madlab(1), --protocol quick)",
           n);
    if (!busy) A.view = V_RUN;
}

static int stack_validate(const StackSpec *s, int width, MlError *err)
{
    char text[1024];
    StackSpec tmp;
    if (stack_format(s, text, sizeof text) != 0) return ml_fail(err, "the stack is too long");
    return stack_parse(text, "stack", width, &tmp, err);
}

static void set_stack_text(const char *text, const char *preset)
{
    StackSpec s;
    MlError err;
    if (stack_parse(text, "stack", A.width, &s, &err) != 0) {
        status(1, "%s", err.msg);
        return;
    }
    A.stack = s;
    A.cur_layer = 0;
    snprintf(A.preset, sizeof A.preset, "%s", preset ? preset : "");
}

static void load_preset_path(const char *path)
{
    Preset p;
    MlError err;
    if (preset_load(path, &p, &err) != 0) {
        status(1, "%s", err.msg);
        return;
    }
    A.stack = p.stack;
    A.width = p.width;
    A.norm = p.norm;
    A.cur_layer = 0;
    snprintf(A.preset, sizeof A.preset, "%s", p.name);
    status(0, "loaded preset %s: %s", p.name, p.description);
}

static void preset_cb(const char *name, const char *path, void *ctx)
{
    (void)ctx;
    if (A.npresets >= 64) return;
    for (int i = 0; i < A.npresets; i++)
        if (!strcmp(A.presets[i], name)) return; /* the user's copy shadows */
    snprintf(A.presets[A.npresets], sizeof A.presets[0], "%s", name);
    snprintf(A.preset_paths[A.npresets], sizeof A.preset_paths[0], "%s", path);
    A.npresets++;
}

static void user_preset_dir(char *buf, size_t n)
{
    const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (x && *x) snprintf(buf, n, "%s/madlab/presets", x);
    else snprintf(buf, n, "%s/.config/madlab/presets", home ? home : ".");
}

static int mkdir_p(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void do_save(const char *path, const char *name)
{
    Preset p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    snprintf(p.description, sizeof p.description, "saved from the lab");
    stack_text(&A.stack, p.stack_text, sizeof p.stack_text);
    p.width = A.width;
    p.norm = A.norm;
    p.stack = A.stack;
    MlError err;
    char dir[1024];
    user_preset_dir(dir, sizeof dir);
    if (mkdir_p(dir) != 0) {
        status(1, "cannot create %s: %s", dir, strerror(errno));
        return;
    }
    if (preset_save(&p, path, &err) != 0) status(1, "%s", err.msg);
    else {
        snprintf(A.preset, sizeof A.preset, "%s", name);
        status(0, "saved preset %s to %s", name, path);
    }
}

/* ---- export ---- */

static const char *const log_header[] = {"epoch", "train_loss", "test_loss", "train_acc",
                                         "test_acc", "test_acc_micro", "lr", "seconds",
                                         "tokens_per_s"};

static int export_paths(const char *prefix, char paths[][600], int *ids, int max)
{
    int n = 0;
    snprintf(paths[n], 600, "%s-results.csv", prefix);
    ids[n++] = -1;
    for (int i = 0; i < A.nhist && n < max; i++)
        if (A.hist[i].used && A.hist[i].ne > 0) {
            snprintf(paths[n], 600, "%s-run%d.csv", prefix, i + 1);
            ids[n++] = i;
        }
    return n;
}

static void do_export(const char *prefix)
{
    static char paths[257][600];
    int ids[257];
    int n = export_paths(prefix, paths, ids, 257);
    MlError err;
    int written = 0;
    for (int k = 0; k < n; k++) {
        CsvOut *c = csv_out_open(paths[k], &err);
        if (!c) {
            status(1, "export: %s", err.msg);
            return;
        }
        if (ids[k] < 0) {
            csv_out_text(c, "stack");
            for (int t = 0; t < A.n_tasks; t++) csv_out_text(c, task_kinds[t]->name);
            csv_out_text(c, "mad");
            csv_out_end_row(c);
            for (int r = 0; r < A.nrows; r++) {
                csv_out_text(c, A.rows[r].label);
                for (int t = 0; t < A.n_tasks; t++) {
                    if (isnan(A.rows[r].acc[t])) csv_out_text(c, "");
                    else csv_out_num(c, A.rows[r].acc[t]);
                }
                double m = row_mad(&A.rows[r]);
                if (isnan(m)) csv_out_text(c, "");
                else csv_out_num(c, m);
                csv_out_end_row(c);
            }
        } else {
            const Hist *h = &A.hist[ids[k]];
            for (size_t i = 0; i < sizeof log_header / sizeof *log_header; i++)
                csv_out_text(c, log_header[i]);
            csv_out_end_row(c);
            for (int e = 0; e < h->ne; e++) {
                const EpochStats *s = &h->ep[e];
                csv_out_int(c, s->epoch);
                double cols[] = {s->train_loss, s->test_loss, s->train_acc, s->test_acc,
                                 s->test_acc_micro, s->lr, s->seconds, s->tokens_per_s};
                for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) csv_out_num(c, cols[i]);
                csv_out_end_row(c);
            }
        }
        if (csv_out_commit(c, &err) != 0) {
            status(1, "export: %s", err.msg);
            return;
        }
        written++;
    }
    status(0, "exported %d file%s: %s%s", written, written == 1 ? "" : "s", paths[0],
           written > 1 ? " and the run logs beside it" : "");
}

static void ask(ConfirmPurpose p, const char *q)
{
    A.modal = M_CONFIRM;
    A.confirm = p;
    snprintf(A.confirm_q, sizeof A.confirm_q, "%s", q);
}

static void try_export(const char *prefix)
{
    static char paths[257][600];
    int ids[257];
    int n = export_paths(prefix, paths, ids, 257), exist = 0;
    for (int k = 0; k < n; k++)
        if (access(paths[k], F_OK) == 0) exist++;
    snprintf(A.pending, sizeof A.pending, "%s", prefix);
    if (exist) {
        char q[256];
        snprintf(q, sizeof q, "%d of the %d files (%s...) exist. Overwrite? (y/n)", exist, n, paths[0]);
        ask(C_EXPORT, q);
        return;
    }
    do_export(prefix);
}

/* ---- forms ---- */

static void field(Form *f, const char *label, FieldType t, double min, double max, double v,
                  const char *text, const char *help)
{
    Field *x = &f->f[f->nf++];
    memset(x, 0, sizeof *x);
    snprintf(x->label, sizeof x->label, "%s", label);
    x->type = t;
    x->min = min;
    x->max = max;
    x->help = help;
    if (t == FT_TEXT) snprintf(x->text, sizeof x->text, "%s", text ? text : "");
    else if (t == FT_INT) snprintf(x->text, sizeof x->text, "%.0f", v);
    else snprintf(x->text, sizeof x->text, "%g", v);
}

static void open_form(FormPurpose p, int arg, const char *title)
{
    memset(&A.form, 0, sizeof A.form);
    A.form.purpose = p;
    A.form.arg = arg;
    A.form.fresh = 1;
    snprintf(A.form.title, sizeof A.form.title, "%s", title);
    A.modal = M_FORM;
}

static int field_num(const Field *x, double *out, char *msg, size_t n)
{
    char *end;
    errno = 0;
    double v = strtod(x->text, &end);
    if (!x->text[0] || *end || errno || !isfinite(v)) {
        snprintf(msg, n, "%s: '%s' is not a number", x->label, x->text);
        return -1;
    }
    if (x->type == FT_INT && v != floor(v)) {
        snprintf(msg, n, "%s: '%s' is not a whole number", x->label, x->text);
        return -1;
    }
    if (v < x->min || v > x->max) {
        snprintf(msg, n, "%s: %g is out of range (%g to %g)", x->label, v, x->min, x->max);
        return -1;
    }
    *out = v;
    return 0;
}

static void form_apply(void)
{
    Form *f = &A.form;
    double v[12] = {0};
    char msg[512];
    for (int i = 0; i < f->nf; i++)
        if (f->f[i].type != FT_TEXT && field_num(&f->f[i], &v[i], msg, sizeof msg)) {
            f->cur = i;
            status(1, "%s", msg);
            return;
        }
    MlError err;
    switch (f->purpose) {
    case F_KNOBS: {
        StackSpec s = A.stack;
        for (int i = 0; i < f->nf; i++) s.knob[f->arg][i] = (int)v[i];
        if (stack_validate(&s, A.width, &err) != 0) {
            status(1, "%s", err.msg);
            return;
        }
        A.stack = s;
        status(0, "knobs of layer %d set", f->arg + 1);
        break;
    }
    case F_TASK: {
        TaskCfg c = A.task_cfg[f->arg];
        c.vocab = (int)v[0], c.seq_len = (int)v[1], c.n_train = (int)v[2], c.n_test = (int)v[3];
        c.frac_noise = v[4], c.noise_vocab = (int)v[5], c.k_motif = (int)v[6];
        c.v_motif = (int)v[7], c.n_copy = (int)v[8], c.multi_query = (int)v[9];
        /* as the command line does: a knob the task does not read is refused, not ignored */
        const TaskCfg *o = &A.task_cfg[f->arg];
        unsigned kn = task_kinds[f->arg]->knobs;
        const char *stray = !(kn & TASK_KNOB_FRAC_NOISE) && c.frac_noise != o->frac_noise ? "frac_noise"
                            : !(kn & TASK_KNOB_NOISE_VOCAB) && c.noise_vocab != o->noise_vocab ? "noise_vocab"
                            : !(kn & TASK_KNOB_K_MOTIF) && c.k_motif != o->k_motif ? "k_motif"
                            : !(kn & TASK_KNOB_V_MOTIF) && c.v_motif != o->v_motif ? "v_motif"
                            : !(kn & TASK_KNOB_N_COPY) && c.n_copy != o->n_copy ? "n_copy" : NULL;
        if (stray) {
            status(1, "%s does not read %s; leave it at its value", task_kinds[f->arg]->name, stray);
            return;
        }
        if (task_kinds[f->arg]->validate(&c, &err) != 0) {
            status(1, "%s", err.msg);
            return;
        }
        A.task_cfg[f->arg] = c;
        sample_draw();
        status(0, "%s: difficulty set", task_kinds[f->arg]->name);
        break;
    }
    case F_OPTIONS:
        A.epochs = (int)v[0], A.batch = (int)v[1], A.lr = v[2], A.wd = v[3], A.seed = (long long)v[4];
        status(0, "run options: %d epochs, batch %d, lr %g, wd %g, seed %lld", A.epochs, A.batch,
               A.lr, A.wd, A.seed);
        break;
    case F_WIDTH:
        if (stack_validate(&A.stack, (int)v[0], &err) != 0) {
            status(1, "%s", err.msg);
            return;
        }
        A.width = (int)v[0];
        status(0, "width %d", A.width);
        break;
    case F_STRIPE: {
        char text[1024];
        if (stripe_build(f->f[0].text, (int)v[1], f->f[2].text, text, sizeof text, &err) != 0) {
            status(1, "%s", err.msg);
            return;
        }
        StackSpec s;
        if (stack_parse(text, "striping", A.width, &s, &err) != 0) {
            status(1, "%s", err.msg);
            return;
        }
        A.stack = s;
        A.cur_layer = 0;
        A.preset[0] = 0;
        status(0, "striped stack: %s", text);
        break;
    }
    case F_SAVE: {
        const char *name = f->f[0].text;
        if (!name[0] || strchr(name, '/') || name[0] == '.') {
            status(1, "preset name '%s': use letters, digits and - (no / or leading .)", name);
            return;
        }
        char dir[1024];
        user_preset_dir(dir, sizeof dir);
        snprintf(A.pending, sizeof A.pending, "%s/%s.preset", dir, name);
        if (access(A.pending, F_OK) == 0) {
            char q[600];
            snprintf(q, sizeof q, "%s exists. Overwrite? (y/n)", A.pending);
            A.modal = M_NONE;
            ask(C_SAVE, q);
            snprintf(A.form.title, sizeof A.form.title, "%s", name);
            return;
        }
        A.modal = M_NONE;
        do_save(A.pending, name);
        return;
    }
    case F_EXPORT:
        if (!f->f[0].text[0]) {
            status(1, "export: give a path prefix");
            return;
        }
        A.modal = M_NONE;
        try_export(f->f[0].text);
        return;
    }
    A.modal = M_NONE;
}

static void open_knobs(int i)
{
    if (i < 0 || i >= A.stack.n) return;
    const LayerKind *k = A.stack.kind[i];
    if (k->n_knobs == 0) {
        status(0, "%s has no knobs", k->name);
        return;
    }
    char t[128];
    snprintf(t, sizeof t, "layer %d: %s", i + 1, k->name);
    open_form(F_KNOBS, i, t);
    for (int j = 0; j < k->n_knobs; j++)
        field(&A.form, k->knobs[j].name, FT_INT, k->knobs[j].min, k->knobs[j].max, A.stack.knob[i][j],
              NULL, k->knobs[j].help);
}

static void open_task_form(void)
{
    const TaskCfg *c = &A.task_cfg[A.cur_task];
    char t[128];
    snprintf(t, sizeof t, "difficulty of %s", cur_task()->name);
    open_form(F_TASK, A.cur_task, t);
    Form *f = &A.form;
    field(f, "vocab", FT_INT, 2, 4096, c->vocab, NULL, "tokens in the vocabulary");
    field(f, "seq_len", FT_INT, 2, 65536, c->seq_len, NULL, "sequence length");
    field(f, "n_train", FT_INT, 1, 1e7, c->n_train, NULL, "training sequences");
    field(f, "n_test", FT_INT, 1, 1e7, c->n_test, NULL, "test sequences");
    unsigned kn = cur_task()->knobs;
    const char *unread = "(not read by this task)";
    field(f, "frac_noise", FT_NUM, 0, 0.99, c->frac_noise, NULL,
          kn & TASK_KNOB_FRAC_NOISE ? "fraction of noise" : unread);
    field(f, "noise_vocab", FT_INT, 0, 4096, c->noise_vocab, NULL,
          kn & TASK_KNOB_NOISE_VOCAB ? "noise tokens" : unread);
    field(f, "k_motif", FT_INT, 1, 64, c->k_motif, NULL,
          kn & TASK_KNOB_K_MOTIF ? "tokens per key" : unread);
    field(f, "v_motif", FT_INT, 1, 64, c->v_motif, NULL,
          kn & TASK_KNOB_V_MOTIF ? "tokens per value" : unread);
    field(f, "n_copy", FT_INT, 0, 65536, c->n_copy, NULL,
          kn & TASK_KNOB_N_COPY ? "tokens to copy" : unread);
    field(f, "multi_query", FT_INT, 0, 1, c->multi_query, NULL, "1: every repeated key is scored");
}

static void open_options(void)
{
    open_form(F_OPTIONS, 0, "run options");
    field(&A.form, "epochs", FT_INT, 1, 100000, A.epochs, NULL, "epochs per run (the cap for Q)");
    field(&A.form, "batch", FT_INT, 1, 65536, A.batch, NULL, "sequences per step");
    field(&A.form, "lr", FT_NUM, 1e-7, 1, A.lr, NULL, "peak learning rate (cosine decay)");
    field(&A.form, "wd", FT_NUM, 0, 10, A.wd, NULL, "AdamW weight decay");
    field(&A.form, "seed", FT_INT, 0, 1e15, (double)A.seed, NULL, "data and init seed");
}

/* ---- stack editing ---- */

static void insert_layer(const LayerKind *k)
{
    if (k->role != ROLE_SEQUENCE && k->role != ROLE_CHANNEL) {
        status(1, "%s (%s) is added by the model itself; a stack holds sequence and channel mixers",
               k->name, role_name(k->role));
        return;
    }
    if (A.stack.n >= ML_MAX_LAYERS) {
        status(1, "a stack holds at most %d layers", ML_MAX_LAYERS);
        return;
    }
    StackSpec s = A.stack;
    int at_i = s.n ? A.cur_layer + 1 : 0;
    memmove(&s.kind[at_i + 1], &s.kind[at_i], sizeof s.kind[0] * (s.n - at_i));
    memmove(&s.knob[at_i + 1], &s.knob[at_i], sizeof s.knob[0] * (s.n - at_i));
    s.kind[at_i] = k;
    for (int j = 0; j < ML_MAX_KNOBS; j++) s.knob[at_i][j] = j < k->n_knobs ? k->knobs[j].def : 0;
    s.n++;
    MlError err;
    if (stack_validate(&s, A.width, &err) != 0) {
        status(1, "%s", err.msg);
        return;
    }
    A.stack = s;
    A.cur_layer = at_i;
    A.preset[0] = 0;
    status(0, "added %s as layer %d", k->name, at_i + 1);
}

static void swap_layers(int a, int b)
{
    if (a < 0 || b < 0 || a >= A.stack.n || b >= A.stack.n) return;
    const LayerKind *k = A.stack.kind[a];
    A.stack.kind[a] = A.stack.kind[b];
    A.stack.kind[b] = k;
    int t[ML_MAX_KNOBS];
    memcpy(t, A.stack.knob[a], sizeof t);
    memcpy(A.stack.knob[a], A.stack.knob[b], sizeof t);
    memcpy(A.stack.knob[b], t, sizeof t);
    A.cur_layer = b;
    A.preset[0] = 0;
}

/* ---- results ---- */

static int sort_cmp(const void *pa, const void *pb)
{
    const Row *a = pa, *b = pb;
    int c = A.sort_col; /* 0 = stack, 1..n_tasks = tasks, n_tasks+1 = MAD */
    int r;
    if (c == 0) r = strcmp(a->label, b->label);
    else {
        double x = c <= A.n_tasks ? a->acc[c - 1] : row_mad(a);
        double y = c <= A.n_tasks ? b->acc[c - 1] : row_mad(b);
        if (isnan(x) && isnan(y)) r = 0;
        else if (isnan(x)) return 1; /* empty cells last either way */
        else if (isnan(y)) return -1;
        else r = x < y ? 1 : x > y ? -1 : 0; /* best first */
    }
    return A.sort_rev ? -r : r;
}

static void results_sort(void)
{
    char a[2][1040] = {"", ""};
    for (int i = 0; i < 2; i++)
        if (A.marked[i] >= 0) snprintf(a[i], sizeof a[i], "%s", A.rows[A.marked[i]].label);
    qsort(A.rows, A.nrows, sizeof A.rows[0], sort_cmp);
    for (int i = 0; i < 2; i++)
        if (a[i][0])
            for (int r = 0; r < A.nrows; r++)
                if (!strcmp(A.rows[r].label, a[i])) A.marked[i] = r;
}

static void toggle_mark(int r)
{
    if (r < 0 || r >= A.nrows) return;
    if (A.marked[0] == r) A.marked[0] = A.marked[1], A.marked[1] = -1;
    else if (A.marked[1] == r) A.marked[1] = -1;
    else if (A.marked[0] < 0) A.marked[0] = r;
    else if (A.marked[1] < 0) A.marked[1] = r;
    else A.marked[0] = A.marked[1], A.marked[1] = r;
}

/* ---------------- views ---------------- */

static void draw_title(void)
{
    Rect r = A.lay.title;
    fill(r.y, 0, r.w, S_TITLE);
    int x = put(r.y, 0, r.w, S_TITLE, " madlab ");
    static const struct { int v; const char *name; } tabs[] = {
        {V_STACK, "1 Stack"}, {V_TASK, "2 Task"}, {V_RUN, "3 Run"}, {V_RESULTS, "4 Results"}};
    for (int i = 0; i < 4; i++)
        x += put(r.y, x, r.w - x, A.view == tabs[i].v ? S_TAB_ON : S_TAB, " %s ", tabs[i].name) + 1;
    char right[128];
    if (A.snap.id >= 0) {
        snprintf(right, sizeof right, "run #%d %s  epoch %d/%d  queue %d ", A.snap.id + 1,
                 run_state_name(A.snap.state), A.snap.epoch, A.snap.epochs, A.snap.queued);
    } else {
        snprintf(right, sizeof right, "idle ");
    }
    if (A.demo) snprintf(right + strlen(right), sizeof right - strlen(right), "[demo] ");
    int rw = (int)strlen(right);
    if (r.w - rw > x) put(r.y, r.w - rw, rw, S_TITLE, "%s", right);
}

static void draw_keybar(void)
{
    Rect r = A.lay.keybar;
    fill(r.y, 0, r.w, S_NORMAL);
    int x = 0;
    for (int i = 0; i < key_table_n && x < r.w; i++) {
        if (!key_table[i].bar || !(key_table[i].views & A.view)) continue;
        int k = key_table[i].keys[1] ? key_table[i].keys[1] : key_table[i].keys[0];
        char name[16];
        ui_key_name(k, name, sizeof name);
        x += put(r.y, x, r.w - x, S_KEY, "%s", name);
        x += put(r.y, x, r.w - x, S_KEYLABEL, "%-8s", key_table[i].bar);
    }
    if (x < r.w) fill(r.y, x, r.w - x, S_KEYLABEL);
}

static void draw_status(void)
{
    Rect r = A.lay.status;
    fill(r.y, 0, r.w, S_NORMAL);
    put(r.y, 1, r.w - 2, A.status_err ? S_WARN : S_NORMAL, "%s", A.status);
}

static void draw_stack_view(void)
{
    Rect l = A.lay.list;
    const TaskKind *t = cur_task();
    int L = task_len(t, &A.task_cfg[A.cur_task]);
    int V = A.task_cfg[A.cur_task].vocab;
    double tot_p = 0, tot_s = 0;
    for (int i = 0; i < A.stack.n; i++) {
        LayerCfg c;
        layer_cfg_of(&A.stack, i, A.width, V, L, &c);
        tot_p += (double)A.stack.kind[i]->n_params(&c);
        tot_s += A.stack.kind[i]->state_size(&c, L);
    }
    char p[32], s[32], b[32];
    fmt_count(tot_p, p, sizeof p);
    fmt_count(tot_s, s, sizeof s);
    fmt_bytes(tot_s * 4, b, sizeof b);
    put(l.y, 1, l.w - 1, S_HEADER, "Stack  %s%s  width %d, %s", A.preset[0] ? "preset " : "", A.preset,
        A.width, A.norm == NORM_LAYER ? "layernorm" : "rmsnorm");
    put(l.y + l.h - 1, 1, l.w - 1, S_HEADER, "total: %s params, state %s floats = %s at L=%d (%s)", p, s,
        b, L, t->name);
    /* numbers before knobs: the knob list is the one column whose length varies */
    put(l.y + 1, 1, l.w - 1, S_DIM, "%3s  %-25s %7s %7s  %s", "#", "kind", "params", "state", "knobs");
    int rows = l.h - 4;
    if (A.stack.n == 0)
        put(l.y + 3, 3, l.w - 3, S_DIM, "empty stack: a adds a layer, s builds one from a pattern, l loads a preset");
    int first = A.cur_layer >= rows ? A.cur_layer - rows + 1 : 0;
    for (int i = first; i < A.stack.n && i - first < rows; i++) {
        int y = l.y + 2 + i - first;
        const LayerKind *k = A.stack.kind[i];
        LayerCfg c;
        layer_cfg_of(&A.stack, i, A.width, V, L, &c);
        char knobs[64] = "";
        for (int j = 0; j < k->n_knobs; j++) {
            size_t u = strlen(knobs);
            char v[64];
            knob_text(&k->knobs[j], c.knob[j], v, sizeof v);
            snprintf(knobs + u, sizeof knobs - u, "%s%s=%s", j ? "," : "", k->knobs[j].name, v);
        }
        fmt_count((double)k->n_params(&c), p, sizeof p);
        double st = k->state_size(&c, L);
        fmt_count(st, s, sizeof s);
        fmt_bytes(st * 4, b, sizeof b);
        int sel = i == A.cur_layer && A.view == V_STACK;
        if (sel) fill(y, 0, l.w, S_SEL);
        put(y, 1, 4, sel ? S_SEL : S_DIM, "%3d", i + 1);
        put(y, 6, 25, sel ? S_SEL : kind_style(k), "%-25s", k->name);
        put(y, 32, l.w - 32, sel ? S_SEL : S_NORMAL, "%7s %7s  %s", p, s, knobs);
    }
    if (A.lay.side.w > 0) {
        Rect sd = A.lay.side;
        for (int y = sd.y; y < sd.y + sd.h; y++) glyph(y, sd.x - 1, S_DIM, A.utf8 ? 0x2502 : '|');
        if (A.stack.n > 0) {
            char page[4096];
            layer_page(A.stack.kind[A.cur_layer], page, sizeof page);
            Rect tr = {sd.x + 1, sd.y, sd.w - 2, sd.h};
            text_at(tr, page, 0, S_NORMAL);
        }
    }
}

static void draw_task_view(void)
{
    Rect l = A.lay.list;
    put(l.y, 1, l.w - 1, S_HEADER, "Tasks (Enter sets the difficulty, n draws another sample)");
    int y = l.y + 1;
    for (int i = 0; i < A.n_tasks && y < l.y + l.h; i++, y++) {
        int sel = i == A.cur_task;
        if (sel) fill(y, 0, l.w, S_SEL);
        put(y, 1, l.w - 1, sel ? S_SEL : S_NORMAL, "%-26s %s", task_kinds[i]->name,
            task_kinds[i]->summary);
    }
    y++;
    const TaskCfg *c = &A.task_cfg[A.cur_task];
    put(y++, 1, l.w - 1, S_HEADER, "Difficulty");
    put(y++, 3, l.w - 3, S_NORMAL, "vocab %d  seq_len %d  n_train %d  n_test %d  multi_query %d",
        c->vocab, c->seq_len, c->n_train, c->n_test, c->multi_query);
    put(y++, 3, l.w - 3, S_NORMAL, "frac_noise %g  noise_vocab %d  k_motif %d  v_motif %d  n_copy %d",
        c->frac_noise, c->noise_vocab, c->k_motif, c->v_motif, c->n_copy);
    y++;
    Rect sr = A.lay.side.w > 0 ? A.lay.side : (Rect){0, y, l.w, l.y + l.h - y};
    if (A.lay.side.w > 0)
        for (int yy = sr.y; yy < sr.y + sr.h; yy++) glyph(yy, sr.x - 1, S_DIM, A.utf8 ? 0x2502 : '|');
    int sy = sr.y;
    put(sy++, sr.x + 1, sr.w - 1, S_HEADER, "A test sequence (seed %llu)", (unsigned long long)A.s_seed);
    int x = sr.x + 1;
    x += put(sy, x, sr.w, S_KEYTOK, "key") + 1;
    x += put(sy, x, sr.w, S_VALTOK, "value") + 1;
    x += put(sy, x, sr.w, S_NOISE, "noise") + 1;
    x += put(sy, x, sr.w, S_SPECIAL, "special") + 1;
    x += put(sy, x, sr.w, S_DIM, "filler") + 1;
    put(sy++, x, sr.w - x, S_SCORED, "[scored]");
    if (A.s_err[0]) {
        put(sy, sr.x + 1, sr.w - 1, S_WARN, "%s", A.s_err);
        return;
    }
    /* scored positions in brackets too, so they read without colour */
    x = sr.x + 1;
    for (int i = 0; i < A.s_len && sy < sr.y + sr.h; i++) {
        char tok[16];
        int scored = A.s_tg[i] != ML_IGNORE;
        int n = snprintf(tok, sizeof tok, scored ? "[%d]" : "%d", A.s_in[i]);
        if (x + n + 1 > sr.x + sr.w) {
            x = sr.x + 1;
            sy++;
            if (sy >= sr.y + sr.h) break;
        }
        static const int style[] = {[TC_PLAIN] = S_NORMAL, [TC_SPECIAL] = S_SPECIAL,
                                    [TC_NOISE] = S_NOISE, [TC_KEY] = S_KEYTOK,
                                    [TC_VALUE] = S_VALTOK, [TC_FILLER] = S_DIM};
        int st = scored ? S_SCORED : style[ui_token_class(cur_task(), c, A.s_in[i], A.s_tg[i])];
        put(sy, x, n, st, "%s", tok);
        x += n + 1;
    }
    sy += 2;
    if (sy < sr.y + sr.h) put(sy++, sr.x + 1, sr.w - 1, S_DIM, "targets at scored positions (position:target):");
    x = sr.x + 1;
    for (int i = 0; i < A.s_len && sy < sr.y + sr.h; i++) {
        if (A.s_tg[i] == ML_IGNORE) continue;
        char t[32];
        int n = snprintf(t, sizeof t, "%d:%d", i, A.s_tg[i]);
        if (x + n + 1 > sr.x + sr.w) {
            x = sr.x + 1;
            if (++sy >= sr.y + sr.h) break;
        }
        put(sy, x, n, S_SCORED, "%s", t);
        x += n + 1;
    }
}

/* A chart in r: title line, y labels at the left, series coloured by styles[]. */
static void draw_chart(Rect r, const char *title, const Series *s, int ns, const int *styles,
                       const char *const *names, int zero_floor)
{
    if (r.h < 3 || r.w < 16) return;
    int x = r.x + 1;
    x += put(r.y, x, r.w - 1, S_HEADER, "%s", title) + 2;
    for (int i = 0; i < ns && names; i++) {
        glyph(r.y, x, styles[i], A.utf8 ? 0x25CF : '*');
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
    chart_render(s, ns, &sc, cw, ch, A.utf8, cells);
    char lab[16];
    chart_label(sc.ymax, lab, sizeof lab);
    put(r.y + 1, r.x, lw, S_DIM, "%*s", lw - 1, lab);
    chart_label(sc.ymin, lab, sizeof lab);
    put(r.y + ch, r.x, lw, S_DIM, "%*s", lw - 1, lab);
    for (int yy = 0; yy < ch; yy++) {
        glyph(r.y + 1 + yy, r.x + lw, S_DIM, A.utf8 ? 0x2502 : '|');
        for (int xx = 0; xx < cw; xx++) {
            ChartCell *c = &cells[yy * cw + xx];
            if (c->series >= 0) glyph(r.y + 1 + yy, r.x + lw + 1 + xx, styles[c->series], c->ch);
        }
    }
    chart_label(sc.xmin, lab, sizeof lab);
    put(r.y + r.h - 1, r.x + lw + 1, 8, S_DIM, "%s", lab);
    chart_label(sc.xmax, lab, sizeof lab);
    put(r.y + r.h - 1, r.x + r.w - 1 - (int)strlen(lab) - 6, (int)strlen(lab) + 6, S_DIM, "%s steps", lab);
    free(cells);
}

static int shown_runs(int *ids)
{
    int n = 0;
    for (int i = 0; i < 2; i++)
        if (A.overlay[i] >= 0 && A.overlay[i] < A.nhist && A.hist[A.overlay[i]].used) ids[n++] = A.overlay[i];
    if (n) return n;
    if (A.snap.id >= 0 && hist_get(A.snap.id)) ids[n++] = A.snap.id;
    else
        for (int i = A.nhist - 1; i >= 0; i--)
            if (A.hist[i].used) {
                ids[n++] = i;
                break;
            }
    return n;
}

static void draw_charts(Rect lr, Rect ar, const int *ids, int n)
{
    Series s[4] = {{0}};
    int st[4] = {0};
    const char *names[4] = {0};
    char nm[4][48];
    int ns = 0;
    for (int i = 0; i < n; i++) {
        Hist *h = &A.hist[ids[i]];
        s[ns] = (Series){h->sx, h->sy, h->ns};
        st[ns] = i ? S_SERIES2 : S_LOSS;
        snprintf(nm[ns], sizeof nm[ns], n > 1 ? "#%d train" : "train loss", ids[i] + 1);
        names[ns] = nm[ns];
        ns++;
        s[ns] = (Series){h->ex, h->etl, h->ne};
        st[ns] = i ? S_ACC : S_TEST;
        snprintf(nm[ns], sizeof nm[ns], n > 1 ? "#%d test" : "test loss (per epoch)", ids[i] + 1);
        names[ns] = nm[ns];
        ns++;
    }
    draw_chart(lr, "loss", s, ns, st, names, 1);
    ns = 0;
    for (int i = 0; i < n; i++) {
        Hist *h = &A.hist[ids[i]];
        s[ns] = (Series){h->ex, h->eacc, h->ne};
        st[ns] = i ? S_SERIES2 : S_ACC;
        snprintf(nm[ns], sizeof nm[ns], "#%d", ids[i] + 1);
        names[ns] = nm[ns];
        ns++;
    }
    draw_chart(ar, "test accuracy", s, ns, st, names, 1);
}

static void draw_counters(Rect r, const RunSpec *spec)
{
    if (r.h < 2) return;
    const TaskKind *t = task_find(spec->train.task_name);
    int L = t ? task_len(t, &spec->train.task) : 0, V = spec->train.task.vocab;
    const StackSpec *s = &spec->train.stack;
    hline_at(r.y, 0, r.w);
    put(r.y, 2, r.w - 2, S_HEADER, " state size (inference state per layer: floats, bytes as fp32) ");
    put(r.y + 1, 1, r.w - 1, S_DIM, "%-3s %-18s %11s %11s %11s %11s  (L = %d)", "#", "kind", "params",
        "state@L", "bytes@L", "state@8L", L);
    double tp = 0, ts = 0, ts8 = 0;
    int rows = r.h - 3, shown = 0;
    for (int i = 0; i < s->n; i++) {
        LayerCfg c;
        layer_cfg_of(s, i, spec->train.width, V, L, &c);
        double np = (double)s->kind[i]->n_params(&c), st = s->kind[i]->state_size(&c, L);
        LayerCfg c8 = c;
        c8.max_len = 8 * L;
        double st8 = s->kind[i]->state_size(&c8, 8 * L);
        tp += np, ts += st, ts8 += st8;
        if (s->kind[i]->role != ROLE_SEQUENCE && st == 0) continue; /* channel mixers: no state */
        if (shown >= rows) continue;
        char a[32], b[32], d[32], e[32];
        fmt_count(np, a, sizeof a);
        fmt_count(st, b, sizeof b);
        fmt_bytes(st * 4, d, sizeof d);
        fmt_count(st8, e, sizeof e);
        int y = r.y + 2 + shown++;
        put(y, 1, 3, S_DIM, "%-3d", i + 1);
        put(y, 5, 18, kind_style(s->kind[i]), "%-18s", s->kind[i]->name);
        put(y, 24, r.w - 24, S_NORMAL, "%11s %11s %11s %11s  %s", a, b, d, e,
            st8 > st * 1.5 ? "grows with L" : "fixed");
    }
    char a[32], b[32], d[32], e[32];
    fmt_count(tp, a, sizeof a);
    fmt_count(ts, b, sizeof b);
    fmt_bytes(ts * 4, d, sizeof d);
    fmt_count(ts8, e, sizeof e);
    put(r.y + r.h - 1, 1, r.w - 1, S_HEADER, "%-3s %-18s %11s %11s %11s %11s", "", "total (all layers)",
        a, b, d, e);
}

static void draw_run_view(void)
{
    int ids[2];
    int n = shown_runs(ids);
    Rect p = A.lay.progress;
    if (n == 0) {
        put(p.y, 1, p.w - 1, S_HEADER, "No run yet: r (or F5) trains the current stack on %s; "
            "loss and state size show here.", cur_task()->name);
        RunSpec s;
        if (A.stack.n && make_spec(&s, A.cur_task, A.epochs) == 0) draw_counters(A.lay.counters, &s);
        return;
    }
    /* the progress line follows the live run when it is one of those shown */
    int pi = n > 1 && A.snap.id == ids[1] ? 1 : 0;
    Hist *h = &A.hist[ids[pi]];
    const RunSnapshot *s = &A.snap;
    int live = s->id == ids[pi];
    int st = live ? (int)s->state : (int)h->state;
    char other[48] = "";
    if (n > 1) snprintf(other, sizeof other, "  + run #%d overlaid", ids[1 - pi] + 1);
    int ow = (int)strlen(other);
    put(p.y, 1, p.w - 1 - ow, S_HEADER, "run #%d  [%s]  %s  on %s", ids[pi] + 1,
        run_state_name((RunState)st), h->spec.train.task_name, h->spec.label);
    if (n > 1) put(p.y, p.w - ow - 1, ow, S_SERIES2, "%s", other);
    char el[32], eta[32], tps[32];
    if (live) {
        fmt_duration(s->elapsed_s, el, sizeof el);
        fmt_duration(s->eta_s, eta, sizeof eta);
        fmt_count(s->tokens_per_s, tps, sizeof tps);
        double frac = s->epochs && s->steps
                          ? ((s->epoch - 1) * (double)s->steps + s->step) / ((double)s->epochs * s->steps)
                          : 0;
        int x = 1;
        if (s->steps == 0) {
            fmt_duration(s->elapsed_s > 0 ? s->elapsed_s : 0, el, sizeof el);
            put(p.y + 1, x, p.w - x, S_NORMAL, "generating the data and building the model... "
                "(loss and state show below)");
            goto charts;
        }
        x += put(p.y + 1, x, p.w - x, S_NORMAL, "epoch %d/%d step %d/%d ", s->epoch, s->epochs,
                 s->step, s->steps);
        int bw = 20;
        int fillw = (int)(frac * bw);
        for (int i = 0; i < bw && x < p.w; i++)
            glyph(p.y + 1, x++, i < fillw ? S_ACC : S_DIM,
                  i < fillw ? (A.utf8 ? 0x2588 : '#') : (A.utf8 ? 0x2591 : '.'));
        char acc[16] = "-";
        if (h->ne) snprintf(acc, sizeof acc, "%.3f", h->eacc[h->ne - 1]);
        put(p.y + 1, x, p.w - x, S_NORMAL,
            " %3.0f%%  loss %.4f  test acc %s  %s tok/s  elapsed %s  ETA %s  queue %d", frac * 100,
            s->last_loss, acc, tps, el, eta, s->queued);
    } else if (st == RUN_FAILED) {
        put(p.y + 1, 1, p.w - 1, S_WARN, "failed: %s", h->error);
    } else {
        put(p.y + 1, 1, p.w - 1, S_NORMAL, "%d epochs, best test accuracy %.3f (epoch %d), final test loss %.4f, %.0fs",
            h->result.epochs_run, h->result.best_test_acc, h->result.best_epoch,
            h->result.final_test_loss, h->result.seconds);
    }
charts:
    draw_charts(A.lay.chart_loss, A.lay.chart_acc, ids, n);
    draw_counters(A.lay.counters, &h->spec);
}

static void draw_results_view(void)
{
    Rect b = A.lay.body;
    int cols = A.n_tasks + 2;
    int lw = b.w - 2 - 9 * (cols - 1);
    if (lw > 60) lw = 60;
    if (lw < 16) lw = 16;
    int y = b.y;
    put(y++, 1, b.w - 1, S_HEADER, "Results: best test accuracy per task; MAD = mean of all %d tasks "
        "(Space marks two rows to overlay, < > sort)", A.n_tasks);
    int lx = 1;
    for (int t = 0; t < A.n_tasks && task_kinds[t]->shorthand; t++)
        lx += put(b.y + b.h / 2, lx, b.w - lx, S_DIM, "%s %s  ", task_kinds[t]->shorthand,
                  task_kinds[t]->name);
    int x = 1;
    x += put(y, x, lw, A.sort_col == 0 ? S_SEL : S_HEADER, "%-*s", lw, "stack");
    for (int c = 1; c < cols && x < b.w; c++) {
        const TaskKind *tk = c <= A.n_tasks ? task_kinds[c - 1] : NULL;
        const char *nm = !tk ? "MAD" : tk->shorthand ? tk->shorthand : tk->name;
        char shortn[16];
        snprintf(shortn, sizeof shortn, "%.8s", nm);
        x += put(y, x + 1, 8, A.sort_col == c ? S_SEL : S_HEADER, "%8s", shortn) + 1;
    }
    y++;
    int table_h = b.h / 2 - 2;
    if (A.nrows == 0) put(y, 2, b.w - 2, S_DIM, "no results yet: finished runs fill this table (Q queues the quick protocol)");
    int first = A.cur_row >= table_h ? A.cur_row - table_h + 1 : 0;
    for (int r = first; r < A.nrows && r - first < table_h; r++, y++) {
        int sel = r == A.cur_row, mk = r == A.marked[0] ? 1 : r == A.marked[1] ? 2 : 0;
        if (sel) fill(y, 0, b.w, S_SEL);
        int s0 = sel ? S_SEL : S_NORMAL;
        put(y, 0, 1, mk == 1 ? S_LOSS : S_SERIES2, "%s", mk ? "*" : " ");
        x = 1 + put(y, 1, lw, s0, "%-*.*s", lw, lw, A.rows[r].label);
        for (int c = 1; c < cols; c++) {
            double v = c <= A.n_tasks ? A.rows[r].acc[c - 1] : row_mad(&A.rows[r]);
            if (isnan(v)) x += put(y, x + 1, 8, sel ? S_SEL : S_DIM, "%8s", "-") + 1;
            else x += put(y, x + 1, 8, s0, "%8.3f", v) + 1;
        }
    }
    int ids[2], n = 0;
    for (int i = 0; i < 2; i++)
        if (A.marked[i] >= 0 && A.marked[i] < A.nrows) ids[n++] = A.rows[A.marked[i]].last_run;
    if (n == 0 && A.nrows) ids[n++] = A.rows[A.cur_row].last_run;
    int cy = b.y + b.h / 2 + 1, chh = b.y + b.h - cy;
    if (n && chh >= 4) {
        Rect lr = {0, cy, b.w * 6 / 10, chh}, ar = {b.w * 6 / 10, cy, b.w - b.w * 6 / 10, chh};
        draw_charts(lr, ar, ids, n);
    }
}

static void draw_modal(void)
{
    Rect b = A.lay.body;
    int w = b.w - 8 < 100 ? b.w - 8 : 100, h = b.h - 2;
    Rect r = {(b.w - w) / 2, b.y + 1, w, h};
    Rect in = {r.x + 2, r.y + 1, r.w - 4, r.h - 2};
    switch (A.modal) {
    case M_HELP: {
        static char text[8192];
        size_t n = keys_help(text, sizeof text);
        (void)n;
        box_at(r, "Help: keys (Escape closes; Up/Down scroll)");
        int lines = text_at(in, text, A.m_scroll, S_NORMAL);
        if (A.m_scroll > lines - in.h) A.m_scroll = lines - in.h > 0 ? lines - in.h : 0;
        break;
    }
    case M_TEACH: {
        char page[4096];
        layer_page(A.teach, page, sizeof page);
        box_at(r, "Layer kind (Escape closes)");
        text_at(in, page, A.m_scroll, S_NORMAL);
        break;
    }
    case M_PICKER: {
        box_at(r, "Add a layer: Enter adds after the cursor, i shows its page, Escape cancels");
        int i = 0;
        for (const LayerKind *const *k = layer_kinds; *k; k++, i++) {
            if (i >= in.h) break;
            int sel = i == A.m_cur;
            if (sel) fill(in.y + i, in.x, in.w, S_SEL);
            put(in.y + i, in.x, 18, sel ? S_SEL : kind_style(*k), "%-18s", (*k)->name);
            put(in.y + i, in.x + 19, in.w - 19, sel ? S_SEL : S_NORMAL, "%-9s %s",
                role_name((*k)->role), (*k)->summary);
        }
        break;
    }
    case M_PRESETS: {
        box_at(r, "Load a preset: Enter loads, Escape cancels");
        if (!A.npresets) put(in.y, in.x, in.w, S_DIM, "no presets found");
        for (int i = 0; i < A.npresets && i < in.h; i++) {
            int sel = i == A.m_cur;
            if (sel) fill(in.y + i, in.x, in.w, S_SEL);
            put(in.y + i, in.x, in.w, sel ? S_SEL : S_NORMAL, "%-24s %s", A.presets[i], A.preset_paths[i]);
        }
        break;
    }
    case M_FORM: {
        Form *f = &A.form;
        Rect fr = {r.x, r.y, r.w, f->nf + 6 < r.h ? f->nf + 6 : r.h};
        box_at(fr, f->title);
        for (int i = 0; i < f->nf && i < fr.h - 4; i++) {
            int y = fr.y + 1 + i, sel = i == f->cur;
            put(y, in.x, 14, sel ? S_HEADER : S_NORMAL, "%-14s", f->f[i].label);
            int tw = 30;
            fill(y, in.x + 15, tw, sel ? S_SEL : S_DIM);
            put(y, in.x + 15, tw, sel ? S_SEL : S_NORMAL, "%s%s", f->f[i].text, sel ? "_" : "");
            if (f->f[i].type != FT_TEXT)
                put(y, in.x + 47, in.w - 47, S_DIM, "%g..%g %s", f->f[i].min, f->f[i].max,
                    f->f[i].help ? f->f[i].help : "");
            else
                put(y, in.x + 47, in.w - 47, S_DIM, "%s", f->f[i].help ? f->f[i].help : "");
        }
        put(fr.y + fr.h - 2, in.x, in.w, S_DIM, "type to replace, Backspace deletes, Up/Down move, Enter applies, Escape cancels");
        break;
    }
    case M_CONFIRM: {
        Rect cr = {r.x, b.y + b.h / 2 - 2, r.w, 4};
        box_at(cr, "Confirm");
        put(cr.y + 1, cr.x + 2, cr.w - 4, S_WARN, "%s", A.confirm_q);
        put(cr.y + 2, cr.x + 2, cr.w - 4, S_DIM, "y confirms, any other key cancels");
        break;
    }
    case M_NONE: break;
    }
}

static void draw(void)
{
    erase();
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    layout_compute(cols, rows, &A.lay);
    if (A.lay.too_small) {
        put(0, 0, cols, S_WARN, "madlab needs a terminal of at least %dx%d", UI_MIN_COLS, UI_MIN_ROWS);
        put(1, 0, cols, S_NORMAL, "(this one is %dx%d; q quits)", cols, rows);
        refresh();
        return;
    }
    draw_title();
    switch (A.view) {
    case V_STACK: draw_stack_view(); break;
    case V_TASK: draw_task_view(); break;
    case V_RUN: draw_run_view(); break;
    case V_RESULTS: draw_results_view(); break;
    }
    if (A.modal != M_NONE) draw_modal();
    draw_status();
    draw_keybar();
    refresh();
    A.dirty = 0;
    A.last_draw = ml_now();
}

/* ---------------- keys ---------------- */

static int translate(int ch)
{
    switch (ch) {
    case KEY_UP: return UK_UP;
    case KEY_DOWN: return UK_DOWN;
    case KEY_LEFT: return UK_LEFT;
    case KEY_RIGHT: return UK_RIGHT;
    case KEY_PPAGE: return UK_PGUP;
    case KEY_NPAGE: return UK_PGDN;
    case KEY_HOME: return UK_HOME;
    case KEY_END: return UK_END;
    case KEY_DC: return UK_DEL;
    case KEY_IC: return UK_INS;
    case KEY_BACKSPACE: case 127: case 8: return UK_BACKSPACE;
    case KEY_ENTER: case '\r': return UK_ENTER;
    case KEY_RESIZE: return UK_RESIZE;
    }
    if (ch >= KEY_F(1) && ch <= KEY_F(24)) return UK_F(ch - KEY_F0);
    return ch;
}

static void request_quit(void)
{
    if (runner_busy(A.runner)) ask(C_QUIT, "A run is going. Quit and stop it? (y/n)");
    else A.quit = 1;
}

static void list_move(int *cur, int n, int d)
{
    if (n <= 0) {
        *cur = 0;
        return;
    }
    *cur += d;
    if (*cur < 0) *cur = 0;
    if (*cur >= n) *cur = n - 1;
}

static int n_kinds(void)
{
    int n = 0;
    while (layer_kinds[n]) n++;
    return n;
}

static void modal_key(int k)
{
    switch (A.modal) {
    case M_HELP:
    case M_TEACH:
        if (k == UK_UP || k == 'k') A.m_scroll = A.m_scroll > 0 ? A.m_scroll - 1 : 0;
        else if (k == UK_DOWN || k == 'j') A.m_scroll++;
        else if (k == UK_PGDN || k == ' ') A.m_scroll += 10;
        else if (k == UK_PGUP) A.m_scroll = A.m_scroll > 10 ? A.m_scroll - 10 : 0;
        else if (k == UK_ESC || k == 'q' || k == '?' || k == UK_F(1) || k == UK_ENTER || k == 'i')
            A.modal = M_NONE;
        break;
    case M_PICKER:
        if (k == UK_UP || k == 'k') list_move(&A.m_cur, n_kinds(), -1);
        else if (k == UK_DOWN || k == 'j') list_move(&A.m_cur, n_kinds(), 1);
        else if (k == UK_ESC || k == 'q') A.modal = M_NONE;
        else if (k == 'i') {
            A.teach = layer_kinds[A.m_cur];
            A.m_scroll = 0;
            A.modal = M_TEACH;
        } else if (k == UK_ENTER) {
            A.modal = M_NONE;
            insert_layer(layer_kinds[A.m_cur]);
        }
        break;
    case M_PRESETS:
        if (k == UK_UP || k == 'k') list_move(&A.m_cur, A.npresets, -1);
        else if (k == UK_DOWN || k == 'j') list_move(&A.m_cur, A.npresets, 1);
        else if (k == UK_ESC || k == 'q') A.modal = M_NONE;
        else if (k == UK_ENTER && A.npresets) {
            A.modal = M_NONE;
            load_preset_path(A.preset_paths[A.m_cur]);
        }
        break;
    case M_FORM: {
        Form *f = &A.form;
        Field *x = &f->f[f->cur];
        size_t len = strlen(x->text);
        if (k == UK_ESC) {
            A.modal = M_NONE;
            status(0, "cancelled");
        } else if (k == UK_ENTER) form_apply();
        else if (k == UK_UP) f->cur = (f->cur + f->nf - 1) % f->nf, f->fresh = 1;
        else if (k == UK_DOWN || k == '\t') f->cur = (f->cur + 1) % f->nf, f->fresh = 1;
        else if (k == UK_BACKSPACE) {
            if (len) x->text[len - 1] = 0;
            f->fresh = 0;
        } else if (k == UK_CTRL('u')) x->text[0] = 0, f->fresh = 0;
        else if (k >= 32 && k < 127 && len + 1 < sizeof x->text) {
            if (f->fresh) x->text[0] = 0, len = 0;
            f->fresh = 0;
            x->text[len] = (char)k;
            x->text[len + 1] = 0;
        }
        break;
    }
    case M_CONFIRM:
        A.modal = M_NONE;
        if (k == 'y' || k == 'Y') {
            if (A.confirm == C_QUIT) A.quit = 1;
            else if (A.confirm == C_EXPORT) do_export(A.pending);
            else if (A.confirm == C_SAVE) do_save(A.pending, A.form.title);
        } else {
            status(0, "cancelled");
        }
        break;
    case M_NONE: break;
    }
}

static void handle_key(int k)
{
    A.dirty = 1;
    if (k == UK_RESIZE) return; /* the next draw lays out the new size */
    if (A.demo) { /* any key hands control back */
        A.demo = 0;
        status(0, "demo over: the lab is yours (? for help)");
        return;
    }
    if (A.modal != M_NONE) {
        modal_key(k);
        return;
    }
    if (A.lay.too_small && k != 'q' && k != UK_F(10)) return;
    Action a = key_action(k, A.view);
    MlError err;
    (void)err;
    switch (a) {
    case ACT_NONE: break;
    case ACT_HELP: A.modal = M_HELP; A.m_scroll = 0; break;
    case ACT_QUIT: request_quit(); break;
    case ACT_VIEW_STACK: A.view = V_STACK; break;
    case ACT_VIEW_TASK: A.view = V_TASK; break;
    case ACT_VIEW_RUN: A.view = V_RUN; break;
    case ACT_VIEW_RESULTS: A.view = V_RESULTS; break;
    case ACT_NEXT_VIEW: A.view = A.view == V_RESULTS ? V_STACK : A.view << 1; break;
    case ACT_RUN: act_run(); break;
    case ACT_PAUSE:
        if (A.snap.id >= 0 && (A.snap.state == RUN_RUNNING || A.snap.state == RUN_PAUSED)) {
            int p = A.snap.state != RUN_PAUSED;
            runner_pause(A.runner, p);
            status(0, p ? "pausing between steps (p resumes)" : "resumed");
        } else {
            runner_pause(A.runner, 0);
            status(0, "no run is going");
        }
        break;
    case ACT_STOP: runner_stop(A.runner); runner_pause(A.runner, 0); status(0, "stopping the current run"); break;
    case ACT_STOP_ALL: runner_stop_all(A.runner); runner_pause(A.runner, 0); status(0, "stopping the run and emptying the queue"); break;
    case ACT_QUEUE_TASKS: act_queue_tasks(); break;
    case ACT_OPTIONS: open_options(); break;
    case ACT_LOAD:
        A.npresets = 0;
        preset_list(preset_cb, NULL);
        A.m_cur = 0;
        A.modal = M_PRESETS;
        break;
    case ACT_SAVE:
        open_form(F_SAVE, 0, "save the stack as a preset");
        field(&A.form, "name", FT_TEXT, 0, 0, 0, A.preset[0] ? A.preset : "my-stack",
              "saved in $XDG_CONFIG_HOME/madlab/presets");
        break;
    case ACT_EXPORT: {
        char def[64];
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        strftime(def, sizeof def, "madlab-%Y%m%d-%H%M%S", &tmv);
        open_form(F_EXPORT, 0, "export run logs and results to CSV");
        field(&A.form, "path prefix", FT_TEXT, 0, 0, 0, def, "writes PREFIX-results.csv, PREFIX-runN.csv");
        break;
    }
    case ACT_REDRAW: clearok(curscr, TRUE); break;
    case ACT_UP:
    case ACT_DOWN:
    case ACT_TOP:
    case ACT_BOTTOM: {
        int d = a == ACT_UP ? -1 : a == ACT_DOWN ? 1 : a == ACT_TOP ? -100000 : 100000;
        if (A.view == V_STACK) list_move(&A.cur_layer, A.stack.n, d);
        else if (A.view == V_TASK) {
            int old = A.cur_task;
            list_move(&A.cur_task, A.n_tasks, d);
            if (old != A.cur_task) sample_draw();
        } else if (A.view == V_RESULTS) list_move(&A.cur_row, A.nrows, d);
        break;
    }
    case ACT_ADD: A.modal = M_PICKER; A.m_cur = 0; break;
    case ACT_DELETE:
        if (A.stack.n) {
            const LayerKind *gone = A.stack.kind[A.cur_layer];
            StackSpec s = A.stack;
            memmove(&s.kind[A.cur_layer], &s.kind[A.cur_layer + 1], sizeof s.kind[0] * (s.n - A.cur_layer - 1));
            memmove(&s.knob[A.cur_layer], &s.knob[A.cur_layer + 1], sizeof s.knob[0] * (s.n - A.cur_layer - 1));
            s.n--;
            A.stack = s;
            if (A.cur_layer >= s.n && s.n) A.cur_layer = s.n - 1;
            A.preset[0] = 0;
            status(0, "deleted %s", gone->name);
        }
        break;
    case ACT_MOVE_UP: swap_layers(A.cur_layer, A.cur_layer - 1); break;
    case ACT_MOVE_DOWN: swap_layers(A.cur_layer, A.cur_layer + 1); break;
    case ACT_EDIT:
        if (A.view == V_STACK) open_knobs(A.cur_layer);
        else open_task_form();
        break;
    case ACT_WIDTH:
        open_form(F_WIDTH, 0, "model width");
        field(&A.form, "width", FT_INT, 8, 4096, A.width, NULL, "channels per position");
        break;
    case ACT_STRIPE:
        open_form(F_STRIPE, 0, "striping: a stack from a pattern or a list");
        field(&A.form, "pattern", FT_TEXT, 0, 0, 0, "1A:3H",
              "1A:3H = 1 attention per 3 Hyena; or names: mh-attention hyena/mlp");
        field(&A.form, "depth", FT_INT, 0, ML_MAX_LAYERS / 2, 4, NULL, "blocks (0: one period)");
        field(&A.form, "channel", FT_TEXT, 0, 0, 0, "swiglu", "channel mixer after each (empty: none)");
        break;
    case ACT_TEACH:
        if (A.stack.n) {
            A.teach = A.stack.kind[A.cur_layer];
            A.m_scroll = 0;
            A.modal = M_TEACH;
        }
        break;
    case ACT_RESAMPLE: A.s_seed++; sample_draw(); break;
    case ACT_MARK: toggle_mark(A.cur_row); break;
    case ACT_SORT_NEXT: A.sort_col = (A.sort_col + 1) % (A.n_tasks + 2); results_sort(); break;
    case ACT_SORT_PREV: A.sort_col = (A.sort_col + A.n_tasks + 1) % (A.n_tasks + 2); results_sort(); break;
    case ACT_SORT_REVERSE: A.sort_rev = !A.sort_rev; results_sort(); break;
    case ACT_N: break;
    }
}

/* ---------------- demo ---------------- */

static const char *const demo_lines[] = {
    "demo: pure Hyena, then Hyena striped with attention, on in-context recall (any key takes over)",
    "demo: 'state' counts the floats a layer keeps between tokens at inference, at the task's length L",
    "demo: attention keeps a KV cache of 2 x L x width floats: it grows with L (see state@8L)",
    "demo: hyena's long filter spans the sequence (L states); mh-hyena, Mamba, GLA keep a fixed state",
    "demo: the loss chart overlays both runs: train loss per step, test loss per epoch",
    "demo: 4 shows the results table, one row per stack; Q queues the quick MAD protocol for a stack",
};

static void demo_start(void)
{
    A.demo = 1;
    A.demo_t0 = ml_now();
    A.demo_step = 0;
    int t = task_index("in-context-recall");
    if (t < 0) t = 0;
    A.cur_task = t;
    TaskCfg *c = &A.task_cfg[t];
    c->vocab = 8, c->seq_len = 32, c->n_train = 1024, c->n_test = 128;
    A.width = 64;
    A.epochs = 8;
    A.batch = 32;
    A.lr = 2e-3;
    A.wd = 0.1;
    /* The paper's lesson in two runs: pure Hyena against Hyena striped with attention. */
    RunSpec a, b;
    MlError err;
    set_stack_text("hyena swiglu(inner=128) hyena swiglu(inner=128)", NULL);
    if (make_spec(&a, t, A.epochs)) return;
    set_stack_text("mh-hyena swiglu(inner=128) mh-attention swiglu(inner=128)", NULL);
    if (make_spec(&b, t, A.epochs)) return;
    int ia = runner_enqueue(A.runner, &a, &err), ib = runner_enqueue(A.runner, &b, &err);
    A.overlay[0] = ia;
    A.overlay[1] = ib;
    hist_get(ia);
    hist_get(ib);
    A.view = V_RUN;
    sample_draw();
    status(0, "%s", demo_lines[0]);
}

static void demo_tick(void)
{
    if (!A.demo) return;
    int step = (int)((ml_now() - A.demo_t0) / 6.0);
    int n = (int)(sizeof demo_lines / sizeof *demo_lines);
    if (step != A.demo_step) {
        A.demo_step = step;
        status(0, "%s", demo_lines[step % n]);
    }
}

/* ---------------- main loop ---------------- */

static void init_colors(void)
{
    A.color = has_colors() && !getenv("NO_COLOR");
    if (!A.color) return;
    start_color();
    use_default_colors();
    for (int s = 1; s < S_N && s < COLOR_PAIRS; s++) init_pair((short)s, theme[s].fg, theme[s].bg);
}

static void defaults(void)
{
    memset(&A, 0, sizeof A);
    A.view = V_STACK;
    A.width = 128;
    A.norm = NORM_RMS;
    A.epochs = 10;
    A.batch = 128;
    A.lr = 1e-3;
    A.wd = 0.1;
    A.seed = 12345;
    A.overlay[0] = A.overlay[1] = -1;
    A.marked[0] = A.marked[1] = -1;
    A.s_seed = 1;
    while (task_kinds[A.n_tasks] && A.n_tasks < MAX_TASKS) A.n_tasks++;
    for (int i = 0; i < A.n_tasks; i++) A.task_cfg[i] = task_kinds[i]->defaults;
    A.cur_task = task_index("in-context-recall");
    if (A.cur_task < 0) A.cur_task = 0;
    Preset p;
    MlError err;
    if (preset_load("default", &p, &err) == 0) {
        A.stack = p.stack;
        A.width = p.width;
        A.norm = p.norm;
        snprintf(A.preset, sizeof A.preset, "%s", p.name);
    } else {
        TrainCfg c;
        train_cfg_default(&c);
        A.stack = c.stack;
    }
}

int lab_main(int demo, int threads)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "madlab: the lab needs a terminal; for headless training use "
                        "madlab run --preset default --task in-context-recall\n");
        return 2;
    }
    setlocale(LC_ALL, "");
    defaults();
    MlError err;
    if (pool_init(threads) != 0) {
        fprintf(stderr, "madlab: could not start %d threads\n", threads);
        return 1;
    }
    if (!(A.runner = runner_new(&err))) {
        fprintf(stderr, "madlab: %s\n", err.msg);
        return 1;
    }
    if (pipe(g_sigpipe) != 0) {
        fprintf(stderr, "madlab: cannot create a pipe: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 2; i++) fcntl(g_sigpipe[i], F_SETFL, fcntl(g_sigpipe[i], F_GETFL) | O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    atexit(restore_terminal);

    A.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
    set_escdelay(25);
    /* newterm, not initscr: initscr exits on an unknown TERM, newterm lets us say why */
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        fprintf(stderr, "madlab: cannot use the terminal (TERM=%s); try TERM=xterm-256color, or "
                        "madlab run headless\n", getenv("TERM") ? getenv("TERM") : "unset");
        runner_free(A.runner);
        pool_shutdown();
        return 1;
    }
    g_curses_on = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    init_colors();
    sample_draw();
    status(0, "? help  r run  a add layer  s stripe  l load preset  2 task  q quit");
    if (demo) demo_start();
    A.dirty = 1;

    while (!A.quit) {
        if (g_signal) {
            status(1, "signal %d: stopping", (int)g_signal);
            A.rc = 128 + (int)g_signal;
            break;
        }
        double now = ml_now();
        int live = A.snap.id >= 0 && A.snap.state == RUN_RUNNING;
        /* redraw on change, at most 20 times a second; once a second while training (clock) */
        if ((A.dirty && now - A.last_draw >= 0.05) || (live && now - A.last_draw >= 1.0)) draw();
        int timeout = A.dirty ? 50 : live ? 250 : 1000;
        struct pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0},
                                {runner_wake_fd(A.runner), POLLIN, 0},
                                {g_sigpipe[0], POLLIN, 0}};
        int pr = poll(fds, 3, timeout);
        if (pr < 0 && errno != EINTR) break;
        if (pr > 0 && (fds[1].revents & POLLIN)) runner_drain_wake(A.runner);
        if (pr > 0 && (fds[2].revents & POLLIN)) {
            char buf[16];
            while (read(g_sigpipe[0], buf, sizeof buf) > 0) {
            }
        }
        pull();
        /* keys: always try, since a resize arrives as KEY_RESIZE after poll was interrupted */
        int ch;
        while ((ch = getch()) != ERR) {
            handle_key(translate(ch));
            if (A.quit) break;
        }
        demo_tick();
    }
    restore_terminal();
    delscreen(scr);
    /* Stop the run between steps; a long step is not waited for (nothing is lost: exports are
     * explicit), the process exit ends it. */
    if (runner_shutdown(A.runner, 1.0) == 0) pool_shutdown();
    A.runner = NULL;
    hist_free_all();
    free(A.s_in);
    free(A.s_tg);
    close(g_sigpipe[0]);
    close(g_sigpipe[1]);
    g_sigpipe[0] = g_sigpipe[1] = -1;
    return A.rc;
}
