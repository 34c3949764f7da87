/* Stacks: the text form of the layers between the embedding and the head.
 *
 *   stack  := word { space word }
 *   word   := name [ space* "(" knobs ")" ]
 *   knobs  := [ knob { "," knob } ]        spaces allowed around every token
 *   knob   := name "=" ( integer | word )   (a word for an enumerated knob, e.g. routing=topk)
 *
 * Only sequence and channel mixers may appear; the model adds embedding, norms and head. Every
 * error is one line "WHERE:COL: what is wrong; what would work", COL counting characters (not
 * bytes) from 1 in the text. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A bounded string builder: appends until full, then remembers that it overflowed. */
typedef struct {
    char *buf;
    size_t n, len;
    int overflow;
} Sb;

static void sb_init(Sb *b, char *buf, size_t n)
{
    b->buf = buf;
    b->n = n;
    b->len = 0;
    b->overflow = 0;
    if (n) buf[0] = '\0';
}

static void sb_add(Sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(Sb *b, const char *fmt, ...)
{
    if (b->overflow || b->n == 0) {
        b->overflow = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->buf + b->len, b->n - b->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->n - b->len) {
        b->buf[b->len] = '\0'; /* drop the partial piece */
        b->overflow = 1;
        return;
    }
    b->len += (size_t)k;
}

static int is_stack_role(LayerRole r) { return r == ROLE_SEQUENCE || r == ROLE_CHANNEL; }
static int is_name_char(int c) { return isalnum(c) || c == '-' || c == '_'; }
static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Bytes of the (UTF-8) character at s, so messages quote whole characters. */
static int char_len(const char *s)
{
    int n = 1;
    if ((unsigned char)s[0] >= 0xC0)
        while (n < 4 && ((unsigned char)s[n] & 0xC0) == 0x80) n++;
    return n;
}

/* User text quoted in a message: at most len bytes, control characters escaped. */
#define SHOWN_MAX 40
typedef char Shown[4 * SHOWN_MAX + 1];
static const char *shown(Shown q, const char *s, size_t len)
{
    return ml_escape(q, sizeof(Shown), s, len);
}

/* 1-based column of text + off, counting UTF-8 characters. */
static int column(const char *text, size_t off)
{
    int col = 1;
    for (size_t i = 0; i < off; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80) col++;
    return col;
}

/* Levenshtein distance, case-insensitive, capped for long words. */
static int edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > 63 || lb > 63) return INT_MAX;
    int prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = prev[j - 1] + cost;
            if (prev[j] + 1 < v) v = prev[j] + 1;
            if (cur[j - 1] + 1 < v) v = cur[j - 1] + 1;
            cur[j] = v;
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

static void list_stack_kinds(Sb *b)
{
    int first = 1;
    for (const LayerKind *const *k = layer_kinds; *k; k++) {
        if (!is_stack_role((*k)->role)) continue;
        sb_add(b, "%s%s", first ? "" : ", ", (*k)->name);
        first = 0;
    }
}

static void list_knobs(Sb *b, const LayerKind *k)
{
    for (int i = 0; i < k->n_knobs; i++) {
        char range[128], def[64];
        knob_range_text(&k->knobs[i], range, sizeof range);
        knob_text(&k->knobs[i], k->knobs[i].def, def, sizeof def);
        sb_add(b, "%s%s (%s, default %s)", i ? ", " : "", k->knobs[i].name, range, def);
    }
}

/* An example stack from the table: the first sequence mixer and the first channel mixer. */
static void example_stack(Sb *b)
{
    const char *seq = NULL, *chan = NULL;
    for (const LayerKind *const *k = layer_kinds; *k; k++) {
        if ((*k)->role == ROLE_SEQUENCE && !seq) seq = (*k)->name;
        if ((*k)->role == ROLE_CHANNEL && !chan) chan = (*k)->name;
    }
    if (seq && chan) sb_add(b, "'%s %s'", seq, chan);
    else if (seq || chan) sb_add(b, "'%s'", seq ? seq : chan);
    else sb_add(b, "layer names");
}

/* Finishes an error: "WHERE:COL: " + msg (already in m). Long lists end in "...". */
static int fail_at(MlError *err, const char *where, const char *text, size_t off, Sb *m)
{
    if (m->overflow && m->n > 4) {
        size_t at = m->len + 4 < m->n ? m->len : m->n - 4;
        memcpy(m->buf + at, "...", 4);
    }
    return ml_fail(err, "%s:%d: %s", where && *where ? where : "stack", column(text, off), m->buf);
}

/* width/heads must be a whole, even number (rotary embedding turns pairs of dims). */
static int heads_fit(int width, int h) { return h >= 1 && width % h == 0 && (width / h) % 2 == 0; }

static int check_heads(const LayerKind *k, const KnobDesc *kd, int heads, int width, Sb *m)
{
    if (heads_fit(width, heads)) return 0;
    if (width % heads != 0)
        sb_add(m, "%s: width %d is not divisible by heads=%d; ", k->name, width, heads);
    else
        sb_add(m, "%s: width %d / heads=%d gives head size %d, which is odd (rotary embedding "
                  "needs an even head size); ", k->name, width, heads, width / heads);
    int lo = kd->min > 1 ? kd->min : 1, hi = kd->max < width ? kd->max : width, any = 0;
    for (int h = lo; h <= hi; h++) any |= heads_fit(width, h);
    if (!any) {
        if (width % 2) sb_add(m, "no heads value fits the odd width %d; use an even width", width);
        else sb_add(m, "no heads value in %d..%d fits width %d; choose another width", kd->min,
                    kd->max, width);
        return -1;
    }
    sb_add(m, "use heads that divide the width into even head sizes:");
    for (int h = lo, first = 1; h <= hi; h++) {
        if (!heads_fit(width, h)) continue;
        sb_add(m, "%s%d", first ? " " : ", ", h);
        first = 0;
    }
    return -1;
}

int stack_parse(const char *text, const char *where, int width, StackSpec *out, MlError *err)
{
    char mbuf[sizeof err->msg - 96]; /* room for "WHERE:COL: " */
    Sb m;
    sb_init(&m, mbuf, sizeof mbuf);
    StackSpec s;
    memset(&s, 0, sizeof s);
    Shown shown_buf;
    if (!text) text = "";

    size_t i = 0;
    for (;;) {
        while (is_space((unsigned char)text[i])) i++;
        if (!text[i]) break;

        /* the layer name */
        size_t name_at = i;
        while (is_name_char((unsigned char)text[i])) i++;
        size_t name_len = i - name_at;
        if (name_len == 0) {
            if (text[i] == '(')
                sb_add(&m, "'(' without a layer name before it; write knobs after a name, e.g. "
                           "'mh-attention(heads=4)'");
            else if (text[i] == ')')
                sb_add(&m, "')' without a matching '('");
            else
                sb_add(&m, "unexpected '%s'; a stack is layer names separated by spaces, e.g. ",
                       shown(shown_buf, text + i, (size_t)char_len(text + i)));
            if (text[i] != '(' && text[i] != ')') example_stack(&m);
            return fail_at(err, where, text, i, &m);
        }
        char name[64];
        if (name_len >= sizeof name) {
            sb_add(&m, "unknown layer '%.40s...'; valid layers: ", text + name_at);
            list_stack_kinds(&m);
            return fail_at(err, where, text, name_at, &m);
        }
        memcpy(name, text + name_at, name_len);
        name[name_len] = '\0';

        /* a name must end at a space, a '(' or the end */
        if (text[i] && !is_space((unsigned char)text[i]) && text[i] != '(') {
            if (text[i] == ')')
                sb_add(&m, "')' after '%s' without a matching '('", name);
            else if (text[i] == ',' || text[i] == ';')
                sb_add(&m, "unexpected '%c' after '%s'; separate layers with spaces, not '%c'",
                       text[i], name, text[i]);
            else
                sb_add(&m, "unexpected '%s' after '%s'; layer names are letters, digits and '-'",
                       shown(shown_buf, text + i, (size_t)char_len(text + i)), name);
            return fail_at(err, where, text, i, &m);
        }

        const LayerKind *k = layer_kind_find(name);
        if (!k || !is_stack_role(k->role)) {
            if (k) {
                sb_add(&m, "'%s' (role: %s) is added by the model itself; a stack holds only "
                           "sequence and channel mixers: ", name, role_name(k->role));
                list_stack_kinds(&m);
                return fail_at(err, where, text, name_at, &m);
            }
            const char *best = NULL;
            int best_d = INT_MAX;
            for (const LayerKind *const *c = layer_kinds; *c; c++) {
                if (!is_stack_role((*c)->role)) continue;
                int d = edit_distance(name, name_len, (*c)->name);
                if (d < best_d) best_d = d, best = (*c)->name;
            }
            int near = best && (best_d <= 2 || (size_t)best_d * 3 <= name_len);
            if (near) {
                sb_add(&m, "unknown layer '%s'; did you mean '%s'? (valid layers: ", name, best);
                list_stack_kinds(&m);
                sb_add(&m, ")");
            } else {
                sb_add(&m, "unknown layer '%s'; valid layers: ", name);
                list_stack_kinds(&m);
            }
            return fail_at(err, where, text, name_at, &m);
        }

        if (s.n == ML_MAX_LAYERS) {
            sb_add(&m, "more than %d layers; a stack holds at most %d", ML_MAX_LAYERS, ML_MAX_LAYERS);
            return fail_at(err, where, text, name_at, &m);
        }
        int li = s.n++;
        s.kind[li] = k;
        for (int j = 0; j < k->n_knobs && j < ML_MAX_KNOBS; j++) s.knob[li][j] = k->knobs[j].def;

        int given[ML_MAX_KNOBS] = {0};
        size_t given_at[ML_MAX_KNOBS] = {0};

        /* optional knobs: the name may be followed by spaces, then '(' */
        size_t j = i;
        while (is_space((unsigned char)text[j])) j++;
        if (text[j] == '(') {
            size_t lparen = j;
            size_t rparen = lparen + 1;
            while (text[rparen] && text[rparen] != ')' && text[rparen] != '(') rparen++;
            if (text[rparen] != ')') {
                sb_add(&m, "missing ')' after '%s('; write e.g. '%s(%s=%d)'", name, name,
                       k->n_knobs ? k->knobs[0].name : "knob",
                       k->n_knobs ? k->knobs[0].def : 1);
                return fail_at(err, where, text, lparen, &m);
            }
            size_t p = lparen + 1;
            for (;;) {
                while (is_space((unsigned char)text[p])) p++;
                if (p == rparen) break; /* "()" or "( )": all defaults */
                /* knob name */
                size_t kn_at = p;
                while (is_name_char((unsigned char)text[p])) p++;
                size_t kn_len = p - kn_at;
                if (kn_len == 0) {
                    sb_add(&m, "expected a knob name in '%s(...)', found '%s'; write knob=value",
                           name, shown(shown_buf, text + p, (size_t)char_len(text + p)));
                    return fail_at(err, where, text, p, &m);
                }
                int ki = -1;
                for (int q = 0; q < k->n_knobs && q < ML_MAX_KNOBS; q++)
                    if (strlen(k->knobs[q].name) == kn_len &&
                        strncmp(k->knobs[q].name, text + kn_at, kn_len) == 0)
                        ki = q;
                if (ki < 0) {
                    if (k->n_knobs == 0)
                        sb_add(&m, "%s has no knobs, so '%.*s' is unknown; write plain '%s'", name,
                               (int)(kn_len > 40 ? 40 : kn_len), text + kn_at, name);
                    else {
                        sb_add(&m, "unknown knob '%.*s' for %s; its knobs: ",
                               (int)(kn_len > 40 ? 40 : kn_len), text + kn_at, name);
                        list_knobs(&m, k);
                    }
                    return fail_at(err, where, text, kn_at, &m);
                }
                const KnobDesc *kd = &k->knobs[ki];
                if (given[ki]) {
                    sb_add(&m, "%s: knob %s given twice (first at column %d)", name, kd->name,
                           column(text, given_at[ki]));
                    return fail_at(err, where, text, kn_at, &m);
                }
                while (is_space((unsigned char)text[p])) p++;
                char def[64], range[128];
                knob_text(kd, kd->def, def, sizeof def);
                knob_range_text(kd, range, sizeof range);
                if (text[p] != '=') {
                    sb_add(&m, "%s: expected '=' after knob %s; write %s=%s", name, kd->name,
                           kd->name, def);
                    return fail_at(err, where, text, p, &m);
                }
                p++;
                while (is_space((unsigned char)text[p])) p++;
                size_t v_at = p;
                while (p < rparen && text[p] != ',' && !is_space((unsigned char)text[p])) p++;
                size_t v_len = p - v_at;
                if (v_len == 0) {
                    if (kd->words)
                        sb_add(&m, "%s: knob %s has no value; write %s=WORD with WORD one of %s",
                               name, kd->name, kd->name, range);
                    else
                        sb_add(&m, "%s: knob %s has no value; write %s=N with N in %d..%d", name,
                               kd->name, kd->name, kd->min, kd->max);
                    return fail_at(err, where, text, v_at, &m);
                }
                char vbuf[32];
                int ok = v_len < sizeof vbuf;
                long v = 0;
                if (kd->words) { /* an enumerated knob takes one of its words, not a number */
                    v = kd->min - 1;
                    for (int q = kd->min; q <= kd->max; q++)
                        if (strlen(kd->words[q - kd->min]) == v_len &&
                            strncmp(kd->words[q - kd->min], text + v_at, v_len) == 0)
                            v = q;
                    if (v < kd->min) {
                        sb_add(&m, "%s: %s=%s is not a choice; use one of %s", name, kd->name,
                               shown(shown_buf, text + v_at, v_len > 40 ? 40 : v_len), range);
                        return fail_at(err, where, text, v_at, &m);
                    }
                } else if (ok) {
                    memcpy(vbuf, text + v_at, v_len);
                    vbuf[v_len] = '\0';
                    char *end;
                    errno = 0;
                    v = strtol(vbuf, &end, 10);
                    ok = *end == '\0' && end != vbuf && (isdigit((unsigned char)vbuf[0]) ||
                                                         vbuf[0] == '-' || vbuf[0] == '+');
                    if (ok && (errno == ERANGE || v < INT_MIN || v > INT_MAX)) {
                        sb_add(&m, "%s: %s=%s is out of range; use %d..%d", name, kd->name, vbuf,
                               kd->min, kd->max);
                        return fail_at(err, where, text, v_at, &m);
                    }
                }
                if (!ok && !kd->words) {
                    sb_add(&m, "%s: %s=%s is not an integer; use a whole number in %d..%d",
                           name, kd->name, shown(shown_buf, text + v_at, v_len > 40 ? 40 : v_len),
                           kd->min, kd->max);
                    return fail_at(err, where, text, v_at, &m);
                }
                if (v < kd->min || v > kd->max) {
                    sb_add(&m, "%s: %s=%ld is out of range; use %d..%d", name, kd->name, v,
                           kd->min, kd->max);
                    return fail_at(err, where, text, v_at, &m);
                }
                s.knob[li][ki] = (int)v;
                given[ki] = 1;
                given_at[ki] = kn_at;
                while (is_space((unsigned char)text[p])) p++;
                if (p == rparen) break;
                if (text[p] != ',') {
                    char vt[64];
                    knob_text(kd, (int)v, vt, sizeof vt);
                    sb_add(&m, "%s: expected ',' or ')' after %s=%s, found '%s'", name,
                           kd->name, vt, shown(shown_buf, text + p, (size_t)char_len(text + p)));
                    return fail_at(err, where, text, p, &m);
                }
                p++;
                while (is_space((unsigned char)text[p])) p++;
                if (p == rparen) {
                    sb_add(&m, "%s: ',' must be followed by another knob=value", name);
                    return fail_at(err, where, text, p, &m);
                }
            }
            i = rparen + 1;
            if (text[i] && !is_space((unsigned char)text[i])) {
                sb_add(&m, "expected a space after '%s(...)', found '%s'", name,
                       shown(shown_buf, text + i, (size_t)char_len(text + i)));
                return fail_at(err, where, text, i, &m);
            }
        }

        /* width-dependent checks, by knob name */
        if (width > 0) {
            for (int q = 0; q < k->n_knobs && q < ML_MAX_KNOBS; q++) {
                if (strcmp(k->knobs[q].name, "heads") != 0) continue;
                int h = s.knob[li][q];
                if (h > 0 && check_heads(k, &k->knobs[q], h, width, &m) < 0)
                    return fail_at(err, where, text, given[q] ? given_at[q] : name_at, &m);
            }
            if (k->validate) { /* knobs that must fit each other or the width */
                LayerCfg lc;
                char vm[256];
                layer_cfg_default(k, width, 2, 1, &lc);
                memcpy(lc.knob, s.knob[li], sizeof lc.knob);
                if (k->validate(&lc, vm, sizeof vm) != 0) {
                    sb_add(&m, "%s", vm);
                    return fail_at(err, where, text, name_at, &m);
                }
            }
        }
    }

    if (s.n == 0) {
        sb_add(&m, "empty stack; give layer names separated by spaces, e.g. ");
        example_stack(&m);
        return fail_at(err, where, text, 0, &m);
    }
    *out = s;
    return 0;
}

int stack_text_checked(const StackSpec *s, char buf[ML_STACK_TEXT_MAX], MlError *err)
{
    if (stack_format(s, buf, ML_STACK_TEXT_MAX) == 0) return 0;
    return ml_fail(err, "the stack is too long: its text (layers and changed knobs) holds at most "
                        "%d characters", ML_STACK_TEXT_MAX - 1);
}

int stack_format(const StackSpec *s, char *buf, size_t n)
{
    Sb b;
    sb_init(&b, buf, n);
    for (int i = 0; i < s->n; i++) {
        const LayerKind *k = s->kind[i];
        sb_add(&b, "%s%s", i ? " " : "", k->name);
        int has_knobs = 0;
        for (int j = 0; j < k->n_knobs && j < ML_MAX_KNOBS; j++) {
            if (s->knob[i][j] == k->knobs[j].def) continue;
            char vt[64];
            knob_text(&k->knobs[j], s->knob[i][j], vt, sizeof vt);
            sb_add(&b, "%s%s=%s", has_knobs ? "," : "(", k->knobs[j].name, vt);
            has_knobs = 1;
        }
        if (has_knobs) sb_add(&b, ")");
    }
    if (b.overflow) {
        if (n) buf[0] = '\0';
        return -1;
    }
    return 0;
}

int stack_layer_fits(const LayerKind *k, const int knob[ML_MAX_KNOBS], int width)
{
    for (int q = 0; q < k->n_knobs && q < ML_MAX_KNOBS; q++) {
        if (knob[q] < k->knobs[q].min || knob[q] > k->knobs[q].max) return 0;
        if (strcmp(k->knobs[q].name, "heads") == 0 && !heads_fit(width, knob[q])) return 0;
    }
    if (!k->validate) return 1;
    LayerCfg lc;
    char vm[256];
    layer_cfg_default(k, width, 2, 1, &lc);
    memcpy(lc.knob, knob, sizeof lc.knob);
    return k->validate(&lc, vm, sizeof vm) == 0;
}
