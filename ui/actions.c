/* What the lab does on every view: runs and the queue, presets, export, the run options, views
 * and quitting; and the facts about the stack that several views show. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "config.h"
#include "labui.h"
#include "protocol.h"
#include "scaling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

/* ---------------- the stack ---------------- */

const TaskKind *lab_task(void) { return task_all[lab.cur_task]; }

int lab_n_tasks(void)
{
    int n = 0;
    while (task_all[n] && n < LAB_MAX_TASKS) n++;
    return n;
}

void layer_cfg_of(const StackSpec *s, int i, int width, int vocab, int L, LayerCfg *c)
{
    layer_cfg_default(s->kind[i], width, vocab, L, c);
    for (int j = 0; j < s->kind[i]->n_knobs && j < ML_MAX_KNOBS; j++) c->knob[j] = s->knob[i][j];
}

void stack_text(const StackSpec *s, char *buf, size_t n)
{
    if (stack_format(s, buf, n) != 0 && n) snprintf(buf, n, "(stack too long to show)");
}

int stack_validate(const StackSpec *s, int width, MlError *err)
{
    char text[1024];
    StackSpec tmp;
    if (stack_format(s, text, sizeof text) != 0) return ml_fail(err, "the stack is too long");
    return stack_parse(text, "stack", width, &tmp, err);
}

void set_stack_text(const char *text, const char *preset)
{
    StackSpec s;
    MlError err;
    if (stack_parse(text, "stack", lab.width, &s, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return;
    }
    lab.stack = s;
    lab.cur_layer = 0;
    snprintf(lab.preset, sizeof lab.preset, "%s", preset ? preset : "");
    lab.demo_stack = 0;
}

/* ---------------- runs ---------------- */

static void scale_run_ended(RunHist *h, const RunRecord *rec);

/* Copies what the runner published since the last call. */
void lab_pull(void)
{
    MetricPoint pts[256];
    uint64_t lost = 0;
    int n;
    while ((n = runner_read(lab.runner, &lab.cursor, pts, 256, &lost)) > 0) {
        for (int i = 0; i < n; i++) {
            const MetricPoint *p = &pts[i];
            RunRecord rec;
            RunHist *h = history_slot(&lab.data, p->run);
            if (!h) continue;
            if (!h->used) {
                if (runner_record(lab.runner, p->run, &rec) != 0) continue;
                history_open(&lab.data, p->run, &rec);
            }
            if (p->kind != MP_END) {
                history_add(&lab.data, p);
                continue;
            }
            int have = runner_record(lab.runner, p->run, &rec) == 0;
            if (have) history_finish(&lab.data, p->run, &rec);
            else results_add(&lab.data, p->run);
            if (h->state == RUN_FAILED) lab_status(1, "run #%d failed: %s", p->run + 1, h->error);
            else if (h->state == RUN_DONE && !strcmp(h->spec.train.task_name, "text"))
                lab_status(0, "run #%d (text) done: validation %.4f bits/byte, perplexity %.3f per "
                           "byte", p->run + 1, bits_per_byte(h->result.best_test_loss),
                           exp(h->result.best_test_loss));
            else if (h->state == RUN_DONE)
                lab_status(0, "run #%d (%s) done after %d epochs: test accuracy %.3f at epoch %d, "
                           "its lowest test perplexity (the results table's score)",
                           p->run + 1, h->spec.train.task_name, h->result.epochs_run,
                           h->result.best_test_acc, h->result.best_epoch);
            else if (h->ne || h->ns)
                lab_status(0, "run #%d stopped after %d epochs", p->run + 1, h->result.epochs_run);
            if (have && h->scale_job) scale_run_ended(h, &rec);
        }
        lab.dirty = 1;
    }
    if (lost) lab_status(1, "the display missed %llu points (the ring was full)", (unsigned long long)lost);
    RunSnapshot s;
    runner_snapshot(lab.runner, &s);
    if (s.id >= 0 && s.state == RUN_PAUSED && lab.snap.state != RUN_PAUSED)
        lab_status(0, "run #%d paused: p resumes (paused time is not counted in elapsed or ETA)", s.id + 1);
    if (memcmp(&s, &lab.snap, sizeof s)) lab.dirty = 1;
    lab.snap = s;
}

int make_spec(RunSpec *s, int task, int epochs)
{
    if (lab.stack.n == 0) {
        lab_status(1, "the stack is empty: add a layer with a (or build one with s) first");
        return -1;
    }
    memset(s, 0, sizeof *s);
    train_cfg_default(&s->train);
    s->train.task_name = task_all[task]->name;
    s->train.task = lab.task_cfg[task];
    s->train.width = lab.width;
    s->train.norm = lab.norm;
    s->train.stack = lab.stack;
    s->train.epochs = epochs;
    s->train.batch = lab.batch;
    s->train.lr = lab.lr;
    s->train.wd = lab.wd;
    s->train.seed = (uint64_t)lab.seed;
    char text[1024];
    stack_text(&lab.stack, text, sizeof text);
    lab_stack_label(text, lab.width, s->label, sizeof s->label);
    return 0;
}

int enqueue(const RunSpec *s)
{
    MlError err;
    int id = runner_enqueue(lab.runner, s, &err);
    if (id < 0) {
        lab_status(1, "cannot start the run: %s", err.msg);
        return -1;
    }
    RunRecord rec;
    if (runner_record(lab.runner, id, &rec) == 0) history_open(&lab.data, id, &rec);
    lab_status(0, "run #%d queued: %s on %s, %d epochs", id + 1, s->label, s->train.task_name,
               s->train.epochs);
    return id;
}

static void act_run(void)
{
    RunSpec s;
    if (make_spec(&s, lab.cur_task, lab.epochs) != 0) return;
    int busy = runner_busy(lab.runner);
    lab.overlay[0] = lab.overlay[1] = -1;
    enqueue(&s);
    if (!busy) lab.view = V_RUN;
}

/* The quick MAD protocol (engine/protocol.c) for the current stack: its six runs fill one row
 * of the results table, whose MAD column is then the quick protocol's MAD score. */
static void act_queue_tasks(void)
{
    const Protocol *p = protocol_find("quick");
    int n = 0, busy = runner_busy(lab.runner);
    for (int i = 0; p && i < protocol_n_runs(p); i++) {
        RunSpec s;
        if (make_spec(&s, 0, p->epochs)) return; /* the label and checks; train is set below */
        protocol_train_cfg(p, i, &lab.stack, lab.width, lab.norm, &s.train);
        enqueue(&s);
        n++;
    }
    lab_status(0, "queued the quick MAD protocol for the stack: %d runs (see madlab(1), --protocol quick)",
               n);
    if (!busy) lab.view = V_RUN;
}

/* ---------------- scaling ---------------- */

const char *lab_corpus(void)
{
    for (int i = 0; i < lab_n_tasks(); i++)
        if (task_all[i]->generate) return lab.task_cfg[i].corpus;
    return NULL;
}

int lab_scale_add(const char *dir, const char *mad_dir, MlError *err)
{
    int at = 0;
    while (at < lab.n_scale && strcmp(lab.scale[at].dir, dir)) at++;
    if (at < lab.n_scale && !mad_dir && lab.scale[at].mad_dir[0]) mad_dir = lab.scale[at].mad_dir;
    ScaleSet *s = malloc(sizeof *s);
    if (!s) return ml_fail(err, "out of memory loading %s", dir);
    char mad[sizeof s->mad_dir];
    snprintf(mad, sizeof mad, "%s", mad_dir ? mad_dir : ""); /* it may be the set's own, replaced */
    if (scale_set_load(dir, mad[0] ? mad : NULL, s, err) != 0) {
        free(s);
        return -1;
    }
    if (at == lab.n_scale) {
        ScaleSet *n = realloc(lab.scale, sizeof *n * (size_t)(lab.n_scale + 1));
        if (!n) {
            free(s);
            return ml_fail(err, "out of memory loading %s", dir);
        }
        lab.scale = n;
        lab.n_scale++;
    }
    lab.scale[at] = *s;
    free(s);
    lab.dirty = 1;
    return at;
}

void lab_scale_load_own(void)
{
    char root[1024], dir[1400], path[1500];
    MlError err;
    if (lab_data_dir(root, sizeof root, &err) != 0) return;
    snprintf(dir, sizeof dir, "%s/scale", root);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        char claim[1600];
        snprintf(claim, sizeof claim, "%s/scale.run", path);
        /* what is not a scaling directory of its own is left alone, silently: it is not ours */
        if (names[i]->d_name[0] != '.' && access(claim, F_OK) == 0) lab_scale_add(path, NULL, &err);
        free(names[i]);
    }
    if (n >= 0) free(names);
}

/* The job whose directory is dir, or -1. */
static int job_of_dir(const char *dir)
{
    for (int k = 0; k < lab.n_jobs; k++)
        if (!strcmp(lab.jobs[k]->dir, dir)) return k;
    return -1;
}

int queue_scale(const ScaleProtocol *p)
{
    MlError err;
    char root[1024], text[ML_STACK_TEXT_MAX], label[1040];
    if (lab.stack.n == 0) {
        lab_status(1, "the stack is empty: add a layer with a (or build one with s) first");
        return -1;
    }
    const char *corpus = lab_corpus();
    const Corpus *k = corpus_open(corpus, &err);
    if (!k || corpus_check(k, p->seq_len, &err) != 0 || lab_data_dir(root, sizeof root, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    stack_text(&lab.stack, text, sizeof text);
    lab_stack_label(text, lab.width, label, sizeof label);
    ScaleJob *j = malloc(sizeof *j);
    if (!j) {
        lab_status(1, "out of memory for the scaling protocol");
        return -1;
    }
    if (scale_job_prepare(j, p, &lab.stack, lab.width, lab.norm, corpus, root, label, &err) != 0) {
        lab_status(1, "%s", err.msg);
        free(j);
        return -1;
    }
    int at = job_of_dir(j->dir);
    if (at >= 0) { /* pressed again: what is done now (here or by another process), same queue */
        ScaleJob *o = lab.jobs[at];
        memcpy(o->done, j->done, sizeof o->done);
        o->n_done = j->n_done;
        free(j);
        j = o;
    } else if (lab.n_jobs == LAB_MAX_SCALE_JOBS) {
        lab_status(1, "%d scaling protocols in one session already; start the lab again for more",
                   LAB_MAX_SCALE_JOBS);
        free(j);
        return -1;
    } else {
        at = lab.n_jobs;
        lab.jobs[lab.n_jobs++] = j; /* kept to the end: its runs read its corpus pointer */
    }
    int todo = 0, queued = 0, busy = runner_busy(lab.runner);
    for (int i = 0; i < j->plan.n_runs; i++) todo += !j->done[i] && !j->queued[i];
    for (int i = 0; i < j->plan.n_runs; i++) {
        if (j->done[i] || j->queued[i]) continue;
        RunSpec s;
        scale_job_spec(j, i, &s);
        int id = enqueue(&s);
        if (id < 0) break;
        RunHist *h = history_slot(&lab.data, id);
        if (h) {
            h->scale_job = at + 1;
            h->scale_i = i;
            scale_job_note(j, i, ++queued, todo, h->note, sizeof h->note);
        }
        j->queued[i] = 1;
    }
    int set = lab_scale_add(j->dir, NULL, &err);
    if (set < 0) lab_status(1, "%s", err.msg);
    else lab.scale_cur = set;
    int waiting = 0;
    for (int i = 0; i < j->plan.n_runs; i++) waiting += j->queued[i];
    if (j->n_done == j->plan.n_runs)
        lab_status(0, "all %d runs of that scaling protocol are done (%s): 6 shows them",
                   j->plan.n_runs, j->dir);
    else if (queued == 0)
        lab_status(0, "the scaling protocol's %d remaining runs are queued already (%d of %d done)",
                   waiting, j->n_done, j->plan.n_runs);
    else
        lab_status(0, "queued %d runs of the %s scaling protocol (%d of %d done before) into %s",
                   queued, p->name, j->n_done, j->plan.n_runs, j->dir);
    if (queued && !busy) lab.view = V_RUN;
    return 0;
}

/* A run of a scaling protocol ended: its result file, then the scaling view reads it again. */
static void scale_run_ended(RunHist *h, const RunRecord *rec)
{
    if (h->scale_job < 1 || h->scale_job > lab.n_jobs) return;
    ScaleJob *j = lab.jobs[h->scale_job - 1];
    MlError err;
    int rc = scale_job_end(j, h->scale_i, rec, &err);
    if (rc < 0) {
        lab_status(1, "scaling: %s", err.msg);
        return;
    }
    if (rc == 0) return; /* stopped or failed: the status says so already; run again next time */
    if (lab_scale_add(j->dir, NULL, &err) < 0) {
        lab_status(1, "scaling: %s", err.msg);
        return;
    }
    const ScaleRun *r = &j->plan.run[h->scale_i];
    if (j->n_done == j->plan.n_runs)
        lab_status(0, "the scaling protocol for %s is done (%d runs): 6 shows its frontier; files "
                   "in %s", j->label, j->plan.n_runs, j->dir);
    else
        lab_status(0, "scaling run %s done: %.4f bits/byte (%d of %d runs done)", r->id,
                   bits_per_byte(h->result.final_test_loss), j->n_done, j->plan.n_runs);
}

static void act_pause(void)
{
    if (lab.snap.id >= 0 && (lab.snap.state == RUN_RUNNING || lab.snap.state == RUN_PAUSED)) {
        int p = lab.snap.state != RUN_PAUSED;
        runner_pause(lab.runner, p);
        lab_status(0, p ? "pausing after the current step..." : "resumed");
    } else {
        runner_pause(lab.runner, 0);
        lab_status(0, "no run is going");
    }
}

/* ---------------- presets ---------------- */

void load_preset_path(const char *path)
{
    Preset p;
    MlError err;
    if (preset_load(path, &p, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return;
    }
    lab.stack = p.stack;
    lab.width = p.width;
    lab.norm = p.norm;
    lab.cur_layer = 0;
    snprintf(lab.preset, sizeof lab.preset, "%s", p.name);
    lab_status(0, "loaded preset %s: %s", p.name, p.description);
}

static void do_save(void)
{
    MlError err;
    if (lab_preset_save(lab.pending, lab.pending_name, &lab.stack, lab.width, lab.norm, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return;
    }
    snprintf(lab.preset, sizeof lab.preset, "%s", lab.pending_name);
    lab_status(0, "saved preset %s to %s", lab.pending_name, lab.pending);
}

int save_preset(const char *name)
{
    MlError err;
    if (lab_preset_path(name, lab.pending, sizeof lab.pending, &err) != 0) {
        lab_status(1, "%s", err.msg);
        return -1;
    }
    snprintf(lab.pending_name, sizeof lab.pending_name, "%s", name);
    if (access(lab.pending, F_OK) == 0) {
        char q[600];
        snprintf(q, sizeof q, "%s exists. Overwrite? (y/n)", lab.pending);
        confirm_ask(q, do_save);
        return 0;
    }
    do_save();
    return 0;
}

/* ---------------- export ---------------- */

static void do_export(void)
{
    MlError err;
    int written = export_write(&lab.data, lab.pending, &err);
    if (written < 0) {
        lab_status(1, "export: %s", err.msg);
        return;
    }
    int going = 0;
    for (int i = 0; i < lab.data.nruns; i++)
        going += lab.data.runs[i].used && !lab.data.runs[i].exported && lab.data.runs[i].ne > 0;
    lab_status(0, "exported %d file%s: %s-results.csv and %d new run log%s (a run is exported once%s)",
               written, written == 1 ? "" : "s", lab.pending, written - 1, written == 2 ? "" : "s",
               going ? "; one still going waits for the next export" : "");
}

void export_to(const char *prefix)
{
    int max = lab.data.nruns + 1, exist = 0, n;
    char(*paths)[EXPORT_PATH_MAX] = malloc(sizeof *paths * max);
    int *ids = malloc(sizeof *ids * max);
    if (!paths || !ids) {
        free(paths);
        free(ids);
        lab_status(1, "export: out of memory");
        return;
    }
    n = export_paths(&lab.data, prefix, paths, ids, max);
    for (int k = 0; k < n; k++)
        if (access(paths[k], F_OK) == 0) exist++;
    snprintf(lab.pending, sizeof lab.pending, "%s", prefix);
    if (exist) {
        char q[EXPORT_PATH_MAX + 64];
        snprintf(q, sizeof q, "%d of the %d files (%s...) exist. Overwrite? (y/n)", exist, n, paths[0]);
        confirm_ask(q, do_export);
    }
    free(paths);
    free(ids);
    if (!exist) do_export();
}

static void do_export_scale(void)
{
    MlError err;
    char runs[EXPORT_PATH_MAX], frontier[EXPORT_PATH_MAX];
    export_scale_paths(lab.pending, runs, frontier, sizeof runs);
    if (export_scale_write(lab.scale, lab.n_scale, lab.pending, &err) != 0)
        lab_status(1, "export: %s", err.msg);
    else
        lab_status(0, "exported %s and %s (%d director%s)", runs, frontier, lab.n_scale,
                   lab.n_scale == 1 ? "y" : "ies");
}

void export_scale_to(const char *prefix)
{
    char runs[EXPORT_PATH_MAX], frontier[EXPORT_PATH_MAX];
    if (lab.n_scale == 0) {
        lab_status(1, "export: the scaling view has no directory yet (a adds one, L makes one)");
        return;
    }
    export_scale_paths(prefix, runs, frontier, sizeof runs);
    snprintf(lab.pending, sizeof lab.pending, "%s", prefix);
    if (access(runs, F_OK) == 0 || access(frontier, F_OK) == 0) {
        char q[2 * EXPORT_PATH_MAX + 64];
        snprintf(q, sizeof q, "%s or %s exists. Overwrite? (y/n)", runs, frontier);
        confirm_ask(q, do_export_scale);
    } else {
        do_export_scale();
    }
}

static void do_export_state(void)
{
    MlError err;
    char path[EXPORT_PATH_MAX];
    export_state_path(lab.pending, path, sizeof path);
    if (export_state_write(&lab.data, lab.pending, &err) != 0) lab_status(1, "export: %s", err.msg);
    else lab_status(0, "exported %s (%d stack%s)", path, lab.data.nrows, lab.data.nrows == 1 ? "" : "s");
}

void export_state_to(const char *prefix)
{
    char path[EXPORT_PATH_MAX];
    export_state_path(prefix, path, sizeof path);
    snprintf(lab.pending, sizeof lab.pending, "%s", prefix);
    if (access(path, F_OK) == 0) {
        char q[EXPORT_PATH_MAX + 64];
        snprintf(q, sizeof q, "%s exists. Overwrite? (y/n)", path);
        confirm_ask(q, do_export_state);
    } else {
        do_export_state();
    }
}

/* ---------------- every view ---------------- */

static void quit_now(void) { lab.quit = 1; }

void list_move(int *cur, int n, Action a)
{
    int d = a == ACT_UP ? -1 : a == ACT_DOWN ? 1 : a == ACT_TOP ? -100000 : 100000;
    if (n <= 0) {
        *cur = 0;
        return;
    }
    *cur += d;
    if (*cur < 0) *cur = 0;
    if (*cur >= n) *cur = n - 1;
}

int lab_action(Action a)
{
    switch (a) {
    case ACT_HELP: lab_open(&modal_help); break;
    case ACT_QUIT: {
        /* a stack that is not a preset as it stands would be lost */
        int unsaved = lab.stack.n > 0 && !lab.preset[0] && !lab.demo_stack, scaling = 0;
        for (int k = 0; k < lab.n_jobs; k++)
            for (int i = 0; i < lab.jobs[k]->plan.n_runs; i++) scaling |= lab.jobs[k]->queued[i];
        if (runner_busy(lab.runner) && scaling)
            confirm_ask(unsaved ? "The scaling protocol is going and the stack is not saved (w saves it). "
                                  "Quit and stop it? (L with the same settings resumes it) (y/n)"
                                : "The scaling protocol is going. Quit and stop it? (L with the same "
                                  "settings resumes it) (y/n)", quit_now);
        else if (runner_busy(lab.runner))
            confirm_ask(unsaved ? "A run is going and the stack is not saved (w saves it). Quit and stop it? (y/n)"
                                : "A run is going. Quit and stop it? (y/n)", quit_now);
        else if (unsaved)
            confirm_ask("The stack is not saved as a preset (w saves it). Quit anyway? (y/n)", quit_now);
        else quit_now();
        break;
    }
    case ACT_VIEW_STACK: lab.view = V_STACK; break;
    case ACT_VIEW_TASK: lab.view = V_TASK; break;
    case ACT_VIEW_RUN: lab.view = V_RUN; break;
    case ACT_VIEW_RESULTS: lab.view = V_RESULTS; break;
    case ACT_VIEW_STATE: lab.view = V_STATE; break;
    case ACT_VIEW_SCALE: lab.view = V_SCALE; break;
    case ACT_NEXT_VIEW: {
        int i = 0;
        while (lab_views[i] && lab_views[i]->id != lab.view) i++;
        lab.view = lab_views[i] && lab_views[i + 1] ? lab_views[i + 1]->id : lab_views[0]->id;
        break;
    }
    case ACT_RUN: act_run(); break;
    case ACT_PAUSE: act_pause(); break;
    case ACT_STOP:
        runner_stop(lab.runner);
        runner_pause(lab.runner, 0);
        lab_status(0, "stopping the current run");
        break;
    case ACT_STOP_ALL:
        runner_stop_all(lab.runner);
        runner_pause(lab.runner, 0);
        lab_status(0, "stopping the run and emptying the queue");
        break;
    case ACT_QUEUE_TASKS: act_queue_tasks(); break;
    case ACT_QUEUE_SCALE: form_open(&form_scale_protocol, 0); break;
    case ACT_OPTIONS: form_open(&form_options, 0); break;
    case ACT_LOAD:
        preset_list_collect(&lab.presets);
        lab_open(&modal_presets);
        if (preset_list_index(&lab.presets, lab.preset) >= 0) /* on the loaded one */
            lab.m_cur = preset_list_index(&lab.presets, lab.preset);
        break;
    case ACT_SAVE: form_open(&form_save, 0); break;
    case ACT_EXPORT: form_open(&form_export, 0); break;
    case ACT_REDRAW: clearok(curscr, TRUE); break;
    default: return 0;
    }
    return 1;
}
