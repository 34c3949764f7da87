/* The demo (madlab --demo): a tour a speaker can talk over. It walks through the two stacks, a
 * task sample and its scored positions, the two runs with their state counters, then the
 * results table, one step per key (Space) or every DEMO_STEP_S seconds while the timer is on.
 * Both runs are queued at the start, so they train while the first steps are explained; the
 * captions that quote results are written from the runs themselves. */
#include "config.h"
#include "labui.h"
#include "fileio.h"

#include <stdio.h>
#include <string.h>

#define DEMO_STEP_S 20.0

/* The two stacks: what the lesson contrasts (in-context recall: attention alone against Hyena
 * striped with attention, the MAD paper's hybrid), and how each caption names them. */
static const struct { const char *stack, *name; } demo_stacks[2] = {
    {"mh-attention swiglu(inner=128) mh-attention swiglu(inner=128)", "attention alone"},
    {"mh-hyena swiglu(inner=128) mh-attention swiglu(inner=128)", "Hyena striped with attention"},
};

static int demo_ids[2] = {-1, -1};

/* "0.992 (done)" or "running" for run i of the demo. */
static void run_word(int i, char *buf, size_t n)
{
    int id = demo_ids[i];
    const RunHist *h = id >= 0 && id < lab.data.nruns ? &lab.data.runs[id] : NULL;
    if (!h || !h->used) snprintf(buf, n, "not started");
    else if (h->state == RUN_DONE || h->state == RUN_STOPPED || h->state == RUN_FAILED)
        snprintf(buf, n, "%.2f (%s)", h->result.best_test_acc, run_status_word(h->state, &h->result));
    else if (h->ne) snprintf(buf, n, "%.2f so far (epoch %d)", h->eacc[h->ne - 1], h->ne);
    else snprintf(buf, n, "%s", run_state_name(h->state));
}

/* The caption of step s. */
static int demo_caption(int s, char *buf, size_t n)
{
    const TaskCfg *c = &lab.task_cfg[lab.cur_task];
    char a[64], b[64];
    run_word(0, a, sizeof a);
    run_word(1, b, sizeof b);
    switch (s) {
    case 0:
        snprintf(buf, n, "1/6 Run #1's stack, %s: each mh-attention (mixes tokens) is followed by a "
                 "swiglu (mixes channels). 'state' = floats it keeps at inference: attention keeps "
                 "every past token.", demo_stacks[0].name);
        return V_STACK;
    case 1:
        snprintf(buf, n, "2/6 Run #2's stack, %s: mh-hyena (a long convolution with a fixed state) "
                 "then mh-attention. Both runs are training in the background already.",
                 demo_stacks[1].name);
        return V_STACK;
    case 2:
        snprintf(buf, n, "3/6 The task, in-context recall (vocab %d, seq_len %d): key-value pairs, "
                 "then keys again. At each [x] the model must give the value that key had earlier.",
                 c->vocab, c->seq_len);
        return V_TASK;
    case 3:
        snprintf(buf, n, "4/6 The runs: loss per step (#1 solid, #2 dashed) and per epoch. Below, the "
                 "state: attention's KV cache grows with L (see state@8L), mh-hyena's is fixed.");
        return V_RUN;
    case 4:
        snprintf(buf, n, "5/6 Test accuracy, same %d epochs each: #1 %s %s, #2 %s %s.",
                 lab.epochs, demo_stacks[0].name, a, demo_stacks[1].name, b);
        return V_RUN;
    default:
        snprintf(buf, n, "6/6 Results: #1 %s %s against #2 %s %s on in-context recall. "
                 "Esc ends the tour; then r trains a stack, ? lists every key.",
                 demo_stacks[0].name, a, demo_stacks[1].name, b);
        return V_RESULTS;
    }
}
#define DEMO_STEPS 6

static void demo_show(int s)
{
    if (s < 0) s = 0;
    if (s >= DEMO_STEPS) s = DEMO_STEPS - 1;
    lab.demo_step = s;
    lab.demo_t0 = ml_now();
    char cap[400];
    lab.view = demo_caption(s, cap, sizeof cap);
    /* the stack view shows the stack the step is about */
    if (s <= 1) set_stack_text(demo_stacks[s].stack, NULL);
    lab.demo_stack = 1;
    if (lab.view == V_RESULTS && lab.data.nrows) lab.cur_row = lab.data.nrows - 1;
    lab.dirty = 1;
}

void demo_start(void)
{
    lab.demo = 1;
    lab.demo_timer = 1;
    int t = labdata_task_index(&lab.data, "in-context-recall");
    if (t < 0) t = 0;
    lab.cur_task = t;
    TaskCfg *c = &lab.task_cfg[t];
    c->vocab = 8, c->seq_len = 32, c->n_train = 1024, c->n_test = 128;
    lab.width = 64;
    lab.epochs = 8;
    lab.batch = 32;
    lab.lr = 2e-3;
    lab.wd = 0.1;
    MlError err;
    for (int i = 0; i < 2; i++) {
        RunSpec s;
        set_stack_text(demo_stacks[i].stack, NULL);
        if (make_spec(&s, t, lab.epochs)) return;
        demo_ids[i] = runner_enqueue(lab.runner, &s, &err);
        RunRecord rec;
        lab.overlay[i] = demo_ids[i];
        if (demo_ids[i] >= 0 && runner_record(lab.runner, demo_ids[i], &rec) == 0)
            history_open(&lab.data, demo_ids[i], &rec);
    }
    lab.demo_stack = 1;
    task_sample_draw();
    demo_show(0);
}

void demo_tick(void)
{
    if (!lab.demo || !lab.demo_timer || lab.demo_step >= DEMO_STEPS - 1) return;
    if (ml_now() - lab.demo_t0 >= DEMO_STEP_S) demo_show(lab.demo_step + 1);
}

void demo_end(void)
{
    lab.demo = 0;
    lab_status(0, "demo over: the lab is yours. r trains this stack on %s; ? lists every key",
               lab_task()->name);
}

int demo_key(int k)
{
    switch (key_action(k, V_DEMO)) {
    case ACT_DEMO_NEXT:
        if (lab.demo_step >= DEMO_STEPS - 1) demo_end();
        else demo_show(lab.demo_step + 1);
        return 1;
    case ACT_DEMO_BACK: demo_show(lab.demo_step - 1); return 1;
    case ACT_DEMO_TIMER:
        lab.demo_timer = !lab.demo_timer;
        lab.demo_t0 = ml_now();
        return 1;
    case ACT_DEMO_END: demo_end(); return 1;
    default: demo_end(); return 0; /* the key does its usual job */
    }
}

/* The caption over the bottom of the body, and what the keys do on the status line. */
void demo_draw(void)
{
    if (!lab.demo) return;
    Rect b = lab.lay.body;
    char cap[400];
    demo_caption(lab.demo_step, cap, sizeof cap);
    int h = b.w < 100 ? 3 : 2;
    Rect r = {1, b.y + b.h - h, b.w - 2, h};
    for (int y = r.y - 1; y < r.y + r.h; y++) fill(y, 0, b.w, S_NORMAL);
    hline_at(r.y - 1, 0, b.w);
    text_at(r, cap, 0, S_HEADER);
    snprintf(lab.status, sizeof lab.status, "demo: Space next  Backspace back  t timer %s  Esc ends "
             "the tour", lab.demo_timer ? "on (20 s a step)" : "off");
    lab.status_err = 0;
    lab.status_t = ml_now();
}
