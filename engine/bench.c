/* Timing of full training steps (forward, backward, AdamW) and the machine's sgemm rate that
 * model FLOP utilisation is measured against. */
#include "config.h"
#include "internal.h"

#include <cblas.h>
#include <stdlib.h>

#define PEAK_N 1024

/* The better of two ways to run a 1024^3 sgemm on pool_size() threads: OpenBLAS's own
 * threading, and the pool's split that the engine uses. Taking the better keeps MFU honest. */
double bench_peak_gflops(void)
{
    size_t n = (size_t)PEAK_N * PEAK_N;
    float *A = arena_alloc_floats(n), *B = arena_alloc_floats(n), *C = arena_alloc_floats(n);
    if (!A || !B || !C) {
        arena_free(A), arena_free(B), arena_free(C);
        return 0;
    }
    Rng r;
    rng_seed(&r, 1);
    init_uniform(A, n, 1, &r);
    init_uniform(B, n, 1, &r);
    double best = 0, flops = 2.0 * PEAK_N * PEAK_N * PEAK_N;
    for (int way = 0; way < 2; way++) {
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
        openblas_set_num_threads(way == 0 ? pool_size() : 1);
#else
        if (way == 0) continue;
#endif
        for (int rep = 0; rep < 4; rep++) { /* the first is warm-up */
            double t0 = ml_now();
            if (way == 0)
                mm1(false, false, PEAK_N, PEAK_N, PEAK_N, 1, A, PEAK_N, B, PEAK_N, 0, C, PEAK_N);
            else
                mm(false, false, PEAK_N, PEAK_N, PEAK_N, 1, A, PEAK_N, B, PEAK_N, 0, C, PEAK_N);
            double g = flops / (ml_now() - t0) / 1e9;
            if (rep > 0 && g > best) best = g;
        }
    }
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(1);
#endif
    arena_free(A), arena_free(B), arena_free(C);
    return best;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_run(const BenchCfg *c, BenchResult *out, MlError *err)
{
    if (c->batch < 1 || c->seq_len < 2 || c->steps < 1)
        return ml_fail(err, "bench: batch must be >= 1, seq-len >= 2 and steps >= 1");
    Dataset data = {0}, test = {0};
    int L = c->seq_len, V = c->vocab;
    if (c->task) {
        TaskCfg tc = c->task_cfg;
        tc.n_train = c->batch;
        tc.n_test = 1;
        if (task_generate(c->task, &tc, 2, &data, &test, err) != 0) return -1;
        dataset_free(&test);
        L = data.len;
        V = tc.vocab;
    }
    ModelCfg mc = {.width = c->width, .vocab = V, .max_batch = c->batch, .max_len = L,
                   .norm = c->norm, .stack = c->stack, .backbone = c->task ? c->task->backbone : 0};
    Model *m = model_new(&mc, err);
    if (!m) {
        dataset_free(&data);
        return -1;
    }
    model_init(m, 1);
    size_t n = (size_t)c->batch * L;
    int32_t *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt);
    if (!tok || !tgt) {
        free(tok), free(tgt), model_free(m), dataset_free(&data);
        return ml_fail(err, "out of memory for the benchmark batch");
    }
    Rng r;
    rng_seed(&r, 2);
    for (size_t i = 0; i < n; i++) {
        tok[i] = (int32_t)rng_below(&r, (uint32_t)V);
        tgt[i] = (int32_t)rng_below(&r, (uint32_t)V);
    }
    double *sec = malloc((size_t)c->steps * sizeof *sec);
    if (!sec) {
        free(tok), free(tgt), model_free(m), dataset_free(&data);
        return ml_fail(err, "out of memory for the benchmark timings");
    }
    /* The sgemm rate is taken before and after the steps and the better kept, and the step
     * time is the median: on a shared machine a slow moment then moves neither figure much. */
    double peak = bench_peak_gflops();
    for (int s = 0; s < c->warmup + c->steps; s++) {
        double t0 = ml_now();
        for (int i = 0; c->task && i < data.n; i++) /* the batch, as training assembles it */
            dataset_row(&data, i, tok + (size_t)i * L, tgt + (size_t)i * L);
        model_zero_grad(m);
        model_forward(m, tok, tgt, c->batch, L);
        model_backward(m);
        model_adamw(m, 1e-4f, 0.0f, 0.9f, 0.999f, 1e-8f, s + 1);
        if (s >= c->warmup) sec[s - c->warmup] = ml_now() - t0;
    }
    double after = bench_peak_gflops();
    out->peak_gflops = after > peak ? after : peak;
    qsort(sec, (size_t)c->steps, sizeof *sec, by_value);
    double step = c->steps % 2 ? sec[c->steps / 2] : (sec[c->steps / 2 - 1] + sec[c->steps / 2]) / 2;
    out->flops_per_step = 3.0 * model_flops(m, L) * c->batch;
    out->ms_per_step = 1e3 * step;
    out->tokens_per_s = (double)n / step;
    out->gflops = out->flops_per_step / step / 1e9;
    out->mfu = out->peak_gflops > 0 ? out->gflops / out->peak_gflops : 0;
    free(sec), free(tok), free(tgt), model_free(m), dataset_free(&data);
    return 0;
}
