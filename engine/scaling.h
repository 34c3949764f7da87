/* madlab engine: scaling laws: IsoFLOP ladders of a stack trained on text, their directories and
 * fits. Errors as in madlab.h: -1 and one line in MlError. */
#ifndef MADLAB_SCALING_H
#define MADLAB_SCALING_H

#include "protocol.h"

/* ---- scaling laws (engine/scale.c, engine/fit.c) ---- */

/* The stack at another width and depth: the pattern repeated `repeat` times, and every knob that
 * counts heads or hidden units ("heads", "inner") scaled by width / base_width (so head sizes
 * and inner-to-model width ratios stay); other knobs stay. Checked as the stack parser checks. */
int stack_resize(const StackSpec *base, int base_width, int width, int repeat, StackSpec *out,
                 MlError *err);

typedef struct {
    int width, repeat;
    double params;          /* without embedding and head */
    double params_all;
    double flops_per_token; /* training: 3 x forward, at the context length */
    double state;           /* floats of inference state at the context length */
} ScaleShape;
int scale_shape(const StackSpec *base, int base_width, NormKind norm, int width, int repeat,
                int seq_len, ScaleShape *sh, StackSpec *resized, MlError *err);

#define SCALE_MAX_BUDGETS 8
#define SCALE_MAX_SIZES 12
typedef struct {
    const char *name, *summary;
    int n_budgets;
    double budget[SCALE_MAX_BUDGETS]; /* training FLOPs, increasing */
    int n_sizes;                      /* ladder length per budget */
    double tokens_per_param;          /* the ladder centres on the size with this D/N */
    int n_widths;
    int widths[SCALE_MAX_SIZES]; /* the sizes a ladder takes from, ascending */
    int seq_len, batch, n_test, min_steps;
    double lr, wd, warmup_frac, lr_min_frac;
    uint64_t seed;
} ScaleProtocol;
const ScaleProtocol *scale_protocol_find(const char *name); /* "quick", "full" */
extern const char *const scale_protocol_names[];
void scale_budget_text(double c, char *buf, size_t n);      /* 2e11, 1.8e12 */
int scale_parse_budgets(const char *text, ScaleProtocol *p, MlError *err); /* "1e12,3e12" */

typedef struct {
    int budget_i, shape_i;
    double budget, tokens, flops; /* tokens = n_train x seq_len */
    int n_train;
    char id[64]; /* result file name without ".result": C-2e11_w-64_r-1 */
} ScaleRun;

typedef struct {
    ScaleProtocol p;
    StackSpec base;
    int base_width, repeat;
    NormKind norm;
    int n_shapes;
    ScaleShape shape[SCALE_MAX_SIZES];
    StackSpec shape_stack[SCALE_MAX_SIZES];
    int n_runs; /* budget-major */
    ScaleRun run[SCALE_MAX_BUDGETS * SCALE_MAX_SIZES];
} ScalePlan;
/* Every run of p for the model: per budget the n_sizes widths around the size whose tokens per
 * parameter come nearest p->tokens_per_param. Fails on a ladder shorter than 3 and on a budget
 * that leaves a run fewer than min_steps steps. */
int scale_plan(const ScaleProtocol *p, const StackSpec *base, int base_width, NormKind norm,
               int repeat, ScalePlan *pl, MlError *err);
/* corpus: NULL for the default; it must outlive the run. */
void scale_train_cfg(const ScalePlan *pl, int i, const char *corpus, TrainCfg *c);

typedef struct {
    char protocol[32], id[64], stack[1024], corpus[1024];
    double budget;
    int width, repeat;
    NormKind norm;
    int seq_len, batch, n_train, n_test;
    double lr, wd;
    uint64_t seed;
    double params, params_all, flops_per_token, state, tokens, flops;
    double val_loss; /* nats per byte on the validation part */
    double val_acc, seconds;
    int diverged;
} ScaleResult;
int scale_result_write(const char *path, const ScaleResult *r, MlError *err);
/* Run i's result from its training (t NULL: the fields that identify the run only), as scale_run
 * writes it; for a driver of its own (the lab queues the runs on its runner). */
void scale_result_fill(const ScalePlan *pl, int i, const char *corpus, const TrainResult *t,
                       ScaleResult *r);
void scale_result_path(char *buf, size_t n, const char *dir, const char *id); /* DIR/ID.result */
int scale_result_read(const char *path, ScaleResult *r, MlError *err);

/* DIR/scale.run: the protocol, model, corpus, budgets and ladder length a directory is for;
 * claim writes it when absent and fails when DIR was made for something else. */
int scale_dir_claim(const char *dir, const ScalePlan *pl, const char *corpus, MlError *err);
typedef struct {
    ScaleProtocol p; /* with the directory's budgets and ladder length */
    char stack[1024], corpus[1024]; /* corpus "" = the default */
    int width, repeat;
    NormKind norm;
} ScaleDirInfo;
int scale_dir_read(const char *dir, ScaleDirInfo *info, MlError *err);

typedef struct {
    int n_runs, n_done, n_bad;
    unsigned char *done;
    ScaleResult *results;
} ScaleScan;
int scale_scan(const ScalePlan *pl, const char *dir, const char *corpus,
               void (*warn)(void *ctx, const char *msg), void *ctx, ScaleScan *s, MlError *err);
void scale_scan_free(ScaleScan *s);

typedef struct {
    ProtoTrainFn train;
    const TrainHooks *hooks;
    void *ctx;
    void (*on_start)(void *ctx, int k, int todo, const ScalePlan *pl, int i);
    void (*on_end)(void *ctx, int k, int todo, const ScalePlan *pl, int i, const ScaleResult *r,
                   const MlError *failed);
} ScaleDriver;
/* Runs what s lacks (only >= 0: that run alone), writing DIR/<id>.result as each ends: 0 done,
 * 1 stopped by the hooks, -1 a result could not be written. As proto_run. */
int scale_run(const ScalePlan *pl, const char *dir, const char *corpus, int only, ScaleScan *s,
              const ScaleDriver *d, MlError *err);

typedef struct {
    double budget;
    int ok, points, at_edge; /* at_edge: the minimum is at (or past) an end of the ladder */
    double log_n_opt, n_opt, l_opt, d_opt, state_opt, curvature;
    double rise_half, rise_double; /* loss at N_opt/2 and 2 N_opt, less L_opt */
} ScaleBudgetFit;
typedef struct {
    int n_budgets, budgets_fitted, edges;
    ScaleBudgetFit b[SCALE_MAX_BUDGETS];
    double a, b_exp;    /* N_opt ~ C^a, D_opt ~ C^b */
    double loss_exp, loss_coef; /* L_opt = loss_coef C^loss_exp */
} ScaleFit;
/* A parabola of loss over ln(params) (n >= 3 points): its minimum, the rises off it. */
int scale_fit_budget(const double *params, const double *loss, int n, ScaleBudgetFit *f);
int scale_fit(const ScalePlan *pl, const ScaleScan *s, ScaleFit *f);

/* DIR/runs.csv (one row per finished run) and DIR/frontier.csv (one row per budget, then a row
 * per fitted exponent), atomically. */
int scale_write_csv(const ScalePlan *pl, const ScaleScan *s, const ScaleFit *f, const char *dir,
                    MlError *err);

/* least squares: y = coef[0] + coef[1] x + coef[2] x^2 (n >= 3), and y = slope x + icept */
int fit_parabola(const double *x, const double *y, int n, double coef[3]);
int fit_line(const double *x, const double *y, int n, double *slope, double *icept);
double spearman(const double *x, const double *y, int n); /* NaN when undefined */

#endif
