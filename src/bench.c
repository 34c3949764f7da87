/* madlab bench: time training steps of one model (engine/bench.c). */
#include "config.h"

#include <stdio.h>
#include "commands.h"
#include "options.h"

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        MODEL_LONG_OPTS,
        {"batch", required_argument, 0, 'b'},   {"seq-len", required_argument, 0, 'L'},
        {"steps", required_argument, 0, 'n'},   {"warmup", required_argument, 0, 'u'},
        {"threads", required_argument, 0, 'j'}, {"vocab", required_argument, 0, 'V'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    BenchCfg c = {.batch = 128, .seq_len = 128, .steps = 10, .warmup = 2, .vocab = 16};
    ModelOpts mo = {0};
    int threads = 0, o;
    options_start();
    while ((o = next_option(argc, argv, opts, NULL, &mo)) != -1) {
        int r = 0;
        switch (o) {
        case OPT_BAD: return 2;
        case 'b': r = get_int("--batch", optarg, 1, 1 << 16, &c.batch); break;
        case 'L': r = get_int("--seq-len", optarg, 2, 1 << 16, &c.seq_len); break;
        case 'n': r = get_int("--steps", optarg, 1, 100000, &c.steps); break;
        case 'u': r = get_int("--warmup", optarg, 0, 100000, &c.warmup); break;
        case 'j': r = get_int("--threads", optarg, 1, ML_MAX_THREADS, &threads); break;
        case 'V': r = get_int("--vocab", optarg, 2, 1 << 20, &c.vocab); break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    char label[ML_STACK_TEXT_MAX] = "";
    if (resolve_model(&mo, &c.stack, &c.width, &c.norm, label, sizeof label) != 0) return 2;
    if (start_threads(threads) != 0) return 1;
    printf("bench stack %s  width %d  batch %d  seq_len %d  steps %d (+%d warm-up)  threads %d\n",
           label, c.width, c.batch, c.seq_len, c.steps, c.warmup, pool_size());
    fflush(stdout);
    BenchResult r;
    MlError err;
    if (bench_run(&c, &r, &err) != 0) {
        fprintf(stderr, "madlab bench: %s\n", err.msg);
        pool_shutdown();
        return 1;
    }
    printf("ms_per_step=%.1f tokens_per_s=%.0f gflops=%.2f peak_gflops=%.2f mfu=%.3f "
           "gflop_per_step=%.2f threads=%d\n",
           r.ms_per_step, r.tokens_per_s, r.gflops, r.peak_gflops, r.mfu, r.flops_per_step / 1e9,
           pool_size());
    pool_shutdown();
    return 0;
}
