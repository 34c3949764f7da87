/* Runs on a background thread: a queue of RunSpecs trained one after another by one worker
 * thread, which publishes into a monitor (a mutex-guarded ring of metric points, the latest
 * snapshot, a record per run) and wakes the reader by writing one byte to a pipe.
 *
 * Pause and stop are requests read by the worker between optimizer steps (in on_step). The
 * trainer's own stop flag is written only by the worker thread itself, so the handoff has no
 * unsynchronised shared variable (ThreadSanitizer runs tests/check_run). */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING 4096 /* points kept for a slow reader; the lab reads them every few ms */

struct Runner {
    pthread_mutex_t mu;
    pthread_cond_t work; /* new run queued, or quit */
    pthread_cond_t resume; /* pause lifted, or stop */
    pthread_t thread;
    int thread_started;
    int pipe_fd[2];
    RunRecord *runs;
    int n_runs, cap_runs, next;
    int paused, stop_current, quit; /* requests, under mu */
    int worker_done;                 /* the worker has returned */
    pthread_cond_t done;
    RunSnapshot snap;
    MetricPoint ring[RING];
    uint64_t head; /* points ever published */
};

const char *run_state_name(RunState s)
{
    switch (s) {
    case RUN_QUEUED: return "queued";
    case RUN_RUNNING: return "running";
    case RUN_PAUSED: return "paused";
    case RUN_DONE: return "done";
    case RUN_STOPPED: return "stopped";
    case RUN_FAILED: return "failed";
    }
    return "?";
}

static void wake(Runner *r)
{
    char c = 1;
    /* Non-blocking: a full pipe already means "wake up". */
    ssize_t w = write(r->pipe_fd[1], &c, 1);
    (void)w;
}

/* Caller holds mu. */
static void push(Runner *r, const MetricPoint *p)
{
    r->ring[r->head % RING] = *p;
    r->head++;
}

Runner *runner_new(MlError *err)
{
    Runner *r = calloc(1, sizeof *r);
    if (!r) {
        ml_fail(err, "out of memory for the run queue");
        return NULL;
    }
    if (pipe(r->pipe_fd) != 0) {
        ml_fail(err, "cannot create the wake pipe: %s", strerror(errno));
        free(r);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(r->pipe_fd[i], F_SETFL, fcntl(r->pipe_fd[i], F_GETFL) | O_NONBLOCK);
        fcntl(r->pipe_fd[i], F_SETFD, FD_CLOEXEC);
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->work, NULL);
    pthread_cond_init(&r->resume, NULL);
    pthread_cond_init(&r->done, NULL);
    r->snap.id = -1;
    return r;
}

int runner_wake_fd(const Runner *r) { return r->pipe_fd[0]; }

void runner_drain_wake(Runner *r)
{
    char buf[256];
    while (read(r->pipe_fd[0], buf, sizeof buf) > 0) {
    }
}

/* ---- the worker ---- */

typedef struct {
    Runner *r;
    int id;
    volatile sig_atomic_t stop; /* the trainer's flag: written and read on the worker thread only */
    long tokens_per_step;
    int epochs;
    double t0, t_last, rate;
    double paused_s; /* time spent paused: not part of elapsed or the ETA */
    long step;
} RunCtx;

static void on_step(void *vctx, int epoch, int step, int steps, double loss)
{
    RunCtx *x = vctx;
    Runner *r = x->r;
    double now = ml_now();
    /* Rate over the last step only, smoothed; the first step of an epoch follows an evaluation
     * (or data generation) and would read too slow. */
    if (step > 1 && now > x->t_last) {
        double inst = x->tokens_per_step / (now - x->t_last);
        x->rate = x->rate > 0 ? 0.8 * x->rate + 0.2 * inst : inst;
    }
    x->t_last = now;
    x->step++;
    pthread_mutex_lock(&r->mu);
    RunSnapshot *s = &r->snap;
    s->epoch = epoch;
    s->step = step;
    s->steps = steps;
    s->global_step = x->step;
    s->last_loss = loss;
    s->tokens_per_s = x->rate;
    s->elapsed_s = now - x->t0 - x->paused_s;
    double done = (double)(epoch - 1) * steps + step, total = (double)x->epochs * steps;
    s->eta_s = s->elapsed_s / done * (total - done);
    MetricPoint p = {.kind = MP_STEP, .run = x->id, .step = x->step, .loss = loss};
    push(r, &p);
    double p0 = r->paused ? ml_now() : 0;
    while (r->paused && !r->stop_current && !r->quit) {
        s->state = r->runs[x->id].state = RUN_PAUSED;
        pthread_mutex_unlock(&r->mu);
        wake(r);
        pthread_mutex_lock(&r->mu);
        pthread_cond_wait(&r->resume, &r->mu);
    }
    if (p0 > 0) { /* the pause counts neither as elapsed time nor in the next step's rate */
        x->paused_s += ml_now() - p0;
        x->t_last = ml_now();
    }
    if (s->state == RUN_PAUSED) s->state = r->runs[x->id].state = RUN_RUNNING;
    if (r->stop_current || r->quit) x->stop = 1;
    pthread_mutex_unlock(&r->mu);
    wake(r);
}

static int on_epoch(void *vctx, const EpochStats *st)
{
    RunCtx *x = vctx;
    Runner *r = x->r;
    pthread_mutex_lock(&r->mu);
    MetricPoint p = {.kind = MP_EPOCH, .run = x->id, .step = x->step, .epoch = *st};
    push(r, &p);
    if (x->rate <= 0) r->snap.tokens_per_s = st->tokens_per_s;
    int stop = r->stop_current || r->quit;
    pthread_mutex_unlock(&r->mu);
    wake(r);
    return stop;
}

static void execute(Runner *r, int id, const RunSpec *spec)
{
    RunCtx x = {.r = r, .id = id, .epochs = spec->train.epochs, .t0 = ml_now()};
    const TaskKind *t = task_find(spec->train.task_name);
    if (t) {
        int L = t->seq_len_out(&spec->train.task);
        int B = spec->train.batch < spec->train.task.n_train ? spec->train.batch
                                                             : spec->train.task.n_train;
        x.tokens_per_step = (long)B * L;
    }
    x.t_last = x.t0;
    TrainHooks h = {.ctx = &x, .on_step = on_step, .on_epoch = on_epoch, .stop = &x.stop};
    TrainResult res;
    MlError err = {{0}};
    int rc = train_run(&spec->train, &h, &res, &err);
    pthread_mutex_lock(&r->mu);
    RunRecord *rec = &r->runs[id];
    rec->result = res;
    if (rc != 0) {
        rec->state = RUN_FAILED;
        snprintf(rec->error, sizeof rec->error, "%s", err.msg[0] ? err.msg : "the run failed");
    } else {
        rec->state = res.interrupted ? RUN_STOPPED : RUN_DONE;
    }
    r->stop_current = 0;
    r->snap.state = rec->state;
    MetricPoint p = {.kind = MP_END, .run = id, .step = x.step, .end = rec->state};
    push(r, &p);
    pthread_mutex_unlock(&r->mu);
    wake(r);
}

static void *worker(void *arg)
{
    Runner *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->quit) {
        if (r->next >= r->n_runs) {
            pthread_cond_wait(&r->work, &r->mu);
            continue;
        }
        int id = r->next++;
        RunSpec spec = r->runs[id].spec;
        r->runs[id].state = RUN_RUNNING;
        r->stop_current = 0;
        RunSnapshot s = {.id = id, .state = RUN_RUNNING, .epochs = spec.train.epochs,
                         .queued = r->n_runs - r->next};
        r->snap = s;
        pthread_mutex_unlock(&r->mu);
        wake(r);
        execute(r, id, &spec);
        pthread_mutex_lock(&r->mu);
    }
    r->worker_done = 1;
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int runner_enqueue(Runner *r, const RunSpec *spec, MlError *err)
{
    if (!task_find(spec->train.task_name))
        return ml_fail(err, "unknown task '%s'", spec->train.task_name ? spec->train.task_name : "(none)");
    pthread_mutex_lock(&r->mu);
    if (r->n_runs == r->cap_runs) {
        int cap = r->cap_runs ? 2 * r->cap_runs : 16;
        RunRecord *n = realloc(r->runs, sizeof *n * cap);
        if (!n) {
            pthread_mutex_unlock(&r->mu);
            return ml_fail(err, "out of memory for the run queue");
        }
        r->runs = n;
        r->cap_runs = cap;
    }
    int id = r->n_runs++;
    memset(&r->runs[id], 0, sizeof r->runs[id]);
    r->runs[id].spec = *spec;
    r->runs[id].state = RUN_QUEUED;
    if (r->snap.id >= 0) r->snap.queued = r->n_runs - r->next;
    if (!r->thread_started) {
        if (pthread_create(&r->thread, NULL, worker, r) != 0) {
            r->n_runs--;
            pthread_mutex_unlock(&r->mu);
            return ml_fail(err, "cannot start the training thread");
        }
        r->thread_started = 1;
    }
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->mu);
    return id;
}

void runner_pause(Runner *r, int paused)
{
    pthread_mutex_lock(&r->mu);
    r->paused = paused;
    pthread_cond_broadcast(&r->resume);
    pthread_mutex_unlock(&r->mu);
    wake(r);
}

void runner_stop(Runner *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->snap.id >= 0 && (r->snap.state == RUN_RUNNING || r->snap.state == RUN_PAUSED))
        r->stop_current = 1;
    pthread_cond_broadcast(&r->resume);
    pthread_mutex_unlock(&r->mu);
}

void runner_stop_all(Runner *r)
{
    pthread_mutex_lock(&r->mu);
    for (int i = r->next; i < r->n_runs; i++) {
        r->runs[i].state = RUN_STOPPED;
        MetricPoint p = {.kind = MP_END, .run = i, .end = RUN_STOPPED};
        push(r, &p);
    }
    r->next = r->n_runs;
    r->snap.queued = 0;
    if (r->snap.id >= 0 && (r->snap.state == RUN_RUNNING || r->snap.state == RUN_PAUSED))
        r->stop_current = 1;
    pthread_cond_broadcast(&r->resume);
    pthread_mutex_unlock(&r->mu);
    wake(r);
}

int runner_busy(Runner *r)
{
    pthread_mutex_lock(&r->mu);
    int busy = r->next < r->n_runs || r->snap.state == RUN_RUNNING || r->snap.state == RUN_PAUSED;
    if (r->snap.id < 0 && r->next >= r->n_runs) busy = 0;
    pthread_mutex_unlock(&r->mu);
    return busy;
}

void runner_snapshot(Runner *r, RunSnapshot *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->snap;
    if (out->id >= 0 && (out->state == RUN_RUNNING || out->state == RUN_PAUSED))
        out->queued = r->n_runs - r->next;
    pthread_mutex_unlock(&r->mu);
}

int runner_read(Runner *r, uint64_t *cursor, MetricPoint *out, int max, uint64_t *lost)
{
    pthread_mutex_lock(&r->mu);
    uint64_t from = *cursor, oldest = r->head > RING ? r->head - RING : 0;
    if (lost) *lost = from < oldest ? oldest - from : 0;
    if (from < oldest) from = oldest;
    int n = 0;
    while (from < r->head && n < max) out[n++] = r->ring[from++ % RING];
    *cursor = from;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int runner_record(Runner *r, int id, RunRecord *out)
{
    pthread_mutex_lock(&r->mu);
    int ok = id >= 0 && id < r->n_runs;
    if (ok) *out = r->runs[id];
    pthread_mutex_unlock(&r->mu);
    return ok ? 0 : -1;
}

int runner_count(Runner *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n_runs;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void destroy(Runner *r)
{
    pthread_cond_destroy(&r->work);
    pthread_cond_destroy(&r->resume);
    pthread_cond_destroy(&r->done);
    pthread_mutex_destroy(&r->mu);
    close(r->pipe_fd[0]);
    close(r->pipe_fd[1]);
    free(r->runs);
    free(r);
}

static void request_quit(Runner *r)
{
    r->quit = 1;
    r->stop_current = 1;
    pthread_cond_broadcast(&r->work);
    pthread_cond_broadcast(&r->resume);
}

void runner_free(Runner *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    request_quit(r);
    int started = r->thread_started;
    pthread_mutex_unlock(&r->mu);
    if (started) pthread_join(r->thread, NULL);
    destroy(r);
}

int runner_shutdown(Runner *r, double timeout_s)
{
    if (!r) return 0;
    pthread_mutex_lock(&r->mu);
    request_quit(r);
    if (r->thread_started && !r->worker_done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = ts.tv_sec + ts.tv_nsec * 1e-9 + timeout_s;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        while (!r->worker_done)
            if (pthread_cond_timedwait(&r->done, &r->mu, &ts) != 0) break;
    }
    int finished = !r->thread_started || r->worker_done;
    pthread_mutex_unlock(&r->mu);
    if (!finished) return -1; /* still inside a step: left to the process exit */
    if (r->thread_started) pthread_join(r->thread, NULL);
    destroy(r);
    return 0;
}
