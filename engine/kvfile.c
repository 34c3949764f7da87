/* Key-value files: the format of result files and mad.run (and of anything else that stores one
 * flat record). A magic first line names the format and its version, then one "key value" line
 * per field, then a line "end":
 *
 *   madlab-result 1
 *   task in-context-recall
 *   lr 0.00050000000000000001
 *   ...
 *   end
 *
 * The writer goes through AtomicFile, so a file is whole or absent; the reader is strict (every
 * key once, values in range, "end" last, nothing after it), so a file cut or edited by hand is
 * reported by name and line rather than half read. Numbers are written and read with '.' as the
 * decimal point whatever LC_NUMERIC says (the lab sets the locale). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "protocol.h"
#include "fileio.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers in text files, whatever LC_NUMERIC says ---- */

static void put_double(char *buf, size_t n, double v)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.17g", v);
    const char *dp = localeconv()->decimal_point;
    char *at = dp && strcmp(dp, ".") ? strstr(tmp, dp) : NULL;
    if (at) {
        *at = '.';
        memmove(at + 1, at + strlen(dp), strlen(at + strlen(dp)) + 1);
    }
    snprintf(buf, n, "%s", tmp);
}

static int get_double(const char *s, double *out)
{
    char tmp[64];
    const char *dp = localeconv()->decimal_point;
    /* plain decimal only: no hex, inf or nan */
    if (strlen(s) >= sizeof tmp - 8 || !*s || strspn(s, "0123456789+-.eE") != strlen(s)) return -1;
    const char *dot = strchr(s, '.');
    if (dot && dp && strcmp(dp, ".")) {
        size_t pre = (size_t)(dot - s);
        snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)pre, s, dp, dot + 1);
    } else {
        snprintf(tmp, sizeof tmp, "%s", s);
    }
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end || errno) return -1;
    *out = v;
    return 0;
}

static int has_control(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f || (*c == 0xC2 && c[1] >= 0x80 && c[1] <= 0x9F)) return 1;
    return 0; /* C0, DEL, and C1 as UTF-8 */
}

static int get_long(const char *s, long lo, long hi, long *out)
{
    if (!isdigit((unsigned char)*s) && !(*s == '-' && isdigit((unsigned char)s[1]))) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- writing ---- */

static int write_record(const char *path, const char *magic, const KvField *f, size_t nf,
                        const void *base, int exclusive, MlError *err)
{
    for (size_t i = 0; i < nf; i++)
        if (f[i].type == KV_STR && strchr((const char *)base + f[i].off, '\n'))
            return ml_fail(err, "%s: the value of '%s' holds a line break, which the file cannot "
                                "store", path, f[i].key);
    AtomicFile *a = atomic_open(path, err);
    if (!a) return -1;
    FILE *to = atomic_stream(a);
    fprintf(to, "%s\n", magic);
    for (size_t i = 0; i < nf; i++) {
        const char *p = (const char *)base + f[i].off;
        char num[64];
        fprintf(to, "%s ", f[i].key);
        switch (f[i].type) {
        case KV_STR: fputs(p, to); break;
        case KV_INT: fprintf(to, "%d", *(const int *)p); break;
        case KV_U64: fprintf(to, "%llu", (unsigned long long)*(const uint64_t *)p); break;
        case KV_DBL:
            put_double(num, sizeof num, *(const double *)p);
            fputs(num, to);
            break;
        case KV_NORM: fputs(norm_name(*(const NormKind *)p), to); break;
        }
        fputc('\n', to);
    }
    fputs("end\n", to); /* a failed write shows at commit */
    return exclusive ? atomic_commit_new(a, err) : atomic_commit(a, err);
}

int kv_write(const char *path, const char *magic, const KvField *f, size_t nf, const void *base,
             MlError *err)
{
    return write_record(path, magic, f, nf, base, 0, err);
}

int kv_create(const char *path, const char *magic, const KvField *f, size_t nf, const void *base,
              MlError *err)
{
    return write_record(path, magic, f, nf, base, 1, err);
}

/* ---- reading ---- */

/* Parses text (NUL-terminated, modified in place) into base. */
static int kv_parse(char *text, const char *path, const char *magic, const KvField *f, size_t nf,
                    void *base, MlError *err)
{
    unsigned char *seen = calloc(nf ? nf : 1, 1);
    if (!seen) return ml_fail(err, "%s: out of memory", path);
    int rc = -1;
    size_t len = strlen(text);
    int lineno = 0, ended = 0;
    if (len == 0) {
        ml_fail(err, "%s: truncated: the file is empty", path);
        goto out;
    }
    int lines = 0;
    for (const char *c = text; *c; c++) lines += *c == '\n';
    if (text[len - 1] != '\n') {
        ml_fail(err, "%s:%d: truncated: the last line has no newline (no \"end\" line)", path,
                lines + 1);
        goto out;
    }
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        lineno++;
        if (ended) {
            ml_fail(err, "%s:%d: malformed: text after the \"end\" line", path, lineno);
            goto out;
        }
        if (lineno == 1) {
            if (strcmp(line, magic)) {
                ml_fail(err, "%s:1: malformed: expected \"%s\" as the first line", path, magic);
                goto out;
            }
            continue;
        }
        if (!strcmp(line, "end")) {
            ended = 1;
            continue;
        }
        char *sp = strchr(line, ' ');
        if (!sp) {
            ml_fail(err, "%s:%d: malformed: expected \"key value\"", path, lineno);
            goto out;
        }
        *sp = '\0';
        const char *val = sp + 1;
        size_t i = 0;
        while (i < nf && strcmp(f[i].key, line)) i++;
        if (i == nf) {
            ml_fail(err, "%s:%d: malformed: unknown key '%s'", path, lineno, line);
            goto out;
        }
        if (seen[i]++) {
            ml_fail(err, "%s:%d: malformed: '%s' given twice", path, lineno, line);
            goto out;
        }
        char *p = (char *)base + f[i].off;
        long v;
        double d;
        /* The writer puts one space after the key and never a control character or a sign on a
         * number: anything else is an edited file. */
        int bad = *val == ' ' || has_control(val);
        if (!bad) switch (f[i].type) {
        case KV_STR:
            if (strlen(val) >= f[i].size) bad = 1;
            else memcpy(p, val, strlen(val) + 1);
            break;
        case KV_INT:
            if (get_long(val, f[i].lo, f[i].hi, &v)) bad = 1;
            else *(int *)p = (int)v;
            break;
        case KV_U64: {
            char *end;
            errno = 0;
            unsigned long long u = strtoull(val, &end, 10);
            if (!isdigit((unsigned char)*val) || *end || errno) bad = 1;
            else *(uint64_t *)p = u;
            break;
        }
        case KV_DBL:
            if (get_double(val, &d) || !isfinite(d)) bad = 1;
            else *(double *)p = d;
            break;
        case KV_NORM:
            if (norm_parse(val, (NormKind *)p) != 0) bad = 1;
            break;
        }
        if (bad) {
            char shown[96];
            ml_fail(err, "%s:%d: malformed: bad value '%s' for %s", path, lineno,
                    ml_escape(shown, sizeof shown, val, strlen(val)), line);
            goto out;
        }
    }
    if (!ended) {
        ml_fail(err, "%s:%d: truncated: no \"end\" line after the last line", path, lines);
        goto out;
    }
    for (size_t i = 0; i < nf; i++)
        if (!seen[i]) {
            ml_fail(err, "%s: malformed: no '%s' line", path, f[i].key);
            goto out;
        }
    rc = 0;
out:
    free(seen);
    return rc;
}

int kv_read(const char *path, size_t max_bytes, const char *magic, const KvField *f, size_t nf,
            void *base, int *missing, MlError *err)
{
    int absent;
    char *text = file_read_small(path, max_bytes, &absent, err);
    if (missing) *missing = absent;
    if (!text) return -1;
    int rc = kv_parse(text, path, magic, f, nf, base, err);
    free(text);
    return rc;
}
