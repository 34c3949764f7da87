/* CSV output that is whole or absent: rows go to an AtomicFile, and commit puts it in place.
 * Text fields are quoted by libcsv; numbers are written with "%.9g" (nan, inf, -inf as such).
 * The first write error is remembered and reported at flush or commit, naming the path. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "fileio.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct CsvOut {
    AtomicFile *file;
    FILE *fp; /* atomic_stream(file) */
    char *path;
    int fields; /* fields written on the current row */
    int error;  /* errno of the first failed write, 0 if none */
};

/* Remembers the first failure. Stdio buffers, so most failures appear at a later write or at
 * the flush; either way the errno of that first failure is what gets reported. */
static void note(CsvOut *c, int failed)
{
    if (!c->error && (failed || ferror(c->fp))) c->error = errno ? errno : EIO;
}

CsvOut *csv_out_open(const char *path, MlError *err)
{
    if (!path || !*path) {
        ml_fail(err, "no path given for the CSV file");
        return NULL;
    }
    CsvOut *c = calloc(1, sizeof *c);
    if (c) c->path = strdup(path);
    if (!c || !c->path) {
        if (c) free(c->path);
        free(c);
        ml_fail(err, "%s: out of memory", path);
        return NULL;
    }
    if (!(c->file = atomic_open(path, err))) {
        free(c->path);
        free(c);
        return NULL;
    }
    c->fp = atomic_stream(c->file);
    return c;
}

static void sep(CsvOut *c)
{
    if (c->fields++ > 0) {
        errno = 0;
        note(c, putc(',', c->fp) == EOF);
    }
}

void csv_out_text(CsvOut *c, const char *s)
{
    if (!c) return;
    sep(c);
    if (!s) s = "";
    errno = 0;
    /* Plain words (header names, layer names) go out bare, so `epoch,train_loss` reads as
     * written; anything a reader could split or trim is quoted by libcsv. */
    size_t n = strlen(s);
    if (n > 0 && strcspn(s, ",\"\r\n") == n && !isspace((unsigned char)s[0]) &&
        !isspace((unsigned char)s[n - 1]))
        note(c, fputs(s, c->fp) == EOF);
    else
        note(c, csv_fwrite(c->fp, s, n) != 0);
}

void csv_out_num(CsvOut *c, double v)
{
    if (!c) return;
    sep(c);
    errno = 0;
    int k;
    if (isnan(v)) k = fputs("nan", c->fp);
    else if (isinf(v)) k = fputs(v > 0 ? "inf" : "-inf", c->fp);
    else {
        /* "%.9g" follows LC_NUMERIC, and the lab sets the locale for its wide characters:
         * put a '.' back where the locale wrote its own decimal point. */
        char buf[64], out[64];
        snprintf(buf, sizeof buf, "%.9g", v);
        const char *dp = localeconv()->decimal_point;
        size_t dl = dp ? strlen(dp) : 0;
        char *at = dl && strcmp(dp, ".") != 0 ? strstr(buf, dp) : NULL;
        if (at) {
            size_t pre = (size_t)(at - buf);
            memcpy(out, buf, pre);
            out[pre] = '.';
            snprintf(out + pre + 1, sizeof out - pre - 1, "%s", at + dl);
            k = fputs(out, c->fp);
        } else {
            k = fputs(buf, c->fp);
        }
    }
    note(c, k < 0);
}

void csv_out_int(CsvOut *c, long v)
{
    if (!c) return;
    sep(c);
    errno = 0;
    note(c, fprintf(c->fp, "%ld", v) < 0);
}

void csv_out_end_row(CsvOut *c)
{
    if (!c) return;
    errno = 0;
    note(c, putc('\n', c->fp) == EOF);
    c->fields = 0;
}

int csv_out_flush(CsvOut *c, MlError *err)
{
    if (!c) return ml_fail(err, "no CSV file open");
    errno = 0;
    note(c, fflush(c->fp) != 0);
    if (c->error) return ml_fail(err, "cannot write %s: %s", c->path, io_error_text(c->error));
    return 0;
}

int csv_out_commit(CsvOut *c, MlError *err)
{
    if (!c) return ml_fail(err, "no CSV file open");
    errno = 0;
    note(c, fflush(c->fp) != 0);
    int rc;
    if (c->error) {
        /* the first failure's reason, rather than whatever the last write saw */
        atomic_abort(c->file);
        rc = ml_fail(err, "cannot write %s: %s", c->path, io_error_text(c->error));
    } else {
        rc = atomic_commit(c->file, err);
    }
    free(c->path);
    free(c);
    return rc;
}

void csv_out_abort(CsvOut *c)
{
    if (!c) return;
    atomic_abort(c->file);
    free(c->path);
    free(c);
}

/* ---- what describes a run ---- */

void run_csv_meta_header(CsvOut *c)
{
    static const char *const names[] = {"run_id", "stack", "task", "vocab", "seq_len", "n_train",
                                        "n_test", "frac_noise", "noise_vocab", "k_motif", "v_motif",
                                        "n_copy", "multi_query", "lr", "wd", "batch", "seed",
                                        "status"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) csv_out_text(c, names[i]);
}

void run_csv_meta_row(CsvOut *c, const RunCsvMeta *m)
{
    const TrainCfg *t = m->train;
    const TaskCfg *k = &t->task;
    const TaskKind *tk = task_find(t->task_name);
    unsigned knobs = tk ? tk->knobs : ~0u;
    csv_out_int(c, m->id);
    csv_out_text(c, m->stack);
    csv_out_text(c, t->task_name);
    csv_out_int(c, k->vocab);
    csv_out_int(c, k->seq_len);
    csv_out_int(c, k->n_train);
    csv_out_int(c, k->n_test);
    /* a knob the task does not read stays empty, so no one compares it */
    if (knobs & TASK_KNOB_FRAC_NOISE) csv_out_num(c, k->frac_noise);
    else csv_out_text(c, "");
    const struct { unsigned bit; int v; } ints[] = {
        {TASK_KNOB_NOISE_VOCAB, k->noise_vocab}, {TASK_KNOB_K_MOTIF, k->k_motif},
        {TASK_KNOB_V_MOTIF, k->v_motif}, {TASK_KNOB_N_COPY, k->n_copy}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        if (knobs & ints[i].bit) csv_out_int(c, ints[i].v);
        else csv_out_text(c, "");
    }
    csv_out_int(c, k->multi_query);
    csv_out_num(c, t->lr);
    csv_out_num(c, t->wd);
    csv_out_int(c, t->batch);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->seed);
    csv_out_text(c, seed);
    csv_out_text(c, m->status);
}

const char *run_status_word(RunState s, const TrainResult *r)
{
    if (r && r->diverged) return "diverged";
    return run_state_name(s);
}

/* The knobs t reads, those that differ from base (all when base is NULL), as "name value". */
static void setting_words(const TaskKind *t, const TaskCfg *c, const TaskCfg *base, char *buf,
                          size_t n)
{
    unsigned knobs = t ? t->knobs : 0;
    const struct { const char *name; unsigned bit; double v, b; } k[] = {
        {"vocab", 0, c->vocab, base ? base->vocab : NAN},
        {"seq_len", 0, c->seq_len, base ? base->seq_len : NAN},
        {"n_train", 0, c->n_train, base ? base->n_train : NAN},
        {"n_test", 0, c->n_test, base ? base->n_test : NAN},
        {"frac_noise", TASK_KNOB_FRAC_NOISE, c->frac_noise, base ? base->frac_noise : NAN},
        {"noise_vocab", TASK_KNOB_NOISE_VOCAB, c->noise_vocab, base ? base->noise_vocab : NAN},
        {"k_motif", TASK_KNOB_K_MOTIF, c->k_motif, base ? base->k_motif : NAN},
        {"v_motif", TASK_KNOB_V_MOTIF, c->v_motif, base ? base->v_motif : NAN},
        {"n_copy", TASK_KNOB_N_COPY, c->n_copy, base ? base->n_copy : NAN},
        {"multi_query", 0, c->multi_query, base ? base->multi_query : NAN},
    };
    size_t used = 0;
    if (n) buf[0] = 0;
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        if (k[i].bit && !(knobs & k[i].bit)) continue;
        if (base ? k[i].v == k[i].b : !strcmp(k[i].name, "multi_query")) continue;
        int w = snprintf(buf + used, used < n ? n - used : 0, "%s%s %g", used ? " " : "",
                         k[i].name, k[i].v);
        if (w > 0) used += (size_t)w;
    }
}

void task_setting_text(const TaskKind *t, const TaskCfg *c, char *buf, size_t n)
{
    setting_words(t, c, NULL, buf, n);
}

void task_setting_diff(const TaskKind *t, const TaskCfg *c, char *buf, size_t n)
{
    setting_words(t, c, t ? &t->defaults : NULL, buf, n);
}

/* ---- the per-epoch run log ---- */

void epoch_csv_header(CsvOut *c)
{
    run_csv_meta_header(c);
    static const char *const names[] = {"epoch", "train_loss", "test_loss", "train_acc",
                                        "test_acc", "test_acc_micro", "lr_now", "seconds",
                                        "tokens_per_s"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) csv_out_text(c, names[i]);
    csv_out_end_row(c);
}

void epoch_csv_row(CsvOut *c, const RunCsvMeta *m, const EpochStats *s)
{
    run_csv_meta_row(c, m);
    csv_out_int(c, s->epoch);
    const double cols[] = {s->train_loss, s->test_loss, s->train_acc, s->test_acc,
                           s->test_acc_micro, s->lr, s->seconds, s->tokens_per_s};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) csv_out_num(c, cols[i]);
    csv_out_end_row(c);
}
