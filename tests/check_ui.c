/* The lab's terminal-free parts: layout over terminal sizes, chart scaling and braille encoding,
 * striping patterns, the key table and the help generated from it, and the lab's data (run
 * history, results rows and MAD, sorting, marks, export, presets). */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labdata.h"
#include "madlab.h"
#include "testutil.h"
#include "ui.h"
#include "protocol.h"
#include "scaling.h"
#include "fileio.h"

static int inside(Rect r, int cols, int rows)
{
    return r.x >= 0 && r.y >= 0 && r.w >= 0 && r.h >= 0 && r.x + r.w <= cols && r.y + r.h <= rows;
}

static int overlap(Rect a, Rect b)
{
    if (!a.w || !a.h || !b.w || !b.h) return 0;
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

START_TEST(layout_sizes)
{
    for (int cols = 20; cols <= 300; cols += 7)
        for (int rows = 5; rows <= 100; rows += 3) {
            Layout l;
            layout_compute(cols, rows, &l);
            if (cols < UI_MIN_COLS || rows < UI_MIN_ROWS) {
                ck_assert_msg(l.too_small, "%dx%d should be too small", cols, rows);
                continue;
            }
            ck_assert(!l.too_small);
            Rect all[] = {l.title, l.body, l.status, l.keybar, l.list, l.side, l.progress,
                          l.chart_loss, l.chart_acc, l.counters};
            for (size_t i = 0; i < sizeof all / sizeof *all; i++)
                ck_assert_msg(inside(all[i], cols, rows), "%dx%d rect %zu outside", cols, rows, i);
            ck_assert_int_eq(l.keybar.y, rows - 1);
            ck_assert_int_eq(l.status.y, rows - 2);
            ck_assert(!overlap(l.title, l.body) && !overlap(l.body, l.status));
            ck_assert(!overlap(l.chart_loss, l.chart_acc));
            ck_assert(!overlap(l.chart_loss, l.counters) && !overlap(l.chart_acc, l.counters));
            ck_assert(!overlap(l.progress, l.chart_loss));
            ck_assert(!overlap(l.list, l.side));
            ck_assert_msg(l.chart_loss.h >= 4 && l.chart_acc.h >= 3, "%dx%d charts too small", cols, rows);
            ck_assert(l.counters.h >= 4);
            ck_assert(l.counters.y + l.counters.h <= l.body.y + l.body.h);
        }
    Layout l;
    layout_compute(120, 40, &l);
    ck_assert(l.side.w > 0);          /* wide: a side panel */
    ck_assert_int_eq(l.chart_loss.y, l.chart_acc.y); /* charts side by side */
    layout_compute(80, 24, &l);
    ck_assert_int_eq(l.side.w * l.side.h, 0);
    ck_assert(l.chart_acc.y > l.chart_loss.y); /* stacked */
}
END_TEST

/* 80x24 keeps charts of five plotted rows each; 200x60 puts the run's details beside a state
 * table of readable width; a task's page says its setting and what is scored */
START_TEST(layout_small_and_wide)
{
    Layout l;
    layout_compute(80, 24, &l);
    ck_assert_int_ge(l.chart_loss.h, 7);
    ck_assert_int_ge(l.chart_acc.h, 7);
    ck_assert_int_eq(l.details.w, 0);
    ck_assert_int_eq(l.side.w, 0);
    layout_compute(200, 60, &l);
    ck_assert_int_eq(l.counters.w, 100);
    ck_assert(l.details.w > 80 && l.details.h == l.counters.h && l.details.x > l.counters.x + 99);
    ck_assert(l.details.x + l.details.w <= 200);
    char page[4096];
    TaskCfg c = task_kinds[0]->defaults;
    c.seq_len = 24;
    task_page(task_kinds[0], &c, page, sizeof page);
    ck_assert_msg(strstr(page, task_kinds[0]->name) && strstr(page, "seq_len 24") &&
                  strstr(page, "[x]") && strstr(page, "On MAD"), "%s", page);
    /* the layer pages of hyena and mh-hyena have an equation and On MAD, as attention's */
    const char *kinds[] = {"hyena", "mh-hyena", "mh-attention"};
    for (int i = 0; i < 3; i++) {
        layer_page(layer_kind_find(kinds[i]), page, sizeof page);
        ck_assert_msg(strstr(page, "Equation:") && strstr(page, "On MAD:") && strstr(page, "State:"),
                      "%s: %s", kinds[i], page);
    }
}
END_TEST

START_TEST(braille_encoding)
{
    ck_assert_uint_eq(braille_char(0), 0x2800);
    ck_assert_uint_eq(braille_char(0xff), 0x28ff);
    /* dots 1,2,3,7 down the left column; 4,5,6,8 down the right */
    unsigned want[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    unsigned all = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 2; x++) {
            ck_assert_uint_eq(braille_bit(x, y), want[y][x]);
            all |= braille_bit(x, y);
        }
    ck_assert_uint_eq(all, 0xff);
    ck_assert_uint_eq(braille_bit(2, 0), 0);
    ck_assert_int_eq(ascii_dot_char(0), ' ');
    ck_assert_int_eq(ascii_dot_char(1), '\'');
    ck_assert_int_eq(ascii_dot_char(2), '.');
    ck_assert_int_eq(ascii_dot_char(3), ':');
}
END_TEST

START_TEST(chart_scaling)
{
    double x[] = {0, 1, 2, 3}, y[] = {2, NAN, 1, 0.5};
    Series s = {x, y, 4};
    ChartScale sc;
    chart_scale(&s, 1, 1, &sc);
    ck_assert(sc.xmin == 0 && sc.xmax == 3);
    ck_assert(sc.ymin == 0);             /* zero floor for non-negative data */
    ck_assert(sc.ymax > 2 && sc.ymax < 2.2); /* 5% headroom */
    chart_scale(&s, 1, 0, &sc);
    ck_assert(sc.ymin < 0.5 && sc.ymin > 0.4);
    /* empty and constant series still give a non-empty range */
    Series e = {x, y, 0};
    chart_scale(&e, 1, 1, &sc);
    ck_assert(sc.xmax > sc.xmin && sc.ymax > sc.ymin);
    double c[] = {3, 3, 3, 3};
    Series k = {x, c, 4};
    chart_scale(&k, 1, 0, &sc);
    ck_assert(sc.ymax > 3 && sc.ymin < 3);
}
END_TEST

START_TEST(chart_render_line)
{
    enum { W = 10, H = 4 };
    double x[] = {0, 9}, y[] = {0, 1};
    Series s = {x, y, 2};
    ChartScale sc = {0, 9, 0, 1};
    ChartCell cells[W * H];
    chart_render(&s, 1, &sc, W, H, 1, cells);
    /* a rising line: bottom-left dot 7 (0x40) and top-right dot 4 (0x08) */
    ck_assert_uint_eq(cells[(H - 1) * W + 0].ch & 0x40, 0x40);
    ck_assert_uint_eq(cells[W - 1].ch & 0x08, 0x08);
    ck_assert_int_eq(cells[0].series, -1); /* top-left stays empty */
    ck_assert_uint_eq(cells[0].ch, ' ');
    /* connected: every column has a dot */
    for (int c = 0; c < W; c++) {
        int any = 0;
        for (int r = 0; r < H; r++) any |= cells[r * W + c].series == 0;
        ck_assert_msg(any, "column %d empty", c);
    }
    /* dashed: two cells drawn, two left out; marks: a glyph at each point */
    double xf[] = {0, 9}, yf[] = {0.5, 0.5};
    Series d = {xf, yf, 2, 1, 'o'};
    chart_render(&d, 1, &sc, W, H, 1, cells);
    int on[W] = {0};
    for (int c = 0; c < W; c++)
        for (int r = 0; r < H; r++) on[c] |= cells[r * W + c].series == 0;
    for (int c = 1; c < W - 1; c++) ck_assert_msg(on[c] == ((c / 2) % 2 == 0), "dash at column %d", c);
    int marks = 0;
    for (int i = 0; i < W * H; i++) marks += cells[i].ch == 'o';
    ck_assert_int_eq(marks, 2);
    /* a NaN leaves a gap; ASCII fallback uses ' . : */
    double x2[] = {0, 1, 2, 3}, y2[] = {0, NAN, NAN, 0};
    Series g = {x2, y2, 4};
    ChartScale sc2 = {0, 3, 0, 1};
    ChartCell a[4 * 2];
    chart_render(&g, 1, &sc2, 4, 2, 0, a);
    ck_assert_uint_eq(a[1 * 4 + 0].ch, '.');
    ck_assert_uint_eq(a[1 * 4 + 3].ch, '.');
    ck_assert_uint_eq(a[1 * 4 + 1].ch, ' ');
    ck_assert_uint_eq(a[1 * 4 + 2].ch, ' ');
    /* two series: the owner is the last one drawn */
    double yb[] = {0, 0};
    Series two[2] = {{x, y, 2}, {x, yb, 2}};
    chart_render(two, 2, &sc, W, H, 1, cells);
    ck_assert_int_eq(cells[(H - 1) * W + 5].series, 1);
    char lab[16];
    chart_label(0.25, lab, sizeof lab);
    ck_assert_str_eq(lab, "0.25");
    chart_label(12345, lab, sizeof lab);
    ck_assert_str_eq(lab, "12k");
}
END_TEST

START_TEST(stripe_patterns)
{
    char out[1024];
    MlError err;
    ck_assert_int_eq(stripe_build("1A:1T", 4, "swiglu", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "mh-attention swiglu attention swiglu mh-attention swiglu attention swiglu");
    ck_assert_int_eq(stripe_build("2T:1A", 0, "", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "attention attention mh-attention");
    ck_assert_int_eq(stripe_build("1A:3T", 5, "mlp", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "mh-attention mlp attention mlp attention mlp attention mlp mh-attention mlp");
    /* the result parses as a stack */
    StackSpec s;
    ck_assert_int_eq(stack_parse(out, "t", 128, &s, &err), 0);
    ck_assert_int_eq(s.n, 10);
    /* a list of sequence mixers, one with its own channel mixer */
    ck_assert_int_eq(stripe_build("mh-attention attention/mlp", 0, "swiglu", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "mh-attention swiglu attention mlp");
    /* a channel mixer with knobs, and sequence mixers with knobs in a list */
    ck_assert_int_eq(stripe_build("1A", 2, "swiglu(inner=128)", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "mh-attention swiglu(inner=128) mh-attention swiglu(inner=128)");
    ck_assert_int_eq(stripe_build("mh-attention(heads=4)/mlp(inner=64)", 0, "", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "mh-attention(heads=4) mlp(inner=64)");
    ck_assert_int_eq(stack_parse(out, "t", 64, &s, &err), 0);
    /* a letter whose kind is not registered: a clear error naming it */
    const char *missing = NULL;
    for (const StripeLetter *l = stripe_letters; l->letter; l++)
        if (!stripe_letter_kind(l->letter, NULL, 0)) {
            char pat[8];
            snprintf(pat, sizeof pat, "1A:3%c", l->letter);
            ck_assert_int_eq(stripe_build(pat, 4, "swiglu", out, sizeof out, &err), -1);
            ck_assert_msg(strstr(err.msg, l->kind) && strstr(err.msg, "not a registered"),
                          "%s", err.msg);
            missing = l->kind;
        }
    (void)missing;
    ck_assert(stripe_letter_kind('A', NULL, 0) == layer_kind_find("mh-attention"));
    ck_assert(stripe_letter_kind('a', NULL, 0) == layer_kind_find("mh-attention"));
    /* bad input */
    ck_assert_int_eq(stripe_build("1Z", 2, "swiglu", out, sizeof out, &err), -1);
    ck_assert(strstr(err.msg, "unknown letter 'Z'"));
    ck_assert_int_eq(stripe_build("1A:", 2, "frob", out, sizeof out, &err), -1);
    ck_assert(strstr(err.msg, "not a channel mixer"));
    ck_assert_int_eq(stripe_build("0A", 2, "swiglu", out, sizeof out, &err), -1);
    ck_assert_int_eq(stripe_build("1A:2", 2, "swiglu", out, sizeof out, &err), -1);
    ck_assert_int_eq(stripe_build("swiglu", 2, "swiglu", out, sizeof out, &err), -1);
    ck_assert(strstr(err.msg, "sequence mixers"));
    ck_assert_int_eq(stripe_build("hyenaa", 2, "swiglu", out, sizeof out, &err), -1);
    ck_assert(strstr(err.msg, "unknown layer kind"));
    ck_assert_int_eq(stripe_build("1A", 33, "swiglu", out, sizeof out, &err), -1);
    ck_assert_int_eq(stripe_build("1A", 32, "swiglu", out, 20, &err), -1);
}
END_TEST

START_TEST(key_bindings)
{
    /* no key does two things in one view */
    for (int v = 1; v <= 8; v <<= 1)
        for (int i = 0; i < key_table_n; i++)
            for (int j = i + 1; j < key_table_n; j++) {
                if (!(key_table[i].views & key_table[j].views & v)) continue;
                for (int a = 0; a < 3 && key_table[i].keys[a]; a++)
                    for (int b = 0; b < 3 && key_table[j].keys[b]; b++)
                        ck_assert_msg(key_table[i].keys[a] != key_table[j].keys[b],
                                      "key %d bound twice in view %d", key_table[i].keys[a], v);
            }
    ck_assert_int_eq(key_action('q', V_RUN), ACT_QUIT);
    ck_assert_int_eq(key_action(UK_F(10), V_STACK), ACT_QUIT);
    ck_assert_int_eq(key_action('r', V_TASK), ACT_RUN);
    ck_assert_int_eq(key_action(UK_F(5), V_RESULTS), ACT_RUN);
    ck_assert_int_eq(key_action('?', V_STACK), ACT_HELP);
    ck_assert_int_eq(key_action(UK_F(1), V_RUN), ACT_HELP);
    ck_assert_int_eq(key_action('a', V_STACK), ACT_ADD);
    ck_assert_int_eq(key_action('a', V_RUN), ACT_NONE);
    ck_assert_int_eq(key_action(' ', V_RESULTS), ACT_MARK);
    char n[16];
    ui_key_name(UK_F(5), n, sizeof n);
    ck_assert_str_eq(n, "F5");
    ui_key_name(UK_ENTER, n, sizeof n);
    ck_assert_str_eq(n, "Enter");
    ui_key_name(UK_CTRL('l'), n, sizeof n);
    ck_assert_str_eq(n, "^L");
    ui_key_name('[', n, sizeof n);
    ck_assert_str_eq(n, "[");
}
END_TEST

START_TEST(help_from_key_table)
{
    size_t need = keys_help(NULL, 0);
    ck_assert(need > 500);
    char *h = malloc(need + 1);
    ck_assert_uint_eq(keys_help(h, need + 1), need);
    ck_assert_uint_eq(strlen(h), need);
    ck_assert(strstr(h, "quit"));
    for (int i = 0; i < key_table_n; i++) ck_assert_msg(strstr(h, key_table[i].help), "%s", key_table[i].help);
    ck_assert(strstr(h, "F5"));
    /* truncated output stays terminated */
    char small[40];
    keys_help(small, sizeof small);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    /* the man page lists every key: its key list is copied from this table */
    const char *src = getenv("top_srcdir");
    char path[1024];
    snprintf(path, sizeof path, "%s/man/madlab.1", src ? src : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char man[1 << 17];
    size_t n = fread(man, 1, sizeof man - 1, f);
    man[n] = 0;
    fclose(f);
    /* roff writes - as \- */
    char *w = man;
    for (char *r = man; *r; r++) {
        if (r[0] == '\\' && r[1] == '-') continue;
        *w++ = *r;
    }
    *w = 0;
    for (int i = 0; i < key_table_n; i++)
        ck_assert_msg(strstr(man, key_table[i].help), "man/madlab.1 lacks the key help '%s'",
                      key_table[i].help);
    free(h);
}
END_TEST

START_TEST(text_helpers)
{
    char b[64];
    fmt_count(1234, b, sizeof b);
    ck_assert_str_eq(b, "1.2k");
    fmt_count(2.5e6, b, sizeof b);
    ck_assert_str_eq(b, "2.50M");
    fmt_bytes(4096, b, sizeof b);
    ck_assert_str_eq(b, "4.0 KiB");
    format_duration(185, b, sizeof b);
    ck_assert_str_eq(b, "3m05s");
    format_duration(NAN, b, sizeof b);
    ck_assert_str_eq(b, "--");
    /* every kind has a page; ones without their own get a generic page */
    for (const LayerKind *const *k = layer_kinds; *k; k++) {
        char page[4096];
        layer_page(*k, page, sizeof page);
        ck_assert(strstr(page, (*k)->name));
        ck_assert(strlen(page) > 40);
    }
    char page[4096];
    layer_page(layer_kind_find("mh-attention"), page, sizeof page);
    ck_assert(strstr(page, "KV cache"));
    LayerKind fake = *layer_kind_find("mlp");
    fake.page = NULL;
    layer_page(&fake, page, sizeof page);
    ck_assert(strstr(page, "State at sequence length L"));
    char tiny[10];
    layer_page(&fake, tiny, sizeof tiny);
    ck_assert(strlen(tiny) < sizeof tiny);
    /* token classes come from the task */
    const TaskKind *t = task_find("in-context-recall");
    TaskCfg c = t->defaults;
    for (int tok = 0; tok < c.vocab; tok++) {
        TokenClass e = task_token_class(t, &c, tok);
        UiTokenClass u = ui_token_class(t, &c, tok, ML_IGNORE);
        ck_assert(e == TOK_KEY ? u == TC_KEY : e == TOK_VALUE ? u == TC_VALUE
                  : e == TOK_NOISE ? u == TC_NOISE : e == TOK_SPECIAL ? u == TC_SPECIAL : 1);
    }
    ck_assert_int_eq(ui_token_class(t, &c, 0, ML_IGNORE), TC_KEY);
    const TaskKind *n = task_find("noisy-in-context-recall");
    if (n) {
        TaskCfg nc = n->defaults;
        int noise = 0;
        for (int tok = 0; tok < nc.vocab; tok++) noise += ui_token_class(n, &nc, tok, 0) == TC_NOISE;
        ck_assert_int_eq(noise, nc.noise_vocab);
    }
}
END_TEST

/* ---------------- the lab's data ---------------- */

/* One run as the runner publishes it: queued, a step and an epoch point per epoch, then its
 * end with best test accuracy best (epochs 0: stopped before its first epoch). */
static void fake_run(LabData *d, int id, const char *label, int task, double best, int epochs)
{
    RunRecord rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.spec.label, sizeof rec.spec.label, "%s", label);
    rec.spec.train.task_name = task_kinds[task]->name;
    rec.spec.train.task = task_kinds[task]->defaults; /* every fake run at its task's defaults */
    rec.state = RUN_QUEUED;
    ck_assert_ptr_nonnull(history_open(d, id, &rec));
    for (int e = 1; e <= epochs; e++) {
        MetricPoint p = {.kind = MP_STEP, .run = id, .step = 10L * e - 5, .loss = 3.0 / e};
        ck_assert_int_eq(history_add(d, &p), 0);
        p = (MetricPoint){.kind = MP_EPOCH, .run = id, .step = 10L * e};
        p.epoch.epoch = e;
        p.epoch.test_loss = 2.0 / e;
        p.epoch.train_loss = 2.5 / e;
        p.epoch.test_acc = best * e / epochs;
        ck_assert_int_eq(history_add(d, &p), 0);
    }
    rec.state = epochs ? RUN_DONE : RUN_STOPPED;
    rec.result.best_test_acc = best;
    rec.result.epochs_run = epochs;
    history_finish(d, id, &rec);
}

static int row_of(const LabData *d, const char *label)
{
    for (int r = 0; r < d->nrows; r++)
        if (!strcmp(d->rows[r].label, label)) return r;
    return -1;
}

START_TEST(results_rows_and_mad)
{
    static LabData d;
    labdata_init(&d);
    int nt = 0;
    while (task_kinds[nt]) nt++;
    ck_assert_int_eq(d.n_tasks, nt);
    ck_assert_int_eq(d.marked[0], -1);
    fake_run(&d, 0, "A", 0, 0.5, 2);
    fake_run(&d, 1, "A", 1, 0.7, 3);
    fake_run(&d, 2, "B", 0, 0.9, 1);
    fake_run(&d, 3, "C", 0, 0.4, 0); /* nothing measured: no row */
    fake_run(&d, 5, "A", 0, 0.6, 1); /* the same stack and task again: the cell follows */
    /* the history keeps every point, by run id */
    ck_assert_int_eq(d.runs[1].ns, 3);
    ck_assert_int_eq(d.runs[1].ne, 3);
    ck_assert(d.runs[1].ex[2] == 30 && d.runs[1].etl[1] == 1.0 && d.runs[1].sy[0] == 3.0);
    ck_assert(fabs(d.runs[1].eacc[2] - 0.7) < 1e-12);
    ck_assert_int_eq(d.runs[1].ep[2].epoch, 3);
    ck_assert_int_eq(d.runs[3].state, RUN_STOPPED);
    ck_assert(!d.runs[4].used);
    ck_assert_int_eq(d.nrows, 2);
    int a = row_of(&d, "A"), b = row_of(&d, "B");
    ck_assert(a >= 0 && b >= 0 && row_of(&d, "C") < 0);
    ck_assert(d.rows[a].acc[0] == 0.6 && d.rows[a].run[0] == 5);
    ck_assert(d.rows[a].acc[1] == 0.7 && d.rows[a].run[1] == 1);
    ck_assert_int_eq(d.rows[a].last_run, 5);
    for (int t = 2; t < nt; t++) ck_assert(isnan(d.rows[a].acc[t]) && d.rows[a].run[t] == -1);
    /* MAD: the mean over every task, missing until all are there */
    ck_assert(isnan(results_mad(&d, &d.rows[a])));
    ck_assert(isnan(results_cell(&d, &d.rows[a], nt + 1)));
    ck_assert(results_cell(&d, &d.rows[a], 2) == 0.7);
    double sum = 0.9;
    for (int t = 1; t < nt; t++) {
        fake_run(&d, 10 + t, "B", t, 0.1 * t, 1);
        sum += 0.1 * t;
    }
    ck_assert_int_eq(d.nrows, 2);
    ck_assert(fabs(results_mad(&d, &d.rows[b]) - sum / nt) < 1e-12);
    ck_assert(results_cell(&d, &d.rows[b], nt + 1) == results_mad(&d, &d.rows[b]));
    /* a task outside the table's columns adds nothing */
    ck_assert_int_eq(labdata_task_index(&d, "no-such-task"), -1);
    labdata_free(&d);
    ck_assert(d.runs == NULL && d.nruns == 0);
}
END_TEST

START_TEST(results_sort_and_marks)
{
    static LabData d;
    labdata_init(&d);
    int nt = d.n_tasks;
    /* b: task 0 at 0.5, full row (MAD 0.5); a: task 0 at 0.9 only; c: task 1 only (task 0 empty) */
    for (int t = 0; t < nt; t++) fake_run(&d, t, "b", t, 0.5, 1);
    fake_run(&d, nt, "a", 0, 0.9, 1);
    fake_run(&d, nt + 1, "c", 1, 0.2, 1);
    const char *by_name[] = {"a", "b", "c"}, *by_task0[] = {"a", "b", "c"},
               *by_task0_rev[] = {"b", "a", "c"}, *by_task1[] = {"b", "c", "a"},
               *by_mad[] = {"b"}, *by_name_rev[] = {"c", "b", "a"};
    /* (a and c have no MAD: equal, so their order is qsort's; only b's place is checked) */
    struct { int col, rev, n; const char **want; } cases[] = {
        {0, 0, 3, by_name}, {0, 1, 3, by_name_rev}, {1, 0, 3, by_task0}, {1, 1, 3, by_task0_rev},
        {2, 0, 3, by_task1}, {nt + 1, 0, 1, by_mad},
    };
    /* marks follow their rows through every sort */
    results_toggle_mark(&d, row_of(&d, "c"));
    results_toggle_mark(&d, row_of(&d, "a"));
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        d.sort_col = cases[i].col;
        d.sort_rev = cases[i].rev;
        results_sort(&d);
        for (int r = 0; r < cases[i].n; r++)
            ck_assert_msg(!strcmp(d.rows[r].label, cases[i].want[r]), "sort %zu row %d: %s", i, r,
                          d.rows[r].label);
        ck_assert_str_eq(d.rows[d.marked[0]].label, "c");
        ck_assert_str_eq(d.rows[d.marked[1]].label, "a");
    }
    /* empty cells stay last when reversed; best first otherwise */
    d.sort_col = 1, d.sort_rev = 1;
    results_sort(&d);
    ck_assert_str_eq(d.rows[2].label, "c");
    /* marks: at most two; a third replaces the older; a marked row toggles off */
    int ra = row_of(&d, "a"), rb = row_of(&d, "b"), rc = row_of(&d, "c");
    results_toggle_mark(&d, rb);
    ck_assert(d.marked[0] == ra && d.marked[1] == rb);
    results_toggle_mark(&d, ra);
    ck_assert(d.marked[0] == rb && d.marked[1] == -1);
    results_toggle_mark(&d, rb);
    ck_assert(d.marked[0] == -1 && d.marked[1] == -1);
    results_toggle_mark(&d, rc);
    results_toggle_mark(&d, 99); /* out of range: ignored */
    ck_assert(d.marked[0] == rc && d.marked[1] == -1);
    labdata_free(&d);
}
END_TEST

/* Runs of one stack at two settings are two rows, each naming its setting; never one cell
 * replacing the other. A run still going is not exported; an ended one is, with its status. */
START_TEST(results_rows_per_setting)
{
    static LabData d;
    labdata_init(&d);
    const TaskKind *t = task_kinds[0];
    const int seq[3] = {32, 16, 32};
    for (int id = 0; id < 3; id++) {
        RunRecord rec;
        memset(&rec, 0, sizeof rec);
        snprintf(rec.spec.label, sizeof rec.spec.label, "mamba swiglu");
        train_cfg_default(&rec.spec.train);
        rec.spec.train.task_name = t->name;
        rec.spec.train.task = t->defaults;
        rec.spec.train.task.seq_len = seq[id];
        ck_assert_ptr_nonnull(history_open(&d, id, &rec));
        MetricPoint p = {.kind = MP_EPOCH, .run = id, .step = 1};
        p.epoch.epoch = 1;
        p.epoch.test_acc = 0.5 + 0.1 * id;
        ck_assert_int_eq(history_add(&d, &p), 0);
        rec.state = id == 1 ? RUN_STOPPED : RUN_DONE;
        rec.result.best_test_acc = 0.5 + 0.1 * id;
        history_finish(&d, id, &rec);
    }
    ck_assert_int_eq(d.nrows, 2);
    char want16[64], want32[64];
    snprintf(want16, sizeof want16, "seq_len 16");
    snprintf(want32, sizeof want32, t->defaults.seq_len == 32 ? "defaults" : "seq_len 32");
    int r16 = -1, r32 = -1;
    for (int r = 0; r < d.nrows; r++) {
        ck_assert_str_eq(d.rows[r].label, "mamba swiglu");
        if (!strcmp(d.rows[r].setting, want16)) r16 = r;
        if (!strcmp(d.rows[r].setting, want32)) r32 = r;
    }
    ck_assert_msg(r16 >= 0 && r32 >= 0, "%s / %s", d.rows[0].setting, d.rows[1].setting);
    ck_assert(d.rows[r16].acc[0] == 0.6 && d.rows[r16].run[0] == 1);
    ck_assert(fabs(d.rows[r32].acc[0] - 0.7) < 1e-12 && d.rows[r32].run[0] == 2); /* newest at 32 */
    /* the quick protocol's setting is named by it */
    RunSpec q;
    memset(&q, 0, sizeof q);
    const Protocol *quick = protocol_find("quick");
    static StackSpec none;
    protocol_train_cfg(quick, 0, &none, 64, NORM_RMS, &q.train);
    char setting[128];
    results_setting(&q, setting, sizeof setting);
    ck_assert_str_eq(setting, "quick");
    /* a run still going is left for a later export */
    RunRecord rec;
    memset(&rec, 0, sizeof rec);
    rec.spec.train.task_name = t->name;
    rec.state = RUN_RUNNING;
    ck_assert_ptr_nonnull(history_open(&d, 3, &rec));
    MetricPoint p = {.kind = MP_EPOCH, .run = 3, .step = 1};
    ck_assert_int_eq(history_add(&d, &p), 0);
    char paths[8][EXPORT_PATH_MAX];
    int ids[8];
    ck_assert_int_eq(export_paths(&d, "/tmp/x", paths, ids, 8), 4);
    ck_assert(ids[1] == 0 && ids[2] == 1 && ids[3] == 2);
    ck_assert_str_eq(run_status_word(d.runs[1].state, &d.runs[1].result), "stopped");
    TrainResult dv = {.diverged = 1};
    ck_assert_str_eq(run_status_word(RUN_FAILED, &dv), "diverged");
    labdata_free(&d);
}
END_TEST

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
}

/* ---------------- recall against state ---------------- */

START_TEST(log_axis_decades_and_ticks)
{
    LogAxis a;
    double one_decade[] = {128, 960, 448};
    log_axis(one_decade, 3, &a);
    ck_assert(a.lo == 2 && a.hi == 3);
    double want1[] = {100, 200, 500, 1000}; /* within one decade: 1-2-5 */
    ck_assert_int_eq(a.nt, 4);
    for (int i = 0; i < 4; i++) ck_assert(fabs(a.tick[i] - want1[i]) < 1e-9);
    double wide[] = {3584, 100096, NAN, 0, -5}; /* not positive or not finite: ignored */
    log_axis(wide, 5, &a);
    ck_assert(a.lo == 3 && a.hi == 6);
    ck_assert_int_eq(a.nt, 4); /* decades only */
    for (int i = 0; i < 4; i++) ck_assert(fabs(a.tick[i] - pow(10, 3 + i)) < 1e-6);
    double exact[] = {1000};
    log_axis(exact, 1, &a);
    ck_assert(a.lo == 3 && a.hi == 4); /* never empty */
    log_axis(NULL, 0, &a);
    ck_assert(a.lo == 0 && a.hi == 1);
    /* columns: the ends and the geometric middle */
    log_axis(one_decade, 3, &a);
    ck_assert_int_eq(log_axis_col(&a, 100, 41), 0);
    ck_assert_int_eq(log_axis_col(&a, 1000, 41), 40);
    ck_assert_int_eq(log_axis_col(&a, sqrt(10) * 100, 41), 20);
    ck_assert_int_eq(log_axis_col(&a, 1e9, 41), 40); /* clamped */
    ck_assert_int_eq(log_axis_col(&a, 1, 41), 0);
    ck_assert_int_eq(acc_row(1.0, 11), 0);
    ck_assert_int_eq(acc_row(0.0, 11), 10);
    ck_assert_int_eq(acc_row(0.5, 11), 5);
    ck_assert_int_eq(acc_row(NAN, 11), 10);
}
END_TEST

/* A finished one-epoch run of a real stack at width 32 on a task at its defaults. */
static void state_run(LabData *d, int id, const char *stack, int task, double best)
{
    RunRecord rec;
    MlError err;
    memset(&rec, 0, sizeof rec);
    train_cfg_default(&rec.spec.train);
    rec.spec.train.width = 32;
    ck_assert_msg(stack_parse(stack, "test", 32, &rec.spec.train.stack, &err) == 0, "%s", err.msg);
    snprintf(rec.spec.label, sizeof rec.spec.label, "%s @32", stack);
    rec.spec.train.task_name = task_kinds[task]->name;
    rec.spec.train.task = task_kinds[task]->defaults;
    rec.state = RUN_QUEUED;
    ck_assert_ptr_nonnull(history_open(d, id, &rec));
    MetricPoint p = {.kind = MP_EPOCH, .run = id, .step = 10};
    p.epoch.epoch = 1;
    p.epoch.test_acc = best;
    ck_assert_int_eq(history_add(d, &p), 0);
    rec.state = RUN_DONE;
    rec.result.best_test_acc = best;
    rec.result.epochs_run = 1;
    history_finish(d, id, &rec);
}

START_TEST(state_plot_points)
{
    static LabData d;
    static StatePlot p;
    labdata_init(&d);
    state_run(&d, 0, "mamba swiglu", 0, 0.5);
    state_run(&d, 1, "mh-attention swiglu", 0, 0.9);
    state_run(&d, 2, "mh-gated-linear-attention swiglu", 0, 0.3);
    state_run(&d, 3, "swiglu", 0, 0.1);                       /* no state: off the log axis */
    state_run(&d, 4, "mh-gated-linear-attention swiglu", 1, 0.2); /* its row's second task */
    int L = task_kinds[0]->seq_len_out(&task_kinds[0]->defaults);
    state_plot(&d, 0, &p);
    ck_assert_int_eq(p.task, 0);
    ck_assert_int_eq(p.n, 3);
    ck_assert_int_eq(p.no_state, 1);
    ck_assert_int_eq(p.n_state, 3);
    /* by state: GLA 32^2/8 = 128, mamba 64 x 4 + 64 x 3 = 448, attention 2 x L x 32 */
    ck_assert(p.pt[0].state == 128 && p.pt[1].state == 448 && p.pt[2].state == 2.0 * L * 32);
    ck_assert(p.pt[0].acc == 0.3 && p.pt[1].acc == 0.5 && p.pt[2].acc == 0.9);
    ck_assert(!p.pt[0].grows && !p.pt[1].grows && p.pt[2].grows);
    ck_assert_str_eq(d.rows[p.pt[2].row].label, "mh-attention swiglu @32");
    /* params: the stack's layers, as stack_size counts them */
    double st, pa;
    stack_size(&d.runs[0].spec.train.stack, 32, L, &st, &pa);
    ck_assert(p.pt[1].params == pa && st == 448);
    ck_assert_int_eq(p.pt[1].seq_len, L);
    LogAxis axis = p.x;
    ck_assert(axis.lo == 2 && axis.hi == ceil(log10(2.0 * L * 32)));
    /* another task: only the row that ran it; the axis stays put */
    state_plot(&d, 1, &p);
    ck_assert_int_eq(p.n, 1);
    ck_assert(p.pt[0].acc == 0.2 && p.pt[0].state == 128);
    ck_assert(p.x.lo == axis.lo && p.x.hi == axis.hi);
    state_plot(&d, 2, &p);
    ck_assert_int_eq(p.n, 0);
    ck_assert_int_eq(p.n_state, 3);
    static LabData empty;
    labdata_init(&empty);
    state_plot(&empty, 0, &p);
    ck_assert(p.n == 0 && p.n_state == 0 && p.no_state == 0);
    labdata_free(&empty);
    /* the same data as CSV, one line per row, written atomically */
    char dir[] = "/tmp/madlab-check-state-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char prefix[600], path[EXPORT_PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s/x", dir);
    MlError err;
    ck_assert_int_eq(export_state_write(&d, prefix, &err), 0);
    export_state_path(prefix, path, sizeof path);
    ck_assert(strstr(path, "/x-state.csv") != NULL);
    char *csv = slurp(path);
    ck_assert_ptr_nonnull(csv);
    char head[1024];
    int k = snprintf(head, sizeof head, "stack,setting,seq_len,state,params,state_fixed");
    for (int t = 0; t < d.n_tasks; t++) k += snprintf(head + k, sizeof head - k, ",%s", task_kinds[t]->name);
    ck_assert_msg(strncmp(csv, head, strlen(head)) == 0 && csv[strlen(head)] == '\n', "%s", csv);
    int lines = 0;
    for (char *c = csv; *c; c++) lines += *c == '\n';
    ck_assert_int_eq(lines, 1 + d.nrows);
    char want[256];
    snprintf(want, sizeof want, "\nmamba swiglu @32,defaults,%d,448,%.0f,1,0.5,", L, pa);
    ck_assert_msg(strstr(csv, want) != NULL, "no '%s' in %s", want + 1, csv);
    snprintf(want, sizeof want, "\nmh-attention swiglu @32,defaults,%d,%d,", L, 2 * L * 32);
    ck_assert_msg(strstr(csv, want) != NULL, "no '%s' in %s", want + 1, csv);
    ck_assert(strstr(csv, "\nmh-gated-linear-attention swiglu @32,defaults,") != NULL);
    ck_assert(strstr(csv, ",0,0.9,") != NULL); /* attention: not fixed */
    free(csv);
    /* an unwritable place: an error, no file */
    snprintf(prefix, sizeof prefix, "%s/missing/x", dir);
    ck_assert_int_eq(export_state_write(&d, prefix, &err), -1);
    ck_assert(strstr(err.msg, "missing") != NULL);
    export_state_path(prefix, path, sizeof path);
    ck_assert(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/x-state.csv", dir);
    remove(path);
    rmdir(dir);
    labdata_free(&d);
}
END_TEST

START_TEST(state_view_keys)
{
    /* the view's keys: no key does two things in it; list keys and its own */
    for (int i = 0; i < key_table_n; i++)
        for (int j = i + 1; j < key_table_n; j++) {
            if (!(key_table[i].views & key_table[j].views & V_STATE)) continue;
            for (int a = 0; a < 3 && key_table[i].keys[a]; a++)
                for (int b = 0; b < 3 && key_table[j].keys[b]; b++)
                    ck_assert_msg(key_table[i].keys[a] != key_table[j].keys[b],
                                  "key %d bound twice in the state view", key_table[i].keys[a]);
        }
    ck_assert_int_eq(key_action('5', V_STACK), ACT_VIEW_STATE);
    ck_assert_int_eq(key_action(UK_F(7), V_RESULTS), ACT_VIEW_STATE);
    ck_assert_int_eq(key_action('6', V_STATE), ACT_VIEW_SCALE);
    ck_assert_int_eq(key_action(UK_F(8), V_STACK), ACT_VIEW_SCALE);
    ck_assert_int_eq(key_action(UK_DOWN, V_SCALE), ACT_DOWN);
    ck_assert_int_eq(key_action('t', V_STATE), ACT_NEXT_TASK);
    ck_assert_int_eq(key_action(UK_LEFT, V_STATE), ACT_PREV_TASK);
    ck_assert_int_eq(key_action(UK_LEFT, V_RESULTS), ACT_SORT_PREV);
    ck_assert_int_eq(key_action('c', V_STATE), ACT_EXPORT_STATE);
    ck_assert_int_eq(key_action(UK_DOWN, V_STATE), ACT_DOWN);
    ck_assert_int_eq(key_action('q', V_STATE), ACT_QUIT);
    ck_assert_int_eq(key_action('S', V_STACK), ACT_FIT_STATE);
    ck_assert_int_eq(key_action('S', V_RUN), ACT_NONE);
    /* the scaling protocol from every view; a adds a directory in the scaling view only */
    ck_assert_int_eq(key_action('L', V_STACK), ACT_QUEUE_SCALE);
    ck_assert_int_eq(key_action('L', V_SCALE), ACT_QUEUE_SCALE);
    ck_assert_int_eq(key_action('a', V_SCALE), ACT_ADD_SCALE_DIR);
    ck_assert_int_eq(key_action('a', V_STACK), ACT_ADD);
    ck_assert_int_eq(key_action('a', V_RUN), ACT_NONE);
    size_t need = keys_help(NULL, 0);
    char *h = malloc(need + 1);
    keys_help(h, need + 1);
    ck_assert(strstr(h, "Scaling view\n  a ") != NULL);
    free(h);
}
END_TEST

/* The lab's export of a run is byte-identical to madlab run --csv of the same run: the epochs
 * madlab run wrote, published to the lab as the runner does, exported by the lab. */
START_TEST(export_matches_run_csv)
{
    char dir[] = "/tmp/madlab-check-ui-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *bin = getenv("MADLAB");
    char cmd[2048], ref[600], prefix[600], out[700];
    snprintf(ref, sizeof ref, "%s/run.csv", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' run --stack 'mh-attention(heads=2) swiglu(inner=32)' --width 16 "
             "--task in-context-recall --vocab 8 --seq-len 16 --train 64 --test 16 --epochs 3 "
             "--batch 16 --threads 1 --csv '%s' >/dev/null 2>&1",
             bin ? bin : "./madlab", ref);
    ck_assert_int_eq(system(cmd), 0);
    char *want = slurp(ref);
    ck_assert_ptr_nonnull(want);

    static LabData d;
    labdata_init(&d);
    RunRecord rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.spec.label, sizeof rec.spec.label, "mh-attention(heads=2) swiglu(inner=32) @16");
    /* the run as madlab run had it: the same columns describe it in both files */
    train_cfg_default(&rec.spec.train);
    rec.spec.train.task_name = task_kinds[0]->name;
    rec.spec.train.task = task_kinds[0]->defaults;
    rec.spec.train.task.vocab = 8, rec.spec.train.task.seq_len = 16;
    rec.spec.train.task.n_train = 64, rec.spec.train.task.n_test = 16;
    rec.spec.train.epochs = 3, rec.spec.train.batch = 16, rec.spec.train.width = 16;
    ck_assert_ptr_nonnull(history_open(&d, 0, &rec));
    /* the header: the run's columns, then the epoch's */
    ck_assert_msg(!strncmp(want, "run_id,stack,task,vocab,seq_len,n_train,n_test,frac_noise,"
                           "noise_vocab,k_motif,v_motif,n_copy,multi_query,lr,wd,batch,seed,status,"
                           "epoch,train_loss,test_loss,train_acc,test_acc,test_acc_micro,lr_now,"
                           "seconds,tokens_per_s\n", 200), "%s", want);
    char *line = strchr(want, '\n');
    int epochs = 0;
    while (line && line[1]) {
        MetricPoint p = {.kind = MP_EPOCH, .run = 0, .step = epochs + 1};
        EpochStats *s = &p.epoch;
        /* the run's 18 columns first: #1, the stack, the task and its setting, ..., done */
        char head[300];
        snprintf(head, sizeof head, "\n1,%s,in-context-recall,8,16,64,16,", rec.spec.label);
        ck_assert_msg(!strncmp(line, head, strlen(head)), "%s", line);
        const char *f = strstr(line, ",done,");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(sscanf(f + 6, "%d,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &s->epoch,
                                &s->train_loss, &s->test_loss, &s->train_acc, &s->test_acc,
                                &s->test_acc_micro, &s->lr, &s->seconds, &s->tokens_per_s), 9);
        ck_assert_int_eq(history_add(&d, &p), 0);
        epochs++;
        line = strchr(line + 1, '\n');
    }
    ck_assert_int_eq(epochs, 3);
    rec.state = RUN_DONE;
    rec.result.best_test_acc = d.runs[0].eacc[2];
    rec.result.best_test_ppl = 3.25;
    history_finish(&d, 0, &rec);

    snprintf(prefix, sizeof prefix, "%s/lab", dir);
    char paths[4][EXPORT_PATH_MAX];
    int ids[4];
    ck_assert_int_eq(export_paths(&d, prefix, paths, ids, 4), 2);
    snprintf(out, sizeof out, "%s-results.csv", prefix);
    ck_assert_str_eq(paths[0], out);
    ck_assert_int_eq(ids[0], -1);
    snprintf(out, sizeof out, "%s-run1.csv", prefix);
    ck_assert_str_eq(paths[1], out);
    ck_assert_int_eq(ids[1], 0);
    MlError err;
    ck_assert_int_eq(export_write(&d, prefix, &err), 2);
    char *got = slurp(out);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    /* the results file: one line per filled cell, described by the same columns as the run
     * log, then its setting, best test accuracy, and MAD (empty until every task ran) */
    snprintf(out, sizeof out, "%s-results.csv", prefix);
    char *res = slurp(out);
    ck_assert_ptr_nonnull(res);
    const char *head = "run_id,stack,task,vocab,seq_len,n_train,n_test,frac_noise,noise_vocab,"
                       "k_motif,v_motif,n_copy,multi_query,lr,wd,batch,seed,status,setting,"
                       "best_test_acc,best_epoch,max_test_acc,epochs_run,mad,best_test_ppl,"
                       "bits_per_byte\n";
    ck_assert_msg(!strncmp(res, head, strlen(head)), "%s", res);
    char row[256];
    snprintf(row, sizeof row, "\n1,mh-attention(heads=2) swiglu(inner=32) @16,in-context-recall,");
    ck_assert_msg(strstr(res, row), "%s lacks %s", res, row);
    snprintf(row, sizeof row, ",done,vocab 8 seq_len 16 n_train 64 n_test 16,%.9g,", d.runs[0].eacc[2]);
    ck_assert_msg(strstr(res, row), "%s lacks %s", res, row);
    ck_assert_int_eq(res[strlen(res) - 1], '\n');
    /* the empty MAD cell, the run's lowest test perplexity, no bits per byte (not a text run) */
    snprintf(row, sizeof row, ",\"\",%.9g,\"\"\n", rec.result.best_test_ppl);
    ck_assert_msg(strstr(res, row), "%s lacks %s", res, row);
    /* a second export writes the results again but no run twice */
    snprintf(prefix, sizeof prefix, "%s/again", dir);
    ck_assert_int_eq(export_paths(&d, prefix, paths, ids, 4), 1);
    ck_assert_int_eq(export_write(&d, prefix, &err), 1);
    snprintf(out, sizeof out, "%s-run1.csv", prefix);
    ck_assert_int_eq(access(out, F_OK), -1);
    /* an export into a missing directory fails with a message and writes nothing */
    snprintf(prefix, sizeof prefix, "%s/missing/lab", dir);
    ck_assert_int_eq(export_write(&d, prefix, &err), -1);
    ck_assert(strstr(err.msg, "missing"));
    free(want), free(got), free(res);
    labdata_free(&d);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A preset the lab saves with a relative XDG_CONFIG_HOME (which the XDG spec calls invalid, so
 * both ignore it) lands where --preset looks: $HOME/.config/madlab/presets. */
START_TEST(preset_saved_where_found)
{
    char dir[] = "/tmp/madlab-check-ui-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chdir(dir), 0);
    unsetenv("MADLAB_PRESETS");
    setenv("HOME", dir, 1);
    setenv("XDG_CONFIG_HOME", "relative-config", 1);
    char path[1024], found[1024], want[1200];
    MlError err;
    ck_assert_int_eq(lab_preset_path("lab-saved", path, sizeof path, &err), 0);
    snprintf(want, sizeof want, "%s/.config/madlab/presets/lab-saved.preset", dir);
    ck_assert_str_eq(path, want);
    StackSpec s;
    ck_assert_int_eq(stack_parse("mh-attention(heads=2) swiglu", "t", 32, &s, &err), 0);
    ck_assert_int_eq(lab_preset_save(path, "lab-saved", &s, 32, NORM_RMS, &err), 0);
    ck_assert_int_eq(preset_find("lab-saved", found, sizeof found), 0);
    ck_assert_str_eq(found, want);
    Preset p;
    ck_assert_int_eq(preset_load("lab-saved", &p, &err), 0);
    ck_assert_int_eq(p.width, 32);
    ck_assert_int_eq(p.stack.n, 2);
    /* the user's copy is listed, once */
    static PresetList l;
    preset_list_collect(&l);
    int seen = 0;
    for (int i = 0; i < l.n; i++) seen += !strcmp(l.name[i], "lab-saved") && !strcmp(l.path[i], want);
    ck_assert_int_eq(seen, 1);
    /* names that would leave the directory are refused, naming the name */
    ck_assert_int_eq(lab_preset_path("../x", path, sizeof path, &err), -1);
    ck_assert(strstr(err.msg, "../x"));
    ck_assert_int_eq(lab_preset_path(".hidden", path, sizeof path, &err), -1);
    /* an absolute XDG_CONFIG_HOME is used by both */
    char xdg[1100];
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    ck_assert_int_eq(lab_preset_path("lab-saved2", path, sizeof path, &err), 0);
    ck_assert_int_eq(lab_preset_save(path, "lab-saved2", &s, 32, NORM_RMS, &err), 0);
    ck_assert_int_eq(preset_find("lab-saved2", found, sizeof found), 0);
    ck_assert_str_eq(found, path);
    ck_assert(!strncmp(found, xdg, strlen(xdg)));
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A scaling directory written through the engine's claim and result writer: every run of the
 * quick plan for an mh-attention stack, its loss an exact parabola in ln(params) per budget with
 * the vertex at the ladder's middle size, so the fits, the curve samples and the axes are known. */
static void write_scale_dir(const char *dir, ScalePlan *pl, double *mid)
{
    MlError err;
    ScaleProtocol p = *scale_protocol_find("quick");
    StackSpec base;
    ck_assert_msg(stack_parse("mh-attention swiglu", "test", 128, &base, &err) == 0, "%s", err.msg);
    ck_assert_msg(scale_plan(&p, &base, 128, NORM_RMS, 1, pl, &err) == 0, "%s", err.msg);
    ck_assert_msg(scale_dir_claim(dir, pl, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < pl->n_runs; i++) {
        const ScaleRun *run = &pl->run[i];
        const ScaleShape *sh = &pl->shape[run->shape_i];
        if (i % p.n_sizes == p.n_sizes / 2) mid[run->budget_i] = sh->params;
    }
    for (int i = 0; i < pl->n_runs; i++) {
        const ScaleRun *run = &pl->run[i];
        const ScaleShape *sh = &pl->shape[run->shape_i];
        ScaleResult r = {.budget = run->budget, .width = sh->width, .repeat = sh->repeat,
                         .norm = pl->norm, .seq_len = p.seq_len, .batch = p.batch,
                         .n_train = run->n_train, .n_test = p.n_test, .lr = p.lr, .wd = p.wd,
                         .seed = p.seed, .params = sh->params, .params_all = sh->params_all,
                         .flops_per_token = sh->flops_per_token, .state = sh->state,
                         .tokens = run->tokens, .flops = run->flops, .val_acc = 0.5, .seconds = 1};
        snprintf(r.protocol, sizeof r.protocol, "%s", p.name);
        snprintf(r.id, sizeof r.id, "%s", run->id);
        snprintf(r.corpus, sizeof r.corpus, "default");
        stack_format(&pl->shape_stack[run->shape_i], r.stack, sizeof r.stack);
        double d = log(sh->params) - log(mid[run->budget_i]);
        r.val_loss = 2.0 - 0.25 * run->budget_i + 0.1 * d * d;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.result", dir, run->id);
        ck_assert_msg(scale_result_write(path, &r, &err) == 0, "%s", err.msg);
    }
}

START_TEST(scale_view_data)
{
    char dir[] = "/tmp/madlab-check-ui-scale-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ScalePlan *pl = malloc(sizeof *pl);
    ScaleSet *s = calloc(4, sizeof *s);
    ScalePlot *plot = malloc(sizeof *plot);
    double mid[SCALE_MAX_BUDGETS];
    write_scale_dir(dir, pl, mid);
    MlError err;
    ck_assert_msg(scale_set_load(dir, NULL, &s[0], &err) == 0, "%s", err.msg);
    ck_assert_str_eq(s[0].info.stack, "mh-attention swiglu");
    ck_assert_int_eq(s[0].n_done, pl->n_runs);
    ck_assert_int_eq(s[0].n, pl->n_runs);
    ck_assert(isnan(s[0].mad));
    int nb = pl->p.n_budgets;
    ck_assert_int_eq(s[0].fit.n_budgets, nb);
    for (int b = 0; b < nb; b++) { /* the vertex is the middle size, the loss there exact */
        ck_assert(s[0].fit.b[b].ok && !s[0].fit.b[b].at_edge);
        ck_assert_double_eq_tol(s[0].fit.b[b].n_opt / mid[b], 1, 1e-6);
        ck_assert_double_eq_tol(s[0].fit.b[b].l_opt, 2.0 - 0.25 * b, 1e-9);
    }
    scale_plot(&s[0], plot);
    double pmin = INFINITY, pmax = 0, lmax = 0;
    for (int i = 0; i < s[0].n; i++) {
        pmin = fmin(pmin, s[0].params[i]);
        pmax = fmax(pmax, s[0].params[i]);
        lmax = fmax(lmax, s[0].loss[i]);
    }
    ck_assert(plot->x.lo <= log10(pmin) && plot->x.hi >= log10(pmax));
    ck_assert(plot->ylo < 2.0 - 0.25 * (nb - 1) && plot->yhi > lmax);
    for (int b = 0; b < nb; b++) {
        ck_assert(plot->has_curve[b]);
        /* the samples span the budget's ladder and follow the parabola through its runs */
        double x0 = INFINITY, x1 = -INFINITY, lo = INFINITY;
        for (int i = 0; i < s[0].n; i++)
            if (s[0].budget_i[i] == b) {
                x0 = fmin(x0, log(s[0].params[i]));
                x1 = fmax(x1, log(s[0].params[i]));
            }
        ck_assert_double_eq_tol(plot->cx[b][0], x0, 1e-9);
        ck_assert_double_eq_tol(plot->cx[b][SCALE_CURVE_SAMPLES - 1], x1, 1e-9);
        double d = x0 - log(mid[b]);
        ck_assert_double_eq_tol(plot->cy[b][0], 2.0 - 0.25 * b + 0.1 * d * d, 1e-9);
        for (int k = 0; k < SCALE_CURVE_SAMPLES; k++) lo = fmin(lo, plot->cy[b][k]);
        ck_assert(lo >= s[0].fit.b[b].l_opt - 1e-12 && lo < s[0].fit.b[b].l_opt + 0.01);
    }
    ck_assert_int_eq(scale_loss_row(plot, plot->yhi, 10), 0);
    ck_assert_int_eq(scale_loss_row(plot, plot->ylo, 10), 9);
    ck_assert_int_eq(scale_loss_row(plot, plot->yhi + 1, 10), -1);
    ck_assert_int_lt(scale_loss_row(plot, 2.0, 10), scale_loss_row(plot, 1.6, 10));

    /* MAD against perplexity: three stacks (copies with other scores and minima), the better MAD
     * score with the lower perplexity: rho = -1 at the largest budget */
    for (int i = 1; i < 3; i++) s[i] = s[0];
    for (int i = 0; i < 3; i++) {
        s[i].mad = 0.3 + 0.2 * i;
        s[i].fit.b[nb - 1].l_opt = 1.5 - 0.1 * i;
    }
    s[3] = s[0]; /* a fourth without a MAD score is left out */
    s[3].mad = NAN;
    ScaleMadCompare mc;
    scale_mad_compare(s, 4, &mc);
    ck_assert_int_eq(mc.n, 3);
    ck_assert_double_eq_tol(mc.budget, pl->p.budget[nb - 1], 1);
    ck_assert_double_eq_tol(mc.rho, -1, 1e-12);
    ck_assert_double_eq_tol(mc.ppl[2], exp(1.3), 1e-12);
    ck_assert(isnan(mc.ppl[3]));
    s[1].fit.b[nb - 1].ok = 0; /* one stack lacks the largest budget: the one below it */
    scale_mad_compare(s, 4, &mc);
    ck_assert_double_eq_tol(mc.budget, pl->p.budget[nb - 2], 1);
    s[2].mad = NAN; /* two stacks: no correlation */
    scale_mad_compare(s, 4, &mc);
    ck_assert_int_eq(mc.n, 2);
    ck_assert(isnan(mc.rho));

    /* the view's export: every run of both sets, every budget of both, empty cells where the
     * second set has no fit at its largest budget */
    char prefix[1100], runs[EXPORT_PATH_MAX], front[EXPORT_PATH_MAX], want[1400];
    snprintf(prefix, sizeof prefix, "%s/x", dir);
    ck_assert_msg(export_scale_write(s, 2, prefix, &err) == 0, "%s", err.msg);
    export_scale_paths(prefix, runs, front, sizeof runs);
    char *rt = slurp(runs), *ft = slurp(front);
    ck_assert(rt && ft);
    const char *rh = "dir,stack,budget,params,val_loss,bits_per_byte,mad\n",
               *fh = "dir,stack,budget,points,n_opt,l_opt,ppl_opt,d_opt,state_opt,at_edge,mad\n";
    ck_assert_msg(!strncmp(rt, rh, strlen(rh)) && !strncmp(ft, fh, strlen(fh)), "%s\n%s", rt, ft);
    int nl = 0;
    for (const char *q = rt; *q; q++) nl += *q == '\n';
    ck_assert_int_eq(nl, 1 + 2 * s[0].n);
    nl = 0;
    for (const char *q = ft; *q; q++) nl += *q == '\n';
    ck_assert_int_eq(nl, 1 + 2 * nb);
    snprintf(want, sizeof want, "\n%s,mh-attention swiglu,", dir);
    ck_assert_msg(strstr(rt, want) && strstr(ft, want), "%s\n%s", rt, ft);
    snprintf(want, sizeof want, ",%.9g,%.9g,%.9g,0,0.3\n", exp(s[0].fit.b[0].l_opt),
             s[0].fit.b[0].d_opt, s[0].fit.b[0].state_opt);
    ck_assert_msg(strstr(ft, want), "%s lacks %s", ft, want);
    ck_assert_msg(strstr(ft, ",\"\",\"\",\"\",\"\",\"\",0,0.5\n"), "%s", ft); /* no fit */
    free(rt), free(ft);
    snprintf(prefix, sizeof prefix, "%s/missing/x", dir);
    ck_assert_int_eq(export_scale_write(s, 2, prefix, &err), -1);
    ck_assert_msg(strstr(err.msg, "missing"), "%s", err.msg);

    /* a directory that is not a scaling directory: one error naming it */
    char bad[1100];
    snprintf(bad, sizeof bad, "%s/nothing", dir);
    ck_assert_int_eq(scale_set_load(bad, NULL, &s[0], &err), -1);
    ck_assert_msg(strstr(err.msg, "nothing") != NULL, "%s", err.msg);
    /* a MAD directory that is not one */
    ck_assert_int_eq(scale_set_load(dir, bad, &s[0], &err), -1);
    ck_assert_msg(strstr(err.msg, "nothing") != NULL, "%s", err.msg);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(pl);
    free(s);
    free(plot);
}
END_TEST


/* The text task's runs fill the row's bits-per-byte column, not a MAD column (MAD is unchanged);
 * it sorts lowest first; a run of the lab's scaling protocol fills no row; the MAD score the
 * scaling view takes from the table is the quick protocol row's first. */
static void text_run(LabData *d, int id, const char *label, double loss, int scale_job)
{
    RunRecord rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.spec.label, sizeof rec.spec.label, "%s", label);
    rec.spec.train.task_name = task_find("text")->name;
    rec.spec.train.task = task_find("text")->defaults;
    rec.state = RUN_QUEUED;
    RunHist *h = history_open(d, id, &rec);
    ck_assert_ptr_nonnull(h);
    h->scale_job = scale_job;
    MetricPoint p = {.kind = MP_EPOCH, .run = id, .step = 10};
    p.epoch.epoch = 1;
    p.epoch.test_loss = loss;
    ck_assert_int_eq(history_add(d, &p), 0);
    rec.state = RUN_DONE;
    rec.result.best_test_loss = loss;
    rec.result.best_test_acc = 0.4;
    rec.result.epochs_run = 1;
    history_finish(d, id, &rec);
}

START_TEST(results_text_column)
{
    static LabData d;
    labdata_init(&d);
    int nt = d.n_tasks;
    ck_assert_int_eq(results_cols(&d), nt + 2);
    for (int t = 0; t < nt; t++) fake_run(&d, t, "A", t, 0.5, 1);
    text_run(&d, nt, "A", 2 * log(2.0), 0);       /* 2 bits per byte */
    text_run(&d, nt + 1, "B", 1.5 * log(2.0), 0); /* 1.5 */
    text_run(&d, nt + 2, "C", 1.0 * log(2.0), 1); /* a scaling run: no row */
    ck_assert_int_eq(d.nrows, 2);
    ck_assert_int_eq(row_of(&d, "C"), -1);
    int a = row_of(&d, "A"), b = row_of(&d, "B");
    ck_assert_double_eq_tol(d.rows[a].text_bpb, 2.0, 1e-12);
    ck_assert_int_eq(d.rows[a].text_run, nt);
    ck_assert_double_eq_tol(results_cell(&d, &d.rows[a], nt + 2), 2.0, 1e-12);
    ck_assert_double_eq_tol(results_mad(&d, &d.rows[a]), 0.5, 1e-12); /* text not in MAD */
    for (int t = 0; t < nt; t++) ck_assert(isnan(d.rows[b].acc[t]));
    ck_assert_double_eq_tol(bits_per_byte(log(2.0)), 1.0, 1e-12);
    d.sort_col = nt + 2;
    d.sort_rev = 0;
    results_sort(&d);
    ck_assert_str_eq(d.rows[0].label, "B"); /* the lowest bits per byte first */
    d.sort_rev = 1;
    results_sort(&d);
    ck_assert_str_eq(d.rows[0].label, "A");
    /* the exported results give a text run's bits per byte in the last column */
    char dir[] = "/tmp/madlab-check-ui-XXXXXX", prefix[64], path[80], cmd[96];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(prefix, sizeof prefix, "%s/t", dir);
    MlError xerr;
    ck_assert_int_ge(export_write(&d, prefix, &xerr), 1);
    snprintf(path, sizeof path, "%s-results.csv", prefix);
    char *res = slurp(path);
    ck_assert_ptr_nonnull(res);
    ck_assert_msg(strstr(res, ",text,") && strstr(res, ",1.5\n") && strstr(res, ",2\n"), "%s", res);
    free(res);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    /* the MAD score for the scaling view: the quick row before another full row */
    ck_assert_double_eq_tol(scale_results_mad(&d, "A"), 0.5, 1e-12);
    ck_assert(isnan(scale_results_mad(&d, "B")));
    const Protocol *q = protocol_find("quick");
    StackSpec st;
    MlError err;
    ck_assert_msg(stack_parse("mamba swiglu", "test", 128, &st, &err) == 0, "%s", err.msg);
    for (int t = 0; t < nt; t++) {
        RunRecord rec;
        memset(&rec, 0, sizeof rec);
        snprintf(rec.spec.label, sizeof rec.spec.label, "A");
        protocol_train_cfg(q, t, &st, 128, NORM_RMS, &rec.spec.train);
        int id = 100 + t;
        ck_assert_ptr_nonnull(history_open(&d, id, &rec));
        MetricPoint p = {.kind = MP_EPOCH, .run = id, .step = 10};
        ck_assert_int_eq(history_add(&d, &p), 0);
        rec.state = RUN_DONE;
        rec.result.best_test_acc = 0.75;
        history_finish(&d, id, &rec);
    }
    ck_assert_double_eq_tol(scale_results_mad(&d, "A"), 0.75, 1e-12);
    char label[64];
    lab_stack_label("mamba swiglu", 128, label, sizeof label);
    ck_assert_str_eq(label, "mamba swiglu");
    lab_stack_label("mamba swiglu", 64, label, sizeof label);
    ck_assert_str_eq(label, "mamba swiglu @64");
    /* corpus paths stay put for the runs that read them */
    const char *c1 = corpus_intern("/tmp/a.txt");
    ck_assert_ptr_nonnull(c1);
    ck_assert_ptr_eq(corpus_intern("/tmp/a.txt"), c1);
    ck_assert_str_eq(c1, "/tmp/a.txt");
    ck_assert_ptr_null(corpus_intern(""));
    ck_assert_ptr_ne(corpus_intern("/tmp/b.txt"), c1);
    labdata_free(&d);
}
END_TEST

/* Files in dir whose name starts with '.': an atomic writer's temporaries, left behind. */
static int hidden_files(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q '^\\.'", dir);
    return system(cmd) == 0;
}

/* The lab's scaling protocol without a terminal and without training: the directory a protocol
 * gets, the runs it hands the runner, each run's end written as madlab scale writes it (or not
 * at all when stopped or failed), resuming, and the CSVs and the scaling view's data at the end. */
START_TEST(scale_job_runs)
{
    char root[] = "/tmp/madlab-check-ui-job-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    MlError err;
    /* the lab's data directory */
    char saved_home[1024] = "", buf[1200];
    if (getenv("HOME")) snprintf(saved_home, sizeof saved_home, "%s", getenv("HOME"));
    setenv("XDG_DATA_HOME", "/x/data", 1);
    ck_assert_int_eq(lab_data_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/x/data/madlab");
    setenv("XDG_DATA_HOME", "relative", 1); /* not absolute: ignored, as the XDG spec says */
    setenv("HOME", "/home/u", 1);
    ck_assert_int_eq(lab_data_dir(buf, sizeof buf, &err), 0);
    ck_assert_str_eq(buf, "/home/u/.local/share/madlab");
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    ck_assert_int_eq(lab_data_dir(buf, sizeof buf, &err), -1);
    ck_assert(strstr(err.msg, "HOME") != NULL);
    if (saved_home[0]) setenv("HOME", saved_home, 1);

    ScaleProtocol p = *scale_protocol_find("quick");
    ck_assert_int_eq(scale_parse_budgets("1e9,2e9", &p, &err), 0);
    p.n_sizes = 3;
    p.seq_len = 32;
    StackSpec s;
    ck_assert_msg(stack_parse("mh-attention swiglu", "test", 128, &s, &err) == 0, "%s", err.msg);
    const char *corpus = corpus_intern("/tmp/some-corpus.txt");
    ScaleJob *j = malloc(sizeof *j), *k = malloc(sizeof *k);
    ck_assert_msg(scale_job_prepare(j, &p, &s, 128, NORM_RMS, corpus, root, "mh-attention swiglu",
                                    &err) == 0, "%s", err.msg);
    char want[1200];
    snprintf(want, sizeof want, "%s/scale/quick_mh-attention_swiglu_w128_", root);
    ck_assert_msg(!strncmp(j->dir, want, strlen(want)) && strlen(j->dir) == strlen(want) + 8, "%s",
                  j->dir);
    snprintf(buf, sizeof buf, "%s/scale.run", j->dir);
    ck_assert_int_eq(access(buf, F_OK), 0);
    ck_assert_int_eq(j->plan.n_runs, 6);
    ck_assert_int_eq(j->n_done, 0);
    /* the same settings meet the same directory; other budgets or another corpus another */
    char d2[1024];
    ck_assert_int_eq(scale_job_dir(root, &j->plan, corpus, d2, sizeof d2), 0);
    ck_assert_str_eq(d2, j->dir);
    ck_assert_int_eq(scale_job_dir(root, &j->plan, NULL, d2, sizeof d2), 0);
    ck_assert_str_ne(d2, j->dir);
    ScaleProtocol p3 = p;
    ck_assert_int_eq(scale_parse_budgets("1e9,2e9,4e9", &p3, &err), 0);
    ck_assert_int_eq(scale_job_prepare(k, &p3, &s, 128, NORM_RMS, corpus, root, "x", &err), 0);
    ck_assert_str_ne(k->dir, j->dir);
    ck_assert_int_eq(k->plan.n_runs, 9);
    /* a run for the runner: the text task on the corpus, the run's size and budget */
    RunSpec spec;
    scale_job_spec(j, 0, &spec);
    ck_assert_str_eq(spec.train.task_name, "text");
    ck_assert_ptr_eq(spec.train.task.corpus, corpus);
    ck_assert_int_eq(spec.train.task.seq_len, 32);
    ck_assert_int_eq(spec.train.task.n_train, j->plan.run[0].n_train);
    ck_assert_int_eq(spec.train.width, j->plan.shape[j->plan.run[0].shape_i].width);
    ck_assert_int_eq(spec.train.epochs, 1);
    ck_assert_str_eq(spec.label, "mh-attention swiglu");
    char note[200];
    scale_job_note(j, 0, 1, 6, note, sizeof note);
    ck_assert_msg(!strncmp(note, "scaling 1/6: C=1e09 width 4, ", 29), "%s", note);
    scale_job_note(j, 3, 2, 3, note, sizeof note);
    ck_assert_msg(strstr(note, "scaling 2/3 (plan 6): C=2e09") == note, "%s", note);

    /* stopped half way, or failed: no file, and not done */
    RunRecord rec;
    memset(&rec, 0, sizeof rec);
    j->queued[0] = 1;
    rec.state = RUN_STOPPED;
    rec.result.interrupted = 1;
    ck_assert_int_eq(scale_job_end(j, 0, &rec, &err), 0);
    ck_assert(!j->queued[0] && !j->done[0]);
    rec.state = RUN_FAILED;
    rec.result.interrupted = 0;
    ck_assert_int_eq(scale_job_end(j, 0, &rec, &err), 0);
    scale_result_path(buf, sizeof buf, j->dir, j->plan.run[0].id);
    ck_assert_int_ne(access(buf, F_OK), 0);
    /* finished: its result, as madlab scale writes it */
    rec.state = RUN_DONE;
    rec.result.final_test_loss = rec.result.best_test_loss = 1.7;
    rec.result.best_test_acc = 0.3;
    ck_assert_int_eq(scale_job_end(j, 0, &rec, &err), 1);
    ScaleResult r;
    ck_assert_msg(scale_result_read(buf, &r, &err) == 0, "%s", err.msg);
    ck_assert_double_eq_tol(r.val_loss, 1.7, 1e-12);
    ck_assert_str_eq(r.corpus, "/tmp/some-corpus.txt");
    ck_assert_int_eq(j->n_done, 1);
    /* diverged: a result too, marked so */
    memset(&rec, 0, sizeof rec);
    rec.state = RUN_FAILED;
    rec.result.diverged = 1;
    rec.result.final_test_loss = NAN;
    ck_assert_int_eq(scale_job_end(j, 1, &rec, &err), 1);
    scale_result_path(buf, sizeof buf, j->dir, j->plan.run[1].id);
    ck_assert_msg(scale_result_read(buf, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.diverged, 1);
    /* resuming (the lab started again): the two are done, the rest to run */
    ck_assert_int_eq(scale_job_prepare(k, &p, &s, 128, NORM_RMS, corpus, root, "x", &err), 0);
    ck_assert_str_eq(k->dir, j->dir);
    ck_assert(k->n_done == 2 && k->done[0] && k->done[1] && !k->done[2]);
    snprintf(buf, sizeof buf, "%s/frontier.csv", j->dir);
    ck_assert_int_ne(access(buf, F_OK), 0); /* not before every run is in */
    /* the rest, each at a loss whose minimum in ln N is the middle size: then the CSVs and the
     * fits */
    for (int i = 2; i < 6; i++) {
        memset(&rec, 0, sizeof rec);
        rec.state = RUN_DONE;
        const ScalePlan *pl = &k->plan;
        int mid = pl->run[(i / 3) * 3 + 1].shape_i;
        double x = log(pl->shape[pl->run[i].shape_i].params) - log(pl->shape[mid].params);
        rec.result.final_test_loss = 2.0 - 0.2 * (i / 3) + 0.1 * x * x;
        ck_assert_int_eq(scale_job_end(k, i, &rec, &err), 1);
    }
    ck_assert_int_eq(k->n_done, 6);
    ck_assert_int_eq(access(buf, F_OK), 0);
    snprintf(buf, sizeof buf, "%s/runs.csv", j->dir);
    ck_assert_int_eq(access(buf, F_OK), 0);
    ck_assert(!hidden_files(j->dir));
    ScaleSet *set = malloc(sizeof *set);
    ck_assert_msg(scale_set_load(j->dir, NULL, set, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(set->n_done, 6);
    ck_assert_int_eq(set->n, 5); /* the diverged run is not a point */
    ck_assert(set->fit.b[1].ok && !set->fit.b[1].at_edge);
    ck_assert_double_eq_tol(set->fit.b[1].l_opt, 1.8, 1e-9);
    /* a directory made for other settings is refused, as madlab scale refuses it */
    char other[1200];
    snprintf(other, sizeof other, "%s/scale.run", k->dir);
    ScaleJob *o = malloc(sizeof *o);
    ck_assert_int_eq(scale_job_prepare(o, &p3, &s, 128, NORM_RMS, corpus, root, "x", &err), 0);
    char cmd[2500];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/scale.run'", other, o->dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(scale_job_prepare(o, &p3, &s, 128, NORM_RMS, corpus, root, "x", &err), -1);
    ck_assert_msg(strstr(err.msg, o->dir) != NULL, "%s", err.msg);
    snprintf(buf, sizeof buf, "rm -rf '%s'", root);
    ck_assert_int_eq(system(buf), 0);
    free(j);
    free(k);
    free(o);
    free(set);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, layout_sizes);
    tcase_add_test(tc, layout_small_and_wide);
    tcase_add_test(tc, braille_encoding);
    tcase_add_test(tc, chart_scaling);
    tcase_add_test(tc, chart_render_line);
    tcase_add_test(tc, stripe_patterns);
    tcase_add_test(tc, key_bindings);
    tcase_add_test(tc, help_from_key_table);
    tcase_add_test(tc, text_helpers);
    tcase_add_test(tc, results_rows_and_mad);
    tcase_add_test(tc, results_sort_and_marks);
    tcase_add_test(tc, results_rows_per_setting);
    tcase_add_test(tc, export_matches_run_csv);
    tcase_add_test(tc, preset_saved_where_found);
    tcase_add_test(tc, log_axis_decades_and_ticks);
    tcase_add_test(tc, scale_view_data);
    tcase_add_test(tc, state_plot_points);
    tcase_add_test(tc, state_view_keys);
    tcase_add_test(tc, results_text_column);
    tcase_add_test(tc, scale_job_runs);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
