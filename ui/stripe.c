/* Striping: a stack from a pattern over depth ("1A:3H" = one attention block per three Hyena
 * blocks) or from a list of sequence mixers. Letters map to kind names through a table, looked
 * up in layer_kinds at run time, since kinds are added by other files independently. */
#include "config.h"
#include "ui.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const StripeLetter stripe_letters[] = {
    {'A', "mh-attention"},
    {'T', "attention"},
    {'S', "mh-sliding-attention"},
    {'L', "mh-linear-attention"},
    {'G', "mh-gated-linear-attention"},
    {'H', "hyena"},
    {'Y', "mh-hyena"},
    {'E', "hyena-experts"},
    {'M', "mamba"},
    {'R', "rwkv6-time-mixer"},
    {'W', "rwkv5-time-mixer"},
    {0, NULL},
};

const LayerKind *stripe_letter_kind(char letter, const char **tried, size_t n)
{
    for (const StripeLetter *s = stripe_letters; s->letter; s++) {
        if (s->letter != toupper((unsigned char)letter)) continue;
        if (tried && n) tried[0] = s->kind;
        const LayerKind *k = layer_kind_find(s->kind);
        return k && k->role == ROLE_SEQUENCE ? k : NULL;
    }
    if (tried && n) tried[0] = NULL;
    return NULL;
}

typedef struct {
    char *out;
    size_t n, used;
    int overflow;
} Buf;

static void put(Buf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->used + l + 2 > b->n) {
        b->overflow = 1;
        return;
    }
    if (b->used) b->out[b->used++] = ' ';
    memcpy(b->out + b->used, s, l + 1);
    b->used += l;
}

/* The kind named at the start of "swiglu" or "swiglu(inner=128)" (knobs are checked later, by
 * the stack parser). */
static const LayerKind *kind_of(const char *text)
{
    char name[64];
    size_t i = 0;
    while (text[i] && text[i] != '(' && i + 1 < sizeof name) name[i] = text[i], i++;
    name[i] = 0;
    return layer_kind_find(name);
}

static int channel_ok(const char *channel, MlError *err)
{
    if (!channel || !*channel) return 0;
    const LayerKind *k = kind_of(channel);
    if (!k || k->role != ROLE_CHANNEL) {
        ml_fail(err, "striping: '%s' is not a channel mixer (try swiglu or mlp)", channel);
        return -1;
    }
    return 0;
}

static int letter_list(char *msg, size_t n)
{
    size_t u = 0;
    msg[0] = 0;
    for (const StripeLetter *s = stripe_letters; s->letter && u + 32 < n; s++)
        u += (size_t)snprintf(msg + u, n - u, "%s%c=%s", u ? ", " : "", s->letter, s->kind);
    return 0;
}

static int is_pattern(const char *p)
{
    /* a pattern has a digit before a letter in its first item: "1A", "2H:1A" */
    while (isspace((unsigned char)*p)) p++;
    return isdigit((unsigned char)*p);
}

int stripe_build(const char *pattern, int depth, const char *channel, char *out, size_t n,
                 MlError *err)
{
    Buf b = {out, n, 0, 0};
    if (n) out[0] = 0;
    if (depth < 0 || depth > ML_MAX_LAYERS / 2)
        return ml_fail(err, "striping: depth %d is out of range (0 to %d blocks)", depth,
                       ML_MAX_LAYERS / 2);
    if (channel_ok(channel, err)) return -1;
    const LayerKind *period[ML_MAX_LAYERS];
    int np = 0;
    if (is_pattern(pattern)) {
        const char *p = pattern;
        while (*p) {
            while (isspace((unsigned char)*p) || *p == ':' || *p == ',') p++;
            if (!*p) break;
            char *end;
            long count = strtol(p, &end, 10);
            if (end == p || count < 1 || count > ML_MAX_LAYERS)
                return ml_fail(err, "striping: at '%s': expected a count from 1 to %d, then a "
                               "letter (e.g. 1A:3H)", p, ML_MAX_LAYERS);
            p = end;
            while (isspace((unsigned char)*p)) p++;
            char letter = *p;
            if (!isalpha((unsigned char)letter)) {
                char known[256];
                letter_list(known, sizeof known);
                return ml_fail(err, "striping: after %ld: expected a letter (%s)", count, known);
            }
            p++;
            const char *name = NULL;
            const LayerKind *k = stripe_letter_kind(letter, &name, 1);
            if (!k) {
                char known[256];
                letter_list(known, sizeof known);
                if (name)
                    return ml_fail(err, "striping: '%c' means %s, which is not a registered layer "
                                   "kind in this build (see madlab layers)", letter, name);
                return ml_fail(err, "striping: unknown letter '%c' (letters: %s)", letter, known);
            }
            for (long i = 0; i < count; i++) {
                if (np == ML_MAX_LAYERS)
                    return ml_fail(err, "striping: the pattern's period is longer than %d mixers",
                                   ML_MAX_LAYERS);
                period[np++] = k;
            }
        }
        if (!np) return ml_fail(err, "striping: empty pattern (e.g. 1A:3H)");
        int total = depth ? depth : np;
        int per = channel && *channel ? 2 : 1;
        if (total * per > ML_MAX_LAYERS)
            return ml_fail(err, "striping: %d blocks make more than %d layers", total, ML_MAX_LAYERS);
        for (int i = 0; i < total; i++) {
            put(&b, period[i % np]->name);
            if (per == 2) put(&b, channel);
        }
    } else {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", pattern);
        int layers = 0;
        for (char *save, *tok = strtok_r(tmp, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
            char *slash = strchr(tok, '/');
            const char *ch = channel;
            if (slash) {
                *slash = 0;
                ch = slash + 1;
                if (channel_ok(ch, err)) return -1;
            }
            const LayerKind *k = kind_of(tok);
            if (!k) return ml_fail(err, "striping: unknown layer kind '%s' (see madlab layers)", tok);
            if (k->role != ROLE_SEQUENCE)
                return ml_fail(err, "striping: '%s' is a %s layer; list sequence mixers here", tok,
                               role_name(k->role));
            layers += ch && *ch ? 2 : 1;
            if (layers > ML_MAX_LAYERS)
                return ml_fail(err, "striping: more than %d layers", ML_MAX_LAYERS);
            put(&b, tok);
            if (ch && *ch) put(&b, ch);
        }
        if (!b.used) return ml_fail(err, "striping: no sequence mixers given");
    }
    if (b.overflow) return ml_fail(err, "striping: the stack text is longer than %zu bytes", n);
    return 0;
}
