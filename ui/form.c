/* The form modal: fields built from a FormDef, edited in place, checked, and handed back to the
 * FormDef's apply in the same record they were read from (forms.c declares the forms). */
#include "config.h"
#include "labui.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *field_ptr(Form *f, const FieldDef *d) { return f->rec.bytes + d->off; }

void form_open(const FormDef *def, int arg)
{
    Form *f = &lab.form;
    memset(f, 0, sizeof *f);
    f->def = def;
    f->arg = arg;
    f->fresh = 1;
    snprintf(f->title, sizeof f->title, "%s", def->title);
    if (def->fields_for) f->nf = def->fields_for(arg, f->f, FORM_MAX_FIELDS);
    else {
        f->nf = def->nf < FORM_MAX_FIELDS ? def->nf : FORM_MAX_FIELDS;
        memcpy(f->f, def->fields, sizeof f->f[0] * f->nf);
    }
    def->load(f->rec.bytes, arg, f->title, sizeof f->title);
    for (int i = 0; i < f->nf; i++) {
        const FieldDef *d = &f->f[i];
        void *v = field_ptr(f, d);
        char *t = f->text[i];
        switch (d->type) {
        case FT_INT:
            if (d->words) snprintf(t, FORM_TEXT_MAX, "%s", d->words[*(int *)v - (int)d->min]);
            else snprintf(t, FORM_TEXT_MAX, "%d", *(int *)v);
            break;
        case FT_LONG: snprintf(t, FORM_TEXT_MAX, "%lld", *(long long *)v); break;
        case FT_NUM: snprintf(t, FORM_TEXT_MAX, "%g", *(double *)v); break;
        case FT_TEXT: snprintf(t, FORM_TEXT_MAX, "%s", (char *)v); break;
        }
    }
    lab.modal = &modal_form;
}

/* "reference|topk": the words a field takes. */
static void words_text(const FieldDef *d, char *buf, size_t n)
{
    buf[0] = 0;
    for (int v = (int)d->min; v <= (int)d->max; v++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", v > d->min ? "|" : "", d->words[v - (int)d->min]);
}

/* The number in a field, checked against its type and range; a field of words takes one of
 * its words. */
static int field_num(const FieldDef *d, const char *text, double *out, char *msg, size_t n)
{
    if (d->words) {
        for (int v = (int)d->min; v <= (int)d->max; v++)
            if (strcmp(text, d->words[v - (int)d->min]) == 0) {
                *out = v;
                return 0;
            }
        char w[200];
        words_text(d, w, sizeof w);
        snprintf(msg, n, "%s: '%s' is not one of %s", d->label, text, w);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!text[0] || *end || errno || !isfinite(v)) {
        snprintf(msg, n, "%s: '%s' is not a number", d->label, text);
        return -1;
    }
    if (d->type != FT_NUM && v != floor(v)) {
        snprintf(msg, n, "%s: '%s' is not a whole number", d->label, text);
        return -1;
    }
    if (v < d->min || v > d->max) {
        snprintf(msg, n, "%s: %g is out of range (%g to %g)", d->label, v, d->min, d->max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Reads every field back into the record it was built from, then applies. */
static void form_apply(void)
{
    Form *f = &lab.form;
    char msg[512];
    for (int i = 0; i < f->nf; i++) {
        const FieldDef *d = &f->f[i];
        void *p = field_ptr(f, d);
        double v;
        if (d->type == FT_TEXT) {
            snprintf(p, FORM_TEXT_MAX, "%s", f->text[i]);
            continue;
        }
        if (field_num(d, f->text[i], &v, msg, sizeof msg)) {
            f->cur = i;
            lab_status(1, "%s", msg);
            return;
        }
        if (d->type == FT_INT) *(int *)p = (int)v;
        else if (d->type == FT_LONG) *(long long *)p = (long long)v;
        else *(double *)p = v;
    }
    /* closed first: the apply may open another modal (a confirm) */
    lab.modal = NULL;
    if (f->def->apply(f->rec.bytes, f->arg) != 0) lab.modal = &modal_form;
}

/* "1..16" for a number, "reference|topk" for words */
static void range_text(const FieldDef *d, char *buf, size_t n)
{
    if (d->words) words_text(d, buf, n);
    else snprintf(buf, n, "%g..%g", d->min, d->max);
}

static void form_draw(Rect box, Rect in)
{
    Form *f = &lab.form;
    /* the fields (scrolled to keep the current one in view), a blank line, at least 3 lines of
     * help, the key line, in a box that fits the screen */
    Rect fr = {box.x, box.y, box.w, f->nf + 12 < box.h ? f->nf + 12 : box.h};
    int shown = f->nf < fr.h - 7 ? f->nf : fr.h - 7;
    if (shown < 1) shown = 1;
    int first = f->cur >= shown ? f->cur - shown + 1 : 0;
    box_at(fr, f->title);
    for (int i = first; i < f->nf && i - first < shown; i++) {
        const FieldDef *d = &f->f[i];
        int y = fr.y + 1 + i - first, sel = i == f->cur;
        put(y, in.x, 14, sel ? S_HEADER : S_NORMAL, "%-14s", d->label);
        int tw = 30;
        fill(y, in.x + 15, tw, sel ? S_SEL : S_DIM);
        put(y, in.x + 15, tw, sel ? S_SEL : S_NORMAL, "%s%s", f->text[i], sel ? "_" : "");
        char range[200];
        range_text(d, range, sizeof range);
        if (d->type != FT_TEXT)
            put(y, in.x + 47, in.w - 47, S_DIM, "%s %s", range, d->help ? d->help : "");
        else
            put(y, in.x + 47, in.w - 47, S_DIM, "%s", d->help ? d->help : "");
    }
    /* the row's help is cut to the box; the current field's is here in full, wrapped, and so is
     * an error the form's apply reported */
    char text[1024];
    const FieldDef *d = &f->f[f->cur];
    char range[200];
    range_text(d, range, sizeof range);
    if (d->type != FT_TEXT)
        snprintf(text, sizeof text, "%s (%s): %s", d->label, range, d->help ? d->help : "");
    else
        snprintf(text, sizeof text, "%s: %s", d->label, d->help ? d->help : "");
    if (lab.status_err && lab.status[0]) snprintf(text + strlen(text), sizeof text - strlen(text), "\n%s", lab.status);
    int hy = fr.y + 1 + shown + 1;
    text_at((Rect){in.x, hy, in.w, fr.y + fr.h - 2 - hy}, text, 0, lab.status_err ? S_WARN : S_DIM);
    put(fr.y + fr.h - 2, in.x, in.w, S_DIM, "type to replace, Backspace deletes, Up/Down move, Enter applies, Escape cancels");
}

static void form_key(int k)
{
    Form *f = &lab.form;
    char *x = f->text[f->cur];
    size_t len = strlen(x);
    if (k == UK_ESC) {
        lab.modal = NULL;
        lab_status(0, "cancelled");
    } else if (k == UK_ENTER) form_apply();
    else if (k == UK_UP) f->cur = (f->cur + f->nf - 1) % f->nf, f->fresh = 1;
    else if (k == UK_DOWN || k == '\t') f->cur = (f->cur + 1) % f->nf, f->fresh = 1;
    else if (k == UK_BACKSPACE) {
        if (len) x[len - 1] = 0;
        f->fresh = 0;
    } else if (k == UK_CTRL('u')) x[0] = 0, f->fresh = 0;
    else if (k >= 32 && k < 127 && len + 1 < FORM_TEXT_MAX) {
        if (f->fresh) x[0] = 0, len = 0;
        f->fresh = 0;
        x[len] = (char)k;
        x[len + 1] = 0;
    }
}

const Modal modal_form = {form_draw, form_key};
