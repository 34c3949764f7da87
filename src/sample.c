/* madlab sample: generated sequences of a task, with the class of every token and the scored
 * positions marked. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "options.h"

static const char *const class_mark[TOK_N_CLASSES] = {"k", "v", "~", "#", "_", "?"};
/* ANSI colours: key blue, value green, noise grey, special magenta, filler dim, other red */
static const char *const class_colour[TOK_N_CLASSES] = {"\033[1;34m", "\033[32m", "\033[90m",
                                                        "\033[35m", "\033[2m", "\033[31m"};

/* "key 0-7, value 8-15, noise 16-31": runs of equal class over the vocabulary. */
static void print_layout(const TaskKind *t, const TaskCfg *c)
{
    printf("vocabulary:");
    int start = 0;
    for (int tok = 1; tok <= c->vocab; tok++) {
        TokenClass k = task_token_class(t, c, start);
        if (tok < c->vocab && task_token_class(t, c, tok) == k) continue;
        if (start == tok - 1) printf(" %s %d", token_class_name(k), start);
        else printf(" %s %d-%d", token_class_name(k), start, tok - 1);
        printf(tok < c->vocab ? "," : "\n");
        start = tok;
    }
}

static void print_sequence(const TaskKind *t, const TaskCfg *c, const int32_t *in,
                           const int32_t *tg, int len, int colour)
{
    const int wrap = 96;
    int col = 0;
    char cell[64];
    for (int p = 0; p < len; p++) {
        TokenClass k = task_token_class(t, c, in[p]);
        int n;
        if (tg[p] != ML_IGNORE) n = snprintf(cell, sizeof cell, "%s%d[=%d]", class_mark[k], in[p], tg[p]);
        else n = snprintf(cell, sizeof cell, "%s%d", class_mark[k], in[p]);
        if (col == 0 || col + 1 + n > wrap) {
            if (col) putchar('\n');
            col = printf("  %4d:", p);
        }
        putchar(' ');
        if (colour) {
            printf("%s%s%d\033[0m", class_colour[k], class_mark[k], in[p]);
            if (tg[p] != ML_IGNORE) printf("\033[1;33m[=%d]\033[0m", tg[p]);
        } else {
            fputs(cell, stdout);
        }
        col += 1 + n;
    }
    putchar('\n');
}

int cmd_sample(int argc, char **argv)
{
    static const struct option opts[] = {
        {"task", required_argument, 0, 't'}, TASK_LONG_OPTS_BUT_TEST,
        {"n", required_argument, 0, 'n'},    {"seed", required_argument, 0, 'S'},
        {"test", no_argument, 0, 'f'},       {"test-form", no_argument, 0, 'f'},  {"color", required_argument, 0, 'c'},
        {"colour", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    TaskOpts to = {0};
    const char *task_name = NULL, *when = "auto";
    int n = 3, test_form = 0, o;
    uint64_t seed = 12345;
    options_start();
    while ((o = next_option(argc, argv, opts, &to, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case OPT_BAD: return 2;
        case 't': task_name = optarg; break;
        case 'n': r = get_int("--n", optarg, 1, 1000, &n); break;
        case 'S': r = get_u64("--seed", optarg, &seed); break;
        case 'f': test_form = 1; break;
        case 'c': when = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return option_unknown(argv);
        }
        if (r) return 2;
    }
    if (arguments_left(argc, argv)) return 2;
    int colour;
    if (!strcmp(when, "always")) colour = 1;
    else if (!strcmp(when, "never")) colour = 0;
    else if (!strcmp(when, "auto")) colour = isatty(1) && !getenv("NO_COLOR");
    else {
        option_bad("%s: '%s' is not auto, always or never", "--color", when);
        return 2;
    }
    const TaskKind *task = find_task_or_say(task_name);
    if (!task) return 2;
    TaskCfg c;
    if (task_cfg_from_opts(task, &to, &c) != 0) return 2;
    /* The same sequences a run with this seed trains and tests on: the test set follows the whole
     * training set in the stream, so --test generates that first. */
    if (test_form) c.n_test = n;
    else c.n_train = n, c.n_test = 1;
    Dataset tr, te;
    MlError err;
    if (task_generate(task, &c, seed, &tr, &te, &err) != 0) {
        fprintf(stderr, "madlab sample: %s\n", err.msg);
        return 1;
    }
    const Dataset *d = test_form ? &te : &tr;
    printf("task %s  vocab %d  seq_len %d", task->name, c.vocab, c.seq_len);
    print_task_knobs(task, &c);
    printf("  seed %llu\n", (unsigned long long)seed);
    print_layout(task, &c);
    printf("%s form: the first %d of %d %s sequences, %d input tokens each\n",
           test_form ? "test" : "training", n, test_form ? c.n_test : c.n_train,
           test_form ? "test" : "training", d->len);
    printf("legend: kN key  vN value  ~N noise  #N special  _N padding/blank  ?N other;\n"
           "        N[=T]: a scored position, where the model must predict T\n");
    int32_t *in = malloc(sizeof(int32_t) * 2 * (size_t)d->len), *tg = in + d->len;
    for (int s = 0; in && s < d->n; s++) {
        dataset_row(d, s, in, tg); /* the text task's training set is a view of its corpus */
        int scored = 0;
        for (int p = 0; p < d->len; p++) scored += tg[p] != ML_IGNORE;
        printf("\nsequence %d (%d scored)\n", s + 1, scored);
        print_sequence(task, &c, in, tg, d->len, colour);
    }
    free(in);
    dataset_free(&tr);
    dataset_free(&te);
    return 0;
}
