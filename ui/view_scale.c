/* The scaling view: finished `madlab scale` directories given with madlab --scale-dir DIR (also
 * ones collected from other machines). For the directory under the cursor, validation loss
 * against parameters on a log axis, one marker per budget, each budget's fitted parabola and its
 * minimum; the frontier (N_opt, L_opt per budget) and its exponents; and, across directories
 * given a MAD directory (--mad DIR), MAD score against compute-optimal perplexity with Spearman's
 * rho. The data, axes and parabola samples come from scaledata.c. */
#include "config.h"
#include "labui.h"
#include "scaling.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const uint32_t mark_utf8[] = {0x25CF, 0x25A0, 0x25B2, 0x25C6, 0x25BC, 0x2666, 0x25CB, 0x25A1};
static const char mark_ascii[] = "ox+#@%&=";
static const int mark_style[] = {S_ACC, S_ATTN, S_RECUR, S_CHAN, S_FIXED, S_SERIES2, S_TEST, S_LOSS};
#define N_MARKS 8

static void mark(int y, int x, int b)
{
    b %= N_MARKS;
    if (lab.utf8) glyph(y, x, mark_style[b], mark_utf8[b]);
    else put(y, x, 1, mark_style[b], "%c", mark_ascii[b]);
}

static void draw_scale_view(void)
{
    Rect b = lab.lay.body;
    if (lab.n_scale == 0) {
        put(b.y, 1, b.w - 2, S_HEADER, "Scaling");
        text_at((Rect){1, b.y + 2, b.w - 2, b.h - 2},
                "No scaling directories yet. Start the lab with madlab --scale-dir DIR [--mad "
                "MADDIR] for a directory madlab scale --out DIR made (or collected from other "
                "machines), with a MAD directory for its MAD score; a adds one while the lab "
                "runs; L queues the quick scaling protocol for the current stack (its runs show "
                "live in the run view, then here). The view shows loss against parameters per "
                "budget, the compute-optimal frontier and MAD against perplexity.", 0, S_DIM);
        return;
    }
    /* a stack the lab has a MAD score for (the results table) gets it, unless a MAD directory
     * gave one */
    for (int i = 0; i < lab.n_scale; i++) {
        ScaleSet *t = &lab.scale[i];
        if (t->mad_dir[0]) continue;
        char label[1100];
        lab_stack_label(t->info.stack, t->info.width, label, sizeof label);
        t->mad = scale_results_mad(&lab.data, label);
    }
    if (lab.scale_cur >= lab.n_scale) lab.scale_cur = lab.n_scale - 1;
    if (lab.scale_cur < 0) lab.scale_cur = 0;
    const ScaleSet *s = &lab.scale[lab.scale_cur];
    static ScalePlot plot;
    scale_plot(s, &plot);

    /* the header: the stack, its MAD score, which directory; when the directory's path and runs
     * do not fit, the runs come first on a line of their own, the path last (cut if it must be) */
    char mad[48] = "", pick[48], where[1400];
    if (isfinite(s->mad)) snprintf(mad, sizeof mad, "  MAD %.3f", s->mad);
    snprintf(pick, sizeof pick, "  (%d of %d, Up/Down)  ", lab.scale_cur + 1, lab.n_scale);
    snprintf(where, sizeof where, "%s: %d of %d runs, %s protocol", s->dir, s->n_done, s->n_runs,
             s->info.p.name);
    int two = (int)(strlen("Scaling: ") + strlen(s->info.stack) + strlen(mad) + strlen(pick) +
                    strcspn(where, ",")) > b.w - 2;
    int x = 1 + put(b.y, 1, b.w - 2, S_HEADER, "Scaling: %s", s->info.stack);
    x += put(b.y, x, b.w - 1 - x, S_OK, "%s", mad);
    x += put(b.y, x, b.w - 1 - x, S_DIM, "%s", pick);
    if (two)
        put(b.y + 1, 1, b.w - 2, S_DIM, "%d of %d runs, %s protocol, in %s", s->n_done, s->n_runs,
            s->info.p.name, s->dir);
    else
        put(b.y, x, b.w - 1 - x, S_DIM, "%s", where);
    put(b.y + 1 + two, 1, b.w - 2, S_DIM, "validation loss (nats/byte) against parameters (log axis)");
    int yl = 7, px = yl + 1, pw = b.w - px - 2, py = b.y + 2 + two, ph = b.h - 9 - two;
    if (pw < 10 || ph < 3) return;
    for (int r = 0; r < ph; r++) put(py + r, yl - 1, 1, S_DIM, "|");
    put(py, 0, yl - 1, S_DIM, "%5.3f", plot.yhi);
    put(py + ph / 2, 0, yl - 1, S_DIM, "%5.3f", (plot.yhi + plot.ylo) / 2);
    put(py + ph - 1, 0, yl - 1, S_DIM, "%5.3f", plot.ylo);
    log_axis_draw(&plot.x, py + ph, px, pw, s->n > 0);
    if (s->n == 0)
        put(py + ph / 2, px + 2, pw - 2, S_DIM, "no finished runs in this directory yet");
    /* parabolas first (dots), then the runs, then each minimum on top */
    for (int bi = 0; bi < s->fit.n_budgets; bi++)
        for (int k = 0; plot.has_curve[bi] && k < SCALE_CURVE_SAMPLES; k++) {
            int r = scale_loss_row(&plot, plot.cy[bi][k], ph);
            if (r < 0) continue;
            int c = px + log_axis_col(&plot.x, exp(plot.cx[bi][k]), pw);
            if (lab.utf8) glyph(py + r, c, S_DIM, 0x00B7);
            else put(py + r, c, 1, S_DIM, ".");
        }
    for (int i = 0; i < s->n; i++) {
        int r = scale_loss_row(&plot, s->loss[i], ph);
        if (r >= 0) mark(py + r, px + log_axis_col(&plot.x, s->params[i], pw), s->budget_i[i]);
    }
    for (int bi = 0; bi < s->fit.n_budgets; bi++) {
        const ScaleBudgetFit *f = &s->fit.b[bi];
        int r = f->ok ? scale_loss_row(&plot, f->l_opt, ph) : -1;
        if (r < 0) continue;
        int c = px + log_axis_col(&plot.x, f->n_opt, pw);
        if (lab.utf8) glyph(py + r, c, S_SEL, 0x2605);
        else put(py + r, c, 1, S_SEL, "*");
    }
    /* legend, frontier, exponents, MAD against perplexity */
    int ly = py + ph + 2;
    char text[2048];
    x = 1;
    for (int bi = 0; bi < s->fit.n_budgets && x < b.w - 12; bi++) {
        char t[32];
        scale_budget_text(s->fit.b[bi].budget, t, sizeof t);
        mark(ly, x, bi);
        x += 3 + put(ly, x + 2, b.w - x - 3, S_DIM, "C=%s", t);
    }
    if (lab.utf8) glyph(ly, x, S_SEL, 0x2605);
    else put(ly, x, 1, S_SEL, "*");
    put(ly, x + 2, b.w - x - 3, S_DIM, "fitted minimum (parabola in ln N, dotted)");
    size_t u = (size_t)snprintf(text, sizeof text, "frontier:");
    for (int bi = 0; bi < s->fit.n_budgets && u < sizeof text; bi++) {
        const ScaleBudgetFit *f = &s->fit.b[bi];
        char t[32], nn[32];
        scale_budget_text(f->budget, t, sizeof t);
        fmt_count(f->n_opt, nn, sizeof nn);
        if (f->ok)
            u += (size_t)snprintf(text + u, sizeof text - u, "  C=%s N*=%s L*=%.4f (ppl %.3f)%s", t, nn,
                                  f->l_opt, exp(f->l_opt), f->at_edge ? " edge" : "");
        else
            u += (size_t)snprintf(text + u, sizeof text - u, "  C=%s not fitted (%d runs)", t, f->points);
    }
    if (u < sizeof text && s->fit.budgets_fitted >= 2)
        snprintf(text + u, sizeof text - u, "   N_opt ~ C^%.2f, L_opt ~ C^%.3f", s->fit.a, s->fit.loss_exp);
    text_at((Rect){1, ly + 1, b.w - 2, 2}, text, 0, S_HEADER);

    ScaleMadCompare mc;
    scale_mad_compare(lab.scale, lab.n_scale, &mc);
    if (mc.n == 0) {
        snprintf(text, sizeof text, "MAD against compute-optimal perplexity: %s",
                 isfinite(s->mad) ? "no budget fitted by every stack with a MAD score"
                                  : "no MAD score for this stack: Q scores it in the lab, or give a MAD directory with --mad DIR (or a)");
    } else {
        char t[32];
        scale_budget_text(mc.budget, t, sizeof t);
        u = (size_t)snprintf(text, sizeof text, "MAD vs perplexity at C=%s, %d stacks: ", t, mc.n);
        if (isfinite(mc.rho)) u += (size_t)snprintf(text + u, sizeof text - u, "Spearman rho %+.2f", mc.rho);
        else u += (size_t)snprintf(text + u, sizeof text - u, "rho needs 3 stacks");
        for (int i = 0; i < lab.n_scale && i < 64 && u < sizeof text; i++)
            if (isfinite(mc.ppl[i]))
                u += (size_t)snprintf(text + u, sizeof text - u, "  %s%s MAD %.3f ppl %.3f", i == lab.scale_cur ? ">" : "",
                                      lab.scale[i].info.stack, lab.scale[i].mad, mc.ppl[i]);
    }
    text_at((Rect){1, ly + 3, b.w - 2, 2}, text, 0, S_NORMAL);
}

static void scale_key(Action a)
{
    switch (a) {
    case ACT_UP:
    case ACT_DOWN:
    case ACT_TOP:
    case ACT_BOTTOM: list_move(&lab.scale_cur, lab.n_scale, a); break;
    case ACT_ADD_SCALE_DIR: form_open(&form_scale_dir, 0); break;
    case ACT_EXPORT_SCALE: form_open(&form_export_scale, 0); break;
    default: break;
    }
}

const View view_scale = {V_SCALE, "6 Scale", draw_scale_view, scale_key};
