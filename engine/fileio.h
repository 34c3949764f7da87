/* madlab engine: files that are whole or absent, and the CSV written through them. Errors as in
 * madlab.h: -1 and one line in MlError. */
#ifndef MADLAB_FILEIO_H
#define MADLAB_FILEIO_H

#include "madlab.h"

/* ---- files that are whole or absent (engine/fileio.c) ----
 * The one way madlab writes a file: a temporary created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW,
 * unique name ".NAME.XXXXXX") in the target's directory; commit flushes, fsyncs, renames it over
 * the target and fsyncs the directory; abort removes it. Errors name the target path. */
typedef struct AtomicFile AtomicFile;
AtomicFile *atomic_open(const char *path, MlError *err);
FILE *atomic_stream(AtomicFile *f);             /* write here; a failed write shows at commit */
int atomic_commit(AtomicFile *f, MlError *err); /* flush, fsync, rename, fsync dir; frees f */
/* The same, but only if path does not exist yet: 0 written, 1 something was there (the
 * temporary is removed), -1 error. Two processes creating one file: exactly one gets 0. */
int atomic_commit_new(AtomicFile *f, MlError *err);
/* Would atomic_open(path) work? (creates and removes a temporary): check outputs before work */
int atomic_check(const char *path, MlError *err);
void atomic_abort(AtomicFile *f);               /* unlinks the temporary; frees f */
int atomic_write_text(const char *path, const char *text, MlError *err); /* open, write, commit */
int make_dirs(const char *dir, MlError *err);   /* mkdir -p; fails unless dir ends a directory */
/* Every file madlab reads is opened here: without blocking (a FIFO must not hang madlab), and
 * refused unless a regular file ("PATH: not a regular file"). A descriptor in blocking mode, or
 * -1 with err set; *missing (may be NULL): 1 when absent. */
int file_open_regular(const char *path, int *missing, MlError *err);
/* A whole file of at most max bytes, NUL-terminated (malloc'd; NULL with err set when it is
 * absent, unreadable, larger, or holds a NUL byte). *missing (may be NULL): 1 when absent. */
char *file_read_small(const char *path, size_t max, int *missing, MlError *err);

/* "42s", "3m05s", "1h02m"; "--" for a negative or non-finite time. */
void format_duration(double seconds, char *buf, size_t n);

/* ---- CSV out: built on AtomicFile, so a file is whole or absent ---- */
typedef struct CsvOut CsvOut;
CsvOut *csv_out_open(const char *path, MlError *err);
void csv_out_text(CsvOut *c, const char *s); /* bare if a plain word, else quoted by libcsv */
void csv_out_num(CsvOut *c, double v);
void csv_out_int(CsvOut *c, long v);
void csv_out_end_row(CsvOut *c);
int csv_out_flush(CsvOut *c, MlError *err);  /* pushes rows so far to disk */
int csv_out_commit(CsvOut *c, MlError *err); /* atomic_commit; frees c */
void csv_out_abort(CsvOut *c);               /* removes the temporary; frees c */

/* What describes a run in every CSV that holds it (the run log and the lab's results table):
 * run_id, stack, task, the task settings (vocab, seq_len, n_train, n_test, frac_noise,
 * noise_vocab, k_motif, v_motif, n_copy: empty when the task does not read it; multi_query),
 * lr, wd, batch, seed, status. One place, so the files can be pasted together. */
typedef struct {
    int id;                /* the run's number: #N in the lab, 1 for madlab run */
    const char *stack;     /* the stack as the run names it (preset name or stack text) */
    const TrainCfg *train; /* task, its settings, lr, wd, batch, seed */
    const char *status;    /* run_status_word */
} RunCsvMeta;
void run_csv_meta_header(CsvOut *c); /* the columns above; the row goes on */
void run_csv_meta_row(CsvOut *c, const RunCsvMeta *m);
/* "done", "stopped", "diverged" (a non-finite loss), "failed"; else the state's name. */
const char *run_status_word(RunState s, const TrainResult *r);
/* The knobs a task reads, in words: "vocab 16 seq_len 32 n_train 1024 n_test 128 n_copy 4". */
void task_setting_text(const TaskKind *t, const TaskCfg *c, char *buf, size_t n);
/* The same for the knobs that differ from the task's defaults: "seq_len 16"; "" when none. */
void task_setting_diff(const TaskKind *t, const TaskCfg *c, char *buf, size_t n);

/* The per-epoch run log: the run's columns, then epoch, train_loss, test_loss, train_acc,
 * test_acc, test_acc_micro, lr_now, seconds, tokens_per_s. One header and one row format, used
 * by madlab run --csv and the lab's export, so both write the same bytes for the same run. */
void epoch_csv_header(CsvOut *c);
void epoch_csv_row(CsvOut *c, const RunCsvMeta *m, const EpochStats *s);

#endif
