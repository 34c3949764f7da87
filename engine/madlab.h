/* madlab engine: the public interface used by the command line (src/) and the lab (ui/).
 * Nothing here touches a terminal; every function that can fail returns -1 and fills an MlError
 * with one line that names what was wrong and where. */
#ifndef MADLAB_H
#define MADLAB_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>

#define ML_IGNORE (-100) /* target that the loss and the metrics skip */
#define ML_MAX_LAYERS 64
/* The longest stack text (stack_format) madlab stores or shows, with its NUL: result files,
 * mad.run, presets and labels. check_stack_text (below) is the one check. */
#define ML_STACK_TEXT_MAX 1024
#define ML_MAX_KNOBS 5

typedef struct { char msg[512]; } MlError;
int ml_fail(MlError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- random numbers: splitmix64-seeded xoshiro256**, the same stream on every machine ---- */
typedef struct { uint64_t s[4]; } Rng;
void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
uint32_t rng_below(Rng *r, uint32_t n); /* uniform in [0, n) */
double rng_uniform(Rng *r);             /* uniform in [0, 1) */
float rng_normal(Rng *r);               /* standard normal */

double ml_now(void); /* monotonic seconds */

/* ---- threads: one pool owns the cores; OpenBLAS runs single-threaded inside it ---- */
#define ML_MAX_THREADS 64
int pool_init(int nthreads); /* 0 = number of online CPUs; call again to change */
int pool_size(void);
void pool_shutdown(void);

/* ---- the table of layer kinds ---- */
typedef enum { ROLE_SEQUENCE, ROLE_CHANNEL, ROLE_NORM, ROLE_EMBED, ROLE_HEAD } LayerRole;
const char *role_name(LayerRole r);

typedef struct {
    const char *name; /* "heads" */
    int def, min, max;
    const char *help;
    /* NULL for a number; otherwise the words for the values min..max (an enumerated knob, e.g.
     * routing=reference|topk), which stacks, listings and forms use in place of the number. */
    const char *const *words;
} KnobDesc;
/* The text of value v: its word for an enumerated knob, else the number. */
int knob_text(const KnobDesc *kd, int v, char *buf, size_t n);
/* "reference|topk" for an enumerated knob, "1..16" for a number. */
int knob_range_text(const KnobDesc *kd, char *buf, size_t n);

typedef struct {
    int width;             /* model width d */
    int vocab;             /* read by the embedding and the head only */
    int max_len;           /* longest sequence the layer will see (sizes position-dependent parameters) */
    int knob[ML_MAX_KNOBS]; /* values, in the order of the kind's KnobDesc list */
} LayerCfg;

/* Batch shape of one call. tokens is read by the embedding only (its input is token ids). */
typedef struct {
    int B, L;
    const int32_t *tokens;
} Dims;

struct Layer;
typedef struct LayerKind {
    const char *name;    /* the word used in stacks and presets */
    const char *summary; /* one line for listings and the picker */
    LayerRole role;
    const KnobDesc *knobs;
    int n_knobs;
    const char *state_formula; /* how state_size is counted, for `madlab layers` */
    const char *page; /* the lab's teaching page: equation, MAD strengths, state; NULL = generic */
    size_t (*n_params)(const LayerCfg *);
    size_t (*n_acts)(const LayerCfg *, Dims);    /* floats saved by forward for backward */
    size_t (*n_scratch)(const LayerCfg *, Dims); /* floats of temporaries, shared by all layers */
    double (*state_size)(const LayerCfg *, int L); /* floats of inference state at length L */
    double (*flops)(const LayerCfg *, int L);      /* forward FLOPs for one sequence of length L */
    void (*init)(struct Layer *, Rng *);
    void (*forward)(struct Layer *, const float *x, float *y, Dims);
    /* Writes dx (when dx is not NULL) and adds parameter gradients into layer->grads. */
    void (*backward)(struct Layer *, const float *x, const float *dy, float *dx, Dims);
    /* Optional (NULL when any knob values within their ranges fit): -1 with a one-line message
     * when the knobs do not fit together or with the width. */
    int (*validate)(const LayerCfg *, char *msg, size_t n);
    /* Optional: one line of statistics the last forward pass kept (e.g. expert load); returns
     * its length, 0 for nothing. */
    int (*report)(const struct Layer *, char *buf, size_t n);
} LayerKind;

typedef struct Layer {
    const LayerKind *kind;
    LayerCfg cfg;
    float *params, *grads; /* slices of the model's arenas, n_params floats each */
    float *acts;           /* n_acts floats, written by forward, read by backward */
    float *scratch;        /* n_scratch floats, free for use within one call */
} Layer;

extern const LayerKind *const layer_kinds[]; /* NULL-terminated */
const LayerKind *layer_kind_find(const char *name);
void layer_cfg_default(const LayerKind *k, int width, int vocab, int max_len, LayerCfg *cfg);
int layer_out_width(const Layer *l); /* vocab for the head, width otherwise */

/* ---- stacks: "mh-attention swiglu" or "mh-attention(heads=4) swiglu(inner=256)" ---- */
typedef struct {
    int n;
    const LayerKind *kind[ML_MAX_LAYERS];
    int knob[ML_MAX_LAYERS][ML_MAX_KNOBS];
} StackSpec;

/* where: prefix for errors ("--stack" or "presets/x.preset:3"); errors add ":col". */
int stack_parse(const char *text, const char *where, int width, StackSpec *out, MlError *err);
int stack_format(const StackSpec *s, char *buf, size_t n); /* back to text; knobs only if changed */
/* stack_format into buf[ML_STACK_TEXT_MAX]; -1 with the one "too long" message if it does not
 * fit (a stack of many layers with knobs can exceed it well within ML_MAX_LAYERS). */
int stack_text_checked(const StackSpec *s, char buf[ML_STACK_TEXT_MAX], MlError *err);
/* 1 when one layer's knobs fit each other and the width (heads dividing it, the kind's own
 * validate), as stack_parse would accept them; 0 otherwise. */
int stack_layer_fits(const LayerKind *k, const int knob[ML_MAX_KNOBS], int width);

/* ---- iso-state (engine/isostate.c): a stack's total inference state and fitting it ---- */
#define ML_FIT_STATE_TOL 0.10 /* a fit further than this fraction from the target is refused */
/* Floats of inference state at length L, and parameters, summed over the stack's layers (the
 * paper's count: no embedding, norms or head). */
void stack_size(const StackSpec *s, int width, int L, double *state, double *params);
/* 1 when layer i's state grows with the sequence (at L and 2L it differs). */
int stack_layer_grows(const StackSpec *s, int i, int width, int L);
/* Sets the state knobs (those that change a fixed-state layer's state) of every fixed-state layer
 * so the total state at length L comes as close to target floats as they allow, changing as few
 * knobs as it can. -1 with one line when a layer's state grows with L (naming those layers), when
 * no layer has a state knob, or when the nearest fit is further than ML_FIT_STATE_TOL from the
 * target (naming the nearest reachable totals below and above). */
int stack_fit_state(const StackSpec *in, int width, int L, double target, StackSpec *out,
                    MlError *err);

/* ---- presets: small text files, see man/madlab.5 ---- */
typedef enum { NORM_RMS, NORM_LAYER } NormKind;
/* The language model (every task but compression) or the reference's AutoEncoder: the same
 * encoder stack pooled at the last position, then an MLP decoder per position (compression). */
typedef enum { BACKBONE_LM, BACKBONE_AUTOENCODER } Backbone;
typedef struct {
    char name[64];
    char description[256];
    char stack_text[ML_STACK_TEXT_MAX];
    int width;
    NormKind norm;
    StackSpec stack;
} Preset;
const char *norm_name(NormKind n);               /* "rmsnorm", "layernorm" */
int norm_parse(const char *word, NormKind *out); /* 0 for one of those words, else -1 */
int preset_load(const char *name_or_path, Preset *p, MlError *err);
int preset_parse(const char *text, const char *filename, Preset *p, MlError *err);
int preset_find(const char *name, char *path, size_t n); /* 0 when found */
int preset_save(const Preset *p, const char *path, MlError *err); /* atomic; re-reads to check */
/* The user's preset directory, where the lab saves and --preset looks (after $MADLAB_PRESETS):
 * $XDG_CONFIG_HOME/madlab/presets when XDG_CONFIG_HOME is absolute (the XDG spec calls a relative
 * one invalid, so it is ignored), else $HOME/.config/madlab/presets. -1 when neither is usable. */
int preset_user_dir(char *buf, size_t n, MlError *err);
/* Calls fn for every preset file in the search path, user's first. Returns how many. */
int preset_list(void (*fn)(const char *name, const char *path, void *ctx), void *ctx);

/* ---- the model: embedding, pre-norm residual layers, final norm, untied head ---- */
typedef struct {
    int width, vocab;
    int max_batch, max_len;
    NormKind norm;
    StackSpec stack;
    Backbone backbone; /* 0 = BACKBONE_LM */
} ModelCfg;

typedef struct Model Model;
Model *model_new(const ModelCfg *cfg, MlError *err);
/* The widths a backbone takes (the autoencoder's: even, >= 4); model_new checks it too. */
int model_width_check(int width, Backbone backbone, MlError *err);
void model_free(Model *m);
void model_init(Model *m, uint64_t seed);
size_t model_n_params(const Model *m);           /* all of them */
size_t model_n_params_no_embed(const Model *m);  /* the paper's count: without embedding and head */
double model_flops(const Model *m, int L);       /* forward FLOPs per sequence of length L */
double model_state_size(const Model *m, int L);  /* floats of inference state, all mixers */
int model_n_blocks(const Model *m);
const Layer *model_block(const Model *m, int i);
/* Forward over B sequences of length L; returns the mean loss over targets != ML_IGNORE
 * (0 if targets is NULL). logits are kept in the model for metrics. */
double model_forward(Model *m, const int32_t *tokens, const int32_t *targets, int B, int L);
void model_backward(Model *m); /* after model_forward with targets */
void model_zero_grad(Model *m);
const float *model_logits(const Model *m);
/* The whole parameter and gradient arenas (n floats each, padding included), for tests. */
size_t model_arena(Model *m, float **params, float **grads);
/* AdamW, decay on every parameter (as the reference). t counts from 1. */
void model_adamw(Model *m, float lr, float wd, float beta1, float beta2, float eps, int t);

/* ---- metrics over scored positions ---- */
typedef struct {
    int V;
    int64_t *tp, *fn, *fp; /* per class */
    int64_t correct, scored;
} AccCounter;
int acc_init(AccCounter *a, int V);
void acc_free(AccCounter *a);
void acc_reset(AccCounter *a);
void acc_add(AccCounter *a, const float *logits, const int32_t *targets, size_t n, int V);
double acc_macro(const AccCounter *a); /* torchmetrics MulticlassAccuracy(average='macro') */
double acc_micro(const AccCounter *a);

/* ---- tasks ---- */
typedef struct {
    int vocab, seq_len, n_train, n_test;
    double frac_noise;
    int noise_vocab, k_motif, v_motif, n_copy;
    int multi_query;
    const char *corpus; /* text: the corpus file, NULL for the default; must outlive the run */
} TaskCfg;

typedef struct {
    int n, len;       /* n sequences of len tokens */
    int32_t *inputs;  /* n*len; NULL for a view of a corpus */
    int32_t *targets; /* n*len, ML_IGNORE where not scored; NULL for a view */
    /* A view of a corpus (the text task's training set): sequence i is the len + 1 bytes from
     * bytes + start[i], inputs the first len, targets the last len. Nothing is copied. */
    const uint8_t *bytes;
    int64_t *start;
} Dataset;
/* Copies sequence i of d (arrays or view) into in and tg, len tokens each. */
void dataset_row(const Dataset *d, int i, int32_t *in, int32_t *tg);

/* What a token is, for display (madlab sample, the lab). */
typedef enum {
    TOK_KEY,     /* a key (or key motif token) of a recall task, a memorization key */
    TOK_VALUE,   /* a value; the tokens to copy or compress */
    TOK_NOISE,   /* noise tokens */
    TOK_SPECIAL, /* copy prefix, copy token, insert token, compression token */
    TOK_FILLER,  /* padding and blanks */
    TOK_OTHER,   /* anything else (out of range) */
    TOK_N_CLASSES
} TokenClass;

/* Which TaskCfg knobs a task reads besides vocab, seq_len, n_train and n_test. */
enum {
    TASK_KNOB_FRAC_NOISE = 1 << 0,
    TASK_KNOB_NOISE_VOCAB = 1 << 1,
    TASK_KNOB_K_MOTIF = 1 << 2,
    TASK_KNOB_V_MOTIF = 1 << 3,
    TASK_KNOB_N_COPY = 1 << 4,
};

typedef struct TaskKind {
    const char *name, *summary;
    const char *shorthand; /* the reference's data-path code: CR, NR, FR, SC, C, M */
    TaskCfg defaults;
    unsigned knobs;        /* TASK_KNOB_* bits */
    Backbone backbone;     /* the model this task trains (compression: the autoencoder) */
    int (*validate)(const TaskCfg *, MlError *);
    int (*seq_len_out)(const TaskCfg *); /* length of model input */
    /* One sequence; test != 0 for the test form of targets. Writes len tokens each. aux is a
     * second stream (seeded from the same seed) for draws the reference takes from numpy's
     * global generator rather than from the data generator (selective copying). */
    /* One sequence. seed is the run's seed, for structure fixed across sequences that the
     * reference builds from its task config's seed (memorization's key-value map). */
    void (*instance)(const TaskCfg *, uint64_t seed, Rng *r, Rng *aux, int test, int32_t *inputs,
                     int32_t *targets);
    TokenClass (*token_class)(const TaskCfg *, int32_t token);
    /* Optional: makes both sets at once instead of instance() per sequence (the text task, whose
     * training set is a view of its corpus). */
    int (*generate)(const TaskCfg *, uint64_t seed, Dataset *train, Dataset *test, MlError *err);
} TaskKind;

extern const TaskKind *const task_kinds[]; /* the six MAD tasks, NULL-terminated */
extern const TaskKind *const task_all[];   /* every task: the MAD tasks, then text */
const TaskKind *task_find(const char *name);
/* Class of a token under this task's settings; TOK_OTHER outside [0, vocab). */
TokenClass task_token_class(const TaskKind *t, const TaskCfg *c, int32_t token);
const char *token_class_name(TokenClass k); /* "key", "value", "noise", ... */
/* Train set then test set from one stream seeded with seed, as the reference. */
int task_generate(const TaskKind *t, const TaskCfg *c, uint64_t seed, Dataset *train,
                  Dataset *test, MlError *err);
double dataset_leakage(const Dataset *train, const Dataset *test); /* fraction of test inputs seen in train */
void dataset_free(Dataset *d);

/* ---- text corpora (engine/corpus.c) for the text task: next-byte prediction, vocab 256 ---- */
#define CORPUS_DEFAULT_PATH "/usr/share/dictd/gcide.dict.dz"
#define CORPUS_DEFAULT_PACKAGE "dict-gcide"
typedef struct {
    const char *path;
    const uint8_t *bytes; /* mapped (or, for a gzip file, inflated once per process) */
    size_t size, split;   /* bytes [0, split) train, [split, size) validate: the last tenth */
} Corpus;
/* The corpus at path (NULL: the default), opened once per process and shared by every run. A
 * missing default names the package to install. */
const Corpus *corpus_open(const char *path, MlError *err);
size_t corpus_min_bytes(int seq_len); /* a corpus smaller than this cannot serve seq_len */
int corpus_check(const Corpus *c, int seq_len, MlError *err); /* -1: too small, says by how much */

/* ---- training ---- */
typedef struct {
    int epoch;
    double train_loss, test_loss, train_acc, test_acc, test_acc_micro;
    double test_ppl; /* batch-size-weighted mean of each test batch's exp(mean cross-entropy) */
    double lr, seconds, tokens_per_s;
    const Model *model; /* the model being trained, valid during on_epoch only */
} EpochStats;

typedef struct {
    const char *task_name;
    TaskCfg task;
    int width;
    NormKind norm;
    StackSpec stack;
    int epochs, batch;
    double lr, wd, lr_min, stop_acc;
    uint64_t seed;
    /* 0: cosine decay stepped once per epoch (the MAD reference); 1: per optimizer step over the
     * whole run, after a linear warm-up over its first warmup_frac of steps (scaling runs). */
    int lr_per_step;
    double warmup_frac;
} TrainCfg;

typedef struct {
    void *ctx;
    /* after each optimizer step: step within epoch, steps per epoch, mean train loss so far */
    void (*on_step)(void *ctx, int epoch, int step, int steps, double loss);
    int (*on_epoch)(void *ctx, const EpochStats *s); /* non-zero stops the run */
    /* Read by the trainer before each step; non-zero stops the run there. Set it on the
     * training thread only: from a signal handler (madlab run, madlab mad) or from the hooks
     * (the runner, engine/run.c, sets it in on_step when asked to stop). Another thread must
     * not write it: it is not an atomic, and the runner passes requests under its mutex. */
    volatile sig_atomic_t *stop;
} TrainHooks;

/* The accuracy a run reports (best_test_acc) is the test accuracy of its epoch with the lowest
 * test perplexity (EpochStats.test_ppl), as the reference reports it (it reloads its
 * lowest-perplexity checkpoint after fit); max_test_acc is the highest epoch accuracy, kept for
 * comparison. A run whose test accuracy exceeds stop_acc stops there, so both usually name its
 * last epoch. */
typedef struct {
    int epochs_run;
    int best_epoch; /* the epoch best_test_acc comes from (lowest test perplexity) */
    double best_test_acc, best_test_acc_micro, best_test_loss, best_test_ppl, final_test_loss,
        seconds;
    double max_test_acc;
    int max_epoch;
    int diverged;      /* stopped on a non-finite loss */
    int stopped_early; /* reached stop_acc */
    int interrupted;   /* stopped by the hooks */
} TrainResult;

void train_cfg_default(TrainCfg *c);
int train_run(const TrainCfg *c, const TrainHooks *h, TrainResult *res, MlError *err);

/* ---- benchmark ---- */
typedef struct {
    int batch, seq_len, steps, warmup, width, vocab;
    NormKind norm;
    StackSpec stack;
    /* Optional: time batches of this task (its vocab; seq_len its input length), copied from
     * its data at every step as training does; NULL for random tokens of vocab. */
    const TaskKind *task;
    TaskCfg task_cfg;
} BenchCfg;
typedef struct {
    double ms_per_step, tokens_per_s, gflops, peak_gflops, mfu, flops_per_step;
} BenchResult;
double bench_peak_gflops(void); /* 1024^3 sgemm with the pool's thread count */
int bench_run(const BenchCfg *c, BenchResult *r, MlError *err);

/* ---- runs on a background thread (engine/run.c): a queue of runs executed one after another
 * on one worker thread, publishing into a monitor that another thread (the lab) reads. ---- */
typedef struct {
    char label[1040]; /* what the results table calls the stack, e.g. the preset or stack text */
    TrainCfg train;  /* train.task_name must point at a TaskKind's name (static storage) */
} RunSpec;

typedef enum { RUN_QUEUED, RUN_RUNNING, RUN_PAUSED, RUN_DONE, RUN_STOPPED, RUN_FAILED } RunState;
const char *run_state_name(RunState s);

typedef enum { MP_STEP, MP_EPOCH, MP_END } MetricKind;
typedef struct {
    MetricKind kind;
    int run;          /* id from runner_enqueue */
    long step;        /* optimizer steps so far in this run */
    double loss;      /* MP_STEP: mean train loss so far this epoch */
    EpochStats epoch; /* MP_EPOCH: the epoch's statistics */
    RunState end;     /* MP_END: how the run ended */
} MetricPoint;

typedef struct {
    int id; /* -1: nothing running or queued */
    RunState state;
    int epoch, epochs, step, steps; /* step within epoch */
    long global_step;
    double last_loss, tokens_per_s, elapsed_s, eta_s;
    int queued; /* runs waiting behind this one */
} RunSnapshot;

typedef struct {
    RunSpec spec;
    RunState state;
    TrainResult result;
    char error[512]; /* why it failed, when state is RUN_FAILED */
} RunRecord;

typedef struct Runner Runner;
Runner *runner_new(MlError *err);
void runner_free(Runner *r); /* stops everything and joins the worker */
/* Like runner_free, but waits at most timeout_s for the current step to end: -1 when the worker
 * is still busy, so a program can exit without waiting for a long step (the worker, detached,
 * frees r if it returns first; r must not be used again either way). */
int runner_shutdown(Runner *r, double timeout_s);
int runner_wake_fd(const Runner *r); /* readable when something was published */
void runner_drain_wake(Runner *r);
/* Queues a run; starts the worker when idle. Returns the run's id (>= 0) or -1. */
int runner_enqueue(Runner *r, const RunSpec *spec, MlError *err);
void runner_pause(Runner *r, int paused); /* blocks the trainer between steps */
void runner_stop(Runner *r);     /* stops the current run; the queue goes on */
void runner_stop_all(Runner *r); /* stops the current run and drops the queue */
int runner_busy(Runner *r);      /* a run is going or queued */
void runner_snapshot(Runner *r, RunSnapshot *out);
/* Copies points published since *cursor (at most max); advances *cursor. *lost gets how many
 * were overwritten in the ring before they were read. Returns the number copied. */
int runner_read(Runner *r, uint64_t *cursor, MetricPoint *out, int max, uint64_t *lost);
int runner_record(Runner *r, int id, RunRecord *out); /* 0 when id exists */
int runner_count(Runner *r); /* runs ever queued (ids are 0..count-1) */

#endif
