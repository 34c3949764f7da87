/* madlab engine: the MAD protocol, its result files and the directories that hold them. Errors
 * as in madlab.h: -1 and one line in MlError. */
#ifndef MADLAB_PROTOCOL_H
#define MADLAB_PROTOCOL_H

#include "madlab.h"

/* ---- key-value files (engine/kvfile.c): one flat record per file, as result files and mad.run
 * are. A magic first line names the format and its version ("madlab-result 1"), then a line
 * "key value" per field in the order of the field table, then "end". The value runs to the end
 * of its line (strings may hold spaces, not line breaks). ---- */
typedef enum {
    KV_STR,  /* char array of size bytes */
    KV_INT,  /* int in [lo, hi] */
    KV_U64,  /* uint64_t */
    KV_DBL,  /* finite double, "%.17g" with '.' whatever the locale */
    KV_NORM, /* NormKind as rmsnorm or layernorm */
} KvType;
typedef struct {
    const char *key;
    KvType type;
    size_t off, size; /* where in the struct, and the size of the member */
    long lo, hi;      /* range of a KV_INT */
} KvField;
/* A field table entry for MEMBER of STRUCT: KV_FIELD(RunResult, "lr", KV_DBL, lr, 0, 0). */
#define KV_FIELD(STRUCT, KEY, TYPE, MEMBER, LO, HI) \
    {KEY, TYPE, offsetof(STRUCT, MEMBER), sizeof(((STRUCT *)0)->MEMBER), LO, HI}
/* Writes the record at base atomically (AtomicFile). */
int kv_write(const char *path, const char *magic, const KvField *f, size_t nf, const void *base,
             MlError *err);
/* The same, only if path does not exist yet (atomic_commit_new): 0, 1 it exists, -1 error. */
int kv_create(const char *path, const char *magic, const KvField *f, size_t nf, const void *base,
              MlError *err);
/* Reads a record strictly: the magic line, every key exactly once with a valid value, "end" last
 * and nothing after it, at most max_bytes. Fields are written into base as they are read, so
 * base is only whole on success. *missing (may be NULL) is 1 when the file does not exist. err
 * names the file, the line and what is wrong ("truncated: ..." or "malformed: ..."). */
int kv_read(const char *path, size_t max_bytes, const char *magic, const KvField *f, size_t nf,
            void *base, int *missing, MlError *err);

/* ---- the MAD protocol (engine/protocol.c): a grid of task settings x (lr, wd) runs ---- */
#define PROTO_MAX_TASKS 8
#define PROTO_RESULT_VERSION 1

typedef struct {
    const char *task; /* task name */
    char name[40];    /* "baseline" or the one change: "vocab-32", "seq-len-256", "train-800" */
    TaskCfg cfg;
} ProtoSetting;

typedef struct {
    const char *name, *summary;
    int n_settings;
    const ProtoSetting *settings;
    int n_lr, n_wd;
    double lr[4], wd[4];
    int epochs, batch;
    double stop_acc;
    uint64_t seed;
} Protocol;

const Protocol *protocol_find(const char *name); /* "full" or "quick"; NULL if unknown */
extern const char *const protocol_names[];      /* NULL-terminated */
int protocol_n_runs(const Protocol *p);         /* n_settings * n_lr * n_wd */
/* Run i (0-based, setting-major): its setting index, lr and wd. */
void protocol_run_at(const Protocol *p, int i, int *setting, double *lr, double *wd);
/* The run's stable id, also its result file name without ".result":
 * "in-context-recall_vocab-32_lr-5e-4_wd-0.1". */
void protocol_run_id(const ProtoSetting *s, double lr, double wd, char *buf, size_t n);
/* The setting of p whose task and knobs equal (task, cfg); NULL if none. */
const ProtoSetting *protocol_match(const Protocol *p, const char *task, const TaskCfg *cfg);
/* A TrainCfg for run i of p with the given model. */
void protocol_train_cfg(const Protocol *p, int i, const StackSpec *stack, int width, NormKind norm,
                        TrainCfg *out);

/* ---- result files and mad.run (engine/results.c): key-value files ---- */

/* One finished run, as stored in its result file ("madlab-result 1", see kv_read). */
typedef struct {
    char task[64], setting[40];
    TaskCfg cfg;
    double lr, wd, stop_acc;
    int epochs, batch; /* the run's epoch cap and batch size */
    uint64_t seed;
    char stack[ML_STACK_TEXT_MAX]; /* stack_format text */
    int width;
    NormKind norm;
    double best_test_acc, best_test_acc_micro, best_test_loss, max_test_acc, seconds;
    int best_epoch, max_epoch, epochs_run, stopped_early, diverged;
} RunResult;

void run_result_fill(RunResult *r, const TrainCfg *c, const TrainResult *t, const char *setting);
int run_result_write(const char *path, const RunResult *r, MlError *err); /* atomic */
/* Strict: every key once, known values, "end" last. err names the file and what is wrong. */
int run_result_read(const char *path, RunResult *r, MlError *err);

/* DIR/mad.run: which protocol and model a directory belongs to. write makes it if absent;
 * check fails with a message if DIR was made for another protocol or model. */
int proto_dir_claim(const char *dir, const char *protocol, const char *stack, int width,
                    NormKind norm, MlError *err);
/* Reads DIR/mad.run back (for --collect). */
int proto_dir_read(const char *dir, char *protocol, size_t pn, char *stack, size_t sn, int *width,
                   NormKind *norm, MlError *err);

/* ---- a directory of result files (engine/protoscan.c) ---- */

/* What a directory of result files holds for one protocol and model. */
typedef struct {
    double acc;  /* best test accuracy over the setting's finished runs; -1 if none */
    double lr, wd; /* of that run */
    int runs_done;
} ProtoSettingScore;

typedef struct {
    const char *task;
    double score;   /* mean of the setting scores; -1 if no setting has a run */
    int n_settings, settings_scored;
} ProtoTaskScore;

typedef struct {
    const Protocol *p;
    int n_runs, n_done, n_bad;
    int n_foreign;              /* of n_bad: whole result files of another model or protocol */
    unsigned char *done;        /* per run: 1 if its result file is valid */
    RunResult *results;         /* per run, valid where done */
    ProtoSettingScore *setting; /* per setting */
    ProtoTaskScore task[PROTO_MAX_TASKS];
    int n_tasks, tasks_scored;
    double mad; /* mean of the task scores present; -1 if none */
} ProtoScan;

/* Reads DIR/<run id>.result for every run of p. A file that is missing is a run to do; a file
 * that is truncated, malformed or made for another model/run is reported through warn (one line
 * naming the file) and also counted as not done. The model is (stack text, width, norm). */
int proto_scan(const Protocol *p, const char *dir, const char *stack, int width, NormKind norm,
               void (*warn)(void *ctx, const char *msg), void *ctx, ProtoScan *s, MlError *err);
void proto_scan_free(ProtoScan *s);
/* DIR/mad.csv (task,score,settings; then a "mad" row) and DIR/settings.csv, atomically. */
int proto_write_csv(const ProtoScan *s, const char *dir, MlError *err);

/* Runs every run of p that s (from proto_scan) lacks, writing DIR/<id>.result as each ends and
 * marking it done in s; a run whose valid result appeared since the scan (another process on
 * the same DIR) is skipped. A run whose training fails for another reason than divergence is
 * reported through on_end and skipped. Returns 0 when every run was tried, 1 when the hooks'
 * stop flag ended it (the run in progress is lost), -1 (err set) if a result cannot be written. */
typedef int (*ProtoTrainFn)(const TrainCfg *, const TrainHooks *, TrainResult *, MlError *);
typedef struct {
    ProtoTrainFn train;      /* train_run, or a stand-in in tests */
    const TrainHooks *hooks; /* given to every run; its stop flag is also read between runs */
    void *ctx;
    void (*on_start)(void *ctx, int k, int todo, const TrainCfg *c, const char *id);
    /* r is NULL when the run failed; failed then says why */
    void (*on_end)(void *ctx, int k, int todo, const char *id, const RunResult *r,
                   const MlError *failed);
} ProtoDriver;
int proto_run(const Protocol *p, const char *dir, const StackSpec *stack, int width, NormKind norm,
              ProtoScan *s, const ProtoDriver *d, MlError *err);

#endif
