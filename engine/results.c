/* Result files and mad.run: the two key-value files (engine/kvfile.c) of a madlab mad directory.
 *
 * A result file DIR/<run id>.result ("madlab-result 1") is one finished run: its task settings,
 * training choices, model and outcome. mad.run ("madlab-mad 1") says which protocol and model
 * the directory's results belong to, so that a second madlab mad with another model refuses it
 * rather than mixing results. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "protocol.h"
#include "fileio.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- result files ---- */

#define RESULT_MAGIC "madlab-result 1"
#define RESULT_MAX_BYTES 16384

#define RF(k, t, m, lo, hi) KV_FIELD(RunResult, k, t, m, lo, hi)
static const KvField result_fields[] = {
    RF("task", KV_STR, task, 0, 0),
    RF("setting", KV_STR, setting, 0, 0),
    RF("vocab", KV_INT, cfg.vocab, 1, 1L << 30),
    RF("seq_len", KV_INT, cfg.seq_len, 1, 1L << 30),
    RF("n_train", KV_INT, cfg.n_train, 1, 1L << 30),
    RF("n_test", KV_INT, cfg.n_test, 1, 1L << 30),
    RF("frac_noise", KV_DBL, cfg.frac_noise, 0, 0),
    RF("noise_vocab", KV_INT, cfg.noise_vocab, 0, 1L << 30),
    RF("k_motif", KV_INT, cfg.k_motif, 0, 1L << 30),
    RF("v_motif", KV_INT, cfg.v_motif, 0, 1L << 30),
    RF("n_copy", KV_INT, cfg.n_copy, 0, 1L << 30),
    RF("multi_query", KV_INT, cfg.multi_query, 0, 1),
    RF("lr", KV_DBL, lr, 0, 0),
    RF("wd", KV_DBL, wd, 0, 0),
    RF("epochs", KV_INT, epochs, 1, 1L << 30),
    RF("batch", KV_INT, batch, 1, 1L << 30),
    RF("stop_acc", KV_DBL, stop_acc, 0, 0),
    RF("seed", KV_U64, seed, 0, 0),
    RF("width", KV_INT, width, 1, 1L << 30),
    RF("norm", KV_NORM, norm, 0, 0),
    RF("stack", KV_STR, stack, 0, 0),
    RF("best_test_acc", KV_DBL, best_test_acc, 0, 0),
    RF("best_test_acc_micro", KV_DBL, best_test_acc_micro, 0, 0),
    RF("best_test_loss", KV_DBL, best_test_loss, 0, 0),
    RF("best_epoch", KV_INT, best_epoch, 0, 1L << 30),
    RF("max_test_acc", KV_DBL, max_test_acc, 0, 0),
    RF("max_epoch", KV_INT, max_epoch, 0, 1L << 30),
    RF("epochs_run", KV_INT, epochs_run, 0, 1L << 30),
    RF("stopped_early", KV_INT, stopped_early, 0, 1),
    RF("diverged", KV_INT, diverged, 0, 1),
    RF("seconds", KV_DBL, seconds, 0, 0),
};
#define N_RESULT_FIELDS (sizeof result_fields / sizeof *result_fields)

void run_result_fill(RunResult *r, const TrainCfg *c, const TrainResult *t, const char *setting)
{
    memset(r, 0, sizeof *r);
    snprintf(r->task, sizeof r->task, "%s", c->task_name);
    snprintf(r->setting, sizeof r->setting, "%s", setting && *setting ? setting : "custom");
    r->cfg = c->task;
    r->lr = c->lr;
    r->wd = c->wd;
    r->stop_acc = c->stop_acc;
    r->epochs = c->epochs;
    r->batch = c->batch;
    r->seed = c->seed;
    stack_format(&c->stack, r->stack, sizeof r->stack);
    r->width = c->width;
    r->norm = c->norm;
    r->best_test_acc = t->best_test_acc;
    r->best_test_acc_micro = t->best_test_acc_micro;
    r->best_test_loss = isfinite(t->best_test_loss) ? t->best_test_loss : 0;
    r->best_epoch = t->best_epoch;
    r->max_test_acc = t->max_test_acc;
    r->max_epoch = t->max_epoch;
    r->epochs_run = t->epochs_run;
    r->stopped_early = t->stopped_early;
    r->diverged = t->diverged;
    r->seconds = t->seconds;
}

int run_result_write(const char *path, const RunResult *r, MlError *err)
{
    return kv_write(path, RESULT_MAGIC, result_fields, N_RESULT_FIELDS, r, err);
}

int run_result_read(const char *path, RunResult *r, MlError *err)
{
    memset(r, 0, sizeof *r);
    if (kv_read(path, RESULT_MAX_BYTES, RESULT_MAGIC, result_fields, N_RESULT_FIELDS, r, NULL,
                err) != 0)
        return -1;
    if (!(r->best_test_acc >= 0 && r->best_test_acc <= 1))
        return ml_fail(err, "%s: malformed: best_test_acc %g is outside [0, 1]", path,
                       r->best_test_acc);
    return 0;
}

/* ---- the directory's claim: which protocol and model its results belong to ---- */

typedef struct {
    char protocol[32], stack[ML_STACK_TEXT_MAX];
    int width;
    NormKind norm;
} DirClaim;

#define DF(k, t, m, lo, hi) KV_FIELD(DirClaim, k, t, m, lo, hi)
static const KvField claim_fields[] = {
    DF("protocol", KV_STR, protocol, 0, 0),
    DF("width", KV_INT, width, 1, 1L << 30),
    DF("norm", KV_NORM, norm, 0, 0),
    DF("stack", KV_STR, stack, 0, 0),
};
#define N_CLAIM_FIELDS (sizeof claim_fields / sizeof *claim_fields)
#define CLAIM_MAGIC "madlab-mad 1"
#define CLAIM_MAX_BYTES 8192

static int claim_read(const char *dir, DirClaim *c, int *missing, MlError *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mad.run", dir);
    memset(c, 0, sizeof *c);
    return kv_read(path, CLAIM_MAX_BYTES, CLAIM_MAGIC, claim_fields, N_CLAIM_FIELDS, c, missing,
                   err);
}

int proto_dir_claim(const char *dir, const char *protocol, const char *stack, int width,
                    NormKind norm, MlError *err)
{
    DirClaim want = {.width = width, .norm = norm}, have;
    if (strlen(stack) >= sizeof want.stack || strchr(stack, '\n'))
        return ml_fail(err, "the stack text is too long to store in %s/mad.run", dir);
    if (strlen(protocol) >= sizeof want.protocol)
        return ml_fail(err, "the protocol name '%s' is too long to store in %s/mad.run", protocol,
                       dir);
    snprintf(want.protocol, sizeof want.protocol, "%s", protocol);
    snprintf(want.stack, sizeof want.stack, "%s", stack);
    if (make_dirs(dir, err) != 0) return -1;
    /* the directory must take the CSVs at the end: find out now, not after the runs */
    char path[4096];
    snprintf(path, sizeof path, "%s/mad.csv", dir);
    if (atomic_check(path, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/mad.run", dir);
    /* Two processes starting on a fresh directory: mad.run is created exclusively, so one
     * writes it and the other reads and compares it, as with any existing claim. */
    for (int attempt = 0;; attempt++) {
        int missing;
        MlError e2;
        if (claim_read(dir, &have, &missing, &e2) == 0) {
            if (strcmp(have.protocol, want.protocol) || strcmp(have.stack, want.stack) ||
                have.width != width || have.norm != norm)
                return ml_fail(err, "%s holds results of the %s protocol for stack '%s' (width %d, "
                               "%s), not of the %s protocol for '%s' (width %d, %s); use another "
                               "--out DIR", dir, have.protocol, have.stack, have.width,
                               norm_name(have.norm), protocol, stack, width, norm_name(norm));
            return 0;
        }
        if (!missing || attempt > 0) {
            if (err) *err = e2;
            return -1;
        }
        int rc = kv_create(path, CLAIM_MAGIC, claim_fields, N_CLAIM_FIELDS, &want, err);
        if (rc <= 0) return rc;
    }
}

int proto_dir_read(const char *dir, char *protocol, size_t pn, char *stack, size_t sn, int *width,
                   NormKind *norm, MlError *err)
{
    DirClaim c;
    int missing;
    if (claim_read(dir, &c, &missing, err) != 0) {
        if (missing)
            ml_fail(err, "%s/mad.run not found: %s is not a directory made by madlab mad", dir, dir);
        return -1;
    }
    snprintf(protocol, pn, "%s", c.protocol);
    snprintf(stack, sn, "%s", c.stack);
    *width = c.width;
    *norm = c.norm;
    return 0;
}
