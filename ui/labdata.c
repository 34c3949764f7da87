/* The lab's data that is not curses: run history, results table, export, presets. */
#include "config.h"
#include "labdata.h"
#include "protocol.h"
#include "fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void labdata_init(LabData *d)
{
    memset(d, 0, sizeof *d);
    while (task_kinds[d->n_tasks] && d->n_tasks < LAB_MAX_TASKS) d->n_tasks++;
    d->marked[0] = d->marked[1] = -1;
}

void labdata_free(LabData *d)
{
    for (int i = 0; i < d->nruns; i++) {
        RunHist *h = &d->runs[i];
        free(h->sx), free(h->sy), free(h->ex), free(h->etl), free(h->etr), free(h->eacc), free(h->ep);
    }
    free(d->runs);
    d->runs = NULL;
    d->nruns = 0;
}

int labdata_task_index(const LabData *d, const char *task_name)
{
    for (int i = 0; i < d->n_tasks; i++)
        if (!strcmp(task_kinds[i]->name, task_name)) return i;
    return -1;
}

/* ---------------- run history ---------------- */

RunHist *history_slot(LabData *d, int id)
{
    if (id < 0) return NULL;
    if (id >= d->nruns) {
        int n = id + 16;
        RunHist *h = realloc(d->runs, sizeof *h * n);
        if (!h) return NULL;
        memset(h + d->nruns, 0, sizeof *h * (n - d->nruns));
        d->runs = h;
        d->nruns = n;
    }
    return &d->runs[id];
}

RunHist *history_open(LabData *d, int id, const RunRecord *rec)
{
    RunHist *h = history_slot(d, id);
    if (h && !h->used) {
        h->used = 1;
        h->spec = rec->spec;
        h->state = rec->state;
    }
    return h;
}

/* Doubles the capacity *cap of the n arrays (each of elem bytes) when full. */
static int grow(void **arr[], const size_t *elem, int n, int *cap, int first)
{
    int c = *cap ? 2 * *cap : first;
    for (int j = 0; j < n; j++) {
        void *q = realloc(*arr[j], elem[j] * (size_t)c);
        if (!q) return -1; /* the arrays grown so far keep their contents; cap stays */
        *arr[j] = q;
    }
    *cap = c;
    return 0;
}

int history_add(LabData *d, const MetricPoint *p)
{
    RunHist *h = history_slot(d, p->run);
    if (!h || !h->used) return -1;
    if (p->kind == MP_STEP) {
        if (h->ns == h->cs) {
            void **arr[] = {(void **)&h->sx, (void **)&h->sy};
            size_t el[] = {sizeof(double), sizeof(double)};
            if (grow(arr, el, 2, &h->cs, 256)) return -1;
        }
        h->sx[h->ns] = (double)p->step;
        h->sy[h->ns] = p->loss;
        h->ns++;
        h->state = RUN_RUNNING;
    } else if (p->kind == MP_EPOCH) {
        if (h->ne == h->ce) {
            void **arr[] = {(void **)&h->ex, (void **)&h->etl, (void **)&h->etr, (void **)&h->eacc,
                            (void **)&h->ep};
            size_t el[] = {sizeof(double), sizeof(double), sizeof(double), sizeof(double),
                           sizeof(EpochStats)};
            if (grow(arr, el, 5, &h->ce, 64)) return -1;
        }
        h->ex[h->ne] = (double)p->step;
        h->etl[h->ne] = p->epoch.test_loss;
        h->etr[h->ne] = p->epoch.train_loss;
        h->eacc[h->ne] = p->epoch.test_acc;
        h->ep[h->ne] = p->epoch;
        h->ep[h->ne].model = NULL; /* valid during the callback only */
        h->ne++;
    }
    return 0;
}

void history_finish(LabData *d, int id, const RunRecord *rec)
{
    RunHist *h = history_slot(d, id);
    if (!h || !h->used) return;
    h->state = rec->state;
    h->result = rec->result;
    snprintf(h->error, sizeof h->error, "%s", rec->error);
    results_add(d, id);
}

/* ---------------- results table ---------------- */

void results_setting(const RunSpec *s, char *buf, size_t n)
{
    const TaskKind *t = task_find(s->train.task_name);
    task_setting_diff(t, &s->train.task, buf, n);
    if (!buf[0]) {
        snprintf(buf, n, "defaults");
        return;
    }
    for (const char *const *p = protocol_names; *p; p++) {
        const ProtoSetting *m = protocol_match(protocol_find(*p), s->train.task_name, &s->train.task);
        if (!m) continue;
        if (!strcmp(m->name, *p)) snprintf(buf, n, "%s", *p); /* the quick protocol's one setting */
        else snprintf(buf, n, "%s %s", *p, m->name);
        return;
    }
}

void results_add(LabData *d, int id)
{
    if (id < 0 || id >= d->nruns || !d->runs[id].used) return;
    const RunHist *h = &d->runs[id];
    if (h->ne == 0 || h->scale_job) return; /* nothing measured; a scaling run has its directory */
    int t = labdata_task_index(d, h->spec.train.task_name);
    int text = !strcmp(h->spec.train.task_name, "text");
    if (t < 0 && !text) return;
    char setting[128];
    results_setting(&h->spec, setting, sizeof setting);
    int r;
    for (r = 0; r < d->nrows; r++)
        if (!strcmp(d->rows[r].label, h->spec.label) && !strcmp(d->rows[r].setting, setting)) break;
    if (r == d->nrows) {
        if (d->nrows == LAB_MAX_ROWS) return;
        ResultRow *n = &d->rows[d->nrows++];
        memset(n, 0, sizeof *n);
        snprintf(n->label, sizeof n->label, "%s", h->spec.label);
        snprintf(n->setting, sizeof n->setting, "%s", setting);
        for (int i = 0; i < LAB_MAX_TASKS; i++) n->acc[i] = NAN, n->run[i] = -1;
        n->text_bpb = NAN;
        n->text_run = -1;
    }
    if (text) {
        d->rows[r].text_bpb = bits_per_byte(h->result.best_test_loss);
        d->rows[r].text_run = id;
    } else {
        d->rows[r].acc[t] = h->result.best_test_acc;
        d->rows[r].run[t] = id;
    }
    d->rows[r].last_run = id;
}

double bits_per_byte(double nats) { return nats / log(2.0); }

void lab_stack_label(const char *text, int width, char *buf, size_t n)
{
    if (width != 128) snprintf(buf, n, "%s @%d", text, width);
    else snprintf(buf, n, "%s", text);
}

int results_cols(const LabData *d) { return d->n_tasks + 2; }

const char *corpus_intern(const char *path)
{
    static char paths[32][FILENAME_MAX];
    static int n;
    if (!path || !path[0]) return NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(paths[i], path)) return paths[i];
    if (n == 32 || strlen(path) >= sizeof paths[0]) return NULL;
    snprintf(paths[n], sizeof paths[n], "%s", path);
    return paths[n++];
}

double results_mad(const LabData *d, const ResultRow *r)
{
    double s = 0;
    for (int i = 0; i < d->n_tasks; i++) {
        if (isnan(r->acc[i])) return NAN;
        s += r->acc[i];
    }
    return s / d->n_tasks;
}

double results_cell(const LabData *d, const ResultRow *r, int col)
{
    if (col == d->n_tasks + 2) return r->text_bpb;
    return col <= d->n_tasks ? r->acc[col - 1] : results_mad(d, r);
}

/* qsort has no context argument: the table being sorted */
static const LabData *sorting;

static int sort_cmp(const void *pa, const void *pb)
{
    const ResultRow *a = pa, *b = pb;
    int c = sorting->sort_col, r;
    if (c == 0) r = strcmp(a->label, b->label) ? strcmp(a->label, b->label) : strcmp(a->setting, b->setting);
    else {
        double x = results_cell(sorting, a, c), y = results_cell(sorting, b, c);
        if (isnan(x) && isnan(y)) r = 0;
        else if (isnan(x)) return 1; /* empty cells last either way */
        else if (isnan(y)) return -1;
        else r = x < y ? 1 : x > y ? -1 : 0; /* best first */
        if (c == sorting->n_tasks + 2) r = -r; /* bits per byte: the lowest is the best */
    }
    return sorting->sort_rev ? -r : r;
}

void results_sort(LabData *d)
{
    char a[2][1040] = {"", ""}, st[2][128] = {"", ""};
    for (int i = 0; i < 2; i++)
        if (d->marked[i] >= 0) {
            snprintf(a[i], sizeof a[i], "%s", d->rows[d->marked[i]].label);
            snprintf(st[i], sizeof st[i], "%s", d->rows[d->marked[i]].setting);
        }
    sorting = d;
    qsort(d->rows, d->nrows, sizeof d->rows[0], sort_cmp);
    sorting = NULL;
    for (int i = 0; i < 2; i++)
        if (a[i][0])
            for (int r = 0; r < d->nrows; r++)
                if (!strcmp(d->rows[r].label, a[i]) && !strcmp(d->rows[r].setting, st[i])) d->marked[i] = r;
}

void results_toggle_mark(LabData *d, int r)
{
    int *m = d->marked;
    if (r < 0 || r >= d->nrows) return;
    if (m[0] == r) m[0] = m[1], m[1] = -1;
    else if (m[1] == r) m[1] = -1;
    else if (m[0] < 0) m[0] = r;
    else if (m[1] < 0) m[1] = r;
    else m[0] = m[1], m[1] = r;
}

/* ---------------- export ---------------- */

/* A run goes into an export once it has ended with an epoch, and only once. */
static int exportable(const RunHist *h)
{
    return h->used && h->ne > 0 && !h->exported &&
           (h->state == RUN_DONE || h->state == RUN_STOPPED || h->state == RUN_FAILED);
}

int export_paths(const LabData *d, const char *prefix, char (*paths)[EXPORT_PATH_MAX], int *ids,
                 int max)
{
    int n = 0;
    if (max < 1) return 0;
    snprintf(paths[n], EXPORT_PATH_MAX, "%s-results.csv", prefix);
    ids[n++] = -1;
    for (int i = 0; i < d->nruns && n < max; i++)
        if (exportable(&d->runs[i])) {
            snprintf(paths[n], EXPORT_PATH_MAX, "%s-run%d.csv", prefix, i + 1);
            ids[n++] = i;
        }
    return n;
}

void csv_num_or_empty(CsvOut *c, double v)
{
    if (isnan(v)) csv_out_text(c, "");
    else csv_out_num(c, v);
}

static RunCsvMeta run_meta(int id, const RunHist *h)
{
    return (RunCsvMeta){.id = id + 1, .stack = h->spec.label, .train = &h->spec.train,
                        .status = run_status_word(h->state, &h->result)};
}

void export_results_rows(const LabData *d, CsvOut *c)
{
    run_csv_meta_header(c);
    static const char *const names[] = {"setting", "best_test_acc", "best_epoch", "max_test_acc",
                                        "epochs_run", "mad", "best_test_ppl", "bits_per_byte"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) csv_out_text(c, names[i]);
    csv_out_end_row(c);
    for (int r = 0; r < d->nrows; r++) {
        const ResultRow *row = &d->rows[r];
        for (int t = 0; t <= d->n_tasks; t++) { /* the MAD tasks, then text (bits per byte) */
            int text = t == d->n_tasks, id = text ? row->text_run : row->run[t];
            if (id < 0 || id >= d->nruns) continue;
            const RunHist *h = &d->runs[id];
            RunCsvMeta m = run_meta(id, h);
            run_csv_meta_row(c, &m);
            csv_out_text(c, row->setting);
            csv_out_num(c, h->result.best_test_acc);
            csv_out_int(c, h->result.best_epoch);
            csv_out_num(c, h->result.max_test_acc);
            csv_out_int(c, h->result.epochs_run);
            csv_num_or_empty(c, results_mad(d, row));
            csv_out_num(c, h->result.best_test_ppl);
            csv_num_or_empty(c, text ? bits_per_byte(h->result.best_test_loss) : NAN);
            csv_out_end_row(c);
        }
    }
}

void export_run_rows(int id, const RunHist *h, CsvOut *c)
{
    RunCsvMeta m = run_meta(id, h);
    epoch_csv_header(c);
    for (int e = 0; e < h->ne; e++) epoch_csv_row(c, &m, &h->ep[e]);
}

int export_write(LabData *d, const char *prefix, MlError *err)
{
    int max = d->nruns + 1;
    char(*paths)[EXPORT_PATH_MAX] = malloc(sizeof *paths * max);
    int *ids = malloc(sizeof *ids * max);
    int n = -1;
    if (!paths || !ids) {
        ml_fail(err, "out of memory");
        goto out;
    }
    n = export_paths(d, prefix, paths, ids, max);
    for (int k = 0; k < n; k++) {
        CsvOut *c = csv_out_open(paths[k], err);
        if (!c) {
            n = -1;
            break;
        }
        if (ids[k] < 0) export_results_rows(d, c);
        else export_run_rows(ids[k], &d->runs[ids[k]], c);
        if (csv_out_commit(c, err) != 0) {
            n = -1;
            break;
        }
        if (ids[k] >= 0) d->runs[ids[k]].exported = 1;
    }
out:
    free(paths);
    free(ids);
    return n;
}

/* ---------------- presets ---------------- */

static void preset_cb(const char *name, const char *path, void *ctx)
{
    PresetList *l = ctx;
    if (l->n >= 64) return;
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], name)) return; /* the user's copy shadows */
    snprintf(l->name[l->n], sizeof l->name[0], "%s", name);
    snprintf(l->path[l->n], sizeof l->path[0], "%s", path);
    l->n++;
}

void preset_list_collect(PresetList *l)
{
    l->n = 0;
    preset_list(preset_cb, l);
    for (int i = 0; i < l->n; i++) {
        Preset p;
        MlError err;
        if (preset_load(l->path[i], &p, &err) == 0)
            snprintf(l->stack[i], sizeof l->stack[i], "%.200s @%d", p.stack_text, p.width);
        else
            snprintf(l->stack[i], sizeof l->stack[i], "(does not load: %.200s)", err.msg);
    }
}

int preset_list_index(const PresetList *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], name)) return i;
    return -1;
}

int lab_preset_path(const char *name, char *buf, size_t n, MlError *err)
{
    if (!name[0] || strchr(name, '/') || name[0] == '.')
        return ml_fail(err, "preset name '%s': use letters, digits and - (no / or leading .)", name);
    char dir[1024];
    if (preset_user_dir(dir, sizeof dir, err) != 0) return -1;
    if ((size_t)snprintf(buf, n, "%s/%s.preset", dir, name) >= n)
        return ml_fail(err, "preset path too long: %s/%s.preset", dir, name);
    return 0;
}

int lab_preset_save(const char *path, const char *name, const StackSpec *s, int width,
                    NormKind norm, MlError *err)
{
    Preset p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    snprintf(p.description, sizeof p.description, "saved from the lab");
    if (stack_format(s, p.stack_text, sizeof p.stack_text) != 0)
        snprintf(p.stack_text, sizeof p.stack_text, "(stack too long to show)");
    p.width = width;
    p.norm = norm;
    p.stack = *s;
    char dir[1024];
    if (preset_user_dir(dir, sizeof dir, err) != 0 || make_dirs(dir, err) != 0) return -1;
    return preset_save(&p, path, err);
}
