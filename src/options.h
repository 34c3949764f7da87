/* What the commands share: reading option values (whole strings, ranges, errors naming the
 * option), the task and model options, threads and the stop signals. */
#ifndef MADLAB_OPTIONS_H
#define MADLAB_OPTIONS_H

#include <getopt.h>
#include <signal.h>
#include <stdint.h>

#include "madlab.h"

extern const char *g_cmd; /* "run", "mad"...: the word in error messages (set by main) */

/* The two ways a command line goes wrong after getopt_long, said the same way by every command:
 * each prints one line and returns 2 (arguments_left returns 0 when no word is left). */
int option_unknown(char **argv);
int arguments_left(int argc, char **argv);

/* 0, or -1 after one line naming the option and the value. */
int get_int(const char *opt, const char *s, long lo, long hi, int *out);
int get_double(const char *opt, const char *s, double lo, double hi, double *out);
int get_u64(const char *opt, const char *s, uint64_t *out);
/* "madlab CMD: " then fmt with the option and the value; returns -1. */
int option_bad(const char *fmt, const char *opt, const char *val);

/* ---- task options, shared by run and sample: a knob given replaces the task's default; one
 * the task does not read is refused ---- */
enum { OPT_FRAC_NOISE = 1000, OPT_NOISE_VOCAB, OPT_K_MOTIF, OPT_V_MOTIF, OPT_N_COPY };

/* sample uses --test as a flag (show the test form), so --test N is listed apart. */
#define TASK_LONG_OPTS TASK_LONG_OPTS_BUT_TEST, {"test", required_argument, 0, 'T'}
#define TASK_LONG_OPTS_BUT_TEST                                                          \
    {"vocab", required_argument, 0, 'V'}, {"seq-len", required_argument, 0, 'L'},        \
    {"train", required_argument, 0, 'N'},                                               \
    {"frac-noise", required_argument, 0, OPT_FRAC_NOISE},                               \
    {"noise-vocab", required_argument, 0, OPT_NOISE_VOCAB},                             \
    {"k-motif", required_argument, 0, OPT_K_MOTIF},                                     \
    {"v-motif", required_argument, 0, OPT_V_MOTIF},                                     \
    {"n-copy", required_argument, 0, OPT_N_COPY}

typedef struct {
    int vocab, seq_len, n_train, n_test, noise_vocab, k_motif, v_motif, n_copy;
    double frac_noise;
    unsigned given; /* TASK_KNOB_* bits of the knob options given */
} TaskOpts;

/* "--vocab 16 ... --frac-noise 0.2": the options of a task with their defaults. */
void knob_defaults(const TaskKind *t, char *buf, size_t n);
/* The task of that name, or NULL after one line listing the tasks. */
const TaskKind *find_task_or_say(const char *name);
/* The task's defaults, then the options given; validated (-1 after one line). */
int task_cfg_from_opts(const TaskKind *task, const TaskOpts *o, TaskCfg *c);
/* "  frac_noise 0.2  noise_vocab 16": the knobs this task reads, for a settings line. */
void print_task_knobs(const TaskKind *task, const TaskCfg *c);

/* ---- the model options, shared by run, bench and mad ---- */
enum { OPT_STACK = 1100, OPT_PRESET, OPT_WIDTH, OPT_NORM };
#define MODEL_LONG_OPTS                                                                   \
    {"stack", required_argument, 0, OPT_STACK}, {"preset", required_argument, 0, OPT_PRESET}, \
    {"width", required_argument, 0, OPT_WIDTH}, {"norm", required_argument, 0, OPT_NORM}

typedef struct {
    const char *stack, *preset, *norm;
    int width;
} ModelOpts;

/* getopt_long over argv (options_start first), taking the task options (TASK_LONG_OPTS) into t
 * and the model options (MODEL_LONG_OPTS) into m as they come; either may be NULL for a command
 * without them. Returns the next option of the command's own (optarg set), OPT_BAD after one
 * line about a bad value, -1 at the end. */
enum { OPT_BAD = -2 };
void options_start(void);
int next_option(int argc, char **argv, const struct option *opts, TaskOpts *t, ModelOpts *m);
/* --stack / --preset / --width / --norm into a stack, width and norm; label gets the stack text. */
int resolve_model(const ModelOpts *o, StackSpec *stack, int *width, NormKind *norm, char *label,
                  size_t label_n);

int start_threads(int threads); /* pool_init; -1 after one line */

/* Output lost to a full disk is a failure, not a success with nothing written: flushes stdout
 * and, if it or an earlier write failed, says so once and returns -1 (main calls it at exit). */
int stdout_check(void);

/* ---- Ctrl-C and kill (SIGINT, SIGTERM) ---- */
typedef struct {
    struct sigaction old_int, old_term;
} SavedSignals;
void stop_signals_catch(void (*handler)(int), SavedSignals *saved);
void stop_signals_restore(const SavedSignals *saved);

#endif
