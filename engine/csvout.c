/* CSV output that is whole or absent: rows go to an AtomicFile, and commit puts it in place.
 * Text fields are quoted by libcsv; numbers are written with "%.9g" (nan, inf, -inf as such).
 * The first write error is remembered and reported at flush or commit, naming the path. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <locale.h>
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

/* ---- the per-epoch run log ---- */

void epoch_csv_header(CsvOut *c)
{
    static const char *const names[] = {"epoch", "train_loss", "test_loss", "train_acc",
                                        "test_acc", "test_acc_micro", "lr", "seconds",
                                        "tokens_per_s"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) csv_out_text(c, names[i]);
    csv_out_end_row(c);
}

void epoch_csv_row(CsvOut *c, const EpochStats *s)
{
    csv_out_int(c, s->epoch);
    const double cols[] = {s->train_loss, s->test_loss, s->train_acc, s->test_acc,
                           s->test_acc_micro, s->lr, s->seconds, s->tokens_per_s};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) csv_out_num(c, cols[i]);
    csv_out_end_row(c);
}
