/* CSV out: fields survive a round trip through libcsv's parser, and a file is whole or absent.
 * Also the atomic file underneath (engine/fileio.c), make_dirs, the epoch log's rows and the
 * duration format. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "testutil.h"
#include "fileio.h"

#include <csv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char path[512], tmp[600], victim[600];

static int (*default_temp_open)(const char *, int, mode_t);

static void setup(void)
{
    if (!default_temp_open) default_temp_open = atomic_temp_open;
    atomic_temp_open = default_temp_open;
    snprintf(dir, sizeof dir, "%s/madlab-check-csv-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.csv", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path); /* set to the real temporary where one is sought */
    snprintf(victim, sizeof victim, "%s/victim", dir);
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1 << 16);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* ---- reading back with libcsv ---- */

#define MAX_ROWS 8
#define MAX_FIELDS 8
typedef struct {
    char *field[MAX_ROWS][MAX_FIELDS];
    int nfield[MAX_ROWS];
    int row, col;
    int overflow;
} Parsed;

static void on_field(void *s, size_t len, void *data)
{
    Parsed *p = data;
    if (p->row >= MAX_ROWS || p->col >= MAX_FIELDS) {
        p->overflow = 1;
        return;
    }
    char *f = malloc(len + 1);
    memcpy(f, s ? s : "", s ? len : 0);
    f[s ? len : 0] = '\0';
    p->field[p->row][p->col++] = f;
}

static void on_row(int c, void *data)
{
    Parsed *p = data;
    if (p->row < MAX_ROWS) p->nfield[p->row] = p->col;
    p->row++;
    p->col = 0;
}

static void parse_file(const char *p, Parsed *out)
{
    size_t len;
    char *text = slurp(p, &len);
    memset(out, 0, sizeof *out);
    struct csv_parser cp;
    ck_assert_int_eq(csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI), 0);
    ck_assert_uint_eq(csv_parse(&cp, text, len, on_field, on_row, out), len);
    ck_assert_int_eq(csv_fini(&cp, on_field, on_row, out), 0);
    csv_free(&cp);
    free(text);
    ck_assert(!out->overflow);
}

static void free_parsed(Parsed *p)
{
    for (int r = 0; r < MAX_ROWS; r++)
        for (int c = 0; c < MAX_FIELDS; c++) free(p->field[r][c]);
}

START_TEST(round_trip)
{
    static const char *const texts[] = {
        "plain", "with, comma", "with \"quotes\"", "two\nlines", "", "ünïcödé, \"all\"\r\nof it",
    };
    MlError e = {{0}};
    CsvOut *c = csv_out_open(path, &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    /* header */
    csv_out_text(c, "name");
    csv_out_text(c, "value");
    csv_out_text(c, "count");
    csv_out_end_row(c);
    double nums[] = {0.5, -1.25e-7, 123456789.0, 1.0 / 3.0, NAN, INFINITY};
    long ints[] = {0, -1, 42, 2147483647L, -7, 1000000};
    for (int i = 0; i < 6; i++) {
        csv_out_text(c, texts[i]);
        csv_out_num(c, nums[i]);
        csv_out_int(c, ints[i]);
        csv_out_end_row(c);
    }
    ck_assert_msg(csv_out_flush(c, &e) == 0, "%s", e.msg);
    /* until commit only the temporary exists */
    ck_assert_int_eq(count_temps(dir, "out.csv", tmp, sizeof tmp), 1);
    ck_assert(exists(tmp));
    ck_assert(!exists(path));
    csv_out_num(c, -INFINITY);
    csv_out_end_row(c);
    ck_assert_msg(csv_out_commit(c, &e) == 0, "%s", e.msg);
    ck_assert(exists(path));
    ck_assert(!exists(tmp));

    Parsed p;
    parse_file(path, &p);
    ck_assert_int_eq(p.row, 8);
    ck_assert_int_eq(p.nfield[0], 3);
    ck_assert_str_eq(p.field[0][0], "name");
    ck_assert_str_eq(p.field[0][1], "value");
    ck_assert_str_eq(p.field[0][2], "count");
    static const char *const want_num[] = {"0.5", "-1.25e-07", "123456789", "0.333333333", "nan", "inf"};
    static const char *const want_int[] = {"0", "-1", "42", "2147483647", "-7", "1000000"};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(p.nfield[i + 1], 3);
        ck_assert_str_eq(p.field[i + 1][0], texts[i]);
        ck_assert_str_eq(p.field[i + 1][1], want_num[i]);
        ck_assert_str_eq(p.field[i + 1][2], want_int[i]);
        /* numbers read back as what was written */
        if (i < 3) ck_assert(strtod(p.field[i + 1][1], NULL) == nums[i]);
    }
    ck_assert_int_eq(p.nfield[7], 1);
    ck_assert_str_eq(p.field[7][0], "-inf");
    free_parsed(&p);

    /* the exact bytes of a simple row: commas between fields, "\n" at the end */
    c = csv_out_open(path, &e);
    ck_assert_ptr_nonnull(c);
    csv_out_int(c, 1);
    csv_out_num(c, 2.5);
    csv_out_text(c, "a");
    csv_out_text(c, " padded");
    csv_out_text(c, "x,y");
    csv_out_end_row(c);
    ck_assert_int_eq(csv_out_commit(c, &e), 0);
    size_t len;
    char *text = slurp(path, &len);
    /* plain words bare, anything a reader could split or trim quoted */
    ck_assert_str_eq(text, "1,2.5,a,\" padded\",\"x,y\"\n");
    free(text);
}
END_TEST

START_TEST(abort_removes_tmp)
{
    MlError e = {{0}};
    CsvOut *c = csv_out_open(path, &e);
    ck_assert_ptr_nonnull(c);
    csv_out_text(c, "x");
    csv_out_end_row(c);
    ck_assert_int_eq(csv_out_flush(c, &e), 0);
    ck_assert_int_eq(count_temps(dir, "out.csv", tmp, sizeof tmp), 1);
    ck_assert(exists(tmp));
    csv_out_abort(c);
    ck_assert(!exists(tmp));
    ck_assert(!exists(path));
    ck_assert_int_eq(count_temps(dir, "out.csv", NULL, 0), 0);
}
END_TEST

START_TEST(commit_replaces)
{
    MlError e = {{0}};
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("old\n", f);
    fclose(f);
    CsvOut *c = csv_out_open(path, &e);
    ck_assert_ptr_nonnull(c);
    csv_out_int(c, 7);
    csv_out_end_row(c);
    /* the old file is untouched until commit */
    size_t len;
    char *text = slurp(path, &len);
    ck_assert_str_eq(text, "old\n");
    free(text);
    ck_assert_int_eq(csv_out_commit(c, &e), 0);
    text = slurp(path, &len);
    ck_assert_str_eq(text, "7\n");
    free(text);
}
END_TEST

START_TEST(open_missing_dir)
{
    char bad[700];
    snprintf(bad, sizeof bad, "%s/no/such/dir/out.csv", dir);
    MlError e = {{0}};
    CsvOut *c = csv_out_open(bad, &e);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(e.msg, bad), "error lacks the path: %s", e.msg);
    ck_assert_msg(strstr(e.msg, "No such file"), "error lacks the reason: %s", e.msg);
}
END_TEST

START_TEST(disk_full)
{
    if (access("/dev/full", W_OK) != 0) return; /* no /dev/full here */
    /* the temporary's descriptor is /dev/full, so every write fails with ENOSPC */
    atomic_temp_open = open_temp_on_full_disk;
    MlError e = {{0}};
    CsvOut *c = csv_out_open(path, &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    ck_assert_int_eq(count_temps(dir, "out.csv", tmp, sizeof tmp), 1);
    for (int i = 0; i < 10000; i++) {
        csv_out_text(c, "some text to fill the buffer");
        csv_out_num(c, i * 0.5);
        csv_out_end_row(c);
    }
    ck_assert_int_eq(csv_out_commit(c, &e), -1);
    ck_assert_msg(strstr(e.msg, path), "error lacks the path: %s", e.msg);
    ck_assert_msg(strstr(e.msg, "disk full"), "error lacks the reason: %s", e.msg);
    ck_assert(!exists(path));
    ck_assert(!exists(tmp));
}
END_TEST

START_TEST(disk_full_flush)
{
    if (access("/dev/full", W_OK) != 0) return;
    atomic_temp_open = open_temp_on_full_disk;
    MlError e = {{0}};
    CsvOut *c = csv_out_open(path, &e);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(count_temps(dir, "out.csv", tmp, sizeof tmp), 1);
    csv_out_int(c, 1);
    csv_out_end_row(c);
    ck_assert_int_eq(csv_out_flush(c, &e), -1);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "disk full"), "%s", e.msg);
    /* the error stays */
    ck_assert_int_eq(csv_out_flush(c, &e), -1);
    csv_out_abort(c);
    ck_assert(!exists(tmp));
    ck_assert(!exists(path));
}
END_TEST

/* ---- the atomic file underneath ---- */

static void write_file(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(atomic_commit_whole)
{
    mode_t old_mask = umask(022);
    MlError e = {{0}};
    AtomicFile *f = atomic_open(path, &e);
    ck_assert_msg(f != NULL, "%s", e.msg);
    size_t want = 0;
    for (int i = 0; i < 20000; i++) {
        int k = fprintf(atomic_stream(f), "line %d of a long file\n", i);
        ck_assert_int_gt(k, 0);
        want += (size_t)k;
    }
    /* nothing at the target until commit; one temporary beside it */
    ck_assert(!exists(path));
    ck_assert_int_eq(count_temps(dir, "out.csv", tmp, sizeof tmp), 1);
    ck_assert_int_eq(atomic_commit(f, &e), 0);
    size_t len;
    char *text = malloc(want + 1);
    FILE *in = fopen(path, "rb");
    ck_assert_ptr_nonnull(in);
    len = fread(text, 1, want + 1, in);
    fclose(in);
    ck_assert_uint_eq(len, want);
    ck_assert(!strncmp(text, "line 0 of", 9));
    ck_assert(!strncmp(text + want - 30, "line 19999 of a long file\n", 26) ||
              strstr(text + want - 40, "line 19999 of a long file\n"));
    free(text);
    ck_assert(!exists(tmp));
    ck_assert_int_eq(count_temps(dir, "out.csv", NULL, 0), 0);
    /* made as fopen would: 0666 less the umask */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    umask(old_mask);
}
END_TEST

START_TEST(atomic_abort_leaves_nothing)
{
    MlError e = {{0}};
    AtomicFile *f = atomic_open(path, &e);
    ck_assert_ptr_nonnull(f);
    fputs("half a file", atomic_stream(f));
    fflush(atomic_stream(f));
    atomic_abort(f);
    ck_assert(!exists(path));
    ck_assert_int_eq(count_temps(dir, "out.csv", NULL, 0), 0);

    /* an old file stays as it was */
    write_file(path, "old\n");
    f = atomic_open(path, &e);
    ck_assert_ptr_nonnull(f);
    fputs("new", atomic_stream(f));
    atomic_abort(f);
    size_t len;
    char *text = slurp(path, &len);
    ck_assert_str_eq(text, "old\n");
    free(text);
    ck_assert_int_eq(count_temps(dir, "out.csv", NULL, 0), 0);
}
END_TEST

/* A link planted at the temporary's old fixed name (PATH.tmp) is never written through. */
START_TEST(atomic_ignores_planted_link)
{
    write_file(victim, "precious\n");
    ck_assert_int_eq(symlink(victim, tmp), 0);
    MlError e = {{0}};
    CsvOut *c = csv_out_open(path, &e);
    ck_assert_msg(c != NULL, "%s", e.msg);
    csv_out_text(c, "x");
    csv_out_end_row(c);
    ck_assert_int_eq(csv_out_commit(c, &e), 0);
    size_t len;
    char *text = slurp(victim, &len);
    ck_assert_str_eq(text, "precious\n");
    free(text);
    text = slurp(path, &len);
    ck_assert_str_eq(text, "x\n");
    free(text);
    struct stat st;
    ck_assert_int_eq(lstat(tmp, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
}
END_TEST

/* Someone who wins the race to the temporary's very name with a link: open fails (O_EXCL,
 * O_NOFOLLOW) and a fresh name is tried, so the link's target is never opened. */
static int planted;
static int plant_then_open(const char *p, int flags, mode_t mode)
{
    if (!planted++) ck_assert_int_eq(symlink(victim, p), 0);
    return open(p, flags, mode);
}

START_TEST(atomic_never_follows_a_link)
{
    write_file(victim, "precious\n");
    planted = 0;
    atomic_temp_open = plant_then_open;
    MlError e = {{0}};
    ck_assert_msg(atomic_write_text(path, "new\n", &e) == 0, "%s", e.msg);
    ck_assert_int_eq(planted, 2); /* the planted name refused, the next one used */
    size_t len;
    char *text = slurp(victim, &len);
    ck_assert_str_eq(text, "precious\n");
    free(text);
    text = slurp(path, &len);
    ck_assert_str_eq(text, "new\n");
    free(text);
}
END_TEST

START_TEST(atomic_errors_name_the_target)
{
    /* a directory where the file should go: the rename fails, the temporary goes */
    ck_assert_int_eq(mkdir(path, 0755), 0);
    MlError e = {{0}};
    ck_assert_int_eq(atomic_write_text(path, "x\n", &e), -1);
    ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "cannot write"), "%s", e.msg);
    ck_assert_int_eq(count_temps(dir, "out.csv", NULL, 0), 0);
    /* a full disk */
    if (access("/dev/full", W_OK) == 0) {
        char full[600];
        snprintf(full, sizeof full, "%s/full.txt", dir);
        atomic_temp_open = open_temp_on_full_disk;
        ck_assert_int_eq(atomic_write_text(full, "x\n", &e), -1);
        ck_assert_msg(strstr(e.msg, full) && strstr(e.msg, "disk full"), "%s", e.msg);
        ck_assert(!exists(full));
        ck_assert_int_eq(count_temps(dir, "full.txt", NULL, 0), 0);
    }
}
END_TEST

START_TEST(make_dirs_nested)
{
    char deep[700], file[700], below[800];
    snprintf(deep, sizeof deep, "%s/a/b/c", dir);
    MlError e = {{0}};
    ck_assert_msg(make_dirs(deep, &e) == 0, "%s", e.msg);
    struct stat st;
    ck_assert(stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
    ck_assert_int_eq(make_dirs(deep, &e), 0); /* there already: fine */
    snprintf(file, sizeof file, "%s/a/file", dir);
    write_file(file, "x");
    snprintf(below, sizeof below, "%s/d", file);
    ck_assert_int_eq(make_dirs(below, &e), -1);
    ck_assert_msg(strstr(e.msg, below), "%s", e.msg);
    ck_assert_int_eq(make_dirs(file, &e), -1);
    ck_assert_msg(strstr(e.msg, file) && strstr(e.msg, "not a directory"), "%s", e.msg);
}
END_TEST

START_TEST(epoch_log_rows)
{
    MlError e = {{0}};
    CsvOut *c = csv_out_open(path, &e);
    ck_assert_ptr_nonnull(c);
    epoch_csv_header(c);
    EpochStats s = {.epoch = 3, .train_loss = 2.5, .test_loss = 2.25, .train_acc = 0.5,
                    .test_acc = 0.75, .test_acc_micro = 0.875, .lr = 5e-4, .seconds = 1.5,
                    .tokens_per_s = 12000};
    /* each row says which run it is: a task that reads n_copy but not frac_noise */
    TrainCfg t;
    train_cfg_default(&t);
    t.task_name = "selective-copying";
    t.task = task_find(t.task_name)->defaults;
    t.task.vocab = 16, t.task.seq_len = 32, t.task.n_train = 64, t.task.n_test = 16;
    t.task.n_copy = 4, t.task.multi_query = 1;
    t.lr = 0.001, t.wd = 0.1, t.batch = 16, t.seed = 7;
    RunCsvMeta m = {.id = 3, .stack = "mamba, swiglu", .train = &t, .status = "stopped"};
    epoch_csv_row(c, &m, &s);
    ck_assert_int_eq(csv_out_commit(c, &e), 0);
    size_t len;
    char *text = slurp(path, &len);
    ck_assert_str_eq(text, "run_id,stack,task,vocab,seq_len,n_train,n_test,frac_noise,noise_vocab,"
                           "k_motif,v_motif,n_copy,multi_query,lr,wd,batch,seed,status,"
                           "epoch,train_loss,test_loss,train_acc,test_acc,test_acc_micro,lr_now,"
                           "seconds,tokens_per_s\n"
                           "3,\"mamba, swiglu\",selective-copying,16,32,64,16,\"\",\"\",\"\",\"\",4,1,0.001,0.1,16,7,"
                           "stopped,3,2.5,2.25,0.5,0.75,0.875,0.0005,1.5,12000\n");
    /* the setting in words: the knobs the task reads, and those off its defaults */
    char w[256];
    task_setting_text(task_find(t.task_name), &t.task, w, sizeof w);
    ck_assert_str_eq(w, "vocab 16 seq_len 32 n_train 64 n_test 16 n_copy 4");
    task_setting_diff(task_find(t.task_name), &task_find(t.task_name)->defaults, w, sizeof w);
    ck_assert_str_eq(w, "");
    free(text);
}
END_TEST

START_TEST(duration_format)
{
    char b[32];
    format_duration(42, b, sizeof b);
    ck_assert_str_eq(b, "42s");
    format_duration(185, b, sizeof b);
    ck_assert_str_eq(b, "3m05s");
    format_duration(3720, b, sizeof b);
    ck_assert_str_eq(b, "1h02m");
    format_duration(1e10, b, sizeof b);
    ck_assert_str_eq(b, "2777777h46m");
    format_duration(NAN, b, sizeof b);
    ck_assert_str_eq(b, "--");
    format_duration(-1, b, sizeof b);
    ck_assert_str_eq(b, "--");
}
END_TEST

static Suite *csv_suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("csv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, abort_removes_tmp);
    tcase_add_test(tc, commit_replaces);
    tcase_add_test(tc, open_missing_dir);
    tcase_add_test(tc, disk_full);
    tcase_add_test(tc, disk_full_flush);
    tcase_add_test(tc, atomic_commit_whole);
    tcase_add_test(tc, atomic_abort_leaves_nothing);
    tcase_add_test(tc, atomic_ignores_planted_link);
    tcase_add_test(tc, atomic_never_follows_a_link);
    tcase_add_test(tc, atomic_errors_name_the_target);
    tcase_add_test(tc, make_dirs_nested);
    tcase_add_test(tc, epoch_log_rows);
    tcase_add_test(tc, duration_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(csv_suite()); }
