/* The headless commands; each returns the process exit status. */
#ifndef MADLAB_COMMANDS_H
#define MADLAB_COMMANDS_H

#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_keys(void);
int cmd_mad(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_sample(int argc, char **argv);
void usage(FILE *to);

/* Shared by the commands (commands.c). */
#include "madlab.h"
extern const char *g_cmd; /* "run", "mad"...: the word in error messages */
int option_unknown(char **argv);          /* the getopt default case: says so, returns 2 */
int arguments_left(int argc, char **argv); /* 2 (and says so) when words follow the options */
int get_int(const char *opt, const char *s, long lo, long hi, int *out);
int get_double(const char *opt, const char *s, double lo, double hi, double *out);
typedef struct {
    const char *stack, *preset, *norm;
    int width;
} ModelOpts;
/* --stack / --preset / --width / --norm into a stack, width and norm; label gets the stack text. */
int resolve_model(const ModelOpts *o, StackSpec *stack, int *width, NormKind *norm, char *label,
                  size_t label_n);
int start_threads(int threads);

#endif
