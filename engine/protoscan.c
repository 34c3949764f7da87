/* A directory of result files for one protocol and model: which runs are done (a missing file is
 * a run to do; a broken or foreign one is reported and run again), the aggregation of spec 3.4
 * (per setting the best test accuracy over its runs, per task the mean over its settings, the
 * MAD score the mean over the tasks), its CSVs, and running what is missing. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config.h"
#include "internal.h"
#include "protocol.h"
#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run i of p: its setting, lr and wd, its id and DIR/<id>.result. */
static void run_file(const Protocol *p, int i, const char *dir, int *si, double *lr, double *wd,
                     char *id, size_t idn, char *path, size_t pathn)
{
    protocol_run_at(p, i, si, lr, wd);
    protocol_run_id(&p->settings[*si], *lr, *wd, id, idn);
    snprintf(path, pathn, "%s/%s.result", dir, id);
}

void proto_scan_free(ProtoScan *s)
{
    free(s->done);
    free(s->results);
    free(s->setting);
    memset(s, 0, sizeof *s);
}

static int same_num(double a, double b) { return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b)); }

/* Why r is not the result of run i for this model, or NULL if it is. */
static const char *mismatch(const Protocol *p, const ProtoSetting *s, double lr, double wd,
                            const RunResult *r, const char *stack, int width, NormKind norm)
{
    if (strcmp(r->task, s->task)) return "its task";
    if (!task_cfg_equal(&r->cfg, &s->cfg)) return "its task settings";
    if (strcmp(r->setting, s->name)) return "its setting name";
    if (!same_num(r->lr, lr) || !same_num(r->wd, wd)) return "its lr or wd";
    if (r->epochs != p->epochs || r->batch != p->batch || r->seed != p->seed ||
        !same_num(r->stop_acc, p->stop_acc))
        return "its epochs, batch, seed or stop accuracy (another protocol)";
    if (strcmp(r->stack, stack) || r->width != width || r->norm != norm) return "its model";
    return NULL;
}

int proto_scan(const Protocol *p, const char *dir, const char *stack, int width, NormKind norm,
               void (*warn)(void *ctx, const char *msg), void *ctx, ProtoScan *s, MlError *err)
{
    memset(s, 0, sizeof *s);
    s->p = p;
    s->n_runs = protocol_n_runs(p);
    s->done = calloc((size_t)s->n_runs, 1);
    s->results = calloc((size_t)s->n_runs, sizeof *s->results);
    s->setting = calloc((size_t)p->n_settings, sizeof *s->setting);
    if (!s->done || !s->results || !s->setting) {
        proto_scan_free(s);
        return ml_fail(err, "out of memory scanning %s", dir);
    }
    for (int i = 0; i < s->n_runs; i++) {
        int si;
        double lr, wd;
        char id[256], path[4096];
        run_file(p, i, dir, &si, &lr, &wd, id, sizeof id, path, sizeof path);
        MlError e;
        int missing = 0;
        if (access(path, F_OK) != 0 && errno == ENOENT) missing = 1;
        else if (run_result_read(path, &s->results[i], &e) == 0) {
            const char *why = mismatch(p, &p->settings[si], lr, wd, &s->results[i], stack, width, norm);
            if (!why) {
                s->done[i] = 1;
                s->n_done++;
                continue;
            }
            snprintf(e.msg, sizeof e.msg, "%.300s: not this run's result: %s differ from run %.100s", path, why, id);
            s->n_foreign++;
        }
        if (!missing) {
            s->n_bad++;
            if (warn) warn(ctx, e.msg);
        }
    }
    /* spec 3.4: per setting the best run, per task the mean of its settings, then the mean */
    for (int si = 0; si < p->n_settings; si++) {
        ProtoSettingScore *ss = &s->setting[si];
        ss->acc = -1;
        int per = p->n_lr * p->n_wd;
        for (int j = 0; j < per; j++) {
            int i = si * per + j;
            if (!s->done[i]) continue;
            ss->runs_done++;
            if (s->results[i].best_test_acc > ss->acc) {
                ss->acc = s->results[i].best_test_acc;
                ss->lr = s->results[i].lr;
                ss->wd = s->results[i].wd;
            }
        }
        const char *task = p->settings[si].task;
        int t = 0;
        while (t < s->n_tasks && strcmp(s->task[t].task, task)) t++;
        if (t == s->n_tasks) {
            if (t == PROTO_MAX_TASKS) {
                proto_scan_free(s);
                return ml_fail(err, "protocol %s has more than %d tasks", p->name, PROTO_MAX_TASKS);
            }
            s->task[s->n_tasks++] = (ProtoTaskScore){.task = task, .score = 0};
        }
        s->task[t].n_settings++;
        if (ss->acc >= 0) {
            s->task[t].score += ss->acc;
            s->task[t].settings_scored++;
        }
    }
    double sum = 0;
    for (int t = 0; t < s->n_tasks; t++) {
        ProtoTaskScore *ts = &s->task[t];
        ts->score = ts->settings_scored ? ts->score / ts->settings_scored : -1;
        if (ts->settings_scored) {
            sum += ts->score;
            s->tasks_scored++;
        }
    }
    s->mad = s->tasks_scored ? sum / s->tasks_scored : -1;
    return 0;
}

static void num_or_nan(CsvOut *c, double v) { csv_out_num(c, v >= 0 ? v : NAN); }

int proto_write_csv(const ProtoScan *s, const char *dir, MlError *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/mad.csv", dir);
    CsvOut *c = csv_out_open(path, err);
    if (!c) return -1;
    csv_out_text(c, "task");
    csv_out_text(c, "score");
    csv_out_text(c, "settings");
    csv_out_end_row(c);
    int total = 0;
    for (int t = 0; t < s->n_tasks; t++) {
        csv_out_text(c, s->task[t].task);
        num_or_nan(c, s->task[t].score);
        csv_out_int(c, s->task[t].settings_scored);
        csv_out_end_row(c);
        total += s->task[t].settings_scored;
    }
    csv_out_text(c, "mad");
    num_or_nan(c, s->mad);
    csv_out_int(c, total);
    csv_out_end_row(c);
    if (csv_out_commit(c, err) != 0) return -1;

    snprintf(path, sizeof path, "%s/settings.csv", dir);
    if (!(c = csv_out_open(path, err))) return -1;
    static const char *const head[] = {"task", "setting", "vocab", "seq_len", "n_train", "n_test",
                                       "frac_noise", "noise_vocab", "k_motif", "v_motif", "n_copy",
                                       "multi_query", "best_lr", "best_wd", "best_test_acc",
                                       "runs_done"};
    for (size_t i = 0; i < sizeof head / sizeof *head; i++) csv_out_text(c, head[i]);
    csv_out_end_row(c);
    for (int si = 0; si < s->p->n_settings; si++) {
        const ProtoSetting *ps = &s->p->settings[si];
        const ProtoSettingScore *ss = &s->setting[si];
        csv_out_text(c, ps->task);
        csv_out_text(c, ps->name);
        csv_out_int(c, ps->cfg.vocab);
        csv_out_int(c, ps->cfg.seq_len);
        csv_out_int(c, ps->cfg.n_train);
        csv_out_int(c, ps->cfg.n_test);
        csv_out_num(c, ps->cfg.frac_noise);
        csv_out_int(c, ps->cfg.noise_vocab);
        csv_out_int(c, ps->cfg.k_motif);
        csv_out_int(c, ps->cfg.v_motif);
        csv_out_int(c, ps->cfg.n_copy);
        csv_out_int(c, ps->cfg.multi_query);
        num_or_nan(c, ss->acc >= 0 ? ss->lr : -1);
        num_or_nan(c, ss->acc >= 0 ? ss->wd : -1);
        num_or_nan(c, ss->acc);
        csv_out_int(c, ss->runs_done);
        csv_out_end_row(c);
    }
    return csv_out_commit(c, err);
}

/* ---- running what is missing ---- */

int proto_run(const Protocol *p, const char *dir, const StackSpec *stack, int width, NormKind norm,
              ProtoScan *s, const ProtoDriver *d, MlError *err)
{
    int todo = s->n_runs - s->n_done, k = 0;
    const TrainHooks *h = d->hooks;
    for (int i = 0; i < s->n_runs; i++) {
        if (s->done[i]) continue;
        if (h && h->stop && *h->stop) return 1;
        int si;
        double lr, wd;
        char id[256], path[4096];
        run_file(p, i, dir, &si, &lr, &wd, id, sizeof id, path, sizeof path);
        /* Another process (a second madlab mad, or --emit-jobs lines run elsewhere on the same
         * directory) may have finished it since the scan. */
        RunResult prev;
        MlError ignore;
        char text[1024];
        stack_format(stack, text, sizeof text);
        if (access(path, F_OK) == 0 && run_result_read(path, &prev, &ignore) == 0 &&
            !mismatch(p, &p->settings[si], lr, wd, &prev, text, width, norm)) {
            s->done[i] = 1;
            s->results[i] = prev;
            s->n_done++;
            continue;
        }
        TrainCfg c;
        protocol_train_cfg(p, i, stack, width, norm, &c);
        k++;
        if (d->on_start) d->on_start(d->ctx, k, todo, &c, id);
        TrainResult tr;
        MlError e;
        int rc = d->train(&c, h, &tr, &e);
        if (tr.interrupted) return 1; /* not a result: the run is done again on resume */
        if (rc != 0 && !tr.diverged) {
            if (d->on_end) d->on_end(d->ctx, k, todo, id, NULL, &e);
            continue;
        }
        /* A diverged run is a result: its accuracy is what it reached before the loss blew up,
         * as the reference would keep training on NaN and score what it had. */
        RunResult r;
        run_result_fill(&r, &c, &tr, p->settings[si].name);
        if (run_result_write(path, &r, err) != 0) return -1;
        s->done[i] = 1;
        s->results[i] = r;
        s->n_done++;
        if (d->on_end) d->on_end(d->ctx, k, todo, id, &r, NULL);
    }
    return 0;
}
