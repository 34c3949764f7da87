/* The run view: the live run (or the two overlaid), its progress, loss and accuracy charts, and
 * the state size of each layer at the task's length and at 8 times it. */
#include "config.h"
#include "labui.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int shown_runs(int *ids)
{
    int n = 0;
    for (int i = 0; i < 2; i++)
        if (lab.overlay[i] >= 0 && lab.overlay[i] < lab.data.nruns && lab.data.runs[lab.overlay[i]].used) ids[n++] = lab.overlay[i];
    if (n) return n;
    if (lab.snap.id >= 0 && lab.snap.id < lab.data.nruns && lab.data.runs[lab.snap.id].used) ids[n++] = lab.snap.id;
    else
        for (int i = lab.data.nruns - 1; i >= 0; i--)
            if (lab.data.runs[i].used) {
                ids[n++] = i;
                break;
            }
    return n;
}

/* The loss and accuracy charts of runs ids[0..n-1] (at most two). Run #1 of the pair is drawn
 * solid, the second dashed; per-epoch series carry a mark per point (o and x without UTF-8),
 * so the curves read without colour. */
void run_charts(Rect lr, Rect ar, const int *ids, int n)
{
    Series s[4] = {{0}};
    int st[4] = {0};
    const char *names[4] = {0};
    char nm[4][48];
    int ns = 0;
    const uint32_t marks[2] = {lab.utf8 ? 0x25CF : 'o', lab.utf8 ? 0x25A0 : 'x'}; /* ● ■ */
    for (int i = 0; i < n; i++) {
        RunHist *h = &lab.data.runs[ids[i]];
        s[ns] = (Series){.x = h->sx, .y = h->sy, .n = h->ns, .dashed = i};
        st[ns] = i ? S_SERIES2 : S_LOSS;
        snprintf(nm[ns], sizeof nm[ns], n > 1 ? "#%d train" : "train loss", ids[i] + 1);
        names[ns] = nm[ns];
        ns++;
        s[ns] = (Series){.x = h->ex, .y = h->etl, .n = h->ne, .dashed = i, .mark = marks[i]};
        st[ns] = i ? S_ACC : S_TEST;
        snprintf(nm[ns], sizeof nm[ns], n > 1 ? "#%d test" : "test loss (per epoch)", ids[i] + 1);
        names[ns] = nm[ns];
        ns++;
    }
    draw_chart(lr, "loss", s, ns, st, names, 1);
    ns = 0;
    for (int i = 0; i < n; i++) {
        RunHist *h = &lab.data.runs[ids[i]];
        s[ns] = (Series){.x = h->ex, .y = h->eacc, .n = h->ne, .dashed = i, .mark = marks[i]};
        st[ns] = i ? S_SERIES2 : S_ACC;
        snprintf(nm[ns], sizeof nm[ns], "#%d", ids[i] + 1);
        names[ns] = nm[ns];
        ns++;
    }
    draw_chart(ar, "test accuracy", s, ns, st, names, 1);
}

static void draw_counters(Rect r, const RunSpec *spec)
{
    if (r.h < 2) return;
    const TaskKind *t = task_find(spec->train.task_name);
    int L = t ? t->seq_len_out(&spec->train.task) : 0, V = spec->train.task.vocab;
    const StackSpec *s = &spec->train.stack;
    hline_at(r.y, 0, r.w);
    put(r.y, 2, r.w - 2, S_HEADER, " state size (inference state per layer: floats, bytes as fp32) ");
    put(r.y + 1, 1, r.w - 1, S_DIM, "%-3s %-18s %11s %11s %11s %11s  (L = %d)", "#", "kind", "params",
        "state@L", "bytes@L", "state@8L", L);
    double tp = 0, ts = 0, ts8 = 0;
    int rows = r.h - 3, shown = 0;
    for (int i = 0; i < s->n; i++) {
        LayerCfg c;
        layer_cfg_of(s, i, spec->train.width, V, L, &c);
        double np = (double)s->kind[i]->n_params(&c), st = s->kind[i]->state_size(&c, L);
        LayerCfg c8 = c;
        c8.max_len = 8 * L;
        double st8 = s->kind[i]->state_size(&c8, 8 * L);
        tp += np, ts += st, ts8 += st8;
        if (s->kind[i]->role != ROLE_SEQUENCE && st == 0) continue; /* channel mixers: no state */
        if (shown >= rows) continue;
        char a[32], b[32], d[32], e[32];
        fmt_count(np, a, sizeof a);
        fmt_count(st, b, sizeof b);
        fmt_bytes(st * 4, d, sizeof d);
        fmt_count(st8, e, sizeof e);
        int y = r.y + 2 + shown++;
        put(y, 1, 3, S_DIM, "%-3d", i + 1);
        put(y, 5, 18, kind_style(s->kind[i]), "%-18s", s->kind[i]->name);
        put(y, 24, r.w - 24, S_NORMAL, "%11s %11s %11s %11s  %s", a, b, d, e,
            st8 > st * 1.5 ? "grows with L" : "fixed");
    }
    char a[32], b[32], d[32], e[32];
    fmt_count(tp, a, sizeof a);
    fmt_count(ts, b, sizeof b);
    fmt_bytes(ts * 4, d, sizeof d);
    fmt_count(ts8, e, sizeof e);
    put(r.y + r.h - 1, 1, r.w - 1, S_HEADER, "%-3s %-18s %11s %11s %11s %11s", "", "total (all layers)",
        a, b, d, e);
}

/* Beside the state table on a wide terminal: what the run is, in full. */
static void draw_details(Rect r, int id, const RunHist *h)
{
    if (r.w < 20 || r.h < 2) return;
    const RunSpec *sp = &h->spec;
    char set[256], text_buf[2600];
    task_setting_text(task_find(sp->train.task_name), &sp->train.task, set, sizeof set);
    int text = !strcmp(sp->train.task_name, "text");
    snprintf(text_buf, sizeof text_buf,
             "run #%d: %s%s%s\ntask %s: %s%s%s\nlr %g  wd %g  batch %d  epochs %d  seed %llu  width %d\n"
             "score: %s",
             id + 1, sp->label, h->note[0] ? "\n" : "", h->note, sp->train.task_name, set,
             text ? "  corpus " : "", text ? (sp->train.task.corpus ? sp->train.task.corpus : CORPUS_DEFAULT_PATH) : "",
             sp->train.lr, sp->train.wd, sp->train.batch, sp->train.epochs,
             (unsigned long long)sp->train.seed, sp->train.width,
             text ? "validation loss in bits per byte (test loss / ln 2)"
                  : "test acc at the epoch of lowest test perplexity");
    vline_at(r, r.x - 1);
    text_at((Rect){r.x + 1, r.y + 1, r.w - 2, r.h - 1}, text_buf, 0, S_DIM);
}

static void draw_run_view(void)
{
    int ids[2];
    int n = shown_runs(ids);
    Rect p = lab.lay.progress;
    if (n == 0) {
        put(p.y, 1, p.w - 1, S_HEADER, "No run yet: r (or F5) trains the current stack on %s; "
            "loss and state size show here.", lab_task()->name);
        RunSpec s;
        if (lab.stack.n && make_spec(&s, lab.cur_task, lab.epochs) == 0) draw_counters(lab.lay.counters, &s);
        return;
    }
    /* the progress line follows the live run when it is one of those shown */
    int pi = n > 1 && lab.snap.id == ids[1] ? 1 : 0;
    RunHist *h = &lab.data.runs[ids[pi]];
    const RunSnapshot *s = &lab.snap;
    /* live: the runner's current run, still going; an ended one shows how it ended */
    int live = s->id == ids[pi] && (s->state == RUN_RUNNING || s->state == RUN_PAUSED || s->state == RUN_QUEUED);
    int st = live ? (int)s->state : (int)h->state;
    char other[48] = "";
    if (n > 1) snprintf(other, sizeof other, "  + run #%d overlaid", ids[1 - pi] + 1);
    int ow = (int)strlen(other);
    put(p.y, 1, p.w - 1 - ow, S_HEADER, "run #%d  [%s]  %s  on %s", ids[pi] + 1,
        run_state_name((RunState)st), h->note[0] ? h->note : h->spec.train.task_name, h->spec.label);
    if (n > 1) put(p.y, p.w - ow - 1, ow, S_SERIES2, "%s", other);
    char el[32], eta[32], tps[32];
    if (live) {
        format_duration(s->elapsed_s, el, sizeof el);
        format_duration(s->eta_s, eta, sizeof eta);
        fmt_count(s->tokens_per_s, tps, sizeof tps);
        double frac = s->epochs && s->steps
                          ? ((s->epoch - 1) * (double)s->steps + s->step) / ((double)s->epochs * s->steps)
                          : 0;
        int x = 1;
        if (s->steps == 0) {
            format_duration(s->elapsed_s > 0 ? s->elapsed_s : 0, el, sizeof el);
            put(p.y + 1, x, p.w - x, S_NORMAL, "generating the data and building the model... "
                "(loss and state show below)");
            goto charts;
        }
        /* the line fits its width: the bar shrinks first, then rate, elapsed and queue go */
        char left[64], acc[16] = "-", right[160];
        snprintf(left, sizeof left, "epoch %d/%d step %d/%d ", s->epoch, s->epochs, s->step, s->steps);
        if (h->ne) snprintf(acc, sizeof acc, "%.3f", h->eacc[h->ne - 1]);
        int avail = p.w - 1 - (int)strlen(left), bw = 0;
        for (int level = 0; level < 4; level++) {
            int k = snprintf(right, sizeof right, " %3.0f%%  loss %.4f  test acc %s%s", frac * 100,
                             s->last_loss, acc, level < 1 ? " (last epoch)" : "");
            if (level < 1) k += snprintf(right + k, sizeof right - k, "  %s tok/s", tps);
            if (level < 2) k += snprintf(right + k, sizeof right - k, "  elapsed %s", el);
            k += snprintf(right + k, sizeof right - k, "  ETA %s", eta);
            if (level < 3) k += snprintf(right + k, sizeof right - k, "  queue %d", s->queued);
            bw = avail - k;
            if (bw >= 10 || level == 3) break;
        }
        if (bw > 20) bw = 20;
        if (bw < 0) bw = 0;
        x += put(p.y + 1, x, p.w - x, S_NORMAL, "%s", left);
        int fillw = (int)(frac * bw);
        for (int i = 0; i < bw && x < p.w; i++)
            glyph(p.y + 1, x++, i < fillw ? S_ACC : S_DIM,
                  i < fillw ? (lab.utf8 ? 0x2588 : '#') : (lab.utf8 ? 0x2591 : '.'));
        put(p.y + 1, x, p.w - x, S_NORMAL, "%s", right);
    } else if (st == RUN_FAILED) {
        put(p.y + 1, 1, p.w - 1, S_WARN, "failed: %s", h->error);
    } else if (!strcmp(h->spec.train.task_name, "text")) { /* a language model: its loss */
        char took[32];
        format_duration(h->result.seconds, took, sizeof took);
        put(p.y + 1, 1, p.w - 1, S_NORMAL, "%s, %d epoch%s: validation %.4f bits/byte, perplexity "
            "%.3f per byte (next-byte accuracy %.3f), %s", run_status_word((RunState)st, &h->result),
            h->result.epochs_run, h->result.epochs_run == 1 ? "" : "s",
            bits_per_byte(h->result.best_test_loss), exp(h->result.best_test_loss),
            h->result.best_test_acc, took);
    } else {
        char took[32];
        format_duration(h->result.seconds, took, sizeof took);
        put(p.y + 1, 1, p.w - 1, S_NORMAL, "%s, %d epochs: test acc %.3f at epoch %d, its lowest test "
            "perplexity (max %.3f), %s", run_status_word((RunState)st, &h->result), h->result.epochs_run,
            h->result.best_test_acc, h->result.best_epoch, h->result.max_test_acc, took);
    }
charts:
    run_charts(lab.lay.chart_loss, lab.lay.chart_acc, ids, n);
    draw_counters(lab.lay.counters, &h->spec);
    draw_details(lab.lay.details, ids[pi], h);
}

const View view_run = {V_RUN, "3 Run", draw_run_view, NULL};
