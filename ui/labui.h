/* The lab's curses side, shared by the files that draw: the lab's state, the view and modal
 * interfaces (htop's Panel classes, tmux's window modes: a table of {draw, key}), forms, the
 * drawing primitives (draw.c) and the lab-wide actions (actions.c). Only the main thread calls
 * any of it. */
#ifndef MADLAB_LABUI_H
#define MADLAB_LABUI_H

#include <curses.h>
#include <stddef.h>

#include "labdata.h"
#include "ui.h"
#include "scaling.h"

/* Messages and labels are cut to fit the screen anyway. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- views and modals ---- */

/* A view: one tab. draw fills the body; key gets the actions the key table binds in this view
 * that are not lab-wide (lab_action). */
typedef struct {
    int id;          /* its ViewMask bit, as the key table names views */
    const char *tab; /* its title-bar tab */
    void (*draw)(void);
    void (*key)(Action a);
} View;
extern const View view_stack, view_task, view_run, view_results, view_state, view_scale;
extern const View *const lab_views[]; /* in tab order, NULL-terminated (lab.c) */

/* A modal: drawn over the view; it gets every key while open. box: the usual dialog box, in:
 * inside its border. */
typedef struct {
    void (*draw)(Rect box, Rect in);
    void (*key)(int k);
} Modal;
extern const Modal modal_help, modal_teach;      /* pages.c */
extern const Modal modal_picker, modal_presets;  /* pickers.c */
extern const Modal modal_form;                   /* form.c */
extern const Modal modal_confirm;                /* confirm.c */

/* ---- forms: a form's fields and its apply step are declared together (forms.c) ---- */
typedef enum { FT_INT, FT_LONG, FT_NUM, FT_TEXT } FieldType;
#define FORM_MAX_FIELDS 12
#define FORM_TEXT_MAX 256
#define FORM_REC_MAX 1024

/* One field: the value it edits in the form's record, its range and its help. */
typedef struct {
    const char *label;
    FieldType type; /* the record holds an int, a long long, a double or char[FORM_TEXT_MAX] */
    size_t off;     /* where in the record */
    double min, max;
    const char *help;
    /* an FT_INT that takes words, words[v - min] for v in min..max (an enumerated knob such as
     * routing=reference|topk); NULL for a number */
    const char *const *words;
} FieldDef;

typedef struct {
    const char *title;
    const FieldDef *fields; /* in the order shown */
    int nf;
    /* fields that depend on arg (a layer kind's knobs) instead of the above; returns how many */
    int (*fields_for)(int arg, FieldDef *out, int max);
    /* fills the record (FORM_REC_MAX bytes, zeroed) from the lab; may retitle the form */
    void (*load)(void *rec, int arg, char *title, size_t tn);
    /* takes the checked record; 0 when done (the form closes), -1 to keep it open */
    int (*apply)(void *rec, int arg);
} FormDef;
extern const FormDef form_knobs, form_task, form_options, form_width, form_stripe, form_save,
    form_export, form_fit_state, form_export_state, form_export_scale, form_scale_protocol,
    form_scale_dir;

typedef struct {
    const FormDef *def;
    int arg;
    char title[128];
    FieldDef f[FORM_MAX_FIELDS];
    char text[FORM_MAX_FIELDS][FORM_TEXT_MAX];
    int nf, cur;
    int fresh; /* no key typed since the cursor came to this field: typing replaces the text */
    union { long double align; char bytes[FORM_REC_MAX]; } rec;
} Form;
void form_open(const FormDef *def, int arg);

/* ---- the lab's state ---- */
typedef struct {
    int quit, rc;
    int view; /* the shown view's id */
    Layout lay;
    int utf8, color;
    /* the stack being composed */
    StackSpec stack;
    int width;
    NormKind norm;
    char preset[64]; /* the preset it came from, "" once edited */
    int demo_stack;  /* the stack is the demo's own (not worth a warning on quit) */
    int cur_layer;
    /* tasks and the sample sequence of the current one */
    int cur_task;
    TaskCfg task_cfg[LAB_MAX_TASKS];
    int32_t *s_in, *s_tg;
    int s_len;
    uint64_t s_seed;
    char s_err[256];
    /* run options */
    int epochs, batch;
    double lr, wd;
    long long seed;
    /* runs and results */
    Runner *runner;
    uint64_t cursor;
    RunSnapshot snap;
    int overlay[2]; /* runs the run view overlays, -1 when none */
    LabData data;
    int cur_row;
    int state_task, state_cur; /* the recall-against-state view: its task and point */
    ScaleSet *scale; /* the scaling view: the directories given with --scale-dir, added with its
                        form, or made by the lab's scaling protocol (L), loaded */
    int n_scale, scale_cur;
#define LAB_MAX_SCALE_JOBS 16
    ScaleJob *jobs[LAB_MAX_SCALE_JOBS]; /* the scaling protocols queued (L), one per directory */
    int n_jobs;
    char scale_budgets[FORM_TEXT_MAX]; /* the L form's last values ("" and 0: the quick protocol's) */
    int scale_sizes, scale_seq_len;
    /* modals */
    const Modal *modal; /* NULL when none */
    int m_cur, m_scroll;
    Form form;
    PresetList presets;
    const LayerKind *teach;
    int teach_task; /* the teaching page is the current task's, not teach's */
    char confirm_q[2400]; /* may hold several lines */
    StackSpec fitted;     /* the stack a confirmed state fit applies */
    double fit_budget;    /* the last state budget asked for (0: the paper's 4096) */
    void (*confirm_yes)(void);
    char pending[512], pending_name[256]; /* what a confirmed export or save writes */
    /* status line */
    char status[512];
    int status_err;
    double status_t; /* when it was set: after a while the view's key hints come back */
#define STATUS_KEEP_S 8.0
    /* demo */
    int demo;       /* the tour is playing */
    int demo_timer; /* it steps on by itself */
    double demo_t0; /* when its step began */
    int demo_step;
    double last_draw;
    int dirty;
} Lab;
extern Lab lab;

void lab_status(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lab_open(const Modal *m); /* m_cur and m_scroll from the top */

/* ---- drawing (draw.c): semantic styles mapped per theme ---- */
enum {
    S_NORMAL, S_TITLE, S_TAB, S_TAB_ON, S_KEY, S_KEYLABEL, S_SEL, S_ATTN, S_RECUR, S_CHAN,
    S_FIXED, S_LOSS, S_TEST, S_ACC, S_SERIES2, S_WARN, S_OK, S_DIM, S_SCORED, S_NOISE, S_SPECIAL,
    S_HEADER, S_KEYTOK, S_VALTOK, S_FILLER, S_N
};
void theme_init(void); /* colour pairs, or monochrome when there are no colours or NO_COLOR */
/* Formatted ASCII text at (y, x), at most w columns. Returns columns written. */
int put(int y, int x, int w, int s, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void fill(int y, int x, int w, int s);
void glyph(int y, int x, int s, uint32_t c); /* one code point; '#' for non-ASCII without UTF-8 */
void vline_at(Rect r, int x);                /* a column of the side panel's border */
void hline_at(int y, int x, int w);
void box_at(Rect r, const char *title); /* a box with a title, cleared inside */
void log_axis_draw(const LogAxis *a, int y, int x, int w, int ticks);
/* Multi-line text inside r, wrapped, from line skip. Returns the number of lines. */
int text_at(Rect r, const char *text, int skip, int s);
int kind_style(const LayerKind *k);
/* A chart in r: a title line, y labels at the left, series coloured by styles[]. */
void draw_chart(Rect r, const char *title, const Series *s, int ns, const int *styles,
                const char *const *names, int zero_floor);
void draw_frame(void); /* title bar, status line, key bar */

/* ---- lab-wide actions (actions.c) ---- */
int lab_action(Action a); /* the actions of every view; 0 when a itself is not one */
void lab_pull(void);      /* copies what the runner published */
const TaskKind *lab_task(void); /* the task view's current task, of task_all */
int lab_n_tasks(void);           /* the tasks the lab lists: task_all (the MAD tasks, then text) */
void layer_cfg_of(const StackSpec *s, int i, int width, int vocab, int L, LayerCfg *c);
void stack_text(const StackSpec *s, char *buf, size_t n);
int stack_validate(const StackSpec *s, int width, MlError *err);
void set_stack_text(const char *text, const char *preset);
int make_spec(RunSpec *s, int task, int epochs); /* the current stack on a task */
int enqueue(const RunSpec *s);                    /* the run's id, or -1 (status says why) */
void export_to(const char *prefix);               /* asks before overwriting */
void export_state_to(const char *prefix);         /* the same for PREFIX-state.csv */
void export_scale_to(const char *prefix); /* the same for PREFIX-scaling-{runs,frontier}.csv */
int save_preset(const char *name); /* asks before overwriting; -1 when the name is refused */
void load_preset_path(const char *path);
void confirm_ask(const char *question, void (*yes)(void));
/* Loads a scaling directory into the scaling view (again, when it is there: mad_dir NULL keeps
 * the MAD directory it had); its index, or -1 with err naming the directory. */
int lab_scale_add(const char *dir, const char *mad_dir, MlError *err);
/* Loads the scaling directories the lab's scaling protocol made before (lab_data_dir/scale/),
 * so a lab started again shows them; one that does not load is left out. */
void lab_scale_load_own(void);
/* Queues protocol p (madlab scale's, with the L form's changes) for the current stack; runs done
 * before (this session or another) are not run again. 0, or -1 with the reason on the status
 * line. */
int queue_scale(const ScaleProtocol *p);
const char *lab_corpus(void); /* the text task's corpus (NULL: the default) */
void list_move(int *cur, int n, Action a); /* ACT_UP, ACT_DOWN, ACT_TOP, ACT_BOTTOM */
void stack_insert(const LayerKind *k);     /* view_stack.c: after the cursor */
void task_sample_draw(void);               /* view_task.c: a new sample sequence */
void run_charts(Rect loss, Rect acc, const int *ids, int n); /* view_run.c */
void demo_start(void);                     /* demo.c */
void demo_tick(void);
void demo_draw(void);  /* its caption, over the body's last lines */
int demo_key(int k);   /* 1 when the demo took the key; any other key also ends it */
void demo_end(void);

#endif
