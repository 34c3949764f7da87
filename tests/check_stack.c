/* Stacks and presets: parsing, errors that point at the offending text, formatting, the search
 * path, saving. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "testutil.h"
#include "fileio.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int preset_save(const Preset *p, const char *path, MlError *err); /* engine/preset.c */

static int knob_index(const LayerKind *k, const char *name)
{
    for (int i = 0; i < k->n_knobs; i++)
        if (strcmp(k->knobs[i].name, name) == 0) return i;
    return -1;
}

static int knob_def(const char *kind, const char *knob)
{
    const LayerKind *k = layer_kind_find(kind);
    ck_assert_ptr_nonnull(k);
    int i = knob_index(k, knob);
    ck_assert_int_ge(i, 0);
    return k->knobs[i].def;
}

/* Parses text and expects failure with every one of the NULL-terminated words in the error. */
static void expect_error(const char *text, int width, ...)
{
    StackSpec s;
    MlError e = {{0}};
    int rc = stack_parse(text, "--stack", width, &s, &e);
    ck_assert_msg(rc == -1, "'%s' parsed, expected an error", text);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "error is not one line: %s", e.msg);
    va_list ap;
    va_start(ap, width);
    const char *w;
    while ((w = va_arg(ap, const char *)))
        ck_assert_msg(strstr(e.msg, w), "error for '%s' lacks '%s': %s", text, w, e.msg);
    va_end(ap);
}

/* ---------------- stacks ---------------- */

START_TEST(parse_plain)
{
    StackSpec s;
    MlError e = {{0}};
    ck_assert_int_eq(stack_parse("mh-attention swiglu mh-attention swiglu", "--stack", 128, &s, &e), 0);
    ck_assert_int_eq(s.n, 4);
    ck_assert_str_eq(s.kind[0]->name, "mh-attention");
    ck_assert_str_eq(s.kind[1]->name, "swiglu");
    ck_assert_ptr_eq(s.kind[2], s.kind[0]);
    ck_assert_ptr_eq(s.kind[3], s.kind[1]);
    int hi = knob_index(s.kind[0], "heads"), ii = knob_index(s.kind[1], "inner");
    ck_assert_int_eq(s.knob[0][hi], knob_def("mh-attention", "heads"));
    ck_assert_int_eq(s.knob[1][ii], knob_def("swiglu", "inner"));
    for (int l = 0; l < s.n; l++)
        for (int j = 0; j < s.kind[l]->n_knobs; j++)
            ck_assert_int_eq(s.knob[l][j], s.kind[l]->knobs[j].def);
}
END_TEST

START_TEST(parse_knobs)
{
    StackSpec s;
    MlError e = {{0}};
    ck_assert_int_eq(stack_parse("  mh-attention(heads=4)\tswiglu( inner = 256 ) mh-attention ()\n",
                                 "--stack", 128, &s, &e), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert_int_eq(s.knob[0][knob_index(s.kind[0], "heads")], 4);
    ck_assert_int_eq(s.knob[1][knob_index(s.kind[1], "inner")], 256);
    ck_assert_int_eq(s.knob[2][knob_index(s.kind[2], "heads")], knob_def("mh-attention", "heads"));
    /* a space before '(' is allowed too */
    ck_assert_int_eq(stack_parse("swiglu (inner=64)", "--stack", 128, &s, &e), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.knob[0][0], 64);
}
END_TEST

START_TEST(parse_max_layers)
{
    char text[ML_MAX_LAYERS * 8 + 16] = "";
    for (int i = 0; i < ML_MAX_LAYERS; i++) strcat(text, "swiglu ");
    StackSpec s;
    MlError e = {{0}};
    ck_assert_int_eq(stack_parse(text, "--stack", 128, &s, &e), 0);
    ck_assert_int_eq(s.n, ML_MAX_LAYERS);
    strcat(text, "swiglu");
    /* the 65th word starts at column 7*64+1 */
    char col[32];
    snprintf(col, sizeof col, "--stack:%d:", 7 * ML_MAX_LAYERS + 1);
    expect_error(text, 128, col, "more than", NULL);
}
END_TEST

START_TEST(error_unknown_layer)
{
    expect_error("mh-attention swiglo", 128, "--stack:14:", "swiglo", "swiglu", NULL);
    expect_error("zzzzzzzzzzzz", 128, "--stack:1:", "zzzzzzzzzzzz", "mh-attention", "swiglu", NULL);
    /* a norm is a known kind but not allowed in a stack */
    expect_error("swiglu rmsnorm", 128, "--stack:8:", "rmsnorm", NULL);
}
END_TEST

START_TEST(error_unknown_knob)
{
    expect_error("mh-attention(head=4)", 128, "--stack:14:", "head", "heads", NULL);
    expect_error("swiglu(inner=64, outer=3)", 128, "--stack:18:", "outer", "inner", NULL);
}
END_TEST

START_TEST(error_range)
{
    expect_error("swiglu(inner=0)", 128, "--stack:14:", "inner=0", "8..8192", NULL);
    expect_error("mh-attention(heads=100000)", 128, "--stack:20:", "heads=100000", "1..256", NULL);
    expect_error("mh-attention(heads=99999999999999999999)", 128, "--stack:20:", "heads", NULL);
}
END_TEST

START_TEST(error_not_integer)
{
    expect_error("swiglu(inner=abc)", 128, "--stack:14:", "abc", "not an integer", NULL);
    expect_error("swiglu(inner=2.5)", 128, "--stack:14:", "2.5", "not an integer", NULL);
    expect_error("swiglu(inner=)", 128, "--stack:14:", "inner", NULL);
    expect_error("swiglu(inner 64)", 128, "--stack:14:", "'='", NULL);
}
END_TEST

START_TEST(error_paren)
{
    expect_error("mh-attention swiglu(inner=64", 128, "--stack:20:", "missing ')'", "swiglu", NULL);
    expect_error("swiglu(inner=64 mh-attention(heads=4)", 128, "--stack:7:", "missing ')'", NULL);
    expect_error("swiglu)", 128, "--stack:7:", "')'", NULL);
    expect_error("swiglu(inner=64)swiglu", 128, "--stack:17:", NULL);
    expect_error("swiglu(inner=64,)", 128, "--stack:17:", NULL);
}
END_TEST

START_TEST(error_empty)
{
    expect_error("", 128, "--stack:1:", "empty", NULL);
    expect_error("   \t ", 128, "--stack:1:", "empty", NULL);
}
END_TEST

START_TEST(error_heads)
{
    /* the default heads (16) does not divide 100 */
    char msg[64];
    snprintf(msg, sizeof msg, "heads=%d", knob_def("mh-attention", "heads"));
    expect_error("mh-attention", 100, "--stack:1:", "width 100", "not divisible", msg, NULL);
    expect_error("swiglu mh-attention(heads=3)", 128, "--stack:21:", "width 128", "heads=3", NULL);
    /* 96 / 32 = 3 is a whole but odd head size */
    expect_error("mh-attention(heads=32)", 96, "--stack:14:", "odd", "heads=32", NULL);
    StackSpec s;
    MlError e = {{0}};
    ck_assert_int_eq(stack_parse("mh-attention(heads=5)", "--stack", 100, &s, &e), 0);
    /* width 0: no width checks */
    ck_assert_int_eq(stack_parse("mh-attention(heads=3)", "--stack", 0, &s, &e), 0);
}
END_TEST

START_TEST(error_quotes_characters)
{
    /* messages quote whole UTF-8 characters */
    expect_error("swiglu é", 128, "--stack:8:", "'é'", NULL);
    expect_error("swiglué", 128, "--stack:7:", "'é'", NULL);
}
END_TEST

START_TEST(error_keeps_output)
{
    StackSpec s;
    MlError e = {{0}};
    ck_assert_int_eq(stack_parse("swiglu", "--stack", 128, &s, &e), 0);
    ck_assert_int_eq(stack_parse("swiglu nonsense", "--stack", 128, &s, &e), -1);
    ck_assert_int_eq(s.n, 1);
}
END_TEST

/* The routing knob takes a word: reference (the default) or topk; numbers and other words are
 * refused with the choices. */
START_TEST(enumerated_knob)
{
    StackSpec s;
    MlError e = {{0}};
    ck_assert_int_eq(stack_parse("moe-mlp hyena-experts( routing = topk ) moe-mlp(routing=reference)",
                                 "--stack", 128, &s, &e), 0);
    ck_assert_str_eq(s.kind[1]->knobs[4].name, "routing");
    ck_assert_int_eq(s.knob[0][3], 0); /* reference */
    ck_assert_int_eq(s.knob[1][4], 1); /* topk */
    ck_assert_int_eq(s.knob[2][3], 0);
    char buf[256];
    ck_assert_int_eq(stack_format(&s, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "moe-mlp hyena-experts(routing=topk) moe-mlp");
    expect_error("moe-mlp(routing=sparse)", 128, "--stack:17:", "routing=sparse", "reference|topk", NULL);
    expect_error("moe-mlp(routing=1)", 128, "--stack:17:", "not a choice", "reference|topk", NULL);
    expect_error("moe-mlp(routing=)", 128, "--stack:17:", "no value", "reference|topk", NULL);
    expect_error("moe-mlp(routing=topkk)", 128, "--stack:17:", "topkk", NULL);
    expect_error("moe-mlp(rooting=topk)", 128, "--stack:9:", "routing (reference|topk, default reference)",
                 NULL);
    /* the texts of a knob's values and range */
    const LayerKind *k = layer_kind_find("moe-mlp");
    char t[64];
    knob_text(&k->knobs[3], 1, t, sizeof t);
    ck_assert_str_eq(t, "topk");
    knob_range_text(&k->knobs[3], t, sizeof t);
    ck_assert_str_eq(t, "reference|topk");
    knob_text(&k->knobs[0], 8, t, sizeof t);
    ck_assert_str_eq(t, "8");
    knob_range_text(&k->knobs[0], t, sizeof t);
    ck_assert_str_eq(t, "1..64");
}
END_TEST

START_TEST(format_round_trip)
{
    static const char *const texts[] = {
        "mh-attention swiglu mh-attention swiglu",
        "mh-attention(heads=4) swiglu",
        "mh-attention(heads=8) swiglu(inner=256) mh-attention swiglu(inner=64)",
        "swiglu",
        "hyena-experts(routing=topk) moe-mlp(top_k=1,routing=topk) mh-attention moe-mlp",
    };
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        StackSpec s, s2;
        MlError e = {{0}};
        char buf[512];
        ck_assert_int_eq(stack_parse(texts[t], "--stack", 128, &s, &e), 0);
        ck_assert_int_eq(stack_format(&s, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, texts[t]);
        ck_assert_int_eq(stack_parse(buf, "--stack", 128, &s2, &e), 0);
        ck_assert_int_eq(s2.n, s.n);
        for (int i = 0; i < s.n; i++) {
            ck_assert_ptr_eq(s2.kind[i], s.kind[i]);
            ck_assert_mem_eq(s2.knob[i], s.knob[i], sizeof s.knob[i]);
        }
    }
    /* knobs equal to the default are dropped, spacing is normalised */
    StackSpec s;
    MlError e = {{0}};
    char buf[512], want[128];
    snprintf(want, sizeof want, "mh-attention( heads = %d ) swiglu(inner=100)",
             knob_def("mh-attention", "heads"));
    ck_assert_int_eq(stack_parse(want, "--stack", 128, &s, &e), 0);
    ck_assert_int_eq(stack_format(&s, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "mh-attention swiglu(inner=100)");
    /* too small a buffer */
    ck_assert_int_eq(stack_format(&s, buf, 10), -1);
    ck_assert_int_eq(stack_format(&s, buf, strlen("mh-attention swiglu(inner=100)")), -1);
    ck_assert_int_eq(stack_format(&s, buf, strlen("mh-attention swiglu(inner=100)") + 1), 0);
}
END_TEST

/* ---------------- presets ---------------- */

static const char good_preset[] =
    "# a comment\n"
    "\n"
    "description: two blocks, é and #hash kept\n"
    "  stack :  mh-attention(heads=4) swiglu  \n"
    "width: 64\r\n"
    "norm: layernorm\n";

START_TEST(preset_good)
{
    Preset p;
    MlError e = {{0}};
    ck_assert_msg(preset_parse(good_preset, "dir/two.preset", &p, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(p.name, "two");
    ck_assert_str_eq(p.description, "two blocks, é and #hash kept");
    ck_assert_str_eq(p.stack_text, "mh-attention(heads=4) swiglu");
    ck_assert_int_eq(p.width, 64);
    ck_assert_int_eq(p.norm, NORM_LAYER);
    ck_assert_int_eq(p.stack.n, 2);
    ck_assert_int_eq(p.stack.knob[0][knob_index(p.stack.kind[0], "heads")], 4);

    /* defaults */
    ck_assert_int_eq(preset_parse("description: d\nstack: swiglu", "x.preset", &p, &e), 0);
    ck_assert_int_eq(p.width, 128);
    ck_assert_int_eq(p.norm, NORM_RMS);
    ck_assert_str_eq(p.name, "x");
    /* width may come after the stack and is used for its checks */
    ck_assert_int_eq(preset_parse("stack: mh-attention\nwidth: 100\ndescription: d\n", "x", &p, &e), -1);
    ck_assert_msg(strstr(e.msg, "x:1:") && strstr(e.msg, "width 100"), "%s", e.msg);
}
END_TEST

static void expect_preset_error(const char *text, ...)
{
    Preset p;
    MlError e = {{0}};
    ck_assert_msg(preset_parse(text, "t.preset", &p, &e) == -1, "parsed: %s", text);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "error is not one line: %s", e.msg);
    va_list ap;
    va_start(ap, text);
    const char *w;
    while ((w = va_arg(ap, const char *)))
        ck_assert_msg(strstr(e.msg, w), "error lacks '%s': %s", w, e.msg);
    va_end(ap);
}

START_TEST(preset_bad)
{
    expect_preset_error("description: d\nstack: swiglu\ncolour: red\n", "t.preset:3:", "colour", NULL);
    expect_preset_error("description: d\nstack: swiglu\ndescription: e\n", "t.preset:3:",
                        "duplicate", "description", "line 1", NULL);
    expect_preset_error("# c\ndescription: d\nstack swiglu\n", "t.preset:3:", "':'", NULL);
    expect_preset_error("description: d\n", "t.preset:", "stack", NULL);
    expect_preset_error("stack: swiglu\n", "t.preset:", "description", NULL);
    expect_preset_error("", "t.preset:", "description", NULL);
    expect_preset_error("description: d\nstack: swiglu\nwidth: wide\n", "t.preset:3:", "wide",
                        "8..4096", NULL);
    expect_preset_error("description: d\nstack: swiglu\nwidth: 4\n", "t.preset:3:", "4", "8..4096", NULL);
    expect_preset_error("description: d\nstack: swiglu\nnorm: batchnorm\n", "t.preset:3:",
                        "batchnorm", "rmsnorm", NULL);
    expect_preset_error("description:\nstack: swiglu\n", "t.preset:1:", "description", NULL);
    /* stack errors: FILE:LINE:COL, the column counted in the line */
    expect_preset_error("description: d\n\nstack: swiglu swiglo\n", "t.preset:3:15:", "swiglo", NULL);
    expect_preset_error("description: d\nstack: swiglu(inner=3)\n", "t.preset:2:21:", "8..8192", NULL);
    expect_preset_error("description: d\nstack:\n", "t.preset:2:", "stack", NULL);
    expect_preset_error("description: d\xff\nstack: swiglu\n", "t.preset:1:", "UTF-8", NULL);
}
END_TEST

/* ---------------- files ---------------- */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/madlab-check-stack-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

typedef struct {
    int n;
    char names[32][64];
} Names;

static void collect_name(const char *name, const char *path, void *ctx)
{
    Names *ns = ctx;
    ck_assert_ptr_nonnull(strstr(path, name));
    if (ns->n < 32) snprintf(ns->names[ns->n++], 64, "%s", name);
}

START_TEST(preset_load_dir)
{
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/mine.preset", tmpdir);
    write_text(path, "description: mine\nstack: swiglu swiglu\nwidth: 32\n");
    /* shadows the shipped default */
    snprintf(path, sizeof path, "%s/default.preset", tmpdir);
    write_text(path, "description: shadow\nstack: swiglu\n");
    snprintf(path, sizeof path, "%s/broken.preset", tmpdir);
    write_text(path, "description: broken\nstack: swiglu\nwidth: 3\n");
    snprintf(path, sizeof path, "%s/notes.txt", tmpdir);
    write_text(path, "not a preset\n");
    ck_assert_int_eq(setenv("MADLAB_PRESETS", tmpdir, 1), 0);
    /* keep the user's own presets out of the test */
    ck_assert_int_eq(setenv("XDG_CONFIG_HOME", tmpdir, 1), 0);

    Preset p;
    MlError e = {{0}};
    ck_assert_msg(preset_load("mine", &p, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(p.name, "mine");
    ck_assert_str_eq(p.description, "mine");
    ck_assert_int_eq(p.width, 32);
    ck_assert_int_eq(p.stack.n, 2);

    ck_assert_int_eq(preset_load("default", &p, &e), 0);
    ck_assert_str_eq(p.description, "shadow");

    char found[512];
    ck_assert_int_eq(preset_find("mine", found, sizeof found), 0);
    snprintf(path, sizeof path, "%s/mine.preset", tmpdir);
    ck_assert_str_eq(found, path);
    ck_assert_int_eq(preset_find("absent", found, sizeof found), -1);
    ck_assert_int_eq(preset_find("mine", found, 4), -1);

    /* by path */
    ck_assert_int_eq(preset_load(path, &p, &e), 0);
    ck_assert_str_eq(p.name, "mine");

    /* errors name the file and line */
    ck_assert_int_eq(preset_load("broken", &p, &e), -1);
    ck_assert_msg(strstr(e.msg, "broken.preset:3:"), "%s", e.msg);

    /* unknown names list what there is */
    ck_assert_int_eq(preset_load("absent", &p, &e), -1);
    ck_assert_msg(strstr(e.msg, "absent") && strstr(e.msg, "mine") && strstr(e.msg, "default"),
                  "%s", e.msg);
    /* a missing path names the path */
    snprintf(path, sizeof path, "%s/none.preset", tmpdir);
    ck_assert_int_eq(preset_load(path, &p, &e), -1);
    ck_assert_msg(strstr(e.msg, path), "%s", e.msg);

    /* the list: sorted, each name once */
    Names ns = {0};
    int n = preset_list(collect_name, &ns);
    ck_assert_int_eq(n, ns.n);
    ck_assert_int_ge(n, 3);
    for (int i = 1; i < ns.n; i++) ck_assert_int_lt(strcmp(ns.names[i - 1], ns.names[i]), 0);
    int has_mine = 0;
    for (int i = 0; i < ns.n; i++) has_mine |= strcmp(ns.names[i], "mine") == 0;
    ck_assert(has_mine);
    rm_rf(tmpdir);
}
END_TEST

START_TEST(preset_too_large)
{
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/big.preset", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("description: big\nstack: swiglu\n", f);
    for (int i = 0; i < 70 * 1024 / 8; i++) fputs("#padding\n", f);
    ck_assert_int_eq(fclose(f), 0);
    Preset p;
    MlError e = {{0}};
    ck_assert_int_eq(preset_load(path, &p, &e), -1);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "64 KiB"), "%s", e.msg);
    rm_rf(tmpdir);
}
END_TEST

START_TEST(preset_save_round_trip)
{
    int (*default_open)(const char *, int, mode_t) = atomic_temp_open;
    make_tmpdir();
    ck_assert_int_eq(setenv("MADLAB_PRESETS", tmpdir, 1), 0);
    Preset p, q;
    MlError e = {{0}};
    ck_assert_int_eq(preset_parse(good_preset, "saved.preset", &p, &e), 0);
    char path[512], tmp[600];
    snprintf(path, sizeof path, "%s/saved.preset", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_msg(preset_save(&p, path, &e) == 0, "%s", e.msg);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    ck_assert_int_eq(count_temps(tmpdir, "saved.preset", NULL, 0), 0);
    ck_assert_msg(preset_load("saved", &q, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(q.name, "saved");
    ck_assert_str_eq(q.description, p.description);
    ck_assert_str_eq(q.stack_text, "mh-attention(heads=4) swiglu");
    ck_assert_int_eq(q.width, p.width);
    ck_assert_int_eq(q.norm, p.norm);
    ck_assert_int_eq(q.stack.n, p.stack.n);
    for (int i = 0; i < p.stack.n; i++) {
        ck_assert_ptr_eq(q.stack.kind[i], p.stack.kind[i]);
        ck_assert_mem_eq(q.stack.knob[i], p.stack.knob[i], sizeof p.stack.knob[i]);
    }

    /* overwrite an existing file */
    p.width = 256;
    p.norm = NORM_RMS;
    ck_assert_int_eq(preset_save(&p, path, &e), 0);
    ck_assert_int_eq(preset_load(path, &q, &e), 0);
    ck_assert_int_eq(q.width, 256);
    ck_assert_int_eq(q.norm, NORM_RMS);

    /* a description of two lines cannot be saved */
    snprintf(p.description, sizeof p.description, "one\ntwo");
    ck_assert_int_eq(preset_save(&p, path, &e), -1);
    ck_assert_msg(strstr(e.msg, path), "%s", e.msg);
    snprintf(p.description, sizeof p.description, "fine");

    /* a missing directory: an error naming the path, no file left */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.preset", tmpdir);
    ck_assert_int_eq(preset_save(&p, bad, &e), -1);
    ck_assert_msg(strstr(e.msg, bad), "%s", e.msg);

    /* a full disk: no file left behind */
    if (access("/dev/full", W_OK) == 0) {
        char full[560];
        snprintf(full, sizeof full, "%s/full.preset", tmpdir);
        snprintf(tmp, sizeof tmp, "%s.tmp", full);
        atomic_temp_open = open_temp_on_full_disk; /* every write to the temporary fails */
        ck_assert_int_eq(preset_save(&p, full, &e), -1);
        ck_assert_msg(strstr(e.msg, full), "%s", e.msg);
        ck_assert_msg(strstr(e.msg, "disk full"), "%s", e.msg);
        ck_assert_int_ne(access(full, F_OK), 0);
        struct stat st;
        ck_assert_int_ne(lstat(tmp, &st), 0);
        ck_assert_int_eq(count_temps(tmpdir, "full.preset", NULL, 0), 0);
        atomic_temp_open = default_open;
    }
    rm_rf(tmpdir);
}
END_TEST

/* The lab saves where preset_user_dir says and --preset searches there: one rule, in which a
 * relative XDG_CONFIG_HOME is ignored (the XDG spec calls it invalid). */
START_TEST(preset_user_dir_rule)
{
    make_tmpdir();
    unsetenv("MADLAB_PRESETS");
    char home[600], want[700], dir[700];
    snprintf(home, sizeof home, "%s/home", tmpdir);
    MlError e = {{0}};
    ck_assert_int_eq(setenv("HOME", home, 1), 0);

    ck_assert_int_eq(setenv("XDG_CONFIG_HOME", tmpdir, 1), 0);
    ck_assert_msg(preset_user_dir(dir, sizeof dir, &e) == 0, "%s", e.msg);
    snprintf(want, sizeof want, "%s/madlab/presets", tmpdir);
    ck_assert_str_eq(dir, want);

    const char *unusable[] = {"relative/config", "", NULL};
    for (int i = 0; unusable[i]; i++) {
        ck_assert_int_eq(setenv("XDG_CONFIG_HOME", unusable[i], 1), 0);
        ck_assert_msg(preset_user_dir(dir, sizeof dir, &e) == 0, "%s", e.msg);
        snprintf(want, sizeof want, "%s/.config/madlab/presets", home);
        ck_assert_str_eq(dir, want);
    }

    /* saved there (as the lab does), found by name (as --preset does) */
    ck_assert_int_eq(setenv("XDG_CONFIG_HOME", "relative/config", 1), 0);
    ck_assert_msg(make_dirs(dir, &e) == 0, "%s", e.msg);
    Preset p, q;
    ck_assert_int_eq(preset_parse(good_preset, "mine.preset", &p, &e), 0);
    char path[800], found[800];
    snprintf(path, sizeof path, "%s/mine.preset", dir);
    ck_assert_msg(preset_save(&p, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(preset_find("mine", found, sizeof found), 0);
    ck_assert_str_eq(found, path);
    ck_assert_msg(preset_load("mine", &q, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(q.width, p.width);

    /* neither usable: one line saying so */
    unsetenv("HOME");
    ck_assert_int_eq(preset_user_dir(dir, sizeof dir, &e), -1);
    ck_assert_msg(strstr(e.msg, "HOME") && strstr(e.msg, "XDG_CONFIG_HOME"), "%s", e.msg);
    /* too long for the buffer */
    ck_assert_int_eq(setenv("XDG_CONFIG_HOME", tmpdir, 1), 0);
    ck_assert_int_eq(preset_user_dir(dir, 8, &e), -1);
    ck_assert_msg(strstr(e.msg, tmpdir), "%s", e.msg);
    rm_rf(tmpdir);
}
END_TEST

typedef struct {
    int n, failed;
    char msg[1024];
} Shipped;

static void load_one(const char *name, const char *path, void *ctx)
{
    Shipped *sh = ctx;
    Preset p;
    MlError e = {{0}};
    sh->n++;
    if (preset_load(name, &p, &e) != 0) {
        sh->failed++;
        snprintf(sh->msg, sizeof sh->msg, "%s", e.msg);
    } else if (strcmp(p.name, name) != 0 || !p.description[0] || p.stack.n == 0) {
        sh->failed++;
        snprintf(sh->msg, sizeof sh->msg, "%s: incomplete", path);
    }
}

/* Iso-state: the state knobs found by trying them, the budget shared, the refusals. */
static void fit(const char *stack, int width, int L, double target, StackSpec *out, int want_rc,
                MlError *err)
{
    StackSpec in;
    ck_assert_msg(stack_parse(stack, "t", width, &in, err) == 0, "%s", err->msg);
    ck_assert_int_eq(stack_fit_state(&in, width, L, target, out, err), want_rc);
}

START_TEST(fit_state_budget)
{
    StackSpec out;
    MlError err;
    char text[1024];
    double st, pa;
    /* mamba at width 128: 2 x 256 x (d_state + 3); 4096 = two layers of d_state 5 */
    fit("mamba swiglu mamba swiglu", 128, 128, 4096, &out, 0, &err);
    stack_format(&out, text, sizeof text);
    ck_assert_str_eq(text, "mamba(d_state=5) swiglu mamba(d_state=5) swiglu");
    stack_size(&out, 128, 128, &st, &pa);
    ck_assert(st == 4096);
    /* already there: nothing changes (heads=8 and head=16 give 2048 a layer) */
    fit("mh-gated-linear-attention mh-hyena", 128, 128, 4096, &out, 0, &err);
    stack_format(&out, text, sizeof text);
    ck_assert_str_eq(text, "mh-gated-linear-attention mh-hyena");
    /* heads only where they divide the width into even head sizes: 16384 = 128^2 / 1 */
    fit("mh-gated-linear-attention", 128, 128, 16384, &out, 0, &err);
    stack_format(&out, text, sizeof text);
    ck_assert_str_eq(text, "mh-gated-linear-attention(heads=1)");
    /* a sliding window is a fixed state while it is shorter than the sequence: 2 x 128 x w */
    fit("mh-sliding-attention swiglu", 128, 128, 8192, &out, 0, &err);
    stack_size(&out, 128, 128, &st, NULL);
    ck_assert(st == 8192 && out.knob[0][1] == 32);
    fit("mh-sliding-attention(window=0)", 128, 128, 8192, &out, -1, &err);
    ck_assert_msg(strstr(err.msg, "layer(s) 1 mh-sliding-attention grows"), "%s", err.msg);
    /* growing state: the layers named */
    fit("mh-attention swiglu hyena mamba", 128, 128, 4096, &out, -1, &err);
    ck_assert_msg(strstr(err.msg, "layer(s) 1 mh-attention, 3 hyena grows with the sequence length"), "%s", err.msg);
    /* out of reach: the nearest totals either side */
    fit("mh-gated-linear-attention swiglu mamba", 128, 128, 100, &out, -1, &err);
    ck_assert_msg(strstr(err.msg, "nearest reachable: none below, 384 above"), "%s", err.msg);
    fit("mamba", 128, 128, 1e7, &out, -1, &err);
    ck_assert_msg(strstr(err.msg, "below, none above"), "%s", err.msg);
    /* nothing to set */
    fit("swiglu mlp", 128, 128, 4096, &out, -1, &err);
    ck_assert_msg(strstr(err.msg, "no layer of the stack has a knob"), "%s", err.msg);
    /* every fitted stack parses back at its width */
    const char *stacks[] = {"mamba swiglu mamba swiglu", "mh-hyena swiglu mh-hyena swiglu",
                            "mh-gated-linear-attention mamba mh-linear-attention"};
    double targets[] = {1000, 3000, 4096, 12000, 30000};
    for (size_t i = 0; i < sizeof stacks / sizeof *stacks; i++)
        for (size_t t = 0; t < sizeof targets / sizeof *targets; t++) {
            StackSpec in, back;
            ck_assert(stack_parse(stacks[i], "t", 128, &in, &err) == 0);
            if (stack_fit_state(&in, 128, 128, targets[t], &out, &err) != 0) continue;
            stack_size(&out, 128, 128, &st, NULL);
            ck_assert_msg(fabs(st - targets[t]) <= ML_FIT_STATE_TOL * targets[t], "%s at %g: %g",
                          stacks[i], targets[t], st);
            ck_assert(stack_format(&out, text, sizeof text) == 0);
            ck_assert_msg(stack_parse(text, "t", 128, &back, &err) == 0, "%s: %s", text, err.msg);
        }
}
END_TEST

START_TEST(shipped_presets)
{
    const char *top = getenv("top_srcdir");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/presets", top && *top ? top : ".");
    ck_assert_int_eq(setenv("MADLAB_PRESETS", dir, 1), 0);
    static const char *const names[] = {"default", "mh-attention", "attention", "mlp-attention"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        Preset p;
        MlError e = {{0}};
        char path[1200];
        ck_assert_msg(preset_load(names[i], &p, &e) == 0, "%s", e.msg);
        ck_assert_str_eq(p.name, names[i]);
        ck_assert_int_gt(p.stack.n, 0);
        ck_assert(p.description[0] != '\0');
        /* and they come from that directory */
        ck_assert_int_eq(preset_find(names[i], path, sizeof path), 0);
        ck_assert_msg(strncmp(path, dir, strlen(dir)) == 0, "%s not in %s", path, dir);
    }
    Preset p;
    MlError e = {{0}};
    ck_assert_int_eq(preset_load("default", &p, &e), 0);
    char buf[256];
    ck_assert_int_eq(stack_format(&p.stack, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "mh-attention swiglu mh-attention swiglu");

    Shipped sh = {0};
    int n = preset_list(load_one, &sh);
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(sh.n, n);
    ck_assert_msg(sh.failed == 0, "%d presets fail to load: %s", sh.failed, sh.msg);
}
END_TEST

static Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("stack");
    tcase_add_test(tc, parse_plain);
    tcase_add_test(tc, parse_knobs);
    tcase_add_test(tc, parse_max_layers);
    tcase_add_test(tc, error_unknown_layer);
    tcase_add_test(tc, error_unknown_knob);
    tcase_add_test(tc, error_range);
    tcase_add_test(tc, error_not_integer);
    tcase_add_test(tc, error_paren);
    tcase_add_test(tc, error_empty);
    tcase_add_test(tc, error_heads);
    tcase_add_test(tc, error_quotes_characters);
    tcase_add_test(tc, error_keeps_output);
    tcase_add_test(tc, enumerated_knob);
    tcase_add_test(tc, format_round_trip);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("preset");
    tcase_add_test(tp, preset_good);
    tcase_add_test(tp, preset_bad);
    tcase_add_test(tp, preset_load_dir);
    tcase_add_test(tp, preset_too_large);
    tcase_add_test(tp, preset_save_round_trip);
    tcase_add_test(tp, preset_user_dir_rule);
    tcase_add_test(tp, shipped_presets);
    tcase_add_test(tp, fit_state_budget);
    suite_add_tcase(s, tp);
    return s;
}

int main(void) { return run_suite(stack_suite()); }
