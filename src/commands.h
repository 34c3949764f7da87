/* The command line: one table of commands (commands.c) from which main dispatches and prints
 * usage, one file per command, and the option helpers they share (options.h). */
#ifndef MADLAB_COMMANDS_H
#define MADLAB_COMMANDS_H

#include <stdio.h>

typedef struct {
    const char *name;
    /* argv[0] is the command's name (or "madlab" when the lab is opened without one); returns
     * the process's exit status */
    int (*run)(int argc, char **argv);
    /* what it does; further lines (after '\n') show its options, indented by usage */
    const char *synopsis;
} Command;

extern const Command commands[]; /* ends with a NULL name */
const Command *command_find(const char *name);
void usage(FILE *to);
void command_names(FILE *to); /* "lab, keys, run, ..." */

/* One line per command, each defined in src/NAME.c. */
int cmd_lab(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_mad(int argc, char **argv);
int cmd_scale(int argc, char **argv);
int cmd_tasks(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
