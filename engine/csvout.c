/* CSV output that is whole or absent: rows go to PATH.tmp, and commit renames it to PATH.
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
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct CsvOut {
    FILE *fp;
    char *path, *tmp;
    int fields; /* fields written on the current row */
    int error;  /* errno of the first failed write, 0 if none */
};

/* Remembers the first failure. Stdio buffers, so most failures appear at a later write or at
 * the flush; either way the errno of that first failure is what gets reported. */
static void note(CsvOut *c, int failed)
{
    if (!c->error && (failed || ferror(c->fp))) c->error = errno ? errno : EIO;
}

static const char *describe(int e) { return e == ENOSPC ? "disk full" : strerror(e); }

CsvOut *csv_out_open(const char *path, MlError *err)
{
    if (!path || !*path) {
        ml_fail(err, "no path given for the CSV file");
        return NULL;
    }
    CsvOut *c = calloc(1, sizeof *c);
    size_t n = strlen(path) + 5;
    if (c) c->path = strdup(path);
    if (c) c->tmp = malloc(n);
    if (!c || !c->path || !c->tmp) {
        if (c) free(c->path), free(c->tmp);
        free(c);
        ml_fail(err, "%s: out of memory", path);
        return NULL;
    }
    snprintf(c->tmp, n, "%s.tmp", path);
    c->fp = fopen(c->tmp, "w");
    if (!c->fp) {
        int e = errno;
        ml_fail(err, "cannot create %s: %s", c->tmp, strerror(e));
        free(c->path);
        free(c->tmp);
        free(c);
        return NULL;
    }
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
    if (c->error) return ml_fail(err, "cannot write %s: %s", c->path, describe(c->error));
    return 0;
}

static void cleanup(CsvOut *c)
{
    free(c->path);
    free(c->tmp);
    free(c);
}

int csv_out_commit(CsvOut *c, MlError *err)
{
    if (!c) return ml_fail(err, "no CSV file open");
    errno = 0;
    note(c, fflush(c->fp) != 0);
    int e = c->error;
    if (!e && fsync(fileno(c->fp)) != 0 && errno != EINVAL && errno != ENOTSUP) e = errno;
    if (fclose(c->fp) != 0 && !e) e = errno ? errno : EIO;
    c->fp = NULL;
    if (!e && rename(c->tmp, c->path) != 0) e = errno;
    if (e) {
        remove(c->tmp);
        ml_fail(err, "cannot write %s: %s", c->path, describe(e));
        cleanup(c);
        return -1;
    }
    /* make the rename durable (best effort) */
    char *slash = strrchr(c->tmp, '/');
    const char *dir = ".";
    if (slash) {
        if (slash == c->tmp) dir = "/";
        else {
            *slash = '\0';
            dir = c->tmp;
        }
    }
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    cleanup(c);
    return 0;
}

void csv_out_abort(CsvOut *c)
{
    if (!c) return;
    if (c->fp) fclose(c->fp);
    remove(c->tmp);
    cleanup(c);
}
