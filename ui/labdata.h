/* The lab's data that is not curses (ui/labdata.c): the history of runs as the runner published
 * them, the results table (one row per stack and task setting, best test accuracy per task, MAD) with its sort
 * order and marks, the CSV export, and the user's presets. tests/check_ui links it without a
 * terminal. */
#ifndef MADLAB_LABDATA_H
#define MADLAB_LABDATA_H

#include <stddef.h>

#include "madlab.h"
#include "scaling.h"
#include "fileio.h"

#define LAB_MAX_TASKS 16
#define LAB_MAX_ROWS 256

/* One run as the lab saw it: its spec, how it ended, and its curves. */
typedef struct {
    int used; /* the runner knows this id */
    RunSpec spec;
    RunState state;
    char error[512];
    TrainResult result;
    double *sx, *sy; /* per step: global step, train loss */
    int ns, cs;
    double *ex, *etl, *etr, *eacc; /* per epoch: step, test loss, train loss, test accuracy */
    EpochStats *ep;                /* per epoch: everything, for the export */
    int ne, ce;
    int exported; /* its log was written by an export (each run is exported once) */
    /* a run of the lab's scaling protocol: its job (1-based, 0 for any other run) and its index
     * in the job's plan; it fills no results row (its result goes to the job's directory) */
    int scale_job, scale_i;
    char note[200]; /* what the run view says the run is, besides its task and stack */
} RunHist;

/* One row per stack and setting: runs at different settings never share a row, so a row's
 * cells (and their mean, MAD) compare like with like. */
typedef struct {
    char label[1040];       /* the stack (RunSpec.label) */
    char setting[128];      /* results_setting of its runs: "defaults", "quick", "seq_len 16" */
    int last_run;           /* the run that last filled a cell */
    double acc[LAB_MAX_TASKS]; /* best test accuracy per task (at the epoch of lowest test
                                  perplexity, as TrainResult.best_test_acc); NaN when not run */
    int run[LAB_MAX_TASKS];
    /* the text task (language modelling, not a MAD task): its best validation loss in bits per
     * byte, NaN when not run; the run it comes from */
    double text_bpb;
    int text_run;
} ResultRow;

typedef struct {
    int n_tasks;    /* the table's MAD task columns: task_kinds[0 .. n_tasks-1]; then MAD, then
                       the text task's bits per byte (column n_tasks + 2) */
    RunHist *runs;  /* by runner id */
    int nruns;
    ResultRow rows[LAB_MAX_ROWS];
    int nrows;
    int sort_col;   /* 0 the stack, 1..n_tasks a task, n_tasks+1 MAD, n_tasks+2 text (bits per
                       byte: lower first) */
    int sort_rev;
    int marked[2];  /* marked rows (their curves overlay), -1 when none */
} LabData;

void labdata_init(LabData *d);
void labdata_free(LabData *d);
int labdata_task_index(const LabData *d, const char *task_name); /* -1 when not a column */

/* ---- run history ---- */
/* The run's slot, grown as needed; NULL when id < 0 or out of memory. */
RunHist *history_slot(LabData *d, int id);
/* The run's record as the runner has it: spec and state (the slot becomes used). */
RunHist *history_open(LabData *d, int id, const RunRecord *rec);
/* Appends a step or epoch point to its run (opened before); -1 when out of memory. */
int history_add(LabData *d, const MetricPoint *p);
/* The run ended: its final state and result; a measured run fills its results row. */
void history_finish(LabData *d, int id, const RunRecord *rec);

/* ---- results table ---- */
/* The setting a run's row is keyed by: "defaults" (its task's defaults), the MAD protocol
 * setting it matches ("quick", "full vocab-32"), else the knobs that differ from the defaults. */
void results_setting(const RunSpec *s, char *buf, size_t n);
void results_add(LabData *d, int id);                        /* the run's best test accuracy */
double results_mad(const LabData *d, const ResultRow *r);    /* mean over all tasks; NaN if any missing */
double results_cell(const LabData *d, const ResultRow *r, int col); /* col 1..n_tasks+2 */
int results_cols(const LabData *d); /* columns after the stack's: the tasks, MAD, text */
/* The stack as the results table and the run view name it: its text, and " @W" unless the width
 * is the default 128. */
void lab_stack_label(const char *text, int width, char *buf, size_t n);
/* Bits per byte of a validation loss in nats per byte, and the per-byte perplexity. */
double bits_per_byte(double nats);
void results_sort(LabData *d);  /* by sort_col and sort_rev; marks follow their rows */
void results_toggle_mark(LabData *d, int row); /* at most two; a third replaces the older */

/* ---- export: PREFIX-results.csv, and PREFIX-runN.csv for every run that has ended with an
 * epoch and was not exported before (a run still going waits for the next export) ---- */
#define EXPORT_PATH_MAX 600
/* Fills paths (and ids: -1 for the results file, else the run id); returns how many. */
int export_paths(const LabData *d, const char *prefix, char (*paths)[EXPORT_PATH_MAX], int *ids,
                 int max);
/* One line per filled cell: the run's columns (run_csv_meta_row), setting, best_test_acc,
 * best_epoch, max_test_acc, epochs_run, mad (the row's; empty until every task ran). */
void export_results_rows(const LabData *d, CsvOut *c);
void export_run_rows(int id, const RunHist *h, CsvOut *c); /* the same rows as madlab run --csv */
/* Writes every file of export_paths, each atomically, and marks those runs exported. Returns
 * how many files were written, or -1. */
int export_write(LabData *d, const char *prefix, MlError *err);

/* ---- recall against state (ui/statedata.c): every results row's stack at its total
 * inference state, and each task's accuracy there; a log axis for the state ---- */
typedef struct {
    int row;       /* its results row */
    int seq_len;   /* the length its state is counted at: its last run's task */
    double state;  /* floats of inference state of the whole stack at seq_len */
    double params; /* the stack's parameters (no embedding, norms or head) */
    int grows;     /* some layer's state grows with the length (attention's KV cache) */
    double acc;    /* the plotted task's accuracy; NaN when the row has not run it */
} StatePoint;

#define LOG_AXIS_MAX_TICKS 32
typedef struct {
    double lo, hi; /* log10 of the axis ends: whole decades around the values */
    double tick[LOG_AXIS_MAX_TICKS]; /* values (not logs) to label: decades; 1-2-5 within one */
    int nt;
} LogAxis;

typedef struct {
    int task;                   /* the task column plotted */
    StatePoint pt[LAB_MAX_ROWS]; /* the rows with a state > 0 and an accuracy on the task,
                                    by state then row */
    int n;
    int no_state;               /* rows left out: a stack without state cannot go on a log axis */
    int n_state;                /* rows with a state (the axis spans them; 0: a default axis) */
    LogAxis x;                  /* over every row with a state, so it stays put across tasks */
} StatePlot;

/* The row's stack, state and params from its last run; -1 when the row has no run. */
int state_point_of_row(const LabData *d, int row, StatePoint *p);
/* Decades from floor(log10(min)) to ceil(log10(max)) of the positive values (1..10 when none). */
void log_axis(const double *v, int n, LogAxis *a);
/* The column (0..cols-1) of v on the axis. */
int log_axis_col(const LogAxis *a, double v, int cols);
/* The row (0 at the top, rows-1 at accuracy 0) of an accuracy in 0..1. */
int acc_row(double acc, int rows);
void state_plot(const LabData *d, int task, StatePlot *p);
/* PREFIX-state.csv: stack, setting, seq_len, state, params, state_fixed, then one column per
 * task (its accuracy, empty when not run); one line per results row. */
void export_state_rows(const LabData *d, CsvOut *c);
void export_state_path(const char *prefix, char *buf, size_t n);
int export_state_write(const LabData *d, const char *prefix, MlError *err); /* atomic; 0 or -1 */
void csv_num_or_empty(CsvOut *c, double v); /* NaN (not measured) as an empty cell */

/* ---- presets ---- */
typedef struct {
    char name[64][64];
    char path[64][512];
    char stack[64][256]; /* its layers (stack text and width), or why it does not load */
    int n;
} PresetList;
void preset_list_collect(PresetList *l); /* every preset once, the user's copy first */
int preset_list_index(const PresetList *l, const char *name); /* -1 when not listed */
/* The user's file for a preset name (checked: no '/' and no leading '.'), in preset_user_dir,
 * where --preset finds it. */
int lab_preset_path(const char *name, char *buf, size_t n, MlError *err);
/* Saves the stack to path as preset name, creating the user's preset directory. */
int lab_preset_save(const char *path, const char *name, const StackSpec *s, int width,
                    NormKind norm, MlError *err);

/* ---- the scaling view's data (scaledata.c): finished `madlab scale` directories ---- */
#define SCALE_CURVE_SAMPLES 256 /* more than the widest plot has columns: a gapless curve */
typedef struct {
    char dir[1024], mad_dir[1024]; /* mad_dir "" when none was given */
    ScaleDirInfo info;
    ScalePlan plan;
    ScaleFit fit;
    int n_runs, n_done;
    int n;                                   /* finished runs, budget-major */
    double params[SCALE_MAX_BUDGETS * SCALE_MAX_SIZES], loss[SCALE_MAX_BUDGETS * SCALE_MAX_SIZES];
    int budget_i[SCALE_MAX_BUDGETS * SCALE_MAX_SIZES];
    double mad; /* the MAD score of mad_dir; NaN when none */
} ScaleSet;
/* Reads DIR/scale.run, its finished results and their fits, and (mad_dir not NULL) the MAD
 * score of a `madlab mad` directory: 0, or -1 with err naming the directory. */
int scale_set_load(const char *dir, const char *mad_dir, ScaleSet *s, MlError *err);

typedef struct {
    LogAxis x;       /* params, decades around every run */
    double ylo, yhi; /* the loss axis: the runs' range with a margin */
    /* per budget: the fitted parabola sampled across the ladder's span (ln params, loss) */
    int has_curve[SCALE_MAX_BUDGETS];
    double cx[SCALE_MAX_BUDGETS][SCALE_CURVE_SAMPLES], cy[SCALE_MAX_BUDGETS][SCALE_CURVE_SAMPLES];
} ScalePlot;
void scale_plot(const ScaleSet *s, ScalePlot *p);
/* The row (0 at the top, rows-1 at ylo) of a loss on the plot; -1 when off it. */
int scale_loss_row(const ScalePlot *p, double loss, int rows);

/* MAD score against compute-optimal perplexity across the sets that have both, at the largest
 * budget every such set fitted: how many sets, that budget (0 when none), and Spearman's rho
 * (NaN when fewer than 3 sets or undefined). ppl[i] is NaN for sets left out. */
typedef struct {
    int n;
    double budget, rho;
    double ppl[64];
} ScaleMadCompare;
void scale_mad_compare(const ScaleSet *sets, int n, ScaleMadCompare *c);
/* PREFIX-scaling-runs.csv (dir, stack, budget, params, val_loss, bits_per_byte, mad: one row
 * per finished run of every set) and PREFIX-scaling-frontier.csv (dir, stack, budget, points,
 * n_opt, l_opt, ppl_opt, d_opt, state_opt, at_edge, mad: one row per budget of every set; empty
 * where nothing was fitted), each written whole or not at all: 0, or -1 with err. */
void export_scale_paths(const char *prefix, char *runs, char *frontier, size_t n);
int export_scale_write(const ScaleSet *sets, int n, const char *prefix, MlError *err);

/* ---- the lab's scaling protocol (scalejob.c): madlab scale's IsoFLOP protocol for the lab's
 * stack, in madlab scale's directory layout, each run queued on the lab's runner ---- */
#define SCALE_JOB_RUNS (SCALE_MAX_BUDGETS * SCALE_MAX_SIZES)
typedef struct {
    char dir[1024];
    char label[1040];   /* the stack as the results table names it (for its MAD score) */
    const char *corpus; /* NULL: the default; must outlive every run (corpus_intern) */
    ScalePlan plan;
    unsigned char done[SCALE_JOB_RUNS];   /* its result file is there */
    unsigned char queued[SCALE_JOB_RUNS]; /* on the runner now */
    int n_done;
} ScaleJob;
/* Where the lab keeps what it makes: $XDG_DATA_HOME/madlab when XDG_DATA_HOME is absolute, else
 * $HOME/.local/share/madlab. */
int lab_data_dir(char *buf, size_t n, MlError *err);
/* ROOT/scale/PROTOCOL_WORDS_wWIDTH_HASH: the stack's words, its width and a hash of everything
 * scale.run records (stack, width, norm, protocol, budgets, sizes, context, batch, lr, corpus),
 * so the same settings always meet their directory again and other settings never share it. */
int scale_job_dir(const char *root, const ScalePlan *pl, const char *corpus, char *buf, size_t n);
/* Plans p for the stack (repeat 1), claims its directory under root (making it; a directory
 * made for other settings is refused, as madlab scale does) and reads which runs are done. */
int scale_job_prepare(ScaleJob *j, const ScaleProtocol *p, const StackSpec *s, int width,
                      NormKind norm, const char *corpus, const char *root, const char *label,
                      MlError *err);
void scale_job_spec(const ScaleJob *j, int i, RunSpec *s); /* run i as a run for the runner */
/* "scaling K/TODO (plan N): C=3e10 width 16, 6.9k params, 332.4k tokens" (the plan's size when
 * some runs were done before) */
void scale_job_note(const ScaleJob *j, int i, int k, int todo, char *buf, size_t n);
/* Run i ended as rec says: writes its result file (atomically) when it finished or diverged, and
 * when it was the last, runs.csv and frontier.csv. 1 written, 0 nothing to write (stopped or
 * failed: it is run again next time), -1 a file could not be written (err). */
int scale_job_end(ScaleJob *j, int i, const RunRecord *rec, MlError *err);
/* The MAD score the results table holds for the stack labelled label: its quick protocol row's,
 * else the first full row's; NaN when none. */
double scale_results_mad(const LabData *d, const char *label);

/* A corpus path that stays valid (and unchanged) for the process's life, for TaskCfg.corpus of
 * runs on another thread: the same pointer for the same path; NULL for "" (the default) and when
 * too many distinct paths were given. */
const char *corpus_intern(const char *path);

#endif
