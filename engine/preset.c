/* Presets: small text files naming a model (see man/madlab.5).
 *
 *   # comment
 *   description: two blocks of multi-head attention and SwiGLU
 *   stack: mh-attention swiglu mh-attention swiglu
 *   width: 128
 *   norm: rmsnorm
 *
 * Also defined here, for madlab.h:
 *
 *   int preset_save(const Preset *p, const char *path, MlError *err);
 *
 * which writes p to path atomically (atomic_write_text). The stack is written from
 * p->stack when it has layers, else from p->stack_text. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int preset_save(const Preset *p, const char *path, MlError *err);

#define PRESET_MAX_BYTES (64 * 1024)
#define PRESET_DEFAULT_WIDTH 128
#define PRESET_MIN_WIDTH 8
#define PRESET_MAX_WIDTH 4096
#define PRESET_EXT ".preset"
#define N_DIRS 4
#define DIR_MAX 4096

/* ---------------- parsing ---------------- */

enum { KEY_DESCRIPTION, KEY_STACK, KEY_WIDTH, KEY_NORM, N_KEYS };
static const char *const key_names[N_KEYS] = {"description", "stack", "width", "norm"};

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not valid. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return len;
}

static int utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char((const unsigned char *)s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* "dir/x.preset" -> "x" */
static void base_name(const char *filename, char *out, size_t n)
{
    const char *b = strrchr(filename, '/');
    b = b ? b + 1 : filename;
    size_t len = strlen(b), el = strlen(PRESET_EXT);
    if (len > el && strcmp(b + len - el, PRESET_EXT) == 0) len -= el;
    if (len >= n) len = n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

int preset_parse(const char *text, const char *filename, Preset *p, MlError *err)
{
    const char *file = filename && *filename ? filename : "preset";
    Preset r;
    memset(&r, 0, sizeof r);
    base_name(file, r.name, sizeof r.name);
    r.width = PRESET_DEFAULT_WIDTH;
    r.norm = NORM_RMS;

    int seen[N_KEYS] = {0};
    int stack_line = 0;
    char *stack_line_text = NULL; /* the stack line with "stack:" blanked, for columns */
    int line = 0;
    char q[4 * 60 + 1]; /* quoted text, control characters escaped (ml_escape) */

    const char *s = text ? text : "";
    if ((unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
        s += 3; /* a UTF-8 byte order mark */

    while (*s) {
        line++;
        /* lines end in LF, CRLF or a lone CR (old Mac files) */
        const char *eol = strpbrk(s, "\r\n");
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        const char *next = !eol ? s + len : eol[0] == '\r' && eol[1] == '\n' ? eol + 2 : eol + 1;

        if (!utf8_valid(s, len)) {
            free(stack_line_text);
            return ml_fail(err, "%s:%d: not valid UTF-8 text", file, line);
        }
        /* trim */
        const char *b = s, *e = s + len;
        while (b < e && is_blank((unsigned char)*b)) b++;
        while (e > b && is_blank((unsigned char)e[-1])) e--;
        if (b == e || *b == '#') {
            s = next;
            continue;
        }
        const char *colon = memchr(b, ':', (size_t)(e - b));
        if (!colon) {
            free(stack_line_text);
            return ml_fail(err, "%s:%d: missing ':' in '%s'; lines are 'key: value' (keys: "
                                "description, stack, width, norm)",
                           file, line, ml_escape(q, sizeof q, b, (size_t)(e - b > 60 ? 60 : e - b)));
        }
        const char *ke = colon;
        while (ke > b && is_blank((unsigned char)ke[-1])) ke--;
        int key = -1;
        for (int k = 0; k < N_KEYS; k++)
            if (strlen(key_names[k]) == (size_t)(ke - b) && strncmp(key_names[k], b, (size_t)(ke - b)) == 0)
                key = k;
        if (key < 0) {
            free(stack_line_text);
            if (ke == b)
                return ml_fail(err, "%s:%d: missing key before ':'; lines are 'key: value' (keys: "
                                    "description, stack, width, norm)", file, line);
            return ml_fail(err, "%s:%d: unknown key '%s'; keys are description, stack, width, norm",
                           file, line, ml_escape(q, sizeof q, b, (size_t)(ke - b > 40 ? 40 : ke - b)));
        }
        if (seen[key]) {
            free(stack_line_text);
            return ml_fail(err, "%s:%d: duplicate key '%s' (first on line %d); give each key once",
                           file, line, key_names[key], seen[key]);
        }
        seen[key] = line;
        const char *v = colon + 1;
        while (v < e && is_blank((unsigned char)*v)) v++;
        size_t vlen = (size_t)(e - v);
        if (vlen == 0) {
            free(stack_line_text);
            return ml_fail(err, "%s:%d: '%s' has no value", file, line, key_names[key]);
        }

        switch (key) {
        case KEY_DESCRIPTION:
            if (vlen >= sizeof r.description) {
                free(stack_line_text);
                return ml_fail(err, "%s:%d: description is %zu bytes; keep it under %zu", file,
                               line, vlen, sizeof r.description);
            }
            memcpy(r.description, v, vlen);
            r.description[vlen] = '\0';
            break;
        case KEY_STACK:
            if (vlen >= sizeof r.stack_text) {
                free(stack_line_text);
                return ml_fail(err, "%s:%d: stack is %zu bytes; keep it under %zu", file, line,
                               vlen, sizeof r.stack_text);
            }
            memcpy(r.stack_text, v, vlen);
            r.stack_text[vlen] = '\0';
            /* Parsed once the width is known; keep the line with its key blanked so the
             * stack parser's columns are columns of the line. */
            stack_line = line;
            stack_line_text = malloc((size_t)(e - s) + 1);
            if (!stack_line_text) return ml_fail(err, "%s:%d: out of memory", file, line);
            memcpy(stack_line_text, s, (size_t)(e - s));
            stack_line_text[e - s] = '\0';
            memset(stack_line_text, ' ', (size_t)(colon - s) + 1);
            break;
        case KEY_WIDTH: {
            char buf[32];
            char *end;
            long w = 0;
            int ok = vlen < sizeof buf;
            if (ok) {
                memcpy(buf, v, vlen);
                buf[vlen] = '\0';
                errno = 0;
                w = strtol(buf, &end, 10);
                ok = *end == '\0' && end != buf && errno == 0;
            }
            if (!ok || w < PRESET_MIN_WIDTH || w > PRESET_MAX_WIDTH) {
                free(stack_line_text);
                return ml_fail(err, "%s:%d: width '%s' is %s; use a whole number in %d..%d",
                               file, line, ml_escape(q, sizeof q, v, vlen > 40 ? 40 : vlen),
                               ok ? "out of range" : "not an integer", PRESET_MIN_WIDTH,
                               PRESET_MAX_WIDTH);
            }
            r.width = (int)w;
            break;
        }
        case KEY_NORM:
            if (vlen == 7 && strncmp(v, "rmsnorm", 7) == 0) r.norm = NORM_RMS;
            else if (vlen == 9 && strncmp(v, "layernorm", 9) == 0) r.norm = NORM_LAYER;
            else {
                free(stack_line_text);
                return ml_fail(err, "%s:%d: unknown norm '%s'; use rmsnorm or layernorm", file,
                               line, ml_escape(q, sizeof q, v, vlen > 40 ? 40 : vlen));
            }
            break;
        }
        s = next;
    }

    int last = line ? line : 1;
    if (!seen[KEY_DESCRIPTION]) {
        free(stack_line_text);
        return ml_fail(err, "%s:%d: missing required key 'description'; add a line "
                            "'description: what this model is'", file, last);
    }
    if (!seen[KEY_STACK]) {
        free(stack_line_text);
        return ml_fail(err, "%s:%d: missing required key 'stack'; add a line "
                            "'stack: mh-attention swiglu'", file, last);
    }
    char where[512];
    snprintf(where, sizeof where, "%s:%d", file, stack_line);
    int rc = stack_parse(stack_line_text, where, r.width, &r.stack, err);
    free(stack_line_text);
    if (rc < 0) return -1;
    *p = r;
    return 0;
}

const char *norm_name(NormKind n) { return n == NORM_LAYER ? "layernorm" : "rmsnorm"; }

int norm_parse(const char *word, NormKind *out)
{
    if (!strcmp(word, "rmsnorm")) *out = NORM_RMS;
    else if (!strcmp(word, "layernorm")) *out = NORM_LAYER;
    else return -1;
    return 0;
}

/* ---------------- the search path ---------------- */

int preset_user_dir(char *buf, size_t n, MlError *err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int k;
    if (xdg && xdg[0] == '/') k = snprintf(buf, n, "%s/madlab/presets", xdg);
    else if (home && *home) k = snprintf(buf, n, "%s/.config/madlab/presets", home);
    else
        return ml_fail(err, "no place for user presets: HOME is not set and XDG_CONFIG_HOME is "
                            "not an absolute path");
    if (k < 0 || (size_t)k >= n)
        return ml_fail(err, "the user preset directory is too long: %s",
                       xdg && xdg[0] == '/' ? xdg : home);
    return 0;
}

/* Fills dirs with the directories to search, in order; returns how many. */
static int preset_dirs(char dirs[N_DIRS][DIR_MAX])
{
    int n = 0;
    const char *e = getenv("MADLAB_PRESETS");
    if (e && *e && strlen(e) < DIR_MAX) snprintf(dirs[n++], DIR_MAX, "%s", e);
    if (preset_user_dir(dirs[n], DIR_MAX, NULL) == 0) n++;
#ifdef MADLAB_SRCDIR
    snprintf(dirs[n++], DIR_MAX, "%s", MADLAB_SRCDIR "/presets");
#endif
#ifdef PKGDATADIR
    snprintf(dirs[n++], DIR_MAX, "%s", PKGDATADIR "/presets");
#endif
    return n;
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int valid_name(const char *name)
{
    return name && *name && name[0] != '.' && !strchr(name, '/') && strlen(name) < sizeof((Preset *)0)->name;
}

int preset_find(const char *name, char *path, size_t n)
{
    if (!valid_name(name)) return -1;
    char dirs[N_DIRS][DIR_MAX];
    int nd = preset_dirs(dirs);
    for (int i = 0; i < nd; i++) {
        char buf[DIR_MAX + 128];
        int k = snprintf(buf, sizeof buf, "%s/%s" PRESET_EXT, dirs[i], name);
        if (k < 0 || (size_t)k >= sizeof buf || !is_regular(buf)) continue;
        if ((size_t)k >= n) return -1;
        memcpy(path, buf, (size_t)k + 1);
        return 0;
    }
    return -1;
}

typedef struct {
    char name[64];
    char *path;
} Entry;

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

/* Every preset once (the first directory wins), sorted by name. Returns the count or -1. */
static int collect(Entry **out)
{
    char dirs[N_DIRS][DIR_MAX];
    int nd = preset_dirs(dirs);
    Entry *v = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < nd; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name), el = strlen(PRESET_EXT);
            if (len <= el || strcmp(de->d_name + len - el, PRESET_EXT) != 0) continue;
            char name[64];
            if (len - el >= sizeof name) continue;
            memcpy(name, de->d_name, len - el);
            name[len - el] = '\0';
            if (!valid_name(name)) continue;
            int dup = 0;
            for (int j = 0; j < n && !dup; j++) dup = strcmp(v[j].name, name) == 0;
            if (dup) continue;
            size_t plen = strlen(dirs[i]) + 1 + len + 1;
            char *path = malloc(plen);
            if (!path) continue;
            snprintf(path, plen, "%s/%s", dirs[i], de->d_name);
            if (!is_regular(path)) {
                free(path);
                continue;
            }
            if (n == cap) {
                int nc = cap ? 2 * cap : 16;
                Entry *nv = realloc(v, sizeof *v * (size_t)nc);
                if (!nv) {
                    free(path);
                    continue;
                }
                v = nv;
                cap = nc;
            }
            memcpy(v[n].name, name, sizeof name);
            v[n].path = path;
            n++;
        }
        closedir(d);
    }
    if (n) qsort(v, (size_t)n, sizeof *v, entry_cmp);
    *out = v;
    return n;
}

static void free_entries(Entry *v, int n)
{
    for (int i = 0; i < n; i++) free(v[i].path);
    free(v);
}

int preset_list(void (*fn)(const char *name, const char *path, void *ctx), void *ctx)
{
    Entry *v = NULL;
    int n = collect(&v);
    for (int i = 0; i < n; i++)
        if (fn) fn(v[i].name, v[i].path, ctx);
    free_entries(v, n);
    return n;
}

/* ---------------- loading ---------------- */

static int read_file(const char *path, char **out, MlError *err)
{
    int fd = file_open_regular(path, NULL, err);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return ml_fail(err, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        fclose(f);
        return ml_fail(err, "%s: %s", path, strerror(e));
    }
    if (st.st_size > PRESET_MAX_BYTES) {
        fclose(f);
        return ml_fail(err, "%s: %lld bytes is too large for a preset (at most %d KiB)", path,
                       (long long)st.st_size, PRESET_MAX_BYTES / 1024);
    }
    char *buf = malloc(PRESET_MAX_BYTES + 2);
    if (!buf) {
        fclose(f);
        return ml_fail(err, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, PRESET_MAX_BYTES + 1, f);
    int rerr = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (rerr) {
        free(buf);
        return ml_fail(err, "%s: %s", path, strerror(rerr));
    }
    if (n > PRESET_MAX_BYTES) {
        free(buf);
        return ml_fail(err, "%s: too large for a preset (at most %d KiB)", path,
                       PRESET_MAX_BYTES / 1024);
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        /* report the line of the first NUL byte */
        int line = 1;
        for (size_t i = 0; buf[i]; i++) line += buf[i] == '\n';
        free(buf);
        return ml_fail(err, "%s:%d: contains a NUL byte; a preset is UTF-8 text", path, line);
    }
    *out = buf;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int preset_load(const char *name_or_path, Preset *p, MlError *err)
{
    if (!name_or_path) name_or_path = "";
    char path[DIR_MAX + 128];
    int empty = !*name_or_path;
    if (!empty && (strchr(name_or_path, '/') || ends_with(name_or_path, PRESET_EXT))) {
        if (strlen(name_or_path) >= sizeof path)
            return ml_fail(err, "%.100s...: path too long", name_or_path);
        snprintf(path, sizeof path, "%s", name_or_path);
    } else if (empty || preset_find(name_or_path, path, sizeof path) != 0) {
        char list[400];
        size_t len = 0;
        list[0] = '\0';
        Entry *v = NULL;
        int n = collect(&v);
        for (int i = 0; i < n; i++) {
            size_t need = strlen(v[i].name) + 2;
            if (len + need + 4 >= sizeof list) {
                memcpy(list + len, ", ...", 6);
                len += 5;
                break;
            }
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", v[i].name);
        }
        free_entries(v, n);
        char what[80];
        if (empty) snprintf(what, sizeof what, "empty preset name");
        else snprintf(what, sizeof what, "unknown preset '%.60s'", name_or_path);
        if (n == 0)
            return ml_fail(err, "%s; no presets found (set MADLAB_PRESETS to a directory of "
                                "NAME.preset files, or give a path)", what);
        return ml_fail(err, "%s; available: %s (or give a file)", what, list);
    }
    char *text = NULL;
    if (read_file(path, &text, err) < 0) return -1;
    int rc = preset_parse(text, path, p, err);
    free(text);
    return rc;
}

/* ---------------- saving ---------------- */

int preset_save(const Preset *p, const char *path, MlError *err)
{
    if (!p || !path || !*path) return ml_fail(err, "preset_save: no preset or no path");
    if (strpbrk(p->description, "\n\r"))
        return ml_fail(err, "%s: the description must be one line", path);
    const char *d = p->description;
    while (is_blank((unsigned char)*d)) d++;
    if (!*d) return ml_fail(err, "%s: the description is empty; say what the model is", path);

    char stack[sizeof p->stack_text];
    if (p->stack.n > 0) {
        if (stack_format(&p->stack, stack, sizeof stack) < 0)
            return ml_fail(err, "%s: the stack is too long to save", path);
    } else {
        snprintf(stack, sizeof stack, "%s", p->stack_text);
    }

    size_t tn = strlen(p->description) + strlen(stack) + 256;
    char *text = malloc(tn);
    if (!text) return ml_fail(err, "%s: out of memory", path);
    snprintf(text, tn,
             "# madlab preset (see madlab(5))\n"
             "description: %s\n"
             "stack: %s\n"
             "width: %d\n"
             "norm: %s\n",
             d, stack, p->width, norm_name(p->norm));
    /* What we write must load back: check it now rather than on the next start. */
    Preset check;
    if (preset_parse(text, path, &check, err) < 0) {
        free(text);
        return -1;
    }

    int rc = atomic_write_text(path, text, err);
    free(text);
    return rc;
}
