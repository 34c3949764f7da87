/* The demo (madlab --demo): the paper's lesson in two runs, narrated on the status line; any
 * key hands the lab over. */
#include "config.h"
#include "labui.h"

static const char *const demo_lines[] = {
    "demo: pure Hyena, then Hyena striped with attention, on in-context recall (any key takes over)",
    "demo: 'state' counts the floats a layer keeps between tokens at inference, at the task's length L",
    "demo: attention keeps a KV cache of 2 x L x width floats: it grows with L (see state@8L)",
    "demo: hyena's long filter spans the sequence (L states); mh-hyena, Mamba, GLA keep a fixed state",
    "demo: the loss chart overlays both runs: train loss per step, test loss per epoch",
    "demo: 4 shows the results table, one row per stack; Q queues the quick MAD protocol for a stack",
};

/* Two runs queued side by side; the status line narrates while they train. */
void demo_start(void)
{
    lab.demo = 1;
    lab.demo_t0 = ml_now();
    lab.demo_step = 0;
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
    /* The paper's lesson in two runs: pure Hyena against Hyena striped with attention. */
    RunSpec a, b;
    MlError err;
    set_stack_text("hyena swiglu(inner=128) hyena swiglu(inner=128)", NULL);
    if (make_spec(&a, t, lab.epochs)) return;
    set_stack_text("mh-hyena swiglu(inner=128) mh-attention swiglu(inner=128)", NULL);
    if (make_spec(&b, t, lab.epochs)) return;
    int ids[2];
    ids[0] = runner_enqueue(lab.runner, &a, &err);
    ids[1] = runner_enqueue(lab.runner, &b, &err);
    for (int i = 0; i < 2; i++) {
        RunRecord rec;
        lab.overlay[i] = ids[i];
        if (ids[i] >= 0 && runner_record(lab.runner, ids[i], &rec) == 0) history_open(&lab.data, ids[i], &rec);
    }
    lab.view = V_RUN;
    task_sample_draw();
    lab_status(0, "%s", demo_lines[0]);
}

void demo_tick(void)
{
    if (!lab.demo) return;
    int step = (int)((ml_now() - lab.demo_t0) / 6.0);
    int n = (int)(sizeof demo_lines / sizeof *demo_lines);
    if (step != lab.demo_step) {
        lab.demo_step = step;
        lab_status(0, "%s", demo_lines[step % n]);
    }
}
